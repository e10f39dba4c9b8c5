/* hot2.c — the sampler's accuracy test program.
 *
 * Exercises: per-thread CPU sampling of a multi-threaded -O2 -fomit-frame-pointer program.
 * Four workers (pthread_create, start function `worker`) and main each spend CPU time in two
 * noinline hot functions, hot_a and hot_b, in the fixed ratio 3:1, measured with each thread's
 * own CPU clock (CLOCK_THREAD_CPUTIME_ID), so the ratio holds whatever the scheduler does.
 * Threads are named "hot2-w0".."hot2-w3" (main keeps the comm "hot2").
 *
 * Usage: hot2 [MS_PER_THREAD]   (default 500: 5 threads x 500 ms = 2.5 s of CPU)
 * stdout: one deterministic line "hot2: done threads=5 ratio=3:1".
 * stderr: "hot2: cpu_ns=TOTAL a_ns=A b_ns=B" — the CPU time the threads really used (whole
 * thread lifetimes, as the profiler sees them), for the test's expected sample count.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NWORKERS 4

static long ms_per_thread = 500;
static int64_t cpu_total[NWORKERS + 1], cpu_a[NWORKERS + 1], cpu_b[NWORKERS + 1];
volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burns CPU until this thread's CPU clock has advanced by ns; returns the CPU time used. */
__attribute__((noinline)) int64_t hot_a(int64_t ns)
{
	int64_t start = thread_cpu_ns(), now;
	uint64_t x = sink | 1;
	do {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		now = thread_cpu_ns();
	} while (now - start < ns);
	sink = x;
	return now - start;
}

__attribute__((noinline)) int64_t hot_b(int64_t ns)
{
	int64_t start = thread_cpu_ns(), now;
	uint64_t x = sink | 3;
	do {
		for (int i = 0; i < 20000; i++)
			x = (x ^ (x >> 7)) * 2862933555777941757ull + 3037000493ull;
		now = thread_cpu_ns();
	} while (now - start < ns);
	sink = x;
	return now - start;
}

/* 30 ms of hot_a, then 10 ms of hot_b, until the thread's budget is spent. The budget of b is
 * computed from what a really used, so the 3:1 ratio holds to within one slice. */
static void run_work(int idx)
{
	int64_t budget = ms_per_thread * 1000000, a = 0, b = 0;
	while (a + b < budget) {
		a += hot_a(30000000);
		int64_t want_b = a / 3 - b;
		if (want_b > 0)
			b += hot_b(want_b);
	}
	cpu_a[idx] = a;
	cpu_b[idx] = b;
}

__attribute__((noinline)) void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg;
	char name[16];
	snprintf(name, sizeof(name), "hot2-w%d", idx);
	pthread_setname_np(pthread_self(), name);
	run_work(idx);
	cpu_total[idx] = thread_cpu_ns();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NWORKERS];
	if (argc > 1)
		ms_per_thread = atol(argv[1]);
	for (int i = 0; i < NWORKERS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	run_work(NWORKERS);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(th[i], NULL);
	cpu_total[NWORKERS] = thread_cpu_ns();
	int64_t tot = 0, a = 0, b = 0;
	for (int i = 0; i <= NWORKERS; i++) {
		tot += cpu_total[i];
		a += cpu_a[i];
		b += cpu_b[i];
	}
	fprintf(stderr, "hot2: cpu_ns=%lld a_ns=%lld b_ns=%lld\n", (long long)tot, (long long)a,
		(long long)b);
	printf("hot2: done threads=%d ratio=3:1\n", NWORKERS + 1);
	return 0;
}
