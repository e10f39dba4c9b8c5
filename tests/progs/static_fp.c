/* SPDX-License-Identifier: MIT
 *
 * static_fp — the eBPF agent's known-answer workload: a statically linked program (clang,
 * frame pointers in every function, see progs.mk) that burns CPU in hot_a and hot_b in a 70/30
 * split, called from main, for about SECONDS seconds of its own CPU time (argv[1], default 3).
 *
 * With GATE=1 in the environment it first waits for one line (or EOF) on stdin, so a test can
 * start the profiler and only then let the work begin. stdout is deterministic
 * ("static_fp: done") and the exit status is 0; on stderr it reports the split it measured
 * itself with CLOCK_THREAD_CPUTIME_ID around every call, and its whole CPU time after the gate
 * (CLOCK_PROCESS_CPUTIME_ID):
 *   static_fp: hot_a_ns=N hot_b_ns=N cpu_ns=N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static long long ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static void hot_a(unsigned long n)
{
	unsigned long x = sink;

	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
}

__attribute__((noinline)) static void hot_b(unsigned long n)
{
	unsigned long x = sink;

	for (unsigned long i = 0; i < n; i++)
		x = x * 2862933555777941757UL + 3037000493UL;
	sink = x;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	const char *gate = getenv("GATE");
	long long a = 0, b = 0, t, cpu0, end;
	unsigned long unit = 1000000; /* ~1-3 ms per call: clock reads are noise */

	if (gate && !strcmp(gate, "1")) {
		char c;
		while (read(0, &c, 1) == 1 && c != '\n')
			;
	}
	cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	end = cpu0 + (long long)(seconds * 1e9);
	while (ns(CLOCK_PROCESS_CPUTIME_ID) < end) {
		t = ns(CLOCK_THREAD_CPUTIME_ID);
		hot_a(7 * unit);
		a += ns(CLOCK_THREAD_CPUTIME_ID) - t;
		t = ns(CLOCK_THREAD_CPUTIME_ID);
		hot_b(3 * unit);
		b += ns(CLOCK_THREAD_CPUTIME_ID) - t;
	}
	fprintf(stderr, "static_fp: hot_a_ns=%lld hot_b_ns=%lld cpu_ns=%lld\n", a, b,
		ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
	printf("static_fp: done\n");
	return 0;
}
