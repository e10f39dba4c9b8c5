/* execloop.c — exec in a loop.
 *
 * Exercises: no SIGPROF may be pending (or a timer armed) across exec — otherwise the new
 * image dies of "Profiling timer expired" (gperftools issue 1535) before it can install
 * anything. The program burns a little CPU (so timers fire often at 1000 Hz), then re-execs
 * itself with N-1, cycling through execv, execve and execvp, until N reaches 0.
 *
 * Usage: execloop N [BURN_US]   (BURN_US: CPU microseconds burnt before each exec, default 3000)
 * stdout: "execloop: done N=<first N>" printed by the last image.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void loop_burn(long us)
{
	int64_t end = cpu_ns() + us * 1000;
	uint64_t x = sink | 1;
	while (cpu_ns() < end)
		for (int i = 0; i < 2000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: execloop N [BURN_US] [FIRST_N]\n");
		return 2;
	}
	long n = atol(argv[1]);
	long us = argc > 2 ? atol(argv[2]) : 3000;
	const char *first = argc > 3 ? argv[3] : argv[1];
	loop_burn(us);
	if (n <= 0) {
		printf("execloop: done N=%s\n", first);
		return 0;
	}
	char nbuf[32], usbuf[32], self[PATH_MAX];
	snprintf(nbuf, sizeof(nbuf), "%ld", n - 1);
	snprintf(usbuf, sizeof(usbuf), "%ld", us);
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return 1;
	self[len] = 0;
	char *av[] = { "execloop", nbuf, usbuf, (char *)first, NULL };
	switch (n % 3) {
	case 0: execv(self, av); break;
	case 1: execve(self, av, environ); break;
	default: {
		/* execvp with a path containing '/' execs it directly */
		execvp(self, av);
	}
	}
	perror("execloop: exec");
	return 1;
}
