/* SPDX-License-Identifier: MIT
 *
 * cfi.h — the unwind rule of one x86_64 instruction address, from .eh_frame, for the fast path.
 *
 * Almost every frame of compiled code follows one of two rules: CFA = RSP + n or CFA = RBP + n,
 * the return address at CFA - 8, and RBP either untouched or saved at CFA + m. This module
 * finds the FDE of an address through .eh_frame_hdr's search table and runs its CFA program
 * up to that address; anything else (expressions, signal frames, register rules, 64-bit
 * lengths) is reported as unsupported and left to the caller (ringsamp.c's other ways).
 *
 * ASYNC-SIGNAL-SAFE: pure computation over memory the caller guarantees mapped (the object's
 * segments, which stay mapped while the object is in the unwinder's table). Every read is
 * bounds-checked against [lo, hi) of the object.
 */
#ifndef LDP_CFI_H
#define LDP_CFI_H

#include <stdint.h>

struct ldp_cfi_obj {
	uint64_t lo, hi;     /* readable range that holds .eh_frame (and .eh_frame_hdr) */
	uint64_t hdr;        /* .eh_frame_hdr: the base the table's offsets (and datarel) add to */
	uint64_t table;      /* its binary search table: nfde pairs of int32 (datarel) */
	uint64_t nfde;
	/* where the table lies, when it is not in [lo, hi) (one ldp_cfi_index() made for an
	 * object linked without .eh_frame_hdr); 0, 0: in [lo, hi) */
	uint64_t tlo, thi;
};

enum { LDP_CFA_RSP = 0, LDP_CFA_RBP = 1 };

struct ldp_cfi_rule {
	int32_t cfa_off;     /* CFA = (cfa_reg) + cfa_off */
	int32_t rbp_off;     /* RBP saved at CFA + rbp_off, when rbp_saved */
	uint8_t cfa_reg;
	uint8_t rbp_saved;
	uint8_t end;         /* the return address is undefined: outermost frame */
};

/* Fills hdr, table and nfde from the .eh_frame_hdr at hdr, inside the mapped segment
 * [lo, hi). Returns -1 for a header without a usable search table (then the caller makes one
 * from .eh_frame). Not for signal handlers (no need), but safe there. */
int ldp_cfi_obj_init(struct ldp_cfi_obj *o, uint64_t hdr, uint64_t lo, uint64_t hi);

/* The search table of the .eh_frame_hdr whose first len bytes are in buf (the header itself,
 * or a copy of it) and which lies at address at: the table's address and its number of
 * entries. -1 for anything but a version 1 header with a sorted datarel|sdata4 table. Reads
 * only buf[0, len). */
int ldp_cfi_hdr_parse(const uint8_t *buf, uint64_t len, uint64_t at, uint64_t *table, uint64_t *nfde);

/* For an object linked without .eh_frame_hdr (Debian's musl-gcc links so): the search table a
 * linker would have written, made from the .eh_frame of len bytes at eh, inside the mapped
 * segment [lo, hi). Writes at most max pairs of int32 (initial location - base, FDE - base),
 * sorted by location, into out; returns how many, or -1 when the section cannot be read or
 * an offset does not fit. Not for signal handlers (no need); reads only [lo, hi). */
long ldp_cfi_index(uint64_t eh, uint64_t len, uint64_t lo, uint64_t hi, uint64_t base, int32_t *out,
		   unsigned long max);

/* 0 and the rule; -1 when the address has no FDE or its rule is not one of the simple ones. */
int ldp_cfi_rule(const struct ldp_cfi_obj *o, uint64_t ip, struct ldp_cfi_rule *ret);

#endif
