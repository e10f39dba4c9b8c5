/* SPDX-License-Identifier: MIT
 *
 * cover.c — the processes the agent samples, and the shipping of their profiles.
 *
 * A process enters when the exec hook makes it a target (a start event), when a target forks,
 * when the shim asks for it, or when its first sample arrives before any of those (an event
 * lost to a full ring buffer). It leaves when its end event arrives, when its pidfd says it
 * has exited (the end event may have been lost too), or when the shim takes over. A pidfd,
 * not the pid, tells whether it lives: a pid can be reused, a pidfd cannot.
 * Its maps are read again now and then while it runs (REFRESH_* below; profile.c keeps the last
 * good snapshot for the samples that arrive after it has gone).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bucket.h"
#include "cover.h"
#include "procmaps.h"
#include "profile.h"

/* Maps are read again 1 s, 2 s and 3 s after the start (a static program's mappings settle
 * early: its heap, its threads' stacks), then every 10 s: reading /proc/PID/maps costs ~80 µs
 * of the kernel's time, once a second for a thousand targets would be 8% of a CPU. Samples
 * outside the last snapshot show as addresses until the next read. */
#define REFRESH_NS 1000000000LL
#define REFRESH_SLOW_NS 10000000000LL
#define REFRESH_FAST 3
/* A process that has ended while the symbol tables of its files were still being read (the
 * reader is busy, or its user is over a budget) waits this long for them before its last
 * profile is shipped with whatever names there are; at most MAX_ENDING wait at once. */
#define ENDING_NS 20000000000LL
#define MAX_ENDING 256

struct proc {
	pid_t pid;
	int pidfd;
	uid_t uid;
	unsigned why;
	unsigned refreshes;
	int64_t next_refresh;
	int64_t next_flush;
	struct ldp_agent_prof *prof;
};

struct ending {
	struct ldp_agent_prof *prof;
	int64_t deadline;
};

