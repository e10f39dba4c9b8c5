/* SPDX-License-Identifier: MIT
 *
 * fuzz_pprof.c — ldp_profile_parse() on arbitrary bytes (gzip or raw protobuf).
 *
 * Oracle: no crash, no leak, no undefined behaviour (ASan/UBSan), and in every profile the
 * parser accepts, every reference resolves: each sample has nsample_types values, each of its
 * location ids finds a location, each location's mapping id (when nonzero) and function ids
 * find their entries, and every string index is inside the string table. A failed parse must
 * leave the output untouched.
 * Seeds: tests/fuzz/corpus/fuzz_pprof/ (written by `test_pprof --write-corpus DIR`).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pprof.h"

static void check_str(const struct ldp_profile *p, int64_t idx)
{
	if (idx < 0 || (uint64_t)idx >= p->nstrings)
		abort();
	/* touch the string: ASan checks it is inside the parsed block */
	(void)strlen(p->strings[idx]);
}

static void walk(const struct ldp_profile *p)
{
	if (p->nstrings == 0 || p->strings[0][0] != '\0')
		abort();
	for (size_t i = 0; i < p->nsample_types; i++) {
		check_str(p, p->sample_types[i].type);
		check_str(p, p->sample_types[i].unit);
	}
	check_str(p, p->period_type.type);
	check_str(p, p->period_type.unit);
	check_str(p, p->default_sample_type);

	for (size_t i = 0; i < p->nsamples; i++) {
		const struct ldp_prof_sample *s = &p->samples[i];
		int64_t sum = 0;

		if (s->nvalues != p->nsample_types)
			abort();
		for (size_t j = 0; j < s->nvalues; j++)
			sum ^= s->values[j];
		for (size_t j = 0; j < s->nlabels; j++) {
			check_str(p, s->labels[j].key);
			check_str(p, s->labels[j].str);
		}
		for (size_t j = 0; j < s->nlocs; j++) {
			const struct ldp_prof_location *l = ldp_profile_location(p, s->locs[j]);

			if (!l || l->id != s->locs[j])
				abort();
			if (l->mapping_id) {
				const struct ldp_prof_mapping *m = ldp_profile_mapping(p, l->mapping_id);

				if (!m || m->id != l->mapping_id)
					abort();
				check_str(p, m->filename);
				check_str(p, m->build_id);
			}
			for (size_t k = 0; k < l->nfuncs; k++) {
				const struct ldp_prof_function *f = ldp_profile_function(p, l->func_ids[k]);

				if (!f || f->id != l->func_ids[k])
					abort();
				check_str(p, f->name);
				check_str(p, f->system_name);
				check_str(p, f->filename);
			}
		}
		(void)sum;
	}
	/* tables are sorted by id with no duplicates, and every entry finds itself */
	for (size_t i = 0; i < p->nlocations; i++)
		if ((i && p->locations[i].id <= p->locations[i - 1].id) ||
		    ldp_profile_location(p, p->locations[i].id) != &p->locations[i])
			abort();
	for (size_t i = 0; i < p->nfunctions; i++)
		if ((i && p->functions[i].id <= p->functions[i - 1].id) ||
		    ldp_profile_function(p, p->functions[i].id) != &p->functions[i])
			abort();
	for (size_t i = 0; i < p->nmappings; i++)
		if ((i && p->mappings[i].id <= p->mappings[i - 1].id) ||
		    ldp_profile_mapping(p, p->mappings[i].id) != &p->mappings[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ldp_profile p, untouched;

	memset(&p, 0xa5, sizeof(p));
	memcpy(&untouched, &p, sizeof(p));
	if (ldp_profile_parse(data, size, &p) < 0) {
		if (memcmp(&p, &untouched, sizeof(p)) != 0)
			abort();
		return 0;
	}
	walk(&p);
	ldp_profile_free(&p);
	return 0;
}
