/* rawthread.c — a thread started with a raw clone(), as some runtimes and sandboxes do.
 *
 * Exercises: a thread no pthread_create() wrapper sees, started after the profiler is on; it
 * must be found and sampled like any other. main starts it with clone(CLONE_VM | CLONE_THREAD
 * | ...) on a stack of its own; it burns MS ms of its own CPU time in raw_burn and says so;
 * main waits for it (a futex on the kernel's CLONE_CHILD_CLEARTID word), burning nothing.
 *
 * Usage: rawthread [MS]   (default 600)
 * stdout: "rawthread: done"; stderr: "rawthread: raw_cpu_ns=N".
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STACK (256 * 1024)
#define FUTEX_WAIT_ 0 /* <linux/futex.h>'s FUTEX_WAIT: musl-gcc has no kernel headers */

static volatile uint64_t sink;
static volatile int tid_word = 1;
static long ms;
static int64_t raw_cpu;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ts); /* no vDSO data of libc's needed */
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static void raw_burn(void)
{
	int64_t end = thread_cpu_ns() + ms * 1000000LL;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 20000; i++)
			sink += (uint64_t)i * i;
	raw_cpu = thread_cpu_ns();
}

static int raw_main(void *arg)
{
	(void)arg;
	raw_burn();
	syscall(SYS_exit, 0); /* this thread only; the kernel clears tid_word and wakes main */
	return 0;
}

int main(int argc, char **argv)
{
	char *stack;

	ms = argc > 1 ? atol(argv[1]) : 600;
	stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return 1;
	if (clone(raw_main, stack + STACK, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		  CLONE_SYSVSEM | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID, NULL, NULL, NULL, (int *)&tid_word) < 0)
		return 1;
	while (tid_word)
		syscall(SYS_futex, &tid_word, FUTEX_WAIT_, tid_word, NULL, NULL, 0);
	fprintf(stderr, "rawthread: raw_cpu_ns=%lld\n", (long long)raw_cpu);
	printf("rawthread: done\n");
	return 0;
}
