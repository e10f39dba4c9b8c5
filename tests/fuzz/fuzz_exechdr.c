/* SPDX-License-Identifier: MIT
 *
 * fuzz_exechdr.c — the first stage's look at a file a waiting process execs (shim/exechdr.c)
 * on hostile bytes: any file a program may exec.
 *
 * Oracle: no crash, no access outside the input (ASan), no undefined behaviour (UBSan); the
 * header's program headers, when it names them, are a whole number of entries, at most
 * LDP_EXECHDR_PHDRS; the answers are 0/1 and -1/0/1.
 */
#include <stdint.h>
#include <stdlib.h>

#include "exechdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long phoff = 0;
	long phlen = 0;
	int r, s;

	r = ldp_exechdr_head(data, (long)size, &phoff, &phlen);
	if (r != 0 && r != 1)
		abort();
	if (r == 1) {
		if (phlen <= 0 || phlen % LDP_EXECHDR_PHENT || phlen > LDP_EXECHDR_PHDRS * LDP_EXECHDR_PHENT)
			abort();
		if (phoff < size) {
			size_t left = size - phoff;

			s = ldp_exechdr_static(data + phoff, (long)(left < (size_t)phlen ? left : (size_t)phlen));
			if (s < -1 || s > 1)
				abort();
		}
	}
	s = ldp_exechdr_static(data, (long)size);
	if (s < -1 || s > 1)
		abort();
	return 0;
}
