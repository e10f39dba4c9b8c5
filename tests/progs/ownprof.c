/* ownprof.c — a program with its own SIGPROF profiler (like gperftools or a Python profiler).
 *
 * Exercises: ldprof stepping aside when the program owns SIGPROF. The program installs a
 * SIGPROF handler and a process-wide ITIMER_PROF at 100 Hz, burns 1 s of CPU, and checks that
 *  - its handler got signals (about 100),
 *  - every SIGPROF it got came from its own itimer (si_code SI_KERNEL), none from a POSIX
 *    timer (SI_TIMER) or another sender: "foreign=0",
 *  - its handler is still installed at the end.
 * The output is the same with and without ldprof when ldprof leaves SIGPROF alone.
 *
 * Usage: ownprof [sigaction|signal]   (how the handler is installed; default sigaction)
 * stdout: "ownprof: got_signals=yes foreign=0 handler_intact=yes count_ok=yes"
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile sig_atomic_t own, foreign;
volatile uint64_t sink;

static void on_prof_info(int sig, siginfo_t *si, void *uc)
{
	if (si && si->si_code == SI_KERNEL)
		own++;
	else
		foreign++;
}

static void on_prof_plain(int sig)
{
	own++; /* sa_handler style: no siginfo, count all */
}

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void own_burn(long ms)
{
	int64_t end = cpu_ns() + ms * 1000000;
	uint64_t x = sink | 1;
	while (cpu_ns() < end)
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

int main(int argc, char **argv)
{
	int use_signal = argc > 1 && !strcmp(argv[1], "signal");
	if (use_signal) {
		if (signal(SIGPROF, on_prof_plain) == SIG_ERR)
			return 1;
	} else {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_prof_info;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGPROF, &sa, NULL) != 0)
			return 1;
	}
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	if (setitimer(ITIMER_PROF, &it, NULL) != 0)
		return 1;
	own_burn(1000);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_PROF, &off, NULL);

	struct sigaction cur;
	sigaction(SIGPROF, NULL, &cur);
	int intact = use_signal ? cur.sa_handler == on_prof_plain
				: (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_prof_info;
	/* 1 s of CPU at 100 Hz: about 100 signals; a second sampler would roughly double it */
	int count_ok = own + foreign >= 50 && own + foreign <= 150;
	printf("ownprof: got_signals=%s foreign=%d handler_intact=%s count_ok=%s\n",
	       own > 0 ? "yes" : "no", (int)foreign, intact ? "yes" : "no", count_ok ? "yes" : "no");
	fprintf(stderr, "ownprof: own=%d foreign=%d\n", (int)own, (int)foreign);
	return 0;
}
