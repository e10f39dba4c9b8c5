/* lib/libchurn.c — built as build/tests/progs/libchurn.so; dlopen()ed and dlclose()d in a loop
 * by dlchurn. Has a constructor and a destructor (so the loader runs code at both ends) and
 * a small CPU-burning function, so samples are sometimes taken inside the library while
 * another thread unloads it.
 */
#include <stdint.h>

static volatile uint64_t state;

__attribute__((constructor)) static void churn_init(void) { state = 1; }
__attribute__((destructor)) static void churn_fini(void) { state = 0; }

__attribute__((noinline)) uint64_t churn_work(int iters)
{
	uint64_t x = state | 1;
	for (int i = 0; i < iters; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}
