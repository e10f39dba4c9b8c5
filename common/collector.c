/* SPDX-License-Identifier: MIT
 *
 * collector.c — rings in, profiles out (see collector.h).
 *
 * A process's ring arrives on a SEQPACKET connection as one "LDPA1 ring" message carrying the
 * memfd; the connection is closed at once (the process never waits for it). The process is
 * the connection's peer (peer.c: a pidfd of the very process that connected). From then on
 * each tick drains its ring into its profile; the mappings are read again while it lives
 * (profile.c keeps the last snapshot once it is gone): 250 ms after a sample the snapshot
 * cannot place (an object dlopen()ed, code a JIT compiled since), every second otherwise
 * (a library unloaded, another mapped where it was); and the pidfd says when it has
 * ended: its ring is drained a last time and its profile shipped. A second ring from the same
 * pid is a new image (exec): the first one's samples are drained and shipped before the new
 * image's mappings are read.
 *
 * Ticks come as often as the busiest ring needs: a ring holds about 250 ms of its process's
 * samples when it is made, and a tick drains each ring before a third of its slots can fill at
 * the rate its last drain saw (50 ms at most apart, 125 ms at least). Each wake-up costs the
 * collector tens of microseconds on a virtual machine; at a fixed 50 ms they were most of
 * what `ldprof run` cost a second of a program's run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "collector.h"
#include "peer.h"
#include "procmaps.h"
#include "profile.h"
#include "ring.h"
#include "symcache.h"

#define NAMES 64              /* thread names remembered per process */
#define ENDING_NS 10000000000LL /* a last window waits this long for its symbol tables */
#define REFRESH_NS 250000000LL /* a process's mappings read again this soon when a sample needs it */
#define REFRESH_IDLE_NS 1000000000LL /* ... and this often otherwise */
#define TICK_MIN_NS (LDP_COLLECTOR_TICK_MS * 1000000LL)
#define TICK_MAX_NS 125000000LL
#define DRAIN_MAX 4096        /* samples taken from one ring per tick */
#define MAX_PROCS 4096
/* Connections accepted whose message has not come yet (a process sends it right after it
 * connects): kept on the epoll set until it does, PENDING_NS at most, PENDING at once (past
 * that the oldest is closed). A client that connects and never sends costs a slot, not time. */
#define PENDING 64
#define PENDING_NS 1000000000LL

struct tname {
	uint32_t tid;
	char name[16];
};

struct proc {
	pid_t pid;
	uid_t uid;
	int pidfd;
	struct ldp_ring ring;
	struct ldp_agent_prof *prof;
	int64_t refreshed_ns, shipped_ns;
	int64_t drained_ns, every_ns; /* the last drain; how soon this ring wants the next */
	bool stale;               /* a sample the snapshot could not place: refresh soon */
	int64_t ended_ns;         /* gone, its last window waiting for symbol tables (0: alive) */
	int exec_seen;            /* the ring's exec mark: nothing more comes from it */
	struct tname names[NAMES];
	unsigned nnames;
	struct ldp_ring_hdr last; /* the header's counters at the last look */
	struct proc *next;
};

struct pending {
	int fd;
	int64_t since_ns;
};

