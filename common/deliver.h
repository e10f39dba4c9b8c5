/* SPDX-License-Identifier: MIT
 *
 * deliver.h — get every profile to the configured endpoint: a bounded in-memory queue, one
 * send at a time with retries (exponential backoff with jitter), the on-disk spool for what
 * cannot be sent, and draining that spool once the endpoint answers again.
 *
 * One delivery engine for `ldprof run`'s collector, `ldprof flush` and the agent. Who calls what:
 *   submit   any thread that made a profile (cheap: labels, queue; file:// writes the file)
 *   run      the background thread only: the network work that is due, within a time budget
 *   finish   the collector's exit: at most budget_ns of network, then everything left is spooled
 *   abort    another thread that needs the background thread back soon (exit)
 * Memory: queued profiles are held up to config queue_max_bytes; past it the oldest go to the
 * spool. A 4xx answer (but 429) drops the profile and is logged once; everything else that
 * fails is retried, then spooled. Logging goes through the caller's function; this module
 * never writes to the program's descriptors. Never called from a signal handler.
 */
#ifndef LDP_DELIVER_H
#define LDP_DELIVER_H

#include <stdint.h>

#include "config.h"
#include "shipment.h"

struct ldp_deliver;

/* level: 0 debug, 1 info, 2 warn, 3 error. */
typedef void (*ldp_deliver_log_fn)(int level, const char *msg);

struct ldp_deliver_stats {
	uint64_t sent;          /* delivered from memory */
	uint64_t sent_spooled;  /* delivered from the spool */
	uint64_t files;         /* written to a file:// folder */
	uint64_t spooled;       /* written to the spool */
	uint64_t spool_dropped; /* removed from the spool to make room, oldest first */
	uint64_t rejected;      /* refused by the endpoint (4xx but 429): dropped */
	uint64_t lost;          /* could be neither delivered nor spooled */
	uint64_t retries;       /* failed attempts that were retried */
};

/* c must outlive the engine. Returns NULL on ENOMEM. */
struct ldp_deliver *ldp_deliver_new(const struct ldp_config *c, ldp_deliver_log_fn log);

/* Points c at the folders of uid euid in the configured ones (ldp_private_dir): a file://
 * endpoint's, or with a network endpoint the spool's. A shared base as packaged (root's, 1733)
 * gives each user base/<uid>; a folder of euid's own is used as it is. Whatever was moved
 * aside or refused is logged. Returns 0; -errno when the output folder cannot be had (c is
 * left as it was, why says it: the caller writes no profile); without a spool folder the
 * spool is off (spool_max_bytes 0: unsent profiles are lost) and 0 is returned. */
int ldp_deliver_own_dirs(struct ldp_config *c, unsigned euid, ldp_deliver_log_fn log, char *why,
			 size_t whylen);
void ldp_deliver_free(struct ldp_deliver *d);

/* The spool this engine drains is another user's (root's `ldprof flush` of <base>/<uid>): what
 * its files say about where they come from is that user's word. Each spooled profile is sent
 * with this host's name as hostname and uid=<uid> (the folder's owner), whatever labels of those
 * names the file carries. */
#define LDP_LABEL_UID "uid"
void ldp_deliver_set_spool_owner(struct ldp_deliver *d, unsigned uid);

/* Adds the configured labels (service name, host name, static labels) to s, then takes its
 * profile: s is cleared. file:// endpoints: the file is written before this returns.
 * Returns 0 or -errno (the profile is then counted as lost). */
int ldp_deliver_submit(struct ldp_deliver *d, struct ldp_shipment *s);

/* Sends what is due, for at most budget_ns. Returns the ns until more work is due
 * (INT64_MAX when idle). */
int64_t ldp_deliver_run(struct ldp_deliver *d, int64_t budget_ns);

/* A thread of the caller's that sends what is due (ldp_deliver_run), woken by every submit,
 * so that a slow endpoint never delays the caller: for collectors (`ldprof run`), never in a
 * sampled process. Nothing for file:// endpoints (submit writes the file). Stop it after
 * ldp_deliver_finish(), which gives a send of its in flight the exit budget: stopped first,
 * that send is aborted, and the server may already have its profile. Returns 0 or -errno. */
int ldp_deliver_sender_start(struct ldp_deliver *d);
void ldp_deliver_sender_stop(struct ldp_deliver *d);

/* Makes a send in progress on another thread give up within ~10 ms (its profile stays
 * queued); later sends go on normally. */
void ldp_deliver_abort(struct ldp_deliver *d);

/* The collector's exit: stops the background work, sends what is queued for at most budget_ns (none
 * when the endpoint is failing or network at exit is unsafe), spools the rest. */
void ldp_deliver_finish(struct ldp_deliver *d, int64_t budget_ns);

/* `ldprof flush`: sends spooled profiles until the spool is empty, the endpoint fails, or
 * budget_ns has passed. Returns how many were delivered, or -errno. */
int ldp_deliver_drain_spool(struct ldp_deliver *d, int64_t budget_ns);

void ldp_deliver_stats(struct ldp_deliver *d, struct ldp_deliver_stats *ret);
/* The log's "delivery: N sent, ..." line of st into buf (the words every user of the engine
 * logs at its end, and that tests and people grep). Returns buf. */
char *ldp_deliver_summary(const struct ldp_deliver_stats *st, char *buf, size_t len);

#endif
