/* SPDX-License-Identifier: MIT
 *
 * agentproto.h — the registration protocol between a process carrying the shim and
 * ldprof-agent. Constants only: it is included by the libc-free first stage, the CLI and the
 * agent alike.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket ([agent] socket, default below; an empty value
 * means never ask). One connection carries one request and one reply, each a single message of
 * ASCII text with no trailing newline:
 *
 *   "LDPA1 register"        the shim samples this process itself: never sample it from the
 *                           kernel, and cover its future static descendants;
 *   "LDPA1 sample go"       the shim cannot sample this process (a Go runtime owns SIGPROF):
 *   "LDPA1 sample sigprof"  ... or the program installed its own SIGPROF handler,
 *   "LDPA1 sample seccomp"  ... or it is about to install a seccomp filter on itself):
 *                           sample it from the kernel, and cover its future static descendants;
 *   "LDPA1 ring"            here is this process's ring (common/ring.h), a sealed memfd
 *                           passed with SCM_RIGHTS: collect its samples. Sent to the
 *                           collector (`ldprof run`'s socket, LDPROF_COLLECTOR) from the
 *                           sampled process's first SIGPROF; the process does not wait for
 *                           a reply, and a collector sends none;
 *   "LDPA1 status"          the agent's state: what it covers (all of it for root, the
 *                           client's own processes for anyone else).
 *
 *   reply "LDPA1 ok" [" " detail], or "LDPA1 no " reason (refused: rate limit, cap, bad
 *   request); a status reply is "LDPA1 ok\n" followed by one line per covered process.
 *
 * The process a request is about is always the peer itself, taken from the socket's
 * credentials (SO_PEERPIDFD / SO_PEERCRED), never from the message: a client can only speak
 * for itself. Nothing in a request names a file or an address.
 *
 * A client waits at most LDP_AGENT_REPLY_MS for the reply and carries on without the agent if
 * none comes (or if the socket is absent): the agent is a helper, never a dependency.
 */
#ifndef LDP_AGENTPROTO_H
#define LDP_AGENTPROTO_H

#define LDP_AGENT_SOCKET_DEFAULT "/run/ldprof/agent.sock"

#define LDP_AGENT_REQ_REGISTER "LDPA1 register"
#define LDP_AGENT_REQ_SAMPLE_GO "LDPA1 sample go"
#define LDP_AGENT_REQ_SAMPLE_SIGPROF "LDPA1 sample sigprof"
#define LDP_AGENT_REQ_SAMPLE_SECCOMP "LDPA1 sample seccomp"
#define LDP_AGENT_REQ_STATUS "LDPA1 status"
#define LDP_AGENT_REQ_RING "LDPA1 ring"
#define LDP_AGENT_REPLY_OK "LDPA1 ok"
#define LDP_AGENT_REPLY_NO "LDPA1 no"

/* Longest request the agent reads; anything longer is garbage. */
#define LDP_AGENT_REQ_MAX 64
/* Longest reply a client needs to read for register/sample (status replies are longer). */
#define LDP_AGENT_REPLY_MAX 128
/* How long a client waits for the reply, in milliseconds. */
#define LDP_AGENT_REPLY_MS 50

#endif