struct ldp_collector {
	int fd;                   /* listening */
	int ep;                   /* epoll: the listening socket and the pending connections */
	struct pending pend[PENDING];
	unsigned npend;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ldp_deliver *d;
	struct ldp_symcache *sc;
	int64_t period_ns, flush_ns;
	int64_t due_ns;            /* when the next tick is due */
	ldp_collector_log_fn log;
	struct proc *procs;
	unsigned nprocs;
	struct ldp_collector_stats st;
	struct ldp_collector_limits lim;
	pid_t tree;               /* ldp_collector_tree: other users' rings from its descendants only */
	uint64_t tsc0;            /* the TSC and the monotonic clock at start: the TSC's rate */
	int64_t mono0;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The processes' handlers time themselves in TSC cycles (ring.h); the same counter here, over
 * the collector's life against CLOCK_MONOTONIC, gives its rate. */
static uint64_t tsc(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
#else
	return 0;
#endif
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((format(printf, 3, 4))) static void say(struct ldp_collector *c, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->log(level, msg);
}

int ldp_collector_new(const char *sock_path, struct ldp_deliver *d, struct ldp_symcache *sc,
		      int64_t period_ns, int64_t flush_ns, ldp_collector_log_fn log, struct ldp_collector **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ldp_collector *c;
	mode_t old_mask;
	int r;

	if ((sock_path && strlen(sock_path) >= sizeof(sa.sun_path)) || period_ns <= 0 || flush_ns <= 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->sc = sc;
	c->period_ns = period_ns;
	c->flush_ns = flush_ns;
	c->due_ns = mono_ns() + TICK_MAX_NS;
	c->log = log;
	c->tsc0 = tsc();
	c->mono0 = mono_ns();
	c->fd = -1;
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	if (c->ep < 0) {
		r = -errno;
		goto fail;
	}
	if (!sock_path) {
		*ret = c;
		return 0;
	}
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		goto fail;
	}
	strcpy(sa.sun_path, sock_path);
	strcpy(c->path, sock_path);
	/* the mode from bind() under a umask, never a chmod() by path (docs/security.md) */
	old_mask = umask(0177);
	r = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_mask);
	if (r < 0 || listen(c->fd, 128) < 0) {
		r = r < 0 ? r : -errno;
		goto fail;
	}
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->fd };
		if (epoll_ctl(c->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			r = -errno;
			goto fail;
		}
	}
	*ret = c;
	return 0;
fail:
	if (c->ep >= 0)
		close(c->ep);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return r;
}

int ldp_collector_fd(const struct ldp_collector *c)
{
	return c->ep;
}

