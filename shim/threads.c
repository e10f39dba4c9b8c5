/* SPDX-License-Identifier: MIT
 *
 * threads.c — the registry of sampled threads and their per-thread CPU timers.
 *
 * Per-thread timers, not a process-wide ITIMER_PROF: the kernel then charges each thread's own
 * CPU time and signals that very thread, so busy threads are neither skewed nor capped (Go moved
 * to the same design in 1.18). Timers are created with raw system calls, so the clock can be
 * another thread's (((~tid) << 3) | 6 is the kernel's per-thread CPUCLOCK_SCHED), and so the
 * same code serves every libc. timer_create counts against RLIMIT_SIGPENDING: EAGAIN leaves the
 * thread unsampled and counted, never retried in a loop.
 * Never called from a signal handler, but for ldp_threads_lookup().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "procmaps.h"
#include "threads.h"

struct k_sigevent {
	union {
		int i;
		void *p;
		uint64_t u;
	} value;
	int signo;
	int notify;
	union {
		int tid;
		int pad[12];
	} un;
};
#define K_SIGEV_THREAD_ID 4

static struct ldp_slot *slots;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long period;
static int armed = 1;
static unsigned failed;
/* Slots [0, nslots) have been used: scans stop there, so a process with few threads touches
 * a page or two of the array, not all of it. */
static uint32_t nslots;
int32_t ldp_bg_tid = -1, ldp_setup_tid = -1;
static unsigned learnt_total;
int32_t ldp_send_tid = -1;

void ldp_threads_lock(void) { pthread_mutex_lock(&lock); }
void ldp_threads_unlock(void) { pthread_mutex_unlock(&lock); }

int ldp_threads_init(long period_ns)
{
	void *m = mmap(NULL, LDP_MAX_THREADS * sizeof(struct ldp_slot), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	slots = m;
	period = period_ns;
	return 0;
}

static uint64_t sival_of(uint32_t idx, uint32_t gen)
{
	return (LDP_SIVAL_MAGIC << 48) | ((uint64_t)(gen & 0xffffffffu) << 16) | idx;
}

struct ldp_slot *ldp_threads_lookup(uint64_t sival, int *ours)
{
	uint32_t idx = sival & 0xffff, gen = (uint32_t)(sival >> 16);
	struct ldp_slot *s;

	*ours = 0;
	if ((sival >> 48) != LDP_SIVAL_MAGIC || idx >= LDP_MAX_THREADS || !slots)
		return NULL;
	*ours = 1;
	s = &slots[idx];
	if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) != gen ||
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != LDP_SLOT_LIVE)
		return NULL;
	return s;
}

static int timer_arm(int timer, long ns)
{
	struct itimerspec its = { 0 };

	its.it_interval.tv_sec = ns / 1000000000L;
	its.it_interval.tv_nsec = ns % 1000000000L;
	its.it_value = its.it_interval;
	return syscall(SYS_timer_settime, timer, 0, &its, NULL) < 0 ? -errno : 0;
}

/* Called with the lock held. Its stack is not known yet: 0, 0 (ldp_threads_adopt() or
 * ldp_threads_learn_stacks() set it). */
static struct ldp_slot *slot_new(int32_t tid)
{
	struct k_sigevent sev;
	clockid_t clk = (clockid_t)((~(unsigned)tid) << 3) | 6;
	int timer = -1;
	uint32_t i;

	for (i = 0; i < nslots; i++)
		if (slots[i].state == LDP_SLOT_FREE)
			break;
	if (i == LDP_MAX_THREADS) {
		failed++;
		return NULL;
	}
	memset(&sev, 0, sizeof(sev));
	sev.value.u = sival_of(i, slots[i].gen + 1);
	sev.signo = SIGPROF;
	sev.notify = K_SIGEV_THREAD_ID;
	sev.un.tid = tid;
	if (syscall(SYS_timer_create, clk, &sev, &timer) < 0) {
		failed++;
		return NULL;
	}
	slots[i].tid = tid;
	slots[i].timer = timer;
	slots[i].stack_lo = 0;
	slots[i].seen_sp = 0;
	slots[i].seen_self = 0;
	slots[i].stack_hi = 0;
	slots[i].seen = 1;
	slots[i].name[0] = 0;
	__atomic_store_n(&slots[i].gen, slots[i].gen + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&slots[i].state, LDP_SLOT_LIVE, __ATOMIC_RELEASE);
	if (i == nslots)
		nslots++;
	if (armed)
		timer_arm(timer, period);
	return &slots[i];
}

