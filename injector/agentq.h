/* SPDX-License-Identifier: MIT
 *
 * agentq.h — the CLI's questions to ldprof-agent over its socket (common/agentproto.h), for
 * `ldprof status` and `ldprof install`. It must never wait long (one second in all) and never
 * leave the socket open.
 */
#ifndef LDP_AGENTQ_H
#define LDP_AGENTQ_H

#include <stddef.h>

/* Asks the agent on path for its status. On success buf holds the reply after "LDPA1 ok\n"
 * (NUL-terminated). Returns 0, -ENOENT (no socket), -ECONNREFUSED (a socket nobody serves),
 * -ETIMEDOUT, -EPROTO (an answer that is not the protocol's), or -errno. */
int ldp_agentq_status(const char *path, char *buf, size_t len);

/* The [agent] socket the shim of the host under root ("" for this one) would use, from its
 * config file (and, on this host, LDPROF_*), prefixed with root; "" when the socket is empty.
 * *rings: whether [agent] rings makes the agent the host's collector. */
void ldp_agentq_host_socket(const char *root, char *out, size_t len, int *rings);

#endif
