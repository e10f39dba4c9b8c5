/* SPDX-License-Identifier: MIT
 *
 * peer.c — who is at the other end of a connection to the agent's socket (see peer.h).
 *
 * SO_PEERCRED gives the pid the peer had at connect(). By the time the agent reads the
 * request, that process may have exited and its pid gone to another process, which the
 * request would then speak for. Linux 6.5 hands out a pidfd of the connecting process
 * (SO_PEERPIDFD), which cannot be reused. Before that (Debian 12's 6.1), the agent opens a
 * pidfd of cr.pid itself and accepts it only if that process holds the other end of the
 * connection (its inode, from the unix_diag netlink interface, among the links of
 * /proc/PID/fd), and is still alive after the look. A process that holds the socket may
 * speak on it: the connecting process or a child it was handed to, the user's own either way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "peer.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int ldp_peer_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

/* The inode of the other end of the unix socket fd, from unix_diag. Returns 0 or -errno. */
static int other_end(int fd, unsigned *ret)
{
	struct {
		struct nlmsghdr nh;
		struct unix_diag_req req;
	} q;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	union {
		char buf[1024];
		struct nlmsghdr align;
	} a;
	struct stat st;
	ssize_t n;
	int nl, r = -ENOENT;

	if (fstat(fd, &st) < 0)
		return -errno;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	memset(&q, 0, sizeof(q));
	q.nh.nlmsg_len = sizeof(q);
	q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_ino = (unsigned)st.st_ino;
	q.req.udiag_show = UDIAG_SHOW_PEER;
	q.req.udiag_cookie[0] = q.req.udiag_cookie[1] = (unsigned)-1; /* no cookie: by inode */
	if (sendto(nl, &q, sizeof(q), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	n = recv(nl, a.buf, sizeof(a.buf), 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = &a.align; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		struct unix_diag_msg *m = NLMSG_DATA(h);
		int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));

		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);
			r = e->error ? e->error : -ENOENT;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || len < 0)
			continue;
		for (struct rtattr *at = (struct rtattr *)(m + 1); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
			if (at->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(at) >= sizeof(unsigned)) {
				memcpy(ret, RTA_DATA(at), sizeof(unsigned));
				r = 0;
			}
		}
		break;
	}
out:
	close(nl);
	return r;
}

/* 0 when process pid has a descriptor on socket inode ino, -ESRCH when not, -E2BIG when it
 * has more than LDP_PEER_MAX_FDS to look through. */
static int holds(pid_t pid, unsigned ino)
{
	char dir[64], want[32], link[64];
	struct dirent *de;
	unsigned seen = 0;
	ssize_t n;
	DIR *d;
	int r = -ESRCH, dfd;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	n = snprintf(want, sizeof(want), "socket:[%u]", ino);
	d = opendir(dir);
	if (!d)
		return -ESRCH;
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (++seen > LDP_PEER_MAX_FDS) {
			r = -E2BIG;
			break;
		}
		if (readlinkat(dfd, de->d_name, link, sizeof(link)) == n && !memcmp(link, want, (size_t)n)) {
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

int ldp_peer_get(int fd, pid_t *pid, uid_t *uid, int *pidfd, enum ldp_peer_how *how)
{
	enum ldp_peer_how h = LDP_PEER_PIDFD;
	struct ucred cr;
	socklen_t n = sizeof(cr);
	unsigned ino;
	int r;

	*pidfd = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) < 0)
		return -errno;
	n = sizeof(*pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, pidfd, &n) < 0) {
		*pidfd = -1;
		/* The kernel knows the option but has no process for it: the peer was reaped (and
		 * cr.pid may be someone else's by now). */
		if (errno != ENOPROTOOPT)
			return -ESRCH;
		/* No SO_PEERPIDFD: a pidfd of whoever has the pid now, which must hold the socket. */
		h = LDP_PEER_HOLDER;
		r = other_end(fd, &ino);
		if (r == 0)
			*pidfd = (int)syscall(SYS_pidfd_open, cr.pid, 0);
		if (r < 0 || *pidfd < 0) {
			if (*pidfd < 0 && r == 0 && errno == ESRCH)
				return -ESRCH;
			h = LDP_PEER_UNCHECKED; /* no unix_diag or no pidfd_open: as before 6.5 */
		} else if ((r = holds(cr.pid, ino)) < 0) {
			close(*pidfd);
			*pidfd = -1;
			return r;
		}
	}
	/* The pidfd is the process cr.pid was (or, above, is): gone since is refused. */
	if (*pidfd >= 0 && ldp_peer_exited(*pidfd)) {
		close(*pidfd);
		*pidfd = -1;
		return -ESRCH;
	}
	*pid = cr.pid;
	*uid = cr.uid;
	if (how)
		*how = h;
	return 0;
}
