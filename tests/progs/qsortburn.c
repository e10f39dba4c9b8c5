/* qsortburn.c — sorts arrays with libc's qsort() for SECONDS (default 3) of CPU, so that most
 * samples land in libc's internal msort_with_tmp (in no .dynsym: its name comes from libc's
 * debug file) and in cmp() here. Prints "qsortburn: done" at the end. Built with frame
 * pointers, as the agent's frame-pointer unwinder needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0, t0 = cpu_s();
	static int v[100000];
	unsigned seed = 1;

	while (cpu_s() - t0 < secs) {
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
			v[i] = (int)(seed = seed * 1103515245u + 12345u);
		qsort(v, sizeof(v) / sizeof(v[0]), sizeof(v[0]), cmp);
	}
	printf("qsortburn: done\n");
	return 0;
}
