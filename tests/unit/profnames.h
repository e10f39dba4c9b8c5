/* SPDX-License-Identifier: MIT
 *
 * profnames.h — the unit tests' names of a parsed profile (common/pprof.h's reader): a string
 * by index ("<bad index>" when out of range, so a broken profile fails a check instead of
 * crashing it) and the function name of a location (NULL when it has none).
 */
#ifndef LDP_TEST_PROFNAMES_H
#define LDP_TEST_PROFNAMES_H

#include "pprof.h"

static inline const char *str(const struct ldp_profile *p, int64_t idx)
{
	return idx >= 0 && (size_t)idx < p->nstrings ? p->strings[idx] : "<bad index>";
}

static inline const char *loc_name(const struct ldp_profile *p, uint64_t loc_id)
{
	const struct ldp_prof_location *l = ldp_profile_location(p, loc_id);
	const struct ldp_prof_function *f;

	if (!l || !l->nfuncs)
		return NULL;
	f = ldp_profile_function(p, l->func_ids[0]);
	return f ? str(p, f->name) : NULL;
}

#endif
