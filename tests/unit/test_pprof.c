/* SPDX-License-Identifier: MIT
 *
 * test_pprof.c — the pprof writer, reader and `ldprof report`, end to end.
 *
 * Builds profiles with the writer, parses them back (gzip and raw), checks what Parca and
 * `go tool pprof` rely on (ids dense from 1, string_table[0] == "", interning), then feeds the
 * reader hand-made hostile protobufs and every truncation of a real profile. The report checks
 * run ldp_report_main() with stdout/stderr sent to files.
 *
 * `test_pprof --write-corpus DIR` writes the fuzz seeds (tests/fuzz/corpus/fuzz_pprof/) and a
 * sample profile for trying `go tool pprof` by hand, then exits.
 * Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "pprof.h"
#include "report.h"

#include "check.h"
#include "profnames.h"

#define PERIOD 10000000 /* 100 Hz */
#define T0 1700000000000000000ll
#define DUR 10000000000ll

/* ---- helpers ---- */

static int gunzip_all(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	size_t cap = 1 << 20;
	uLongf n = cap;
	uint8_t *out = malloc(cap);
	z_stream zs = { 0 };

	if (!out)
		return -ENOMEM;
	inflateInit2(&zs, 15 + 32);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)n;
	if (inflate(&zs, Z_FINISH) != Z_STREAM_END) {
		inflateEnd(&zs);
		free(out);
		return -EINVAL;
	}
	*ret = out;
	*ret_len = zs.total_out;
	inflateEnd(&zs);
	return 0;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wbe");

	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

/* A small CPU profile: main -> work -> (leaf | libc+0x...) with labels and a duplicate stack. */
static struct ldp_pprof *build_sample_profile(void)
{
	struct ldp_pprof *b = ldp_pprof_new(PERIOD, T0, DUR);
	struct ldp_pprof_label lab[] = { { "thread_name", "worker-1" }, { "tid", "42" } };
	int64_t m1, m2, l_main, l_work, l_leaf, l_libc, l_anon;

	if (!b)
		return NULL;
	m1 = ldp_pprof_add_mapping(b, 0x400000, 0x500000, 0, "/usr/bin/demo", "abcdef0123");
	m2 = ldp_pprof_add_mapping(b, 0x7f0000000000, 0x7f0000100000, 0x2000,
				   "/lib/x86_64-linux-gnu/libc.so.6", NULL);
	l_main = ldp_pprof_add_location(b, (uint64_t)m1, 0x401000, "main");
	l_work = ldp_pprof_add_location(b, (uint64_t)m1, 0x401100, "work");
	l_leaf = ldp_pprof_add_location(b, (uint64_t)m1, 0x401200, "hot_leaf");
	l_libc = ldp_pprof_add_location(b, (uint64_t)m2, 0x7f0000001234, NULL);
	l_anon = ldp_pprof_add_location(b, 0, 0xdeadbeef, NULL);
	if (m1 < 0 || m2 < 0 || l_main < 0 || l_work < 0 || l_leaf < 0 || l_libc < 0 || l_anon < 0)
		goto fail;
	{
		uint64_t s1[] = { (uint64_t)l_leaf, (uint64_t)l_work, (uint64_t)l_main };
		uint64_t s2[] = { (uint64_t)l_libc, (uint64_t)l_work, (uint64_t)l_main };
		uint64_t s3[] = { (uint64_t)l_anon, (uint64_t)l_main };
		uint64_t s4[] = { (uint64_t)l_work, (uint64_t)l_work, (uint64_t)l_main }; /* recursion */

		if (ldp_pprof_add_sample(b, s1, 3, 7, lab, 2) < 0 ||
		    ldp_pprof_add_sample(b, s2, 3, 2, NULL, 0) < 0 ||
		    ldp_pprof_add_sample(b, s1, 3, 3, NULL, 0) < 0 ||
		    ldp_pprof_add_sample(b, s3, 2, 1, lab, 1) < 0 ||
		    ldp_pprof_add_sample(b, s4, 3, 1, NULL, 0) < 0)
			goto fail;
	}
	return b;
fail:
	ldp_pprof_free(b);
	return NULL;
}

/* ---- writer -> reader ---- */

