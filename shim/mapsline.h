/* SPDX-License-Identifier: MIT
 *
 * mapsline.h — /proc/self/maps read line by line without libc, for the ring sampler's
 * activation in its SIGPROF handler (ringsamp.c): no allocation, no lock, the caller's buffer.
 *
 * Async-signal-safe: pure functions on the caller's memory, and the read callback the caller
 * gives (a raw read(2) in the shim). Never: read past the buffer, or take a line longer than
 * the buffer for a shorter one (such a line is dropped whole).
 */
#ifndef LDP_MAPSLINE_H
#define LDP_MAPSLINE_H

#include <stdint.h>

struct ldp_mapsline {
	long fd;
	long (*read)(long fd, char *buf, unsigned long n); /* > 0 bytes read, <= 0 the end */
	char *buf;
	unsigned long cap, len, pos;
	int skip; /* inside a line longer than the buffer */
};

struct ldp_mapsline_ent {
	uint64_t lo, hi, off, inode;
	char perm[4];
	const char *path; /* into the buffer, NUL-terminated; "" for none */
};

/* The next line, NUL-terminated (the newline replaced), or NULL at the end. */
char *ldp_mapsline_next(struct ldp_mapsline *m);

/* "lo-hi perm off dev inode [path]": 0, or -1 for a line that is not one (or lo >= hi). */
int ldp_mapsline_parse(const char *s, struct ldp_mapsline_ent *l);

#endif
