/* SPDX-License-Identifier: MIT
 *
 * core.c — the glibc profiler core (libldprof-core-gnu.so): activation, the background thread,
 * and what happens to sampling at fork, exec, exit, dlclose and when the program wants SIGPROF.
 *
 * The first stage (preload.c) dlopen()s this object once it has decided to activate and calls
 * ldp_core_start(); from then on its wrappers call the hooks in the ops table below. Order of
 * activation: read the settings (any bad one: stay off, say why), look at SIGPROF (a handler
 * already there: stay off), map the tables, build the unwinder's object table, install the handler,
 * give every thread a timer, register the fork and exit hooks, start the background thread.
 *
 * The background thread has every signal blocked and no timer. Every DRAIN_NS it switches the
 * sampler's tables and merges the full one into the window; every flush interval, and at exec
 * and exit, it writes the window as one pprof file. `work` serialises that with fork, exec and
 * exit, which must not copy or cut a half-updated window.
 *
 * Rules that keep the program unchanged:
 * - a SIGPROF queued when sampling stops is caught by our (still installed) handler and
 *   dropped; before exec the disposition goes to SIG_IGN (discarding anything pending) and
 *   back to what the program had, so the new image never sees "Profiling timer expired";
 * - SIGPROF is blocked on the forking thread across fork(), so a long fork cannot be restarted
 *   forever by timer signals; the child gets its own timer, window, file and thread;
 * - a vfork() child shares our memory: every hook checks getpid() first and does nothing in a
 *   process that is not the one it was set up for;
 * - the program asking for SIGPROF (sigaction, signal) makes us step aside for good, and a
 *   query of SIGPROF answers what the program had before us;
 * - set*id, unshare(CLONE_NEWUSER) and setns() into a user, mount or time namespace find the
 *   process without our threads (glibc and the kernel want that); a process that moves to
 *   another user or mount namespace, or installs a seccomp filter, hands its profile over
 *   first and is left alone after.
 * ldprof-agent ([agent] socket) is told once sampling is on ("register", before the
 * constructor returns), and asked to sample the process itself when the program takes SIGPROF
 * ("sample sigprof") or is about to install a seccomp filter ("sample seccomp"); each question
 * waits LDP_AGENT_REPLY_MS at most, through the first stage's libc-free, async-signal-safe
 * client (boot.h): a sigaction() may come from a signal handler of the program.
 * Never: write to the program's descriptors, keep a descriptor open, change the signal mask of
 * a program thread beyond a fork, or call the interposed names (use the boot's real_* pointers).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "boot.h"
#include "config.h"
#include "deliver.h"
#include "fileio.h"
#include "log.h"
#include "sampler.h"
#include "state.h"
#include "threads.h"
#include "unwind.h"
#include "window.h"

#define DRAIN_NS 1000000000LL

static struct {
	int pid;
	int hz;
	long period_ns;
	int64_t flush_ns;
	int network;               /* the endpoint is http(s): a sender thread delivers */
	char out_base[LDP_CONFIG_STR]; /* the configured folders; cfg holds this user's own */
	char spool_base[LDP_CONFIG_STR];
	uint64_t spool_max;
	struct ldp_deliver *deliver;
	struct ldp_state *state;   /* the first stage's, for `ldprof status` */
	ldp_agent_request_fn agent_request; /* the first stage's agent client */
	int (*tasks_room)(void);   /* the first stage's: room in the cgroup's task limit? */
	int (*thread_uncount)(void); /* the first stage's: our threads out of glibc's count */
	void (*thread_recount)(int);
	struct sigaction orig;
	ldp_sigaction_fn real_sigaction;
	ldp_pthread_create_fn real_pthread_create;
	int stepped_aside;
	int exiting;
	int handler_installed;
	pthread_mutex_t work;
	pthread_mutex_t wake_mx;
	pthread_cond_t wake;
	int stop;
	int bg_running;
	pthread_t bg;
	pthread_cond_t send_wake;  /* under wake_mx */
	int send_running;
	int sender_lost;           /* a sender that would not stop: never start another */
	pthread_t sender;
	pthread_mutex_t solo_lock;
	int solo_depth;
	int handed_over;           /* solo_prepare wrote and spooled ahead of a namespace move */
	int left;                  /* the program moved to another namespace, or under seccomp */
	char leaving_to[80];       /* why we step aside if it gets there */
	struct ldp_stackprof *win;
	unsigned seq;
	int64_t next_flush;
	pthread_key_t key;
} C = { .work = PTHREAD_MUTEX_INITIALIZER, .wake_mx = PTHREAD_MUTEX_INITIALIZER,
	.solo_lock = PTHREAD_MUTEX_INITIALIZER };