static void check_sample_profile(const struct ldp_profile *p, const char *what)
{
	const struct ldp_prof_mapping *m;
	const struct ldp_prof_location *l;
	bool dense = true;

	CHECK(p->nstrings > 0 && strcmp(p->strings[0], "") == 0, "%s: string_table[0] is \"\"", what);
	CHECK(p->nsample_types == 2 && !strcmp(str(p, p->sample_types[0].type), "samples") &&
		      !strcmp(str(p, p->sample_types[0].unit), "count") &&
		      !strcmp(str(p, p->sample_types[1].type), "cpu") &&
		      !strcmp(str(p, p->sample_types[1].unit), "nanoseconds"),
	      "%s: sample types samples/count, cpu/nanoseconds", what);
	CHECK(!strcmp(str(p, p->period_type.type), "cpu") &&
		      !strcmp(str(p, p->period_type.unit), "nanoseconds"),
	      "%s: period type cpu/nanoseconds", what);
	CHECK(p->period == PERIOD && p->time_nanos == T0 && p->duration_nanos == DUR,
	      "%s: period %lld, time %lld, duration %lld", what, (long long)p->period,
	      (long long)p->time_nanos, (long long)p->duration_nanos);
	CHECK(p->nmappings == 2 && p->nlocations == 5 && p->nfunctions == 3 && p->nsamples == 5,
	      "%s: 2 mappings, 5 locations, 3 functions, 5 samples (got %zu %zu %zu %zu)", what,
	      p->nmappings, p->nlocations, p->nfunctions, p->nsamples);
	for (size_t i = 0; i < p->nmappings; i++)
		dense &= p->mappings[i].id == i + 1;
	for (size_t i = 0; i < p->nlocations; i++)
		dense &= p->locations[i].id == i + 1;
	for (size_t i = 0; i < p->nfunctions; i++)
		dense &= p->functions[i].id == i + 1;
	CHECK(dense, "%s: ids dense from 1 in insertion order", what);

	m = ldp_profile_mapping(p, 1);
	CHECK(m && m->start == 0x400000 && m->limit == 0x500000 && m->offset == 0 &&
		      !strcmp(str(p, m->filename), "/usr/bin/demo") &&
		      !strcmp(str(p, m->build_id), "abcdef0123"),
	      "%s: main mapping first, with build id", what);
	m = ldp_profile_mapping(p, 2);
	CHECK(m && m->offset == 0x2000 && m->build_id == 0 &&
		      !strcmp(str(p, m->filename), "/lib/x86_64-linux-gnu/libc.so.6"),
	      "%s: libc mapping, no build id", what);
	CHECK(!ldp_profile_mapping(p, 0) && !ldp_profile_mapping(p, 3) &&
		      !ldp_profile_location(p, 6) && !ldp_profile_function(p, 0),
	      "%s: unknown ids resolve to NULL", what);

	CHECK(!strcmp(loc_name(p, 1) ?: "", "main") && !strcmp(loc_name(p, 2) ?: "", "work") &&
		      !strcmp(loc_name(p, 3) ?: "", "hot_leaf"),
	      "%s: function names", what);
	l = ldp_profile_location(p, 4);
	CHECK(l && l->nfuncs == 0 && l->mapping_id == 2 && l->address == 0x7f0000001234,
	      "%s: unsymbolized location keeps mapping and address", what);
	l = ldp_profile_location(p, 5);
	CHECK(l && l->nfuncs == 0 && l->mapping_id == 0 && l->address == 0xdeadbeef,
	      "%s: location without mapping", what);

	{
		const struct ldp_prof_sample *s = &p->samples[0];

		CHECK(s->nlocs == 3 && s->locs[0] == 3 && s->locs[1] == 2 && s->locs[2] == 1,
		      "%s: sample 0 stack leaf first", what);
		CHECK(s->nvalues == 2 && s->values[0] == 7 && s->values[1] == 7ll * PERIOD,
		      "%s: sample 0 values [7, 7*period]", what);
		CHECK(s->nlabels == 2 && !strcmp(str(p, s->labels[0].key), "thread_name") &&
			      !strcmp(str(p, s->labels[0].str), "worker-1") &&
			      !strcmp(str(p, s->labels[1].key), "tid") &&
			      !strcmp(str(p, s->labels[1].str), "42"),
		      "%s: sample 0 labels", what);
		CHECK(p->samples[1].nlabels == 0 && p->samples[3].nlabels == 1,
		      "%s: label counts per sample", what);
	}
	{
		/* every string appears once */
		bool unique = true;

		for (size_t i = 0; i < p->nstrings; i++)
			for (size_t j = i + 1; j < p->nstrings; j++)
				unique &= strcmp(p->strings[i], p->strings[j]) != 0;
		CHECK(unique, "%s: strings interned (%zu unique)", what, p->nstrings);
	}
}

