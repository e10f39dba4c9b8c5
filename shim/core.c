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
 *   query of SIGPROF answers what the program had before us.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "log.h"
#include "sampler.h"
#include "threads.h"
#include "unwind.h"
#include "window.h"

#define DRAIN_NS 1000000000LL
#define DEFAULT_HZ 99
#define DEFAULT_FLUSH_NS (10 * 1000000000LL)

static struct {
	int pid;
	int hz;
	long period_ns;
	int64_t flush_ns;
	char dir[PATH_MAX];
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
	pthread_mutex_t creds_lock;
	int creds_depth;
	struct ldp_window *win;
	unsigned seq;
	int64_t next_flush;
	pthread_key_t key;
} C = { .work = PTHREAD_MUTEX_INITIALIZER, .wake_mx = PTHREAD_MUTEX_INITIALIZER,
	.creds_lock = PTHREAD_MUTEX_INITIALIZER };

static __thread sigset_t fork_saved_mask;
static __thread int32_t fork_parent_tid;

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int my_process(void) { return getpid() == C.pid; }

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return C.real_sigaction(sig, act, old);
}

/* ---- settings ---- */

static int parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "10s", "500ms", "2m", or plain seconds. */
static int parse_duration_ns(const char *s, int64_t *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		v *= 1e6;
	else if (!strcmp(end, "s") || !*end)
		v *= 1e9;
	else if (!strcmp(end, "m"))
		v *= 60e9;
	else
		return -EINVAL;
	if (v < 1e8 || v > 86400e9)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

static int read_settings(void)
{
	const char *v;
	long hz = DEFAULT_HZ;

	v = getenv("LDPROF_SAMPLING_HZ");
	if (v && parse_long(v, 1, 1000, &hz) < 0) {
		ldp_log(LDP_LOG_ERROR, "staying off: LDPROF_SAMPLING_HZ=\"%s\" is not a rate from 1 to 1000", v);
		return -EINVAL;
	}
	C.hz = (int)hz;
	C.period_ns = 1000000000L / hz;
	C.flush_ns = DEFAULT_FLUSH_NS;
	v = getenv("LDPROF_SAMPLING_FLUSH_INTERVAL");
	if (v && parse_duration_ns(v, &C.flush_ns) < 0) {
		ldp_log(LDP_LOG_ERROR,
			"staying off: LDPROF_SAMPLING_FLUSH_INTERVAL=\"%s\" is not a duration from 100ms to 24h", v);
		return -EINVAL;
	}
	v = getenv("LDPROF_OUTPUT_ENDPOINT");
	if (!v || !*v)
		v = "file:///var/lib/ldprof/profiles";
	if (strncmp(v, "file://", 7) || !v[7] || strlen(v + 7) >= sizeof(C.dir) - 64) {
		ldp_log(LDP_LOG_ERROR, "staying off: endpoint \"%s\" is not supported (file://DIR only, for now)", v);
		return -EINVAL;
	}
	snprintf(C.dir, sizeof(C.dir), "%s", v + 7);
	return 0;
}

/* ---- the window ---- */

static void drain_locked(void)
{
	struct ldp_stacktab *t = ldp_sampler_swap();

	ldp_window_merge(C.win, t);
	ldp_stacktab_reset(t);
}

static void write_locked(void)
{
	struct ldp_window_out out = { C.dir, C.pid, C.seq, C.period_ns, now_ns(CLOCK_REALTIME) };
	char path[PATH_MAX];
	int r;

	if (ldp_window_samples(C.win) == 0)
		goto done;
	r = ldp_window_write(C.win, &out, path, sizeof(path));
	if (r < 0)
		ldp_log(LDP_LOG_WARN, "cannot write profile to \"%s\": %s", C.dir, strerror(-r));
	else
		ldp_log(LDP_LOG_DEBUG, "wrote %s: %llu samples", path,
			(unsigned long long)ldp_window_samples(C.win));
	C.seq++;
done:
	if (ldp_window_dropped(C.win))
		ldp_log(LDP_LOG_INFO, "window dropped %llu samples (tables full)",
			(unsigned long long)ldp_window_dropped(C.win));
	ldp_window_reset(C.win, out.end_ns);
	ldp_threads_reap();
}

static void *bg_main(void *arg)
{
	struct timespec ts;

	ldp_bg_tid = (int32_t)syscall(SYS_gettid);
	prctl(PR_SET_NAME, "ldprof", 0, 0, 0);
	pthread_mutex_lock(&C.wake_mx);
	while (!C.stop) {
		/* Drain every second, or every flush interval when that is shorter. */
		int64_t tick = C.flush_ns < DRAIN_NS ? C.flush_ns : DRAIN_NS;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += tick / 1000000000LL;
		ts.tv_nsec += tick % 1000000000LL;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&C.wake, &C.wake_mx, &ts);
		if (C.stop)
			break;
		pthread_mutex_unlock(&C.wake_mx);

		pthread_mutex_lock(&C.work);
		if (!C.stop && !C.exiting) {
			drain_locked();
			ldp_threads_rescan();
			ldp_unwind_refresh(0);
			if (now_ns(CLOCK_MONOTONIC) >= C.next_flush - C.flush_ns / 20) {
				write_locked();
				C.next_flush += C.flush_ns;
			}
		}
		pthread_mutex_unlock(&C.work);
		pthread_mutex_lock(&C.wake_mx);
	}
	pthread_mutex_unlock(&C.wake_mx);
	return NULL;
}

