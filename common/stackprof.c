/* SPDX-License-Identifier: MIT
 *
 * stackprof.c — the stack profile of one process over one window: aggregation,
 * symbolization, the pprof profile. Shared by the shim's flush window (shim/window.c) and the
 * agent's per-process profile (common/profile.c).
 *
 * Samples are counted by (thread, stack) in an open-addressing table that doubles while its
 * load would pass a half, up to the smallest size that holds max_stacks entries at three
 * quarters; past max_stacks (or past three quarters when a doubling fails) samples are dropped
 * and counted, so a process with unbounded stack variety cannot make the profiler's memory
 * grow without bound. A window's entries go at reset; the table keeps its size, since the next
 * window of the same process most likely needs it again. A forked child leaves its parent's
 * entries untouched (freeing them would copy every page they sit on) until it has samples of
 * its own, and starts from a new, small table.
 * Symbolization uses a snapshot of the process (maps, exe, comm) taken by refresh, and the
 * .symtab/.dynsym of each mapped file, parsed once per (path, inode) for the life of the
 * object: a library that stays mapped is never read twice.
 * Never called from a signal handler; one thread at a time; it never writes a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfsym.h"
#include "fileio.h"
#include "perfmap.h"
#include "procmaps.h"
#include "shimstate.h"
#include "stackprof.h"

#define MIN_SLOTS 1024u
#define MAX_SYMFILES 512
/* Executable mappings of another process kept in a snapshot: a large program has hundreds, a
 * user who makes more only loses names for frames past them. */
#define MAX_EXEC_MAPS 2048
#define NAME_LEN 16 /* the kernel's TASK_COMM_LEN: a thread name is at most 15 bytes */
#define MAX_NAMES 64

struct entry {
	uint64_t hash; /* 0: empty slot */
	uint64_t count;
	/* depth frames, then, when named, the thread's name (NUL-terminated): one allocation, and
	 * no name bytes at all in the shim's entries, whose names come at build time */
	uint64_t *frames;
	uint32_t tid;
	uint16_t depth;
	uint16_t named;
};

struct symfile {
	char *path;
	uint64_t inode;
	struct ldp_elfsym *syms; /* NULL when the file could not be parsed: not tried again */
	void *ref;               /* the source's, when there is one (then syms stays NULL) */
};

struct ldp_stackprof {
	pid_t pid;
	unsigned flags;
	uint32_t max_stacks, max_slots;
	struct entry *e;      /* NULL until the first sample after ldp_stackprof_reset_after_fork */
	uint32_t cap, used;
	uint64_t samples, dropped;
	/* The parent's entries, left behind in a forked child (ldp_stackprof_reset_after_fork) */
	struct entry *left;
	uint32_t left_cap;
	int64_t start_ns;
	/* the last good snapshot of the process */
	struct ldp_maps maps;
	/* the one before, while the last refresh's change may still be undone */
	struct ldp_maps prev;
	char prev_comm[32], prev_exe[PATH_MAX];
	int has_prev;
	char dir[64];         /* another process's /proc folder for its files (ldp_proc_dir) */
	/* another process's maps and comm, opened at its first refresh and kept: a collector
	 * refreshes every sampled process four times a second, and the opens were most of it
	 * (-1: not open, or not to be: then opened at each refresh) */
	int maps_fd, comm_fd;
	char comm[32];
	char exe[PATH_MAX];
	struct symfile sym[MAX_SYMFILES];
	unsigned nsym;
	struct ldp_stackprof_syms src; /* get == NULL: files are read here */
	/* another process's JIT names (/tmp/perf-PID.map), once it has code in no file */
	struct ldp_perfmap *pm;
};

int ldp_stackprof_new(pid_t pid, uint32_t max_stacks, unsigned flags, int64_t start_ns,
		      struct ldp_stackprof **ret)
{
	struct ldp_stackprof *sp = NULL;
	uint64_t slots = MIN_SLOTS;
	int r = -EINVAL;

