/* early.c — threads started before and after the profiler activates.
 *
 * Exercises: adoption of pre-existing threads (the shim must walk /proc/self/task) and
 * coverage of threads created later (interposed pthread_create).
 *  - libearly.so (DT_NEEDED, or preloaded) starts 2 threads in its ELF constructor: early_burn.
 *  - this program's DT_PREINIT_ARRAY starts 1 thread "early-pre" (preinit functions of the
 *    executable run before ANY shared object's constructor, the shim's included): pre_burn.
 *  - main starts 1 thread "late" after everything is initialized: late_burn.
 * Each burns a fixed amount of its own thread CPU time.
 * stdout: "early: done ctor_threads=2 pre_threads=1 late_threads=1".
 * stderr: "early: pre_cpu_ns=.. ctor_cpu_ns=.. late_cpu_ns=.." for the test.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

int64_t early_join(int *started);

#define PRE_MS 600
#define LATE_MS 400

static pthread_t pre_th;
static int pre_started;
static int64_t pre_cpu, late_cpu;
volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* always inlined, so each burner has its own frame (a plain call would be a tail call,
 * leaving no frame of the burner on the stack) and its own constant (so identical-code
 * folding cannot merge the burners into one symbol) */
static inline __attribute__((always_inline)) void spin(long ms, uint64_t salt)
{
	uint64_t x = sink | 1;
	while (thread_cpu_ns() < ms * 1000000) {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + salt;
	}
	sink = x;
}

__attribute__((noinline)) void pre_burn(void) { spin(PRE_MS, 1442695040888963407ull); }
__attribute__((noinline)) void late_burn(void) { spin(LATE_MS, 3037000493ull); }

static void *pre_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "early-pre");
	pre_burn();
	pre_cpu = thread_cpu_ns();
	return NULL;
}

static void *late_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "late");
	late_burn();
	late_cpu = thread_cpu_ns();
	return NULL;
}

static void preinit(int argc, char **argv, char **envp)
{
	if (pthread_create(&pre_th, NULL, pre_thread, NULL) == 0)
		pre_started = 1;
}
__attribute__((section(".preinit_array"), used)) static void (*preinit_p)(int, char **, char **) = preinit;

int main(void)
{
	pthread_t late;
	int ctor_started = 0, late_started = 0;
	if (pthread_create(&late, NULL, late_thread, NULL) == 0)
		late_started = 1;
	int64_t ctor_cpu = early_join(&ctor_started);
	if (pre_started)
		pthread_join(pre_th, NULL);
	if (late_started)
		pthread_join(late, NULL);
	fprintf(stderr, "early: pre_cpu_ns=%lld ctor_cpu_ns=%lld late_cpu_ns=%lld\n",
		(long long)pre_cpu, (long long)ctor_cpu, (long long)late_cpu);
	printf("early: done ctor_threads=%d pre_threads=%d late_threads=%d\n", ctor_started,
	       pre_started, late_started);
	return 0;
}
