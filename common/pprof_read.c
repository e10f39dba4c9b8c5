/* SPDX-License-Identifier: MIT
 *
 * pprof_read.c — parse profile.proto (gzip or raw) into flat, validated tables.
 *
 * Overall design. The input is untrusted: any file a user points `ldprof report` at, and the
 * fuzzer's bytes. gzip is inflated into a buffer capped at LDP_PROFILE_MAX_RAW. The protobuf
 * is then walked twice by the same code: the first walk only counts (samples, location ids,
 * values, labels, lines, strings and their bytes ...), the second fills. Between the two, one
 * zeroed block sized from those counts (capped at LDP_PROFILE_MAX_MEM) is carved into every
 * array, so memory is proportional to the input, nothing is reallocated, and freeing is one
 * free(). Both walks run identical code (only stores and the string-index checks, which need
 * the final string count, depend on `fill`), so the second walk can never write past what the
 * first one counted.
 *
 * After filling, the mapping, location and function tables are sorted by id, ids are checked
 * to be nonzero and unique, and every reference (sample -> location, location -> mapping and
 * function) is resolved once, so callers can use the accessors without checking.
 *
 * Known fields with the wrong wire type, groups, bad varints and lengths past the end are
 * rejected; unknown fields are skipped.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "pprof.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- wire-format reader ---- */

struct rd {
	const uint8_t *p, *end;
};

static int rd_varint(struct rd *r, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			return -EINVAL;
		b = *r->p++;
		if (shift == 63 && b > 1)
			return -EINVAL; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}

static int rd_key(struct rd *r, unsigned *ret_field, unsigned *ret_wt)
{
	uint64_t k;
	int err;

	err = rd_varint(r, &k);
	if (err < 0)
		return err;
	if ((k >> 3) == 0 || (k >> 3) > 0x1fffffff)
		return -EINVAL;
	*ret_field = (unsigned)(k >> 3);
	*ret_wt = (unsigned)(k & 7);
	return 0;
}

/* A length-delimited field's body as a sub-reader. */
static int rd_sub(struct rd *r, struct rd *ret_sub)
{
	uint64_t n;
	int err;

	err = rd_varint(r, &n);
	if (err < 0)
		return err;
	if (n > (uint64_t)(r->end - r->p))
		return -EINVAL;
	ret_sub->p = r->p;
	ret_sub->end = r->p + n;
	r->p += n;
	return 0;
}

static int rd_skip(struct rd *r, unsigned wt)
{
	struct rd sub;
	uint64_t v;

	switch (wt) {
	case WT_VARINT:
		return rd_varint(r, &v);
	case WT_I64:
	case WT_I32: {
		size_t n = wt == WT_I64 ? 8 : 4;

		if ((size_t)(r->end - r->p) < n)
			return -EINVAL;
		r->p += n;
		return 0;
	}
	case WT_LEN:
		return rd_sub(r, &sub);
	default:
		return -EINVAL; /* groups (3, 4) are not used by profile.proto; 6, 7 do not exist */
	}
}

static int rd_uint(struct rd *r, unsigned wt, uint64_t *ret)
{
	return wt == WT_VARINT ? rd_varint(r, ret) : -EINVAL;
}

static int rd_int(struct rd *r, unsigned wt, int64_t *ret)
{
	uint64_t v;
	int err;

	err = rd_uint(r, wt, &v);
	if (err < 0)
		return err;
	*ret = (int64_t)v; /* two's complement, as protobuf encodes int64 */
	return 0;
}

/* ---- the two walks ---- */

struct ctx {
	struct ldp_profile *p;
	bool fill;
	size_t max_strings; /* nstrings, known in the fill walk */

	/* counts in the first walk, cursors in the second */
	size_t nsample_types, nsamples, nlocids, nvalues, nlabels, nmappings, nlocations, nfuncids,
		nfunctions, nstrings, strbytes, ncomments;