static __thread sigset_t fork_saved_mask;
static __thread int32_t fork_parent_tid;

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int my_process(void) { return getpid() == C.pid; }

/* The CLOCK_MONOTONIC time ns from now, for the condition variables' timed waits. */
static void monotonic_after(int64_t ns, struct timespec *ts)
{
	int64_t t = now_ns(CLOCK_MONOTONIC) + ns;

	ts->tv_sec = t / 1000000000LL;
	ts->tv_nsec = t % 1000000000LL;
}

/* What ldprof decided in this process, where `ldprof status` reads it (state.h). */
static void publish(int decision, const char *detail)
{
	if (!C.state)
		return;
	size_t n = detail ? strnlen(detail, sizeof(C.state->detail) - 1) : 0;

	C.state->pid = getpid();
	if (n)
		memcpy(C.state->detail, detail, n); /* truncated: a hint, the log has the rest */
	C.state->detail[n] = 0;
	C.state->decision = decision;
}

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return C.real_sigaction(sig, act, old);
}

/* ---- settings ---- */

static struct ldp_config cfg;

struct problems {
	int errors;
	char first[900];
};

static void config_problem(void *ctx, const struct ldp_config_problem *p)
{
	struct problems *pr = ctx;

	if (p->severity != LDP_CONFIG_ERROR) {
		ldp_log(LDP_LOG_WARN, "config: %s: %s", p->where, p->what);
		return;
	}
	if (pr->errors++ == 0)
		snprintf(pr->first, sizeof(pr->first), "%s: %s%s%s%s", p->where, p->what,
			 p->hint ? " (" : "", p->hint ? p->hint : "", p->hint ? ")" : "");
}

/* This user's folders in the configured ones (ldp_private_dir): at start, and again after a
 * setuid(), since files are written with the process's own credentials. */
static int resolve_dirs(void)
{
	char dir[LDP_CONFIG_STR - 8]; /* fits cfg.endpoint with its "file://" */
	unsigned euid = (unsigned)geteuid();
	char note[384];
	int r;

	if (!C.network) {
		r = ldp_private_dir(C.out_base, euid, dir, sizeof(dir), note, sizeof(note));
		if (r < 0) {
			ldp_log(LDP_LOG_WARN, "staying off: no folder of uid %u's own in %s: %s", euid,
				C.out_base, note[0] ? note : strerror(-r));
			publish(LDP_ST_NO_OUTPUT, C.out_base);
			return r;
		}
		if (note[0])
			ldp_log(LDP_LOG_WARN, "%s: %s", C.out_base, note);
		snprintf(cfg.endpoint, sizeof(cfg.endpoint), "file://%s", dir);
		return 0;
	}
	cfg.spool_max_bytes = C.spool_max;
	if (!cfg.spool_max_bytes)
		return 0;
	r = ldp_private_dir(C.spool_base, euid, dir, sizeof(dir), note, sizeof(note));
	if (r < 0) {
		/* Not a reason to stay off: profiles are sent, only the fallback is missing. */
		ldp_log(LDP_LOG_WARN, "spool off: no folder of uid %u's own in %s (%s): profiles that "
			"cannot be sent are lost", euid, C.spool_base, note[0] ? note : strerror(-r));
		cfg.spool_max_bytes = 0; /* unsent profiles are counted as lost */
		return 0;
	}
	if (note[0])
		ldp_log(LDP_LOG_WARN, "%s: %s", C.spool_base, note);
	snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", dir);
	return 0;
}

/* The configuration: defaults, the file, the environment. Any error keeps the profiler off,
 * with one line that says the first one (`ldprof config check` lists them all). */
static int read_settings(const struct ldp_boot *boot)
{
	extern char **environ;
	struct problems pr = { 0 };
	int r;

	/* Until the file has named a log, problems go where the environment says, or to syslog:
	 * a host whose config is broken must hear about it somewhere. */
	ldp_log_init(boot->log_file ? boot->log_file : "syslog", boot->log_file ? boot->log_level : LDP_LOG_WARN);
	r = ldp_config_load(&cfg, environ, config_problem, &pr);
	if (r != 0) {
		ldp_log(LDP_LOG_ERROR, "staying off: bad configuration: %s%s",
			pr.errors ? pr.first : strerror(r < 0 ? -r : EINVAL),
			pr.errors > 1 ? "; `ldprof config check` lists every problem" : "");
		publish(LDP_ST_CONFIG_ERROR, pr.errors ? pr.first : strerror(r < 0 ? -r : EINVAL));
		return -EINVAL;
	}
	ldp_log_init(cfg.log_file, LDP_LOG_ERROR - cfg.log_level);
	C.hz = cfg.hz;
	C.period_ns = 1000000000L / cfg.hz;
	C.flush_ns = cfg.flush_ns;
	C.network = strncmp(cfg.endpoint, "file://", 7) != 0;
	/* (strncpy-like copies: both fit, the config bounds them to LDP_CONFIG_STR) */
	memcpy(C.out_base, C.network ? "" : cfg.endpoint + 7,
	       C.network ? 1 : strnlen(cfg.endpoint + 7, sizeof(cfg.endpoint) - 8) + 1);
	memcpy(C.spool_base, cfg.spool_dir, strnlen(cfg.spool_dir, sizeof(cfg.spool_dir) - 1) + 1);
	C.spool_max = cfg.spool_max_bytes;
	return resolve_dirs();
}

