/* SPDX-License-Identifier: MIT
 *
 * gopclntab.c — the function table of Go's .gopclntab section (Go 1.18 and later).
 *
 * Overall design: the section starts with a header (magic, instruction size, pointer size,
 * function count, the link-time address of the text the entries are relative to, and the
 * offsets from the header of the function-name table and of the function table). The function
 * table has nfunc + 1 entries of two 32-bit words, an entry offset from the text start and the
 * offset of the function's record from the table; the last entry only marks the end of the
 * text. A record starts with its entry offset again and the offset of its name in the name
 * table. This module reads nothing else: no line tables, no pc-value tables.
 *
 * Everything is checked once, in ldp_gopclntab_init(), against what Go's linker writes: entries
 * in increasing order (the runtime binary-searches them), records after the table, in the same
 * order and never overlapping, each repeating its entry's offset. A table that fails any of
 * these is refused whole: a layout we misread would give every sample a wrong name, which is
 * worse than none. It also bounds what the fuzzer can make of a few bytes: every function kept
 * costs 8 bytes of table and a record of at least RECORD_MIN bytes.
 *
 * Never allocates, never does I/O, never reads outside the buffer it is given (every offset is
 * checked by subtraction, `len > size - off`, never `off + len > size`).
 */
#include <errno.h>
#include <string.h>

#include "gopclntab.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gopclntab.c reads little-endian tables with native loads"
#endif

#define MAGIC_GO118 0xfffffff0u /* Go 1.18, 1.19 */
#define MAGIC_GO120 0xfffffff1u /* Go 1.20 and later (the record grew a start line) */
#define HDR_SIZE    72          /* 8 bytes, then 8 pointer-sized fields */
#define RECORD_MIN  40          /* the smallest record Go 1.18+ writes (1.20+: 44) */
#define FTAB_ENTRY  8

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The end of the name table: the next of the header's tables after it, or the buffer's end.
 * The linker writes them in one order, but taking the nearest keeps us from relying on it. */
static size_t names_end(const uint8_t *h, size_t len, uint64_t names)
{
	uint64_t end = len;

	for (size_t k = 0; k < 4; k++) {
		uint64_t off = u64(h + 40 + 8 * k); /* cutab, filetab, pctab, pclntab */

		if (off > names && off < end)
			end = off;
	}
	return (size_t)end;
}

int ldp_gopclntab_init(struct ldp_gopclntab *t, const void *buf, size_t len)
{
	const uint8_t *h = buf;
	uint64_t nfunc, text, names, pcln, prev_rec = 0;
	size_t ftab;

	if (!t || !buf || len < HDR_SIZE)
		return -ENOEXEC;
	/* pad1, pad2 zero; minLC 1 (x86), 2 (s390x) or 4 (RISC); 8-byte pointers. */
	if ((u32(h) != MAGIC_GO118 && u32(h) != MAGIC_GO120) || h[4] != 0 || h[5] != 0 ||
	    (h[6] != 1 && h[6] != 2 && h[6] != 4) || h[7] != 8)
		return -ENOEXEC;
	nfunc = u64(h + 8);
	/* In a position-independent file this field may be left for the dynamic loader to fill;
	 * 0 then, and nothing else in the section says where the text starts. */
	text = u64(h + 24);
	names = u64(h + 32);
	pcln = u64(h + 64);
	if (text == 0 || names < HDR_SIZE || names >= len || pcln < HDR_SIZE || pcln >= len)
		return -ENOEXEC;
	ftab = (size_t)pcln;
	/* nfunc + 1 entries; this also bounds every loop below by the buffer's size. */
	if (nfunc >= (len - ftab) / FTAB_ENTRY)
		return -ENOEXEC;

	for (uint64_t i = 0; i < nfunc; i++) {
		const uint8_t *ent = h + ftab + i * FTAB_ENTRY;
		uint32_t entry = u32(ent), rec = u32(ent + 4), next = u32(ent + FTAB_ENTRY);

		if (next < entry)
			return -ENOEXEC;
		if (i == 0 ? rec < (nfunc + 1) * FTAB_ENTRY
			   : rec < prev_rec || rec - prev_rec < RECORD_MIN)
			return -ENOEXEC;
		if (rec > len - ftab || RECORD_MIN > len - ftab - rec || u32(h + ftab + rec) != entry)
			return -ENOEXEC;
		prev_rec = rec;
	}
	/* The last entry ends the text: every address below it must not wrap. */
	if (text > UINT64_MAX - u32(h + ftab + nfunc * FTAB_ENTRY))
		return -ENOEXEC;

	*t = (struct ldp_gopclntab){ .buf = h, .len = len, .text_start = text,
				     .nfunc = (size_t)nfunc, .ftab = ftab, .names = (size_t)names,
				     .names_end = names_end(h, len, names) };
	return 0;
}

size_t ldp_gopclntab_count(const struct ldp_gopclntab *t)
{
	return t ? t->nfunc : 0;
}

int ldp_gopclntab_func(const struct ldp_gopclntab *t, size_t i, uint64_t *ret_addr,
		       uint64_t *ret_size, const char **ret_name)
{
	const uint8_t *ent, *name, *nul;
	uint32_t entry, next;
	int32_t nameoff;
	size_t room;

	if (!t || i >= t->nfunc)
		return -ERANGE;
	/* init checked the entries, their records and their order. */
	ent = t->buf + t->ftab + i * FTAB_ENTRY;
	entry = u32(ent);
	next = u32(ent + FTAB_ENTRY);
	memcpy(&nameoff, t->buf + t->ftab + u32(ent + 4) + 4, sizeof(nameoff));
	if (next == entry || nameoff < 0 || (uint64_t)nameoff >= t->names_end - t->names)
		return -ENOENT;
	name = t->buf + t->names + (size_t)nameoff;
	room = t->names_end - t->names - (size_t)nameoff;
	nul = memchr(name, '\0', room < LDP_GOPCLNTAB_MAX_NAME + 1 ? room : LDP_GOPCLNTAB_MAX_NAME + 1);
	if (!nul || nul == name)
		return -ENOENT;
	if (ret_addr)
		*ret_addr = t->text_start + entry;
	if (ret_size)
		*ret_size = next - entry;
	if (ret_name)
		*ret_name = (const char *)name;
	return 0;
}
