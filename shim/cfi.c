/* SPDX-License-Identifier: MIT
 *
 * cfi.c — x86_64 .eh_frame rules for the unwinder's fast path.
 *
 * ASYNC-SIGNAL CONTEXT — ldp_cfi_rule() runs inside the SIGPROF handler. Allowed: reads inside
 * [o->lo, o->hi), arithmetic. Never: anything else. Every read is checked against the bounds
 * first, every loop is bounded by the bytes it consumes, and any form we do not handle makes
 * the function return -1 so libunwind takes the frame. A wrong rule would give a wrong stack
 * (reads are validated by the caller), never a fault.
 */
#include <string.h>

#include "cfi.h"

#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16
#define MAX_STATE 8

struct rd {
	uint64_t p;        /* current position */
	uint64_t lo, end;  /* the readable range: every read is checked against both ends */
	int bad;
};

static uint8_t u8(struct rd *r)
{
	uint8_t v;

	if (r->p < r->lo || r->p >= r->end) {
		r->bad = 1;
		return 0;
	}
	v = *(const uint8_t *)(uintptr_t)r->p;
	r->p++;
	return v;
}

static uint64_t fixed(struct rd *r, unsigned n)
{
	uint64_t v = 0;

	if (r->p < r->lo || r->p > r->end || r->end - r->p < n) {
		r->bad = 1;
		return 0;
	}
	memcpy(&v, (const void *)(uintptr_t)r->p, n);
	r->p += n;
	return v;
}

static uint64_t uleb(struct rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		b = u8(r);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !r->bad && shift < 70);
	return v;
}

static int64_t sleb(struct rd *r)
{
	int64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	do {
		b = u8(r);
		if (shift < 64)
			v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
		shift += 7;
	} while ((b & 0x80) && !r->bad && shift < 70);
	if (shift < 64 && (b & 0x40))
		v = (int64_t)((uint64_t)v | (~0ull << shift));
	return v;
}

/* Factored offsets wrap instead of overflowing (undefined for signed types); absurd results
 * are rejected when the rule is checked. */
static int64_t factor(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* A pointer in one of the encodings gcc and clang emit; datarel is relative to .eh_frame_hdr. */
static uint64_t encoded(struct rd *r, uint8_t enc, uint64_t datarel)
{
	uint64_t at = r->p, v;

	if (enc == 0xff) /* DW_EH_PE_omit */
		return 0;
	switch (enc & 0x0f) {
	case 0x00: case 0x04: case 0x0c: v = fixed(r, 8); break;
	case 0x02: v = fixed(r, 2); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(r, 2); break;
	case 0x03: v = fixed(r, 4); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(r, 4); break;
	case 0x01: v = uleb(r); break;
	case 0x09: v = (uint64_t)sleb(r); break;
	default: r->bad = 1; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += at; break;
	case 0x30: v += datarel; break;
	default: r->bad = 1; return 0;
	}
	return v;
}

static int64_t table_at(const struct ldp_cfi_obj *o, uint64_t i)
{
	int32_t v;

	/* memcpy: a table in a malformed object need not be aligned. */
	memcpy(&v, (const void *)(uintptr_t)(o->table + 4 * i), sizeof(v));
	return v;
}

/* The FDE covering ip, through the sorted table of (initial location, FDE) pairs. */
static uint64_t find_fde(const struct ldp_cfi_obj *o, uint64_t ip)
{
	uint64_t lo = 0, hi = o->nfde;

	uint64_t tlo = o->thi ? o->tlo : o->lo, thi = o->thi ? o->thi : o->hi;

	if (o->table < tlo || o->table > thi || (thi - o->table) / 8 < o->nfde || !o->nfde)
		return 0;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (o->hdr + (uint64_t)table_at(o, 2 * mid) <= ip)
			lo = mid;
		else
			hi = mid;
	}
	if (o->hdr + (uint64_t)table_at(o, 2 * lo) > ip)
		return 0;
	return o->hdr + (uint64_t)table_at(o, 2 * lo + 1);
}

struct state {
	int64_t cfa_off;
	int64_t rbp_off;
	uint8_t cfa_reg;
	uint8_t rbp_rule;  /* 0 same, 1 offset, 2 unsupported */
	uint8_t ra_rule;   /* 1 offset(-8)-like, 2 undefined, 3 unsupported */
	int64_t ra_off;
};

/* Runs CFA instructions in [p, end) until the location passes ip. Returns -1 on anything the
 * fast path does not model. */
static int run(struct rd *r, uint64_t end, uint64_t loc, uint64_t ip, uint64_t caf, int64_t daf,
	       struct state *s, const struct state *initial, uint64_t datarel, uint8_t fde_enc)
{
	struct state stack[MAX_STATE];
	int depth = 0;

