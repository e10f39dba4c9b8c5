/* SPDX-License-Identifier: MIT
 *
 * ringsamp.h — the libc-free sampler (issue 15): per-thread CPU timers, a SIGPROF handler that
 * unwinds with the fast path (cfi.c) and puts the addresses into a shared ring (common/ring.h),
 * handed to a collector in another process (`ldprof run`). It is built into libldprof.so with
 * the first stage and runs in glibc and musl processes alike. x86_64 only.
 *
 * It puts nothing of ours in the process but memory and a signal handler: no thread, no
 * library, no descriptor (the ring's memfd and the socket it went through are closed once the
 * collector has been handed the ring). The first stage (preload.c) finds the libc functions
 * it needs and passes them in; the sampler itself names no libc symbol.
 */
#ifndef LDP_RINGSAMP_H
#define LDP_RINGSAMP_H

#include "hooks.h"

/* dl_iterate_phdr's callback, with the libc's struct dl_phdr_info as an opaque pointer. */
typedef int (*ldp_rs_phdr_cb)(void *info, unsigned long size, void *data);

struct ldp_rs_boot {
	const char *collector;         /* its socket: an absolute path (copied) */
	long pid;                      /* the process's id, or 0 (the sampler asks the kernel) */
	long period_ns;                /* between two samples of a thread, on its CPU clock */
	struct ldp_state *state;
	ldp_sigaction_fn real_sigaction;
	/* the libc's, found by the first stage (glibc and musl have them all) */
	int (*iterate_phdr)(ldp_rs_phdr_cb cb, void *data);
	void *(*pthread_self)(void);
	int (*getattr_np)(void *thread, void *attr);
	int (*attr_getstack)(const void *attr, void **addr, unsigned long *size);
	int (*attr_destroy)(void *attr);
	/* glibc's __register_atfork (dso 0) or musl's pthread_atfork, wrapped to one shape */
	int (*atfork)(void (*prepare)(void), void (*parent)(void), void (*child)(void));
	/* glibc >= 2.35: _dl_find_object, async-signal-safe; NULL elsewhere (musl: the dlopen
	 * wrapper rebuilds the object table before the program can run code of a new object) */
	int (*find_object)(void *pc, void *result);
	/* the errno of the calling thread, for the one path that calls libc (NULL: none) */
	int *(*errno_location)(void);
	/* a log line (what, detail): async-signal-safe, raw system calls only; NULL: none */
	void (*log)(const char *what, const char *detail);
	/* asks the agent (an agentproto.h request) when sampling stops for good in a way the
	 * agent can take over (a SIGPROF handler of the program's, a seccomp filter); never
	 * called from the handler. NULL: none */
	void (*ask_agent)(const char *request);
	/* the top of the main thread's stack as the kernel laid it out (AT_EXECFN's string
	 * lies in its last page): 0 when unknown */
	unsigned long main_stack_hint;
	/* the program's entry point (AT_ENTRY): its first function starts the main thread */
	unsigned long entry;
	/* ldp_rs_defer() only, both called from the SIGPROF handler (async-signal-safe): as the
	 * activation begins, the first stage's last word: the sampling period, or 0 to stay off
	 * (it has published and logged why); once it is done, activated(NULL, period_ns, took_ns),
	 * or activated(why, ...) when the sampler could not start (nothing of it is left then);
	 * took_ns: the activation's time in the handler (the agent is not asked on its path: the
	 * ring's hand-over at the first sample registers the process). */
	long (*activate)(void);
	void (*activated)(const char *why, long period_ns, long took_ns);
};

/* Sets the sampler up and arms a timer for every thread of the process (/proc/self/task).
 * Returns the hooks the first stage's wrappers call (hooks.h; the fields the sampler
 * does not need are no-ops), or NULL with *why saying why it stays off (nothing of it is left
 * in the process then). */
const struct ldp_hooks *ldp_rs_start(const struct ldp_rs_boot *b, const char **why);
/* Deferred ([select] start_after_cpu): installs the handler and an activation timer on the
 * calling thread's CPU clock (threads started later get theirs from the wrappers), nothing
 * else; the sampler starts from the handler once the process has used
 * after_ns of CPU time (b->activate says whether it still should). A forked child waits for
 * its own. Returns the hooks, which hold the activation off where they must, or NULL with
 * *why, nothing of it left in the process. */
const struct ldp_hooks *ldp_rs_defer(const struct ldp_rs_boot *b, long long after_ns, const char **why);
/* Around a dlopen() that does not go through the hooks (musl's wrapper): no activation reads
 * the maps while an object may be mapped and unmapped again. 1: held, ldp_rs_release() after. */
int ldp_rs_hold(void);
void ldp_rs_release(void);
/* 1 while the deferred activation waits (in a vfork child: its parent's). */
int ldp_rs_waiting(void);
/* *why when the program had its own SIGPROF handler at the start (the agent may take it) */
extern const char ldp_rs_foreign_sigprof[];
/* The threads with a timer of ours (after ldp_rs_start: the caller and those adopted). */
unsigned ldp_rs_threads(void);

/* After the program's dlopen() returned: new objects go into the table the handler reads.
 * Not async-signal-safe. */
void ldp_rs_loaded(void);

#endif
