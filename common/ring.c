/* SPDX-License-Identifier: MIT
 *
 * ring.c — the consumer side of the shared ring (see ring.h), and a libc maker of rings.
 *
 * Everything in the mapping can change while it is read: a slot is copied out whole and only
 * the copy is looked at; the consumer's position is its own (the header's tail is written for a
 * collector that takes the ring over, never read back after attaching, and checked then); the
 * number of slots comes from the file's size. The seals checked at attach time guarantee that
 * the file cannot shrink under the mapping, the one thing that could fault a reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ring.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

static int slots_of(size_t len, uint32_t *ret)
{
	size_t n;

	if (len < ldp_ring_size(LDP_RING_MIN_SLOTS) || (len - LDP_RING_HDR_SIZE) % LDP_RING_SLOT_SIZE)
		return -EINVAL;
	n = (len - LDP_RING_HDR_SIZE) / LDP_RING_SLOT_SIZE;
	if (n > LDP_RING_MAX_SLOTS || (n & (n - 1)))
		return -EINVAL;
	*ret = (uint32_t)n;
	return 0;
}

int ldp_ring_create(uint32_t nslots, uint32_t pid, void **mem)
{
	size_t len = ldp_ring_size(nslots);
	uint32_t check;
	void *m = MAP_FAILED;
	int fd, r;

	if (slots_of(len, &check) < 0)
		return -EINVAL;
	fd = memfd_create("ldprof-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0 || fcntl(fd, F_ADD_SEALS, SEALS | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto fail;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	ldp_ring_init(m, nslots, pid);
	*mem = m;
	return fd;
fail:
	close(fd);
	return r;
}

int ldp_ring_attach_mem(void *mem, size_t len, struct ldp_ring *r)
{
	const struct ldp_ring_hdr *h = mem;
	uint64_t head, tail;
	uint32_t n, version;
	int err;

	memset(r, 0, sizeof(*r));
	err = slots_of(len, &n);
	if (err < 0)
		return err;
	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != LDP_RING_MAGIC)
		return -EINVAL;
	version = __atomic_load_n(&h->version, __ATOMIC_RELAXED); /* read once: it may change */
	if ((version != LDP_RING_VERSION && version != 1) || h->slot_size != LDP_RING_SLOT_SIZE || h->nslots != n)
		return -EINVAL;
	r->mem = mem;
	r->len = len;
	r->nslots = n;
	r->seq_mask = version == 1 ? 0 : n - 1;
	/* a ring taken over from another collector: go on where it stopped, if that is sane */
	head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
	tail = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
	r->tail = tail <= head && head - tail <= n ? tail : head;
	return 0;
}

void ldp_ring_refuse(struct ldp_ring *r, uint32_t why)
{
	__atomic_store_n(&((struct ldp_ring_hdr *)r->mem)->refused, why, __ATOMIC_RELEASE);
}

uint64_t ldp_ring_period(const struct ldp_ring *r)
{
	return __atomic_load_n(&((const struct ldp_ring_hdr *)r->mem)->period_ns, __ATOMIC_RELAXED);
}

int ldp_ring_attach(int fd, struct ldp_ring *r)
{
	struct stat st;
	void *m;
	int seals, err;

	memset(r, 0, sizeof(*r));
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return errno == EINVAL ? -EPERM : -errno; /* not a memfd (or one without sealing) */
	if ((seals & SEALS) != SEALS)
		return -EPERM;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0)
		return -EINVAL;
	err = slots_of((size_t)st.st_size, &(uint32_t){ 0 });
	if (err < 0)
		return err;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	err = ldp_ring_attach_mem(m, (size_t)st.st_size, r);
	if (err < 0) {
		munmap(m, (size_t)st.st_size);
		return err;
	}
	r->own_map = 1;
	return 0;
}

/* Frees the slot at r->tail for the next lap and moves on. */
static void release(struct ldp_ring *r)
{
	struct ldp_ring_rec *s = ldp_ring_slot(r->mem, r->nslots, r->tail);
	struct ldp_ring_hdr *h = (struct ldp_ring_hdr *)r->mem;

	ldp_ring_seq_store(s, r->tail, r->seq_mask, r->tail + r->nslots);
	r->tail++;
	__atomic_store_n(&h->tail, r->tail, __ATOMIC_RELAXED);
}

unsigned ldp_ring_drain(struct ldp_ring *r, ldp_ring_fn fn, void *ctx, unsigned max)
{
	struct ldp_ring_rec copy;
	struct ldp_ring_sample out;
	unsigned got = 0;

	if (!r->mem)
		return 0;
	if (max > r->nslots)
		max = r->nslots; /* one lap per call at most, whatever the process writes */
	for (unsigned i = 0; i < max; i++) {
		struct ldp_ring_rec *s = ldp_ring_slot(r->mem, r->nslots, r->tail);
		uint64_t seq = ldp_ring_seq_load(s, r->tail, r->seq_mask);

		if (seq != r->tail + 1) {
			/* not published: empty, being written, or abandoned by a producer that died
			 * in its handler; the last when the next one is published, several times */
			struct ldp_ring_rec *n = ldp_ring_slot(r->mem, r->nslots, r->tail + 1);

			if (ldp_ring_seq_load(n, r->tail + 1, r->seq_mask) != r->tail + 2) {
				r->stuck_drains = 0;
				break;
			}
			if (r->stuck_at != r->tail || !r->stuck_drains) {
				r->stuck_at = r->tail;
				r->stuck_drains = 1;
				break;
			}
			if (++r->stuck_drains < LDP_RING_STUCK_DRAINS)
				break;
			r->stuck_drains = 0;
			r->skipped++;
			release(r);
			continue;
		}
		memcpy(&copy, s, sizeof(copy));
		release(r);
		if (copy.nframes > LDP_RING_MAX_FRAMES ||
		    (copy.nframes == 0) != ((copy.flags & LDP_RING_F_EXEC) != 0)) {
			r->bad++;
			continue;
		}
		out.tid = copy.tid;
		out.nframes = copy.nframes;
		out.flags = copy.flags;
		out.weight = copy.weight;
		memcpy(out.frames, copy.frames, copy.nframes * sizeof(out.frames[0]));
		r->records++;
		got++;
		fn(ctx, &out);
	}
	return got;
}

uint64_t ldp_ring_dropped(const struct ldp_ring *r)
{
	const struct ldp_ring_hdr *h = (const struct ldp_ring_hdr *)r->mem;

	return h ? __atomic_load_n(&h->dropped, __ATOMIC_RELAXED) : 0;
}

void ldp_ring_detach(struct ldp_ring *r)
{
	if (r->mem && r->own_map)
		munmap(r->mem, r->len);
	memset(r, 0, sizeof(*r));
}