	/* pools the per-sample and per-location arrays point into (fill walk) */
	uint64_t *locid_pool;
	int64_t *value_pool;
	struct ldp_prof_label *label_pool;
	uint64_t *funcid_pool;
	char *str_pool;
};

/* A string table index: checked against the final string count in the fill walk. */
static int rd_stridx(struct ctx *c, struct rd *r, unsigned wt, int64_t *ret)
{
	int64_t v;
	int err;

	err = rd_int(r, wt, &v);
	if (err < 0)
		return err;
	if (c->fill && (v < 0 || (uint64_t)v >= c->max_strings))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* One element (wire type 0) or a packed run (wire type 2) of a repeated varint field. Stores to
 * out[*n] when out is set; values must be below max_excl when it is nonzero. */
static int rd_scalars(struct rd *r, unsigned wt, uint64_t *out, size_t *n, uint64_t max_excl)
{
	struct rd sub;
	int err;

	if (wt == WT_VARINT) {
		sub = *r;
	} else if (wt == WT_LEN) {
		err = rd_sub(r, &sub);
		if (err < 0)
			return err;
	} else {
		return -EINVAL;
	}
	do {
		uint64_t v;

		if (wt == WT_LEN && sub.p == sub.end)
			break; /* the end of a packed run (or an empty one) */
		err = rd_varint(&sub, &v);
		if (err < 0)
			return err;
		if (max_excl && v >= max_excl)
			return -EINVAL;
		if (out)
			out[*n] = v;
		(*n)++;
	} while (wt == WT_LEN);
	if (wt == WT_VARINT)
		*r = sub;
	return 0;
}

static int parse_valuetype(struct ctx *c, struct rd r, struct ldp_prof_valuetype *ret)
{
	struct ldp_prof_valuetype vt = { 0 };
	unsigned field, wt;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		if (field == 1)
			err = rd_stridx(c, &r, wt, &vt.type);
		else if (field == 2)
			err = rd_stridx(c, &r, wt, &vt.unit);
		else
			err = rd_skip(&r, wt);
		if (err < 0)
			return err;
	}
	*ret = vt;
	return 0;
}

static int parse_label(struct ctx *c, struct rd r)
{
	struct ldp_prof_label l = { 0 };
	unsigned field, wt;
	int64_t unit;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		switch (field) {
		case 1: err = rd_stridx(c, &r, wt, &l.key); break;
		case 2: err = rd_stridx(c, &r, wt, &l.str); break;
		case 3: err = rd_int(&r, wt, &l.num); break;
		case 4: err = rd_stridx(c, &r, wt, &unit); break;
		default: err = rd_skip(&r, wt); break;
		}
		if (err < 0)
			return err;
	}
	if (c->fill)
		c->label_pool[c->nlabels] = l;
	c->nlabels++;
	return 0;
}

static int parse_sample(struct ctx *c, struct rd r)
{
	size_t locs0 = c->nlocids, values0 = c->nvalues, labels0 = c->nlabels;
	unsigned field, wt;
	struct rd sub;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		switch (field) {
		case 1:
			err = rd_scalars(&r, wt, c->fill ? c->locid_pool : NULL, &c->nlocids, 0);
			break;
		case 2:
			/* int64 and uint64 may alias: signed/unsigned variants of one type */
			err = rd_scalars(&r, wt, c->fill ? (uint64_t *)c->value_pool : NULL,
					 &c->nvalues, 0);
			break;
		case 3:
			if (wt != WT_LEN)
				return -EINVAL;
			err = rd_sub(&r, &sub);
			if (err == 0)
				err = parse_label(c, sub);
			break;
		default:
			err = rd_skip(&r, wt);
			break;
		}
		if (err < 0)
			return err;
	}
	if (c->fill) {
		struct ldp_prof_sample *s = &c->p->samples[c->nsamples];

		/* callers index values[] by sample type */
		if (c->nvalues - values0 != c->p->nsample_types)
			return -EINVAL;
		s->locs = c->locid_pool + locs0;
		s->nlocs = c->nlocids - locs0;
		s->values = c->value_pool + values0;
		s->nvalues = c->nvalues - values0;
		s->labels = c->label_pool + labels0;
		s->nlabels = c->nlabels - labels0;
	}
	c->nsamples++;
	return 0;
}

