/* SPDX-License-Identifier: MIT
 *
 * fuzz_perfmap.c — the perf map parser (common/perfmap.c) on whatever a process wrote into
 * /tmp/perf-PID.map: parsed in two pieces (as appended reads see it), then looked up.
 *
 * Oracle: no crash, no ASan/UBSan report; the bytes used never exceed the input and end at a
 * newline; a name found is a NUL-terminated string of at most 512 bytes with no control
 * characters. Seeds: tests/fuzz/corpus/fuzz_perfmap/ (node.txt: Node's lines; bad.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "perfmap.h"

static void look(struct ldp_perfmap *pm, uint64_t a)
{
	const char *n = ldp_perfmap_lookup(pm, a);
	size_t len;

	if (!n)
		return;
	len = strlen(n);
	if (len == 0 || len > 512)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct ldp_perfmap *pm;
	size_t half = size / 2, used = 0, used2 = 0;

	if (ldp_perfmap_new(1, &pm) < 0)
		return 0;
	if (ldp_perfmap_parse(pm, t, half, &used) == 0) {
		if (used > half || (used && t[used - 1] != '\n'))
			abort();
		if (ldp_perfmap_parse(pm, t + used, size - used, &used2) == 0 &&
		    (used + used2 > size || (used2 && t[used + used2 - 1] != '\n')))
			abort();
	}
	look(pm, 0);
	for (size_t i = 0; i + 8 <= size; i += 8) {
		uint64_t a;

		memcpy(&a, data + i, 8);
		look(pm, a);
	}
	look(pm, 0x7f0000001018);
	ldp_perfmap_free(pm);
	return 0;
}