static void slot_retire(struct ldp_slot *s, int keep_name)
{
	if (s->timer >= 0)
		syscall(SYS_timer_delete, s->timer);
	s->timer = -1;
	__atomic_store_n(&s->state, keep_name ? LDP_SLOT_DEAD : LDP_SLOT_FREE, __ATOMIC_RELEASE);
}

static struct ldp_slot *find_tid(int32_t tid);
static int read_comm(int32_t tid, char *buf, size_t len);

struct ldp_slot *ldp_threads_add_self(uint64_t stack_lo, uint64_t stack_hi)
{
	return ldp_threads_adopt((int32_t)syscall(SYS_gettid), stack_lo, stack_hi);
}

struct ldp_slot *ldp_threads_adopt(int32_t tid, uint64_t stack_lo, uint64_t stack_hi)
{
	struct ldp_slot *s;

	pthread_mutex_lock(&lock);
	/* A rescan may have adopted this thread between its creation and this call. */
	s = find_tid(tid);
	if (!s)
		s = slot_new(tid);
	if (s) {
		/* lo first, as ldp_threads_learn_stacks() does: the handler reads hi, then lo */
		__atomic_store_n(&s->stack_lo, stack_lo, __ATOMIC_RELEASE);
		__atomic_store_n(&s->stack_hi, stack_hi, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
	return s;
}

void ldp_threads_remove(struct ldp_slot *s)
{
	char name[16] = "";

	prctl(PR_GET_NAME, name, 0, 0, 0);
	pthread_mutex_lock(&lock);
	if (s->state == LDP_SLOT_LIVE) {
		memcpy(s->name, name, sizeof(s->name));
		s->name[15] = 0;
		slot_retire(s, 1);
	}
	pthread_mutex_unlock(&lock);
}

static struct ldp_slot *find_tid(int32_t tid)
{
	for (uint32_t i = 0; i < nslots; i++)
		if (slots[i].state == LDP_SLOT_LIVE && slots[i].tid == tid)
			return &slots[i];
	return NULL;
}

int ldp_threads_rescan(void)
{
	int adopted = 0, fd;
	DIR *d;
	struct dirent *de;

	fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nslots; i++)
		slots[i].seen = 0;
	while ((de = readdir(d))) {
		int32_t tid = (int32_t)strtol(de->d_name, NULL, 10);
		struct ldp_slot *s;
		if (tid <= 0)
			continue;
		s = find_tid(tid);
		if (s) {
			s->seen = 1;
			/* Adopted threads have no exit hook to leave their name: keep it current,
			 * as they may rename themselves after we found them. */
			if (!s->stack_hi)
				read_comm(tid, s->name, sizeof(s->name));
			continue;
		}
		/* Our own threads have no slot and must not get one. */
		if (tid == ldp_bg_tid || tid == ldp_send_tid || tid == ldp_setup_tid)
			continue;
		s = slot_new(tid);
		if (s) {
			/* Its name now, in case it is gone by the time its samples are written. */
			read_comm(tid, s->name, sizeof(s->name));
			adopted++;
		}
	}
	for (uint32_t i = 0; i < nslots; i++)
		if (slots[i].state == LDP_SLOT_LIVE && !slots[i].seen)
			slot_retire(&slots[i], 1);
	pthread_mutex_unlock(&lock);
	closedir(d);
	return adopted;
}

/* Larger than any thread stack glibc makes by default (RLIMIT_STACK, 8 MiB here). */
#define LEARN_MAX (256ull << 20)

int ldp_threads_learn_stacks(void)
{
	struct ldp_maps maps = { 0 };
	int learnt = 0, todo = 0, read = 0;

	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nslots; i++)
		todo |= slots[i].state == LDP_SLOT_LIVE && !slots[i].stack_hi &&
			__atomic_load_n(&slots[i].seen_sp, __ATOMIC_RELAXED);
	if (todo)
		read = ldp_maps_read(0, &maps) == 0;
	for (uint32_t i = 0; read && i < nslots; i++) {
		uint64_t sp = __atomic_load_n(&slots[i].seen_sp, __ATOMIC_RELAXED);
		uint64_t self = __atomic_load_n(&slots[i].seen_self, __ATOMIC_RELAXED);
		const struct ldp_map *m;

		if (slots[i].state != LDP_SLOT_LIVE || slots[i].stack_hi || !sp)
			continue;
		m = ldp_maps_find(&maps, sp);
		/* A glibc thread's stack: private, readable, writable, not a file, with the thread's
		 * descriptor above the stack pointer in the same mapping. Anything else (a coroutine
		 * stack, an alternate signal stack at that sample) stays on the slow path. */
		if (!m || strncmp(m->perms, "rw", 2) || m->path[0] || self <= sp || self > m->end ||
		    self - sp > LEARN_MAX)
			continue;
		__atomic_store_n(&slots[i].stack_lo, m->start, __ATOMIC_RELEASE);
		__atomic_store_n(&slots[i].stack_hi, self, __ATOMIC_RELEASE);
		learnt++;
	}
	pthread_mutex_unlock(&lock);
	if (read)
		ldp_maps_free(&maps);
	learnt_total += (unsigned)learnt;
	return learnt;
}

