/* SPDX-License-Identifier: MIT
 *
 * perfmap.h — the names a JIT compiler gives its code: /tmp/perf-PID.map, one line per piece
 * of code, "START SIZE name" (hex start and size), appended while the program runs (Node's
 * --perf-basic-prof, JVM perf-map agents, LuaJIT, ...). An outside reader names those
 * frames cheaply; a signal handler could not.
 *
 * The file is another process's, in a folder anyone writes, read by a collector that may be
 * root: it is read only if it is a regular file with one link, owned by the process's own
 * effective user, opened without following a link and without blocking (a FIFO planted
 * there is refused), read to a cap. So a user can never get the contents of a file they
 * cannot read into a profile by planting a link. It is read through /proc/PID/root, as
 * perf-NSPID.map: a process in a container writes its own /tmp, under its own pid.
 * Never called from a signal handler.
 */
#ifndef LDP_PERFMAP_H
#define LDP_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LDP_PERFMAP_MAX_BYTES (64u << 20) /* read of one process's map, in all */

struct ldp_perfmap;

/* For process pid (> 0). Nothing is read yet. Returns 0 or -ENOMEM. */
int ldp_perfmap_new(pid_t pid, struct ldp_perfmap **ret);
void ldp_perfmap_free(struct ldp_perfmap *pm);

/* Reads what the process has appended since the last call (the whole file when it was
 * replaced). Returns 0; -ENOENT when there is no map (nothing to do); -EPERM when the file is
 * refused (not a regular file, not the process's user's, more than one link: said once by
 * the caller); -EFBIG once the cap is reached (what was read stays); or -errno. */
int ldp_perfmap_update(struct ldp_perfmap *pm);

/* Parses len bytes of map text: whole lines only; *used says how many bytes those were (a
 * last line without '\n' is left for the next call). Lines that do not parse are skipped.
 * For ldp_perfmap_update(), the unit tests and the fuzzer. Returns 0 or -ENOMEM. */
int ldp_perfmap_parse(struct ldp_perfmap *pm, const char *text, size_t len, size_t *used);

/* The name of the code at addr (the latest line covering it), or NULL. */
const char *ldp_perfmap_lookup(struct ldp_perfmap *pm, uint64_t addr);
/* How many lines are known. */
size_t ldp_perfmap_count(const struct ldp_perfmap *pm);

#endif
