/* SPDX-License-Identifier: MIT
 *
 * stackprof.h — the stack profile of one process over one window, as the shim and the agent
 * both build it: samples aggregated by (thread, stack) in a table with a cap, a snapshot of the
 * process's mappings, comm and executable, the symbol tables of its mapped files cached by
 * (path, inode), and the pprof profile with its shipment labels.
 *
 * The process is this one (pid 0: /proc/self, files opened by their path) or another one
 * (/proc/PID, files opened through /proc/PID/root so a process in another mount namespace is
 * symbolized from its own files; the symbol tables of its executable mappings are read at each
 * refresh that sees new mappings, since nothing can be read once it is gone).
 * Never called from a signal handler: it allocates and does I/O. One thread at a time.
 * It must never grow past the cap it was given, and never write anything anywhere.
 */
#ifndef LDP_STACKPROF_H
#define LDP_STACKPROF_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfsym.h"
#include "pprof.h"
#include "procmaps.h"
#include "shipment.h"

struct ldp_stackprof;

/* Frames kept per stack; deeper stacks are cut (leaf side kept). */
#define LDP_STACKPROF_MAX_DEPTH 128
/* Sample labels a caller may add to thread_id and thread_name. */
#define LDP_STACKPROF_MAX_LABELS 6

/* Frames past the leaf are return addresses as the CPU pushed them (the agent's frame-pointer
 * walk): they are stored as address - 1, inside the call instruction, which is what the shim's
 * unwinder gives. Without the flag every frame is taken as an address inside its instruction. */
#define LDP_STACKPROF_RETURN_ADDRESSES 1u

/* pid 0 is this process. max_stacks: distinct (thread, stack) entries kept in a window; past
 * it samples are dropped and counted. start_ns: the first window's start (unix ns). Returns 0 or
 * -errno; *ret is written only on success. */
int ldp_stackprof_new(pid_t pid, uint32_t max_stacks, unsigned flags, int64_t start_ns,
		      struct ldp_stackprof **ret);
/* Accepts NULL. */
void ldp_stackprof_free(struct ldp_stackprof *sp);

/* Counts `count` samples of one stack, frames leaf first. name: the thread's name when the
 * sampler knows it (the first one given for a (thread, stack) is kept), or NULL to ask the
 * build's thread_name callback. Returns 0, or -E2BIG when the table is full or -ENOMEM (the
 * samples are then counted as dropped). */
int ldp_stackprof_add(struct ldp_stackprof *sp, uint32_t tid, const char *name,
		      const uint64_t *frames, uint32_t nframes, uint64_t count);
/* Counts samples dropped before they reached this table (a full sampler table). */
void ldp_stackprof_drop(struct ldp_stackprof *sp, uint64_t count);
/* Samples kept, and samples dropped, in this window. */
uint64_t ldp_stackprof_samples(const struct ldp_stackprof *sp);
uint64_t ldp_stackprof_dropped(const struct ldp_stackprof *sp);
/* Starts a new window at start_ns: no sample, no drop, no entry of the previous one is kept.
 * Symbol tables, the mappings snapshot, comm and executable are kept. */
void ldp_stackprof_reset(struct ldp_stackprof *sp, int64_t start_ns);
/* After fork, in the child: the same, but without touching the parent's entries, which stay
 * shared with the parent until a reset that finds samples of the child's own frees them. */
void ldp_stackprof_reset_after_fork(struct ldp_stackprof *sp, int64_t start_ns);

/* Where another process's symbol tables come from when not read by the profile itself (the
 * agent: common/symcache.c, shared by all its profiles, read on a thread of its own). get is
 * called once per (path, inode) of a mapped file, at the refresh that first sees it, with the
 * process's /proc folder reached through a live thread; it returns a reference (NULL: no
 * table), put back when the profile is freed. syms gives the table (NULL while there is none
 * yet), pending whether one may still come. */
struct ldp_stackprof_syms {
	void *(*get)(void *ctx, const char *proc_dir, const struct ldp_map *m);
	const struct ldp_elfsym *(*syms)(void *ctx, void *ref);
	int (*pending)(void *ctx, void *ref);
	void (*put)(void *ctx, void *ref);
	void *ctx;
};
/* Before the first refresh. */
void ldp_stackprof_set_syms(struct ldp_stackprof *sp, const struct ldp_stackprof_syms *src);
/* Files whose table the source may still give: a profile built now would leave their frames
 * unnamed. */
unsigned ldp_stackprof_syms_pending(const struct ldp_stackprof *sp);

/* Reads the process's mappings, executable and comm. Cheap when the mappings have not changed
 * since the last call: one read of the maps file and a comparison, no symbol table touched.
 * A read that fails, or finds no mapping (a process that has exited but is not yet reaped),
 * keeps the previous snapshot. Returns 0, -ESRCH for no mapping, or -errno. */
int ldp_stackprof_refresh(struct ldp_stackprof *sp);
/* Takes the last refresh back when it changed the snapshot: the mappings, executable and comm
 * before it (a collector that learns, after reading them, that the process exec'd before the
 * read: the samples it holds are the old image's). Returns 1 when it did, 0 when there was no
 * change to take back. */
int ldp_stackprof_refresh_undo(struct ldp_stackprof *sp);
/* Whether the snapshot misses a mapping these frames need: an address in no mapping of it, or
 * in code of no file that its perf map does not name (yet). A collector reads the mappings
 * again soon after such a sample, and seldom otherwise. */
bool ldp_stackprof_unmapped(const struct ldp_stackprof *sp, const uint64_t *frames, uint32_t n);
/* The snapshot's comm ("unknown" before any) and executable ("" when unknown). */
const char *ldp_stackprof_comm(const struct ldp_stackprof *sp);
const char *ldp_stackprof_exe(const struct ldp_stackprof *sp);

/* Thread name for the thread_name label of samples added without one; buf is len bytes. */
typedef void (*ldp_stackprof_name_fn)(void *ctx, uint32_t tid, char *buf, size_t len);

struct ldp_stackprof_out {
	int64_t period_ns;   /* sampling interval */
	int64_t end_ns;      /* the window's end (unix ns) */
	const struct ldp_pprof_label *labels; /* on every sample, before thread_id, thread_name */
	size_t nlabels;      /* at most LDP_STACKPROF_MAX_LABELS */
	ldp_stackprof_name_fn thread_name; /* may be NULL: samples without a name get none */
	void *ctx;
};

/* The window's profile, symbolized with the last snapshot (refresh first for a fresh one), as
 * a shipment: raw pprof (one mapping per executable mapping used, the main executable's
 * first, with build IDs; samples labelled with out->labels, thread_id, thread_name), the
 * window from its start to out->end_ns, hz, and the labels comm, pid, exe (when known) and
 * build_id (when the main executable's file was read). *ret is filled (clear it with
 * ldp_shipment_clear); the window keeps its samples. Returns 0 or -errno (*ret is then clear). */
int ldp_stackprof_build(struct ldp_stackprof *sp, const struct ldp_stackprof_out *out,
			struct ldp_shipment *ret);

#endif
