/* bench_work.c — the fixed-work CPU-bound workload of `make bench` (tests/bench.sh).
 *
 * Exercises: profiler overhead on a multi-threaded -O2 -fomit-frame-pointer program. Unlike the
 * test programs, it does a FIXED amount of work (not "run for N ms of CPU"), so a profiler that
 * steals CPU shows up as more CPU and wall time. Four workers (pthread_create) each run
 * ITERS rounds of three noinline kernels: integer hashing, a float recurrence, and a small
 * integer matrix-ish mix. Main only starts and joins them.
 *
 * Usage: bench_work [ITERS]   (default 1200: about 2 s of CPU in total on a 2020s x86-64 core)
 * stdout: one line "bench_work: done threads=4 iters=ITERS check=HEX", where HEX depends only on
 * ITERS (the profiled program must print exactly the same line as without a profiler).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NWORKERS 4

static long iters = 1200;
static uint64_t result[NWORKERS];

__attribute__((noinline)) uint64_t int_work(uint64_t x)
{
	for (int i = 0; i < 40000; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		x *= 2685821657736338717ull;
	}
	return x;
}

__attribute__((noinline)) double float_work(double v)
{
	for (int i = 0; i < 40000; i++)
		v = v * 0.999999 + 1.0 / (v + 3.0);
	return v;
}

__attribute__((noinline)) uint64_t mix_work(uint64_t seed)
{
	uint32_t a[64];
	for (int i = 0; i < 64; i++)
		a[i] = (uint32_t)(seed >> (i & 31)) + (uint32_t)i;
	for (int r = 0; r < 300; r++)
		for (int i = 0; i < 64; i++)
			a[i] = a[(i + 1) & 63] * 2654435761u + (a[(i + 17) & 63] ^ (uint32_t)r);
	uint64_t s = 0;
	for (int i = 0; i < 64; i++)
		s = s * 31 + a[i];
	return s;
}

__attribute__((noinline)) void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg;
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(idx + 1);
	double v = 1.0 + idx;
	for (long it = 0; it < iters; it++) {
		x = int_work(x);
		v = float_work(v);
		x ^= mix_work(x) + (uint64_t)(v * 1000.0);
	}
	result[idx] = x;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iters = atol(argv[1]);
	pthread_t t[NWORKERS];
	for (int i = 0; i < NWORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) {
			fprintf(stderr, "bench_work: pthread_create failed\n");
			return 1;
		}
	uint64_t check = 0;
	for (int i = 0; i < NWORKERS; i++) {
		pthread_join(t[i], NULL);
		check = check * 1000003 ^ result[i];
	}
	printf("bench_work: done threads=%d iters=%ld check=%016llx\n", NWORKERS, iters,
	       (unsigned long long)check);
	return 0;
}
