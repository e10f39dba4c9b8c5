/* SPDX-License-Identifier: MIT
 *
 * ring.h — the shared ring: how a sampled process hands its samples to the collector in
 * another process (issue 15's design: nothing of ours in the process but timers, a handler,
 * an unwinder and this ring). The contract between the two sides, in one place.
 *
 * The ring is a memfd the process makes, seals against shrinking and growing, and passes to
 * the collector over the agent protocol's socket; both map it shared. It is a header page and
 * a power-of-two number of fixed-size slots, one sample each, used as a bounded multi-producer
 * single-consumer queue (D. Vyukov's): each slot carries a sequence number, so a producer
 * claims a position with one compare-and-swap of the head and publishes its slot with one
 * store, and the consumer takes slots in order. A full ring drops the sample and counts it; a
 * producer never waits for the consumer, and never for another producer beyond a bounded
 * number of retries.
 *
 * Producer side (the SIGPROF handler, any thread): ldp_ring_init() and ldp_ring_put() below
 * are ASYNC-SIGNAL-SAFE and FREESTANDING: no libc, no allocation, no lock, no system call;
 * they build with -nostdlib -ffreestanding into the libc-free sampler.
 * Consumer side (the collector: `ldprof run`, ldprof-agent): common/ring.c. To it every byte
 * of the ring is untrusted input: the process may scribble over its ring at any moment.
 * It never trusts a size or position found in the memory, copies a slot out before looking at
 * it, and bounds every loop; the seals make sure the mapping cannot shrink under it (SIGBUS).
 */
#ifndef LDP_RING_H
#define LDP_RING_H

#include <stddef.h>
#include <stdint.h>

#define LDP_RING_MAGIC      0x31474e4952504c44ull /* "LDPRING1" */
/* the memfd's name: the process's mapping of its ring reads "/memfd:" this " (deleted)" */
#define LDP_RING_MEMFD_NAME "ldprof-ring"
/* 2: a slot's sequence number is stored relative to the slot's index (below); 1 stored it as
 * is, and a collector still takes such a ring (a process started before an upgrade) */
#define LDP_RING_VERSION    2
#define LDP_RING_HDR_SIZE   4096u                 /* the header page; slot 0 follows it */
#define LDP_RING_SLOT_SIZE  1024u
#define LDP_RING_MIN_SLOTS  8u
#define LDP_RING_MAX_SLOTS  4096u                 /* 4 MiB of slots at most */
/* frames a slot holds after its 24-byte head */
#define LDP_RING_MAX_FRAMES ((LDP_RING_SLOT_SIZE - 24u) / 8u)

/* The header page. Written by the process, so untrusted: the collector checks magic, version,
 * slot_size and nslots against the size of the file it was handed, and reads head and the
 * counters as hints only. Producers and the consumer touch different cache lines. */
struct ldp_ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t slot_size;
	uint32_t nslots;    /* a power of two */
	uint32_t pid;       /* the process's own word for it; the collector uses the peer's */
	uint64_t dropped;   /* samples that found the ring full */
	uint64_t dropped_weight;
	/* how the producer's stacks ended (hints for the collector's log): walked to the
	 * thread's first frame, stopped at an address in no known object, stopped at a frame
	 * whose unwind rule the fast path does not model */
	uint64_t walked_whole, stopped_no_object, stopped_no_rule;
	uint64_t head;      /* next position producers claim */
	/* written by a collector that will never read this ring (past its limits): the producer
	 * looks at each sample and stops sampling (LDP_RING_REFUSED) */
	uint32_t refused;
	uint32_t pad0;
	/* the producer's sampling period, written before the ring is handed over (0: an older
	 * producer, sampling at the collector's rate). The collector refuses a ring faster than
	 * its own rate and weighs a slower one's samples by it. */
	uint64_t period_ns;
	uint8_t pad1[64 - 24];
	uint64_t tail;      /* next position the consumer reads (written by it, for a successor) */
	uint8_t pad2[64 - 8];
	/* the producer's own clock of its handler (x86_64: TSC cycles, from entry to the sample
	 * put, less the once-per-process making of the ring), and how many samples that covers:
	 * a hint, for the collector's log */
	uint64_t handler_cycles, handled;
};

/* A slot: one sample. seq == position + 1 once published, position + nslots once read (free
 * for the next lap); initially its index. */
struct ldp_ring_rec {
	uint64_t seq;
	uint32_t tid;
	uint16_t nframes;  /* at most LDP_RING_MAX_FRAMES */
	uint16_t flags;    /* LDP_RING_F_* */
	uint64_t weight;   /* the periods this sample stands for (1 + the timer's overrun) */
	/* the interrupted instruction's address, then the return addresses as the stack holds
	 * them (as a frame-pointer walk gives them: the collector steps each back into its call) */
	uint64_t frames[LDP_RING_MAX_FRAMES];
};

