/* SPDX-License-Identifier: MIT
 *
 * symcache.h — the symbol tables of other processes' files, for all the profiles a collector
 * (ldprof-agent) keeps at once: each file read once whoever maps it, on a thread of the cache's
 * own, under a memory and a time budget per user and a memory cap for all.
 *
 * A file is known by its identity (device, inode, size, modification and change times), taken
 * with fstat() from a descriptor the caller's thread opens with O_PATH: that reads nothing, and
 * the descriptor holds the very file the process mapped even once the process is gone. The
 * table is read later, on the cache's thread; until then, and for a file that could not be read
 * or did not fit its budget, the caller gets no table (frames stay unnamed).
 * The build ID is not part of the key: a user can write any build ID into a file of theirs,
 * and would then choose the names in root's profiles.
 * It must never read a file on the caller's thread, never let one user's files delay another
 * user's by more than the one file being read, and never hold more than its cap.
 */
#ifndef LDP_SYMCACHE_H
#define LDP_SYMCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfsym.h"

struct ldp_symcache;
struct ldp_symfile;

struct ldp_symcache_limits {
	uint64_t max_bytes;     /* every table together */
	uint64_t uid_bytes;     /* the tables charged to one uid (root: only max_bytes) */
	int64_t uid_read_ns;    /* reading time one uid (not root) may use per window ... */
	int64_t window_ns;      /* ... this long */
	int64_t idle_ns;        /* a table nobody has used for this long is dropped */
	unsigned max_files;     /* tables known at once, read or queued */
	unsigned max_queued;    /* files waiting to be read (each holds a descriptor) ... */
	unsigned uid_queued;    /* ... and of them, one uid's */
};

/* The limits ldprof-agent runs with. */
extern const struct ldp_symcache_limits ldp_symcache_defaults;

/* Starts the cache and its thread. Returns 0 or -errno; *ret is written only on success. */
int ldp_symcache_new(const struct ldp_symcache_limits *lim, struct ldp_symcache **ret);
/* Stops the thread (after the file it is reading) and frees every table. Accepts NULL. Every
 * reference must have been put back. */
void ldp_symcache_free(struct ldp_symcache *sc);

/* A reference to the table of the file at path (absolute, resolved under rootfd, the
 * process's root, following no symbolic link), charged to uid when it is new: found, or queued
 * for reading. inode: what /proc/PID/maps says the mapping's file is (0: unknown); another file
 * at that path now is -ESTALE. Returns 0, -ENOEXEC for no regular file, -ELOOP for a link on
 * the way, -EDQUOT when uid has as many files queued as it may, -ENOSPC when the cache knows
 * max_files, or -errno from open. Never reads the file. */
int ldp_symcache_get(struct ldp_symcache *sc, int rootfd, const char *path, uint64_t inode,
		     uid_t uid, struct ldp_symfile **ret);
/* Gives a reference back. A file that nobody references any more and that is still queued
 * is not read at all; a table read is kept for later users until idle_ns or a budget needs it. */
void ldp_symcache_put(struct ldp_symfile *f);
/* The table once read, or NULL (queued, or could not be read). Valid while f is held. */
const struct ldp_elfsym *ldp_symcache_syms(struct ldp_symfile *f);
/* 1 while f is queued or being read. */
int ldp_symcache_pending(struct ldp_symfile *f);
/* Why f has no table: 0 (it has one, or is pending), -E2BIG / -EDQUOT (over a budget), or the
 * error of reading it. */
int ldp_symcache_error(struct ldp_symfile *f);

struct ldp_symcache_stats {
	unsigned files;         /* tables known: read, failed, or queued */
	unsigned queued;
	uint64_t bytes;         /* held by tables */
	uint64_t reads;         /* files read since the start */
	uint64_t hits;          /* references served from a table already known */
	uint64_t over_budget;   /* files refused for a memory budget */
	uint64_t throttled;     /* files that waited for their uid's next window */
};
void ldp_symcache_stats(struct ldp_symcache *sc, struct ldp_symcache_stats *ret);
/* Memory and reading time charged to uid now (its current window). */
void ldp_symcache_uid_usage(struct ldp_symcache *sc, uid_t uid, uint64_t *bytes, int64_t *read_ns);
/* Waits until nothing is queued or timeout_ns has passed; 0 when nothing is, else -ETIMEDOUT.
 * For tests and for a collector about to exit. */
int ldp_symcache_drain(struct ldp_symcache *sc, int64_t timeout_ns);

#endif