static int parse_mapping(struct ctx *c, struct rd r)
{
	struct ldp_prof_mapping m = { 0 };
	unsigned field, wt;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		switch (field) {
		case 1: err = rd_uint(&r, wt, &m.id); break;
		case 2: err = rd_uint(&r, wt, &m.start); break;
		case 3: err = rd_uint(&r, wt, &m.limit); break;
		case 4: err = rd_uint(&r, wt, &m.offset); break;
		case 5: err = rd_stridx(c, &r, wt, &m.filename); break;
		case 6: err = rd_stridx(c, &r, wt, &m.build_id); break;
		default: err = rd_skip(&r, wt); break; /* has_* flags */
		}
		if (err < 0)
			return err;
	}
	if (c->fill)
		c->p->mappings[c->nmappings] = m;
	c->nmappings++;
	return 0;
}

/* Line: keeps function_id when nonzero (0 means "no function" and is dropped). */
static int parse_line(struct ctx *c, struct rd r)
{
	uint64_t fid = 0;
	unsigned field, wt;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		if (field == 1)
			err = rd_uint(&r, wt, &fid);
		else
			err = rd_skip(&r, wt); /* line, column */
		if (err < 0)
			return err;
	}
	if (!fid)
		return 0;
	if (c->fill)
		c->funcid_pool[c->nfuncids] = fid;
	c->nfuncids++;
	return 0;
}

static int parse_location(struct ctx *c, struct rd r)
{
	struct ldp_prof_location l = { 0 };
	size_t funcs0 = c->nfuncids;
	unsigned field, wt;
	struct rd sub;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		switch (field) {
		case 1: err = rd_uint(&r, wt, &l.id); break;
		case 2: err = rd_uint(&r, wt, &l.mapping_id); break;
		case 3: err = rd_uint(&r, wt, &l.address); break;
		case 4:
			if (wt != WT_LEN)
				return -EINVAL;
			err = rd_sub(&r, &sub);
			if (err == 0)
				err = parse_line(c, sub);
			break;
		default: err = rd_skip(&r, wt); break; /* is_folded */
		}
		if (err < 0)
			return err;
	}
	if (c->fill) {
		l.func_ids = c->funcid_pool + funcs0;
		l.nfuncs = c->nfuncids - funcs0;
		c->p->locations[c->nlocations] = l;
	}
	c->nlocations++;
	return 0;
}

static int parse_function(struct ctx *c, struct rd r)
{
	struct ldp_prof_function f = { 0 };
	unsigned field, wt;
	int64_t start_line;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		switch (field) {
		case 1: err = rd_uint(&r, wt, &f.id); break;
		case 2: err = rd_stridx(c, &r, wt, &f.name); break;
		case 3: err = rd_stridx(c, &r, wt, &f.system_name); break;
		case 4: err = rd_stridx(c, &r, wt, &f.filename); break;
		case 5: err = rd_int(&r, wt, &start_line); break;
		default: err = rd_skip(&r, wt); break;
		}
		if (err < 0)
			return err;
	}
	if (c->fill)
		c->p->functions[c->nfunctions] = f;
	c->nfunctions++;
	return 0;
}

static int parse_string(struct ctx *c, struct rd *r, unsigned wt)
{
	struct rd s;
	size_t n;
	int err;

	if (wt != WT_LEN)
		return -EINVAL;
	err = rd_sub(r, &s);
	if (err < 0)
		return err;
	n = (size_t)(s.end - s.p);
	if (c->nstrings == 0 && n != 0)
		return -EINVAL; /* string_table[0] must be "" */
	if (c->fill) {
		char *dst = c->str_pool + c->strbytes;

		memcpy(dst, s.p, n);
		dst[n] = '\0'; /* the block is zeroed; explicit for the reader */
		c->p->strings[c->nstrings] = dst;
	}
	c->strbytes += n + 1;
	c->nstrings++;
	return 0;
}

