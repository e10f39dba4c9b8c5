/* musl/hello_musl.c — built with Debian's musl-gcc into build/tests/progs/hello_musl.
 *
 * Exercises: the shim preloaded into a musl process must not break it (a glibc-linked preload
 * fails with "symbol not found"); ldprof does not support musl yet and must step aside,
 * logging one line. Burns a little CPU so a wrongly active profiler would have samples.
 * stdout: "hello from musl: sum=N"
 */
#include <stdio.h>

volatile unsigned long sink;

int main(void)
{
	unsigned long x = 1;
	for (long i = 0; i < 100000000; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink = x;
	printf("hello from musl: sum=%lu\n", x % 1000003);
	return 0;
}
