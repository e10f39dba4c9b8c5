/* SPDX-License-Identifier: MIT
 *
 * pprof.c — the profile.proto writer: intern, encode by hand, gzip.
 *
 * Overall design. The builder keeps four interned tables (strings, functions, mappings,
 * locations) whose ids are their insertion index + 1, so ids come out dense from 1 with no
 * renumbering pass. Strings are found through a hash table, functions through a hash table
 * keyed by the (already interned) name index, locations through one keyed by (mapping,
 * address). A sample is encoded to protobuf the moment it is added and appended to one byte
 * buffer: the builder never holds a second copy of a stack, and serialization only has to write
 * the tables around that buffer and gzip the result.
 *
 * Every table has a cap fixed in pprof.h; hitting it fails the call with -E2BIG and leaves the
 * builder as it was, so the caller can drop and count. Never called from a signal handler.
 *
 * Wire format reminders (profile.proto): field key = (number << 3) | wire type; wire type 0 is
 * a varint, 2 is length-delimited (strings, sub-messages, packed repeated scalars). int64
 * values are written as their two's complement in 10 varint bytes when negative.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "pprof.h"

enum { WT_VARINT = 0, WT_LEN = 2 };

/* profile.proto field numbers used by the writer. */
enum {
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1, VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
	LABEL_KEY = 1, LABEL_STR = 2,
	MAPPING_ID = 1, MAPPING_START = 2, MAPPING_LIMIT = 3, MAPPING_OFFSET = 4,
	MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7,
	LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3,
};

/* ---- growable byte buffer with a sticky error: encoders append freely, callers check once ---- */

struct buf {
	uint8_t *p;
	size_t len, cap, max;
	int err; /* 0, -ENOMEM or -E2BIG; once set, appends are ignored */
};

static bool buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	uint8_t *np;

	if (b->err)
		return false;
	if (n > b->max || b->len > b->max - n) {
		b->err = -E2BIG;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = np;
	b->cap = cap;
	return true;
}

static void put_bytes(struct buf *b, const void *data, size_t n)
{
	if (n && buf_reserve(b, n)) {
		memcpy(b->p + b->len, data, n);
		b->len += n;
	}
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	put_bytes(b, tmp, n);
}

/* A varint field; proto3 leaves zero values out. */
static void put_uint(struct buf *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	put_varint(b, (uint64_t)field << 3 | WT_VARINT);
	put_varint(b, v);
}

static void put_int(struct buf *b, unsigned field, int64_t v)
{
	put_uint(b, field, (uint64_t)v);
}

/* A length-delimited field (string, bytes or an already encoded sub-message). */
static void put_len(struct buf *b, unsigned field, const void *data, size_t n)
{
	put_varint(b, (uint64_t)field << 3 | WT_LEN);
	put_varint(b, n);
	put_bytes(b, data, n);
}

/* ---- open-addressing hash table of indices; equality is asked of the owner ---- */

struct slot {
	uint64_t hash;
	uint32_t idx1; /* index + 1; 0 = empty */
};

struct table {
	struct slot *slots;
	size_t mask, used;
};

typedef bool (*eq_fn)(const struct ldp_pprof *p, uint32_t idx, const void *key);

static uint64_t mix64(uint64_t x)
{
	/* splitmix64 finalizer */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return mix64(h);
}

/* Returns the index of the entry equal to key, or -1 with *ret_slot set to the free slot. */
static int64_t tab_find(const struct table *t, const struct ldp_pprof *p, uint64_t hash,
			eq_fn eq, const void *key, struct slot **ret_slot)
{
	size_t i = hash & t->mask;

	for (;; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];

		if (!s->idx1) {
			*ret_slot = s;
			return -1;
		}
		if (s->hash == hash && eq(p, s->idx1 - 1, key))
			return s->idx1 - 1;
	}
}

