/* SPDX-License-Identifier: MIT
 *
 * fuzz_procmaps.c — libFuzzer target for ldp_maps_parse() and ldp_maps_find()
 * (common/procmaps.c), and ldp_proc_stat_ppid() on the same bytes (a /proc/PID/stat whose comm
 * its process chose). The input is not NUL-terminated: the parsers must not read past it.
 *
 * Oracle: on any input, no crash, no ASan/UBSan report, no leak, and the call returns 0 or
 * -ENOMEM. On success: there are no more mappings than '\n' in the input; each has start < end,
 * perms of the form [r-][w-][x-][ps], and a NUL-terminated path without '\n' shorter than the
 * input; mappings are sorted and disjoint; ldp_maps_find() returns mapping i for its first and
 * last byte and never for its end; lookups at arbitrary addresses return NULL or a mapping that
 * holds the address.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"

static void check_find(const struct ldp_maps *m, uint64_t addr)
{
	const struct ldp_map *f = ldp_maps_find(m, addr);

	if (f && (addr < f->start || addr >= f->end))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct ldp_maps m;
	size_t lines = 0;
	uint64_t probe;
	int r;

	{
		pid_t ppid = -1;

		r = ldp_proc_stat_ppid(text, size, &ppid);
		if ((r != 0 && r != -EPROTO) || (r == 0 && ppid < 0))
			abort();
	}
	r = ldp_maps_parse(text, size, &m);
	if (r < 0) {
		if (r != -ENOMEM)
			abort();
		return 0;
	}
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';
	if (m.n > lines || (m.n > 0) != (m.maps != NULL))
		abort();

	for (size_t i = 0; i < m.n; i++) {
		const struct ldp_map *g = &m.maps[i];
		size_t plen = strlen(g->path);

		if (g->start >= g->end || strlen(g->perms) != 4 || plen >= size ||
		    memchr(g->path, '\n', plen))
			abort();
		if ((g->perms[0] != 'r' && g->perms[0] != '-') ||
		    (g->perms[1] != 'w' && g->perms[1] != '-') ||
		    (g->perms[2] != 'x' && g->perms[2] != '-') ||
		    (g->perms[3] != 'p' && g->perms[3] != 's'))
			abort();
		if (i > 0 && m.maps[i - 1].end > g->start)
			abort();
		if (ldp_maps_find(&m, g->start) != g || ldp_maps_find(&m, g->end - 1) != g ||
		    ldp_maps_find(&m, g->end) == g)
			abort();
		if (g->start > 0)
			check_find(&m, g->start - 1);
	}

	check_find(&m, 0);
	check_find(&m, UINT64_MAX);
	if (size >= 8) {
		memcpy(&probe, data, 8);
		check_find(&m, probe);
	}
	ldp_maps_free(&m);
	return 0;
}
