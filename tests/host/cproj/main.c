/* main.c — tests/host/cproj: prints work(seed) for the seed given on the command line. */
#include <stdio.h>
#include <stdlib.h>
#include "work.h"

int main(int argc, char **argv)
{
	unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1;

	printf("cproj: work(%u) = %u\n", seed, work(seed));
	return 0;
}