/* Keeps the load factor at or below 1/2 so probes stay short and a free slot always exists. */
static int tab_grow(struct table *t)
{
	size_t ncap = (t->mask + 1) * 2;
	struct slot *ns;

	if ((t->used + 1) * 2 <= t->mask + 1)
		return 0;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i <= t->mask; i++) {
		size_t j;

		if (!t->slots[i].idx1)
			continue;
		for (j = t->slots[i].hash & (ncap - 1); ns[j].idx1; j = (j + 1) & (ncap - 1))
			;
		ns[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = ns;
	t->mask = ncap - 1;
	return 0;
}

static int tab_init(struct table *t)
{
	t->slots = calloc(64, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = 63;
	t->used = 0;
	return 0;
}

/* ---- the builder ---- */

struct mapping {
	uint64_t start, limit, offset;
	uint32_t filename, build_id; /* string indices */
	bool has_functions;
};

struct location {
	uint64_t mapping_id, address;
	uint32_t func_id; /* 0 = none */
};

struct ldp_pprof {
	int64_t period_ns, time_ns, duration_ns;

	char **strs;
	size_t nstrs, capstrs, strbytes;
	struct table strtab;

	uint32_t *fn_name; /* string index of each function's name */
	size_t nfns, capfns;
	struct table fntab;

	struct mapping *maps;
	size_t nmaps, capmaps;

	struct location *locs;
	size_t nlocs, caplocs;
	struct table loctab;

	struct buf samples; /* encoded Sample fields of the Profile message, back to back */
	struct buf scratch; /* one sub-message being encoded */

	uint32_t s_samples, s_count, s_cpu, s_nanoseconds;
};

/* Makes room for one more element in an array capped at LDP_PPROF_MAX_ENTRIES. */
static int grow_array(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	if (n >= LDP_PPROF_MAX_ENTRIES)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > LDP_PPROF_MAX_ENTRIES)
		ncap = LDP_PPROF_MAX_ENTRIES;
	na = reallocarray(*arr, ncap, elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

static bool str_eq(const struct ldp_pprof *p, uint32_t idx, const void *key)
{
	return strcmp(p->strs[idx], key) == 0;
}

/* Interns s; returns its string table index or -errno. */
static int64_t intern_str(struct ldp_pprof *p, const char *s)
{
	uint64_t h = hash_str(s);
	size_t len = strlen(s);
	struct slot *slot;
	int64_t idx;
	char *copy;
	int r;

	idx = tab_find(&p->strtab, p, h, str_eq, s, &slot);
	if (idx >= 0)
		return idx;
	if (len > LDP_PPROF_MAX_STRING_BYTES - p->strbytes)
		return -E2BIG;
	r = grow_array((void **)&p->strs, &p->capstrs, p->nstrs, sizeof(*p->strs));
	if (r < 0)
		return r;
	r = tab_grow(&p->strtab);
	if (r < 0)
		return r;
	/* the table may have moved: find the free slot again */
	(void)tab_find(&p->strtab, p, h, str_eq, s, &slot);
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, s, len + 1);
	p->strbytes += len;
	p->strs[p->nstrs] = copy;
	slot->hash = h;
	slot->idx1 = (uint32_t)++p->nstrs;
	p->strtab.used++;
	return (int64_t)p->nstrs - 1;
}

static bool fn_eq(const struct ldp_pprof *p, uint32_t idx, const void *key)
{
	return p->fn_name[idx] == *(const uint32_t *)key;
}

/* Interns a function by name; returns its id (>= 1) or -errno. */
static int64_t intern_fn(struct ldp_pprof *p, const char *name)
{
	struct slot *slot;
	uint32_t sidx;
	int64_t idx;
	uint64_t h;
	int r;

	idx = intern_str(p, name);
	if (idx < 0)
		return idx;
	sidx = (uint32_t)idx;
	h = mix64(sidx);
	idx = tab_find(&p->fntab, p, h, fn_eq, &sidx, &slot);
	if (idx >= 0)
		return idx + 1;
	r = grow_array((void **)&p->fn_name, &p->capfns, p->nfns, sizeof(*p->fn_name));
	if (r < 0)
		return r;
	r = tab_grow(&p->fntab);
	if (r < 0)
		return r;
	(void)tab_find(&p->fntab, p, h, fn_eq, &sidx, &slot);
	p->fn_name[p->nfns] = sidx;
	slot->hash = h;
	slot->idx1 = (uint32_t)++p->nfns;
	p->fntab.used++;
	return (int64_t)p->nfns;
}

struct loc_key {
	uint64_t mapping_id, address;
};

static bool loc_eq(const struct ldp_pprof *p, uint32_t idx, const void *key)
{
	const struct loc_key *k = key;

	return p->locs[idx].mapping_id == k->mapping_id && p->locs[idx].address == k->address;
}

struct ldp_pprof *ldp_pprof_new(int64_t period_ns, int64_t time_ns, int64_t duration_ns)
{
	struct ldp_pprof *p;
	int64_t r = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->period_ns = period_ns;
	p->time_ns = time_ns;
	p->duration_ns = duration_ns;
	p->samples.max = LDP_PPROF_MAX_SAMPLE_BYTES;
	p->scratch.max = LDP_PPROF_MAX_SAMPLE_BYTES;
	if (tab_init(&p->strtab) < 0 || tab_init(&p->fntab) < 0 || tab_init(&p->loctab) < 0)
		goto err_out;
	/* string_table[0] must be "" */
	if ((r = intern_str(p, "")) < 0)
		goto err_out;
	if ((r = intern_str(p, "samples")) < 0)
		goto err_out;
	p->s_samples = (uint32_t)r;
	if ((r = intern_str(p, "count")) < 0)
		goto err_out;
	p->s_count = (uint32_t)r;
	if ((r = intern_str(p, "cpu")) < 0)
		goto err_out;
	p->s_cpu = (uint32_t)r;
	if ((r = intern_str(p, "nanoseconds")) < 0)
		goto err_out;
	p->s_nanoseconds = (uint32_t)r;
	return p;

err_out:
	ldp_pprof_free(p);
	return NULL;
}

void ldp_pprof_free(struct ldp_pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->strtab.slots);
	free(p->fn_name);
	free(p->fntab.slots);
	free(p->maps);
	free(p->locs);
	free(p->loctab.slots);
	free(p->samples.p);
	free(p->scratch.p);
	free(p);
}

int64_t ldp_pprof_add_mapping(struct ldp_pprof *p, uint64_t start, uint64_t limit, uint64_t offset,
			      const char *filename, const char *build_id)
{
	int64_t fname = 0, bid = 0;
	struct mapping *m;
	int r;

	if (!p)
		return -EINVAL;
	if (filename && (fname = intern_str(p, filename)) < 0)
		return fname;
	if (build_id && (bid = intern_str(p, build_id)) < 0)
		return bid;
	r = grow_array((void **)&p->maps, &p->capmaps, p->nmaps, sizeof(*p->maps));
	if (r < 0)
		return r;
	m = &p->maps[p->nmaps++];
	*m = (struct mapping){ .start = start, .limit = limit, .offset = offset,
			       .filename = (uint32_t)fname, .build_id = (uint32_t)bid };
	return (int64_t)p->nmaps;
}

int64_t ldp_pprof_add_location(struct ldp_pprof *p, uint64_t mapping_id, uint64_t address,
			       const char *func)
{
	struct loc_key key = { mapping_id, address };
	uint64_t h = mix64(mix64(mapping_id) ^ address);
	struct slot *slot;
	int64_t idx, fid = 0;
	int r;

	if (!p || mapping_id > p->nmaps)
		return -EINVAL;
	idx = tab_find(&p->loctab, p, h, loc_eq, &key, &slot);
	if (idx >= 0)
		return idx + 1; /* the first name given for an address wins */
	if (func && (fid = intern_fn(p, func)) < 0)
		return fid;
	r = grow_array((void **)&p->locs, &p->caplocs, p->nlocs, sizeof(*p->locs));
	if (r < 0)
		return r;
	r = tab_grow(&p->loctab);
	if (r < 0)
		return r;
	(void)tab_find(&p->loctab, p, h, loc_eq, &key, &slot);
	p->locs[p->nlocs] = (struct location){ mapping_id, address, (uint32_t)fid };
	slot->hash = h;
	slot->idx1 = (uint32_t)++p->nlocs;
	p->loctab.used++;
	if (fid && mapping_id)
		p->maps[mapping_id - 1].has_functions = true;
	return (int64_t)p->nlocs;
}

int ldp_pprof_add_sample(struct ldp_pprof *p, const uint64_t *locs, size_t nlocs, int64_t samples,
			 const struct ldp_pprof_label *labels, size_t nlabels)
{
	struct buf *sc;
	int64_t cpu_ns;
	size_t n = 0;
	int r;

	if (!p || samples < 0 || (nlocs && !locs) || (nlabels && !labels))
		return -EINVAL;
	sc = &p->scratch;
	sc->len = 0;
	sc->err = 0;
	if (__builtin_mul_overflow(samples, p->period_ns, &cpu_ns))
		return -EOVERFLOW;

	/* location ids, packed */
	for (size_t i = 0; i < nlocs; i++) {
		if (locs[i] == 0 || locs[i] > p->nlocs)
			return -EINVAL;
		n += varint_size(locs[i]);
	}
	if (nlocs) {
		put_varint(sc, SAMPLE_LOCATION_ID << 3 | WT_LEN);
		put_varint(sc, n);
		for (size_t i = 0; i < nlocs; i++)
			put_varint(sc, locs[i]);
	}
	/* values, packed: [samples, cpu nanoseconds] */
	put_varint(sc, SAMPLE_VALUE << 3 | WT_LEN);
	put_varint(sc, varint_size((uint64_t)samples) + varint_size((uint64_t)cpu_ns));
	put_varint(sc, (uint64_t)samples);
	put_varint(sc, (uint64_t)cpu_ns);
	/* labels */
	for (size_t i = 0; i < nlabels; i++) {
		int64_t k, v;
		uint8_t lab[20];
		struct buf lb = { .p = lab, .cap = sizeof(lab), .max = sizeof(lab) };

		if (!labels[i].key || !labels[i].str)
			return -EINVAL;
		if ((k = intern_str(p, labels[i].key)) < 0)
			return (int)k;
		if ((v = intern_str(p, labels[i].str)) < 0)
			return (int)v;
		/* two small varint fields always fit in lab, so lb never reallocates */
		put_uint(&lb, LABEL_KEY, (uint64_t)k);
		put_uint(&lb, LABEL_STR, (uint64_t)v);
		put_len(sc, SAMPLE_LABEL, lb.p, lb.len);
	}
	if (sc->err)
		return sc->err;

	n = p->samples.len;
	put_len(&p->samples, PROFILE_SAMPLE, sc->p, sc->len);
	r = p->samples.err;
	if (r < 0) {
		/* undo a partial append so the builder is unchanged */
		p->samples.len = n;
		p->samples.err = 0;
		return r;
	}
	return 0;
}

/* ---- serialization ---- */

static void put_valuetype(struct buf *out, struct buf *sc, unsigned field, uint32_t type,
			  uint32_t unit)
{
	sc->len = 0;
	put_uint(sc, VALUETYPE_TYPE, type);
	put_uint(sc, VALUETYPE_UNIT, unit);
	put_len(out, field, sc->p, sc->len);
}

static int encode(struct ldp_pprof *p, struct buf *out)
{
	struct buf sc = { .max = SIZE_MAX };
	int r;

	put_valuetype(out, &sc, PROFILE_SAMPLE_TYPE, p->s_samples, p->s_count);
	put_valuetype(out, &sc, PROFILE_SAMPLE_TYPE, p->s_cpu, p->s_nanoseconds);
	put_bytes(out, p->samples.p, p->samples.len);

	for (size_t i = 0; i < p->nmaps; i++) {
		const struct mapping *m = &p->maps[i];

		sc.len = 0;
		put_uint(&sc, MAPPING_ID, i + 1);
		put_uint(&sc, MAPPING_START, m->start);
		put_uint(&sc, MAPPING_LIMIT, m->limit);
		put_uint(&sc, MAPPING_OFFSET, m->offset);
		put_uint(&sc, MAPPING_FILENAME, m->filename);
		put_uint(&sc, MAPPING_BUILD_ID, m->build_id);
		put_uint(&sc, MAPPING_HAS_FUNCTIONS, m->has_functions);
		put_len(out, PROFILE_MAPPING, sc.p, sc.len);
	}

	for (size_t i = 0; i < p->nlocs; i++) {
		const struct location *l = &p->locs[i];
		uint8_t line[12];
		struct buf lb = { .p = line, .cap = sizeof(line), .max = sizeof(line) };

		sc.len = 0;
		put_uint(&sc, LOCATION_ID, i + 1);
		put_uint(&sc, LOCATION_MAPPING_ID, l->mapping_id);
		put_uint(&sc, LOCATION_ADDRESS, l->address);
		if (l->func_id) {
			put_uint(&lb, LINE_FUNCTION_ID, l->func_id);
			put_len(&sc, LOCATION_LINE, lb.p, lb.len);
		}
		put_len(out, PROFILE_LOCATION, sc.p, sc.len);
	}

	for (size_t i = 0; i < p->nfns; i++) {
		sc.len = 0;
		put_uint(&sc, FUNCTION_ID, i + 1);
		put_uint(&sc, FUNCTION_NAME, p->fn_name[i]);
		put_uint(&sc, FUNCTION_SYSTEM_NAME, p->fn_name[i]);
		put_len(out, PROFILE_FUNCTION, sc.p, sc.len);
	}

	for (size_t i = 0; i < p->nstrs; i++)
		put_len(out, PROFILE_STRING_TABLE, p->strs[i], strlen(p->strs[i]));

	put_int(out, PROFILE_TIME_NANOS, p->time_ns);
	put_int(out, PROFILE_DURATION_NANOS, p->duration_ns);
	put_valuetype(out, &sc, PROFILE_PERIOD_TYPE, p->s_cpu, p->s_nanoseconds);
	put_int(out, PROFILE_PERIOD, p->period_ns);
	put_uint(out, PROFILE_DEFAULT_SAMPLE_TYPE, p->s_cpu);

	r = sc.err ? sc.err : out->err;
	free(sc.p);
	return r;
}

int ldp_pprof_encode(struct ldp_pprof *p, uint8_t **ret_buf, size_t *ret_len)
{
	struct buf raw = { .max = SIZE_MAX };
	int r;

	if (!p || !ret_buf || !ret_len)
		return -EINVAL;
	r = encode(p, &raw);
	if (r < 0) {
		free(raw.p);
		return r;
	}
	*ret_buf = raw.p;
	*ret_len = raw.len;
	return 0;
}

int ldp_pprof_serialize(struct ldp_pprof *p, uint8_t **ret_buf, size_t *ret_len)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	int r;

	r = ldp_pprof_encode(p, &raw, &len);
	if (r == 0)
		r = ldp_gzip(raw, len, ret_buf, ret_len);
	free(raw);
	return r;
}
