/* SPDX-License-Identifier: MIT
 *
 * agentq.h — the CLI's questions to ldprof-agent over its socket (common/agentproto.h), for
 * `ldprof status`. It must never wait long (one second in all) and never leave the socket open.
 */
#ifndef LDP_AGENTQ_H
#define LDP_AGENTQ_H

#include <stddef.h>

/* Asks the agent on path for its status. On success buf holds the reply after "LDPA1 ok\n"
 * (NUL-terminated). Returns 0, -ENOENT (no socket), -ECONNREFUSED (a socket nobody serves),
 * -ETIMEDOUT, -EPROTO (an answer that is not the protocol's), or -errno. */
int ldp_agentq_status(const char *path, char *buf, size_t len);

#endif
