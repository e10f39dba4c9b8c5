/* minijit.c — the smallest JIT compiler: it copies a counting loop into an anonymous
 * executable mapping and spends its time there, in code no file names. For the perf map
 * (/tmp/perf-PID.map) a collector reads to name such code (common/perfmap.c).
 *
 * Usage: minijit own|none MS
 *   prints "minijit: pid=PID addr=0xADDR" and waits for a line on stdin (the test may plant
 *   something at /tmp/perf-PID.map meanwhile); "own" then writes the map itself, naming the
 *   code jit_hot_loop; then MS of process CPU time in the code.
 * Exit 0; 1 when the mapping cannot be made. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuburn.h"

int main(int argc, char **argv)
{
	/* mov %rdi,%rax; 1: dec %rax; jnz 1b; ret */
	static const unsigned char code[] = { 0x48, 0x89, 0xf8, 0x48, 0xff, 0xc8, 0x75, 0xfb, 0xc3 };
	long ms = argc > 2 ? atol(argv[2]) : 300;
	char line[16], path[64];
	unsigned char *m;
	long (*fn)(long);
	int64_t end;

	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	memcpy(m, code, sizeof(code));
	if (mprotect(m, 4096, PROT_READ | PROT_EXEC))
		return 1;
	fn = (long (*)(long))(uintptr_t)m;
	printf("minijit: pid=%d addr=%p\n", (int)getpid(), (void *)m);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	if (argc > 1 && !strcmp(argv[1], "own")) {
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
		f = fopen(path, "w");
		if (f) {
			fprintf(f, "%lx %zx jit_hot_loop\n", (unsigned long)(uintptr_t)m, sizeof(code));
			fclose(f);
		}
	}
	end = cpuburn_thread_ns() + ms * 1000000; /* one thread: the process's CPU */
	while (cpuburn_thread_ns() < end)
		fn(1000000);
	if (argc > 1 && !strcmp(argv[1], "own"))
		unlink(path);
	return 0;
}
