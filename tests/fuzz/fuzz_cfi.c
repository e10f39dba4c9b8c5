/* SPDX-License-Identifier: MIT
 *
 * fuzz_cfi.c — the unwinder's .eh_frame reader (shim/cfi.c) on hostile bytes.
 *
 * Input: the bytes of an object's segment starting at its .eh_frame_hdr (the seeds are real
 * ones, cut from small objects, so the datarel offsets still point into .eh_frame).
 * Oracle: no crash, no read outside the input (ASan), no undefined behaviour (UBSan), for the
 * header parse and for rules asked at every table entry's address, a few bytes past it, and at
 * addresses taken from the input itself; a rule, when given, has CFA on RSP or RBP. The same
 * bytes are also indexed as an .eh_frame (ldp_cfi_index): a sorted table, FDEs in the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ldp_cfi_obj o;
	struct ldp_cfi_rule r;
	uint8_t *buf;
	uint64_t base;

	if (size < 4 || size > (1 << 20))
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	base = (uint64_t)(uintptr_t)buf;
	if (ldp_cfi_obj_init(&o, base, base, base + size) == 0) {
		for (uint64_t i = 0; i < o.nfde && i < 64; i++) {
			int32_t loc;
			memcpy(&loc, (const void *)(uintptr_t)(o.table + 8 * i), sizeof(loc));
			for (uint64_t d = 0; d < 48; d += 7)
				if (ldp_cfi_rule(&o, base + (uint64_t)(int64_t)loc + d, &r) == 0 &&
				    r.cfa_reg != LDP_CFA_RSP && r.cfa_reg != LDP_CFA_RBP)
					abort();
		}
		for (size_t k = 0; k + 4 <= size && k < 64; k += 4) {
			int32_t off;
			memcpy(&off, data + k, sizeof(off));
			ldp_cfi_rule(&o, base + (uint64_t)(int64_t)off, &r);
		}
	}
	/* the same bytes read as an .eh_frame to index (objects without .eh_frame_hdr): sorted
	 * pairs, never more than asked, and each FDE offset inside the input */
	{
		int32_t out[2 * 256];
		long n = ldp_cfi_index(base, size, base, base + size, base, out, 256);
		if (n > 256)
			abort();
		for (long i = 0; i < n; i++)
			if ((i && out[2 * i] < out[2 * i - 2]) || out[2 * i + 1] < 0 || (uint64_t)out[2 * i + 1] >= size)
				abort();
	}
	free(buf);
	return 0;
}