	if (pid < 0 || max_stacks == 0 || max_stacks > (1u << 30) || !ret)
		goto out;
	while (slots / 4 * 3 < max_stacks)
		slots *= 2;
	r = -ENOMEM;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		goto out;
	sp->cap = MIN_SLOTS;
	sp->e = calloc(sp->cap, sizeof(*sp->e));
	if (!sp->e)
		goto out;
	sp->pid = pid;
	sp->maps_fd = sp->comm_fd = -1;
	sp->flags = flags;
	sp->max_stacks = max_stacks;
	sp->max_slots = (uint32_t)slots;
	sp->start_ns = start_ns;
	snprintf(sp->comm, sizeof(sp->comm), "unknown");
	*ret = sp;
	sp = NULL;
	r = 0;
out:
	ldp_stackprof_free(sp);
	return r;
}

static void free_frames(const struct entry *e, uint32_t cap)
{
	for (uint32_t i = 0; e && i < cap; i++)
		free(e[i].frames);
}

static void free_table(struct entry *e, uint32_t cap)
{
	free_frames(e, cap);
	free(e);
}

static void free_left(struct ldp_stackprof *sp)
{
	free_table(sp->left, sp->left_cap);
	sp->left = NULL;
	sp->left_cap = 0;
}

void ldp_stackprof_free(struct ldp_stackprof *sp)
{
	if (!sp)
		return;
	free_table(sp->e, sp->cap);
	free_left(sp);
	for (unsigned i = 0; i < sp->nsym; i++) {
		free(sp->sym[i].path);
		ldp_elfsym_free(sp->sym[i].syms);
		if (sp->sym[i].ref)
			sp->src.put(sp->src.ctx, sp->sym[i].ref);
	}
	ldp_maps_free(&sp->maps);
	ldp_maps_free(&sp->prev);
	ldp_perfmap_free(sp->pm);
	if (sp->maps_fd >= 0)
		close(sp->maps_fd);
	if (sp->comm_fd >= 0)
		close(sp->comm_fd);
	free(sp);
}

void ldp_stackprof_reset(struct ldp_stackprof *sp, int64_t start_ns)
{
	/* A child that has samples of its own is no passing one: time to tidy up after fork. */
	if (sp->left && sp->samples)
		free_left(sp);
	free_frames(sp->e, sp->cap);
	if (sp->e)
		memset(sp->e, 0, sp->cap * sizeof(*sp->e));
	sp->used = 0;
	sp->samples = 0;
	sp->dropped = 0;
	sp->start_ns = start_ns;
}

void ldp_stackprof_reset_after_fork(struct ldp_stackprof *sp, int64_t start_ns)
{
	/* Freeing the parent's entries would write to every page they sit on, and so copy each
	 * into the child; a table cleared anew would too. Both are left as they are, shared with
	 * the parent, and the child's table comes at its first sample. */
	if (!sp->left) {
		sp->left = sp->e;
		sp->left_cap = sp->cap;
	} else {
		free_table(sp->e, sp->cap); /* the child's own, if it forks before tidying up */
	}
	sp->e = NULL;
	sp->cap = 0;
	sp->used = 0;
	sp->samples = 0;
	sp->dropped = 0;
	sp->start_ns = start_ns;
}

uint64_t ldp_stackprof_samples(const struct ldp_stackprof *sp) { return sp->samples; }
uint64_t ldp_stackprof_dropped(const struct ldp_stackprof *sp) { return sp->dropped; }
void ldp_stackprof_drop(struct ldp_stackprof *sp, uint64_t count) { sp->dropped += count; }
const char *ldp_stackprof_comm(const struct ldp_stackprof *sp) { return sp->comm; }
const char *ldp_stackprof_exe(const struct ldp_stackprof *sp) { return sp->exe; }

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
		if (!e->hash || (e->hash == h && e->tid == tid && e->depth == n &&
				 !memcmp(e->frames, f, n * sizeof(*f))))
			return e;
	}
}

