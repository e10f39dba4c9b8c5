/* SPDX-License-Identifier: MIT
 *
 * server.h — the agent's registration socket (common/agentproto.h): accepts connections,
 * reads one request each, identifies the peer from the socket's credentials, applies the
 * per-user limits, hands the request to the agent and answers.
 * It must never trust the message for who is asking (only SO_PEERPIDFD / SO_PEERCRED), never
 * open a file or address a client names, never block (every socket is non-blocking, a client
 * that does not send within a second is dropped) and never let one client hold more than its
 * share (per-uid rate limit, bounded pending connections).
 * One thread at a time.
 */
#ifndef LDP_AGENT_SERVER_H
#define LDP_AGENT_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct ldp_server;

/* What the agent does with a request. Each returns 0 or a negative errno; *why (a short
 * phrase for the refusal) may be set. */
struct ldp_server_ops {
	/* "register": the shim samples pid itself; cover its future static descendants. */
	int (*reg)(void *ctx, pid_t pid, uid_t uid, const char **why);
	/* "sample": sample pid from the kernel. what: "go" or "sigprof". */
	int (*sample)(void *ctx, pid_t pid, uid_t uid, const char *what, const char **why);
	/* "status": lines describing what uid may see ((uid_t)-1 for root: everything). */
	size_t (*status)(void *ctx, uid_t uid, char *buf, size_t len);
	/* Would the request change nothing (what: "register", "go", "sigprof"): pid registered
	 * already, or sampled already? Such a request costs no rate token. */
	int (*known)(void *ctx, pid_t pid, const char *what);
	/* pid exited while it was being marked: take its marks back. */
	void (*forget)(void *ctx, pid_t pid);
	/* "ring": the connection carries a sampled process's ring (SCM_RIGHTS), its message
	 * still unread; the collector takes it (ldp_collector_take). No reply: the process never
	 * waits for its collector. NULL: such a request is refused as garbage. */
	int (*ring)(void *ctx, int fd);
	/* Words appended to the reply to uid's registration ("LDPA1 ok registered" NOTE): what
	 * the agent offers the shim (" rings hz=99": it takes a ring sampled at that rate);
	 * NULL or "": nothing. */
	const char *(*offer)(void *ctx, uid_t uid);
	/* A line for the agent's log. */
	void (*log)(void *ctx, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
};

/* Binds path (its folder created 0755 if missing; a stale socket nobody answers on is
 * replaced; a live one is -EADDRINUSE), mode 0666: any user may register itself.
 * Returns 0 or -errno. */
int ldp_server_open(const char *path, const struct ldp_server_ops *ops, void *ctx,
		    struct ldp_server **ret);
/* An fd that polls readable when there is something to do (an epoll fd). */
int ldp_server_fd(const struct ldp_server *s);
/* Accepts and answers what is ready; drops clients that are too slow. Never blocks. */
void ldp_server_handle(struct ldp_server *s);
/* Unlinks the socket and closes everything. Accepts NULL. */
void ldp_server_close(struct ldp_server *s);

/* Counters for status and tests. */
struct ldp_server_stats {
	unsigned long long requests, refused, garbage, limited;
};
void ldp_server_stats(const struct ldp_server *s, struct ldp_server_stats *ret);

#endif
