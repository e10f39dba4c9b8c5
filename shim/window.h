/* SPDX-License-Identifier: MIT
 *
 * window.h — the samples of one flush window, merged from the sampler's tables, and their
 * conversion to a pprof profile: symbolization (.symtab/.dynsym of each mapped file, cached for
 * the life of the process), mappings with build IDs, labels thread_id and thread_name.
 * Runs on the background thread (or on the exiting/exec'ing thread with the work lock held).
 * Never called from a signal handler.
 */
#ifndef LDP_WINDOW_H
#define LDP_WINDOW_H

#include <stdint.h>

#include "shipment.h"
#include "stacktab.h"

struct ldp_window;

struct ldp_window_out {
	int pid;
	int64_t period_ns;
	int64_t end_ns;       /* unix ns */
};

struct ldp_window *ldp_window_new(int64_t start_ns);
void ldp_window_free(struct ldp_window *w);
void ldp_window_merge(struct ldp_window *w, const struct ldp_stacktab *t);
uint64_t ldp_window_samples(const struct ldp_window *w);
uint64_t ldp_window_dropped(const struct ldp_window *w);
/* Builds the window's profile (raw pprof) with the labels the process knows: comm, pid, exe
 * and its build ID. *ret is filled (clear it with ldp_shipment_clear). The window keeps its
 * samples; reset it after. Returns 0 or -errno. */
int ldp_window_build(struct ldp_window *w, const struct ldp_window_out *out,
		     struct ldp_shipment *ret);
void ldp_window_reset(struct ldp_window *w, int64_t start_ns);

#endif
