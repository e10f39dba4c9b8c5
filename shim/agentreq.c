/* SPDX-License-Identifier: MIT
 *
 * agentreq.c — the shim's side of the ldprof-agent protocol (see agentreq.h, agentproto.h).
 *
 * One call = one connection: socket, connect, one send, one poll, one receive, close. The
 * socket is non-blocking and close-on-exec from its creation, so a connect to a missing or
 * dead agent fails at once (ENOENT, ECONNREFUSED; a full backlog is EAGAIN) and a fork or
 * exec in another thread never inherits it. The send carries MSG_NOSIGNAL: an agent that went
 * away gives EPIPE, never a SIGPIPE to the program. One deadline, LDP_AGENT_REPLY_MS from the
 * start, bounds everything, EINTR restarts included: the program's start-up (or its
 * sigaction() call) is delayed by that much at worst, whatever the agent does.
 *
 * Linked into the libc-free first stage: raw system calls (rawsys.h), no errno, no global
 * data, nothing but the caller's buffers written. Async-signal-safe.
 * Never: block past the deadline, leave the descriptor open on any path, trust the reply
 * (it is checked byte by byte and cut to the caller's buffer).
 */
#include <linux/errno.h>
#include <stdint.h>

#include "agentproto.h"
#include "agentreq.h"
#include "rawsys.h"

#define AF_UNIX_ 1
#define SOCK_SEQPACKET_ 5
#define SOCK_NONBLOCK_ 04000
#define SOCK_CLOEXEC_ 02000000
#define MSG_DONTWAIT_ 0x40
#define MSG_NOSIGNAL_ 0x4000
#define POLLIN_ 1
#define NS_PER_MS 1000000L

struct sockaddr_un_ {
	unsigned short family;
	char path[108];
};

struct pollfd_ {
	int fd;
	short events, revents;
};

static long now_ns(void)
{
	return (long)sys_clock_ns(LDP_CLOCK_MONOTONIC);
}

/* Does s[0..n) start with word, followed by the end or a blank? *rest gets what follows. */
static int word(const char *s, long n, const char *w, const char **rest)
{
	long i = 0;

	for (; w[i]; i++)
		if (i >= n || s[i] != w[i])
			return 0;
	if (i < n && s[i] != ' ')
		return 0;
	*rest = s + (i < n ? i + 1 : i);
	return 1;
}

/* "LDPA1 ok [detail]" or "LDPA1 no [reason]", printable ASCII only. Returns 0 or -EPROTO. */
static int parse(const char *reply, long n, int *ret_ok, char *ret_detail, size_t detail_len)
{
	const char *rest;
	size_t k = 0;
	int ok;

	for (long i = 0; i < n; i++)
		if (reply[i] < 0x20 || reply[i] > 0x7e)
			return -EPROTO;
	if (word(reply, n, LDP_AGENT_REPLY_OK, &rest))
		ok = 1;
	else if (word(reply, n, LDP_AGENT_REPLY_NO, &rest))
		ok = 0;
	else
		return -EPROTO;
	for (; rest < reply + n && k + 1 < detail_len; rest++)
		ret_detail[k++] = *rest;
	if (detail_len)
		ret_detail[k] = 0;
	*ret_ok = ok;
	return 0;
}

/* A connected, non-blocking socket to socket_path in *fd (closed by the caller), or -errno. */
static int dial(const char *socket_path, long deadline, long *fd)
{
	struct sockaddr_un_ sa;
	unsigned long len = 0;
	long n;

	*fd = -1;
	while (socket_path && socket_path[len] && len < sizeof(sa.path))
		len++;
	if (!len || len >= sizeof(sa.path) || socket_path[0] != '/')
		return -EINVAL;
	sa.family = AF_UNIX_;
	for (unsigned long i = 0; i <= len; i++)
		sa.path[i] = socket_path[i];
	/* No agent installed (the common case): one system call instead of a socket's two. */
	if (sys_access(socket_path, 0) == -ENOENT)
		return -ENOENT;
	*fd = sys3(NR_socket, AF_UNIX_, SOCK_SEQPACKET_ | SOCK_NONBLOCK_ | SOCK_CLOEXEC_, 0);
	if (*fd < 0)
		return (int)*fd;
	do
		n = sys3(NR_connect, *fd, (long)&sa, (long)(sizeof(sa.family) + len + 1));
	while (n == -EINTR && now_ns() < deadline);
	return n < 0 ? (int)n : 0;
}