unsigned ldp_threads_learnt(void)
{
	return learnt_total;
}

void ldp_threads_arm_all(int on)
{
	pthread_mutex_lock(&lock);
	armed = on;
	for (uint32_t i = 0; i < nslots; i++)
		if (slots[i].state == LDP_SLOT_LIVE && slots[i].timer >= 0)
			timer_arm(slots[i].timer, on ? period : 0);
	pthread_mutex_unlock(&lock);
}

void ldp_threads_after_fork_child(int32_t parent_tid)
{
	uint64_t stack_hi = 0, stack_lo = 0;

	pthread_mutex_init(&lock, NULL);
	/* Timers are not inherited by a child; forget every slot without deleting anything. The
	 * forking thread's stack was copied at the same address. */
	for (uint32_t i = 0; i < nslots; i++) {
		if (slots[i].state == LDP_SLOT_LIVE && slots[i].tid == parent_tid) {
			stack_hi = slots[i].stack_hi;
			stack_lo = slots[i].stack_lo;
		}
		/* Read before written: a page of slots the child never writes stays shared. */
		if (slots[i].timer != -1)
			slots[i].timer = -1;
		if (slots[i].state != LDP_SLOT_FREE)
			__atomic_store_n(&slots[i].state, LDP_SLOT_FREE, __ATOMIC_RELEASE);
	}
	/* the same stack, copied at the same address */
	ldp_threads_add_self(stack_lo, stack_hi);
}

static int read_comm(int32_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	if (buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

void ldp_threads_name(int32_t tid, char *buf, size_t len)
{
	char kept[16] = "";
	uint32_t state = LDP_SLOT_FREE;

	/* A thread that is gone left its name in its slot; a live one is asked (it may have
	 * renamed itself since it started). */
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nslots; i++)
		if (slots[i].state != LDP_SLOT_FREE && slots[i].tid == tid) {
			memcpy(kept, slots[i].name, sizeof(kept));
			state = slots[i].state;
			if (state == LDP_SLOT_DEAD)
				break;
		}
	pthread_mutex_unlock(&lock);
	kept[15] = 0;
	if (state == LDP_SLOT_DEAD && kept[0]) {
		snprintf(buf, len, "%s", kept);
		return;
	}
	if (read_comm(tid, buf, len) == 0)
		return;
	snprintf(buf, len, "%s", kept[0] ? kept : "?");
}

void ldp_threads_reap(void)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nslots; i++)
		if (slots[i].state == LDP_SLOT_DEAD)
			__atomic_store_n(&slots[i].state, LDP_SLOT_FREE, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
}

unsigned ldp_threads_live(void)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < nslots; i++)
		n += slots[i].state == LDP_SLOT_LIVE;
	return n;
}

unsigned ldp_threads_failed(void) { return failed; }
