/* SPDX-License-Identifier: MIT
 *
 * cover.h — the processes the agent samples: one profile per process, fed by the ring
 * buffer's samples, shipped every flush interval while the process runs and once when it
 * ends, through common/deliver.c (the shim's endpoint, spool and retry code).
 * A process that ends while its files' symbol tables are still being read (common/symcache.c)
 * keeps its last profile until they are, for 20 s at most; a uid other than root gets at most
 * ended_per_uid such last profiles shipped a minute (a burst of that many, then as many a
 * minute).
 * It must never sample or mark a process on its own initiative (the BPF programs and the
 * registration server decide), never block on delivery (a network endpoint is served by the
 * caller's sender thread) and never keep a process's profile past its end.
 * One thread at a time.
 */
#ifndef LDP_AGENT_COVER_H
#define LDP_AGENT_COVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "deliver.h"
#include "sampler.h"
#include "symcache.h"

struct ldp_cover;

/* d: where profiles go (NULL: nowhere safe; they are counted, not written). sc: the symbol tables of every profile (NULL: each profile reads its own). targets_fd: the
 * BPF `targets` map, cleared for a process whose profile ends on our side. flush_ns: the
 * profile of a running process is shipped this often. ended_per_uid: profiles of ended
 * processes a uid other than root gets shipped per minute (the rest are counted, not sent). */
struct ldp_cover *ldp_cover_new(struct ldp_deliver *d, struct ldp_symcache *sc, int targets_fd,
				int64_t period_ns, int64_t flush_ns, unsigned ended_per_uid);
/* Ships what every profile holds, then frees. Accepts NULL. */
void ldp_cover_free(struct ldp_cover *cv);

/* Starts the profile of pid (a new image: any profile it had is shipped and ended first).
 * why: LDP_AGENT_TGT_*. Returns 0, -ENOSPC when LDP_AGENT_MAX_TARGETS are covered, -ESRCH
 * when the process is gone, -errno. */
int ldp_cover_start(struct ldp_cover *cv, pid_t pid, unsigned why);
/* Ships the last window of pid's profile and forgets it; clears its BPF mark when clear_mark
 * (the process lives on: the shim samples it now). Nothing when pid is not covered. */
void ldp_cover_end(struct ldp_cover *cv, pid_t pid, int clear_mark);
/* Forgets pid's profile without shipping it and clears its BPF mark: the process is excluded
 * by a rule. Nothing when pid is not covered. */
void ldp_cover_discard(struct ldp_cover *cv, pid_t pid);
/* One sample from the ring buffer; a process not covered yet gets its profile now. */
void ldp_cover_sample(struct ldp_cover *cv, const struct ldp_agent_event *e);
/* Called every ~100 ms: re-reads the maps of running processes once a second, ends the
 * profiles of processes that are gone (their end event may have been lost), ships the windows
 * that are due. */
void ldp_cover_tick(struct ldp_cover *cv);

/* Last profiles not written because their user passed its limit per minute; ended profiles
 * waiting for their symbol tables. */
uint64_t ldp_cover_ended_dropped(const struct ldp_cover *cv);
/* Windows not written because there is nowhere to write them (d was NULL). */
uint64_t ldp_cover_unwritten(const struct ldp_cover *cv);
unsigned ldp_cover_ending(const struct ldp_cover *cv);

/* Processes covered, all or one user's ((uid_t)-1: all). */
unsigned ldp_cover_count(const struct ldp_cover *cv, uid_t uid);
/* One line per covered process of uid ((uid_t)-1: all): "pid uid why samples exe". Returns
 * the length written (always NUL-terminated, cut at a line boundary when len is short). */
size_t ldp_cover_describe(const struct ldp_cover *cv, uid_t uid, char *buf, size_t len);

#endif
