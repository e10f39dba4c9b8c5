/* SPDX-License-Identifier: MIT
 *
 * peer.h — who is at the other end of a connection to the agent's socket: a pid that cannot
 * have been reused, and a uid. Never trusts what the peer says; only reads the kernel's view.
 */
#ifndef LDP_PEER_H
#define LDP_PEER_H

#include <sys/types.h>

/* How the pid was made sure of (ldprof status and the agent's log say which). */
enum ldp_peer_how {
	LDP_PEER_PIDFD,      /* SO_PEERPIDFD (Linux 6.5): the process that connected */
	LDP_PEER_HOLDER,     /* older kernels: a pidfd of cr.pid, whose process holds the socket */
	LDP_PEER_UNCHECKED,  /* neither could be checked (no unix_diag, no pidfd_open): cr.pid */
};

/* The peer of the connected unix socket fd: *pid and *uid from SO_PEERCRED, and *pidfd (the
 * caller closes it; -1 only with LDP_PEER_UNCHECKED) of that very process. -ESRCH when that
 * process has exited, or, without SO_PEERPIDFD, when the process now at that pid does not hold
 * the other end of the connection (the pid was reused, or the connection was handed to
 * another process); -E2BIG when it holds more than LDP_PEER_MAX_FDS descriptors to look
 * through. how (may be NULL) says which check was made. Returns 0 or -errno. */
int ldp_peer_get(int fd, pid_t *pid, uid_t *uid, int *pidfd, enum ldp_peer_how *how);

#define LDP_PEER_MAX_FDS 4096

/* 1 when the process behind pidfd has exited (a zombie too), else 0. */
int ldp_peer_exited(int pidfd);

#endif