static int grow(struct ldp_stackprof *sp)
{
	uint32_t cap = sp->cap * 2;
	struct entry *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < sp->cap; i++) {
		const struct entry *e = &sp->e[i];
		if (e->hash)
			*slot(tab, cap, e->hash, e->tid, e->frames, e->depth) = *e;
	}
	free(sp->e);
	sp->e = tab;
	sp->cap = cap;
	return 0;
}

/* A new entry for a stack not in the table, or -E2BIG (full) or -ENOMEM. */
static int claim(struct ldp_stackprof *sp, uint64_t h, uint32_t tid, const char *name,
		 const uint64_t *frames, uint32_t nframes, struct entry **ret)
{
	size_t nlen = name ? strnlen(name, NAME_LEN - 1) : 0, bytes;
	struct entry *e;

	if (sp->used >= sp->max_stacks)
		return -E2BIG;
	/* Load under a half keeps probes short while the table may still grow; at its largest,
	 * or when doubling fails, up to three quarters (a probe still ends at an empty slot). */
	if ((uint64_t)(sp->used + 1) * 2 > sp->cap &&
	    !(sp->cap < sp->max_slots && grow(sp) == 0) &&
	    (uint64_t)(sp->used + 1) * 4 > (uint64_t)sp->cap * 3)
		return sp->cap < sp->max_slots ? -ENOMEM : -E2BIG;
	e = slot(sp->e, sp->cap, h, tid, frames, nframes);
	bytes = nframes * sizeof(*frames) + (name ? nlen + 1 : 0);
	e->frames = malloc(bytes ? bytes : 1);
	if (!e->frames)
		return -ENOMEM;
	memcpy(e->frames, frames, nframes * sizeof(*frames));
	if (name) {
		memcpy(e->frames + nframes, name, nlen);
		((char *)(e->frames + nframes))[nlen] = 0;
	}
	e->hash = h;
	e->tid = tid;
	e->depth = (uint16_t)nframes;
	e->named = name != NULL;
	sp->used++;
	*ret = e;
	return 0;
}

int ldp_stackprof_add(struct ldp_stackprof *sp, uint32_t tid, const char *name,
		      const uint64_t *frames, uint32_t nframes, uint64_t count)
{
	uint64_t adj[LDP_STACKPROF_MAX_DEPTH];
	struct entry *e;
	uint64_t h;
	int r;

	if (nframes > LDP_STACKPROF_MAX_DEPTH)
		nframes = LDP_STACKPROF_MAX_DEPTH;
	if (sp->flags & LDP_STACKPROF_RETURN_ADDRESSES) {
		/* Into the call instruction, as the shim's unwinder does: then a return address is
		 * never the same location as a leaf at that address with another name. */
		for (uint32_t k = 0; k < nframes; k++)
			adj[k] = k && frames[k] ? frames[k] - 1 : frames[k];
		frames = adj;
	}
	if (!sp->e) {
		sp->e = calloc(MIN_SLOTS, sizeof(*sp->e));
		if (!sp->e) {
			sp->dropped += count;
			return -ENOMEM;
		}
		sp->cap = MIN_SLOTS;
	}
	h = hash_stack(tid, frames, nframes);
	e = slot(sp->e, sp->cap, h, tid, frames, nframes);
	if (!e->hash) {
		r = claim(sp, h, tid, name, frames, nframes, &e);
		if (r < 0) {
			sp->dropped += count;
			return r;
		}
	}
	e->count += count;
	sp->samples += count;
	return 0;
}

static const struct ldp_elfsym *symfile_syms(const struct ldp_stackprof *sp,
					     const struct symfile *sf)
{
	return sf->ref ? sp->src.syms(sp->src.ctx, sf->ref) : sf->syms;
}

