/* lib/libearly.c — built as build/tests/progs/libearly.so (see progs.mk); a DT_NEEDED library of
 * `early`, and can also be put in LD_PRELOAD.
 *
 * Exercises: threads that exist BEFORE the profiler activates. Its ELF constructor starts two
 * CPU-burning threads ("early-ctor0/1", start function early_ctor_thread, hot function
 * early_burn) while the dynamic loader is still running constructors. The loader runs a
 * process's initializers dependencies-first, then in reverse load order, so this constructor
 * runs before the shim's when the shim is listed earlier in the preload list than this library
 * or when this library is a DT_NEEDED of the program (load order: program, preloads, needed).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define EARLY_THREADS 2
#define EARLY_MS 600

static pthread_t early_th[EARLY_THREADS];
static int early_started;
static int64_t early_cpu[EARLY_THREADS];
volatile uint64_t early_sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void early_burn(long ms)
{
	uint64_t x = early_sink | 1;
	while (thread_cpu_ns() < ms * 1000000) {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	}
	early_sink = x;
}

__attribute__((noinline)) void *early_ctor_thread(void *arg)
{
	int idx = (int)(intptr_t)arg;
	char name[16];
	snprintf(name, sizeof(name), "early-ctor%d", idx);
	pthread_setname_np(pthread_self(), name);
	early_burn(EARLY_MS);
	early_cpu[idx] = thread_cpu_ns();
	return NULL;
}

__attribute__((constructor)) static void early_ctor(void)
{
	for (int i = 0; i < EARLY_THREADS; i++)
		if (pthread_create(&early_th[i], NULL, early_ctor_thread, (void *)(intptr_t)i) == 0)
			early_started++;
}

/* Joins the constructor's threads; returns their total CPU ns. */
int64_t early_join(int *started)
{
	int64_t tot = 0;
	for (int i = 0; i < early_started; i++) {
		pthread_join(early_th[i], NULL);
		tot += early_cpu[i];
	}
	*started = early_started;
	return tot;
}