static struct proc *find(struct ldp_collector *c, pid_t pid)
{
	for (struct proc *p = c->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* The thread's name, read from /proc the first time the thread is seen ("" once gone). */
static const char *thread_name(struct proc *p, uint32_t tid)
{
	char path[64];
	struct tname *t;
	ssize_t n;
	int fd;

	for (unsigned i = 0; i < p->nnames; i++)
		if (p->names[i].tid == tid)
			return p->names[i].name;
	t = &p->names[p->nnames < NAMES ? p->nnames++ : tid % NAMES];
	t->tid = tid;
	t->name[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", (int)p->pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, t->name, sizeof(t->name) - 1);
		close(fd);
		if (n > 0 && t->name[n - 1] == '\n')
			n--;
		t->name[n > 0 ? n : 0] = 0;
	}
	return t->name;
}

struct drain_ctx {
	struct ldp_collector *c;
	struct proc *p;
};

static void one_sample(void *ctx, const struct ldp_ring_sample *s)
{
	struct drain_ctx *dc = ctx;
	struct proc *p = dc->p;
	uint64_t w = s->weight ? s->weight : 1;

	if (s->flags & LDP_RING_F_EXEC) {
		p->exec_seen = 1;
		return;
	}
	if (p->exec_seen) { /* past the mark: not this image's */
		dc->c->st.bad++;
		return;
	}

	/* a weight past a minute of periods is no timer's overrun: a scribbled slot */
	if (w > 60ull * 1000000000ull / (uint64_t)dc->c->period_ns) {
		dc->c->st.bad++;
		return;
	}
	if (ldp_agent_prof_add_n(p->prof, s->tid, thread_name(p, s->tid), s->frames, s->nframes, w) == 0) {
		dc->c->st.samples++;
		dc->c->st.weight += w;
	}
	if (!p->stale && ldp_agent_prof_unmapped(p->prof, s->frames, s->nframes))
		p->stale = true;
}

/* The header's counters grow in the process: take what they grew by since the last look,
 * ignoring any that went down (a scribble). Hints, for the stats only. */
static void counters(struct ldp_collector *c, struct proc *p)
{
	const volatile struct ldp_ring_hdr *h = (const volatile struct ldp_ring_hdr *)p->ring.mem;
	uint64_t now;

#define GROW(field, stat)                                  \
	do {                                               \
		now = h->field;                            \
		if (now > p->last.field)                   \
			c->st.stat += now - p->last.field; \
		p->last.field = now;                       \
	} while (0)
	GROW(dropped, dropped);
	GROW(walked_whole, walked_whole);
	GROW(stopped_no_object, stopped_no_object);
	GROW(stopped_no_rule, stopped_no_rule);
	GROW(handler_cycles, handler_cycles);
	GROW(handled, handled);
#undef GROW
}

static unsigned drain(struct ldp_collector *c, struct proc *p)
{
	struct drain_ctx dc = { c, p };
	uint64_t bad = p->ring.bad;
	unsigned n;

	n = ldp_ring_drain(&p->ring, one_sample, &dc, DRAIN_MAX);
	c->st.bad += p->ring.bad - bad;
	counters(c, p);
	return n;
}

/* The tick's drain of a live ring, and when the next one is due: before a third of the slots
 * can fill at the rate this one saw, which leaves room for the rate to triple (threads
 * started, say) before a sample is lost. Soonest when samples were lost, a lap was taken, or
 * a slot is stuck (it is skipped after a few drains). */
static void drain_paced(struct ldp_collector *c, struct proc *p, int64_t now)
{
	uint64_t dropped = c->st.dropped;
	int64_t dt = now - p->drained_ns;
	unsigned n = drain(c, p);

	if (c->st.dropped != dropped || n >= p->ring.nslots || p->ring.stuck_drains || dt <= 0)
		p->every_ns = TICK_MIN_NS;
	else if (!n)
		p->every_ns = TICK_MAX_NS;
	else
		p->every_ns = dt * (int64_t)p->ring.nslots / (3 * (int64_t)n);
	if (p->every_ns < TICK_MIN_NS)
		p->every_ns = TICK_MIN_NS;
	if (p->every_ns > TICK_MAX_NS)
		p->every_ns = TICK_MAX_NS;
	p->drained_ns = now;
}

static void ship(struct ldp_collector *c, struct proc *p)
{
	struct ldp_shipment s;

	p->shipped_ns = mono_ns();
	if (!ldp_agent_prof_samples(p->prof))
		return;
	if (!c->d) {
		ldp_agent_prof_free_window(p->prof);
		return;
	}
	if (ldp_agent_prof_shipment(p->prof, real_ns(), &s) < 0)
		return;
	if (ldp_deliver_submit(c->d, &s) == 0)
		c->st.profiles++;
}

/* The last drain and the last window; then forgotten. */
static void end(struct ldp_collector *c, struct proc *p)
{
	struct proc **pp;

	drain(c, p);
	ship(c, p);
	for (pp = &c->procs; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	c->nprocs--;
	c->st.ring_bytes -= p->ring.len;
	ldp_ring_detach(&p->ring);
	ldp_agent_prof_free(p->prof);
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p);
}

/* -EDQUOT when a ring of len bytes from uid would pass a limit (ldp_collector_limit). */
static int over_limit(const struct ldp_collector *c, uid_t uid, uint64_t len)
{
	uint64_t n = 0, bytes = 0;

	if (c->lim.bytes && c->st.ring_bytes + len > c->lim.bytes)
		return -EDQUOT;
	if (uid == 0 || (!c->lim.rings_per_uid && !c->lim.bytes_per_uid))
		return 0;
	for (const struct proc *p = c->procs; p; p = p->next)
		if (p->uid == uid) {
			n++;
			bytes += p->ring.len;
		}
	if ((c->lim.rings_per_uid && n + 1 > c->lim.rings_per_uid) ||
	    (c->lim.bytes_per_uid && bytes + len > c->lim.bytes_per_uid))
		return -EDQUOT;
	return 0;
}

/* A ring just taken is drained within the shortest tick: its pace is not known yet, and a
 * fast producer's ring holds little more than 125 ms. */
static void tick_soon(struct ldp_collector *c)
{
	int64_t soon = mono_ns() + TICK_MIN_NS;

	if (c->due_ns > soon)
		c->due_ns = soon;
}

/* The ring in ringfd (the caller's to close) as pid's, uid's; *pidfd (of pid) becomes the
 * collector's on success. 0 or -errno. */
static int add(struct ldp_collector *c, pid_t pid, uid_t uid, int *pidfd, int ringfd)
{
	struct proc *p, *old;
	uint64_t per;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = ldp_ring_attach(ringfd, &p->ring);
	if (r < 0)
		goto fail;
	/* The same pid again: the process exec'd a new image, which made a ring of its own. */
	old = find(c, pid);
	if (old)
		end(c, old);
	/* from here on a refusal is said in the ring: the process stops sampling into it */
	r = -ENOSPC;
	if (c->nprocs >= MAX_PROCS)
		goto fail;
	r = over_limit(c, uid, p->ring.len);
	if (r < 0) {
		c->st.limited++;
		goto fail;
	}
	/* the rate the producer samples at (its own config): never faster than ours, the rate
	 * this collector is sized and limited for; a slower one's samples weigh its period */
	per = ldp_ring_period(&p->ring);
	r = -ERANGE;
	if (per && (per < (uint64_t)c->period_ns || per > 1000000000ull))
		goto fail;
	r = ldp_agent_prof_new(pid, per ? (int64_t)per : c->period_ns, c->sc, uid, &p->prof);
	if (r < 0)
		goto fail;
	ldp_agent_prof_set_source(p->prof, NULL);
	ldp_agent_prof_refresh(p->prof);
	p->pid = pid;
	p->uid = uid;
	p->pidfd = *pidfd;
	*pidfd = -1;
	p->refreshed_ns = p->shipped_ns = p->drained_ns = mono_ns();
	p->every_ns = TICK_MIN_NS;
	tick_soon(c);
	p->next = c->procs;
	c->procs = p;
	c->nprocs++;
	c->st.rings++;
	c->st.ring_bytes += p->ring.len;
	return 0;
fail:
	if (p->ring.mem) {
		ldp_ring_refuse(&p->ring, r == -ERANGE ? LDP_RING_REFUSED_RATE : LDP_RING_REFUSED);
		ldp_ring_detach(&p->ring);
	}
	free(p);
	return r;
}

/* A ring's message on conn: the ring's descriptor in *ringfd (the caller's to close). 0,
 * -EAGAIN (no message yet), or -errno (not a ring's message: every descriptor that came
 * along closed). */
static int recv_ring(int conn, int *ringfd)
{
	char buf[LDP_AGENT_REQ_MAX + 1], ctl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	ssize_t n;

	*ringfd = -1;
	n = recvmsg(conn, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* every descriptor that came along is ours to close; only one, with the right words */
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*ringfd < 0)
				*ringfd = fd;
			else
				close(fd);
		}
	}
	buf[n] = 0;
	if ((size_t)n != strlen(LDP_AGENT_REQ_RING) || memcmp(buf, LDP_AGENT_REQ_RING, (size_t)n) ||
	    (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || *ringfd < 0) {
		if (*ringfd >= 0)
			close(*ringfd);
		*ringfd = -1;
		return -EPROTO;
	}
	return 0;
}

#define TREE_DEPTH 256

/* Is pid a descendant of root, now? Its parents read from /proc one by one: a parent that
 * exits meanwhile ends the walk (-ESRCH), as does a daemon reparented away from the tree. */
static int in_tree(pid_t pid, pid_t root)
{
	for (int i = 0; i < TREE_DEPTH && pid > 1; i++) {
		if (ldp_proc_ppid(pid, &pid) < 0)
			return 0;
		if (pid == root)
			return 1;
	}
	return 0;
}

/* One connection: its message, its ring, its peer. 0, -EAGAIN (no message yet: keep it), or
 * -errno (refused). */
int ldp_collector_take(struct ldp_collector *c, int conn, pid_t *taken)
{
	int ringfd = -1, pidfd = -1, r;
	pid_t pid;
	uid_t uid = (uid_t)-1;

	r = recv_ring(conn, &ringfd);
	if (r == -EAGAIN)
		return r;
	if (r < 0)
		goto out;
	r = ldp_peer_get(conn, &pid, &uid, &pidfd, NULL);
	if (r < 0)
		goto out;
	/* the peer still there after the walk: its pid was not reused meanwhile */
	if (c->tree && uid != geteuid() &&
	    (!in_tree(pid, c->tree) || (pidfd >= 0 && ldp_peer_exited(pidfd)))) {
		struct ldp_ring ring;

		/* said in the ring, so that its sampler stops instead of filling it for nobody */
		if (ldp_ring_attach(ringfd, &ring) == 0) {
			ldp_ring_refuse(&ring, LDP_RING_REFUSED);
			ldp_ring_detach(&ring);
		}
		r = -EPERM;
		goto out;
	}
	r = add(c, pid, uid, &pidfd, ringfd);
	if (r == 0 && taken)
		*taken = pid;
out:
	if (ringfd >= 0)
		close(ringfd);
	if (pidfd >= 0)
		close(pidfd);
	if (r < 0) {
		c->st.refused++;
		if (r == -EDQUOT)
			say(c, 1, "collector: a ring of uid %u refused: past the limit on rings",
			    (unsigned)uid);
		else if (r == -EPERM)
			say(c, 1, "collector: a ring of uid %u refused: not of this tree", (unsigned)uid);
		else if (r == -ERANGE)
			say(c, 1, "collector: a ring of uid %u refused: it samples faster than %lld Hz",
			    (unsigned)uid, (long long)(1000000000LL / c->period_ns));
		else
			say(c, 1, "collector: a ring refused: %s", strerror(-r));
	}
	return r;
}

int ldp_collector_refuse(int conn, uint32_t why)
{
	struct ldp_ring ring;
	int ringfd, r;

	r = recv_ring(conn, &ringfd);
	if (r < 0)
		return r;
	r = ldp_ring_attach(ringfd, &ring);
	close(ringfd);
	if (r < 0)
		return r;
	ldp_ring_refuse(&ring, why);
	ldp_ring_detach(&ring);
	return 0;
}

int ldp_collector_adopt(struct ldp_collector *c, pid_t pid, int ringfd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), r;
	uid_t ruid, euid;

