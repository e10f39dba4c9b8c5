/* phdrexec.c — a program that execs from inside a dl_iterate_phdr() callback, after burning
 * CPU there. glibc holds the loader's write lock across the callbacks; the profiler's start
 * (deferred, [select] start_after_cpu) walks the objects too, so it waits for that lock while
 * the program, still inside the callback, waits in the exec wrapper for the start to end.
 *
 * Usage: phdrexec MS PROG [ARGS...]   burn MS of CPU in the first callback, then execv PROG
 * Exit status: PROG's; 127 when the exec fails.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpuburn.h"

static char **prog_argv;
static long ms;

static int cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)info;
	(void)size;
	(void)data;
	burn(ms);
	execv(prog_argv[0], prog_argv);
	perror("phdrexec: execv");
	_exit(127);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	ms = atol(argv[1]);
	prog_argv = argv + 2;
	dl_iterate_phdr(cb, NULL);
	return 127;
}
