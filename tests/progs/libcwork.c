/* libcwork.c — a program that spends its CPU inside its libc: what the sampler must unwind
 * through when the libc has no unwind tables (musl's is built without them).
 *
 * Exercises: frames of libc code with no unwind rule, reached three ways: sort_work calls
 * qsort(), which calls the program's comparator back (the comparator has a rule; the qsort
 * frames under it do not, and call each other directly); copy_work calls memcpy() on 4 MiB
 * buffers (a leaf of libc, entered through the PLT); fmt_work calls snprintf() of doubles (a
 * chain of libc's internal calls, several frames deep). Each runs for a third of MS of the
 * thread's CPU time.
 *
 * Usage: libcwork [MS]   (default 900)
 * stdout: "libcwork: done sum=S" (S depends only on the work done, not on time).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

__attribute__((noinline)) unsigned long sort_work(long ms)
{
	static uint32_t v[20000];
	int64_t end = thread_ns() + ms * 1000000;
	unsigned long sum = 0;
	uint32_t x = 1;

	do {
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			v[i] = x = x * 1664525u + 1013904223u;
		qsort(v, sizeof(v) / sizeof(v[0]), sizeof(v[0]), by_value);
		sum += v[0] & 1;
	} while (thread_ns() < end);
	return sum != 0;
}

__attribute__((noinline)) unsigned long copy_work(long ms)
{
	size_t n = 4 << 20;
	char *a = malloc(n), *b = malloc(n);
	int64_t end = thread_ns() + ms * 1000000;
	unsigned long sum = 0;

	if (!a || !b)
		exit(1);
	memset(a, 7, n);
	do {
		memcpy(b, a, n);
		memcpy(a, b, n);
		sum = (unsigned char)a[n / 2];
	} while (thread_ns() < end);
	free(a);
	free(b);
	return sum;
}

__attribute__((noinline)) unsigned long fmt_work(long ms)
{
	char buf[64];
	int64_t end = thread_ns() + ms * 1000000;
	double d = 1.0;
	int len = 0;

	do {
		for (int i = 0; i < 200; i++) {
			d = d * 1.000001 + 0.5;
			len = snprintf(buf, sizeof(buf), "%.17g %e", d, d / 3);
		}
	} while (thread_ns() < end);
	return len > 0;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 900;
	unsigned long sum = 0;

	sum += sort_work(ms / 3);
	sum += copy_work(ms / 3);
	sum += fmt_work(ms / 3);
	printf("libcwork: done sum=%lu\n", sum);
	return 0;
}