static void test_roundtrip(void)
{
	struct ldp_pprof *b = build_sample_profile();
	struct ldp_profile p = { 0 };
	uint8_t *gz = NULL, *raw = NULL;
	size_t gzlen = 0, rawlen = 0;
	int r;

	CHECK(b, "build sample profile");
	if (!b)
		return;
	r = ldp_pprof_serialize(b, &gz, &gzlen);
	CHECK(r == 0 && gzlen > 20 && gz[0] == 0x1f && gz[1] == 0x8b, "serialize gives gzip (%d)", r);
	if (r < 0)
		goto out;

	r = ldp_profile_parse(gz, gzlen, &p);
	CHECK(r == 0, "parse gzip (%d)", r);
	if (r == 0)
		check_sample_profile(&p, "gzip");
	ldp_profile_free(&p);
	CHECK(p.mem_ == NULL && p.nsamples == 0, "free leaves the profile zeroed");
	ldp_profile_free(&p); /* twice is fine */

	r = gunzip_all(gz, gzlen, &raw, &rawlen);
	CHECK(r == 0, "zlib inflates our gzip");
	if (r == 0) {
		r = ldp_profile_parse(raw, rawlen, &p);
		CHECK(r == 0, "parse raw protobuf (%d)", r);
		if (r == 0)
			check_sample_profile(&p, "raw");
		ldp_profile_free(&p);
	}

	/* the builder stays usable after serialize */
	{
		uint64_t loc = 1;
		uint8_t *gz2 = NULL;
		size_t gz2len;

		r = ldp_pprof_add_sample(b, &loc, 1, 5, NULL, 0);
		if (r == 0)
			r = ldp_pprof_serialize(b, &gz2, &gz2len);
		if (r == 0)
			r = ldp_profile_parse(gz2, gz2len, &p);
		CHECK(r == 0 && p.nsamples == 6 && p.samples[5].values[0] == 5,
		      "add after serialize, serialize again");
		ldp_profile_free(&p);
		free(gz2);
	}

	/* every truncation of a valid profile must fail cleanly (or parse: a cut at a field edge) */
	{
		size_t ok = 0;

		for (size_t n = 0; n < gzlen; n++) {
			if (ldp_profile_parse(gz, n, &p) == 0) {
				ok++;
				ldp_profile_free(&p);
			}
		}
		CHECK(ok == 0, "all %zu truncations of the gzip are rejected", gzlen);
		ok = 0;
		for (size_t n = 0; raw && n < rawlen; n++) {
			if (ldp_profile_parse(raw, n, &p) == 0) {
				ok++;
				ldp_profile_free(&p);
			}
		}
		CHECK(true, "%zu truncations of the raw protobuf parse cleanly, the rest are rejected",
		      ok);
	}
out:
	free(gz);
	free(raw);
	ldp_pprof_free(b);
}

