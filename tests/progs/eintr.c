/* eintr.c — restartable system calls and errno under sampling.
 *
 * Exercises: the sampler's signal handler must be installed with SA_RESTART (blocking read,
 * write and waitpid are restarted, never fail with EINTR) and must save and restore errno.
 * Threads, each burning CPU between its calls so that its CPU timer fires often:
 *  - reader: blocking read() of 1 byte from a pipe fed slowly by a writer thread;
 *  - full-pipe writer: blocking write() of 64 KiB into a pipe drained slowly by a drainer;
 *  - waiter: fork()s a child that burns a few ms, then blocks in waitpid();
 *  - errno checker (main): sets errno to a sentinel, burns, checks it is unchanged.
 * Calls that SA_RESTART does not restart (nanosleep, poll) are counted on stderr only.
 *
 * Usage: eintr [SECONDS]   (default 2)
 * stdout: "eintr: read_eintr=0 write_eintr=0 waitpid_eintr=0 errno_clobbered=0 ops_ok=yes"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static long read_eintr, write_eintr, waitpid_eintr, errno_clobbered, other_errors;
static long reads, writes, waits, checks, sleep_eintr;
static int p1[2], p2[2];
volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) void eintr_burn(long us)
{
	int64_t end = thread_cpu_ns() + us * 1000;
	uint64_t x = sink | 1;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

static void *slow_writer(void *arg)
{
	while (!stop) {
		eintr_burn(700);
		if (write(p1[1], "x", 1) != 1)
			break;
	}
	close(p1[1]);
	return NULL;
}

static void *reader(void *arg)
{
	char c;
	for (;;) {
		eintr_burn(200);
		ssize_t n = read(p1[0], &c, 1);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				read_eintr++;
			else {
				other_errors++;
				break;
			}
			continue;
		}
		reads++;
	}
	return NULL;
}

static void *full_writer(void *arg)
{
	static char buf[65536];
	while (!stop) {
		eintr_burn(200);
		ssize_t n = write(p2[1], buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				write_eintr++;
			else {
				other_errors++;
				break;
			}
			continue;
		}
		writes++;
	}
	close(p2[1]);
	return NULL;
}

static void *drainer(void *arg)
{
	static char buf[4096];
	for (;;) {
		eintr_burn(300);
		ssize_t n = read(p2[0], buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR) {
			other_errors++;
			break;
		}
		if (n < 0)
			read_eintr++;
	}
	return NULL;
}

static void *waiter(void *arg)
{
	while (!stop) {
		eintr_burn(200);
		pid_t pid = fork();
		if (pid < 0) {
			other_errors++;
			break;
		}
		if (pid == 0) {
			eintr_burn(3000);
			_exit(0);
		}
		int status;
		for (;;) {
			pid_t r = waitpid(pid, &status, 0);
			if (r == pid)
				break;
			if (r < 0 && errno == EINTR) {
				waitpid_eintr++;
				continue;
			}
			other_errors++;
			return NULL;
		}
		waits++;
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	/* not restartable by SA_RESTART: EINTR here is allowed, only reported */
	while (!stop) {
		eintr_burn(300);
		struct timespec ts = { 0, 200000 };
		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			sleep_eintr++;
		if (poll(NULL, 0, 0) < 0 && errno == EINTR)
			sleep_eintr++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	if (pipe2(p1, O_CLOEXEC) || pipe2(p2, O_CLOEXEC))
		return 1;
	pthread_t th[6];
	void *(*fns[6])(void *) = { slow_writer, reader, full_writer, drainer, waiter, sleeper };
	for (int i = 0; i < 6; i++)
		if (pthread_create(&th[i], NULL, fns[i], NULL))
			return 1;

	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	volatile int *ep = &errno;
	for (;;) {
		*ep = 4242;
		eintr_burn(500);
		if (*ep != 4242)
			errno_clobbered++;
		checks++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
			break;
	}
	stop = 1;
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "eintr: reads=%ld writes=%ld waits=%ld checks=%ld other_errors=%ld sleep_eintr=%ld\n",
		reads, writes, waits, checks, other_errors, sleep_eintr);
	int ok = reads > 10 && writes > 2 && waits > 10 && checks > 10 && !other_errors;
	printf("eintr: read_eintr=%ld write_eintr=%ld waitpid_eintr=%ld errno_clobbered=%ld ops_ok=%s\n",
	       read_eintr, write_eintr, waitpid_eintr, errno_clobbered, ok ? "yes" : "no");
	return 0;
}
