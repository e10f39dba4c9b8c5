/* SPDX-License-Identifier: MIT
 *
 * ring_freestanding.c — the producer side of common/ring.h, built as the libc-free first stage
 * is built (-nostdlib -ffreestanding -fno-builtin): the Makefile checks that the object needs
 * no symbol at all (no memcpy or memset the compiler could have slipped in), so the sampler
 * can use ldp_ring_init() and ldp_ring_put() as they are.
 */
#include "ring.h"

void ring_freestanding_init(void *mem, uint32_t nslots)
{
	ldp_ring_init(mem, nslots, 1);
}

int ring_freestanding_put(void *mem, uint32_t nslots, const uint64_t *f, uint32_t n)
{
	return ldp_ring_put(mem, nslots, 1, 1, f, n);
}
