/* SPDX-License-Identifier: MIT
 *
 * window.c — one flush window of aggregated stacks, and its pprof file.
 *
 * The sampler's tables hold at most a drain interval of samples; this window holds the whole
 * flush interval, keyed by (thread, stack). It grows up to MAX_ENTRIES unique stacks and then
 * counts what does not fit as dropped, so a process with unbounded stack variety cannot make
 * the profiler's memory grow without bound.
 * Symbolization happens here, never in the handler: for each address, the mapping that holds
 * it (from /proc/self/maps, read once per file written) and the function around its file
 * offset in that file's .symtab or .dynsym. Parsed files are cached by (path, inode).
 * Never called from a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "pprof.h"
#include "procmaps.h"
#include "threads.h"
#include "window.h"

#define MAX_ENTRIES (1u << 16)
#define MAX_SYMFILES 512

struct wentry {
	uint64_t key;
	uint32_t tid;
	uint32_t depth;
	uint64_t count;
	uint64_t *frames;
};

struct ldp_window {
	struct wentry *e;
	uint32_t cap, used;
	uint64_t samples, dropped;
	int64_t start_ns;
};

struct symfile {
	char *path;
	uint64_t inode;
	struct ldp_elfsym *syms; /* NULL: not parseable, don't try again */
};

static struct symfile symfiles[MAX_SYMFILES];
static unsigned nsymfiles;

struct ldp_window *ldp_window_new(int64_t start_ns)
{
	struct ldp_window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cap = 1024;
	w->e = calloc(w->cap, sizeof(*w->e));
	if (!w->e) {
		free(w);
		return NULL;
	}
	w->start_ns = start_ns;
	return w;
}

void ldp_window_reset(struct ldp_window *w, int64_t start_ns)
{
	for (uint32_t i = 0; i < w->cap; i++)
		free(w->e[i].frames);
	memset(w->e, 0, w->cap * sizeof(*w->e));
	w->used = 0;
	w->samples = 0;
	w->dropped = 0;
	w->start_ns = start_ns;
}

void ldp_window_free(struct ldp_window *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; w->e && i < w->cap; i++)
		free(w->e[i].frames);
	free(w->e);
	free(w);
}

uint64_t ldp_window_samples(const struct ldp_window *w) { return w->samples; }
uint64_t ldp_window_dropped(const struct ldp_window *w) { return w->dropped; }

static struct wentry *probe(struct wentry *tab, uint32_t cap, uint64_t key, uint32_t tid,
			    const uint64_t *f, uint32_t n)
{
	for (uint32_t i = (uint32_t)key & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct wentry *e = &tab[i];
		if (!e->key)
			return e;
		if (e->key == key && e->tid == tid && e->depth == n &&
		    !memcmp(e->frames, f, n * sizeof(*f)))
			return e;
	}
}

static int grow(struct ldp_window *w)
{
	uint32_t ncap = w->cap * 2;
	struct wentry *ne = calloc(ncap, sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->cap; i++)
		if (w->e[i].key)
			*probe(ne, ncap, w->e[i].key, w->e[i].tid, w->e[i].frames, w->e[i].depth) = w->e[i];
	free(w->e);
	w->e = ne;
	w->cap = ncap;
	return 0;
}

static void add(struct ldp_window *w, uint64_t key, uint32_t tid, const uint64_t *f, uint32_t n,
		uint64_t count)
{
	struct wentry *e = probe(w->e, w->cap, key, tid, f, n);

	if (!e->key) {
		/* Keep the load under a half while we may grow, under three quarters after. */
		if (w->used + 1 > w->cap / 2) {
			if (w->cap < MAX_ENTRIES && grow(w) == 0) {
				e = probe(w->e, w->cap, key, tid, f, n);
			} else if (w->used + 1 > w->cap / 4 * 3) {
				w->dropped += count;
				return;
			}
		}
		e->frames = malloc(n * sizeof(*f));
		if (!e->frames) {
			w->dropped += count;
			return;
		}
		memcpy(e->frames, f, n * sizeof(*f));
		e->key = key;
		e->tid = tid;
		e->depth = n;
		w->used++;
	}
	e->count += count;
	w->samples += count;
}

void ldp_window_merge(struct ldp_window *w, const struct ldp_stacktab *t)
{
	if (!t->added && !t->dropped)
		return; /* nothing to read: don't fault the empty table's pages in */
	for (uint32_t i = 0; i < t->cap; i++) {
		const struct ldp_stack_entry *se = &t->e[i];
		if (se->ready != 1 || !se->count)
			continue;
		add(w, se->key, se->tid, ldp_stacktab_frames(t, se), se->depth, se->count);
	}
	w->dropped += t->dropped;
}

static struct ldp_elfsym *symfile_get(const struct ldp_map *m)
{
	struct symfile *sf;
	unsigned i;

	if (m->path[0] != '/')
		return NULL;
	for (i = 0; i < nsymfiles; i++)
		if (symfiles[i].inode == m->inode && !strcmp(symfiles[i].path, m->path))
			return symfiles[i].syms;
	if (nsymfiles == MAX_SYMFILES)
		return NULL;
	sf = &symfiles[nsymfiles];
	sf->path = strdup(m->path);
	if (!sf->path)
		return NULL;
	sf->inode = m->inode;
	if (ldp_elfsym_open(m->path, &sf->syms) < 0)
		sf->syms = NULL;
	nsymfiles++;
	return sf->syms;
}

