/* threadchurn.c — many short threads, each ending with pthread_exit().
 *
 * Exercises: a sampler's table of threads and their timers. N threads are started one after
 * the other; each ends by pthread_exit() (never returning through a wrapper's trampoline),
 * so only a look at which threads still exist gives their slots and timers back. The last 8
 * threads burn MS ms of their own CPU each in late_burn: more threads than a table of 1024
 * holds came before them, and they must be sampled all the same.
 *
 * Usage: threadchurn [N] [MS]   (default 3000 threads, 40 ms)
 * stdout: "threadchurn: done"; stderr: "threadchurn: late_cpu_ns=TOTAL timers=N" (N: the POSIX
 * timers the process holds at the end, from /proc/self/timers; -1 when it cannot be read).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpuburn.h"

static long ms;
static int64_t late_cpu;

__attribute__((noinline)) static void late_burn(void)
{
	burn(ms);
}

static void *short_thread(void *arg)
{
	if (arg) {
		late_burn();
		late_cpu += cpuburn_thread_ns(); /* joined one at a time: no race */
	}
	pthread_exit(NULL);
}

static int timers(void)
{
	FILE *f = fopen("/proc/self/timers", "r");
	char line[256];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "ID:", 3) == 0;
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 3000;

	ms = argc > 2 ? atol(argv[2]) : 40;
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_thread, i >= n - 8 ? (void *)1 : NULL) != 0 ||
		    pthread_join(t, NULL) != 0)
			return 1;
	}
	fprintf(stderr, "threadchurn: late_cpu_ns=%lld timers=%d\n", (long long)late_cpu, timers());
	printf("threadchurn: done\n");
	return 0;
}