	if (pidfd < 0)
		return -errno;
	/* its effective uid, as the peer credentials of its hand-over gave it; read after the
	 * pidfd, and the process still there after the read: the uid is that process's */
	r = ldp_proc_uids(pid, &ruid, &euid);
	if (r == 0 && ldp_peer_exited(pidfd))
		r = -ESRCH;
	if (r == 0 && find(c, pid))
		r = -EEXIST;
	if (r == 0)
		r = add(c, pid, euid, &pidfd, ringfd);
	if (pidfd >= 0)
		close(pidfd);
	if (r < 0 && r != -EEXIST)
		c->st.refused++;
	return r;
}

void ldp_collector_limit(struct ldp_collector *c, const struct ldp_collector_limits *l)
{
	c->lim = *l;
}

void ldp_collector_tree(struct ldp_collector *c, pid_t root)
{
	c->tree = root;
}

int ldp_collector_room(const struct ldp_collector *c, uid_t uid)
{
	return c->nprocs < MAX_PROCS && over_limit(c, uid, ldp_ring_size(LDP_RING_MIN_SLOTS)) == 0;
}

static void pend_drop(struct ldp_collector *c, unsigned i)
{
	epoll_ctl(c->ep, EPOLL_CTL_DEL, c->pend[i].fd, NULL);
	close(c->pend[i].fd);
	c->pend[i] = c->pend[--c->npend];
}

