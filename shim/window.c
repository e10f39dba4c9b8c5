/* SPDX-License-Identifier: MIT
 *
 * window.c — the shim's flush window on top of common/stackprof.c.
 *
 * The sampler's tables hold at most a drain interval of samples; the window holds the whole
 * flush interval, keyed by (thread, stack), and drops and counts what does not fit in
 * MAX_STACKS entries. Stacks come from our unwinder, which already steps return addresses
 * back into their call, so they are symbolized as they are. Thread names are asked of the
 * thread registry when a profile is built, not stored per stack.
 * Never called from a signal handler.
 */
#include <string.h>

#include "threads.h"
#include "window.h"

/* The 2^16-slot table the window has always had, at its 3/4 load cap. */
#define MAX_STACKS (3u << 14)

int ldp_window_new(int64_t start_ns, struct ldp_stackprof **ret)
{
	return ldp_stackprof_new(0, MAX_STACKS, 0, start_ns, ret);
}

void ldp_window_merge(struct ldp_stackprof *w, const struct ldp_stacktab *t)
{
	if (!t->added && !t->dropped)
		return; /* nothing to read: don't fault the empty table's pages in */
	for (uint32_t i = 0; i < t->cap; i++) {
		const struct ldp_stack_entry *se = &t->e[i];
		if (se->ready != 1 || !se->count)
			continue;
		ldp_stackprof_add(w, se->tid, NULL, ldp_stacktab_frames(t, se), se->depth, se->count);
	}
	ldp_stackprof_drop(w, t->dropped);
}

static void thread_name(void *ctx, uint32_t tid, char *buf, size_t len)
{
	ldp_threads_name((int32_t)tid, buf, len);
}

int ldp_window_build(struct ldp_stackprof *w, const struct ldp_window_out *out,
		     struct ldp_shipment *ret)
{
	struct ldp_stackprof_out o = {
		.period_ns = out->period_ns, .end_ns = out->end_ns, .thread_name = thread_name,
	};
	int r;

	memset(ret, 0, sizeof(*ret));
	r = ldp_stackprof_refresh(w);
	if (r < 0)
		return r;
	r = ldp_stackprof_build(w, &o, ret);
	if (r < 0)
		return r;
	/* Profiles are filed under exe: one that cannot be read is filed under comm. */
	if (!ldp_shipment_label(ret, LDP_LABEL_EXE))
		ldp_shipment_add_label(ret, LDP_LABEL_EXE, ldp_stackprof_comm(w));
	return 0;
}