/* The symbol table of a mapped file, parsed (or asked of the source) once per (path, inode). */
static const struct ldp_elfsym *symfile_get(struct ldp_stackprof *sp, const struct ldp_map *m)
{
	char path[PATH_MAX + 64];
	struct symfile *sf;

	if (m->path[0] != '/')
		return NULL;
	for (unsigned i = 0; i < sp->nsym; i++)
		if (sp->sym[i].inode == m->inode && !strcmp(sp->sym[i].path, m->path))
			return symfile_syms(sp, &sp->sym[i]);
	if (sp->nsym == MAX_SYMFILES)
		return NULL;
	sf = &sp->sym[sp->nsym];
	sf->path = strdup(m->path);
	if (!sf->path)
		return NULL;
	sf->inode = m->inode;
	sf->syms = NULL;
	sf->ref = NULL;
	sp->nsym++;
	if (sp->src.get) {
		sf->ref = sp->src.get(sp->src.ctx, sp->dir, m);
		return symfile_syms(sp, sf);
	}
	/* another process's files as it sees them: its mount namespace may not be ours */
	if (sp->pid)
		snprintf(path, sizeof(path), "%s/root%s", sp->dir, m->path);
	else
		snprintf(path, sizeof(path), "%s", m->path);
	if (ldp_elfsym_open(path, &sf->syms) < 0)
		sf->syms = NULL;
	return sf->syms;
}

void ldp_stackprof_set_syms(struct ldp_stackprof *sp, const struct ldp_stackprof_syms *src)
{
	sp->src = *src;
}

unsigned ldp_stackprof_syms_pending(const struct ldp_stackprof *sp)
{
	unsigned k = 0;

	for (unsigned i = 0; sp->src.pending && i < sp->nsym; i++)
		k += sp->sym[i].ref && sp->src.pending(sp->src.ctx, sp->sym[i].ref);
	return k;
}

/* Executable code in no file: what a JIT compiler made (anonymous, or a memfd). */
static int jit_map(const struct ldp_map *m)
{
	return !m->path[0] || !strncmp(m->path, "[anon", 5) || !strncmp(m->path, "/memfd:", 7);
}

/* Another process with code in no file may name it in its perf map: read what it appended.
 * Errors leave what was read (a process gone, a map refused: its frames stay unnamed). */
static void perfmap_update(struct ldp_stackprof *sp)
{
	size_t i;

	if (!sp->pid)
		return;
	for (i = 0; !sp->pm && i < sp->maps.n; i++)
		if (sp->maps.maps[i].perms[2] == 'x' && jit_map(&sp->maps.maps[i]) &&
		    ldp_perfmap_new(sp->pid, &sp->pm) < 0)
			return;
	if (sp->pm)
		(void)ldp_perfmap_update(sp->pm);
}

static int same_maps(const struct ldp_maps *a, const struct ldp_maps *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct ldp_map *x = &a->maps[i], *y = &b->maps[i];
		if (x->start != y->start || x->end != y->end || x->offset != y->offset ||
		    x->inode != y->inode || x->dev_major != y->dev_major ||
		    x->dev_minor != y->dev_minor || strcmp(x->perms, y->perms) ||
		    strcmp(x->path, y->path))
			return 0;
	}
	return 1;
}

/* thread: what /proc gives only through a live thread (exe: a main thread that called
 * pthread_exit() takes it away from /proc/PID); else the process's own (comm: its name). */
static void proc_path(const struct ldp_stackprof *sp, const char *what, int thread, char *buf, size_t len)
{
	if (thread)
		snprintf(buf, len, "%s/%s", sp->dir, what);
	else if (sp->pid)
		snprintf(buf, len, "/proc/%d/%s", (int)sp->pid, what);
	else
		snprintf(buf, len, "/proc/self/%s", what);
}

/* The executable mappings through the kept descriptor, opened again once when it says the
 * mm it was opened on is gone (an exec: a process sampled from the kernel goes on across it). */
