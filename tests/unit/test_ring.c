/* SPDX-License-Identifier: MIT
 *
 * test_ring.c — the shared ring (common/ring.h, ring.c): samples in order and whole; a full
 * ring drops and counts; four threads writing from their SIGPROF handlers (per-thread CPU
 * timers at 1 kHz) while a forked process drains the memfd it inherited: every sample taken is
 * whole and the counts add up; attach refuses an unsealed file, a wrong size or header; a
 * producer that scribbles over its ring or abandons a claimed slot cannot crash, stall or loop
 * the consumer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ring.h"

struct seen {
	unsigned n, bad;
	uint32_t last_tid;
	uint64_t weight;
};

/* Frames of a test sample: a pattern of (tid, its serial), so a torn copy shows. */
static void pattern(uint64_t *f, uint32_t n, uint32_t tid, uint64_t serial)
{
	for (uint32_t i = 0; i < n; i++)
		f[i] = (uint64_t)tid << 40 | serial << 8 | i;
}

static void check_one(void *ctx, const struct ldp_ring_sample *s)
{
	struct seen *v = ctx;
	uint64_t serial = (s->frames[0] >> 8) & 0xffffffff;
	uint64_t want[LDP_RING_MAX_FRAMES];

	pattern(want, s->nframes, s->tid, serial);
	if (memcmp(want, s->frames, s->nframes * 8) || s->weight != 1 + (serial % 3))
		v->bad++;
	v->n++;
	v->weight += s->weight;
	v->last_tid = s->tid;
}

static void copy_last(void *ctx, const struct ldp_ring_sample *s)
{
	memcpy(ctx, s, sizeof(*s));
}

static void test_in_order_and_full(void)
{
	struct ldp_ring r;
	struct seen v = { 0 };
	uint64_t f[200];
	void *mem = NULL;
	int fd = ldp_ring_create(8, 1, &mem), put = 0, dropped = 0;

	CHECK(fd >= 0, "create (%d)", fd);
	if (fd < 0)
		return;
	for (uint32_t i = 0; i < 20; i++) {
		pattern(f, 5 + i, 7, i);
		if (ldp_ring_put(mem, 8, 7, 1 + i % 3, f, 5 + i) == 0)
			put++;
		else
			dropped++;
	}
	CHECK(put == 8 && dropped == 12, "8 slots taken, 12 dropped (%d, %d)", put, dropped);
	CHECK(ldp_ring_attach(fd, &r) == 0, "attach the sealed memfd");
	CHECK(ldp_ring_dropped(&r) == 12, "the ring counts what it dropped");
	CHECK(ldp_ring_drain(&r, check_one, &v, 100) == 8 && v.n == 8 && !v.bad, "8 whole samples");
	pattern(f, 200, 9, 1);
	CHECK(ldp_ring_put(mem, 8, 9, 2, f, 200) == 0, "room again once drained");
	memset(&v, 0, sizeof(v));
	{
		struct ldp_ring_sample last;

		CHECK(ldp_ring_drain(&r, copy_last, &last, 100) == 1 && last.nframes == LDP_RING_MAX_FRAMES &&
		      (last.flags & LDP_RING_F_TRUNCATED) && last.frames[0] == f[0] &&
		      last.frames[LDP_RING_MAX_FRAMES - 1] == f[LDP_RING_MAX_FRAMES - 1],
		      "a deeper stack is cut at %u frames and flagged", LDP_RING_MAX_FRAMES);
	}
	CHECK(ldp_ring_drain(&r, check_one, &v, 100) == 0, "then empty");
	{
		struct ldp_ring_sample last;

		CHECK(ldp_ring_put_rec(mem, 8, 9, 0, NULL, 0, LDP_RING_F_EXEC) == 0 &&
		      ldp_ring_drain(&r, copy_last, &last, 100) == 1 && last.nframes == 0 &&
		      last.flags == LDP_RING_F_EXEC && r.bad == 0, "the exec mark comes through, no frames");
		CHECK(ldp_ring_put_rec(mem, 8, 9, 1, NULL, 0, 0) == 0 && ldp_ring_drain(&r, copy_last, &last, 100) == 0 &&
		      r.bad == 1, "a record with no frames and no mark is bad");
		CHECK(ldp_ring_put_rec(mem, 8, 9, 1, f, 3, LDP_RING_F_EXEC) == 0 &&
		      ldp_ring_drain(&r, copy_last, &last, 100) == 0 && r.bad == 2, "a mark with frames is bad");
	}
	ldp_ring_detach(&r);
	munmap(mem, ldp_ring_size(8));
	close(fd);
}

