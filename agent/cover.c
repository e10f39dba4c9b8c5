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

struct ldp_cover {
	struct ldp_deliver *d;
	int targets_fd;
	int64_t period_ns;
	int64_t flush_ns;
	unsigned n;
	struct proc p[LDP_AGENT_MAX_TARGETS];
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

struct ldp_cover *ldp_cover_new(struct ldp_deliver *d, int targets_fd, int64_t period_ns,
				int64_t flush_ns)
{
	struct ldp_cover *cv = calloc(1, sizeof(*cv));

	if (!cv)
		return NULL;
	cv->d = d;
	cv->targets_fd = targets_fd;
	cv->period_ns = period_ns;
	cv->flush_ns = flush_ns;
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

static void ship(struct ldp_cover *cv, struct proc *p)
{
	struct ldp_shipment s;

	if (!ldp_agent_prof_samples(p->prof))
		return;
	if (ldp_agent_prof_shipment(p->prof, real_ns(), &s) < 0)
		return;
	ldp_deliver_submit(cv->d, &s); /* clears s; a failure is counted by delivery */
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
	ship(cv, p);
	forget(cv, p);
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

	if (p)
		drop(cv, p); /* a new image: the old one's profile ends here */
	if (cv->n == LDP_AGENT_MAX_TARGETS)
		return -ENOSPC;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	r = ldp_agent_prof_new(pid, cv->period_ns, &prof);
	if (r < 0)
		goto fail;
	/* The first read of its maps: a short-lived process may be gone at the next tick. */
	r = ldp_agent_prof_refresh(prof);
	if (r < 0 && r != -ESRCH && r != -ENOENT)
		goto fail;
	p = &cv->p[cv->n++];
	p->pid = pid;
	p->pidfd = pidfd;
	p->uid = proc_uid(pid);
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
			ship(cv, p);
			p->next_flush = now + cv->flush_ns;
		}
		i++;
	}
}

void ldp_cover_free(struct ldp_cover *cv)
{
	if (!cv)
		return;
	while (cv->n)
		drop(cv, &cv->p[cv->n - 1]);
	free(cv);
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