static void deliver_log(int level, const char *msg)
{
	ldp_log(level, "%s", msg);
}

/* ---- the window ---- */

static void drain_locked(void)
{
	struct ldp_stacktab *t = ldp_sampler_swap();

	ldp_window_merge(C.win, t);
	ldp_stacktab_reset(t);
}

/* Builds the window's profile and hands it to delivery (file:// writes it now; a network
 * endpoint queues it for the sender thread). */
static void write_locked(void)
{
	struct ldp_window_out out = { C.period_ns, now_ns(CLOCK_REALTIME) };
	struct ldp_shipment *s = NULL;
	int r;

	if (ldp_stackprof_samples(C.win) == 0)
		goto done;
	s = malloc(sizeof(*s)); /* ~16 KiB: not on the stack of an exec'ing program thread */
	r = s ? ldp_window_build(C.win, &out, s) : -ENOMEM;
	if (r == 0)
		r = ldp_deliver_submit(C.deliver, s);
	if (r < 0)
		ldp_log(LDP_LOG_WARN, "cannot make or hand over a profile: %s", strerror(-r));
	else
		ldp_log(LDP_LOG_DEBUG, "profile %u: %llu samples", C.seq,
			(unsigned long long)ldp_stackprof_samples(C.win));
	C.seq++;
	if (C.network) {
		pthread_mutex_lock(&C.wake_mx);
		pthread_cond_signal(&C.send_wake);
		pthread_mutex_unlock(&C.wake_mx);
	}
done:
	free(s);
	if (ldp_stackprof_dropped(C.win))
		ldp_log(LDP_LOG_INFO, "window dropped %llu samples (tables full)",
			(unsigned long long)ldp_stackprof_dropped(C.win));
	ldp_stackprof_reset(C.win, out.end_ns);
	ldp_threads_reap();
}

/* Threads of ours: what they create (curl's resolver) is not the program's and not sampled. */
static __thread int our_thread;

static void start_sender_locked(void);

/* Our threads are not counted by glibc: the program's last thread ending ends the process
 * (boot.h). < 0: it has ended already, the caller returns at once. */
static int uncount(void)
{
	return C.thread_uncount ? C.thread_uncount() : 0;
}

static void recount(int counted)
{
	if (C.thread_recount)
		C.thread_recount(counted);
}

static void *bg_main(void *arg)
{
	struct timespec ts;
	int counted = uncount();

	if (counted < 0)
		return NULL;
	ldp_bg_tid = (int32_t)syscall(SYS_gettid);
	our_thread = 1;
	prctl(PR_SET_NAME, "ldprof", 0, 0, 0);
	pthread_mutex_lock(&C.wake_mx);
	while (!C.stop) {
		/* Drain every second, or every flush interval when that is shorter. */
		int64_t tick = C.flush_ns < DRAIN_NS ? C.flush_ns : DRAIN_NS;
		monotonic_after(tick, &ts);
		pthread_cond_timedwait(&C.wake, &C.wake_mx, &ts);
		if (C.stop)
			break;
		pthread_mutex_unlock(&C.wake_mx);

		pthread_mutex_lock(&C.work);
		if (!C.stop && !C.exiting) {
			drain_locked();
			ldp_threads_rescan();
			ldp_threads_learn_stacks();
			ldp_unwind_refresh(0);
			if (now_ns(CLOCK_MONOTONIC) >= C.next_flush - C.flush_ns / 20) {
				unsigned seq = C.seq;

				write_locked();
				if (C.seq != seq)
					start_sender_locked();
				C.next_flush += C.flush_ns;
			}
		}
		pthread_mutex_unlock(&C.work);
		pthread_mutex_lock(&C.wake_mx);
	}
	pthread_mutex_unlock(&C.wake_mx);
	recount(counted);
	return NULL;
}

/* The sender: network delivery for http(s) endpoints, on its own thread so that a slow
 * endpoint never delays the sampler's drains. Every signal blocked (SIGPIPE included), like
 * the background thread. */