	while (r->p < end && !r->bad) {
		uint8_t op = u8(r), low = op & 0x3f;
		uint64_t reg, delta = 0;
		int64_t off;

		switch (op & 0xc0) {
		case 0x40: /* advance_loc */
			delta = low * caf;
			goto advance;
		case 0x80: /* offset */
			off = factor((int64_t)uleb(r), daf);
			if (low == REG_RBP) { s->rbp_rule = 1; s->rbp_off = off; }
			else if (low == REG_RA) { s->ra_rule = 1; s->ra_off = off; }
			continue;
		case 0xc0: /* restore */
			if (low == REG_RBP) { s->rbp_rule = initial->rbp_rule; s->rbp_off = initial->rbp_off; }
			else if (low == REG_RA) { s->ra_rule = initial->ra_rule; s->ra_off = initial->ra_off; }
			continue;
		}
		switch (op) {
		case 0x00: /* nop */
			continue;
		case 0x01: /* set_loc */
			loc = encoded(r, fde_enc, datarel);
			if (loc > ip)
				return 0;
			continue;
		case 0x02: delta = u8(r) * caf; goto advance;
		case 0x03: delta = fixed(r, 2) * caf; goto advance;
		case 0x04: delta = fixed(r, 4) * caf; goto advance;
		case 0x05: /* offset_extended */
		case 0x11: /* offset_extended_sf */
			reg = uleb(r);
			off = op == 0x05 ? factor((int64_t)uleb(r), daf) : factor(sleb(r), daf);
			if (reg == REG_RBP) { s->rbp_rule = 1; s->rbp_off = off; }
			else if (reg == REG_RA) { s->ra_rule = 1; s->ra_off = off; }
			continue;
		case 0x06: /* restore_extended */
			reg = uleb(r);
			if (reg == REG_RBP) { s->rbp_rule = initial->rbp_rule; s->rbp_off = initial->rbp_off; }
			else if (reg == REG_RA) { s->ra_rule = initial->ra_rule; s->ra_off = initial->ra_off; }
			continue;
		case 0x07: /* undefined */
			reg = uleb(r);
			if (reg == REG_RA) s->ra_rule = 2;
			else if (reg == REG_RBP) s->rbp_rule = 2;
			continue;
		case 0x08: /* same_value */
			reg = uleb(r);
			if (reg == REG_RBP) s->rbp_rule = 0;
			else if (reg == REG_RA) s->ra_rule = 3;
			continue;
		case 0x09: /* register */
			reg = uleb(r);
			uleb(r);
			if (reg == REG_RBP) s->rbp_rule = 2;
			else if (reg == REG_RA) s->ra_rule = 3;
			continue;
		case 0x0a: /* remember_state */
			if (depth == MAX_STATE)
				return -1;
			stack[depth++] = *s;
			continue;
		case 0x0b: /* restore_state */
			if (!depth)
				return -1;
			*s = stack[--depth];
			continue;
		case 0x0c: /* def_cfa */
			s->cfa_reg = (uint8_t)uleb(r);
			s->cfa_off = (int64_t)uleb(r);
			continue;
		case 0x0d: /* def_cfa_register */
			s->cfa_reg = (uint8_t)uleb(r);
			continue;
		case 0x0e: /* def_cfa_offset */
			s->cfa_off = (int64_t)uleb(r);
			continue;
		case 0x12: /* def_cfa_sf */
			s->cfa_reg = (uint8_t)uleb(r);
			s->cfa_off = factor(sleb(r), daf);
			continue;
		case 0x13: /* def_cfa_offset_sf */
			s->cfa_off = factor(sleb(r), daf);
			continue;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = uleb(r);
			off = (int64_t)uleb(r);
			if (reg == REG_RBP || reg == REG_RA || off < 0 || r->p > r->end ||
			    r->end - r->p < (uint64_t)off)
				return -1;
			r->p += (uint64_t)off;
			continue;
		case 0x2e: /* GNU_args_size */
			uleb(r);
			continue;
		default: /* def_cfa_expression, val_offset, anything else */
			return -1;
		}
advance:
		loc += delta;
		if (loc > ip)
			return 0;
	}
	return r->bad ? -1 : 0;
}

