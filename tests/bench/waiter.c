/* waiter.c — libwaiter.so for `make bench` (tests/bench/bench.py, sections 4 and 5): a preload
 * whose constructor starts one thread that sleeps until the process has used 20 ms of CPU, and
 * does nothing else. That is the least any activation deferred past a short process's life costs
 * when it needs a thread of its own: the floor under such a design, a reference row only (ldprof's
 * deferred activation has no thread: a signal handler and one timer). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <time.h>

static void *wait_for_cpu(void *arg)
{
	struct timespec at = { 0, 20 * 1000 * 1000 };

	while (clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &at, NULL) != 0)
		;
	return arg;
}

__attribute__((constructor)) static void start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_create(&t, &attr, wait_for_cpu, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}
