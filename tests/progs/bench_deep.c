/* bench_deep.c — the per-sample cost workload of `make bench` (tests/bench.sh).
 *
 * Exercises: the cost of unwinding deep stacks. THREADS workers (pthread_create, start function
 * `deep_worker`) each recurse DEPTH levels through the noinline function `deep` (each level
 * keeps a small stack buffer alive across the call, so the compiler can neither inline it nor
 * turn it into a tail call or a loop), then run a FIXED amount of integer work in the leaf
 * `deep_leaf`. Almost every sample therefore has DEPTH `deep` frames plus the leaf, the
 * worker and the thread's start frames (start_thread, clone3).
 *
 * Usage: bench_deep DEPTH [ITERS [THREADS]]   (ITERS default 3000: about 1 s of CPU per worker;
 *        THREADS default 2, at most 8)
 * stdout: one line "bench_deep: done depth=DEPTH iters=ITERS threads=THREADS check=HEX" (HEX
 * depends only on the three parameters).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MAXWORKERS 8

static long depth = 16, iters = 3000;
static long nworkers = 2;
static uint64_t result[MAXWORKERS];

__attribute__((noinline)) uint64_t deep_leaf(uint64_t x)
{
	for (long it = 0; it < iters; it++)
		for (int i = 0; i < 100000; i++) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			x *= 2685821657736338717ull;
		}
	return x;
}

__attribute__((noinline, noclone)) uint64_t deep(long d, uint64_t x)
{
	volatile uint64_t keep[2]; /* stack contents used after the call: no tail call */
	keep[0] = x;
	keep[1] = (uint64_t)d;
	uint64_t r = d <= 1 ? deep_leaf(x) : deep(d - 1, x + 1);
	__asm__ volatile("" : "+r"(r));
	return r ^ keep[0] ^ keep[1];
}

__attribute__((noinline)) void *deep_worker(void *arg)
{
	int idx = (int)(intptr_t)arg;
	result[idx] = deep(depth, 0x9e3779b97f4a7c15ull * (uint64_t)(idx + 1));
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_deep DEPTH [ITERS]\n");
		return 2;
	}
	depth = atol(argv[1]);
	if (argc > 2)
		iters = atol(argv[2]);
	if (argc > 3)
		nworkers = atol(argv[3]);
	if (depth < 1 || iters < 1 || nworkers < 1 || nworkers > MAXWORKERS) {
		fprintf(stderr, "bench_deep: DEPTH and ITERS must be >= 1, THREADS 1 to %d\n", MAXWORKERS);
		return 2;
	}
	pthread_t t[MAXWORKERS];
	for (int i = 0; i < nworkers; i++)
		if (pthread_create(&t[i], NULL, deep_worker, (void *)(intptr_t)i) != 0) {
			fprintf(stderr, "bench_deep: pthread_create failed\n");
			return 1;
		}
	uint64_t check = 0;
	for (int i = 0; i < nworkers; i++) {
		pthread_join(t[i], NULL);
		check = check * 1000003 ^ result[i];
	}
	printf("bench_deep: done depth=%ld iters=%ld threads=%ld check=%016llx\n", depth, iters, nworkers,
	       (unsigned long long)check);
	return 0;
}