int ldp_agentreq_ask(const char *socket_path, const char *request, int *ret_ok, char *ret_detail,
		     size_t detail_len)
{
	long deadline = now_ns() + LDP_AGENT_REPLY_MS * NS_PER_MS, fd = -1, n = -EINVAL, left;
	char reply[LDP_AGENT_REPLY_MAX];
	unsigned long reqlen = 0;
	int r;

	while (request[reqlen] && reqlen < LDP_AGENT_REQ_MAX)
		reqlen++;
	r = dial(socket_path, deadline, &fd);
	if (r < 0)
		goto out;
	do
		n = sys6(NR_sendto, fd, (long)request, (long)reqlen, MSG_DONTWAIT_ | MSG_NOSIGNAL_, 0, 0);
	while (n == -EINTR && now_ns() < deadline);
	if (n < 0) {
		r = n == -EPIPE ? -ECONNRESET : (int)n;
		goto out;
	}
	/* Wait for the reply until the deadline; a signal only costs a new poll with what is left. */
	for (;;) {
		struct pollfd_ p = { (int)fd, POLLIN_, 0 };
		struct ldp_k_timespec t;

		left = deadline - now_ns();
		r = -ETIMEDOUT;
		if (left <= 0)
			goto out;
		t.sec = left / LDP_NS_PER_S;
		t.nsec = left % LDP_NS_PER_S;
		n = sys6(NR_ppoll, (long)&p, 1, (long)&t, 0, 8, 0);
		if (n == -EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? (int)n : -ETIMEDOUT;
			goto out;
		}
		n = sys6(NR_recvfrom, fd, (long)reply, sizeof(reply), MSG_DONTWAIT_, 0, 0);
		if (n != -EINTR && n != -EAGAIN)
			break;
	}
	if (n <= 0) {
		r = n == 0 || n == -EPIPE ? -ECONNRESET : (int)n;
		goto out;
	}
	r = parse(reply, n, ret_ok, ret_detail, detail_len);
out:
	if (fd >= 0)
		sys3(NR_close, fd, 0, 0);
	return r;
}

struct iovec_ {
	const void *base;
	unsigned long len;
};

struct msghdr_ {
	void *name;
	unsigned name_len;
	struct iovec_ *iov;
	unsigned long iovlen;
	void *control;
	unsigned long controllen;
	int flags;
};

#define SOL_SOCKET_ 1
#define SCM_RIGHTS_ 1

int ldp_agentreq_hand(const char *socket_path, const char *request, int pass)
{
	long deadline = now_ns() + LDP_AGENT_REPLY_MS * NS_PER_MS, fd = -1, n;
	/* struct cmsghdr (len, level, type) and one descriptor, 8-aligned */
	union {
		uint64_t align;
		unsigned char b[24];
	} ctl;
	struct iovec_ iov;
	struct msghdr_ m;
	unsigned long reqlen = 0;
	int r;

	while (request[reqlen] && reqlen < LDP_AGENT_REQ_MAX)
		reqlen++;
	r = dial(socket_path, deadline, &fd);
	if (r < 0)
		goto out;
	*(uint64_t *)ctl.b = 20; /* cmsg_len: the header's 16 bytes and the int */
	*(int *)(ctl.b + 8) = SOL_SOCKET_;
	*(int *)(ctl.b + 12) = SCM_RIGHTS_;
	*(int *)(ctl.b + 16) = pass;
	*(int *)(ctl.b + 20) = 0;
	iov.base = request;
	iov.len = reqlen;
	m = (struct msghdr_){ 0, 0, &iov, 1, ctl.b, sizeof(ctl.b), 0 };
	do
		n = sys3(NR_sendmsg, fd, (long)&m, MSG_DONTWAIT_ | MSG_NOSIGNAL_);
	while (n == -EINTR && now_ns() < deadline);
	r = n < 0 ? (n == -EPIPE ? -ECONNRESET : (int)n) : 0;
out:
	if (fd >= 0)
		sys3(NR_close, fd, 0, 0);
	return r;
}

const char *ldp_agentreq_why(int err)
{
	switch (err) {
	case -EINVAL:
		return "the socket is not an absolute path of at most 107 bytes";
	case -ENOENT:
		return "no socket";
	case -ECONNREFUSED:
		return "nobody listening";
	case -EAGAIN:
		return "busy";
	case -EACCES:
	case -EPERM:
		return "not allowed to connect";
	case -ETIMEDOUT:
		return "no reply in time";
	case -ECONNRESET:
		return "closed without a reply";
	case -EPROTO:
		return "a reply that is not the protocol's";
	default:
		return "cannot connect";
	}
}