static int refresh_fd(struct ldp_stackprof *sp, struct ldp_maps *maps)
{
	char path[96];
	int r = -ESRCH;

	for (int tries = 0; tries < 2 && r == -ESRCH; tries++) {
		if (sp->maps_fd >= 0 && tries) {
			close(sp->maps_fd);
			sp->maps_fd = -1;
		}
		if (sp->maps_fd < 0) {
			ldp_proc_dir(sp->pid, sp->dir, sizeof(sp->dir));
			snprintf(path, sizeof(path), "%s/maps", sp->dir);
			sp->maps_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		}
		if (sp->maps_fd < 0) /* out of descriptors, say: open it each time */
			return ldp_maps_read_exec(sp->dir, MAX_EXEC_MAPS, maps);
		r = ldp_maps_read_exec_fd(sp->maps_fd, MAX_EXEC_MAPS, maps);
		if (r == 0 && !maps->n) {
			ldp_maps_free(maps);
			r = -ESRCH;
		}
	}
	return r;
}

int ldp_stackprof_refresh(struct ldp_stackprof *sp)
{
	struct ldp_maps maps = { 0 };
	char path[96], exe[PATH_MAX], *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int changed, r;

	/* Another process: only its executable mappings matter (frames are code), and reading
	 * only those costs the kernel what they are, not what the process has mapped besides.
	 * Through a descriptor kept from the first refresh (refresh_fd), which reads through
	 * any thread of the process. */
	r = sp->pid ? refresh_fd(sp, &maps) : -ENOTTY;
	if (r == -ENOTTY)
		r = ldp_maps_read(sp->pid, &maps);
	if (r < 0)
		goto out;
	/* A process that has exited but is not yet reaped has an empty maps file: that is no
	 * snapshot to replace a good one with. */
	r = -ESRCH;
	if (!maps.n)
		goto out;
	changed = !same_maps(&maps, &sp->maps);
	/* a live thread's folder (the main one may have left): read for what follows only
	 * when something changed (it costs a read of /proc/PID/stat) */
	if (changed || !sp->dir[0])
		ldp_proc_dir(sp->pid, sp->dir, sizeof(sp->dir));
	ldp_maps_free(&sp->prev);
	sp->has_prev = 0;
	if (changed) {
		/* kept until the next refresh: ldp_stackprof_refresh_undo() */
		sp->prev = sp->maps;
		memcpy(sp->prev_comm, sp->comm, sizeof(sp->comm));
		memcpy(sp->prev_exe, sp->exe, sizeof(sp->exe));
		sp->has_prev = 1;
		sp->maps = maps;
		maps = (struct ldp_maps){ 0 };
		/* Another process may be gone by the time its profile is built, and its files
		 * with it: read what its new mappings need now. Our own files stay reachable, so
		 * the shim reads only the ones its samples hit, at build. */
		for (size_t i = 0; sp->pid && i < sp->maps.n; i++)
			if (sp->maps.maps[i].perms[2] == 'x' && !ldp_shimstate_is_shim_path(sp->maps.maps[i].path))
				symfile_get(sp, &sp->maps.maps[i]); /* our frames are left out (build) */
	}
	/* the executable changes only with an exec, which changes every mapping; comm changes
	 * whenever the process renames itself */
	proc_path(sp, "exe", 1, path, sizeof(path));
	n = changed || !sp->exe[0] ? readlink(path, exe, sizeof(exe) - 1) : 0;
	if (n > 0) {
		exe[n] = 0;
		memcpy(sp->exe, exe, (size_t)n + 1);
	}
	proc_path(sp, "comm", 0, path, sizeof(path)); /* the process's name: its main thread's */
	if (sp->pid && sp->comm_fd < 0)
		sp->comm_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (sp->comm_fd >= 0) {
		char name[sizeof(sp->comm)]; /* TASK_COMM_LEN is 16 */
		n = pread(sp->comm_fd, name, sizeof(name) - 1, 0);
		if (n > 0) {
			name[n] = 0;
			name[strcspn(name, "\n")] = 0;
			memcpy(sp->comm, name, (size_t)n + 1);
		}
	} else if (ldp_read_file(path, 0, 64, &buf, &len) == 0 && len > 0) {
		buf[strcspn(buf, "\n")] = 0;
		snprintf(sp->comm, sizeof(sp->comm), "%s", buf);
	}
	perfmap_update(sp);
	r = 0;
out:
	free(buf);
	ldp_maps_free(&maps);
	return r;
}