static void test_interning(void)
{
	struct ldp_pprof *b = ldp_pprof_new(PERIOD, 0, 0);
	struct ldp_profile p = { 0 };
	int64_t m, a, a2, c, d, e;
	uint64_t loc;
	uint8_t *gz = NULL;
	size_t gzlen;
	int r;

	CHECK(b, "new");
	if (!b)
		return;
	m = ldp_pprof_add_mapping(b, 0x1000, 0x2000, 0, "/bin/x", NULL);
	a = ldp_pprof_add_location(b, (uint64_t)m, 0x1100, "f");
	a2 = ldp_pprof_add_location(b, (uint64_t)m, 0x1100, "f");
	c = ldp_pprof_add_location(b, (uint64_t)m, 0x1200, "f"); /* same function, other address */
	d = ldp_pprof_add_location(b, 0, 0x1100, "g");           /* same address, no mapping */
	e = ldp_pprof_add_location(b, (uint64_t)m, 0x1100, "other"); /* first name wins */
	CHECK(m == 1 && a == 1 && a2 == 1 && c == 2 && d == 3 && e == 1,
	      "locations dedup by (mapping, address): %lld %lld %lld %lld %lld",
	      (long long)a, (long long)a2, (long long)c, (long long)d, (long long)e);

	CHECK(ldp_pprof_add_location(b, 2, 0x1, "f") == -EINVAL, "unknown mapping id rejected");
	loc = 9;
	CHECK(ldp_pprof_add_sample(b, &loc, 1, 1, NULL, 0) == -EINVAL, "unknown location rejected");
	loc = 0;
	CHECK(ldp_pprof_add_sample(b, &loc, 1, 1, NULL, 0) == -EINVAL, "location 0 rejected");
	loc = 1;
	CHECK(ldp_pprof_add_sample(b, &loc, 1, -1, NULL, 0) == -EINVAL, "negative count rejected");
	CHECK(ldp_pprof_add_sample(b, &loc, 1, INT64_MAX / 2, NULL, 0) == -EOVERFLOW,
	      "cpu ns overflow rejected");
	{
		struct ldp_pprof_label bad = { "k", NULL };

		CHECK(ldp_pprof_add_sample(b, &loc, 1, 1, &bad, 1) == -EINVAL, "NULL label rejected");
	}
	CHECK(ldp_pprof_add_sample(b, NULL, 0, 4, NULL, 0) == 0, "empty stack accepted");
	CHECK(ldp_pprof_add_sample(b, &loc, 1, 0, NULL, 0) == 0, "zero count accepted");

	r = ldp_pprof_serialize(b, &gz, &gzlen);
	if (r == 0)
		r = ldp_profile_parse(gz, gzlen, &p);
	CHECK(r == 0 && p.nsamples == 2 && p.nlocations == 3 && p.nfunctions == 2,
	      "failed adds left nothing behind, functions dedup by name");
	if (r == 0) {
		CHECK(p.samples[0].nlocs == 0 && p.samples[0].values[0] == 4 &&
			      p.samples[0].values[1] == 4ll * PERIOD,
		      "empty-stack sample round trip");
		CHECK(p.samples[1].values[0] == 0 && p.samples[1].values[1] == 0,
		      "zero values round trip");
		CHECK(p.time_nanos == 0 && p.duration_nanos == 0, "zero time/duration");
		CHECK(ldp_profile_location(&p, 3)->mapping_id == 0, "mapping 0 kept as none");
	}
	ldp_profile_free(&p);
	free(gz);
	ldp_pprof_free(b);
	ldp_pprof_free(NULL);
}

/* Past LDP_PPROF_MAX_ENTRIES locations the builder refuses new ones and keeps the old. */
static void test_caps(void)
{
	struct ldp_pprof *b = ldp_pprof_new(PERIOD, 0, 0);
	int64_t r = 0;

	CHECK(b, "new");
	if (!b)
		return;
	for (uint64_t i = 0; i < LDP_PPROF_MAX_ENTRIES && r >= 0; i++)
		r = ldp_pprof_add_location(b, 0, 0x1000 + i, NULL);
	CHECK(r == LDP_PPROF_MAX_ENTRIES, "%u locations fit", LDP_PPROF_MAX_ENTRIES);
	CHECK(ldp_pprof_add_location(b, 0, 0x10, NULL) == -E2BIG, "one more: -E2BIG");
	CHECK(ldp_pprof_add_location(b, 0, 0x1005, NULL) == 6, "existing ones still found");
	ldp_pprof_free(b);
}

/* ---- hand-made protobufs for the reader ---- */

struct pb {
	uint8_t b[4096];
	size_t n;
};

