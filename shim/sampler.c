/* SPDX-License-Identifier: MIT
 *
 * sampler.c — the SIGPROF handler: unwind the interrupted thread and count its stack.
 *
 * ASYNC-SIGNAL CONTEXT — on_sigprof() and everything it calls run inside the SIGPROF handler.
 * Allowed: raw syscalls, clock_gettime (vDSO), atomics, memory mapped before sampling started,
 * pthread_self() (async-signal-safe; bound at load, -z now), ldp_unwind() (see
 * unwind.c: it never enters the dynamic loader). Never: malloc, stdio, locks the interrupted
 * code may hold, dlsym, TLS, waiting. errno is saved and restored. Whenever something is in
 * the way (paused, a dlclose in flight, no room) the sample is dropped and counted.
 *
 * The slot comes from the timer's sigval, not from TLS; a dlclose() waits in its wrapper
 * (fence) until no handler is unwinding before it may unmap anything.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sampler.h"
#include "threads.h"
#include "unwind.h"

#define TAB_ENTRIES 8192
#define TAB_FRAMES (128 * 1024)

static struct {
	struct ldp_stacktab tab[2];
	int active;
	int inflight[2];
	int paused;
	int fenced;
	int max_depth;
	uint64_t dropped;
	uint64_t foreign;
	uint64_t handled;     /* samples unwound */
	uint64_t handler_ns;  /* time spent unwinding and storing them */
	struct sigaction orig;
	int ignored;          /* the program's disposition of SIGPROF is SIG_IGN (else SIG_DFL) */
	int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
} S;

static void foreign_signal(void)
{
	/* Not our timer: do what the program would have done without us. Ignored stays ignored;
	 * the default action (terminate) is restored and the signal sent again, to be delivered
	 * as soon as this handler returns. */
	__atomic_fetch_add(&S.foreign, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&S.ignored, __ATOMIC_ACQUIRE))
		return;
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	S.real_sigaction(SIGPROF, &dfl, NULL);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGPROF);
}

static void on_sigprof(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno, ours, idx;
	uint64_t frames[LDP_MAX_DEPTH];
	struct ldp_slot *slot;
	struct timespec t0, t1;
	uint64_t weight, lo, hi;
	uint32_t n;

	if (si->si_code != SI_TIMER) {
		foreign_signal();
		goto out;
	}
	slot = ldp_threads_lookup((uint64_t)si->si_value.sival_ptr, &ours);
	if (!ours) {
		foreign_signal();
		goto out;
	}
	weight = 1 + (uint64_t)(si->si_overrun > 0 ? si->si_overrun : 0);
	if (!slot)
		goto drop;
	idx = __atomic_load_n(&S.active, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&S.inflight[idx], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&S.active, __ATOMIC_SEQ_CST) != idx ||
	    __atomic_load_n(&S.paused, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&S.fenced, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_sub(&S.inflight[idx], 1, __ATOMIC_SEQ_CST);
		goto drop;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* hi before lo: ldp_threads_learn_stacks() stores lo first */
	hi = __atomic_load_n(&slot->stack_hi, __ATOMIC_ACQUIRE);
	lo = __atomic_load_n(&slot->stack_lo, __ATOMIC_ACQUIRE);
	if (!hi) { /* an adopted thread: the background thread learns its stack from these */
		__atomic_store_n(&slot->seen_self, (uint64_t)pthread_self(), __ATOMIC_RELAXED);
		__atomic_store_n(&slot->seen_sp, ldp_unwind_sp(ctx), __ATOMIC_RELAXED);
	}
	n = ldp_unwind(ctx, lo, hi, frames, (uint32_t)S.max_depth);
	ldp_stacktab_add(&S.tab[idx], (uint32_t)slot->tid, frames, n, weight);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__atomic_fetch_add(&S.handled, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&S.handler_ns, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000L + t1.tv_nsec - t0.tv_nsec),
			   __ATOMIC_RELAXED);
	__atomic_fetch_sub(&S.inflight[idx], 1, __ATOMIC_SEQ_CST);
	goto out;
drop:
	__atomic_fetch_add(&S.dropped, weight, __ATOMIC_RELAXED);
out:
	errno = saved_errno;
}

void *ldp_sampler_handler(void) { return (void *)on_sigprof; }

int ldp_sampler_init(const struct sigaction *orig, int max_depth,
		      int (*real_sigaction)(int, const struct sigaction *, struct sigaction *))
{
	int r;

	S.orig = *orig;
	S.ignored = orig->sa_handler == SIG_IGN;
	S.real_sigaction = real_sigaction;
	S.max_depth = max_depth > 0 && max_depth <= LDP_MAX_DEPTH ? max_depth : LDP_MAX_DEPTH;
	r = ldp_stacktab_init(&S.tab[0], TAB_ENTRIES, TAB_FRAMES);
	if (r < 0)
		return r;
	r = ldp_stacktab_init(&S.tab[1], TAB_ENTRIES, TAB_FRAMES);
	if (r < 0) {
		ldp_stacktab_destroy(&S.tab[0]);
		return r;
	}
	r = ldp_unwind_init();
	if (r < 0) {
		ldp_stacktab_destroy(&S.tab[0]);
		ldp_stacktab_destroy(&S.tab[1]);
		return r;
	}
	return 0;
}

void ldp_sampler_pause(int paused) { __atomic_store_n(&S.paused, paused, __ATOMIC_SEQ_CST); }

static void wait_idle(int idx)
{
	/* Handlers are short and never wait, so this ends within microseconds; the bound is a
	 * guard against a thread stopped inside one (a debugger). */
	for (int i = 0; i < 200000 && __atomic_load_n(&S.inflight[idx], __ATOMIC_SEQ_CST); i++)
		sched_yield();
}

struct ldp_stacktab *ldp_sampler_swap(void)
{
	int old = __atomic_load_n(&S.active, __ATOMIC_SEQ_CST);

	__atomic_store_n(&S.active, !old, __ATOMIC_SEQ_CST);
	wait_idle(old);
	return &S.tab[old];
}

void ldp_sampler_stats(struct ldp_sampler_stats *ret)
{
	ret->dropped = __atomic_load_n(&S.dropped, __ATOMIC_RELAXED);
	ret->foreign = __atomic_load_n(&S.foreign, __ATOMIC_RELAXED);
	ret->samples = __atomic_load_n(&S.handled, __ATOMIC_RELAXED);
	ret->handler_ns = __atomic_load_n(&S.handler_ns, __ATOMIC_RELAXED);
}

void ldp_sampler_fence_begin(void)
{
	__atomic_fetch_add(&S.fenced, 1, __ATOMIC_SEQ_CST);
	wait_idle(0);
	wait_idle(1);
}

void ldp_sampler_fence_end(void)
{
	/* No handler runs while fenced: drop the unloaded object from the unwinder's table
	 * before any handler may look for it. */
	ldp_unwind_refresh(1);
	ldp_unwind_flush_cache();
	__atomic_fetch_sub(&S.fenced, 1, __ATOMIC_SEQ_CST);
}

void ldp_sampler_after_fork_child(void)
{
	/* Handlers of other threads died with them in the child: their counts are meaningless. */
	S.inflight[0] = S.inflight[1] = 0;
	S.fenced = 0;
	ldp_unwind_after_fork_child();
	ldp_stacktab_forget(&S.tab[0]);
	ldp_stacktab_forget(&S.tab[1]);
}

void ldp_sampler_set_ignored(int ignored)
{
	__atomic_store_n(&S.ignored, ignored, __ATOMIC_RELEASE);
}