int ldp_cfi_rule(const struct ldp_cfi_obj *o, uint64_t ip, struct ldp_cfi_rule *ret)
{
	struct rd r = { 0, o->lo, o->hi, 0 };
	uint64_t fde = find_fde(o, ip), fde_end, cie, cie_end, caf, pc_begin, pc_range, ins, len;
	int64_t daf;
	uint8_t fde_enc = 0, version;
	struct state s = { 0, 0, REG_RSP, 0, 1, -8 }, initial;
	char aug[8];
	unsigned na = 0;

	if (!fde || fde < o->lo || fde >= o->hi)
		return -1;
	/* FDE: length, CIE pointer (relative to its own field). */
	/* Lengths and offsets are checked against what is left before they are added, so no
	 * sum can wrap whatever the object holds. */
	r.p = fde;
	len = fixed(&r, 4);
	if (r.bad || len == 0 || len == 0xffffffffu || len > o->hi - r.p)
		return -1;
	fde_end = r.p + len;
	len = fixed(&r, 4);
	if (r.bad || len > r.p - 4 - o->lo)
		return -1;
	cie = r.p - 4 - len;

	/* CIE: length, id 0, version, augmentation, alignment factors, RA register. */
	r.p = cie;
	len = fixed(&r, 4);
	if (r.bad || len == 0 || len == 0xffffffffu || len > o->hi - r.p)
		return -1;
	cie_end = r.p + len;
	if (fixed(&r, 4) != 0)
		return -1;
	version = u8(&r);
	if (version != 1 && version != 3)
		return -1;
	for (;;) {
		char c = (char)u8(&r);
		if (r.bad || na == sizeof(aug))
			return -1;
		aug[na++] = c;
		if (!c)
			break;
	}
	caf = uleb(&r);
	daf = sleb(&r);
	if (version == 1)
		u8(&r);
	else
		uleb(&r);
	if (aug[0] == 'z') {
		uint64_t len = uleb(&r), aug_end;
		if (r.bad || r.p > cie_end || len > cie_end - r.p)
			return -1;
		aug_end = r.p + len;
		for (unsigned i = 1; aug[i] && !r.bad; i++) {
			switch (aug[i]) {
			case 'R': fde_enc = u8(&r); break;
			case 'L': u8(&r); break;
			case 'P': { uint8_t e = u8(&r); encoded(&r, e & 0x7f, o->hdr); break; }
			default: return -1; /* 'S' (signal frame) and anything else: libunwind */
			}
		}
		if (r.bad || aug_end > cie_end)
			return -1;
		r.p = aug_end;
	} else if (aug[0]) {
		return -1;
	}
	if (r.bad || caf == 0)
		return -1;
	if (run(&r, cie_end, 0, ~0ull, caf, daf, &s, &s, o->hdr, fde_enc) < 0)
		return -1;
	initial = s;

	/* Back to the FDE: range, augmentation data, then its instructions. */
	r.p = fde + 8;
	pc_begin = encoded(&r, fde_enc, o->hdr);
	pc_range = encoded(&r, fde_enc & 0x0f, o->hdr);
	if (r.bad || ip < pc_begin || ip - pc_begin >= pc_range)
		return -1;
	if (aug[0] == 'z') {
		uint64_t len = uleb(&r);
		if (r.bad || r.p > fde_end || len > fde_end - r.p)
			return -1;
		r.p += len;
	}
	ins = r.p;
	r.p = ins;
	if (run(&r, fde_end, pc_begin, ip, caf, daf, &s, &initial, o->hdr, fde_enc) < 0)
		return -1;
	if ((s.cfa_reg != REG_RSP && s.cfa_reg != REG_RBP) || s.rbp_rule == 2 || s.ra_rule == 3 ||
	    (s.ra_rule == 1 && s.ra_off != -8) || s.cfa_off < 0 || s.cfa_off > (1 << 24) ||
	    s.rbp_off < -(1 << 24) || s.rbp_off > 0)
		return -1;
	ret->cfa_reg = s.cfa_reg == REG_RSP ? LDP_CFA_RSP : LDP_CFA_RBP;
	ret->cfa_off = (int32_t)s.cfa_off;
	ret->rbp_saved = s.rbp_rule == 1;
	ret->rbp_off = (int32_t)s.rbp_off;
	ret->end = s.ra_rule == 2;
	return 0;
}

int ldp_cfi_hdr_parse(const uint8_t *buf, uint64_t len, uint64_t at, uint64_t *table, uint64_t *nfde)
{
	struct rd r = { (uint64_t)(uintptr_t)buf, (uint64_t)(uintptr_t)buf, (uint64_t)(uintptr_t)buf + len, 0 };
	uint8_t version, ptr_enc, count_enc, table_enc;

	version = u8(&r);
	ptr_enc = u8(&r);
	count_enc = u8(&r);
	table_enc = u8(&r);
	/* Only version 1 with a sorted table of datarel|sdata4 pairs, as every linker writes, and
	 * an absolute count: the bytes may be a copy, not at their address. */
	if (r.bad || version != 1 || table_enc != 0x3b || (count_enc & 0xf0))
		return -1;
	encoded(&r, ptr_enc, 0); /* .eh_frame's address: not needed, only skipped */
	*nfde = encoded(&r, count_enc, 0);
	if (r.bad || !*nfde)
		return -1;
	*table = at + (r.p - r.lo);
	return 0;
}