static int parse_profile(struct ctx *c, struct rd r)
{
	struct ldp_profile *p = c->p;
	struct ldp_prof_valuetype vt;
	unsigned field, wt;
	struct rd sub;
	int64_t idx;
	int err;

	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err < 0)
			return err;
		switch (field) {
		case 1:  /* sample_type */
		case 2:  /* sample */
		case 3:  /* mapping */
		case 4:  /* location */
		case 5:  /* function */
		case 11: /* period_type */
			if (wt != WT_LEN)
				return -EINVAL;
			err = rd_sub(&r, &sub);
			if (err < 0)
				return err;
			if (field == 1 || field == 11) {
				err = parse_valuetype(c, sub, &vt);
				if (err < 0)
					return err;
				if (field == 11 && c->fill)
					p->period_type = vt;
				if (field == 1 && c->fill)
					p->sample_types[c->nsample_types] = vt;
				if (field == 1)
					c->nsample_types++;
			} else if (field == 2) {
				err = parse_sample(c, sub);
			} else if (field == 3) {
				err = parse_mapping(c, sub);
			} else if (field == 4) {
				err = parse_location(c, sub);
			} else {
				err = parse_function(c, sub);
			}
			break;
		case 6:
			err = parse_string(c, &r, wt);
			break;
		case 7:  /* drop_frames */
		case 8:  /* keep_frames */
		case 15: /* doc_url */
			err = rd_stridx(c, &r, wt, &idx);
			break;
		case 14:
			err = rd_stridx(c, &r, wt, &p->default_sample_type);
			break;
		case 9:
			err = rd_int(&r, wt, &p->time_nanos);
			break;
		case 10:
			err = rd_int(&r, wt, &p->duration_nanos);
			break;
		case 12:
			err = rd_int(&r, wt, &p->period);
			break;
		case 13: /* comment: repeated string indices */
			err = rd_scalars(&r, wt, c->fill ? (uint64_t *)c->p->comments : NULL, &c->ncomments,
					 c->fill ? c->max_strings : 0);
			break;
		default:
			err = rd_skip(&r, wt);
			break;
		}
		if (err < 0)
			return err;
	}
	return 0;
}

/* ---- memory layout between the walks ---- */

/* Reserves n elements of size sz at *off (8-byte aligned); false on overflow. */
static bool carve(size_t *off, size_t *ret_at, size_t n, size_t sz)
{
	size_t bytes, at = (*off + 7) & ~(size_t)7;

	if (at < *off || __builtin_mul_overflow(n, sz, &bytes) ||
	    __builtin_add_overflow(at, bytes, off))
		return false;
	*ret_at = at;
	return true;
}