/* A connection's message has come, or not yet (kept, on the epoll set). */
static void handle(struct ldp_collector *c, int conn, int is_pending)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = conn };
	unsigned i;

	if (ldp_collector_take(c, conn, NULL) != -EAGAIN) {
		for (i = 0; is_pending && i < c->npend; i++)
			if (c->pend[i].fd == conn) {
				pend_drop(c, i);
				return;
			}
		close(conn);
		return;
	}
	if (is_pending)
		return;
	if (c->npend == PENDING) { /* the oldest goes */
		unsigned old = 0;
		for (i = 1; i < c->npend; i++)
			if (c->pend[i].since_ns < c->pend[old].since_ns)
				old = i;
		c->st.refused++;
		pend_drop(c, old);
	}
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, conn, &ev) < 0) {
		c->st.refused++;
		close(conn);
		return;
	}
	c->pend[c->npend++] = (struct pending){ conn, mono_ns() };
}

void ldp_collector_accept(struct ldp_collector *c)
{
	struct epoll_event evs[32];
	int n, conn;

	while ((n = epoll_wait(c->ep, evs, 32, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd != c->fd) {
				handle(c, evs[i].data.fd, 1);
				continue;
			}
			while ((conn = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
				handle(c, conn, 0);
		}
		if (n < 32)
			break;
	}
}

int ldp_collector_wait_ms(const struct ldp_collector *c)
{
	int64_t left = c->due_ns - mono_ns();

	return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

void ldp_collector_tick(struct ldp_collector *c)
{
	int64_t now = mono_ns(), every = TICK_MAX_NS;
	struct proc *p, *next;

	for (unsigned i = 0; i < c->npend;) {
		if (now - c->pend[i].since_ns < PENDING_NS) {
			i++;
			continue;
		}
		c->st.refused++;
		say(c, 1, "collector: a connection refused: no message in a second");
		pend_drop(c, i);
	}
	for (p = c->procs; p; p = next) {
		next = p->next;
		if (p->ended_ns) {
			if (!ldp_agent_prof_pending(p->prof) || now - p->ended_ns >= ENDING_NS)
				end(c, p);
			continue;
		}
		/* gone: what its ring holds is all there will be; its last window waits for the
		 * symbol tables still being read, a while */
		if (p->pidfd >= 0 && ldp_peer_exited(p->pidfd)) {
			drain(c, p);
			p->ended_ns = now;
			if (!ldp_agent_prof_pending(p->prof))
				end(c, p);
			continue;
		}
		drain_paced(c, p, now);
		/* an exec: what the ring held is this image's, named with the mappings read
		 * before it; the new image hands a ring of its own */
		if (p->exec_seen) {
			p->ended_ns = now;
			if (!ldp_agent_prof_pending(p->prof))
				end(c, p);
			continue;
		}
		/* after the drain: samples taken before a new mapping appeared are named with the
		 * mappings they were taken with */
		if (now - p->refreshed_ns >= (p->stale ? REFRESH_NS : REFRESH_IDLE_NS)) {
			ldp_agent_prof_refresh(p->prof);
			p->refreshed_ns = now;
			p->stale = false;
			/* An exec between the drain and that read: the mappings read may be the new
			 * image's. Its mark went into the ring before the exec, so a drain now finds
			 * it, and the read is taken back: what the ring held is the old image's. */
			drain(c, p);
			if (p->exec_seen) {
				if (ldp_agent_prof_refresh_undo(p->prof))
					c->st.exec_undone++;
				p->ended_ns = now;
				if (!ldp_agent_prof_pending(p->prof))
					end(c, p);
				continue;
			}
		}
		if (now - p->shipped_ns >= c->flush_ns)
			ship(c, p);
		if (p->every_ns < every)
			every = p->every_ns;
	}
	c->due_ns = mono_ns() + every;
}

void ldp_collector_stats(const struct ldp_collector *c, struct ldp_collector_stats *ret)
{
	uint64_t cycles = tsc() - c->tsc0;
	int64_t ns = mono_ns() - c->mono0;

	*ret = c->st;
	ret->handler_ns = 0;
	if (cycles && ns > 0 && ret->handled)
		ret->handler_ns = (uint64_t)((double)ret->handler_cycles * (double)ns / (double)cycles /
					     (double)ret->handled);
}

const char *ldp_collector_summary(const struct ldp_collector_stats *st, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "collector: %llu rings, %llu refused; %llu samples (%llu periods), %llu dropped by "
			 "full rings, %llu bad; stacks: %llu whole, %llu stopped at an unknown address, %llu at "
			 "an unmodelled rule; handler: %.2f us per sample",
			 (unsigned long long)st->rings, (unsigned long long)st->refused,
			 (unsigned long long)st->samples, (unsigned long long)st->weight,
			 (unsigned long long)st->dropped, (unsigned long long)st->bad,
			 (unsigned long long)st->walked_whole, (unsigned long long)st->stopped_no_object,
			 (unsigned long long)st->stopped_no_rule, st->handler_ns / 1000.0);

	if (st->limited && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %llu rings past a limit", (unsigned long long)st->limited);
	return buf;
}

void ldp_collector_finish(struct ldp_collector *c)
{
	ldp_collector_accept(c);
	for (struct proc *p = c->procs; p; p = p->next)
		drain(c, p);
	if (c->sc)
		ldp_symcache_drain(c->sc, ENDING_NS);
	while (c->procs)
		end(c, c->procs);
}

void ldp_collector_free(struct ldp_collector *c)
{
	if (!c)
		return;
	ldp_collector_finish(c);
	while (c->npend)
		pend_drop(c, 0);
	close(c->ep);
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	free(c);
}
