/* sleepers.c — threads asleep in calls a signal handler interrupts for good (pause, nanosleep,
 * epoll_wait, sigtimedwait: no SA_RESTART for them), while main burns CPU.
 *
 * Exercises: no signal of ours may land in a thread that sleeps. The sampler's per-thread
 * timers run on each thread's own CPU clock and fire only in a running thread; a timer on the
 * process's CPU clock signals the process, and the kernel may hand that to a sleeper (the main
 * thread before Linux 6.4, any thread when the running one blocks SIGPROF), whose call then
 * fails with EINTR. Without ldprof every call here sleeps through.
 *
 * Usage: sleepers [MS [block]]   (MS: main's CPU time, default 1000; block: main blocks
 *        SIGPROF while it burns, as a program's worker that leaves signals to another does)
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

int main(int argc, char **argv)
{
	void *(*fns[])(void *) = { in_pause, in_nanosleep, in_epoll, in_sigtimedwait };
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	volatile unsigned long sink = 0;
	sigset_t usr1;
	pthread_t t;

	/* SIGUSR1 blocked in every thread: the sigtimedwait thread takes it, nobody else */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (pthread_create(&t, NULL, fns[i], NULL) != 0)
			return 1;
	if (argc > 2 && !strcmp(argv[2], "block")) {
		sigset_t prof;

		sigemptyset(&prof);
		sigaddset(&prof, SIGPROF);
		pthread_sigmask(SIG_BLOCK, &prof, NULL);
	}
	while (cpu_ms() < ms)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
	printf("sleepers: eintr=%d\n", __atomic_load_n(&eintr, __ATOMIC_RELAXED));
	fflush(stdout);
	_exit(0);
}