static void pb_varint(struct pb *pb, uint64_t v)
{
	while (v >= 0x80) {
		pb->b[pb->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	pb->b[pb->n++] = (uint8_t)v;
}

static void pb_uint(struct pb *pb, unsigned field, uint64_t v)
{
	pb_varint(pb, (uint64_t)field << 3);
	pb_varint(pb, v);
}

static void pb_bytes(struct pb *pb, unsigned field, const void *data, size_t n)
{
	pb_varint(pb, (uint64_t)field << 3 | 2);
	pb_varint(pb, n);
	memcpy(pb->b + pb->n, data, n);
	pb->n += n;
}

static void pb_msg(struct pb *pb, unsigned field, const struct pb *sub)
{
	pb_bytes(pb, field, sub->b, sub->n);
}

static void pb_str(struct pb *pb, const char *s)
{
	pb_bytes(pb, 6, s, strlen(s));
}

/* Strings: 0 "", 1 samples, 2 count, 3 f, 4 g, 5 /lib/x.so, 6 key, 7 ms */
static void pb_strings(struct pb *pb)
{
	const char *s[] = { "", "samples", "count", "f", "g", "/lib/x.so", "key", "ms" };

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		pb_str(pb, s[i]);
}

enum hostile {
	H_NONE, H_SPARSE_OK, H_STR0, H_STRIDX, H_LOCREF, H_FUNCREF, H_MAPREF, H_DUPID, H_ZEROID,
	H_NVALUES, H_WIRETYPE, H_GROUP, H_LONGVARINT, H_LEN_PAST_END, H_NOSTRINGS,
};

/* A profile with sparse ids, an inlined location (two lines) and unpacked repeated fields;
 * `h` breaks one thing in it. */
static void make_handmade(struct pb *out, enum hostile h)
{
	struct pb st = { 0 }, s = { 0 }, lab = { 0 }, m = { 0 }, l = { 0 }, line = { 0 },
		  line2 = { 0 }, f = { 0 }, f2 = { 0 };

	memset(out, 0, sizeof(*out));
	pb_uint(&st, 1, 1);
	pb_uint(&st, 2, h == H_STRIDX ? 99 : 2);
	pb_msg(out, 1, &st);

	/* sample: unpacked location ids, one value, one numeric label */
	pb_uint(&s, 1, h == H_LOCREF ? 8 : 7);
	pb_uint(&s, 2, 5);
	if (h == H_NVALUES)
		pb_uint(&s, 2, 6);
	pb_uint(&lab, 1, 6);
	pb_uint(&lab, 3, 1234);
	pb_uint(&lab, 4, 7);
	pb_msg(&s, 3, &lab);
	pb_msg(out, 2, &s);

	pb_uint(&m, 1, 3);
	pb_uint(&m, 2, 0x1000);
	pb_uint(&m, 3, 0x9000);
	pb_uint(&m, 5, 5);
	pb_msg(out, 3, &m);

	pb_uint(&l, 1, h == H_ZEROID ? 0 : 7);
	pb_uint(&l, 2, h == H_MAPREF ? 4 : 3);
	pb_uint(&l, 3, 0x1234);
	pb_uint(&line, 1, 11); /* inlined callee first */
	pb_uint(&line, 2, 10);
	pb_msg(&l, 4, &line);
	pb_uint(&line2, 1, h == H_FUNCREF ? 13 : 12);
	pb_msg(&l, 4, &line2);
	pb_msg(out, 4, &l);

	pb_uint(&f, 1, 11);
	pb_uint(&f, 2, 3);
	pb_msg(out, 5, &f);
	pb_uint(&f2, 1, h == H_DUPID ? 11 : 12);
	pb_uint(&f2, 2, 4);
	pb_msg(out, 5, &f2);

	if (h == H_WIRETYPE)
		pb_bytes(out, 9, "x", 1); /* time_nanos as bytes */
	if (h == H_GROUP)
		pb_varint(out, 20 << 3 | 3);
	if (h == H_LONGVARINT) {
		pb_varint(out, 9 << 3);
		for (int i = 0; i < 11; i++)
			out->b[out->n++] = 0xff;
		out->b[out->n++] = 0x01;
	}
	/* an unknown field of every wire type, skipped */
	pb_uint(out, 100, 1);
	pb_varint(out, 101 << 3 | 1);
	memset(out->b + out->n, 0, 8);
	out->n += 8;
	pb_varint(out, 102 << 3 | 5);
	memset(out->b + out->n, 0, 4);
	out->n += 4;
	pb_bytes(out, 103, "zz", 2);

	if (h == H_STR0)
		pb_str(out, "not empty");
	if (h != H_NOSTRINGS)
		pb_strings(out);
	pb_uint(out, 13, 3); /* comment "f" */
	if (h == H_LEN_PAST_END) {
		pb_varint(out, 6 << 3 | 2);
		pb_varint(out, 1000);
	}
}

static void test_reader_handmade(void)
{
	static const struct { enum hostile h; const char *what; int want; } cases[] = {
		{ H_STR0, "string_table[0] not empty", -EINVAL },
		{ H_STRIDX, "string index out of range", -EINVAL },
		{ H_LOCREF, "sample -> unknown location", -EINVAL },
		{ H_FUNCREF, "line -> unknown function", -EINVAL },
		{ H_MAPREF, "location -> unknown mapping", -EINVAL },
		{ H_DUPID, "duplicate function id", -EINVAL },
		{ H_ZEROID, "location id 0", -EINVAL },
		{ H_NVALUES, "more values than sample types", -EINVAL },
		{ H_WIRETYPE, "known field with the wrong wire type", -EINVAL },
		{ H_GROUP, "group wire type", -EINVAL },
		{ H_LONGVARINT, "varint longer than 10 bytes", -EINVAL },
		{ H_LEN_PAST_END, "length past the end", -EINVAL },
		{ H_NOSTRINGS, "no string table", -EINVAL },
	};
	struct ldp_profile p = { 0 };
	struct pb pb;
	int r;

	make_handmade(&pb, H_NONE);
	r = ldp_profile_parse(pb.b, pb.n, &p);
	CHECK(r == 0, "hand-made profile: sparse ids, inline lines, unpacked fields, unknown fields "
		      "(%d)", r);
	if (r == 0) {
		const struct ldp_prof_location *l = ldp_profile_location(&p, 7);

		CHECK(l && l->nfuncs == 2 && l->func_ids[0] == 11 && l->func_ids[1] == 12,
		      "inlined location keeps both functions, callee first");
		CHECK(l && ldp_profile_mapping(&p, l->mapping_id) &&
			      !strcmp(str(&p, ldp_profile_mapping(&p, 3)->filename), "/lib/x.so"),
		      "sparse mapping id resolves");
		CHECK(!strcmp(str(&p, ldp_profile_function(&p, 12)->name), "g"),
		      "sparse function id resolves");
		CHECK(p.nsamples == 1 && p.samples[0].nlabels == 1 &&
			      p.samples[0].labels[0].num == 1234 && p.samples[0].labels[0].str == 0,
		      "numeric label");
	}
	ldp_profile_free(&p);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0x5a, sizeof(p));
		make_handmade(&pb, cases[i].h);
		r = ldp_profile_parse(pb.b, pb.n, &p);
		CHECK(r == cases[i].want && p.nstrings == 0x5a5a5a5a5a5a5a5aull,
		      "rejects %s (%d), output untouched", cases[i].what, r);
		if (r == 0)
			ldp_profile_free(&p);
	}

	CHECK(ldp_profile_parse((const uint8_t *)"", 0, &p) == -EINVAL, "empty input rejected");
	CHECK(ldp_profile_parse((const uint8_t *)"\x1f\x8bgarbage", 9, &p) == -EINVAL,
	      "bad gzip rejected");
	CHECK(ldp_profile_parse((const uint8_t *)"hello, world\n", 13, &p) == -EINVAL,
	      "text rejected");
}