static void *send_main(void *arg)
{
	struct timespec ts;
	int counted = uncount();

	if (counted < 0)
		return NULL;
	ldp_send_tid = (int32_t)syscall(SYS_gettid);
	our_thread = 1;
	prctl(PR_SET_NAME, "ldprof-send", 0, 0, 0);
	pthread_mutex_lock(&C.wake_mx);
	while (!C.stop) {
		int64_t wait;

		pthread_mutex_unlock(&C.wake_mx);
		wait = ldp_deliver_run(C.deliver, 60 * 1000000000LL);
		pthread_mutex_lock(&C.wake_mx);
		if (C.stop)
			break;
		if (wait > DRAIN_NS * 30)
			wait = DRAIN_NS * 30;
		if (wait <= 0)
			continue;
		monotonic_after(wait, &ts);
		pthread_cond_timedwait(&C.send_wake, &C.wake_mx, &ts);
	}
	pthread_mutex_unlock(&C.wake_mx);
	recount(counted);
	return NULL;
}

/* The threads' wake-ups run on the monotonic clock: a wall clock step must not stall or
 * hurry the flushes. */
static void init_wake(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&C.wake, &ca);
	pthread_cond_init(&C.send_wake, &ca);
	pthread_condattr_destroy(&ca);
}

static int start_thread(pthread_t *t, void *(*fn)(void *))
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	/* The thread inherits this mask: every signal blocked, so it never takes one of the
	 * program's signals, never gets a SIGPROF, and a broken connection is an EPIPE. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = C.real_pthread_create(t, &attr, fn, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -r;
}

/* The sender comes with the first profile to send, from the background thread: a process that
 * ends or execs before its first flush (most forked children) never starts it, and each of
 * its forks copies one thread fewer. At exit and exec the exiting thread sends anyway. */
static int start_bg(void)
{
	C.stop = 0;
	C.next_flush = now_ns(CLOCK_MONOTONIC) + C.flush_ns;
	C.bg_running = start_thread(&C.bg, bg_main) == 0;
	return C.bg_running ? 0 : -EAGAIN;
}

/* The background thread, with the work lock: a profile was just queued. Under wake_mx, as
 * stop_bg() sets stop: a stop_bg() running now either finds the sender started, and stops it,
 * or has set stop, and none starts (a set*id or unshare() must find no thread of ours). */
static void start_sender_locked(void)
{
	int started = 0, failed = 0;

	pthread_mutex_lock(&C.wake_mx);
	if (C.network && !C.sender_lost && !C.send_running && !C.stop && !C.exiting) {
		C.send_running = start_thread(&C.sender, send_main) == 0;
		started = C.send_running;
		failed = !started;
		C.sender_lost = failed;
	}
	pthread_mutex_unlock(&C.wake_mx);
	if (failed)
		ldp_log(LDP_LOG_WARN, "cannot start the sender thread: profiles wait for exit");
	else if (started)
		ldp_log(LDP_LOG_DEBUG, "sender thread started");
}

/* pthread_join returns when the thread has cleared its tid, a little before the kernel reaps
 * it; until then it still counts as a thread for unshare() and setns(). tgkill(.., 0) fails
 * with ESRCH once it is gone. */
static void wait_reaped(int32_t tid)
{
	struct timespec ts = { 0, 20 * 1000 };

	for (int i = 0; tid > 0 && i < 5000; i++) {
		if (syscall(SYS_tgkill, C.pid, tid, 0) < 0 && errno == ESRCH)
			return;
		nanosleep(&ts, NULL);
	}
}

/* Wake the threads, let them finish what they are doing (a send in progress gives up within
 * ~10 ms, its profile stays queued), and wait until the kernel has reaped them. */
static void stop_bg(void)
{
	pthread_mutex_lock(&C.wake_mx);
	C.stop = 1;
	pthread_cond_signal(&C.wake);
	pthread_cond_signal(&C.send_wake);
	pthread_mutex_unlock(&C.wake_mx);
	if (C.send_running) {
		struct timespec ts;

		/* A send gives up within 10 ms of the abort; a thread stuck anyway (a lock some
		 * library took in the parent before fork) must not hang the program's setuid(). */
		ldp_deliver_abort(C.deliver);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (pthread_timedjoin_np(C.sender, NULL, &ts) != 0) {
			ldp_log(LDP_LOG_ERROR, "the sender thread does not stop: delivery is off from now on");
			pthread_detach(C.sender);
			C.network = 0;
			C.sender_lost = 1;
		} else {
			wait_reaped(ldp_send_tid);
		}
		ldp_send_tid = -1;
		C.send_running = 0;
	}
	if (C.bg_running) {
		pthread_join(C.bg, NULL);
		wait_reaped(ldp_bg_tid);
		ldp_bg_tid = -1;
		C.bg_running = 0;
	}
}

/* ---- sampling on and off ---- */

