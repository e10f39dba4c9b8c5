/* SPDX-License-Identifier: MIT
 *
 * debuginfo.h — names for an object whose own symbol tables leave its frames unnamed (a
 * stripped library: libc's internal functions are in no .dynsym), from its separate debug
 * file, found as GDB finds it:
 *   1. by GNU build ID: DEBUG_ROOT/.build-id/xx/yyyy.debug (what Debian's -dbg and -dbgsym
 *      packages install; DEBUG_ROOT is /usr/lib/debug);
 *   2. by the original's .gnu_debuglink (when the original is on this host): DEBUG_ROOT/DIR/NAME,
 *      DIR/.debug/NAME, DIR/NAME, each accepted only if its CRC32 is the one the link gives;
 *   3. MiniDebugInfo: the original's own .gnu_debugdata section (an xz-compressed .symtab).
 * A file found by path must carry the same build ID when one is known. Reads files only: never
 * from a signal handler, never in a profiled process (a debug file's table is megabytes):
 * `ldprof report`/`diff` and the agent's symbol thread (common/symcache.c) use it.
 */
#ifndef LDP_DEBUGINFO_H
#define LDP_DEBUGINFO_H

#include <stddef.h>

#include "elfsym.h"

#define LDP_DEBUG_ROOT "/usr/lib/debug"

/* The symbols of the debug file of the object orig_path (may be NULL or absent from this host)
 * whose GNU build ID is build_id (lowercase hex, may be "" or NULL), with the original's file
 * offsets (elfsym.h). debug_root: NULL for LDP_DEBUG_ROOT. found (may be NULL) gets the debug
 * file's path. Returns 0, -ENOENT when there is no usable debug file, or -errno. */
int ldp_debuginfo_open(const char *orig_path, const char *build_id, const char *debug_root,
		       struct ldp_elfsym **ret, char *found, size_t found_len);

/* MiniDebugInfo: the functions of the object open on fd (its own .symtab or .dynsym, and those
 * of the compressed .symtab in its .gnu_debugdata section), with the file offsets of the
 * object, whose segments loads gives. Returns 0, -ENOENT when it has none, or -errno. */
int ldp_debuginfo_mini(int fd, const struct ldp_elfsym_loads *loads, uint64_t max_bytes,
		       struct ldp_elfsym **ret);

/* Only by build ID, for an original already open elsewhere (the agent reads targets' files
 * through descriptors: their paths are the targets'): loads from ldp_elfsym_read_loads() of it.
 * max_bytes as for ldp_elfsym_open_fd(). Returns 0, -ENOENT, or -E2BIG past max_bytes. */
int ldp_debuginfo_by_build_id(const char *build_id, const struct ldp_elfsym_loads *loads,
			      const char *debug_root, uint64_t max_bytes, struct ldp_elfsym **ret);

/* A separate debug file's .plt holds no code (NOBITS): adds to into, a debug file's table, the
 * functions of the original open on fd: its PLT stubs (NAME@plt), and its .dynsym when into
 * names no function (a debug file stripped of its .symtab), into's names winning where both
 * name an offset. max_bytes as for ldp_elfsym_open_fd(). Returns 0 or
 * -errno (into unchanged). */
int ldp_debuginfo_add_original(int fd, uint64_t max_bytes, struct ldp_elfsym *into);

#endif
