/* cpuburn.h — CPU burning for the test programs (nsmove and selfseccomp tell the halves of a run
 * apart by the function that burnt it): burn(ms) is inlined into each caller, so a
 * profile's frames name the caller. */
#ifndef LDP_TEST_CPUBURN_H
#define LDP_TEST_CPUBURN_H

#include <stdint.h>
#include <time.h>

static volatile uint64_t cpuburn_sink;

static inline int64_t cpuburn_thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ms of this thread's CPU time */
static inline __attribute__((always_inline)) void burn(long ms)
{
	int64_t end = cpuburn_thread_ns() + ms * 1000000;
	uint64_t x = cpuburn_sink | 1;

	while (cpuburn_thread_ns() < end) {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	}
	cpuburn_sink = x;
}

#endif