static int install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))ldp_sampler_handler();
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (real_sigaction(SIGPROF, &sa, NULL) < 0)
		return -errno;
	C.handler_installed = 1;
	return 0;
}

/* Discard any SIGPROF still pending anywhere in the process, then give SIGPROF back the
 * disposition the program had. */
static void restore_disposition(void)
{
	struct sigaction ign;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	real_sigaction(SIGPROF, &ign, NULL);
	real_sigaction(SIGPROF, &C.orig, NULL);
	C.handler_installed = 0;
}

/* Asks ldprof-agent (common/agentproto.h) and writes its answer into said; "" when the agent
 * is not to be asked ([agent] socket empty). Waits LDP_AGENT_REPLY_MS at most. May run in a
 * signal handler of the program (a sigaction() there): the client is async-signal-safe. */
static void ask_agent(const char *request, char *said, size_t len)
{
	said[0] = 0;
	if (C.agent_request && cfg.agent_socket[0])
		C.agent_request(cfg.agent_socket, request, said, len);
}

/* Stops sampling for good. agent_request: what to ask the agent once we are out of the way
 * (NULL: nothing). */
static void step_aside(const char *why, const char *agent_request)
{
	char said[128] = "";

	if (__atomic_exchange_n(&C.stepped_aside, 1, __ATOMIC_SEQ_CST))
		return;
	ldp_sampler_pause(1);
	ldp_threads_arm_all(0);
	restore_disposition();
	publish(LDP_ST_STEPPED_ASIDE, why);
	/* After our timers are off and the program's disposition is back: the agent's samples
	 * must never overlap ours. */
	if (agent_request)
		ask_agent(agent_request, said, sizeof(said));
	/* info, not warn: coreutils sort, for one, catches SIGPROF on every run */
	ldp_log(LDP_LOG_INFO, "stepping aside: %s%s%s", why, said[0] ? "; agent: " : "", said);
}

/* ---- threads ---- */

struct tramp {
	void *(*fn)(void *);
	void *arg;
};

static void thread_gone(void *slot)
{
	ldp_threads_remove(slot);
}

/* glibc's record of where the main thread's stack started: everything the program's frames
 * use lies below it. Weak, in case a future libc drops it. */
extern void *__libc_stack_end __attribute__((weak));

/* The calling thread's stack, as glibc made it or the program gave it (pthread_attr_setstack):
 * [*lo, *hi), all of it mapped; 0, 0 when glibc cannot say. Not for the main thread:
 * pthread_getattr_np would parse /proc/self/maps for it. */
static void my_stack(uint64_t *lo, uint64_t *hi)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	*lo = *hi = 0;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return;
	if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr && size) {
		*lo = (uint64_t)(uintptr_t)addr;
		*hi = *lo + size;
	}
	pthread_attr_destroy(&attr);
}

/* The main thread's stack: it grows on demand from glibc's __libc_stack_end down, at most
 * RLIMIT_STACK deep. Below the top, the kernel leaves at least that much free of the mappings
 * it places (mmap_base sits RLIMIT_STACK at exec plus a guard gap or more below the stack), so
 * a stack pointer within RLIMIT_STACK of the top is on this stack, and everything from it up to
 * the top is mapped. Capped at 128 MiB. What could still mislead it: a program that raised
 * the limit after exec and runs a coroutine on memory it mapped by address into that gap.
 * 0, 0 when glibc does not say where the stack ends. */
static void main_stack(uint64_t *lo, uint64_t *hi)
{
	struct rlimit rl;
	uint64_t depth = 128ull << 20;

	*lo = *hi = 0;
	if (!&__libc_stack_end || !__libc_stack_end)
		return;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < depth)
		depth = rl.rlim_cur;
	*hi = (uint64_t)(uintptr_t)__libc_stack_end;
	*lo = *hi > depth ? *hi - depth : 4096;
}

static void thread_begin(void)
{
	struct ldp_slot *s;
	uint64_t lo, hi;

	my_stack(&lo, &hi);
	s = ldp_threads_add_self(lo, hi);
	if (s)
		pthread_setspecific(C.key, s);
}

static void *trampoline(void *p)
{
	struct tramp t = *(struct tramp *)p;

	free(p);
	if (my_process() && !C.stepped_aside && !C.exiting)
		thread_begin();
	return t.fn(t.arg);
}

static int hook_pthread_create(ldp_pthread_create_fn real, void *thread, const void *attr,
			       void *(*fn)(void *), void *arg)
{
	struct tramp *t;
	int r;

	if (!my_process() || C.stepped_aside || C.exiting || our_thread)
		return real(thread, attr, fn, arg);
	t = malloc(sizeof(*t));
	if (!t)
		return real(thread, attr, fn, arg);
	t->fn = fn;
	t->arg = arg;
	r = real(thread, attr, trampoline, t);
	if (r)
		free(t);
	return r;
}