static int layout(struct ctx *c)
{
	struct ldp_profile *p = c->p;
	size_t off = 0, o_st, o_s, o_li, o_v, o_lb, o_m, o_l, o_fi, o_f, o_sp, o_sb, o_c;
	char *mem;

	if (!carve(&off, &o_st, c->nsample_types, sizeof(*p->sample_types)) ||
	    !carve(&off, &o_s, c->nsamples, sizeof(*p->samples)) ||
	    !carve(&off, &o_li, c->nlocids, sizeof(*c->locid_pool)) ||
	    !carve(&off, &o_v, c->nvalues, sizeof(*c->value_pool)) ||
	    !carve(&off, &o_lb, c->nlabels, sizeof(*c->label_pool)) ||
	    !carve(&off, &o_m, c->nmappings, sizeof(*p->mappings)) ||
	    !carve(&off, &o_l, c->nlocations, sizeof(*p->locations)) ||
	    !carve(&off, &o_fi, c->nfuncids, sizeof(*c->funcid_pool)) ||
	    !carve(&off, &o_f, c->nfunctions, sizeof(*p->functions)) ||
	    !carve(&off, &o_sp, c->nstrings, sizeof(*p->strings)) ||
	    !carve(&off, &o_c, c->ncomments, sizeof(*p->comments)) ||
	    !carve(&off, &o_sb, c->strbytes, 1))
		return -E2BIG;
	if (off > LDP_PROFILE_MAX_MEM)
		return -E2BIG;
	mem = calloc(1, off ? off : 1);
	if (!mem)
		return -ENOMEM;

	p->mem_ = mem;
	p->sample_types = (void *)(mem + o_st);
	p->nsample_types = c->nsample_types;
	p->samples = (void *)(mem + o_s);
	p->nsamples = c->nsamples;
	p->mappings = (void *)(mem + o_m);
	p->nmappings = c->nmappings;
	p->locations = (void *)(mem + o_l);
	p->nlocations = c->nlocations;
	p->functions = (void *)(mem + o_f);
	p->nfunctions = c->nfunctions;
	p->strings = (void *)(mem + o_sp);
	p->nstrings = c->nstrings;
	p->comments = (void *)(mem + o_c);
	p->ncomments = c->ncomments;
	c->locid_pool = (void *)(mem + o_li);
	c->value_pool = (void *)(mem + o_v);
	c->label_pool = (void *)(mem + o_lb);
	c->funcid_pool = (void *)(mem + o_fi);
	c->str_pool = mem + o_sb;
	c->max_strings = c->nstrings;
	return 0;
}

/* ---- ids: sort, check, resolve ---- */

/* Mappings, locations and functions all start with their uint64_t id. */
_Static_assert(offsetof(struct ldp_prof_mapping, id) == 0, "id first");
_Static_assert(offsetof(struct ldp_prof_location, id) == 0, "id first");
_Static_assert(offsetof(struct ldp_prof_function, id) == 0, "id first");

static uint64_t id_at(const void *base, size_t i, size_t sz)
{
	uint64_t id;

	memcpy(&id, (const char *)base + i * sz, sizeof(id));
	return id;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = id_at(a, 0, 0), y = id_at(b, 0, 0);

	return x < y ? -1 : x > y;
}

/* Sorts a table by id; ids must be nonzero and unique. */
static int sort_ids(void *base, size_t n, size_t sz)
{
	if (n > 1)
		qsort(base, n, sz, cmp_id);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = id_at(base, i, sz);

		if (id == 0 || (i > 0 && id == id_at(base, i - 1, sz)))
			return -EINVAL;
	}
	return 0;
}

/* Finds id in a sorted table: O(1) when ids are dense from 1 (what our writer, Go and Parca
 * produce), binary search otherwise. */
static const void *find_id(const void *base, size_t n, size_t sz, uint64_t id)
{
	size_t lo = 0, hi = n;

	if (id == 0 || !base)
		return NULL;
	if (id <= n && id_at(base, id - 1, sz) == id)
		return (const char *)base + (id - 1) * sz;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t m = id_at(base, mid, sz);

		if (m == id)
			return (const char *)base + mid * sz;
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct ldp_prof_location *ldp_profile_location(const struct ldp_profile *p, uint64_t id)
{
	return p ? find_id(p->locations, p->nlocations, sizeof(*p->locations), id) : NULL;
}

const struct ldp_prof_function *ldp_profile_function(const struct ldp_profile *p, uint64_t id)
{
	return p ? find_id(p->functions, p->nfunctions, sizeof(*p->functions), id) : NULL;
}

const struct ldp_prof_mapping *ldp_profile_mapping(const struct ldp_profile *p, uint64_t id)
{
	return p ? find_id(p->mappings, p->nmappings, sizeof(*p->mappings), id) : NULL;
}

static int resolve(struct ldp_profile *p)
{
	int err;

	if ((err = sort_ids(p->mappings, p->nmappings, sizeof(*p->mappings))) < 0 ||
	    (err = sort_ids(p->locations, p->nlocations, sizeof(*p->locations))) < 0 ||
	    (err = sort_ids(p->functions, p->nfunctions, sizeof(*p->functions))) < 0)
		return err;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct ldp_prof_location *l = &p->locations[i];

		if (l->mapping_id && !ldp_profile_mapping(p, l->mapping_id))
			return -EINVAL;
		for (size_t j = 0; j < l->nfuncs; j++)
			if (!ldp_profile_function(p, l->func_ids[j]))
				return -EINVAL;
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct ldp_prof_sample *s = &p->samples[i];

		for (size_t j = 0; j < s->nlocs; j++)
			if (!ldp_profile_location(p, s->locs[j]))
				return -EINVAL;
	}
	return 0;
}

