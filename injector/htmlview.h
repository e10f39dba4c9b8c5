/* SPDX-License-Identifier: MIT
 *
 * htmlview.h — the interactive HTML report of `ldprof report --html` and `ldprof diff --html`.
 *
 * One self-contained file: the page (injector/report.html: markup, style and script, compiled
 * into ldprof) with the profile's data as JSON in it. The page draws a flame graph or icicle
 * with zoom, search, a sortable table and filters by process, thread and service; it loads
 * nothing from anywhere (a Content-Security-Policy says so to the browser as well). The data
 * is the stack tree (flame.h's nodes) and sample groups, each a node with its side, process,
 * thread, service and count, so that the page can filter without the stacks repeated.
 * Never reads files; names come from untrusted profiles and are escaped here.
 */
#ifndef LDP_HTMLVIEW_H
#define LDP_HTMLVIEW_H

#include <stdint.h>
#include <stdio.h>

#include "flame.h"

enum { LDP_HTML_PROCESS, LDP_HTML_THREAD, LDP_HTML_SERVICE, LDP_HTML_NFILTERS };

/* A sample group: LDP_HTML_GROUP int64s: node, side, process, thread, service, count. */
#define LDP_HTML_GROUP 6

struct ldp_html_view {
	const char *title, *subtitle;
	int diff;                        /* side 0 the base, side 1 the new profiles */
	const char *const *names;        /* by frame id */
	const unsigned char *kinds;      /* by frame id: enum ldp_flame_kind */
	size_t nframes;
	const struct ldp_flame *flame;   /* the stacks */
	const char *const *values[LDP_HTML_NFILTERS]; /* the names a filter offers, by index */
	size_t nvalues[LDP_HTML_NFILTERS];
	const int64_t *groups;
	size_t ngroups;
};

/* Writes the page. Returns 0 or -errno (-EIO: a write error). */
int ldp_html_write(const struct ldp_html_view *v, FILE *out);

#endif
