/* small.c — a small dynamically linked program for `make bench` (tests/bench/bench.py, row 4):
 * the start-up of a typical small tool next to /bin/true's. It needs libz and libm besides
 * libc (three libraries to load and relocate where /bin/true has one), checks a CRC-32 and a
 * square root and exits 0, printing nothing (the spawn driver's stdout carries its timings).
 * Built by bench.py with `gcc -O2 small.c -lz -lm` when build/tests/bench/small is missing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "ldprof";
	unsigned long crc = crc32(0L, (const Bytef *)s, (uInt)strlen(s));
	volatile double two = 2.0;

	return crc != 0 && sqrt(two) > 1.41 ? 0 : 1;
}
