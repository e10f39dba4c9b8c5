/* SPDX-License-Identifier: MIT
 *
 * stacktab.h — a fixed-size, lock-free table of (thread, stack) -> weighted sample count.
 *
 * The SIGPROF handler adds to it; the background thread reads it only after the sampler has
 * switched to the other table of a pair and no handler is still inside this one (sampler.c),
 * then resets it. Memory is mapped once, at creation, and never grows: when the table or its
 * frame arena is full the sample is dropped and counted.
 */
#ifndef LDP_STACKTAB_H
#define LDP_STACKTAB_H

#include <stdint.h>

struct ldp_stack_entry {
	uint64_t key;     /* hash | 1; 0 = empty */
	uint32_t ready;   /* 1 once frames are written; 2 = claimed but no room (dead) */
	uint32_t tid;
	uint32_t depth;
	uint32_t off;     /* into arena, in frames */
	uint64_t count;
};

struct ldp_stacktab {
	struct ldp_stack_entry *e;
	uint64_t *arena;
	uint32_t cap;        /* entries, a power of two */
	uint32_t arena_cap;  /* frames */
	uint32_t arena_used;
	uint64_t dropped;    /* weighted samples that found no room */
	uint64_t added;      /* weighted samples stored */
	size_t map_len;
	int wipe_on_fork;    /* a forked child finds the mapping zeroed */
};

int ldp_stacktab_init(struct ldp_stacktab *t, uint32_t cap, uint32_t arena_frames);
/* ASYNC-SIGNAL-SAFE. */
void ldp_stacktab_add(struct ldp_stacktab *t, uint32_t tid, const uint64_t *frames, uint32_t depth,
		      uint64_t weight);
/* Not concurrent with add. Keeps the pages: one given back would be faulted in again inside
 * a handler. */
void ldp_stacktab_reset(struct ldp_stacktab *t);
/* After fork, in the child, not concurrent with add: the same, but gives the pages back. */
void ldp_stacktab_forget(struct ldp_stacktab *t);
void ldp_stacktab_destroy(struct ldp_stacktab *t);

static inline const uint64_t *ldp_stacktab_frames(const struct ldp_stacktab *t,
						  const struct ldp_stack_entry *e)
{
	return t->arena + e->off;
}

#endif
