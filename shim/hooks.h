/* SPDX-License-Identifier: MIT
 *
 * hooks.h — the contract between the first stage's interposed functions (preload.c) and the
 * sampler (ringsamp.c).
 *
 * Only the preloaded object comes before libc in symbol lookup, so it carries the wrappers
 * (pthread_create, clone, exec*, sigaction, signal, dlclose, set*id, unshare, setns, chroot,
 * prctl, syscall); once the sampler is on, each wrapper calls the hook of its kind around the
 * real function. The first stage knows nothing of libc's struct layouts: everything passed
 * through is an opaque pointer.
 */
#ifndef LDP_HOOKS_H
#define LDP_HOOKS_H

typedef int (*ldp_pthread_create_fn)(void *thread, const void *attr, void *(*start)(void *), void *arg);
typedef int (*ldp_sigaction_fn)(int sig, const void *act, void *oldact);

struct ldp_hooks {
	/* Wraps start/arg so the new thread gets a timer (and its stack bounds are known). */
	int (*pthread_create)(ldp_pthread_create_fn real, void *thread, const void *attr,
			      void *(*start)(void *), void *arg);
	/* Around every exec entry point: disarm and discard pending SIGPROF; re-arm on failure. */
	void (*exec_prepare)(void);
	void (*exec_failed)(void);
	/* The program sets or queries SIGPROF: the sampler steps aside, or answers as if absent. */
	int (*sigaction)(ldp_sigaction_fn real, int sig, const void *act, void *oldact);
	/* signal()/sigset() on SIGPROF: the sampler steps aside before the real call. */
	void (*sigprof_claim)(void);
	/* After the program's clone() made a thread (CLONE_THREAD) with no pthread_create:
	 * it gets its timer now, from the parent, with the new thread's id. Keeps errno. */
	void (*cloned)(int tid);
	/* Around dlclose: no sample may unwind through a library being unmapped. */
	void (*dlclose_prepare)(void);
	void (*dlclose_done)(void);
	/* Around calls after which the sampler must not run any more, or that move the process:
	 * set*id/setgroups, unshare() of the user namespace (or CLONE_THREAD, CLONE_SIGHAND,
	 * CLONE_VM), setns() into a user, mount or time namespace, chroot(), and a seccomp filter
	 * the program installs (prctl(PR_SET_SECCOMP), syscall(SYS_seccomp)), which may kill the
	 * process for a call only the sampler makes. leaving: NULL, or where the process may be
	 * going ("another user or mount namespace", "a seccomp filter", another root directory).
	 * for_good: the sampler steps aside then and there, before the call, whatever the call
	 * returns (no system call of ours may follow a seccomp filter). left: the call
	 * succeeded. solo_done keeps errno. */
	void (*solo_prepare)(const char *leaving, int for_good);
	void (*solo_done)(int left);
};

#endif
