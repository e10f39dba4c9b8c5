/* SPDX-License-Identifier: MIT
 *
 * window.h — what the shim adds to common/stackprof.c for its flush window: the sampler's
 * tables merged into it, and its profile with the shim's thread names (from the thread
 * registry, which remembers the names of threads that are gone) and labels.
 * The window itself is a struct ldp_stackprof of this process (pid 0); core.c counts, resets
 * and frees it through common/stackprof.h.
 * Runs on the background thread (or on the exiting/exec'ing thread with the work lock held).
 * Never called from a signal handler.
 */
#ifndef LDP_WINDOW_H
#define LDP_WINDOW_H

#include <stdint.h>

#include "shipment.h"
#include "stackprof.h"
#include "stacktab.h"

struct ldp_window_out {
	int64_t period_ns;
	int64_t end_ns;       /* unix ns */
};

/* Returns 0 or -errno; *ret is written only on success. */
int ldp_window_new(int64_t start_ns, struct ldp_stackprof **ret);
void ldp_window_merge(struct ldp_stackprof *w, const struct ldp_stacktab *t);
/* Builds the window's profile (raw pprof) from a fresh read of /proc/self/maps, with the
 * labels comm, pid, exe (comm when the executable cannot be read) and build_id. *ret is filled
 * (clear it with ldp_shipment_clear). The window keeps its samples; reset it after. Returns 0
 * or -errno. */
int ldp_window_build(struct ldp_stackprof *w, const struct ldp_window_out *out,
		     struct ldp_shipment *ret);

#endif
