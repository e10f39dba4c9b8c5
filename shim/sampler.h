/* SPDX-License-Identifier: MIT
 *
 * sampler.h — the SIGPROF handler and the pair of stack tables it fills.
 *
 * The handler is installed once per process and stays installed until the process exits or
 * the program claims SIGPROF for itself; pausing is a flag, so a signal already queued when
 * sampling stops is still caught and dropped, never left to the default action.
 */
#ifndef LDP_SAMPLER_H
#define LDP_SAMPLER_H

#include <signal.h>
#include <stdint.h>

#include "stacktab.h"

#define LDP_MAX_DEPTH 128

struct ldp_sampler_stats {
	uint64_t samples;   /* signals unwound and stored */
	uint64_t handler_ns; /* time spent doing it, for the log and make bench */
	uint64_t dropped;   /* no room, paused, unwinding fenced */
	uint64_t foreign;   /* SIGPROF that was not ours */
};

/* orig: the disposition SIGPROF had before us, to emulate for signals that are not ours. */
int ldp_sampler_init(const struct sigaction *orig, int max_depth,
		      int (*real_sigaction)(int, const struct sigaction *, struct sigaction *));
void *ldp_sampler_handler(void); /* the sa_sigaction to install */
void ldp_sampler_pause(int paused);

/* Background thread: switch tables, wait for handlers still in the old one, return it. The
 * caller reads it and then calls ldp_stacktab_reset(). */
struct ldp_stacktab *ldp_sampler_swap(void);
void ldp_sampler_stats(struct ldp_sampler_stats *ret);

/* dlclose fence: no handler unwinds while a library is being unmapped. */
void ldp_sampler_fence_begin(void);
void ldp_sampler_fence_end(void);
/* fork child: reset counters after a fork that may have happened mid-sample elsewhere. */
void ldp_sampler_after_fork_child(void);

/* The program set SIGPROF to SIG_IGN (1) or SIG_DFL (0): what a SIGPROF that is not ours
 * then does (ignored, or the default action). Not for the handler; the handler reads it. */
void ldp_sampler_set_ignored(int ignored);

#endif