/* ---- entry points ---- */

int ldp_profile_parse(const uint8_t *buf, size_t len, struct ldp_profile *ret)
{
	struct ldp_profile p = { 0 };
	struct ctx c = { .p = &p };
	uint8_t *raw = NULL;
	size_t rawlen = len;
	struct rd r;
	int err;

	if (!ret || !buf || !len)
		return -EINVAL; /* an empty input has no string_table[0] either */
	if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
		err = ldp_gunzip(buf, len, LDP_PROFILE_MAX_RAW, &raw, &rawlen);
		if (err < 0)
			goto out;
		buf = raw;
	} else if (len > LDP_PROFILE_MAX_RAW) {
		err = -E2BIG;
		goto out;
	}

	/* walk 1: count */
	r = (struct rd){ buf, buf + rawlen };
	err = parse_profile(&c, r);
	if (err < 0)
		goto out;
	if (c.nstrings == 0) {
		err = -EINVAL; /* not even string_table[0] */
		goto out;
	}
	err = layout(&c);
	if (err < 0)
		goto out;

	/* walk 2: fill (same code, same input, so the same counts) */
	c = (struct ctx){ .p = &p, .fill = true, .max_strings = c.max_strings,
			  .locid_pool = c.locid_pool, .value_pool = c.value_pool,
			  .label_pool = c.label_pool, .funcid_pool = c.funcid_pool,
			  .str_pool = c.str_pool };
	err = parse_profile(&c, r);
	if (err < 0)
		goto out;
	/* the period_type, sample_type and default_sample_type indices were checked on the way */
	err = resolve(&p);
	if (err < 0)
		goto out;

	*ret = p;
	p.mem_ = NULL;
out:
	free(p.mem_);
	free(raw);
	return err;
}

/* v as a varint at p; returns its length (at most 10). */
static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int ldp_profile_append_comments(const uint8_t *raw, size_t len, const char *const *comments,
				size_t n, uint8_t **ret, size_t *ret_len)
{
	struct rd r = { raw, raw + len };
	size_t nstrings = 0, tail = 0, at;
	unsigned field, wt;
	uint8_t *out;
	int err;

	/* the string table's size: its entries are top-level fields 6, in order */
	while (r.p < r.end) {
		err = rd_key(&r, &field, &wt);
		if (err == 0)
			err = rd_skip(&r, wt);
		if (err < 0)
			return err;
		nstrings += field == 6 && wt == WT_LEN;
	}
	for (size_t i = 0; i < n; i++)
		tail += strlen(comments[i]) + 2 * 11; /* two keys and two varints, at most */
	out = malloc(len + tail + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, raw, len);
	at = len;
	/* appended fields merge into the message: new strings, then comments naming them */
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(comments[i]);

		at += put_varint(out + at, 6 << 3 | WT_LEN);
		at += put_varint(out + at, l);
		memcpy(out + at, comments[i], l);
		at += l;
	}
	for (size_t i = 0; i < n; i++) {
		at += put_varint(out + at, 13 << 3 | WT_VARINT);
		at += put_varint(out + at, nstrings + i);
	}
	*ret = out;
	*ret_len = at;
	return 0;
}

void ldp_profile_free(struct ldp_profile *p)
{
	if (!p)
		return;
	free(p->mem_);
	memset(p, 0, sizeof(*p));
}