/* A gzip stream of 300 MiB of zeros: the reader must stop at its cap, not allocate it all. */
static void test_gzip_bomb(void)
{
	static uint8_t zeros[1 << 20];
	z_stream zs = { 0 };
	struct ldp_profile p;
	uint8_t *out;
	size_t cap = 1 << 20;
	int r;

	out = malloc(cap);
	if (!out || deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		CHECK(false, "set up deflate");
		free(out);
		return;
	}
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	for (int i = 0; i < 300; i++) {
		zs.next_in = zeros;
		zs.avail_in = sizeof(zeros);
		deflate(&zs, i == 299 ? Z_FINISH : Z_NO_FLUSH);
	}
	r = ldp_profile_parse(out, zs.total_out, &p);
	CHECK(r == -E2BIG, "gzip bomb (%lu bytes -> 300 MiB) stops at the cap (%d)",
	      (unsigned long)zs.total_out, r);
	deflateEnd(&zs);
	free(out);
}

/* ---- ldprof report ---- */

static char tmpdir[] = "/tmp/test_pprof.XXXXXX";

/* Runs report with stdout and stderr captured into files; returns the exit code. */
static int run_report(char **argv, int argc, char *out, size_t outsz, char *err, size_t errsz)
{
	char opath[256], epath[256];
	int saved_out = dup(1), saved_err = dup(2), fd, rc;
	FILE *f;
	size_t n;

	snprintf(opath, sizeof(opath), "%s/stdout", tmpdir);
	snprintf(epath, sizeof(epath), "%s/stderr", tmpdir);
	fflush(stdout);
	fd = open(opath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, 1);
	close(fd);
	fd = open(epath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(fd, 2);
	close(fd);
	rc = ldp_report_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);

	f = fopen(opath, "re");
	n = f ? fread(out, 1, outsz - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	f = fopen(epath, "re");
	n = f ? fread(err, 1, errsz - 1, f) : 0;
	err[n] = '\0';
	if (f)
		fclose(f);
	return rc;
}

static void test_report(void)
{
	char dir[64], empty[64], path[128], bad[128], out[8192], err[1024];
	struct ldp_pprof *b = build_sample_profile();
	uint8_t *gz = NULL;
	size_t gzlen;
	int rc;

	if (!mkdtemp(tmpdir) || !b || ldp_pprof_serialize(b, &gz, &gzlen) < 0) {
		CHECK(false, "set up report test");
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/profiles", tmpdir);
	snprintf(empty, sizeof(empty), "%s/empty", tmpdir);
	mkdir(dir, 0700);
	mkdir(empty, 0700);
	snprintf(path, sizeof(path), "%s/a.pb.gz", dir);
	write_file(path, gz, gzlen);
	snprintf(path, sizeof(path), "%s/b.pb.gz", dir);
	write_file(path, gz, gzlen);
	snprintf(path, sizeof(path), "%s/notes.txt", dir); /* not a profile name: ignored */
	write_file(path, "x", 1);
	snprintf(bad, sizeof(bad), "%s/bad.pb.gz", tmpdir);
	write_file(bad, "garbage", 7);

	{
		char *argv[] = { "report", "--folded", dir };

		rc = run_report(argv, 3, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 0 && !strcmp(out, "main;0xdeadbeef 2\n"
					      "main;work;hot_leaf 20\n"
					      "main;work;libc.so.6+0x3234 4\n"
					      "main;work;work 2\n"),
		      "folded output of two merged profiles:\n%s%s", out, err);
	}
	{
		char *argv[] = { "report", "--top", "3", dir };

		rc = run_report(argv, 4, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 0 && !strncmp(out, "Total: 28 samples in 2 profiles\n", 32) &&
			      strstr(out, "        20  71.4%         20  71.4%  hot_leaf\n") &&
			      !strstr(out, "  main\n") &&
			      strstr(out, "  libc.so.6+0x3234\n") && strstr(out, "  work\n") &&
			      !strstr(out, "0xdeadbeef"),
		      "top 3 table:\n%s%s", out, err);
	}
	{
		char *argv[] = { "report", "--top=0", dir };
		int lines = 0;

		rc = run_report(argv, 3, out, sizeof(out), err, sizeof(err));
		for (char *c = out; *c; c++)
			lines += *c == '\n';
		CHECK(rc == 0 && lines == 2 + 5 && strstr(out, "  0xdeadbeef\n"),
		      "--top=0 shows all 5 functions");
	}
	{
		char *argv[] = { "report", dir };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		/* work: flat 2 (the recursive sample), cum 20 + 4 + 2 = 26, counted once per sample */
		CHECK(rc == 0 && strstr(out, "         2   7.1%         26  92.9%  work\n") &&
			      strstr(out, "         0   0.0%         28 100.0%  main\n"),
		      "flat/cum with recursion:\n%s", out);
	}
	{
		char *argv[] = { "report", "--bogus" };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 2 && !strncmp(err, "ldprof report: ", 15) && !strchr(err, '\n')[1],
		      "unknown option: exit 2, one line: %s", err);
	}
	{
		char *argv[] = { "report", "--top", "-3", dir };

		rc = run_report(argv, 4, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 2 && !strncmp(err, "ldprof report: ", 15), "bad --top: exit 2: %s", err);
	}
	{
		char *argv[] = { "report", "--top" };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 2 && !strncmp(err, "ldprof report: ", 15), "missing --top value: exit 2");
	}
	{
		char *argv[] = { "report", "/nonexistent/x.pb.gz" };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 1 && strstr(err, "/nonexistent/x.pb.gz") && !out[0],
		      "missing path: exit 1: %s", err);
	}
	{
		char *argv[] = { "report", bad };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 1 && strstr(err, bad) && !out[0], "garbage file: exit 1: %s", err);
	}
	{
		char *argv[] = { "report", empty };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 1 && !strncmp(err, "ldprof report: ", 15), "no profiles: exit 1: %s", err);
	}
	{
		char *argv[] = { "report", "--help" };

		rc = run_report(argv, 2, out, sizeof(out), err, sizeof(err));
		CHECK(rc == 0 && !strncmp(out, "usage: ldprof report", 20), "--help");
	}
