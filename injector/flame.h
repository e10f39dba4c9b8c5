/* SPDX-License-Identifier: MIT
 *
 * flame.h — flame graphs of merged stacks, for `ldprof report --svg` and `ldprof diff --svg`.
 *
 * Stacks are merged into a tree (one node per distinct path from the root) and drawn as one
 * self-contained SVG file: a rectangle per frame, as wide as its samples, the root at the
 * bottom, callees above their callers, siblings in name order, with a <title> tooltip each.
 * Colours say which object a function is in (program, libc, other library, kernel, JIT), or,
 * for a diff, how its share of all samples changed (red more, blue less). Never reads files;
 * names come from untrusted profiles and are escaped here (and any byte that is not UTF-8
 * becomes '?', so the file always parses as XML).
 */
#ifndef LDP_FLAME_H
#define LDP_FLAME_H

#include <stdint.h>
#include <stdio.h>

enum ldp_flame_kind {
	LDP_FLAME_PROGRAM,
	LDP_FLAME_LIBC,
	LDP_FLAME_LIB,
	LDP_FLAME_KERNEL,
	LDP_FLAME_JIT,
	LDP_FLAME_UNKNOWN,
};

struct ldp_flame;

struct ldp_flame *ldp_flame_new(void);
void ldp_flame_free(struct ldp_flame *f);

/* Adds count samples of one stack, frame ids leaf first, to side 0 (a profile, or a diff's
 * base) or side 1 (a diff's new profiles). Returns the stack's node (its leaf; 0, the root,
 * for an empty stack) or -errno. A node stands for one distinct stack from then on. */
int64_t ldp_flame_add(struct ldp_flame *f, const int64_t *ids, size_t n, int64_t count, int side);

/* The tree as built: nodes 0..ldp_flame_nodes()-1, each after its parent; node 0 is the root
 * (parent 0, frame id -1). The HTML report (htmlview.h) sends it to the browser as is. */
size_t ldp_flame_nodes(const struct ldp_flame *f);
void ldp_flame_node(const struct ldp_flame *f, size_t i, uint32_t *parent, int64_t *id);

/* The length of the well-formed UTF-8 sequence at s (1 to 4; 1 for the NUL), or 0 when the
 * byte at s does not start one. Names come from untrusted files; every writer of text that a
 * parser reads back (XML, JSON) checks them with this. */
size_t ldp_flame_utf8_len(const char *s);

struct ldp_flame_svg {
	const char *title;           /* shown on top */
	const char *subtitle;        /* shown at the bottom (counts, files) */
	const char *const *names;    /* by frame id */
	const unsigned char *kinds;  /* by frame id: enum ldp_flame_kind */
	int diff;  /* widths from side 1, colours from each frame's change of share from side 0 */
};

/* Writes the graph. Returns 0 or -errno (a write error). */
int ldp_flame_write_svg(const struct ldp_flame *f, const struct ldp_flame_svg *o, FILE *out);

#endif
