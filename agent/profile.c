/* SPDX-License-Identifier: MIT
 *
 * profile.c — the profile of one sampled process: aggregation, symbolization, the pprof file.
 *
 * Samples arrive from the ring buffer one by one; identical (thread, stack) pairs are counted in
 * one entry of an open-addressing table that doubles up to LDP_AGENT_PROF_MAX_STACKS entries and
 * then drops and counts what does not fit, so a process with unbounded stack variety cannot
 * make the agent's memory grow without bound.
 * Symbolization uses the same modules as the shim (procmaps, elfsym, pprof), but the process is
 * another one and may be gone when its profile is written: its maps, comm, executable and the
 * symbol tables of its mapped files are read while it is alive (ldp_agent_prof_refresh) and the
 * last good snapshot is used at the end. Files are opened through /proc/PID/root so a process
 * in another mount namespace is symbolized from its own files.
 * It must never write anywhere but the output folder it is given, never follow a symlink for
 * the file it creates, and never replace an existing profile.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "elfsym.h"
#include "fileio.h"
#include "pprof.h"
#include "procmaps.h"
#include "profile.h"

#define MAX_SYMFILES 512
#define MAX_DEPTH 128

struct entry {
	uint64_t hash; /* 0: empty slot */
	uint64_t count;
	uint64_t *frames;
	uint32_t tid;
	uint32_t n;
	char comm[16];
};

struct symfile {
	char *path;
	uint64_t inode;
	struct ldp_elfsym *syms; /* NULL when the file could not be parsed */
};

struct ldp_agent_prof {
	pid_t pid;
	int64_t period_ns, start_ns;
	struct entry *e;
	uint32_t cap, used;
	uint64_t samples, dropped;
	/* the last good snapshot of the process */
	struct ldp_maps maps;
	char comm[32];
	char exe[PATH_MAX];
	struct symfile sym[MAX_SYMFILES];
	unsigned nsym;
};

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int ldp_agent_prof_new(pid_t pid, int64_t period_ns, struct ldp_agent_prof **ret)
{
	struct ldp_agent_prof *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->cap = 1024;
	p->e = calloc(p->cap, sizeof(*p->e));
	if (!p->e) {
		free(p);
		return -ENOMEM;
	}
	p->pid = pid;
	p->period_ns = period_ns;
	p->start_ns = now_ns(CLOCK_REALTIME);
	snprintf(p->comm, sizeof(p->comm), "unknown");
	*ret = p;
	return 0;
}

void ldp_agent_prof_free(struct ldp_agent_prof *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->cap; i++)
		free(p->e[i].frames);
	free(p->e);
	for (unsigned i = 0; i < p->nsym; i++) {
		free(p->sym[i].path);
		ldp_elfsym_free(p->sym[i].syms);
	}
	ldp_maps_free(&p->maps);
	free(p);
}

