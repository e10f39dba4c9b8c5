/* SPDX-License-Identifier: MIT
 *
 * window.h — the samples of one flush window, merged from the sampler's tables, and their
 * conversion to a pprof file: symbolization (.symtab/.dynsym of each mapped file, cached for
 * the life of the process), mappings with build IDs, labels thread_id and thread_name.
 * Runs on the background thread (or on the exiting/exec'ing thread with the work lock held).
 * Never called from a signal handler.
 */
#ifndef LDP_WINDOW_H
#define LDP_WINDOW_H

#include <stdint.h>

#include "stacktab.h"

struct ldp_window;

struct ldp_window_out {
	const char *dir;      /* output folder */
	int pid;
	unsigned seq;         /* per-process file sequence */
	int64_t period_ns;
	int64_t end_ns;       /* unix ns */
};

struct ldp_window *ldp_window_new(int64_t start_ns);
void ldp_window_free(struct ldp_window *w);
void ldp_window_merge(struct ldp_window *w, const struct ldp_stacktab *t);
uint64_t ldp_window_samples(const struct ldp_window *w);
uint64_t ldp_window_dropped(const struct ldp_window *w);
/* Writes <dir>/<comm>.<pid>.<seq>.pb.gz atomically (temporary name, then rename).
 * Returns 0 or -errno. The window keeps its samples; reset it after. */
int ldp_window_write(struct ldp_window *w, const struct ldp_window_out *out, char *ret_path,
		     size_t path_len);
void ldp_window_reset(struct ldp_window *w, int64_t start_ns);

#endif