struct ldp_cover {
	struct ldp_deliver *d;
	struct ldp_symcache *sc;
	int targets_fd;
	int64_t period_ns;
	int64_t flush_ns;
	unsigned ended_per_uid;
	unsigned n;
	struct proc p[LDP_AGENT_MAX_TARGETS];
	struct ending end[MAX_ENDING];
	unsigned nend;
	struct ldp_uid_buckets ended; /* last profiles a uid may still have written */
	uint64_t ended_dropped;
	uint64_t unwritten;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct ldp_cover *ldp_cover_new(struct ldp_deliver *d, struct ldp_symcache *sc, int targets_fd,
				int64_t period_ns, int64_t flush_ns, unsigned ended_per_uid)
{
	struct ldp_cover *cv = calloc(1, sizeof(*cv));

	if (!cv)
		return NULL;
	cv->d = d;
	cv->sc = sc;
	cv->targets_fd = targets_fd;
	cv->period_ns = period_ns;
	cv->flush_ns = flush_ns;
	cv->ended_per_uid = ended_per_uid;
	return cv;
}

static struct proc *find(struct ldp_cover *cv, pid_t pid)
{
	for (unsigned i = 0; i < cv->n; i++)
		if (cv->p[i].pid == pid)
			return &cv->p[i];
	return NULL;
}

/* The real uid of pid; (uid_t)-1 when it cannot be read. */
static uid_t proc_uid(pid_t pid)
{
	uid_t real, eff;

	return ldp_proc_uids(pid, &real, &eff) == 0 ? real : (uid_t)-1;
}

static void ship(struct ldp_cover *cv, struct ldp_agent_prof *prof)
{
	struct ldp_shipment s;

	if (!ldp_agent_prof_samples(prof))
		return;
	if (!cv->d) {
		cv->unwritten++;
		ldp_agent_prof_free_window(prof);
		return;
	}
	if (ldp_agent_prof_shipment(prof, real_ns(), &s) < 0)
		return;
	ldp_deliver_submit(cv->d, &s); /* clears s; a failure is counted by delivery */
}

/* 1 when uid may have one more last profile (of a process that ended) written: a burst of
 * [agent] profiles_per_user, then as many a minute; root always. A user who starts and ends
 * targets in a loop cannot flood the output; periodic windows are bounded by the per-user cap
 * on targets already. A bucket, not a count per calendar minute, so that a burst across a
 * minute's end gets no second allowance. */
static int may_end(struct ldp_cover *cv, uid_t uid)
{
	return uid == 0 || ldp_uid_bucket_take(&cv->ended, uid, cv->ended_per_uid,
					       cv->ended_per_uid / 60.0, mono_ns());
}

/* The last window of a profile whose process has ended: shipped now, or once the symbol
 * tables still being read are there (ENDING_NS at most). Takes prof. */
static void finish(struct ldp_cover *cv, struct ldp_agent_prof *prof, uid_t uid)
{
	if (ldp_agent_prof_samples(prof) && !may_end(cv, uid)) {
		cv->ended_dropped++;
		ldp_agent_prof_free(prof);
		return;
	}
	if (ldp_agent_prof_samples(prof) && ldp_agent_prof_pending(prof) && cv->nend < MAX_ENDING) {
		cv->end[cv->nend++] = (struct ending){ .prof = prof, .deadline = mono_ns() + ENDING_NS };
		return;
	}
	ship(cv, prof);
	ldp_agent_prof_free(prof);
}

static void forget(struct ldp_cover *cv, struct proc *p)
{
	ldp_agent_prof_free(p->prof);
	if (p->pidfd >= 0)
		close(p->pidfd);
	*p = cv->p[--cv->n];
}

static void drop(struct ldp_cover *cv, struct proc *p)
{
	ldp_agent_prof_refresh(p->prof); /* fails quietly once the process is gone */
	finish(cv, p->prof, p->uid);
	p->prof = NULL;
	forget(cv, p);
}

/* Ships the ended profiles whose symbol tables are read, or that have waited long enough
 * (all of them when `all`). */
static void ship_ended(struct ldp_cover *cv, int all)
{
	int64_t now = mono_ns();

	for (unsigned i = 0; i < cv->nend;) {
		struct ending *e = &cv->end[i];

		if (!all && now < e->deadline && ldp_agent_prof_pending(e->prof)) {
			i++;
			continue;
		}
		ship(cv, e->prof);
		ldp_agent_prof_free(e->prof);
		*e = cv->end[--cv->nend];
	}
}

void ldp_cover_discard(struct ldp_cover *cv, pid_t pid)
{
	struct proc *p = find(cv, pid);
	__u32 key = (__u32)pid;

	bpf_map_delete_elem(cv->targets_fd, &key);
	if (p)
		forget(cv, p);
}


int ldp_cover_start(struct ldp_cover *cv, pid_t pid, unsigned why)
{
	struct proc *p = find(cv, pid);
	struct ldp_agent_prof *prof = NULL;
	int pidfd, r;
	uid_t uid;

	if (p)
		drop(cv, p); /* a new image: the old one's profile ends here */
	if (cv->n == LDP_AGENT_MAX_TARGETS)
		return -ENOSPC;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	uid = proc_uid(pid);
	r = ldp_agent_prof_new(pid, cv->period_ns, cv->sc, uid, &prof);
	if (r < 0)
		goto fail;
	/* The first read of its maps: a short-lived process may be gone at the next tick. */
	r = ldp_agent_prof_refresh(prof);
	if (r < 0 && r != -ESRCH && r != -ENOENT)
		goto fail;
	p = &cv->p[cv->n++];
	p->pid = pid;
	p->pidfd = pidfd;
	p->uid = uid;
	p->why = why;
	p->refreshes = 0;
	p->prof = prof;
	p->next_refresh = mono_ns() + REFRESH_NS;
	p->next_flush = mono_ns() + cv->flush_ns;
	return 0;
fail:
	ldp_agent_prof_free(prof);
	close(pidfd);
	return r;
}

void ldp_cover_end(struct ldp_cover *cv, pid_t pid, int clear_mark)
{
	struct proc *p = find(cv, pid);
	__u32 key = (__u32)pid;

	if (clear_mark)
		bpf_map_delete_elem(cv->targets_fd, &key);
	if (p)
		drop(cv, p);
}

void ldp_cover_sample(struct ldp_cover *cv, const struct ldp_agent_event *e)
{
	char comm[LDP_AGENT_COMM_LEN + 1];
	struct proc *p = find(cv, (pid_t)e->h.tgid);
	uint32_t n, k;

	if (!p) {
		__u32 key = e->h.tgid;
		__u8 why = LDP_AGENT_TGT_STATIC;

		/* Its start event was lost, or it forked from a target: the map says why. A sample
		 * of a process whose mark is gone (excluded by a rule, ended) is not counted. */
		if (bpf_map_lookup_elem(cv->targets_fd, &key, &why) < 0)
			return;
		if (ldp_cover_start(cv, (pid_t)e->h.tgid, why) < 0)
			return;
		p = find(cv, (pid_t)e->h.tgid);
		if (!p)
			return;
	}
	memcpy(comm, e->comm, LDP_AGENT_COMM_LEN);
	comm[LDP_AGENT_COMM_LEN] = 0;
	n = e->nframes < LDP_AGENT_MAX_FRAMES ? e->nframes : LDP_AGENT_MAX_FRAMES;
	/* The kernel follows the frame-pointer chain until it faults; code built without frame
	 * pointers (static glibc's start-up code) can leave a last word that is no user address
	 * at all (x86-64 user space ends below 2^56 with 5-level paging). The stack ends before
	 * the first such frame. */
	for (k = 0; k < n; k++)
		if (!e->frames[k] || e->frames[k] > 0x00ffffffffffffffULL)
			break;
	ldp_agent_prof_add(p->prof, e->tid, comm, (const uint64_t *)e->frames, k);
}

void ldp_cover_tick(struct ldp_cover *cv)
{
	int64_t now = mono_ns();

	for (unsigned i = 0; i < cv->n;) {
		struct proc *p = &cv->p[i];
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

		if (poll(&pfd, 1, 0) > 0) {
			drop(cv, p); /* exited: the last element moved into slot i */
			continue;
		}
		if (now >= p->next_refresh) {
			ldp_agent_prof_refresh(p->prof);
			p->refreshes++;
			p->next_refresh = now + (p->refreshes < REFRESH_FAST ? REFRESH_NS : REFRESH_SLOW_NS);
		}
		if (now >= p->next_flush) {
			ship(cv, p->prof);
			p->next_flush = now + cv->flush_ns;
		}
		i++;
	}
	ship_ended(cv, 0);
}

void ldp_cover_free(struct ldp_cover *cv)
{
	if (!cv)
		return;
	while (cv->n)
		drop(cv, &cv->p[cv->n - 1]);
	/* the tables queued now get a last chance, as long as a stop may reasonably take */
	if (cv->nend && cv->sc)
		ldp_symcache_drain(cv->sc, 2000000000LL);
	ship_ended(cv, 1);
	free(cv);
}

uint64_t ldp_cover_ended_dropped(const struct ldp_cover *cv)
{
	return cv->ended_dropped;
}

uint64_t ldp_cover_unwritten(const struct ldp_cover *cv)
{
	return cv->unwritten;
}

unsigned ldp_cover_ending(const struct ldp_cover *cv)
{
	return cv->nend;
}

unsigned ldp_cover_count(const struct ldp_cover *cv, uid_t uid)
{
	unsigned k = 0;

	for (unsigned i = 0; i < cv->n; i++)
		if (uid == (uid_t)-1 || cv->p[i].uid == uid)
			k++;
	return k;
}

size_t ldp_cover_describe(const struct ldp_cover *cv, uid_t uid, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = 0;
	for (unsigned i = 0; i < cv->n; i++) {
		const struct proc *p = &cv->p[i];
		int w;

		if (uid != (uid_t)-1 && p->uid != uid)
			continue;
		w = snprintf(buf + used, len - used, "%d %d %s %llu\n", (int)p->pid, (int)p->uid,
			     p->why == LDP_AGENT_TGT_ASKED ? "asked" : "static",
			     (unsigned long long)ldp_agent_prof_samples(p->prof));
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = 0;
			break;
		}
		used += (size_t)w;
	}
	return used;
}
