/* sigburn.c — CPU spent in a signal handler of the program's own.
 *
 * Exercises: unwinding through a signal frame. main calls outer(), which raises SIGUSR1 again
 * and again; the handler burns CPU in handler_burn. A sample taken there must go on, past the
 * signal-return stub, through the registers the kernel saved, to outer() and main.
 *
 * Usage: sigburn [MS]   (default 400 ms of CPU, all of it in the handler)
 * stdout: "sigburn: done".
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static void handler_burn(void)
{
	int64_t end = cpu_ns() + 2000000;
	while (cpu_ns() < end)
		for (int i = 0; i < 2000; i++)
			sink += (uint64_t)i * i;
}

static void on_usr1(int sig)
{
	(void)sig;
	handler_burn();
}

__attribute__((noinline)) static void outer(int64_t end)
{
	while (cpu_ns() < end)
		raise(SIGUSR1);
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 400;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	outer(cpu_ns() + ms * 1000000LL);
	printf("sigburn: done\n");
	return 0;
}