/* ---- exec ---- */

/* Stops sampling and hands the window over: written, and what the network does not take
 * within budget_ns spooled. */
static void hand_over(int64_t budget_ns)
{
	ldp_sampler_pause(1);
	ldp_threads_arm_all(0);
	pthread_mutex_lock(&C.work);
	drain_locked();
	write_locked();
	pthread_mutex_unlock(&C.work);
	ldp_deliver_finish(C.deliver, budget_ns);
}

static void hook_exec_prepare(void)
{
	if (!my_process() || C.left)
		return;
	/* The new image starts with nothing of ours: what is not sent by now is spooled. */
	hand_over(cfg.exit_timeout_ns);
	if (C.handler_installed)
		restore_disposition();
}

static void hook_exec_failed(void)
{
	int saved_errno = errno;

	if (!my_process() || C.left)
		goto out;
	ldp_deliver_resume(C.deliver);
	if (C.stepped_aside || C.exiting)
		goto out;
	if (install_handler() == 0) {
		ldp_threads_arm_all(1);
		ldp_sampler_pause(0);
	}
out:
	errno = saved_errno;
}

/* ---- the program and SIGPROF ---- */

static int hook_sigaction(ldp_sigaction_fn real, int sig, const void *act, void *oldact)
{
	if (!my_process() || !C.handler_installed)
		return real(sig, act, oldact);
	const struct sigaction *a = act;

	if (!act) {
		if (oldact)
			memcpy(oldact, &C.orig, sizeof(C.orig));
		return 0;
	}
	/* SIG_DFL or SIG_IGN is not a handler of the program's own (a child resetting every
	 * signal before exec does this): keep sampling, and give a SIGPROF that is not ours the
	 * disposition asked for. */
	if (!(a->sa_flags & SA_SIGINFO) && (a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN)) {
		if (oldact)
			memcpy(oldact, &C.orig, sizeof(C.orig));
		C.orig = *a;
		ldp_sampler_set_ignored(a->sa_handler == SIG_IGN);
		return 0;
	}
	step_aside("the program installs its own SIGPROF handler", LDP_AGENT_REQ_SAMPLE_SIGPROF);
	return real(sig, act, oldact);
}

static void hook_sigprof_claim(void)
{
	if (my_process() && C.handler_installed)
		step_aside("the program installs its own SIGPROF handler", LDP_AGENT_REQ_SAMPLE_SIGPROF);
}

/* ---- dlclose ---- */

static void hook_dlclose_prepare(void)
{
	if (my_process())
		ldp_sampler_fence_begin();
}

static void hook_dlclose_done(void)
{
	if (my_process())
		ldp_sampler_fence_end();
}

/* ---- set*id, unshare, setns, chroot, seccomp: the program wants to be alone (boot.h) ---- */

static void hook_solo_prepare(const char *leaving, int for_good)
{
	if (!my_process())
		return;
	pthread_mutex_lock(&C.solo_lock);
	if (C.solo_depth++ == 0)
		stop_bg();
	/* What is ours goes out while our folders are still ours and our calls allowed: the
	 * window written, whatever the network has not taken yet spooled. */
	if (leaving && !C.exiting && !C.handed_over) {
		snprintf(C.leaving_to, sizeof(C.leaving_to), "the program moves into %s", leaving);
		ldp_log(LDP_LOG_INFO, "%s: profile handed over; sampling stops if it gets there",
			C.leaving_to);
		hand_over(0);
		C.handed_over = 1;
		/* For good: the process stays as it is, only out of our reach; the agent can
		 * sample it from the kernel, and is asked before the filter goes in. */
		if (for_good)
			step_aside(C.leaving_to, LDP_AGENT_REQ_SAMPLE_SECCOMP);
	}
	pthread_mutex_unlock(&C.solo_lock);
}

static void hook_solo_done(int left)
{
	int saved_errno = errno;

	if (!my_process())
		goto out;
	pthread_mutex_lock(&C.solo_lock);
	if (left && C.handed_over) {
		/* Files written from here would land in another namespace's folders, as another
		 * user, or the filter may kill the process for them: nothing more is written, at
		 * exec or exit either, not even a log line. */
		C.left = 1;
		ldp_log_init(NULL, LDP_LOG_ERROR);
		step_aside(C.leaving_to, NULL);
	} else if (C.handed_over) {
		C.handed_over = 0;
		ldp_deliver_resume(C.deliver);
		if (!C.stepped_aside) { /* sticky: not stepped aside now, sampling before */
			ldp_threads_arm_all(1);
			ldp_sampler_pause(0);
		}
	}
	if (--C.solo_depth == 0 && !C.exiting && !C.left) {
		pthread_mutex_lock(&C.work);
		if (resolve_dirs() < 0)
			step_aside("no output folder of its own for the new user", NULL);
		pthread_mutex_unlock(&C.work);
		if (start_bg() < 0)
			ldp_log(LDP_LOG_WARN, "cannot restart the background thread after a credential change");
	}
	pthread_mutex_unlock(&C.solo_lock);
out:
	errno = saved_errno;
}

