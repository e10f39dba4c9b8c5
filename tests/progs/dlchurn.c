/* dlchurn.c — dlopen/dlclose churn while sampling.
 *
 * Exercises: the unwinder vs the dynamic loader. Two threads dlopen() libchurn.so (next to this
 * binary), call its churn_work (so some samples land inside it), and dlclose() it, in a loop;
 * one thread calls dl_iterate_phdr in a loop; two more burn CPU in the main binary — for a
 * fixed wall time. A profiler whose signal handler takes the loader lock (dl_iterate_phdr
 * inside libunwind) deadlocks here; one that unwinds through an unmapped library crashes.
 *
 * Usage: dlchurn [SECONDS]   (default 3)
 * stdout: "dlchurn: done ok=yes" (ok: every dlopen/dlsym succeeded and each loop ran).
 * stderr: loop counts.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char lib_path[PATH_MAX];
static double seconds = 3;
static volatile int stop;
static long opens[2], iters_phdr, burns[2];
static int failures;
volatile uint64_t sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *churn_thread(void *arg)
{
	int idx = (int)(intptr_t)arg;
	pthread_setname_np(pthread_self(), "churn");
	while (!stop) {
		void *h = dlopen(lib_path, RTLD_NOW | (idx ? RTLD_GLOBAL : RTLD_LOCAL));
		if (!h) {
			__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
			continue;
		}
		uint64_t (*fn)(int) = (uint64_t (*)(int))dlsym(h, "churn_work");
		if (fn)
			sink += fn(20000);
		else
			__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
		dlclose(h);
		opens[idx]++;
	}
	return NULL;
}

static int count_phdr(struct dl_phdr_info *info, size_t size, void *data)
{
	(*(long *)data)++;
	return 0;
}

static void *phdr_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "phdr");
	while (!stop) {
		long n = 0;
		dl_iterate_phdr(count_phdr, &n);
		iters_phdr++;
	}
	return NULL;
}

__attribute__((noinline)) void churn_burn(int idx)
{
	uint64_t x = sink | 1;
	while (!stop) {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		burns[idx]++;
	}
	sink = x;
}

static void *burn_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "burn");
	churn_burn((int)(intptr_t)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	if (argc > 1)
		seconds = atof(argv[1]);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	snprintf(lib_path, sizeof(lib_path), "%s/libchurn.so", dirname(self));

	pthread_t th[5];
	pthread_create(&th[0], NULL, churn_thread, (void *)0);
	pthread_create(&th[1], NULL, churn_thread, (void *)1);
	pthread_create(&th[2], NULL, phdr_thread, NULL);
	pthread_create(&th[3], NULL, burn_thread, (void *)0);
	pthread_create(&th[4], NULL, burn_thread, (void *)1);
	double end = now() + seconds;
	while (now() < end)
		usleep(10000);
	stop = 1;
	for (int i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "dlchurn: opens=%ld,%ld phdr=%ld burns=%ld,%ld failures=%d\n", opens[0],
		opens[1], iters_phdr, burns[0], burns[1], failures);
	int ok = !failures && opens[0] && opens[1] && iters_phdr && burns[0] && burns[1];
	printf("dlchurn: done ok=%s\n", ok ? "yes" : "no");
	return ok ? 0 : 1;
}
