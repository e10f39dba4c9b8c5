/* nsmove.c — a profiled program that asks for another user or mount namespace midway, the way
 * `unshare -U` and `nsenter -m` do; the kernel refuses both (EINVAL) to a multi-threaded
 * process, so a profiler thread must not be there at that moment.
 *
 * Usage: nsmove MS user           burn MS, unshare(CLONE_NEWUSER), burn MS
 *        nsmove MS user-threaded  the same with a thread of its own alive: unshare fails
 *                                 with EINVAL as it would without a profiler
 *        nsmove MS setns PATH     burn MS, setns(open(PATH), 0) (a /proc/PID/ns/ file), burn MS
 *        nsmove MS chroot DIR     burn MS, chroot(DIR), burn MS
 * stdout: "nsmove: <call> = <0 or errno name>", then "nsmove: done pid=PID".
 * The CPU is burnt in burn_before and burn_after, so a profile tells the two halves apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpuburn.h"

__attribute__((noinline)) void burn_before(long ms) { burn(ms); }
__attribute__((noinline)) void burn_after(long ms) { burn(ms); }

static void *idle(void *arg)
{
	pause();
	return arg;
}

static const char *result(int r)
{
	return r == 0 ? "0" : errno == EINVAL ? "EINVAL" : errno == EPERM ? "EPERM" : strerror(errno);
}

int main(int argc, char **argv)
{
	pthread_t t;
	long ms;
	int r, fd;

	if (argc < 3)
		return 2;
	ms = atol(argv[1]);
	if (!strcmp(argv[2], "user-threaded") && pthread_create(&t, NULL, idle, NULL) != 0)
		return 2;
	burn_before(ms);
	if (!strcmp(argv[2], "chroot")) {
		if (argc < 4)
			return 2;
		r = chroot(argv[3]);
		printf("nsmove: chroot = %s\n", result(r));
	} else if (!strcmp(argv[2], "setns")) {
		if (argc < 4 || (fd = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0)
			return 2;
		r = setns(fd, 0);
		printf("nsmove: setns = %s\n", result(r));
		close(fd);
	} else {
		r = unshare(CLONE_NEWUSER);
		printf("nsmove: unshare = %s\n", result(r));
	}
	fflush(stdout);
	burn_after(ms);
	printf("nsmove: done pid=%d\n", (int)getpid());
	return 0;
}