int ldp_stackprof_refresh_undo(struct ldp_stackprof *sp)
{
	if (!sp->has_prev)
		return 0;
	ldp_maps_free(&sp->maps);
	sp->maps = sp->prev;
	sp->prev = (struct ldp_maps){ 0 };
	memcpy(sp->comm, sp->prev_comm, sizeof(sp->comm));
	memcpy(sp->exe, sp->prev_exe, sizeof(sp->exe));
	sp->has_prev = 0;
	return 1;
}

bool ldp_stackprof_unmapped(const struct ldp_stackprof *sp, const uint64_t *frames, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		const struct ldp_map *m;

		if (!frames[k])
			continue;
		m = ldp_maps_find(&sp->maps, frames[k]);
		if (!m || (jit_map(m) && (!sp->pm || !ldp_perfmap_lookup(sp->pm, frames[k]))))
			return true;
	}
	return false;
}

/* Mapping ids are added lazily, one per executable line of maps used. */
static int64_t mapping_id(struct ldp_stackprof *sp, struct ldp_pprof *pp, int64_t *ids, size_t i)
{
	const struct ldp_map *m = &sp->maps.maps[i];
	const struct ldp_elfsym *syms;

	if (ids[i])
		return ids[i];
	syms = symfile_get(sp, m);
	ids[i] = ldp_pprof_add_mapping(pp, m->start, m->end, m->offset, m->path,
				       syms ? ldp_elfsym_build_id(syms) : NULL);
	return ids[i];
}

/* Names of the threads in one profile, asked once each (tids repeat across stacks). */
struct name_cache {
	struct { uint32_t tid; char name[NAME_LEN]; } e[MAX_NAMES];
	unsigned n;
};

static const char *thread_name(const struct ldp_stackprof_out *out, struct name_cache *c,
			       const struct entry *e)
{
	unsigned i;

	if (e->named)
		return (const char *)(e->frames + e->depth);
	if (!out->thread_name)
		return NULL;
	for (i = 0; i < c->n; i++)
		if (c->e[i].tid == e->tid)
			return c->e[i].name;
	i = c->n < MAX_NAMES ? c->n++ : e->tid % MAX_NAMES;
	c->e[i].tid = e->tid;
	c->e[i].name[0] = 0;
	out->thread_name(out->ctx, e->tid, c->e[i].name, sizeof(c->e[i].name));
	return c->e[i].name;
}

/* ids[i] of a mapping of libldprof.so: its frames are left out of every stack. The shim's
 * code a program passes through (the thread start's trampoline, the wrappers of
 * pthread_create, dlopen, exec...) is not the program's: without it a stack reads as it would
 * without ldprof (start_thread, then the thread's function), the wrapper's own time going to
 * its caller. */
#define OURS INT64_MIN

/* One sample: its frames as locations, its labels. */
static int add_sample(struct ldp_stackprof *sp, struct ldp_pprof *pp, int64_t *ids,
		      const struct entry *e, struct ldp_pprof_label *labels, size_t nlabels)
{
	uint64_t locs[LDP_STACKPROF_MAX_DEPTH];
	uint32_t nl = 0;

	for (uint32_t k = 0; k < e->depth && nl < LDP_STACKPROF_MAX_DEPTH; k++) {
		uint64_t a = e->frames[k];
		const struct ldp_map *m = ldp_maps_find(&sp->maps, a);
		const char *fn = NULL;
		int64_t mid = 0, loc;

		if (!a || (m && ids[m - sp->maps.maps] == OURS))
			continue;
		if (m) {
			const struct ldp_elfsym *syms = symfile_get(sp, m);

			mid = mapping_id(sp, pp, ids, (size_t)(m - sp->maps.maps));
			if (syms)
				fn = ldp_elfsym_lookup(syms, a - m->start + m->offset);
			else if (sp->pm && jit_map(m))
				fn = ldp_perfmap_lookup(sp->pm, a);
			if (!fn && !syms && m->path[0] == '[')
				fn = m->path;
		} else if (sp->pm) {
			fn = ldp_perfmap_lookup(sp->pm, a); /* code unmapped since */
		}
		loc = ldp_pprof_add_location(pp, mid > 0 ? (uint64_t)mid : 0, a, fn);
		if (loc < 0)
			return (int)loc;
		locs[nl++] = (uint64_t)loc;
	}
	return ldp_pprof_add_sample(pp, locs, nl, (int64_t)e->count, labels, nlabels);
}