int ldp_cfi_obj_init(struct ldp_cfi_obj *o, uint64_t hdr, uint64_t lo, uint64_t hi)
{
	uint64_t table, nfde;

	if (hdr < lo || hdr >= hi ||
	    ldp_cfi_hdr_parse((const uint8_t *)(uintptr_t)hdr, hi - hdr, hdr, &table, &nfde) < 0 ||
	    (hi - table) / 8 < nfde)
		return -1;
	o->lo = lo;
	o->hi = hi;
	o->hdr = hdr;
	o->table = table;
	o->nfde = nfde;
	o->tlo = o->thi = 0;
	return 0;
}

/* The FDE pointer encoding of the CIE at cie ('R' of its augmentation; absolute if none), or
 * -1 when it cannot be read. */
static int cie_fde_enc(uint64_t cie, uint64_t lo, uint64_t hi)
{
	struct rd r = { cie, lo, hi, 0 };
	uint64_t len, end;
	char aug[8];
	unsigned na = 0;
	uint8_t version, enc = 0;

	len = fixed(&r, 4);
	if (r.bad || len == 0 || len == 0xffffffffu || len > hi - r.p)
		return -1;
	end = r.p + len;
	if (fixed(&r, 4) != 0)
		return -1;
	version = u8(&r);
	if (version != 1 && version != 3)
		return -1;
	for (;;) {
		char c = (char)u8(&r);
		if (r.bad || na == sizeof(aug))
			return -1;
		aug[na++] = c;
		if (!c)
			break;
	}
	uleb(&r);
	sleb(&r);
	if (version == 1)
		u8(&r);
	else
		uleb(&r);
	if (aug[0] != 'z')
		return r.bad || aug[0] ? -1 : 0;
	uleb(&r);
	for (unsigned i = 1; aug[i] && !r.bad && r.p < end; i++) {
		switch (aug[i]) {
		case 'R': enc = u8(&r); return r.bad ? -1 : enc;
		case 'L': u8(&r); break;
		case 'P': { uint8_t e = u8(&r); encoded(&r, e & 0x7f, 0); break; }
		case 'S': break;
		default: return -1;
		}
	}
	return r.bad ? -1 : enc;
}

/* Heap sort of the (location, FDE) pairs by location: no allocation, n log n. */
static void sift(int32_t *t, unsigned long i, unsigned long n)
{
	for (;;) {
		unsigned long c = 2 * i + 1;
		int32_t a, b;
		if (c >= n)
			return;
		if (c + 1 < n && t[2 * (c + 1)] > t[2 * c])
			c++;
		if (t[2 * c] <= t[2 * i])
			return;
		a = t[2 * i];
		b = t[2 * i + 1];
		t[2 * i] = t[2 * c];
		t[2 * i + 1] = t[2 * c + 1];
		t[2 * c] = a;
		t[2 * c + 1] = b;
		i = c;
	}
}

long ldp_cfi_index(uint64_t eh, uint64_t len, uint64_t lo, uint64_t hi, uint64_t base, int32_t *out,
		   unsigned long max)
{
	struct rd r = { eh, lo, hi, 0 };
	uint64_t end, last_cie = 0;
	unsigned long n = 0;
	int enc = -1;

	if (eh < lo || eh > hi || len > hi - eh)
		return -1;
	end = eh + len;
	while (r.p < end && n < max) {
		uint64_t rec = r.p, rlen = fixed(&r, 4), next, id, cie, pc;

		if (r.bad || rlen == 0) /* the terminator */
			break;
		if (rlen == 0xffffffffu || rlen > end - r.p)
			return -1;
		next = r.p + rlen;
		id = fixed(&r, 4);
		if (r.bad)
			return -1;
		if (id != 0) { /* an FDE: id is the distance back to its CIE */
			if (id > r.p - 4 - lo)
				return -1;
			cie = r.p - 4 - id;
			if (cie != last_cie) {
				enc = cie_fde_enc(cie, lo, hi);
				last_cie = cie;
			}
			if (enc < 0)
				return -1;
			pc = encoded(&r, (uint8_t)(enc & 0x7f), 0);
			if (r.bad)
				return -1;
			/* an FDE of a discarded function (pc 0) has no place in the table */
			if (pc && (int64_t)(pc - base) == (int32_t)(pc - base) &&
			    (int64_t)(rec - base) == (int32_t)(rec - base)) {
				out[2 * n] = (int32_t)(pc - base);
				out[2 * n + 1] = (int32_t)(rec - base);
				n++;
			}
		}
		r.p = next;
	}
	for (unsigned long i = n / 2; i-- > 0;)
		sift(out, i, n);
	for (unsigned long k = n; k-- > 1;) {
		int32_t a = out[0], b = out[1];
		out[0] = out[2 * k];
		out[1] = out[2 * k + 1];
		out[2 * k] = a;
		out[2 * k + 1] = b;
		sift(out, 0, k);
	}
	return (long)n;
}
