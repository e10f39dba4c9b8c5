/* lastthread.c — programs whose process ends when their last thread does, not by exit()
 * (tests/test_lastthread.py).
 *
 * Exercises: glibc ends a process with exit(0) when its last thread ends (main having called
 * pthread_exit()); a thread of ldprof's must not keep it alive, nor keep it from hearing
 * SIGTERM. The atexit handler and a line left in stdio's buffer show that glibc's own exit
 * path ran (handlers run, streams flushed).
 *
 * Usage: lastthread MODE MS
 *   main     main burns MS ms of CPU, then calls pthread_exit()
 *   workers  main starts 3 workers that burn MS ms each, and calls pthread_exit() at once
 *   forked   main starts a thread that forks; the child (that thread alone) burns MS ms and
 *            returns from the thread function; the parent waits for it and prints its status
 *   sleeper  main burns MS ms, starts a worker that waits in pause() for good, and calls
 *            pthread_exit(): only a signal ends the process
 * stdout: "lastthread: MODE\n" (left in stdio's buffer: a pipe is fully buffered), then
 * "atexit\n" from the atexit handler; "forked" also "child: exit 0\n" before. Exit status 0.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpuburn.h"

static long ms;

static void at_exit(void)
{
	puts("atexit");
}

__attribute__((noinline)) static void last_burn(long n)
{
	burn(n);
}

static void *worker(void *arg)
{
	last_burn(ms);
	return arg;
}

static void *forker(void *arg)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0) {
		last_burn(ms);
		return arg; /* the child's only thread ends: glibc's exit(0) */
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		exit(1);
	printf("child: %s %d\n", WIFEXITED(st) ? "exit" : "signal",
	       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return arg;
}

static void *sleeper(void *arg)
{
	for (;;)
		pause();
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc != 3)
		return 2;
	ms = strtol(argv[2], NULL, 10);
	atexit(at_exit);
	printf("lastthread: %s\n", argv[1]);
	if (!strcmp(argv[1], "main")) {
		last_burn(ms);
	} else if (!strcmp(argv[1], "workers")) {
		for (int i = 0; i < 3; i++)
			if (pthread_create(&t, NULL, worker, NULL) != 0)
				return 1;
	} else if (!strcmp(argv[1], "forked")) {
		if (pthread_create(&t, NULL, forker, NULL) != 0)
			return 1;
	} else if (!strcmp(argv[1], "sleeper")) {
		last_burn(ms);
		if (pthread_create(&t, NULL, sleeper, NULL) != 0)
			return 1;
	} else {
		return 2;
	}
	pthread_exit(NULL);
}