static uint64_t hash_stack(uint32_t tid, const uint64_t *f, uint32_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ tid;

	for (uint32_t i = 0; i < n; i++) {
		h ^= f[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

static struct entry *slot(struct entry *tab, uint32_t cap, uint64_t h, uint32_t tid,
			  const uint64_t *f, uint32_t n)
{
	for (uint32_t i = (uint32_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct entry *e = &tab[i];
		if (!e->hash || (e->hash == h && e->tid == tid && e->n == n &&
				 !memcmp(e->frames, f, n * sizeof(*f))))
			return e;
	}
}

/* Doubles the table (load stays under 1/2, so a probe always ends at an empty slot). */
static int grow(struct ldp_agent_prof *p)
{
	uint32_t cap = p->cap * 2;
	struct entry *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->cap; i++)
		if (p->e[i].hash)
			*slot(tab, cap, p->e[i].hash, p->e[i].tid, p->e[i].frames, p->e[i].n) = p->e[i];
	free(p->e);
	p->e = tab;
	p->cap = cap;
	return 0;
}

int ldp_agent_prof_add(struct ldp_agent_prof *p, uint32_t tid, const char *comm,
		       const uint64_t *frames, uint32_t nframes)
{
	struct entry *e;
	uint64_t h;

	if (nframes > MAX_DEPTH)
		nframes = MAX_DEPTH;
	h = hash_stack(tid, frames, nframes);
	e = slot(p->e, p->cap, h, tid, frames, nframes);
	if (e->hash) {
		e->count++;
		p->samples++;
		return 0;
	}
	if (p->used >= LDP_AGENT_PROF_MAX_STACKS) {
		p->dropped++;
		return -E2BIG;
	}
	if ((p->used + 1) * 2 > p->cap) {
		if (grow(p) < 0) {
			p->dropped++;
			return -ENOMEM;
		}
		e = slot(p->e, p->cap, h, tid, frames, nframes);
	}
	e->frames = malloc((nframes ? nframes : 1) * sizeof(*frames));
	if (!e->frames) {
		p->dropped++;
		return -ENOMEM;
	}
	memcpy(e->frames, frames, nframes * sizeof(*frames));
	e->hash = h;
	e->tid = tid;
	e->n = nframes;
	e->count = 1;
	snprintf(e->comm, sizeof(e->comm), "%s", comm);
	p->used++;
	p->samples++;
	return 0;
}

uint64_t ldp_agent_prof_samples(const struct ldp_agent_prof *p)
{
	return p->samples;
}

uint64_t ldp_agent_prof_dropped(const struct ldp_agent_prof *p)
{
	return p->dropped;
}

/* The symbol table of a mapped file, parsed once per (path, inode). */
static struct ldp_elfsym *symfile_get(struct ldp_agent_prof *p, const struct ldp_map *m)
{
	char path[PATH_MAX + 64];
	struct symfile *sf;

	if (m->path[0] != '/')
		return NULL;
	for (unsigned i = 0; i < p->nsym; i++)
		if (p->sym[i].inode == m->inode && !strcmp(p->sym[i].path, m->path))
			return p->sym[i].syms;
	if (p->nsym == MAX_SYMFILES)
		return NULL;
	sf = &p->sym[p->nsym];
	sf->path = strdup(m->path);
	if (!sf->path)
		return NULL;
	sf->inode = m->inode;
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)p->pid, m->path);
	if (ldp_elfsym_open(path, &sf->syms) < 0)
		sf->syms = NULL;
	p->nsym++;
	return sf->syms;
}

int ldp_agent_prof_refresh(struct ldp_agent_prof *p)
{
	struct ldp_maps maps = { 0 };
	char path[64], exe[PATH_MAX], *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int r;

	r = ldp_maps_read(p->pid, &maps);
	if (r < 0)
		return r;
	/* A process that has exited but is not yet reaped has an empty maps file: that is no
	 * snapshot to replace a good one with. */
	if (!maps.n) {
		ldp_maps_free(&maps);
		return -ESRCH;
	}
	ldp_maps_free(&p->maps);
	p->maps = maps;
	for (size_t i = 0; i < p->maps.n; i++)
		if (p->maps.maps[i].perms[2] == 'x')
			symfile_get(p, &p->maps.maps[i]);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		memcpy(p->exe, exe, (size_t)n + 1);
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	if (ldp_read_file(path, 0, 64, &buf, &len) == 0 && len > 0) {
		buf[strcspn(buf, "\n")] = 0;
		snprintf(p->comm, sizeof(p->comm), "%s", buf);
	}
	free(buf);
	return 0;
}

/* Mapping ids are added lazily, one per executable line of maps. */
static int64_t mapping_id(struct ldp_agent_prof *p, struct ldp_pprof *pp, int64_t *ids, size_t i)
{
	const struct ldp_map *m = &p->maps.maps[i];
	struct ldp_elfsym *syms;

	if (ids[i])
		return ids[i];
	syms = symfile_get(p, m);
	ids[i] = ldp_pprof_add_mapping(pp, m->start, m->end, m->offset, m->path,
				       syms ? ldp_elfsym_build_id(syms) : NULL);
	return ids[i];
}

static int build(struct ldp_agent_prof *p, int64_t end_ns, struct ldp_pprof **ret)
{
	struct ldp_pprof *pp;
	int64_t *ids;
	int r = 0;

	pp = ldp_pprof_new(p->period_ns, p->start_ns, end_ns - p->start_ns);
	ids = calloc(p->maps.n + 1, sizeof(*ids));
	if (!pp || !ids) {
		r = -ENOMEM;
		goto out;
	}
	/* the main executable's mapping first: pprof and Parca take mapping 1 as the binary */
	for (size_t i = 0; i < p->maps.n; i++)
		if (p->maps.maps[i].perms[2] == 'x' && p->exe[0] && !strcmp(p->maps.maps[i].path, p->exe))
			mapping_id(p, pp, ids, i);

	for (uint32_t i = 0; i < p->cap; i++) {
		const struct entry *e = &p->e[i];
		struct ldp_pprof_label labels[3] = {
			{ "source", "ebpf" }, { "thread_id", NULL }, { "thread_name", e->comm } };
		uint64_t locs[MAX_DEPTH];
		char tid[16];
		uint32_t nl = 0;

		if (!e->hash)
			continue;
		for (uint32_t k = 0; k < e->n && nl < MAX_DEPTH; k++) {
			uint64_t a = e->frames[k];
			const struct ldp_map *m = ldp_maps_find(&p->maps, a);
			const char *fn = NULL;
			int64_t mid = 0, loc;

			if (!a)
				continue;
			if (m) {
				struct ldp_elfsym *syms = symfile_get(p, m);
				/* past the leaf, frames are return addresses: the call is just before */
				uint64_t at = k ? a - 1 : a;
				mid = mapping_id(p, pp, ids, (size_t)(m - p->maps.maps));
				if (syms)
					fn = ldp_elfsym_lookup(syms, at - m->start + m->offset);
				else if (m->path[0] == '[')
					fn = m->path;
			}
			loc = ldp_pprof_add_location(pp, mid > 0 ? (uint64_t)mid : 0, a, fn);
			if (loc < 0) {
				r = (int)loc;
				goto out;
			}
			locs[nl++] = (uint64_t)loc;
		}
		snprintf(tid, sizeof(tid), "%u", e->tid);
		labels[1].str = tid;
		r = ldp_pprof_add_sample(pp, locs, nl, (int64_t)e->count, labels, 3);
		if (r < 0)
			goto out;
	}
out:
	free(ids);
	if (r < 0) {
		ldp_pprof_free(pp);
		return r;
	}
	*ret = pp;
	return 0;
}

int ldp_agent_prof_shipment(struct ldp_agent_prof *p, int64_t end_ns, struct ldp_shipment *ret)
{
	struct ldp_pprof *pp = NULL;
	char pid[16];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = build(p, end_ns, &pp);
	if (r == 0)
		r = ldp_pprof_encode(pp, &ret->pprof, &ret->len);
	ldp_pprof_free(pp);
	if (r < 0)
		return r;
	ret->from_ns = p->start_ns;
	ret->until_ns = end_ns;
	ret->hz = (int)(1000000000LL / p->period_ns);
	snprintf(pid, sizeof(pid), "%d", (int)p->pid);
	ldp_shipment_add_label(ret, LDP_LABEL_COMM, p->comm);
	ldp_shipment_add_label(ret, LDP_LABEL_PID, pid);
	if (p->exe[0])
		ldp_shipment_add_label(ret, LDP_LABEL_EXE, p->exe);
	ldp_shipment_add_label(ret, "source", "ebpf");
	return 0;
}
