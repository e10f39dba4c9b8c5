/* solostorm.c — many threads changing credentials at once, then a single thread asking for a
 * user namespace, then CPU: what the shim's wrappers must survive while an activation is
 * pending. Any thread of ours left over would make the kernel refuse the unshare (EINVAL: not
 * single-threaded); an older version's waiter thread was stopped and restarted around every
 * set*id call.
 *
 * Usage: solostorm THREADS CALLS MS
 *   THREADS threads each call setresuid(-1, -1, -1) and setresgid(-1, -1, -1) CALLS times
 *   (changing nothing, but glibc runs them on every thread and our wrappers see each), all
 *   joined; then, once the kernel counts one thread (at most 5 s), unshare(CLONE_NEWUSER);
 *   then MS of CPU in burn_after.
 * stdout: "solostorm: calls=N failed=F", "solostorm: unshare = <0 or errno name>",
 *         "solostorm: done pid=PID".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpuburn.h"

static long calls;
static int failed;

__attribute__((noinline)) void burn_after(long ms) { burn(ms); }

/* pthread_join() returns when a thread has cleared its tid, a moment before the kernel takes it
 * out of the thread group; unshare() in that moment fails with EINVAL, with or without ldprof
 * (seen on a loaded 2-core machine). Wait, bounded, until the kernel counts one thread: a
 * thread of ours left over still fails the unshare, after 5 s. */
static void wait_single_threaded(void)
{
	for (int i = 0; i < 5000; i++) {
		char line[256];
		int threads = 0;
		FILE *f = fopen("/proc/self/status", "r");

		if (!f)
			return;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Threads: %d", &threads) == 1)
				break;
		fclose(f);
		if (threads == 1)
			return;
		usleep(1000);
	}
}

static void *storm(void *arg)
{
	for (long i = 0; i < calls; i++)
		if (setresuid(-1, -1, -1) != 0 || setresgid(-1, -1, -1) != 0)
			__atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
	return arg;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4, r;
	pthread_t t[64];

	calls = argc > 2 ? atol(argv[2]) : 100;
	if (n < 1 || n > 64)
		return 2;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, storm, NULL) != 0)
			return 1;
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("solostorm: calls=%ld failed=%d\n", 2 * calls * n, failed);
	wait_single_threaded();
	r = unshare(CLONE_NEWUSER);
	printf("solostorm: unshare = %s\n", r == 0 ? "0" : errno == EINVAL ? "EINVAL" : strerror(errno));
	burn_after(argc > 3 ? atol(argv[3]) : 300);
	printf("solostorm: done pid=%d\n", (int)getpid());
	return 0;
}
