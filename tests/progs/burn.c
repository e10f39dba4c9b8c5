/* burn.c — a plain single-threaded CPU burner, the target of exec in the fork/exec tests and
 * the setuid/setgid/file-capability tests.
 *
 * Exercises: a process that only burns CPU in one recognizable function, burn_loop.
 * Usage: burn [MS]   (default 500 ms of process CPU time)
 * stdout: "burn: done pid=PID" (the pid lets tests match the profile file name).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void burn_loop(long ms)
{
	int64_t end = cpu_ns() + ms * 1000000; /* process CPU time survives exec: count from now */
	uint64_t x = sink | 1;
	while (cpu_ns() < end) {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	}
	sink = x;
}

int main(int argc, char **argv)
{
	burn_loop(argc > 1 ? atol(argv[1]) : 500);
	printf("burn: done pid=%d\n", (int)getpid());
	return 0;
}
