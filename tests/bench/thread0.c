/* thread0.c — libthread0.so for `make bench` (tests/bench/bench.py, sections 4 and 5): a preload
 * whose constructor makes one kernel thread with a raw clone(), on a stack in .bss, and that
 * thread ends at once. No libc (-nostdlib), so glibc never learns of the thread: no malloc, no
 * TLS, no multi-threaded fork path afterwards.
 *
 * It is the least a thread of any kind costs a process: creating one, and the kernel reaping it.
 * Any design that loads a profiler after the program has started needs such a thread in every
 * process it lets in (a signal handler cannot load one safely), so this is the floor under all
 * of them, below tests/bench/waiter.c's glibc thread. */

#define NR_clone 56
#define NR_exit 60
#define CLONE_FLAGS 0x00050f00L /* VM | FS | FILES | SIGHAND | THREAD | SYSVSEM */

static char stack[16384] __attribute__((aligned(64)));

/* The new thread starts on the empty stack with nothing to return to: it may only exit. */
__attribute__((constructor)) static void start(void)
{
	long r;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov %[nr_exit], %%eax\n\t"
			 "xor %%edi, %%edi\n\t"
			 "syscall\n"
			 "1:"
			 : "=a"(r)
			 : "0"((long)NR_clone), "D"(CLONE_FLAGS), "S"(stack + sizeof(stack)), "d"(0L),
			   [nr_exit] "i"(NR_exit)
			 : "rcx", "r8", "r9", "r10", "r11", "memory");
	(void)r;
}
