/* SPDX-License-Identifier: MIT
 *
 * agentreq.h — the shim's side of the ldprof-agent protocol (common/agentproto.h): one
 * request, one reply, over a fresh AF_UNIX SOCK_SEQPACKET connection.
 *
 * Linked into the libc-free first stage (raw system calls only). Async-signal-safe: it may run
 * inside a signal handler (the deferred activation's, or the program's: a sigaction() there
 * makes the sampler step aside and ask).
 * Never: wait longer than LDP_AGENT_REPLY_MS in all, raise SIGPIPE, leave a descriptor open,
 * touch errno, or write anywhere but the caller's buffer.
 */
#ifndef LDP_AGENTREQ_H
#define LDP_AGENTREQ_H

#include <stddef.h>

/* Sends request (one of agentproto.h's LDP_AGENT_REQ_*) to the agent listening at
 * socket_path and reads its reply. Returns 0 when the agent answered: *ret_ok is 1 for
 * "LDPA1 ok", 0 for "LDPA1 no", and ret_detail holds what followed (printable ASCII,
 * NUL-terminated, cut to detail_len). Otherwise -errno, and nothing is written:
 *   -EINVAL        socket_path is empty, relative or longer than sun_path allows;
 *   -ENOENT, -ECONNREFUSED, -EAGAIN (backlog full), ...: no agent listening;
 *   -ETIMEDOUT     no reply within LDP_AGENT_REPLY_MS;
 *   -ECONNRESET    the agent closed the connection without a reply;
 *   -EPROTO        the reply is not one of the protocol's. */
int ldp_agentreq_ask(const char *socket_path, const char *request, int *ret_ok, char *ret_detail,
		     size_t detail_len);

/* Sends request with the descriptor fd (SCM_RIGHTS) to the collector listening at
 * socket_path, and waits for no reply: a sampled process never waits for its collector.
 * Returns 0 once the message is queued on the connection, or -errno as above (-EAGAIN: the
 * collector's backlog is full). */
int ldp_agentreq_hand(const char *socket_path, const char *request, int fd);

/* A few words for a log line or `ldprof status`: why there was no answer (-errno of the
 * above). Static text. */
const char *ldp_agentreq_why(int err);

#endif
