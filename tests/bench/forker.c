/* forker.c — for `make bench` (tests/bench/bench.py, sections 5 and 9): what one fork() costs a
 * running program. It first burns 60 ms of CPU (past the default start_after_cpu, so a shim it
 * carries as installed has activated its ring sampler and handed the ring to the agent) and
 * sleeps 1.2 s (past the collector's first drains of its ring), then times N rounds of fork(), a
 * child that calls _exit(0) at once, and waitpid().
 *
 * Usage: forker N
 * stdout: "forker: <ns> ns per fork" (the median of 20 batches of N/20 rounds). Exit 0. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 20

static long long now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000, per = n / BATCHES > 0 ? n / BATCHES : 1;
	long long t0, batch[BATCHES];
	volatile unsigned long x = 0;

	t0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	while (now_ns(CLOCK_PROCESS_CPUTIME_ID) - t0 < 60 * 1000000LL)
		x += x * 3 + 1;
	usleep(1200 * 1000);
	for (int b = 0; b < BATCHES; b++) {
		t0 = now_ns(CLOCK_MONOTONIC);
		for (long i = 0; i < per; i++) {
			pid_t pid = fork();
			int status;

			if (pid < 0) {
				perror("forker: fork");
				return 1;
			}
			if (pid == 0)
				_exit(0);
			if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
				fprintf(stderr, "forker: child %d: status %#x\n", (int)pid, status);
				return 1;
			}
		}
		batch[b] = (now_ns(CLOCK_MONOTONIC) - t0) / per;
	}
	qsort(batch, BATCHES, sizeof(batch[0]), cmp);
	printf("forker: %lld ns per fork\n", (batch[BATCHES / 2 - 1] + batch[BATCHES / 2]) / 2);
	return 0;
}
