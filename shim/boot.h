/* SPDX-License-Identifier: MIT
 *
 * boot.h — the contract between the preloaded first stage (preload.c) and a profiler core.
 *
 * The first stage has no libc: it knows nothing of struct layouts, so everything it passes
 * through is an opaque pointer, and it calls the core only through this table. A core is
 * loaded with dlopen() once the first stage has decided to activate, and is never unloaded.
 * The first stage carries the interposed entry points (pthread_create, exec*, sigaction,
 * signal, dlclose) because only the preloaded object comes before libc in symbol lookup.
 * It may start the core at the process's start, from its constructor, or later from a thread
 * of its own once the process has used some CPU time (deferred, below).
 */
#ifndef LDP_BOOT_H
#define LDP_BOOT_H

struct ldp_state;

#define LDP_BOOT_VERSION 8

typedef int (*ldp_pthread_create_fn)(void *thread, const void *attr, void *(*start)(void *), void *arg);
typedef int (*ldp_sigaction_fn)(int sig, const void *act, void *oldact);
/* Asks the agent at socket_path (agentproto.h's request), records the outcome in the first
 * stage's ldp_state and writes what the agent said, in a few words, into said (for a log
 * line). Returns the outcome, enum ldp_agent_outcome (state.h). Async-signal-safe; waits
 * LDP_AGENT_REPLY_MS at most. */
typedef int (*ldp_agent_request_fn)(const char *socket_path, const char *request, char *said,
				    unsigned long said_len);

struct ldp_core_ops {
	int version;
	/* Wraps start/arg so the new thread gets a timer (and its stack bounds are known). */
	int (*pthread_create)(ldp_pthread_create_fn real, void *thread, const void *attr,
			      void *(*start)(void *), void *arg);
	/* Around every exec entry point: disarm and discard pending SIGPROF; re-arm on failure. */
	void (*exec_prepare)(void);
	void (*exec_failed)(void);
	/* The program sets or queries SIGPROF: the core steps aside, or answers as if absent. */
	int (*sigaction)(ldp_sigaction_fn real, int sig, const void *act, void *oldact);
	/* signal()/sigset() on SIGPROF: the core steps aside before the real call. */
	void (*sigprof_claim)(void);
	/* Around dlclose: no sample may unwind through a library being unmapped. */
	void (*dlclose_prepare)(void);
	void (*dlclose_done)(void);
	/* Around calls the kernel or glibc wants a process without our threads for, or after
	 * which the core must not run any more:
	 * - set*id/setgroups: glibc repeats them on every thread it knows and aborts if one of
	 *   them fails, which a thread of ours can (capabilities kept with PR_SET_KEEPCAPS are
	 *   per-thread);
	 * - unshare() of the user namespace (or CLONE_THREAD, CLONE_SIGHAND, CLONE_VM) and setns()
	 *   into a user, mount or time namespace: the kernel refuses them with EINVAL in a
	 *   multi-threaded process (`unshare -U`, `nsenter -m`);
	 * - chroot(): our threads share the root, and our folders would be looked up under the new
	 *   one;
	 * - a seccomp filter the program installs (prctl(PR_SET_SECCOMP), syscall(SYS_seccomp)):
	 *   it may kill the process for a call only the core makes, at the next sample or at exit.
	 * The core stops its threads and waits until the kernel has reaped them. leaving (NULL, or
	 * where the process may be going: "another user or mount namespace", "a seccomp filter",
	 * another root directory):
	 * from there our folders are not ours or our calls not allowed, so the core first hands
	 * over what it holds (written, or spooled) and stops sampling. for_good: it steps aside
	 * then and there, before the call, whatever the call returns (no system call of ours may
	 * follow a seccomp filter). left: the call succeeded; the core steps aside for good and
	 * writes nothing more. Otherwise sampling and the threads start again (with the new
	 * credentials). solo_done keeps errno. */
	void (*solo_prepare)(const char *leaving, int for_good);
	void (*solo_done)(int left);
};

struct ldp_boot {
	int version;
	const char *shim_path;   /* path of the preloaded object, for status and logs */
	const char *log_file;    /* LDPROF_LOG_FILE, or NULL */
	int log_level;           /* 0 debug, 1 info, 2 warn, 3 error */
	/* The functions the wrappers forward to, found with dlsym(RTLD_NEXT) from the first stage:
	 * the core must call these, never the names, or it would re-enter its own hooks. */
	ldp_sigaction_fn real_sigaction;
	ldp_pthread_create_fn real_pthread_create;
	/* Around libunwind's set-up, in the thread setting the core up (preload.c): while on (1),
	 * pipe2() from this thread puts both ends at high descriptor numbers (libunwind opens a
	 * pipe of its own that would otherwise take the lowest free numbers from the program),
	 * and mincore() fails with ENOSYS without a system call (libunwind probes it to choose
	 * how to validate memory for local unwinding, which we never use; mincore is outside
	 * systemd's @system-service set, and a filter may kill the process for it). */
	void (*unwind_setup)(int on);
	/* The first stage's published decision (state.h): the core writes what it decides. */
	struct ldp_state *state;
	/* The agent client (agentreq.c), linked only into the first stage. */
	ldp_agent_request_fn agent_request;
	/* Is there room in the cgroup task limits (pids.max) for a thread of ours? 1 yes (or no
	 * limit), 0 no. The core asks in a forked child before starting its thread there: a
	 * process that forks many children would otherwise fill its cgroup's limit with ours. */
	int (*tasks_room)(void);
	/* 1: started late ([select] start_after_cpu), from a thread of the first stage's that
	 * is not the program's and ends when the core's start returns: the core must not sample
	 * it, adopts the program's threads (the main one with its known stack), and does not
	 * register with the agent (the first stage did, at the process's start). */
	int deferred;
	/* Around the life of each thread of the core's (preload.c): thread_uncount() as it starts
	 * takes it out of glibc's count of threads, so that the program's last thread ending ends
	 * the process as without ldprof; < 0: the program has no thread left, end at once.
	 * thread_recount(what thread_uncount returned) just before it ends. */
	int (*thread_uncount)(void);
	void (*thread_recount)(int uncounted);
	/* 1: the first stage registered with the agent already, as the process started (it asked
	 * whether the agent collects rings): the core does not ask again. */
	int registered;
};

/* The single symbol a core exports. Returns the ops table, or NULL if the core decided to stay
 * off (it has logged why and left no trace: no thread, no handler, no timer). */
typedef const struct ldp_core_ops *(*ldp_core_start_fn)(const struct ldp_boot *boot);
#define LDP_CORE_START_SYMBOL "ldp_core_start"

#endif