/* The background thread's wake-up runs on the monotonic clock: a wall clock step must not
 * stall or hurry the flushes. */
static void init_wake(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&C.wake, &ca);
	pthread_condattr_destroy(&ca);
}

static int start_bg(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	C.stop = 0;
	C.next_flush = now_ns(CLOCK_MONOTONIC) + C.flush_ns;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	/* The thread inherits this mask: every signal blocked, so it never takes one of the
	 * program's signals and never gets a SIGPROF. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = C.real_pthread_create(&C.bg, &attr, bg_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	C.bg_running = r == 0;
	return -r;
}

/* Wake the thread, let it finish what it is doing, and wait for it to end. */
static void stop_bg(void)
{
	if (!C.bg_running)
		return;
	pthread_mutex_lock(&C.wake_mx);
	C.stop = 1;
	pthread_cond_signal(&C.wake);
	pthread_mutex_unlock(&C.wake_mx);
	pthread_join(C.bg, NULL);
	C.bg_running = 0;
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

static void step_aside(const char *why)
{
	if (__atomic_exchange_n(&C.stepped_aside, 1, __ATOMIC_SEQ_CST))
		return;
	ldp_sampler_pause(1);
	ldp_threads_arm_all(0);
	restore_disposition();
	ldp_log(LDP_LOG_WARN, "stepping aside: %s", why);
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

static uint64_t my_stack_hi(void)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;
	uint64_t hi = 0;

	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return 0;
	if (pthread_attr_getstack(&attr, &addr, &size) == 0)
		hi = (uint64_t)(uintptr_t)addr + size;
	pthread_attr_destroy(&attr);
	return hi;
}

static void thread_begin(void)
{
	struct ldp_slot *s;

	s = ldp_threads_add_self(my_stack_hi());
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

	if (!my_process() || C.stepped_aside || C.exiting)
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

static void hook_exec_prepare(void)
{
	if (!my_process())
		return;
	ldp_sampler_pause(1);
	ldp_threads_arm_all(0);
	pthread_mutex_lock(&C.work);
	drain_locked();
	write_locked();
	pthread_mutex_unlock(&C.work);
	if (C.handler_installed)
		restore_disposition();
}

static void hook_exec_failed(void)
{
	int saved_errno = errno;

	if (!my_process() || C.stepped_aside || C.exiting)
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
	if (!act) {
		if (oldact)
			memcpy(oldact, &C.orig, sizeof(C.orig));
		return 0;
	}
	step_aside("the program installs its own SIGPROF handler");
	return real(sig, act, oldact);
}

static void hook_sigprof_claim(void)
{
	if (my_process() && C.handler_installed)
		step_aside("the program installs its own SIGPROF handler");
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

/* ---- credentials ---- */

static void hook_creds_prepare(void)
{
	if (!my_process())
		return;
	pthread_mutex_lock(&C.creds_lock);
	if (C.creds_depth++ == 0)
		stop_bg();
	pthread_mutex_unlock(&C.creds_lock);
}

static void hook_creds_done(void)
{
	int saved_errno = errno;

	if (!my_process())
		goto out;
	pthread_mutex_lock(&C.creds_lock);
	if (--C.creds_depth == 0 && !C.exiting && start_bg() < 0)
		ldp_log(LDP_LOG_WARN, "cannot restart the background thread after a credential change");
	pthread_mutex_unlock(&C.creds_lock);
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
	pthread_mutex_init(&C.creds_lock, NULL);
	C.creds_depth = 0;
	C.bg_running = 0;
	C.pid = getpid();
	C.seq = 0;
	ldp_bg_tid = -1;
	ldp_sampler_after_fork_child();
	ldp_window_reset(C.win, now_ns(CLOCK_REALTIME));
	if (!C.stepped_aside && !C.exiting) {
		ldp_threads_after_fork_child(fork_parent_tid);
		if (start_bg() < 0)
			ldp_log(LDP_LOG_WARN, "child: cannot start the background thread");
	}
	pthread_sigmask(SIG_SETMASK, &fork_saved_mask, NULL);
}

/* ---- exit ---- */

static void core_exit(void)
{
	struct ldp_sampler_stats st;

	if (!my_process())
		return;
	C.exiting = 1;
	ldp_sampler_pause(1);
	ldp_threads_arm_all(0);
	pthread_mutex_lock(&C.work);
	drain_locked();
	write_locked();
	C.stop = 1;
	pthread_mutex_unlock(&C.work);
	ldp_sampler_stats(&st);
	ldp_log(LDP_LOG_INFO,
		"exit: %u files, %llu samples, %llu dropped, %llu foreign SIGPROF, handler mean %.2f us, "
		"%u threads without a timer, %llu object tables truncated",
		C.seq, (unsigned long long)st.samples, (unsigned long long)st.dropped,
		(unsigned long long)st.foreign, st.samples ? st.handler_ns / 1e3 / st.samples : 0.0,
		ldp_threads_failed(), ldp_unwind_truncated());
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
	.creds_prepare = hook_creds_prepare,
	.creds_done = hook_creds_done,
};

__attribute__((visibility("default"))) const struct ldp_core_ops *
ldp_core_start(const struct ldp_boot *boot)
{
	int r, adopted;

	if (!boot || boot->version != LDP_BOOT_VERSION)
		return NULL;
	ldp_log_init(boot->log_file, boot->log_level);
	C.real_sigaction = boot->real_sigaction;
	C.real_pthread_create = boot->real_pthread_create;
	C.pid = getpid();
	if (read_settings() < 0)
		return NULL;
	if (real_sigaction(SIGPROF, NULL, &C.orig) < 0)
		return NULL;
	if (C.orig.sa_handler != SIG_DFL && C.orig.sa_handler != SIG_IGN) {
		ldp_log(LDP_LOG_WARN, "staying off: the program already has a SIGPROF handler");
		return NULL;
	}
	init_wake();
	C.win = ldp_window_new(now_ns(CLOCK_REALTIME));
	if (!C.win || pthread_key_create(&C.key, thread_gone) != 0)
		goto fail;
	r = ldp_threads_init(C.period_ns);
	if (r < 0)
		goto fail;
	r = ldp_sampler_init(&C.orig, LDP_MAX_DEPTH,
			     (int (*)(int, const struct sigaction *, struct sigaction *))C.real_sigaction);
	if (r < 0)
		goto fail;
	if (install_handler() < 0)
		goto fail;
	/* The main thread: pthread_getattr_np would parse /proc/self/maps for it. */
	if (!ldp_threads_add_self(getpid() == (pid_t)syscall(SYS_gettid) && &__libc_stack_end
				  ? (uint64_t)(uintptr_t)__libc_stack_end : my_stack_hi())) {
		restore_disposition();
		goto fail;
	}
	adopted = ldp_threads_rescan();
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0 || atexit(core_exit) != 0 ||
	    start_bg() < 0) {
		step_aside("cannot set up the fork, exit or background hooks");
		return NULL;
	}
	ldp_log(LDP_LOG_INFO, "active pid=%d hz=%d threads=%u adopted=%d output=%s", C.pid, C.hz,
		ldp_threads_live(), adopted > 0 ? adopted : 0, C.dir);
	return &ops;
fail:
	ldp_log(LDP_LOG_ERROR, "staying off: cannot set up sampling");
	return NULL;
}
