/* sleepers.c — threads asleep in calls a signal handler interrupts for good (pause, nanosleep,
 * epoll_wait, sigtimedwait: no SA_RESTART for them), while main burns CPU.
 *
 * Exercises: no signal of ours may land in a thread that sleeps. The sampler's per-thread
 * timers run on each thread's own CPU clock and fire only in a running thread; a timer on the
 * process's CPU clock signals the process, and the kernel may hand that to a sleeper (the main
 * thread before Linux 6.4, any thread when the running one blocks SIGPROF), whose call then
 * fails with EINTR. Without ldprof every call here sleeps through.
 *
 * Usage: sleepers [MS [block|worker]]   (MS: the CPU time burnt, default 1000; block: main
 *        blocks SIGPROF while it burns, as a program's worker that leaves signals to another
 *        does; worker: a thread started after the sleepers burns in worker_burn, while main
 *        sleeps in sigtimedwait() until it ends, a sleeper too)
 * stdout: "sleepers: eintr=N" (N: interrupted calls of the sleepers, 0 expected).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static volatile int eintr;

static void *in_pause(void *a)
{
	for (;;)
		if (pause() < 0 && errno == EINTR)
			__atomic_fetch_add(&eintr, 1, __ATOMIC_RELAXED);
	return a;
}

static void *in_nanosleep(void *a)
{
	struct timespec t = { 3600, 0 };

	for (;;)
		if (nanosleep(&t, NULL) < 0 && errno == EINTR)
			__atomic_fetch_add(&eintr, 1, __ATOMIC_RELAXED);
	return a;
}

static void *in_epoll(void *a)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (;;)
		if (epoll_wait(ep, &ev, 1, -1) < 0 && errno == EINTR)
			__atomic_fetch_add(&eintr, 1, __ATOMIC_RELAXED);
	return a;
}

static void *in_sigtimedwait(void *a)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;)
		if (sigtimedwait(&set, NULL, NULL) < 0 && errno == EINTR)
			__atomic_fetch_add(&eintr, 1, __ATOMIC_RELAXED);
	return a;
}

static double cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long ms;
static pthread_t main_thread;

__attribute__((noinline)) static void worker_burn(void)
{
	volatile unsigned long sink = 0;

	while (cpu_ms() < ms)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
}

static void *worker(void *a)
{
	worker_burn();
	pthread_kill(main_thread, SIGUSR2);
	return a;
}

int main(int argc, char **argv)
{
	void *(*fns[])(void *) = { in_pause, in_nanosleep, in_epoll, in_sigtimedwait };
	volatile unsigned long sink = 0;
	sigset_t usr1;
	pthread_t t;

	ms = argc > 1 ? atol(argv[1]) : 1000;
	main_thread = pthread_self();
	/* SIGUSR1 and SIGUSR2 blocked in every thread: the sigtimedwait thread takes SIGUSR1,
	 * main SIGUSR2 (worker mode), nobody else */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigaddset(&usr1, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (pthread_create(&t, NULL, fns[i], NULL) != 0)
			return 1;
	if (argc > 2 && !strcmp(argv[2], "worker")) {
		sigset_t usr2;

		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		if (pthread_create(&t, NULL, worker, NULL) != 0)
			return 1;
		while (sigtimedwait(&usr2, NULL, NULL) != SIGUSR2)
			if (errno == EINTR)
				__atomic_fetch_add(&eintr, 1, __ATOMIC_RELAXED);
	} else if (argc > 2 && !strcmp(argv[2], "block")) {
		sigset_t prof;

		sigemptyset(&prof);
		sigaddset(&prof, SIGPROF);
		pthread_sigmask(SIG_BLOCK, &prof, NULL);
	}
	while (cpu_ms() < ms && !(argc > 2 && !strcmp(argv[2], "worker")))
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
	printf("sleepers: eintr=%d\n", __atomic_load_n(&eintr, __ATOMIC_RELAXED));
	fflush(stdout);
	_exit(0);
}
