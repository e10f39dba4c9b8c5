/* SPDX-License-Identifier: MIT
 *
 * spool.h — the on-disk spool: profiles that could not be delivered yet, one zstd file each,
 * bounded in bytes, oldest dropped first, drained exactly once by any number of processes.
 *
 * A file is written under a temporary name, fsync()ed and rename()d into place, so a reader
 * never sees half of one. Names sort by age: "<until_ns, 20 digits>-<pid>-<seq>.ldps".
 * A drainer claims a file by rename()ing it to "<name>.claim-<pid>": rename is atomic, so of
 * several processes draining one spool exactly one wins each file. A claim whose process is
 * gone (or that is older than LDP_SPOOL_CLAIM_TTL_S) goes back to the queue, so a crash between
 * claim and delivery delays a profile but does not lose it.
 * The files are untrusted input (any process that can write the folder can put one there):
 * decoding checks every length. Never called from a signal handler.
 */
#ifndef LDP_SPOOL_H
#define LDP_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "shipment.h"

#define LDP_SPOOL_CLAIM_TTL_S 600

/* Writes s into dir (created 0700 if missing; its parent must exist) as one file. Before
 * writing, drops the oldest unclaimed files until the folder's spooled bytes (st_size of the
 * *.ldps files; claims, .bad files and temporaries are not counted) plus this file fit in
 * max_bytes; a file larger than max_bytes by itself, or max_bytes 0 (spool off), is not
 * written (-EFBIG). Writers racing each other can pass the bound by one file each.
 * *ret_dropped (may be NULL) gets how many files this call dropped, on failure too (a file
 * dropped before a failed write is gone). Returns 0, -EINVAL (s not encodable) or -errno. */
int ldp_spool_put(const char *dir, uint64_t max_bytes, const struct ldp_shipment *s,
		  unsigned *ret_dropped);

/* Claims the oldest unclaimed file and decodes it into *s (overwritten, not freed: pass a
 * cleared one; left zeroed unless 1 is returned). claim receives the claimed file's path
 * ("<dir>/<name>.claim-<pid>"), for ldp_spool_done or ldp_spool_release.
 * A file that does not decode is renamed "<name>.bad" and skipped; *ret_bad (may be NULL) gets
 * how many this call set aside, on every return, for the caller to log. A missing dir is an
 * empty spool. Returns 1 (claimed), 0 (nothing to send) or -errno (-ENAMETOOLONG: claim_len
 * too small; other errors give the file back). */
int ldp_spool_claim(const char *dir, struct ldp_shipment *s, char *claim, size_t claim_len,
		    unsigned *ret_bad);

/* Delivered: removes the claimed file. Returns 0, -EINVAL (not a claim path) or -errno. */
int ldp_spool_done(const char *claim);

/* Not delivered: gives the file back under its original name (it keeps its place).
 * Returns 0, -EINVAL (not a claim path) or -errno. */
int ldp_spool_release(const char *claim);

/* Gives back claims whose process is gone or that are older than LDP_SPOOL_CLAIM_TTL_S (by
 * ctime: the claiming rename sets it). Our own claims only by age. Pids are checked in our pid
 * namespace: processes in other namespaces must not drain the same folder.
 * Returns how many, or -errno. */
int ldp_spool_recover(const char *dir);

/* Number of spooled (unclaimed) files and their bytes, for `ldprof status` and tests. */
int ldp_spool_count(const char *dir, unsigned *ret_files, uint64_t *ret_bytes);

/* One file's bytes: zstd frame holding a small header (magic, window, hz, labels) and the
 * pprof (format in spool.c). Exposed for tests and fuzzing. encode returns -EINVAL for a
 * shipment decode would refuse (key empty or with '=' or '\n', value with '\n', either without
 * its NUL, until < from, from < 0, hz <= 0, no pprof) and -EFBIG past LDP_SHIP_MAX_PPROF.
 * decode overwrites *s (pass a cleared one) and returns 0, -ENOMEM, or -EBADMSG for anything
 * encode would not have written; on error *s is left zeroed. */
int ldp_spool_encode(const struct ldp_shipment *s, uint8_t **ret, size_t *ret_len);
int ldp_spool_decode(const uint8_t *buf, size_t len, struct ldp_shipment *s);

#endif
