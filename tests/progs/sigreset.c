/* sigreset.c — a program that sets SIGPROF to SIG_IGN or SIG_DFL with sigaction() (as a child
 * resetting every signal before exec does), then works, then gets a SIGPROF from outside.
 *
 * Exercises: ldprof keeps sampling (a default or ignored disposition is not a handler of the
 * program's own), answers a query of SIGPROF with what the program set, and gives a SIGPROF
 * that is not its own timer's the disposition the program asked for: ignored, or death by
 * the signal.
 *
 * Usage: sigreset ign|dfl
 * stdout: "sigreset: query=ok" then, for ign, "sigreset: survived"; for dfl it dies of SIGPROF.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static void work(void)
{
	int64_t end = cpu_ns() + 500000000LL;
	while (cpu_ns() < end)
		for (int i = 0; i < 10000; i++)
			sink += (uint64_t)i * 2654435761u;
}

int main(int argc, char **argv)
{
	int ign = argc > 1 && !strcmp(argv[1], "ign");
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ign ? SIG_IGN : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPROF, &sa, NULL);
	sigaction(SIGPROF, NULL, &old);
	printf("sigreset: query=%s\n", old.sa_handler == sa.sa_handler && !(old.sa_flags & SA_SIGINFO) ? "ok" : "wrong");
	fflush(stdout);
	work();
	kill(getpid(), SIGPROF);
	usleep(100000);
	printf("sigreset: survived\n");
	return 0;
}
