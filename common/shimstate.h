/* SPDX-License-Identifier: MIT
 *
 * shimstate.h — what the shim in another process decided, read from outside: the exported
 * `ldp_state` (shim/state.h) of the libldprof.so mapped there, found through that file's
 * .dynsym and read through /proc/PID/mem. Used by `ldprof status` and by ldprof-agent (which
 * re-registers, at its start, the processes whose shim samples them).
 * It must never write to the process, never stop it (no ptrace attach) and never trust what
 * it reads: the magic and the size of the symbol are checked.
 */
#ifndef LDP_SHIMSTATE_H
#define LDP_SHIMSTATE_H

#include <stddef.h>
#include <sys/types.h>

#include "procmaps.h"
#include "state.h"

/* 1 when a maps path names libldprof.so (also " (deleted)"), else 0. */
int ldp_shimstate_is_shim_path(const char *path);

/* The first mapping of libldprof.so in maps, or NULL. */
const struct ldp_map *ldp_shimstate_find(const struct ldp_maps *maps);

/* Reads the shim's state from pid, whose maps are maps and first libldprof.so mapping first.
 * Returns 0; 1 when the mapped libldprof.so is the 32-bit stub (shim/stub.c: no state, nothing
 * runs); or -errno with a note (for a status line) in note. */
int ldp_shimstate_read(pid_t pid, const struct ldp_maps *maps, const struct ldp_map *first,
		       struct ldp_state *ret, char *note, size_t notelen);

#endif
