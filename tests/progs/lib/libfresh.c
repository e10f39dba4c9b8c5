/* lib/libfresh.c — built as build/tests/progs/libfresh.so; dlopen()ed by dlfresh, which spends
 * its first moments in fresh_run(). Built without frame pointers, like most of a distribution's
 * libraries: a sample in it unwinds only through its .eh_frame, so only once the unwinder knows
 * the library. Three levels of calls that are never inlined, each keeping values on the stack,
 * the innermost calling fresh_step() through the library's PLT (an exported function of a -fPIC
 * object): a sample at the stub's jmp has no unwind rule (the stub's FDE is an expression), and
 * glibc's dlopen leaves the sampler's object table behind (test_ring.py).
 */
#include <stdint.h>
#include <time.h>

static volatile uint64_t sink;

static int64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) uint64_t fresh_step(uint64_t x, uint64_t k)
{
	return x * 6364136223846793005ull + k;
}

__attribute__((noinline)) static uint64_t fresh_inner(uint64_t x, int n)
{
	volatile uint64_t spill[4] = { x, x + 1, x + 2, x + 3 };

	for (int i = 0; i < n; i++)
		x = fresh_step(x, spill[i & 3]);
	return x;
}

__attribute__((noinline)) static uint64_t fresh_mid(uint64_t x)
{
	volatile uint64_t keep = x;

	x = fresh_inner(x, 20000);
	return x ^ keep;
}

/* Burns ms of this thread's CPU time inside the library. */
__attribute__((noinline)) uint64_t fresh_run(long ms)
{
	int64_t end = thread_ns() + ms * 1000000;
	uint64_t x = sink | 1;

	while (thread_ns() < end)
		x = fresh_mid(x);
	sink = x;
	return x;
}
