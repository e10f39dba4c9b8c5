/* forkbig.c — fork from a large, busy process.
 *
 * Exercises: fork livelock (gperftools issue 281, async-profiler 97). fork() of a process with
 * a lot of mapped memory takes milliseconds of CPU in the kernel; if the forking thread's CPU
 * timer fires during it, the kernel aborts and restarts the fork (ERESTARTNOINTR) — forever at
 * a high sampling rate unless the profiler holds SIGPROF off around fork. Two threads burn CPU
 * meanwhile so signals keep arriving.
 *
 * Usage: forkbig [MIB] [FORKS]   (default 512 MiB touched, 20 forks)
 * stdout: "forkbig: forks=FORKS ok" ; stderr: the slowest fork in ms.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
volatile uint64_t sink;

__attribute__((noinline)) void big_burn(void)
{
	uint64_t x = sink | 1;
	while (!stop)
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

static void *burner(void *arg)
{
	big_burn();
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
	int forks = argc > 2 ? atoi(argv[2]) : 20;
	size_t len = mib << 20;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	madvise(mem, len, MADV_NOHUGEPAGE); /* 4 KiB pages: many page-table entries to copy */
	for (size_t i = 0; i < len; i += 4096)
		mem[i] = (char)i;
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, burner, NULL);
	double worst = 0;
	int done = 0;
	for (int i = 0; i < forks; i++) {
		double t0 = now();
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0)
			_exit(0);
		double dt = now() - t0;
		if (dt > worst)
			worst = dt;
		int st;
		waitpid(pid, &st, 0);
		done++;
	}
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "forkbig: slowest fork %.1f ms\n", worst * 1000);
	printf("forkbig: forks=%d %s\n", done, done == forks ? "ok" : "FAILED");
	return done == forks ? 0 : 1;
}