/* ---- fork ---- */

static void fork_prepare(void)
{
	sigset_t prof;

	sigemptyset(&prof);
	sigaddset(&prof, SIGPROF);
	pthread_sigmask(SIG_BLOCK, &prof, &fork_saved_mask);
	fork_parent_tid = (int32_t)syscall(SYS_gettid);
	pthread_mutex_lock(&C.work);
	ldp_threads_lock();
}

static void fork_parent(void)
{
	ldp_threads_unlock();
	pthread_mutex_unlock(&C.work);
	pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

static void fork_child(void)
{
	/* One thread, copies of locks held by the parent's threads: start over. The parent's
	 * samples are the parent's; the child writes its own files under its own pid. */
	pthread_mutex_init(&C.work, NULL);
	pthread_mutex_init(&C.wake_mx, NULL);
	init_wake();
	pthread_mutex_init(&C.solo_lock, NULL);
	C.solo_depth = 0;
	C.bg_running = 0;
	C.send_running = 0;
	C.pid = getpid();
	C.seq = 0;
	ldp_deliver_after_fork_child(C.deliver);
	ldp_bg_tid = -1;
	ldp_send_tid = -1;
	ldp_sampler_after_fork_child();
	ldp_stackprof_reset_after_fork(C.win, now_ns(CLOCK_REALTIME));
	if (C.state)
		C.state->pid = C.pid;
	if (!C.stepped_aside && !C.exiting) {
		ldp_threads_after_fork_child(fork_parent_tid);
		/* A process that forks many children would fill its cgroup's task limit with our
		 * threads, and its own next fork() would fail. */
		if (C.tasks_room && !C.tasks_room())
			step_aside("no room for a thread of ours in its cgroup's task limit", NULL);
		else if (start_bg() < 0)
			ldp_log(LDP_LOG_WARN, "child: cannot start the background thread");
	}
	pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

/* ---- exit ---- */

static void core_exit(void)
{
	struct ldp_sampler_stats st;
	struct ldp_deliver_stats ds;
	char line[320];

	if (!my_process() || C.left)
		return;
	C.exiting = 1;
	ldp_sampler_pause(1);
	ldp_threads_arm_all(0);
	pthread_mutex_lock(&C.work);
	drain_locked();
	write_locked();
	pthread_mutex_lock(&C.wake_mx);
	C.stop = 1;
	pthread_mutex_unlock(&C.wake_mx);
	pthread_mutex_unlock(&C.work);
	/* At most exit_timeout of network, then the rest goes to the spool. */
	ldp_deliver_finish(C.deliver, cfg.exit_timeout_ns);
	ldp_sampler_stats(&st);
	ldp_deliver_stats(C.deliver, &ds);
	ldp_log(LDP_LOG_INFO,
		"exit: %u profiles, %llu samples, %llu dropped, %llu foreign SIGPROF, handler mean %.2f us, "
		"%u threads without a timer, %llu object tables truncated, %u adopted stacks learnt, "
		"%llu frames in objects newer than the table",
		C.seq, (unsigned long long)st.samples, (unsigned long long)st.dropped,
		(unsigned long long)st.foreign, st.samples ? st.handler_ns / 1e3 / st.samples : 0.0,
		ldp_threads_failed(), ldp_unwind_truncated(), ldp_threads_learnt(), ldp_unwind_late());
	{
		unsigned long long fast, no_obj, no_rule, leaf;

		ldp_unwind_paths(&fast, &no_obj, &no_rule, &leaf);
		ldp_log(LDP_LOG_INFO,
			"unwinding: %llu stacks by the fast path, %llu by libunwind (%llu at a frame in "
			"no known object, %llu at a rule the fast path does not model; %llu of them at "
			"the interrupted frame)", fast, no_obj + no_rule, no_obj, no_rule, leaf);
	}
	ldp_log(LDP_LOG_INFO, "%s", ldp_deliver_summary(&ds, line, sizeof(line)));
	/* The handler stays installed: a SIGPROF already queued is caught and dropped. */
}

static const struct ldp_core_ops ops = {
	.version = LDP_BOOT_VERSION,
	.pthread_create = hook_pthread_create,
	.exec_prepare = hook_exec_prepare,
	.exec_failed = hook_exec_failed,
	.sigaction = hook_sigaction,
	.sigprof_claim = hook_sigprof_claim,
	.dlclose_prepare = hook_dlclose_prepare,
	.dlclose_done = hook_dlclose_done,
	.solo_prepare = hook_solo_prepare,
	.solo_done = hook_solo_done,
};

__attribute__((visibility("default"))) const struct ldp_core_ops *
ldp_core_start(const struct ldp_boot *boot)
{
	char said[128];
	uint64_t lo, hi;
	int r, adopted;

	if (!boot || boot->version != LDP_BOOT_VERSION)
		return NULL;
	C.real_sigaction = boot->real_sigaction;
	C.real_pthread_create = boot->real_pthread_create;
	C.state = boot->state;
	C.agent_request = boot->agent_request;
	C.tasks_room = boot->tasks_room;
	C.thread_uncount = boot->thread_uncount;
	C.thread_recount = boot->thread_recount;
	C.pid = getpid();
	if (read_settings(boot) < 0)
		return NULL;
	if (real_sigaction(SIGPROF, NULL, &C.orig) < 0)
		return NULL;
	if (C.orig.sa_handler != SIG_DFL && C.orig.sa_handler != SIG_IGN) {
		publish(LDP_ST_FOREIGN_SIGPROF, "a SIGPROF handler was there before ldprof");
		ask_agent(LDP_AGENT_REQ_SAMPLE_SIGPROF, said, sizeof(said));
		ldp_log(LDP_LOG_WARN, "staying off: the program already has a SIGPROF handler%s%s",
			said[0] ? "; agent: " : "", said);
		return NULL;
	}
	init_wake();
	r = ldp_window_new(now_ns(CLOCK_REALTIME), &C.win);
	C.deliver = ldp_deliver_new(&cfg, deliver_log);
	if (r < 0 || !C.deliver || pthread_key_create(&C.key, thread_gone) != 0)
		goto fail;
	r = ldp_threads_init(C.period_ns);
	if (r < 0)
		goto fail;
	/* libunwind's set-up opens a pipe and probes mincore() for a memory validation we never
	 * use (its local accessors validate; ours do not): the first stage moves the pipe to high
	 * numbers and answers the probe itself meanwhile (boot.h). */
	if (boot->unwind_setup)
		boot->unwind_setup(1);
	r = ldp_sampler_init(&C.orig, LDP_MAX_DEPTH,
			     (int (*)(int, const struct sigaction *, struct sigaction *))C.real_sigaction);
	if (boot->unwind_setup)
		boot->unwind_setup(0);
	if (r < 0)
		goto fail;
	if (install_handler() < 0)
		goto fail;
	if (boot->deferred) {
		/* From the first stage's waiter: it is not the program's, and ends when we return.
		 * The main thread may be gone (pthread_exit): then the rescan finds none. */
		ldp_setup_tid = (int32_t)syscall(SYS_gettid);
		main_stack(&lo, &hi);
		if (hi)
			ldp_threads_adopt(C.pid, lo, hi);
	} else {
		if (getpid() == (pid_t)syscall(SYS_gettid))
			main_stack(&lo, &hi);
		else
			my_stack(&lo, &hi); /* a program that dlopen()ed libldprof.so from a thread */
		if (!ldp_threads_add_self(lo, hi)) {
			restore_disposition();
			goto fail;
		}
	}
	adopted = ldp_threads_rescan();
	/* Before the constructor returns, so that a child the program forks and execs at once
	 * finds this process known to the agent's fork hook; and before the background thread
	 * starts, whose start would otherwise overlap the request (measured: a failed connect
	 * costs a short process 85 us after the thread's creation, 8 us before it). Started late,
	 * the first stage asked when the process started. */
	said[0] = 0;
	if (!boot->deferred && !boot->registered)
		ask_agent(LDP_AGENT_REQ_REGISTER, said, sizeof(said));
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0 || atexit(core_exit) != 0 ||
	    start_bg() < 0) {
		step_aside("cannot set up the fork, exit or background hooks", NULL);
		publish(LDP_ST_CORE_FAILED, "cannot set up the fork, exit or background hooks");
		return NULL;
	}
	ldp_log(LDP_LOG_INFO, "active pid=%d hz=%d threads=%u adopted=%d output=%s", C.pid, C.hz,
		ldp_threads_live(), adopted > 0 ? adopted : 0, cfg.endpoint);
	publish(LDP_ST_SAMPLING, cfg.endpoint);
	if (said[0])
		ldp_log(LDP_LOG_INFO, "agent: %s", said);
	return &ops;
fail:
	ldp_log(LDP_LOG_ERROR, "staying off: cannot set up sampling");
	publish(LDP_ST_CORE_FAILED, "cannot set up sampling");
	return NULL;
}
