/* SPDX-License-Identifier: MIT
 *
 * fuzz_pprof.c — ldp_profile_parse() on arbitrary bytes (gzip or raw protobuf).
 *
 * Oracle: no crash, no leak, no undefined behaviour (ASan/UBSan), and in every profile the
 * parser accepts, every reference resolves: each sample has nsample_types values, each of its
 * location ids finds a location, each location's mapping id (when nonzero) and function ids
 * find their entries, and every string index is inside the string table. A failed parse must
 * leave the output untouched.
 * Then the profile is drawn as `ldprof report --svg` would (injector/flame.c, names straight
 * from the profile): the file must be whole (ends with </svg>), valid UTF-8, and hold no control
 * character but newlines, whatever the names were. So must the HTML report
 * (injector/htmlview.c), whose data must also hold no '<': nothing can end its <script> early.
 * A raw profile with a comment appended (ldp_profile_append_comments, what file:// delivery
 * does) must parse and carry it.
 * Seeds: tests/fuzz/corpus/fuzz_pprof/ (written by `test_pprof --write-corpus DIR`).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flame.h"
#include "htmlview.h"
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

static int utf8_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = p[i] < 0x80 ? 1 : (p[i] & 0xe0) == 0xc0 && p[i] >= 0xc2 ? 2 :
			   (p[i] & 0xf0) == 0xe0 ? 3 : (p[i] & 0xf8) == 0xf0 ? 4 : 0;

		if (!k || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
		if (k == 1 && p[i] < 0x20 && p[i] != '\n')
			return 0;
		i += k;
	}
	return 1;
}

static void draw(const struct ldp_profile *p)
{
	struct ldp_flame *f = ldp_flame_new();
	const char **names = calloc(p->nlocations + 1, sizeof(*names));
	unsigned char *kinds = calloc(p->nlocations + 1, 1);
	int64_t ids[64], *groups = calloc(p->nsamples + 1, LDP_HTML_GROUP * sizeof(*groups));
	const char *value = "v\xff</script>", *values[1] = { value };
	char *out = NULL;
	size_t len = 0;
	FILE *m;

	if (!f || !names || !kinds || !groups)
		abort();
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct ldp_prof_location *l = &p->locations[i];
		const struct ldp_prof_function *fn = l->nfuncs ? ldp_profile_function(p, l->func_ids[0]) : NULL;

		names[i] = fn ? p->strings[fn->name] : "";
		kinds[i] = (unsigned char)(i % 6);
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct ldp_prof_sample *s = &p->samples[i];
		size_t n = 0;

		for (size_t j = 0; j < s->nlocs && n < 64; j++)
			ids[n++] = ldp_profile_location(p, s->locs[j]) - p->locations;
		int64_t node = ldp_flame_add(f, ids, n, s->nvalues ? (s->values[0] & 0xffff) : 1, (int)(i & 1));

		if (node < 0 || (size_t)node >= ldp_flame_nodes(f))
			abort();
		groups[i * LDP_HTML_GROUP] = node;
		groups[i * LDP_HTML_GROUP + 1] = (int64_t)(i & 1);
		groups[i * LDP_HTML_GROUP + 5] = s->nvalues ? s->values[0] : 1;
	}
	for (int diff = 0; diff < 2; diff++) {
		struct ldp_flame_svg o = { .title = "t", .subtitle = "s", .names = names, .kinds = kinds,
					   .diff = diff };

		m = open_memstream(&out, &len);
		if (!m || ldp_flame_write_svg(f, &o, m) < 0)
			abort();
		fclose(m);
		if (len < 7 || strcmp(out + len - 7, "</svg>\n") || !utf8_ok((unsigned char *)out, len))
			abort();
		free(out);
		out = NULL;
	}
	/* the page: its data can never end its <script> element, and it is all UTF-8 */
	for (int diff = 0; diff < 2; diff++) {
		struct ldp_html_view v = { .title = value, .subtitle = "s", .diff = diff, .names = names,
					   .kinds = kinds, .nframes = p->nlocations, .flame = f,
					   .groups = groups, .ngroups = p->nsamples };
		const char *start, *end;

		for (int k = 0; k < LDP_HTML_NFILTERS; k++) {
			v.values[k] = values;
			v.nvalues[k] = 1;
		}
		m = open_memstream(&out, &len);
		if (!m || ldp_html_write(&v, m) < 0)
			abort();
		fclose(m);
		start = strstr(out, "id=\"ldprof-data\">");
		end = start ? strstr(start, "</script>") : NULL;
		if (!end || memchr(start + 17, '<', (size_t)(end - start - 17)) ||
		    strncmp(end, "</script>\n<script>", 18) || !utf8_ok((unsigned char *)out, len))
			abort();
		free(out);
		out = NULL;
	}
	ldp_flame_free(f);
	free(names);
	free(kinds);
	free(groups);
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
	draw(&p);
	/* a raw profile that parses still parses with a comment appended, and has it */
	if (size >= 2 && !(data[0] == 0x1f && data[1] == 0x8b)) {
		static const char *const c[] = { "service_name=x" };
		struct ldp_profile q;
		uint8_t *more = NULL;
		size_t n = 0;

		if (ldp_profile_append_comments(data, size, c, 1, &more, &n) != 0 ||
		    ldp_profile_parse(more, n, &q) != 0)
			abort();
		if (q.ncomments != p.ncomments + 1 || strcmp(q.strings[q.comments[p.ncomments]], c[0]))
			abort();
		ldp_profile_free(&q);
		free(more);
	}
	ldp_profile_free(&p);
	return 0;
}
