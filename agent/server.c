/* SPDX-License-Identifier: MIT
 *
 * server.c — the registration socket of ldprof-agent (see server.h, common/agentproto.h).
 *
 * Who asks is the peer of the connection: a pidfd of it (peer.c: a pid reused after the client
 * died cannot be mistaken for it) and its uid (SO_PEERCRED). The message only says
 * what is asked. Requests that would add state (a new registration, a process to sample) take
 * a token from the peer uid's bucket; an empty bucket refuses. Refusals and garbage are logged,
 * at most a few lines a minute, with counts of what was not logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "bucket.h"
#include "collector.h"
#include "peer.h"
#include "ring.h"
#include "server.h"

#define MAX_PENDING 64
#define PENDING_NS 1000000000LL
/* New registrations and sample requests per uid: a burst, then a steady rate per second. */
#define BUCKET_BURST 200.0
#define BUCKET_RATE 100.0
#define LOG_PER_MINUTE 10
#define STATUS_MAX (64 * 1024)

struct pending {
	int fd;
	int64_t deadline;
};

struct ldp_server {
	int lfd, efd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ldp_server_ops *ops;
	void *ctx;
	struct pending pend[MAX_PENDING];
	unsigned npend;
	struct ldp_uid_buckets buckets;
	int64_t log_minute;
	unsigned logged, unlogged;
	int said_how;
	struct ldp_server_stats st;
	char *status_buf;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Logs at most LOG_PER_MINUTE problem lines a minute; says how many it held back. */
static int may_log(struct ldp_server *s)
{
	int64_t minute = mono_ns() / (60 * 1000000000LL);

	if (minute != s->log_minute) {
		if (s->unlogged)
			s->ops->log(s->ctx, 2, "%u more refused or garbage requests not logged",
				    s->unlogged);
		s->log_minute = minute;
		s->logged = s->unlogged = 0;
	}
	if (s->logged >= LOG_PER_MINUTE) {
		s->unlogged++;
		return 0;
	}
	s->logged++;
	return 1;
}


static void reply(int fd, const char *msg, size_t len)
{
	/* Non-blocking, no SIGPIPE: a client that left gets nothing. */
	(void)send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void refuse(int fd, const char *why)
{
	char m[LDP_AGENT_REPLY_MAX];
	int n = snprintf(m, sizeof(m), "%s %s", LDP_AGENT_REPLY_NO, why);

	reply(fd, m, (size_t)n < sizeof(m) ? (size_t)n : sizeof(m) - 1);
}

static int answer(struct ldp_server *s, int fd, char *req, ssize_t n, pid_t pid, uid_t uid);

/* A ring: a new ring is new state, so it takes a token from its uid's bucket (its uid from
 * the connection; the collector checks the peer again, with a pidfd). */
static int serve_ring(struct ldp_server *s, int fd)
{
	struct ucred cr = { 0, (uid_t)-1, (gid_t)-1 }; /* a uid no bucket is for, if unreadable */
	socklen_t len = sizeof(cr);
	int r;

	s->st.requests++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    !ldp_uid_bucket_take(&s->buckets, cr.uid, BUCKET_BURST, BUCKET_RATE, mono_ns())) {
		s->st.limited++;
		if (may_log(s))
			s->ops->log(s->ctx, 2, "uid %u: too many rings handed over, refused",
				    (unsigned)cr.uid);
		/* taken off the socket and marked refused, so that its sampler stops (a ring
		 * dropped unread would be written into for nothing) */
		ldp_collector_refuse(fd, LDP_RING_REFUSED);
		return 0;
	}
	r = s->ops->ring(s->ctx, fd);
	if (r < 0 && r != -EAGAIN)
		s->st.refused++;
	return 0;
}

/* Reads and answers the request waiting on fd. Returns 0 when done (close fd), -EAGAIN when
 * the request has not arrived yet. */
static int serve(struct ldp_server *s, int fd)
{
	char req[LDP_AGENT_REQ_MAX + 1];
	ssize_t n;
	enum ldp_peer_how how = LDP_PEER_PIDFD;
	pid_t pid = 0;
	uid_t uid = 0;
	int pidfd = -1, r;

	/* a look first: a ring's message carries its descriptor, which a plain recv() would drop */
	n = recv(fd, req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n <= 0)
		return 0; /* closed before asking */
	if ((size_t)n == strlen(LDP_AGENT_REQ_RING) && !memcmp(req, LDP_AGENT_REQ_RING, (size_t)n) &&
	    s->ops->ring)
		return serve_ring(s, fd);
	n = recv(fd, req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
	if (n <= 0)
		return 0;
	s->st.requests++;
	r = ldp_peer_get(fd, &pid, &uid, &pidfd, &how);
	if (r < 0) {
		s->st.refused++;
		if (may_log(s))
			s->ops->log(s->ctx, 1, "a request from a process that %s ignored",
				    r == -E2BIG ? "holds too many descriptors to check" :
				    "has exited (or does not hold the connection)");
		return 0; /* gone, or no credentials: nobody to answer */
	}
	if (how != LDP_PEER_PIDFD && !s->said_how) {
		s->said_how = 1;
		s->ops->log(s->ctx, 1, how == LDP_PEER_HOLDER ?
			    "this kernel has no SO_PEERPIDFD: a requester is the process at the peer's pid "
			    "only if it holds the connection" :
			    "this kernel has no SO_PEERPIDFD, and unix_diag or pidfd_open is missing: a "
			    "requester's pid is taken as the kernel gave it at connect(), and could have "
			    "been reused");
	}
	r = answer(s, fd, req, n, pid, uid);
	/* It exited while we marked it: its exit hook may have run before the marks were set, and
	 * its pid could be reused; take them back. */
	if (pidfd >= 0 && r == 1 && ldp_peer_exited(pidfd))
		s->ops->forget(s->ctx, pid);
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

/* Answers one request of pid. Returns 1 when it marked the process, else 0. */
static int answer(struct ldp_server *s, int fd, char *req, ssize_t n, pid_t pid, uid_t uid)
{
	const char *why = NULL, *what;
	int r;

	if ((size_t)n > LDP_AGENT_REQ_MAX) {
		s->st.garbage++;
		if (may_log(s))
			s->ops->log(s->ctx, 2, "pid %d uid %u: request of %zd bytes refused", (int)pid,
				    (unsigned)uid, n);
		refuse(fd, "bad request");
		return 0;
	}
	req[n] = 0;
	if (!strcmp(req, LDP_AGENT_REQ_STATUS)) {
		size_t len = strlen(LDP_AGENT_REPLY_OK) + 1;

		memcpy(s->status_buf, LDP_AGENT_REPLY_OK "\n", len);
		len += s->ops->status(s->ctx, uid == 0 ? (uid_t)-1 : uid, s->status_buf + len,
				      STATUS_MAX - len);
		reply(fd, s->status_buf, len);
		return 0;
	}
	if (!strcmp(req, LDP_AGENT_REQ_REGISTER)) {
		what = "register";
	} else if (!strcmp(req, LDP_AGENT_REQ_SAMPLE_GO)) {
		what = "go";
	} else if (!strcmp(req, LDP_AGENT_REQ_SAMPLE_SIGPROF)) {
		what = "sigprof";
	} else if (!strcmp(req, LDP_AGENT_REQ_SAMPLE_SECCOMP)) {
		what = "seccomp";
	} else {
		s->st.garbage++;
		if (may_log(s)) {
			char shown[LDP_AGENT_REQ_MAX + 1];

			/* Printable bytes only: the log must not carry what a client wrote raw. */
			for (ssize_t i = 0; i <= n; i++)
				shown[i] = i == n ? 0 : (req[i] >= 0x20 && req[i] < 0x7f ? req[i] : '?');
			s->ops->log(s->ctx, 2, "pid %d uid %u: garbage request refused: \"%s\"",
				    (int)pid, (unsigned)uid, shown);
		}
		refuse(fd, "bad request");
		return 0;
	}
	/* A request that changes nothing (the fork hook already passed a registration on, the
	 * process is sampled already) is free. */
	if (!s->ops->known(s->ctx, pid, what) && !ldp_uid_bucket_take(&s->buckets, uid, BUCKET_BURST, BUCKET_RATE, mono_ns())) {
		s->st.limited++;
		if (may_log(s))
			s->ops->log(s->ctx, 2, "pid %d uid %u: too many requests, refused", (int)pid,
				    (unsigned)uid);
		refuse(fd, "rate limit");
		return 0;
	}
	if (what[0] == 'r')
		r = s->ops->reg(s->ctx, pid, uid, &why);
	else
		r = s->ops->sample(s->ctx, pid, uid, what, &why);
	if (r < 0) {
		s->st.refused++;
		if (may_log(s))
			s->ops->log(s->ctx, 2, "pid %d uid %u: %s refused: %s", (int)pid,
				    (unsigned)uid, req + 6, why ? why : strerror(-r));
		refuse(fd, why ? why : "refused");
		return 0;
	}
	if (what[0] == 'r') {
		const char *note = s->ops->offer ? s->ops->offer(s->ctx, uid) : NULL;
		char line[LDP_AGENT_REQ_MAX + 1];

		snprintf(line, sizeof(line), "%s registered%s", LDP_AGENT_REPLY_OK, note ? note : "");
		reply(fd, line, strlen(line));
	} else
		reply(fd, LDP_AGENT_REPLY_OK " sampling", strlen(LDP_AGENT_REPLY_OK " sampling"));
	return 1;
}

static void drop_pending(struct ldp_server *s, unsigned i)
{
	epoll_ctl(s->efd, EPOLL_CTL_DEL, s->pend[i].fd, NULL);
	close(s->pend[i].fd);
	s->pend[i] = s->pend[--s->npend];
}

static void add_pending(struct ldp_server *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };

	if (s->npend == MAX_PENDING) {
		unsigned old = 0;

		for (unsigned i = 1; i < s->npend; i++)
			if (s->pend[i].deadline < s->pend[old].deadline)
				old = i;
		drop_pending(s, old); /* the slowest client makes room */
	}
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	s->pend[s->npend].fd = fd;
	s->pend[s->npend].deadline = mono_ns() + PENDING_NS;
	s->npend++;
}

void ldp_server_handle(struct ldp_server *s)
{
	int64_t now = mono_ns();
	int fd;

	/* Clients that have sent their request since the last call, and those out of time. */
	for (unsigned i = 0; i < s->npend;) {
		if (serve(s, s->pend[i].fd) == -EAGAIN && now < s->pend[i].deadline) {
			i++;
			continue;
		}
		drop_pending(s, i);
	}
	for (int k = 0; k < 256; k++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if (serve(s, fd) == -EAGAIN)
			add_pending(s, fd);
		else
			close(fd);
	}
}

/* 1 when an agent answers on path (a live socket must not be taken over). */
static int someone_listens(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return 0;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return r;
}

/* The socket's folder, created 0755 when missing: a folder (not a link to one) that we own and
 * nobody else can write, or -EPERM. Anyone else able to change it could swap the socket for
 * something else between our calls by path (a symbolic link to a file of root's). */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	if (slash == dir)
		slash[1] = 0; /* "/" */
	else
		*slash = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return -EPERM;
	return 0;
}

int ldp_server_open(const char *path, const struct ldp_server_ops *ops, void *ctx,
		    struct ldp_server **ret)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct ldp_server *s;
	struct stat st;
	mode_t old_umask;
	int bound = 0, r;