/* ---- producers in signal handlers, the consumer in another process ---- */

#define THREADS 4
static void *g_mem;
static uint32_t g_nslots = 64;
static uint64_t g_put, g_full;
static volatile int g_stop;

static void on_prof(int sig, siginfo_t *si, void *uc)
{
	static __thread uint64_t serial;
	uint32_t tid = (uint32_t)syscall(SYS_gettid);
	uint64_t f[48];
	int saved = errno;

	(void)sig, (void)uc;
	serial++;
	pattern(f, 1 + serial % 48, tid, serial);
	if (ldp_ring_put(g_mem, g_nslots, tid, 1 + serial % 3, f, 1 + serial % 48) == 0)
		__atomic_fetch_add(&g_put, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&g_full, 1, __ATOMIC_RELAXED);
	(void)si;
	errno = saved;
}

static void *burn(void *arg)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGPROF };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	timer_t t;
	volatile uint64_t x = 0;

	(void)arg;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) == 0 && timer_settime(t, 0, &its, NULL) == 0) {
		while (!g_stop)
			x++;
		timer_delete(t);
	}
	return NULL;
}

static void test_signal_producers_and_a_consumer_process(void)
{
	struct sigaction sa = { .sa_sigaction = on_prof, .sa_flags = SA_SIGINFO | SA_RESTART };
	pthread_t th[THREADS];
	int fd = ldp_ring_create(g_nslots, (uint32_t)getpid(), &g_mem), pipefd[2], status;
	pid_t child;

	CHECK(fd >= 0 && pipe(pipefd) == 0, "ring and pipe");
	if (fd < 0)
		return;
	child = fork();
	if (child == 0) {
		/* the collector: its own mapping of the inherited memfd; drains until told */
		struct ldp_ring r;
		struct seen v = { 0 };
		char c;

		close(pipefd[1]);
		if (ldp_ring_attach(fd, &r) != 0)
			_exit(2);
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		for (;;) {
			ldp_ring_drain(&r, check_one, &v, 1000);
			if (read(pipefd[0], &c, 1) == 1)
				break;
			usleep(2000);
		}
		ldp_ring_drain(&r, check_one, &v, 1000);
		_exit(v.bad || r.bad || !v.n ? 1 : 0);
	}
	close(pipefd[0]);
	sigaction(SIGPROF, &sa, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, burn, NULL);
	/* until 400 samples are in (CPU timers fire at the scheduler's tick: 250 Hz a CPU here) */
	for (int i = 0; i < 400 && __atomic_load_n(&g_put, __ATOMIC_RELAXED) < 400; i++)
		usleep(25000);
	g_stop = 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	signal(SIGPROF, SIG_IGN);
	{
		/* the counts: what the consumer took + what is left = what was put */
		struct ldp_ring r;
		uint64_t head = __atomic_load_n(&((struct ldp_ring_hdr *)g_mem)->head, __ATOMIC_ACQUIRE);

		if (write(pipefd[1], "x", 1) != 1)
			CHECK(0, "tell the consumer");
		waitpid(child, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the consumer process saw only whole samples (status %d)", status);
		CHECK(ldp_ring_attach_mem(g_mem, ldp_ring_size(g_nslots), &r) == 0, "attach again");
		CHECK(head == g_put && r.tail == head,
		      "every sample put was taken by the other process (%llu put, %llu taken, %llu full)",
		      (unsigned long long)g_put, (unsigned long long)r.tail, (unsigned long long)g_full);
		CHECK(ldp_ring_dropped(&r) == g_full, "drops counted in the ring");
		CHECK(g_put >= 400, "the handlers did write (%llu)", (unsigned long long)g_put);
	}
	close(pipefd[1]);
	munmap(g_mem, ldp_ring_size(g_nslots));
	close(fd);
}

/* ---- what a process could do to its ring ---- */

static void count(void *ctx, const struct ldp_ring_sample *s)
{
	(*(unsigned *)ctx)++;
	/* a sample has frames; only the exec mark has none */
	if (s->nframes > LDP_RING_MAX_FRAMES || (s->nframes == 0) != ((s->flags & LDP_RING_F_EXEC) != 0))
		abort();
}

static void test_attach_refuses(void)
{
	struct ldp_ring r;
	void *mem;
	int fd, plain;
	char name[] = "/tmp/ldprof-ring-XXXXXX";

	/* not sealed: a memfd without seals, and a plain file */
	fd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)ldp_ring_size(8)) == 0, "memfd");
	CHECK(ldp_ring_attach(fd, &r) == -EPERM, "an unsealed memfd is refused");
	fcntl(fd, F_ADD_SEALS, F_SEAL_GROW);
	CHECK(ldp_ring_attach(fd, &r) == -EPERM, "sealed against growing only: refused");
	close(fd);
	plain = mkstemp(name);
	CHECK(plain >= 0 && ldp_ring_attach(plain, &r) == -EPERM, "a plain file is refused");
	unlink(name);
	close(plain);
	/* sealed, but the wrong size */
	fd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)ldp_ring_size(8) + 512) == 0 &&
	      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "odd-sized memfd");
	CHECK(ldp_ring_attach(fd, &r) == -EINVAL, "a size that is not header + 2^k slots: refused");
	close(fd);
	/* sealed, right size, but the header lies about it */
	fd = ldp_ring_create(16, 1, &mem);
	((struct ldp_ring_hdr *)mem)->nslots = 4096;
	CHECK(ldp_ring_attach(fd, &r) == -EINVAL, "a header that disagrees with the size: refused");
	((struct ldp_ring_hdr *)mem)->nslots = 16;
	((struct ldp_ring_hdr *)mem)->magic = 1;
	CHECK(ldp_ring_attach(fd, &r) == -EINVAL, "a bad magic: refused");
	/* the seals hold: the process cannot shrink what the collector maps */
	CHECK(ftruncate(fd, 4096) < 0 && errno == EPERM, "shrinking the sealed memfd fails");
	munmap(mem, ldp_ring_size(16));
	close(fd);
}

