/* SPDX-License-Identifier: MIT
 *
 * leaderless.h — a child process whose main thread has called pthread_exit() while another
 * thread of it goes on: /proc/PID/maps is empty then, /proc/PID/exe, mem and root unreadable,
 * and only /proc/PID/task/TID of the live thread shows the process (test_procmaps.c,
 * test_stackprof.c).
 */
#ifndef LDP_TEST_LEADERLESS_H
#define LDP_TEST_LEADERLESS_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct leaderless {
	pid_t pid;
	int release; /* closing it ends the child's last thread, and the child */
};

static void *leaderless_thread(void *arg)
{
	char c;

	while (read((int)(long)arg, &c, 1) > 0)
		;
	return NULL;
}

/* 0 once the child's main thread is a zombie and its other thread waits; -1 on failure. */
static int leaderless_start(struct leaderless *l)
{
	int p[2];
	char path[64], buf[256], *s;

	if (pipe(p) < 0)
		return -1;
	l->pid = fork();
	if (l->pid < 0)
		return -1;
	if (l->pid == 0) {
		pthread_t t;

		close(p[1]);
		if (pthread_create(&t, NULL, leaderless_thread, (void *)(long)p[0]) != 0)
			_exit(1);
		pthread_exit(NULL);
	}
	close(p[0]);
	l->release = p[1];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)l->pid);
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(path, "re");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = 0;
		s = strrchr(buf, ')');
		if (s && s[1] && s[2] == 'Z')
			return 0;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return -1;
}

/* Ends the child and reaps it: its exit status, or -1. */
static int leaderless_end(struct leaderless *l)
{
	int st;

	close(l->release);
	if (waitpid(l->pid, &st, 0) != l->pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