out:
	free(gz);
	ldp_pprof_free(b);
	if (tmpdir[strlen(tmpdir) - 1] != 'X') {
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

/* ---- seeds for the fuzzer ---- */

static int write_corpus(const char *dir)
{
	struct ldp_pprof *b = build_sample_profile();
	uint8_t *gz = NULL, *raw = NULL;
	size_t gzlen, rawlen;
	char path[4096];
	struct pb pb;
	int r = -ENOMEM;

	if (!b)
		goto out;
	r = ldp_pprof_serialize(b, &gz, &gzlen);
	if (r < 0)
		goto out;
	r = gunzip_all(gz, gzlen, &raw, &rawlen);
	if (r < 0)
		goto out;
	make_handmade(&pb, H_NONE);
	snprintf(path, sizeof(path), "%s/cpu.pb.gz", dir);
	if ((r = write_file(path, gz, gzlen)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/cpu.pb", dir);
	if ((r = write_file(path, raw, rawlen)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/handmade-sparse-inline.pb", dir);
	r = write_file(path, pb.b, pb.n);
out:
	if (r < 0)
		fprintf(stderr, "test_pprof: writing the corpus to '%s': %s\n", dir, strerror(-r));
	free(gz);
	free(raw);
	ldp_pprof_free(b);
	return r < 0;
}

/* Labels appended to an encoded profile as comments (what a file:// delivery writes). */
static void test_append_comments(void)
{
	static const char *const c[] = { "service_name=web", "pid=42", "env=a b" };
	struct ldp_pprof *b = build_sample_profile();
	struct ldp_profile p = { 0 };
	uint8_t *raw = NULL, *out = NULL;
	size_t rawlen = 0, outlen = 0;
	int r;

	CHECK(b && ldp_pprof_encode(b, &raw, &rawlen) == 0, "encode");
	if (!raw)
		goto out;
	r = ldp_profile_append_comments(raw, rawlen, c, 3, &out, &outlen);
	CHECK(r == 0 && outlen > rawlen && !memcmp(out, raw, rawlen), "appended (%d)", r);
	r = r ? r : ldp_profile_parse(out, outlen, &p);
	CHECK(r == 0, "the result parses (%d)", r);
	if (r == 0) {
		check_sample_profile(&p, "with comments");
		CHECK(p.ncomments == 3 && !strcmp(p.strings[p.comments[0]], "service_name=web") &&
		      !strcmp(p.strings[p.comments[1]], "pid=42") && !strcmp(p.strings[p.comments[2]], "env=a b"),
		      "the comments read back in order");
	}
	ldp_profile_free(&p);
	free(out);
	out = NULL;
	/* a truncated profile is refused, not extended */
	r = ldp_profile_append_comments(raw, rawlen - 1, c, 1, &out, &outlen);
	CHECK(r == -EINVAL && !out, "a broken profile is refused (%d)", r);
out:
	free(out);
	free(raw);
	ldp_pprof_free(b);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);

	test_roundtrip();
	test_interning();
	test_caps();
	test_reader_handmade();
	test_gzip_bomb();
	test_report();
	test_append_comments();

	printf("%d checks passed, %d failed\n", passed, failed);
	if (failed) {
		fprintf(stderr, "test_pprof: %d check(s) FAILED\n", failed);
		return 1;
	}
	return 0;
}
