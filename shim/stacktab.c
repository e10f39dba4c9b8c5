/* SPDX-License-Identifier: MIT
 *
 * stacktab.c — lock-free (thread, stack) -> count table filled by the SIGPROF handler.
 *
 * ASYNC-SIGNAL CONTEXT — ldp_stacktab_add() runs inside the SIGPROF handler, on any thread, at
 * the same time as itself on other threads. Allowed there: atomics, memory mapped at creation.
 * Never: malloc, stdio, locks, errno changes, waiting. An entry is claimed by a CAS on its key,
 * its frames copied to an arena slot taken with fetch_add, and published with a release store
 * of `ready`; a handler that finds the entry not ready yet moves on (the stack may then appear
 * twice, which the background thread merges). Probing is bounded; a full table drops the
 * sample and counts it.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "stacktab.h"

#define MAX_PROBES 32

static size_t tab_bytes(uint32_t cap) { return (size_t)cap * sizeof(struct ldp_stack_entry); }

int ldp_stacktab_init(struct ldp_stacktab *t, uint32_t cap, uint32_t arena_frames)
{
	void *m;

	memset(t, 0, sizeof(*t));
	if (!cap || (cap & (cap - 1)))
		return -EINVAL;
	t->map_len = tab_bytes(cap) + (size_t)arena_frames * sizeof(uint64_t);
	m = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	/* A forked child gets these pages zeroed, not copied: they hold the parent's samples,
	 * and copying them would cost every fork of a sampled program. */
	t->wipe_on_fork = madvise(m, t->map_len, MADV_WIPEONFORK) == 0;
	t->e = m;
	t->arena = (uint64_t *)((char *)m + tab_bytes(cap));
	t->cap = cap;
	t->arena_cap = arena_frames;
	return 0;
}

void ldp_stacktab_destroy(struct ldp_stacktab *t)
{
	if (t->e)
		munmap(t->e, t->map_len);
	memset(t, 0, sizeof(*t));
}

/* forked: in a child, where the pages hold the parent's samples, shared with it. */
static void clear(struct ldp_stacktab *t, int forked)
{
	if (!t->added && !t->dropped && !t->arena_used)
		return;
	/* In the parent, clear the entries and keep the pages: a page given back here would be
	 * faulted in again inside a handler, which costs more than the handler itself. The arena
	 * needs no clearing (entries say what of it is in use); its resident part is bounded by
	 * its size. In a child, clearing them would copy every page into a child that may exec
	 * or exit a moment later: with MADV_WIPEONFORK they are zero already, or else dropped
	 * (those a sample touches later come back as zero pages). */
	if (!forked || !(t->wipe_on_fork || madvise(t->e, t->map_len, MADV_DONTNEED) == 0))
		memset(t->e, 0, tab_bytes(t->cap));
	t->arena_used = 0;
	t->dropped = 0;
	t->added = 0;
}

void ldp_stacktab_reset(struct ldp_stacktab *t)
{
	clear(t, 0);
}

void ldp_stacktab_forget(struct ldp_stacktab *t)
{
	clear(t, 1);
}

static uint64_t hash_stack(uint32_t tid, const uint64_t *f, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ tid ^ ((uint64_t)n << 32);

	for (uint32_t i = 0; i < n; i++) {
		h ^= f[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return h | 1;
}

static int same_stack(const struct ldp_stacktab *t, const struct ldp_stack_entry *e, uint32_t tid,
		      const uint64_t *f, uint32_t n)
{
	const uint64_t *g;

	if (e->tid != tid || e->depth != n)
		return 0;
	g = t->arena + e->off;
	for (uint32_t i = 0; i < n; i++)
		if (g[i] != f[i])
			return 0;
	return 1;
}

void ldp_stacktab_add(struct ldp_stacktab *t, uint32_t tid, const uint64_t *frames, uint32_t depth,
		      uint64_t weight)
{
	uint64_t h = hash_stack(tid, frames, depth);
	uint32_t mask = t->cap - 1, i = (uint32_t)h & mask;

	for (int probe = 0; probe < MAX_PROBES; probe++, i = (i + 1) & mask) {
		struct ldp_stack_entry *e = &t->e[i];
		uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE), zero = 0;

		if (k == 0 && __atomic_compare_exchange_n(&e->key, &zero, h, 0, __ATOMIC_ACQ_REL,
							  __ATOMIC_ACQUIRE)) {
			uint32_t off = __atomic_fetch_add(&t->arena_used, depth, __ATOMIC_RELAXED);
			if (off > t->arena_cap || t->arena_cap - off < depth) {
				__atomic_store_n(&e->ready, 2, __ATOMIC_RELEASE);
				break;
			}
			memcpy(t->arena + off, frames, depth * sizeof(uint64_t));
			e->tid = tid;
			e->depth = depth;
			e->off = off;
			__atomic_fetch_add(&e->count, weight, __ATOMIC_RELAXED);
			__atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
			__atomic_fetch_add(&t->added, weight, __ATOMIC_RELAXED);
			return;
		}
		if (k == 0)
			k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
		if (k == h && __atomic_load_n(&e->ready, __ATOMIC_ACQUIRE) == 1 &&
		    same_stack(t, e, tid, frames, depth)) {
			__atomic_fetch_add(&e->count, weight, __ATOMIC_RELAXED);
			__atomic_fetch_add(&t->added, weight, __ATOMIC_RELAXED);
			return;
		}
	}
	__atomic_fetch_add(&t->dropped, weight, __ATOMIC_RELAXED);
}