static void test_scribbles_and_abandoned_slots(void)
{
	struct ldp_ring r;
	uint64_t f[4] = { 1, 2, 3, 4 };
	unsigned n = 0, calls = 0, total, most = 0;
	void *mem;
	int fd = ldp_ring_create(64, 1, &mem);

	CHECK(fd >= 0 && ldp_ring_attach(fd, &r) == 0, "ring");
	/* a claimed slot never published, with samples after it */
	__atomic_fetch_add(&((struct ldp_ring_hdr *)mem)->head, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 5; i++)
		ldp_ring_put(mem, 64, 3, 1, f, 4);
	for (calls = 0; calls < 10 && !n; calls++)
		ldp_ring_drain(&r, count, &n, 64);
	CHECK(n == 5 && r.skipped == 1 && calls == LDP_RING_STUCK_DRAINS,
	      "an abandoned slot is skipped after %u drains (%u, %u samples)", LDP_RING_STUCK_DRAINS, calls, n);
	/* a slot being written (claimed, nothing after it) is waited for, not skipped */
	__atomic_fetch_add(&((struct ldp_ring_hdr *)mem)->head, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 10; i++)
		ldp_ring_drain(&r, count, &n, 64);
	CHECK(r.skipped == 1, "the last claimed slot is not skipped");

	/* random bytes everywhere, rounds of them: every drain returns, at most a lap each */
	srand(7);
	total = 0;
	for (int round = 0; round < 200; round++) {
		unsigned char *p = mem;
		unsigned got = 0;

		for (int k = 0; k < 400; k++)
			p[rand() % (int)ldp_ring_size(64)] = (unsigned char)rand();
		if (round % 3 == 0) /* and sequence numbers that look published */
			for (uint32_t i = 0; i < 64; i++)
				ldp_ring_seq_store(ldp_ring_slot(mem, 64, r.tail + i), r.tail + i, 63, r.tail + i + 1);
		got = ldp_ring_drain(&r, count, &total, 1000000);
		if (got > most)
			most = got;
	}
	CHECK(most <= 64 && total > 0 && r.bad > 0,
	      "200 rounds of scribbles: at most a lap a drain (%u), %u samples passed on, all whole, "
	      "%llu refused as malformed", most, total, (unsigned long long)r.bad);
	munmap(mem, ldp_ring_size(64));
	close(fd);
}

