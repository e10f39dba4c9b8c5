/* jitspin.c — code outside every loaded object, with RBP = -1, burning CPU (tests/test_sampler.py).
 *
 * Exercises: the unwinder on a frame it has no unwind information for (JIT code: Node, a JVM,
 * LuaJIT), where libunwind falls back to following RBP as a frame pointer. RBP holds -1, as it
 * may after a system call that failed in code without frame pointers: the word at RBP is the
 * last of the address space. The handler must read it through process_vm_readv and end the
 * stack, not fault (issue 14: an overflowing bound check read 0xffffffffffffffff directly).
 *
 * Usage: jitspin MS   (MS of CPU time spent in the generated code, in short calls)
 * stdout: "jitspin: done\n"; exit status 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* push %rbp; mov $-1,%rbp; mov %rdi,%rcx; 1: dec %rcx; jnz 1b; pop %rbp; ret */
static const uint8_t code[] = {
	0x55,
	0x48, 0xc7, 0xc5, 0xff, 0xff, 0xff, 0xff,
	0x48, 0x89, 0xf9,
	0x48, 0xff, 0xc9,
	0x75, 0xfb,
	0x5d,
	0xc3,
};

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	void (*spin)(uint64_t);
	int64_t end;
	void *m;

	if (argc != 2)
		return 2;
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 1;
	memcpy(m, code, sizeof(code));
	if (mprotect(m, 4096, PROT_READ | PROT_EXEC) != 0)
		return 1;
	spin = (void (*)(uint64_t))m;
	end = cpu_ns() + strtol(argv[1], NULL, 10) * 1000000;
	while (cpu_ns() < end)
		spin(2000000);
	puts("jitspin: done");
	return 0;
}