#define LDP_RING_REFUSED      1u /* hdr.refused: past the collector's limits on rings */
#define LDP_RING_REFUSED_RATE 2u /* hdr.refused: the producer samples faster than its collector */
#define LDP_RING_REFUSED_OFF  3u /* hdr.refused: handed to an agent that collects no rings */

#define LDP_RING_F_TRUNCATED 1u /* the stack was deeper than LDP_RING_MAX_FRAMES */
/* Not a sample (no frames, no weight): the process is about to exec. What the ring held
 * before it was taken with the old image's mappings; nothing follows it (the new image, if
 * the exec succeeds, makes a ring of its own). */
#define LDP_RING_F_EXEC 2u

_Static_assert(sizeof(struct ldp_ring_rec) <= LDP_RING_SLOT_SIZE, "slot size");
_Static_assert(sizeof(struct ldp_ring_hdr) <= LDP_RING_HDR_SIZE, "header size");
_Static_assert(offsetof(struct ldp_ring_hdr, head) == 64, "head on its own cache line");
_Static_assert(offsetof(struct ldp_ring_hdr, tail) == 128, "tail on its own cache line");

static inline size_t ldp_ring_size(uint32_t nslots)
{
	return LDP_RING_HDR_SIZE + (size_t)nslots * LDP_RING_SLOT_SIZE;
}

static inline struct ldp_ring_rec *ldp_ring_slot(void *mem, uint32_t nslots, uint64_t pos)
{
	return (struct ldp_ring_rec *)((char *)mem + LDP_RING_HDR_SIZE +
				       (size_t)(pos & (nslots - 1)) * LDP_RING_SLOT_SIZE);
}

/* A slot's sequence number as the queue means it (its index in a new ring), stored as that
 * minus the slot's index (pos modulo the slots): the zeroed pages of a new ring are then every
 * slot free for the first lap, so laying a ring out writes its header page alone (writing
 * every slot of a 4 MiB ring faulted its 1,025 pages in one by one); the sampler populates
 * them with one madvise() instead. mask: nslots - 1 (version 2), 0 (version 1: as is). */
static inline uint64_t ldp_ring_seq_load(struct ldp_ring_rec *r, uint64_t pos, uint64_t mask)
{
	return __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE) + (pos & mask);
}

static inline void ldp_ring_seq_store(struct ldp_ring_rec *r, uint64_t pos, uint64_t mask, uint64_t seq)
{
	__atomic_store_n(&r->seq, seq - (pos & mask), __ATOMIC_RELEASE);
}

/* ASYNC-SIGNAL-SAFE, FREESTANDING. Lays a ring out in zeroed memory of ldp_ring_size(nslots)
 * bytes (nslots a power of two within the limits; the caller checked): the header alone. */
static inline void ldp_ring_init(void *mem, uint32_t nslots, uint32_t pid)
{
	struct ldp_ring_hdr *h = (struct ldp_ring_hdr *)mem;

	h->version = LDP_RING_VERSION;
	h->slot_size = LDP_RING_SLOT_SIZE;
	h->nslots = nslots;
	h->pid = pid;
	__atomic_store_n(&h->magic, LDP_RING_MAGIC, __ATOMIC_RELEASE);
}

/* ASYNC-SIGNAL-SAFE, FREESTANDING. Puts one record: a sample (frames leaf first; more than
 * LDP_RING_MAX_FRAMES are cut and flagged), or with flags LDP_RING_F_EXEC and no frames, the
 * exec mark. nslots is the producer's own copy, never read back from the shared header.
 * Returns 0, or -1 when the ring was full (or too contended): the record is dropped and
 * counted. */