/* The kernel's comm: the label the profile is filed under (file names sanitize it). */
static void comm_of_self(char *buf, size_t len)
{
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		n = snprintf(buf, len, "unknown");
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* Mapping ids are added lazily, one per executable line of maps; the main executable's go
 * first (Parca and pprof take mapping 1 as the main binary). */
static int64_t mapping_id(struct ldp_pprof *p, const struct ldp_maps *maps, int64_t *ids, size_t i)
{
	const struct ldp_map *m = &maps->maps[i];
	struct ldp_elfsym *syms;

	if (ids[i])
		return ids[i];
	syms = symfile_get(m);
	ids[i] = ldp_pprof_add_mapping(p, m->start, m->end, m->offset, m->path,
				       syms ? ldp_elfsym_build_id(syms) : NULL);
	return ids[i];
}

/* Names of the threads in one file, looked up once each (tids repeat across stacks). */
struct name_cache {
	struct { uint32_t tid; char name[16]; } e[64];
	unsigned n;
};

static const char *thread_name(struct name_cache *c, uint32_t tid)
{
	unsigned i;

	for (i = 0; i < c->n; i++)
		if (c->e[i].tid == tid)
			return c->e[i].name;
	i = c->n < 64 ? c->n++ : tid % 64;
	c->e[i].tid = tid;
	ldp_threads_name((int32_t)tid, c->e[i].name, sizeof(c->e[i].name));
	return c->e[i].name;
}


int ldp_window_build(struct ldp_window *w, const struct ldp_window_out *out,
		     struct ldp_shipment *ret)
{
	struct ldp_shipment *sh = ret;
	struct ldp_maps maps = { 0 };
	struct ldp_pprof *p = NULL;
	int64_t *ids = NULL;
	struct name_cache *names = NULL;
	const char *build_id = NULL;
	char exe[4096], comm[32], pid[16];
	ssize_t n;
	int r;

	memset(sh, 0, sizeof(*sh));
	r = ldp_maps_read(0, &maps);
	if (r < 0)
		goto out;
	p = ldp_pprof_new(out->period_ns, w->start_ns, out->end_ns - w->start_ns);
	ids = calloc(maps.n + 1, sizeof(*ids));
	names = calloc(1, sizeof(*names));
	if (!p || !ids || !names) {
		r = -ENOMEM;
		goto out;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	for (size_t i = 0; i < maps.n; i++) {
		if (maps.maps[i].perms[2] == 'x' && !strcmp(maps.maps[i].path, exe)) {
			struct ldp_elfsym *syms = symfile_get(&maps.maps[i]);
			mapping_id(p, &maps, ids, i);
			if (syms && !build_id)
				build_id = ldp_elfsym_build_id(syms);
		}
	}

	for (uint32_t i = 0; i < w->cap; i++) {
		const struct wentry *e = &w->e[i];
		uint64_t locs[128];
		char tid[16];
		struct ldp_pprof_label labels[2] = { { "thread_id", tid }, { "thread_name", NULL } };
		uint32_t nl = 0;

		if (!e->key)
			continue;
		for (uint32_t k = 0; k < e->depth && nl < 128; k++) {
			uint64_t a = e->frames[k];
			const struct ldp_map *m = ldp_maps_find(&maps, a);
			const char *fn = NULL;
			int64_t mid = 0, loc;
			if (m) {
				struct ldp_elfsym *syms = symfile_get(m);
				mid = mapping_id(p, &maps, ids, (size_t)(m - maps.maps));
				if (syms)
					fn = ldp_elfsym_lookup(syms, a - m->start + m->offset);
				else if (m->path[0] == '[')
					fn = m->path;
			}
			loc = ldp_pprof_add_location(p, mid > 0 ? (uint64_t)mid : 0, a, fn);
			if (loc < 0) {
				r = (int)loc;
				goto out;
			}
			locs[nl++] = (uint64_t)loc;
		}
		snprintf(tid, sizeof(tid), "%u", e->tid);
		labels[1].str = thread_name(names, e->tid);
		r = ldp_pprof_add_sample(p, locs, nl, (int64_t)e->count, labels, 2);
		if (r < 0)
			goto out;
	}
	r = ldp_pprof_encode(p, &sh->pprof, &sh->len);
	if (r < 0)
		goto out;
	sh->from_ns = w->start_ns;
	sh->until_ns = out->end_ns;
	sh->hz = (int)(1000000000LL / out->period_ns);
	comm_of_self(comm, sizeof(comm));
	snprintf(pid, sizeof(pid), "%d", out->pid);
	ldp_shipment_add_label(sh, LDP_LABEL_COMM, comm);
	ldp_shipment_add_label(sh, LDP_LABEL_PID, pid);
	ldp_shipment_add_label(sh, LDP_LABEL_EXE, exe[0] ? exe : comm);
	if (build_id)
		ldp_shipment_add_label(sh, LDP_LABEL_BUILD_ID, build_id);
	r = 0;
out:
	if (r < 0)
		ldp_shipment_clear(sh);
	free(ids);
	free(names);
	ldp_pprof_free(p);
	ldp_maps_free(&maps);
	return r;
}
