/* SPDX-License-Identifier: MIT
 *
 * fuzz_ring.c — the consumer of the shared ring (common/ring.c) on memory a hostile process
 * wrote: the input is laid over a ring of 8 slots three times, once as it is (header included)
 * and twice under a header that passes the checks (versions 2 and 1: sequence numbers stored
 * relative to their slot, or as they are), so that mutations reach the slots.
 *
 * Oracle: no crash, no ASan/UBSan report; attach accepts only a header that matches the size;
 * a drain takes at most one lap of slots, every sample it passes on has 1..LDP_RING_MAX_FRAMES
 * frames, and the consumer's position moves forward by at most a lap (modulo 2^64). Seeds: tests/fuzz/corpus/fuzz_ring/
 * (six-samples, version 1, and six-samples-v2: a ring of 8 slots with six samples put by
 * ldp_ring_put, 3 to 38 frames).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define NSLOTS 8u

static void take(void *ctx, const struct ldp_ring_sample *s)
{
	(*(unsigned *)ctx)++;
	/* a sample has frames; only the exec mark has none */
	if (s->nframes > LDP_RING_MAX_FRAMES || (s->nframes == 0) != ((s->flags & LDP_RING_F_EXEC) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[LDP_RING_HDR_SIZE + NSLOTS * LDP_RING_SLOT_SIZE] __attribute__((aligned(64)));
	struct ldp_ring r;

	for (int pass = 0; pass < 3; pass++) {
		unsigned n = 0;
		uint64_t before;

		memset(mem, 0, sizeof(mem));
		memcpy(mem, data, size < sizeof(mem) ? size : sizeof(mem));
		if (pass) {
			struct ldp_ring_hdr *h = (struct ldp_ring_hdr *)mem;

			h->magic = LDP_RING_MAGIC;
			h->version = pass == 1 ? LDP_RING_VERSION : 1;
			h->slot_size = LDP_RING_SLOT_SIZE;
			h->nslots = NSLOTS;
		}
		if (ldp_ring_attach_mem(mem, sizeof(mem), &r) != 0) {
			if (pass)
				abort(); /* a matching header is accepted */
			continue;
		}
		for (int d = 0; d < 4; d++) {
			before = r.tail;
			/* positions are counted modulo 2^64: a header may start them anywhere */
			if (ldp_ring_drain(&r, take, &n, 1000) > NSLOTS || r.tail - before > NSLOTS)
				abort();
		}
		ldp_ring_detach(&r);
	}
	return 0;
}
