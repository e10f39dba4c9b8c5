/* SPDX-License-Identifier: MIT
 *
 * runcollect.h — `ldprof run`'s collector (common/collector.c) for the tree that
 * `ldprof run` starts, in the `ldprof run` process itself. The programs of the tree carry
 * only the ring sampler (shim/ringsamp.c); everything else (unwinding's end, symbols,
 * profiles, delivery) happens here. No agent and no root needed.
 * Never: write to the program's stdio, reap or signal a process of the tree (only the child
 * is waited for), outlive the child by more than the configured
 * exit_timeout of delivery.
 */
#ifndef LDP_RUNCOLLECT_H
#define LDP_RUNCOLLECT_H

#include <sys/types.h>

#include "config.h"

struct ldp_runcollect;

/* Takes the configuration as the tree will (the environment `ldprof run` prepared): cfg, when
 * the caller has loaded it from that environment already (copied), else read here; makes a
 * private folder for the socket, listens, and sets LDPROF_COLLECTOR and LDPROF_SAMPLING_HZ for
 * the tree. Before the fork. Returns 0 or -errno (err says what, for the user). */
int ldp_runcollect_new(const struct ldp_config *cfg, struct ldp_runcollect **ret, char *err,
		       size_t errlen);

/* Collects until child ends; *status as waitpid() gives it. Signals interrupt nothing but the
 * wait they arrive in. Returns 0 or -errno (waitpid failed). */
int ldp_runcollect_wait(struct ldp_runcollect *rc, pid_t child, int *status);

/* The last drain and the last profiles, delivered within exit_timeout; the socket and its
 * folder removed. Accepts NULL. */
void ldp_runcollect_free(struct ldp_runcollect *rc);

#endif
