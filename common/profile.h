/* SPDX-License-Identifier: MIT
 *
 * profile.h — the profile of one sampled process, as a collector (the agent, `ldprof run`) builds it: samples from the
 * ring buffer aggregated by (thread, stack) over a window, what is needed to symbolize them
 * gathered while the process is still alive, and one profile per window handed to delivery.
 * Never called from a signal handler; one thread at a time.
 */
#ifndef LDP_AGENT_PROFILE_H
#define LDP_AGENT_PROFILE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "shipment.h"
#include "symcache.h"

struct ldp_agent_prof;

/* Distinct (thread, stack) entries kept in a window; past it samples are dropped and counted. */
#define LDP_AGENT_PROF_MAX_STACKS (1u << 16)

/* pid > 0; period_ns: the sampling interval. sc: where symbol tables come from, charged to
 * uid (NULL: the profile reads them itself, at refresh). The first window starts now. Returns 0
 * or -errno; *ret is written only on success. */
int ldp_agent_prof_new(pid_t pid, int64_t period_ns, struct ldp_symcache *sc, uid_t uid,
		       struct ldp_agent_prof **ret);
/* Accepts NULL. */
void ldp_agent_prof_free(struct ldp_agent_prof *p);

/* Counts one sample: frames leaf first (return addresses past the leaf, as the frame-pointer
 * walk gives them), comm the thread's name. Returns 0, or -E2BIG when the table is full (the
 * sample is counted as dropped), -ENOMEM. */
int ldp_agent_prof_add(struct ldp_agent_prof *p, uint32_t tid, const char *comm,
		       const uint64_t *frames, uint32_t nframes);

/* The same with a weight: the sample stands for that many periods (a timer's overruns). */
int ldp_agent_prof_add_n(struct ldp_agent_prof *p, uint32_t tid, const char *comm,
			 const uint64_t *frames, uint32_t nframes, uint64_t weight);

/* The value of the `source` label every sample and the shipment carry ("ebpf" unless set;
 * NULL: none, as the shim's own profiles). A static string. */
void ldp_agent_prof_set_source(struct ldp_agent_prof *p, const char *source);

/* Reads the process's comm, executable and mappings (and takes hold of the files newly mapped,
 * for their symbol tables) while it is alive: called at start and now and then, since nothing of it can be read
 * once the process is gone. When the mappings have not changed it costs one read of
 * /proc/PID/maps, a comparison, a readlink and a read of comm: no symbol table is read again.
 * Keeps the previous snapshot when the process has already gone. Returns 0 or -errno. */
int ldp_agent_prof_refresh(struct ldp_agent_prof *p);
/* ldp_stackprof_unmapped(): frames that the snapshot cannot place (a refresh is due). */
bool ldp_agent_prof_unmapped(const struct ldp_agent_prof *p, const uint64_t *frames, uint32_t n);
/* ldp_stackprof_refresh_undo(): the snapshot before the last refresh, if it changed. */
int ldp_agent_prof_refresh_undo(struct ldp_agent_prof *p);

/* Mapped files whose symbol table is still being read (by sc): a profile built now would
 * leave their frames unnamed. */
unsigned ldp_agent_prof_pending(const struct ldp_agent_prof *p);

/* Samples kept, and samples dropped because the table was full, in the current window (since
 * the last shipment): a window with no sample need not be shipped. */
uint64_t ldp_agent_prof_samples(const struct ldp_agent_prof *p);
uint64_t ldp_agent_prof_dropped(const struct ldp_agent_prof *p);

/* The current window's profile as a shipment for common/deliver.c, the same path the shim's
 * profiles take: raw pprof (every sample labelled source=ebpf, thread_id, thread_name), its
 * window from where the previous shipment ended (or from ldp_agent_prof_new) to end_ns
 * (CLOCK_REALTIME ns), and the labels comm, pid, exe, build_id (each when known) and
 * source=ebpf. *ret is filled (clear it with ldp_shipment_clear). On success the next window
 * starts at end_ns with no sample and no drop; symbol tables and the snapshot are kept. On
 * failure the window is kept whole. Returns 0 or -errno. */
int ldp_agent_prof_shipment(struct ldp_agent_prof *p, int64_t end_ns, struct ldp_shipment *ret);

/* Ends the current window without a profile (nowhere to write it): its samples are gone. */
void ldp_agent_prof_free_window(struct ldp_agent_prof *p);

#endif
