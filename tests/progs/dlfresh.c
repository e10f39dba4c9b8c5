/* dlfresh.c — a program that loads a library and spends its first moments in it, the way an
 * interpreter imports a C extension module and runs it (tests/test_dlopen.py).
 *
 * Exercises: samples taken in an object dlopen()ed a moment ago unwind through it to
 * __libc_start_main, not only from the background thread's next table build on; and dlopen()
 * is glibc's own, called from this program: a bare name is found through this program's
 * RUNPATH ($ORIGIN), which glibc takes from dlopen's caller.
 *
 * Usage: dlfresh LIBRARY MS   (LIBRARY: libfresh.so, found next to dlfresh; MS of CPU time in
 * its fresh_run())
 * stdout: "dlfresh: done\n"; exit status 0, or 1 when the library or its function is missing.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	uint64_t (*run)(long);
	void *h;

	if (argc != 3)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	run = h ? (uint64_t (*)(long))dlsym(h, "fresh_run") : NULL;
	if (!run) {
		fprintf(stderr, "dlfresh: %s\n", dlerror());
		return 1;
	}
	run(strtol(argv[2], NULL, 10));
	puts("dlfresh: done");
	return 0;
}