/* Making a ring writes its header page alone: slots take memory once a sample reaches them
 * (a ring of 4096 slots made in a signal handler faulted in 1,025 pages before version 2). */
static void test_untouched_slots(void)
{
	const size_t pg = 4096, len = ldp_ring_size(LDP_RING_MAX_SLOTS);
	unsigned char *vec = malloc(len / pg);
	uint64_t f[3] = { 1, 2, 3 };
	size_t resident = 0;
	void *mem = NULL;
	int fd = ldp_ring_create(LDP_RING_MAX_SLOTS, 1, &mem);

	CHECK(fd >= 0 && vec && mincore(mem, len, vec) == 0, "a ring of %u slots made", LDP_RING_MAX_SLOTS);
	for (size_t i = 0; vec && i < len / pg; i++)
		resident += vec[i] & 1;
	CHECK(resident == 1, "%zu of its %zu pages in memory after making it", resident, len / pg);
	for (int i = 0; i < 8; i++)
		ldp_ring_put(mem, LDP_RING_MAX_SLOTS, 1, 1, f, 3);
	resident = 0;
	for (size_t i = 0; vec && mincore(mem, len, vec) == 0 && i < len / pg; i++)
		resident += vec[i] & 1;
	CHECK(resident == 3, "%zu pages after 8 samples (the header, two of slots)", resident);
	if (fd >= 0) {
		munmap(mem, len);
		close(fd);
	}
	free(vec);
}

/* A ring of version 1 (a process started before an upgrade, adopted by a restarted agent):
 * sequence numbers stored as they are. Its samples come out as a version 2 ring's do. */
static void test_version_1(void)
{
	const uint32_t n = 16;
	uint64_t frames[4], tail;
	struct seen v = { 0 };
	struct ldp_ring r;
	void *mem = NULL;
	int fd = ldp_ring_create(n, 1, &mem);
	struct ldp_ring_hdr *h = mem;

	if (fd < 0) {
		CHECK(0, "a ring made");
		return;
	}
	h->version = 1;
	for (uint32_t i = 0; i < n; i++)
		ldp_ring_slot(mem, n, i)->seq = i;
	/* 20 records put as a version 1 producer did, drained as they come: a lap and a bit */
	CHECK(ldp_ring_attach_mem(mem, ldp_ring_size(n), &r) == 0, "a version 1 ring taken");
	for (uint64_t pos = 0; pos < 20; pos++) {
		struct ldp_ring_rec *s = ldp_ring_slot(mem, n, pos);

		CHECK(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == pos, "slot of position %llu free",
		      (unsigned long long)pos);
		pattern(frames, 4, 7, pos);
		s->tid = 7;
		s->weight = 1 + pos % 3;
		s->flags = 0;
		s->nframes = 4;
		memcpy(s->frames, frames, sizeof(frames));
		__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
		h->head = pos + 1;
		if (pos % 8 == 7)
			ldp_ring_drain(&r, check_one, &v, 64);
	}
	tail = r.tail;
	ldp_ring_drain(&r, check_one, &v, 64);
	CHECK(v.n == 20 && v.bad == 0 && tail == 16 && r.tail == 20, "%u of 20 samples, %u torn, tail %llu",
	      v.n, v.bad, (unsigned long long)r.tail);
	munmap(mem, ldp_ring_size(n));
	close(fd);
}

int main(void)
{
	test_untouched_slots();
	test_version_1();
	test_in_order_and_full();
	test_signal_producers_and_a_consumer_process();
	test_attach_refuses();
	test_scribbles_and_abandoned_slots();
	printf("%d checks passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