int ldp_stackprof_build(struct ldp_stackprof *sp, const struct ldp_stackprof_out *out,
			struct ldp_shipment *ret)
{
	struct ldp_pprof_label labels[LDP_STACKPROF_MAX_LABELS + 2];
	struct name_cache *names = NULL;
	struct ldp_pprof *pp = NULL;
	const char *build_id = NULL;
	int64_t *ids = NULL;
	char tid[16], pid[16];
	int r = -EINVAL;

	memset(ret, 0, sizeof(*ret));
	if (out->nlabels > LDP_STACKPROF_MAX_LABELS || out->period_ns <= 0)
		goto out;
	pp = ldp_pprof_new(out->period_ns, sp->start_ns, out->end_ns - sp->start_ns);
	ids = calloc(sp->maps.n + 1, sizeof(*ids));
	names = calloc(1, sizeof(*names));
	r = -ENOMEM;
	if (!pp || !ids || !names)
		goto out;
	/* what a JIT compiler named since the last refresh (it may be gone: then what was read) */
	perfmap_update(sp);
	/* the main executable's mappings first: pprof and Parca take mapping 1 as the binary */
	for (size_t i = 0; i < sp->maps.n; i++) {
		const struct ldp_map *m = &sp->maps.maps[i];
		const struct ldp_elfsym *syms;

		if (ldp_shimstate_is_shim_path(m->path)) {
			ids[i] = OURS;
			continue;
		}
		if (m->perms[2] != 'x' || !sp->exe[0] || strcmp(m->path, sp->exe))
			continue;
		syms = symfile_get(sp, m);
		mapping_id(sp, pp, ids, i);
		if (syms && !build_id)
			build_id = ldp_elfsym_build_id(syms);
	}

	for (size_t i = 0; i < out->nlabels; i++)
		labels[i] = out->labels[i];
	for (uint32_t i = 0; i < sp->cap; i++) {
		const struct entry *e = &sp->e[i];
		size_t nl = out->nlabels;
		const char *name;

		if (!e->hash)
			continue;
		snprintf(tid, sizeof(tid), "%u", e->tid);
		labels[nl++] = (struct ldp_pprof_label){ "thread_id", tid };
		name = thread_name(out, names, e);
		if (name)
			labels[nl++] = (struct ldp_pprof_label){ "thread_name", name };
		r = add_sample(sp, pp, ids, e, labels, nl);
		if (r < 0)
			goto out;
	}
	r = ldp_pprof_encode(pp, &ret->pprof, &ret->len);
	if (r < 0)
		goto out;
	ret->from_ns = sp->start_ns;
	ret->until_ns = out->end_ns;
	ret->hz = (int)(1000000000LL / out->period_ns);
	snprintf(pid, sizeof(pid), "%d", sp->pid ? (int)sp->pid : (int)getpid());
	ldp_shipment_add_label(ret, LDP_LABEL_COMM, sp->comm);
	ldp_shipment_add_label(ret, LDP_LABEL_PID, pid);
	if (sp->exe[0])
		ldp_shipment_add_label(ret, LDP_LABEL_EXE, sp->exe);
	if (build_id)
		ldp_shipment_add_label(ret, LDP_LABEL_BUILD_ID, build_id);
	r = 0;
out:
	if (r < 0)
		ldp_shipment_clear(ret);
	free(names);
	free(ids);
	ldp_pprof_free(pp);
	return r;
}
