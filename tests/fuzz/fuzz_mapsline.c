/* SPDX-License-Identifier: MIT
 *
 * fuzz_mapsline.c — the shim's /proc/self/maps reader (shim/mapsline.c) on hostile bytes.
 *
 * Input: a first byte choosing the buffer's size (16 to 527 bytes) and the size of each read
 * (1 to 64 bytes: the kernel hands maps out in pieces), then the text. Oracle: no crash, no
 * access outside the buffer (ASan), no undefined behaviour (UBSan); the lines returned are
 * exactly the text's newline-ended lines that fit the buffer, in order; a parsed line has
 * lo < hi and its path inside the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapsline.h"

static const uint8_t *in;
static size_t in_len, in_pos, chunk;

static long feed(long fd, char *buf, unsigned long n)
{
	size_t k = in_len - in_pos;

	(void)fd;
	if (k > n)
		k = n;
	if (k > chunk)
		k = chunk;
	memcpy(buf, in + in_pos, k);
	in_pos += k;
	return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ldp_mapsline m = { 0 };
	struct ldp_mapsline_ent l;
	size_t cap, ref = 1; /* where the reference's next line starts in data */
	char *buf, *s;

	if (size < 1 || size > (1 << 16))
		return 0;
	cap = 16 + (size_t)(data[0] & 0x1f) * 16 + (data[0] >> 5);
	chunk = 1 + (size_t)(data[0] * 7 % 64);
	in = data + 1;
	in_len = size - 1;
	in_pos = 0;
	buf = malloc(cap);
	if (!buf)
		return 0;
	m.read = feed;
	m.buf = buf;
	m.cap = cap;
	while ((s = ldp_mapsline_next(&m))) {
		const uint8_t *nl;
		size_t n = strlen(s);

		if (s < buf || s + n >= buf + cap)
			abort();
		/* the reference: the next newline-ended line that fits (its newline too) */
		for (;;) {
			nl = memchr(data + ref, '\n', size - ref);
			if (!nl)
				abort(); /* a line the text does not have */
			if ((size_t)(nl - (data + ref)) + 1 <= cap)
				break;
			ref = (size_t)(nl - data) + 1;
		}
		if (memchr(data + ref, 0, (size_t)(nl - (data + ref))) ? strncmp(s, (const char *)data + ref, n) != 0
		    : n != (size_t)(nl - (data + ref)) || memcmp(s, data + ref, n) != 0)
			abort();
		ref = (size_t)(nl - data) + 1;
		if (ldp_mapsline_parse(s, &l) == 0 && (l.lo >= l.hi || l.path < s || l.path > s + n))
			abort();
	}
	/* no newline-ended line that fits was left out */
	for (const uint8_t *nl; (nl = memchr(data + ref, '\n', size - ref)); ref = (size_t)(nl - data) + 1)
		if ((size_t)(nl - (data + ref)) + 1 <= cap)
			abort();
	free(buf);
	return 0;
}