static inline int ldp_ring_put_rec(void *mem, uint32_t nslots, uint32_t tid, uint64_t weight,
				   const uint64_t *frames, uint32_t n, uint16_t flags)
{
	struct ldp_ring_hdr *h = (struct ldp_ring_hdr *)mem;
	uint64_t pos = __atomic_load_n(&h->head, __ATOMIC_RELAXED);

	for (int tries = 0; tries < 64; tries++) {
		struct ldp_ring_rec *r = ldp_ring_slot(mem, nslots, pos);
		uint64_t seq = ldp_ring_seq_load(r, pos, nslots - 1);
		int64_t dif = (int64_t)(seq - pos);

		if (dif < 0)
			break; /* the slot still holds a sample of the lap before: full */
		if (dif > 0) {
			pos = __atomic_load_n(&h->head, __ATOMIC_RELAXED); /* another took it */
			continue;
		}
		if (!__atomic_compare_exchange_n(&h->head, &pos, pos + 1, 1, __ATOMIC_RELAXED,
						  __ATOMIC_RELAXED))
			continue; /* pos now holds the head another producer moved */
		r->tid = tid;
		r->weight = weight;
		r->flags = (uint16_t)(flags | (n > LDP_RING_MAX_FRAMES ? LDP_RING_F_TRUNCATED : 0));
		if (n > LDP_RING_MAX_FRAMES)
			n = LDP_RING_MAX_FRAMES;
		r->nframes = (uint16_t)n;
		for (uint32_t i = 0; i < n; i++) /* no memcpy: freestanding */
			r->frames[i] = frames[i];
		ldp_ring_seq_store(r, pos, nslots - 1, pos + 1);
		return 0;
	}
	__atomic_fetch_add(&h->dropped, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->dropped_weight, weight, __ATOMIC_RELAXED);
	return -1;
}

/* ASYNC-SIGNAL-SAFE, FREESTANDING. One sample (ldp_ring_put_rec with no flag). */
static inline int ldp_ring_put(void *mem, uint32_t nslots, uint32_t tid, uint64_t weight,
			       const uint64_t *frames, uint32_t n)
{
	return ldp_ring_put_rec(mem, nslots, tid, weight, frames, n, 0);
}

/* ---- the consumer (common/ring.c) ---- */

struct ldp_ring {
	uint8_t *mem;       /* the shared mapping */
	size_t len;
	uint32_t nslots;    /* from the file's size, checked against the header */
	uint64_t seq_mask;  /* ldp_ring_seq_load()'s mask: by the header's version */
	int own_map;        /* mem is ours to munmap */
	uint64_t tail;      /* our own: the header's copy is only written */
	uint64_t stuck_at;  /* a position that stayed unpublished with later ones claimed */
	unsigned stuck_drains;
	/* what the consumer saw */
	uint64_t records, bad, skipped;
};

/* A sample as the consumer copied it out; frames[0..nframes) valid. */
struct ldp_ring_sample {
	uint32_t tid;
	uint32_t nframes;
	uint32_t flags;
	uint64_t weight;
	uint64_t frames[LDP_RING_MAX_FRAMES];
};

/* Makes a sealed memfd ring of nslots (libc: for tests and tools; the sampler makes its own
 * with raw system calls and ldp_ring_init()). Returns the descriptor and the mapping in *mem,
 * or -errno. */
int ldp_ring_create(uint32_t nslots, uint32_t pid, void **mem);

/* Maps the ring on fd, a memfd handed over by a process: refused (-EPERM) unless it is sealed
 * against shrinking and growing, and (-EINVAL) unless its size is a header page and a
 * power-of-two number of slots within the limits, and its header says the same. fd is not
 * kept. Returns 0 or -errno. */
int ldp_ring_attach(int fd, struct ldp_ring *r);

/* The same checks on memory already mapped (tests, the fuzzer): len bytes at mem. */
int ldp_ring_attach_mem(void *mem, size_t len, struct ldp_ring *r);

/* Tells the producer this ring will never be read (a collector past its limits takes it to
 * say so, then detaches): its sampler stops at its next sample. why: LDP_RING_REFUSED*. */
void ldp_ring_refuse(struct ldp_ring *r, uint32_t why);

typedef void (*ldp_ring_fn)(void *ctx, const struct ldp_ring_sample *s);

/* Takes at most max published samples in order, each copied out and checked before fn sees
 * it (a slot whose nframes is out of range is counted bad and passed over; the exec mark comes
 * through with nframes 0 and flags LDP_RING_F_EXEC). A slot claimed
 * but never published (a producer that died in its handler) holds the ring up; once it has
 * done so for LDP_RING_STUCK_DRAINS calls while later ones are published, it is skipped
 * (counted). Returns the number of samples passed to fn. Never blocks. */
#define LDP_RING_STUCK_DRAINS 3
unsigned ldp_ring_drain(struct ldp_ring *r, ldp_ring_fn fn, void *ctx, unsigned max);

/* The producer's sampling period in ns, as its header says (untrusted; 0: not said). */
uint64_t ldp_ring_period(const struct ldp_ring *r);

/* What the process says it dropped (a hint: the process writes it). */
uint64_t ldp_ring_dropped(const struct ldp_ring *r);

void ldp_ring_detach(struct ldp_ring *r);

#endif
