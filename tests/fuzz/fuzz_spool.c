/* SPDX-License-Identifier: MIT
 *
 * fuzz_spool.c — ldp_spool_decode() on arbitrary bytes (a spool file is untrusted: any process
 * that can write the folder can put one there).
 *
 * Oracle: no crash, no leak, no undefined behaviour (ASan/UBSan). A refused input returns
 * -EBADMSG (or -ENOMEM) and leaves the shipment all zero. An accepted one is valid by every
 * rule encode applies (window 0 <= from <= until, hz > 0, at most LDP_SHIP_MAX_LABELS labels,
 * keys non-empty without '=' or '\n', values without '\n', both NUL-terminated in their
 * arrays, 1..LDP_SHIP_MAX_PPROF bytes of pprof), so encode takes it back, and decoding that
 * gives the same shipment again.
 * Seeds: tests/fuzz/corpus/fuzz_spool/ (written by `test_spool --write-corpus DIR`); the raw-*
 * seeds are stored (uncompressed) zstd frames without checksum, so mutations reach the header
 * parser.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

static void check_str(const char *p, size_t size, int key)
{
	size_t n = strnlen(p, size);

	if (n == size || (key && n == 0) || memchr(p, '\n', n) || (key && memchr(p, '=', n)))
		abort();
}

static void check_same(const struct ldp_shipment *a, const struct ldp_shipment *b)
{
	if (a->from_ns != b->from_ns || a->until_ns != b->until_ns || a->hz != b->hz ||
	    a->nlabels != b->nlabels || a->len != b->len || memcmp(a->pprof, b->pprof, a->len) ||
	    memcmp(a->labels, b->labels, sizeof(a->labels)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ldp_shipment zero;
	static struct ldp_shipment s, again; /* 15 KiB each: off the stack */
	uint8_t *enc;
	size_t len;
	int r;

	memset(&s, 0xa5, sizeof(s));
	r = ldp_spool_decode(data, size, &s);
	if (r < 0) {
		if ((r != -EBADMSG && r != -ENOMEM) || memcmp(&s, &zero, sizeof(s)))
			abort();
		return 0;
	}
	if (r != 0 || s.from_ns < 0 || s.until_ns < s.from_ns || s.hz <= 0 || s.nlabels < 0 ||
	    s.nlabels > LDP_SHIP_MAX_LABELS || !s.pprof || !s.len || s.len > LDP_SHIP_MAX_PPROF)
		abort();
	for (int i = 0; i < s.nlabels; i++) {
		check_str(s.labels[i].key, sizeof(s.labels[i].key), 1);
		check_str(s.labels[i].value, sizeof(s.labels[i].value), 0);
	}
	/* the unused label slots are zero, so the round trip can compare whole arrays */
	for (int i = s.nlabels; i < LDP_SHIP_MAX_LABELS; i++)
		if (memcmp(&s.labels[i], &zero.labels[i], sizeof(s.labels[i])))
			abort();
	if (ldp_spool_encode(&s, &enc, &len) < 0)
		abort();
	if (ldp_spool_decode(enc, len, &again) < 0)
		abort();
	check_same(&s, &again);
	free(enc);
	ldp_shipment_clear(&again);
	ldp_shipment_clear(&s);
	return 0;
}