	if (path[0] != '/' || strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lfd = s->efd = -1;
	s->ops = ops;
	s->ctx = ctx;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->status_buf = malloc(STATUS_MAX);
	if (!s->status_buf) {
		r = -ENOMEM;
		goto fail;
	}
	r = make_parent(path);
	if (r < 0)
		goto fail;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			r = -EEXIST; /* not ours to remove */
			goto fail;
		}
		if (someone_listens(path)) {
			r = -EADDRINUSE;
			goto fail;
		}
		unlink(path);
	}
	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		r = -errno;
		goto fail;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	/* Every user may connect: the socket is made 0666 by bind itself, under a umask of ours,
	 * never chmod()ed by path afterwards (the path may no longer name it). */
	old_umask = umask(0111);
	r = bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0)
		goto fail;
	bound = 1;
	if (listen(s->lfd, 128) < 0) {
		r = -errno;
		goto fail;
	}
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	if (s->efd < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.fd = s->lfd;
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (bound)
		unlink(path);
	if (s->efd >= 0)
		close(s->efd);
	free(s->status_buf);
	free(s);
	return r;
}

int ldp_server_fd(const struct ldp_server *s)
{
	return s->efd;
}

void ldp_server_stats(const struct ldp_server *s, struct ldp_server_stats *ret)
{
	*ret = s->st;
}

void ldp_server_close(struct ldp_server *s)
{
	if (!s)
		return;
	while (s->npend)
		drop_pending(s, 0);
	close(s->efd);
	close(s->lfd);
	unlink(s->path);
	free(s->status_buf);
	free(s);
}
