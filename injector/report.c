/* SPDX-License-Identifier: MIT
 *
 * report.c — `ldprof report` and `ldprof diff` (see report.h).
 *
 * Overall design. Each profile is parsed (pprof_read.c validates every reference, so frames
 * can be resolved here without checks) and folded into two hash maps keyed by name: frames
 * (flat and cum counts) and, with --folded, whole stacks (root-to-leaf names joined by ';').
 * Profiles are merged by frame *name*, so the same function in two profiles with different ids
 * is one row. The count of a sample is its value under the first sample type named "samples"
 * (value 0 when there is none). cum counts a sample once per function even when recursion puts
 * the function on the stack several times: each frame remembers the last sample it was counted
 * for. For --svg and --html the stacks also go into flame.c's tree; for --html each sample
 * adds its count to a group (its stack's node, its side, process, thread and service), which
 * is what the page filters on (htmlview.h).
 *
 * Names come from untrusted files and go to a terminal: control characters are replaced by
 * '?', which also keeps the folded format one line per stack.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "debuginfo.h"
#include "fileio.h"
#include "flame.h"
#include "htmlview.h"
#include "pprof.h"
#include "report.h"

#define DEFAULT_DIR "ldprof-profiles"
#define DEFAULT_TOP 20

static const char usage[] =
	"usage: ldprof report [--top N] [--folded | --svg FILE | --html FILE] [PROFILE_OR_DIR...]\n"
	"  Summarize pprof CPU profiles (default: ./" DEFAULT_DIR "; a folder means its\n"
	"  *.pb.gz and *.pb files). All profiles are merged.\n"
	"  --top N     show the N functions with the most flat samples (default 20, 0 = all)\n"
	"  --folded    print folded stacks (\"root;...;leaf count\") for flame graphs\n"
	"  --svg FILE  write a flame graph (SVG, a tooltip per frame; - for stdout) instead\n"
	"  --html FILE write an interactive page instead: flame graph and icicle with zoom,\n"
	"              search, a sortable table, filters by process, thread and service\n"
	"  --debug-dir DIR  where separate debug files name what the profile left unnamed\n"
	"              (default " LDP_DEBUG_ROOT ", as Debian's -dbg/-dbgsym packages install them;\n"
	"              \"\" for none)\n"
	"  example: ldprof report --html profile.html ldprof-profiles/\n";

/* ---- growable byte string ---- */

struct str {
	char *p;
	size_t len, cap;
};

static int str_add(struct str *s, const char *data, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		char *np;

		while (cap < s->len + n + 1)
			cap *= 2;
		np = realloc(s->p, cap);
		if (!np)
			return -ENOMEM;
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, data, n);
	s->len += n;
	s->p[s->len] = '\0';
	return 0;
}

/* ---- name -> counters hash map (frames, and stacks for --folded) ---- */

struct ent {
	char *key;
	uint64_t hash;
	int64_t flat[2], cum[2]; /* side 0: the profiles (a diff's base); side 1: a diff's new */
	size_t stamp;            /* 1 + index of the last sample counted in cum */
	unsigned char kind;      /* 1 + enum ldp_flame_kind of where it was first seen; 0 unset */
};

/* An object frames are in, and the symbols of its separate debug file (debuginfo.h), looked
 * for once per object and build. */
struct dbg {
	char *file, *build_id;
	struct ldp_elfsym *syms;  /* NULL: none found */
	size_t unnamed;           /* distinct frames in it that stayed unnamed */
};

struct map {
	struct ent *e;
	uint32_t *slots; /* index + 1 into e; 0 = empty */
	size_t n, cap, mask;
};

static uint64_t hash_bytes(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static int map_rehash(struct map *m)
{
	size_t ncap = m->mask ? (m->mask + 1) * 2 : 1024;
	uint32_t *ns;

	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = m->e[i].hash & (ncap - 1);

		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = (uint32_t)(i + 1);
	}
	free(m->slots);
	m->slots = ns;
	m->mask = ncap - 1;
	return 0;
}

/* Returns the index of key's entry, adding it (counters zero) when new; -errno on failure. */
static int64_t map_get(struct map *m, const char *key)
{
	uint64_t h = hash_bytes(key);
	size_t i;
	int r;

	if ((m->n + 1) * 2 > m->mask + 1) {
		if (m->n >= UINT32_MAX / 2)
			return -E2BIG;
		r = map_rehash(m);
		if (r < 0)
			return r;
	}
	for (i = h & m->mask; m->slots[i]; i = (i + 1) & m->mask) {
		struct ent *e = &m->e[m->slots[i] - 1];

		if (e->hash == h && strcmp(e->key, key) == 0)
			return m->slots[i] - 1;
	}
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 1024;
		struct ent *ne = reallocarray(m->e, ncap, sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		m->e = ne;
		m->cap = ncap;
	}
	m->e[m->n] = (struct ent){ .key = strdup(key), .hash = h };
	if (!m->e[m->n].key)
		return -ENOMEM;
	m->slots[i] = (uint32_t)(m->n + 1);
	return (int64_t)m->n++;
}

static void map_free(struct map *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].key);
	free(m->e);
	free(m->slots);
}

/* ---- the report being built ---- */

struct report {
	struct map frames, stacks;
	bool folded;
	int side;                /* what add_profile() adds to */
	int64_t total[2];
	size_t nprofiles[2], serial;
	int64_t *stk; /* frame indices of the current sample, leaf first */
	size_t nstk, capstk;
	struct str name, key;
	struct ldp_flame *flame; /* --svg, --html */
	bool html;
	/* --html: the filters' values (process, thread, service) and the sample groups, keyed
	 * "node side process thread service" (flat[0] holds the count) */
	struct map filter[LDP_HTML_NFILTERS], groups;
	char file_process[288], file_service[256]; /* the current file's, for samples without */
	const char *debug_dir;   /* --debug-dir; "" for none */
	struct dbg *dbg;
	size_t ndbg;
	size_t named_by_debug;   /* distinct frames a debug file named */
};

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Appends s with control characters replaced by '?'. */
static int add_clean(struct str *out, const char *s)
{
	for (; *s; s++) {
		char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
		int r = str_add(out, &c, 1);

		if (r < 0)
			return r;
	}
	return 0;
}

/* "libfoo.so+0x1234" (file offset) or "0x..." when the location has no named mapping. */
static int unsymbolized(const struct ldp_profile *p, const struct ldp_prof_location *l,
			struct str *out)
{
	const struct ldp_prof_mapping *m = ldp_profile_mapping(p, l->mapping_id);
	const char *file = m ? p->strings[m->filename] : "";
	const char *base = strrchr(file, '/');
	char hex[32];
	int r;

	base = base ? base + 1 : file;
	if (*base) {
		r = add_clean(out, base);
		if (r < 0)
			return r;
		snprintf(hex, sizeof(hex), "+0x%llx",
			 (unsigned long long)(l->address - m->start + m->offset));
	} else {
		snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)l->address);
	}
	return str_add(out, hex, strlen(hex));
}

/* Which object a location is in, for the flame graph's colours: the program (pprof's first
 * mapping), libc and its loader, another library, the kernel (and vdso), or code in no file
 * (JIT compilers, perf maps). */
static enum ldp_flame_kind kind_of(const struct ldp_profile *p, const struct ldp_prof_location *l)
{
	static const char *const libc[] = { "libc.so", "libc-", "ld-linux", "ld-musl", "libm.so",
					    "libpthread", "libdl.so", "librt.so", "libresolv" };
	const struct ldp_prof_mapping *m = ldp_profile_mapping(p, l->mapping_id);
	const char *file = m ? p->strings[m->filename] : "", *base = strrchr(file, '/');

	if (!*file || !strncmp(file, "[anon", 5) || !strncmp(file, "//anon", 6) ||
	    !strncmp(file, "/memfd:", 7) || !strncmp(file, "/tmp/perf-", 10))
		return LDP_FLAME_JIT;
	if (file[0] == '[')
		return LDP_FLAME_KERNEL;
	if (p->nmappings && !strcmp(file, p->strings[p->mappings[0].filename]))
		return LDP_FLAME_PROGRAM;
	base = base ? base + 1 : file;
	for (size_t i = 0; i < sizeof(libc) / sizeof(libc[0]); i++)
		if (!strncmp(base, libc[i], strlen(libc[i])))
			return LDP_FLAME_LIBC;
	return LDP_FLAME_LIB;
}

/* *isnew: set when the frame was not there yet (may be NULL). */
static int push_frame(struct report *rep, const char *name, enum ldp_flame_kind kind, bool *isnew)
{
	int64_t idx = map_get(&rep->frames, name);

	if (idx < 0)
		return (int)idx;
	if (isnew)
		*isnew = !rep->frames.e[idx].kind;
	if (!rep->frames.e[idx].kind)
		rep->frames.e[idx].kind = (unsigned char)(kind + 1);
	if (rep->nstk == rep->capstk) {
		size_t ncap = rep->capstk ? rep->capstk * 2 : 64;
		int64_t *ns = reallocarray(rep->stk, ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		rep->stk = ns;
		rep->capstk = ncap;
	}
	rep->stk[rep->nstk++] = idx;
	return 0;
}

/* The debug symbols of the object of mapping m, looked for on first use; NULL on ENOMEM. */
static struct dbg *dbg_of(struct report *rep, const struct ldp_profile *p, const struct ldp_prof_mapping *m)
{
	const char *file = p->strings[m->filename], *id = p->strings[m->build_id];
	struct dbg *d;

	for (size_t i = 0; i < rep->ndbg; i++)
		if (!strcmp(rep->dbg[i].file, file) && !strcmp(rep->dbg[i].build_id, id))
			return &rep->dbg[i];
	d = reallocarray(rep->dbg, rep->ndbg + 1, sizeof(*d));
	if (!d)
		return NULL;
	rep->dbg = d;
	d = &rep->dbg[rep->ndbg];
	*d = (struct dbg){ .file = strdup(file), .build_id = strdup(id) };
	if (!d->file || !d->build_id) {
		free(d->file);
		free(d->build_id);
		return NULL;
	}
	rep->ndbg++;
	if (*rep->debug_dir && (*id || *file == '/'))
		ldp_debuginfo_open(file, id, rep->debug_dir, &d->syms, NULL, 0);
	return d;
}

/* A location no function of the profile names: its debug file's name for it, else
 * "libfoo.so+0x1234". */
static int unnamed_frame(struct report *rep, const struct ldp_profile *p,
			 const struct ldp_prof_location *l, enum ldp_flame_kind kind)
{
	const struct ldp_prof_mapping *m = ldp_profile_mapping(p, l->mapping_id);
	struct dbg *d = NULL;
	const char *fn = NULL;
	bool isnew;
	int r;

	if (m && *p->strings[m->filename] != '[') {
		d = dbg_of(rep, p, m);
		if (!d)
			return -ENOMEM;
		if (d->syms)
			fn = ldp_elfsym_lookup(d->syms, l->address - m->start + m->offset);
	}
	rep->name.len = 0;
	if ((r = str_add(&rep->name, "", 0)) < 0 ||
	    (r = fn ? add_clean(&rep->name, fn) : unsymbolized(p, l, &rep->name)) < 0 ||
	    (r = push_frame(rep, rep->name.p, kind, &isnew)) < 0)
		return r;
	if (isnew && fn)
		rep->named_by_debug++;
	if (isnew && !fn && d)
		d->unnamed++;
	return 0;
}

/* Resolves a sample's frames (inlined functions expand to several, innermost first). */
static int collect_frames(struct report *rep, const struct ldp_profile *p,
			  const struct ldp_prof_sample *s)
{
	int r;

	rep->nstk = 0;
	for (size_t i = 0; i < s->nlocs; i++) {
		const struct ldp_prof_location *l = ldp_profile_location(p, s->locs[i]);
		enum ldp_flame_kind kind = kind_of(p, l);
		size_t named = 0;

		for (size_t j = 0; j < l->nfuncs; j++) {
			const struct ldp_prof_function *f = ldp_profile_function(p, l->func_ids[j]);
			const char *fn = p->strings[f->name];

			if (!*fn)
				fn = p->strings[f->system_name];
			if (!*fn)
				continue;
			rep->name.len = 0;
			if ((r = str_add(&rep->name, "", 0)) < 0 ||
			    (r = add_clean(&rep->name, fn)) < 0 ||
			    (r = push_frame(rep, rep->name.p, kind, NULL)) < 0)
				return r;
			named++;
		}
		if (!named && (r = unnamed_frame(rep, p, l, kind)) < 0)
			return r;
	}
	return 0;
}

/* The value of a sample's label key ("" when it has none): its string, or its number. */
static const char *label_of(const struct ldp_profile *p, const struct ldp_prof_sample *s,
			    const char *key, char *num, size_t len)
{
	for (size_t i = 0; i < s->nlabels; i++) {
		const struct ldp_prof_label *l = &s->labels[i];

		if (strcmp(p->strings[l->key], key))
			continue;
		if (l->str)
			return p->strings[l->str];
		snprintf(num, len, "%lld", (long long)l->num);
		return num;
	}
	return "";
}

/* The index of a filter's value, made when new. */
static int64_t filter_value(struct report *rep, int k, const char *a, const char *b)
{
	int r;

	rep->name.len = 0;
	if ((r = str_add(&rep->name, "", 0)) < 0 || (r = add_clean(&rep->name, a)) < 0)
		return r;
	if (*b && ((r = str_add(&rep->name, " (", 2)) < 0 || (r = add_clean(&rep->name, b)) < 0 ||
		   (r = str_add(&rep->name, ")", 1)) < 0))
		return r;
	return map_get(&rep->filter[k], rep->name.p);
}

/* The sample's group for --html: which process, thread and service it is of. A process is
 * named by the sample's comm and pid labels or else by its file (ldprof's files are named
 * comm.pid.seq.pb.gz); a service by the label service_name (or service) or else, as ldprof
 * names services by default, by the program's name. */
static int add_group(struct report *rep, const struct ldp_profile *p, const struct ldp_prof_sample *s,
		     int64_t node, int64_t count)
{
	char b1[32], b2[32], key[128];
	const char *pid = label_of(p, s, "pid", b1, sizeof(b1)), *comm, *svc, *tname, *tid;
	int64_t v[LDP_HTML_NFILTERS], g;

	comm = label_of(p, s, "comm", b2, sizeof(b2));
	v[LDP_HTML_PROCESS] = *pid || *comm ? filter_value(rep, LDP_HTML_PROCESS, *comm ? comm : "?", pid)
					    : filter_value(rep, LDP_HTML_PROCESS, rep->file_process, "");
	tname = label_of(p, s, "thread_name", b2, sizeof(b2));
	tid = label_of(p, s, "thread_id", b1, sizeof(b1));
	v[LDP_HTML_THREAD] = filter_value(rep, LDP_HTML_THREAD, *tname ? tname : *tid ? tid : "(none)",
					  *tname ? tid : "");
	svc = label_of(p, s, "service_name", b1, sizeof(b1));
	if (!*svc)
		svc = label_of(p, s, "service", b1, sizeof(b1));
	v[LDP_HTML_SERVICE] = filter_value(rep, LDP_HTML_SERVICE, *svc ? svc : rep->file_service, "");
	for (int k = 0; k < LDP_HTML_NFILTERS; k++)
		if (v[k] < 0)
			return (int)v[k];
	snprintf(key, sizeof(key), "%lld %d %lld %lld %lld", (long long)node, rep->side,
		 (long long)v[0], (long long)v[1], (long long)v[2]);
	g = map_get(&rep->groups, key);
	if (g < 0)
		return (int)g;
	rep->groups.e[g].flat[0] = sat_add(rep->groups.e[g].flat[0], count);
	return 0;
}

static int add_profile(struct report *rep, const struct ldp_profile *p)
{
	int side = rep->side;
	size_t vi = 0;
	int r;

	for (size_t i = 0; i < p->nsample_types; i++) {
		if (strcmp(p->strings[p->sample_types[i].type], "samples") == 0) {
			vi = i;
			break;
		}
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct ldp_prof_sample *s = &p->samples[i];
		int64_t count = vi < s->nvalues ? s->values[vi] : 0;

		if (count <= 0)
			continue;
		rep->total[side] = sat_add(rep->total[side], count);
		r = collect_frames(rep, p, s);
		if (r < 0)
			return r;
		if (!rep->nstk)
			continue;
		rep->serial++;
		rep->frames.e[rep->stk[0]].flat[side] = sat_add(rep->frames.e[rep->stk[0]].flat[side], count);
		for (size_t j = 0; j < rep->nstk; j++) {
			struct ent *e = &rep->frames.e[rep->stk[j]];

			if (e->stamp == rep->serial)
				continue; /* recursion: once per sample */
			e->stamp = rep->serial;
			e->cum[side] = sat_add(e->cum[side], count);
		}
		if (rep->flame) {
			int64_t node = ldp_flame_add(rep->flame, rep->stk, rep->nstk, count, side);

			if (node < 0)
				return (int)node;
			if (rep->html && (r = add_group(rep, p, s, node, count)) < 0)
				return r;
		}
		if (rep->folded) {
			int64_t idx;

			rep->key.len = 0;
			for (size_t j = rep->nstk; j-- > 0;) {
				const char *fn = rep->frames.e[rep->stk[j]].key;

				if ((r = str_add(&rep->key, fn, strlen(fn))) < 0 ||
				    (j && (r = str_add(&rep->key, ";", 1)) < 0))
					return r;
			}
			idx = map_get(&rep->stacks, rep->key.p);
			if (idx < 0)
				return (int)idx;
			rep->stacks.e[idx].flat[0] = sat_add(rep->stacks.e[idx].flat[0], count);
		}
	}
	rep->nprofiles[side]++;
	return 0;
}

/* ---- input files ---- */

struct paths {
	char **v;
	size_t n, cap;
};

static int paths_add(struct paths *ps, const char *dir, const char *name)
{
	char *s;

	if (ps->n == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 16;
		char **nv = reallocarray(ps->v, ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		ps->v = nv;
		ps->cap = ncap;
	}
	if (dir) {
		if (asprintf(&s, "%s/%s", dir, name) < 0)
			return -ENOMEM;
	} else {
		s = strdup(name);
		if (!s)
			return -ENOMEM;
	}
	ps->v[ps->n++] = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_profile_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 6 && strcmp(name + n - 6, ".pb.gz") == 0) ||
	       (n > 3 && strcmp(name + n - 3, ".pb") == 0);
}

/* Adds the profiles in dir, sorted by name. */
static int add_dir(struct paths *ps, const char *dir)
{
	size_t first = ps->n;
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || !is_profile_name(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue; /* vanished, or not a file: ignoring */
		r = paths_add(ps, dir, de->d_name);
		if (r < 0)
			goto out;
	}
	if (errno) {
		r = -errno;
		goto out;
	}
	if (ps->n - first > 1)
		qsort(ps->v + first, ps->n - first, sizeof(*ps->v), cmp_str);
out:
	closedir(d);
	return r;
}


/* ---- output ---- */

static double pct(int64_t v, int64_t total)
{
	return total > 0 ? 100.0 * (double)v / (double)total : 0.0;
}

static int cmp_flat(const void *a, const void *b, void *arg)
{
	const struct map *m = arg;
	const struct ent *x = &m->e[*(const size_t *)a];
	const struct ent *y = &m->e[*(const size_t *)b];

	if (x->flat[0] != y->flat[0])
		return x->flat[0] > y->flat[0] ? -1 : 1;
	if (x->cum[0] != y->cum[0])
		return x->cum[0] > y->cum[0] ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int cmp_key(const void *a, const void *b, void *arg)
{
	const struct map *m = arg;

	return strcmp(m->e[*(const size_t *)a].key, m->e[*(const size_t *)b].key);
}

static int print_report(const struct report *rep, long top)
{
	const struct map *m = rep->folded ? &rep->stacks : &rep->frames;
	size_t *order, n = m->n;

	order = calloc(n ? n : 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), rep->folded ? cmp_key : cmp_flat, (void *)m);

	if (rep->folded) {
		for (size_t i = 0; i < n; i++)
			printf("%s %lld\n", m->e[order[i]].key, (long long)m->e[order[i]].flat[0]);
	} else {
		printf("Total: %lld samples in %zu profile%s\n", (long long)rep->total[0],
		       rep->nprofiles[0], rep->nprofiles[0] == 1 ? "" : "s");
		printf("%10s %6s %10s %6s  %s\n", "flat", "flat%", "cum", "cum%", "function");
		if (top > 0 && (size_t)top < n)
			n = (size_t)top;
		for (size_t i = 0; i < n; i++) {
			const struct ent *e = &m->e[order[i]];

			printf("%10lld %5.1f%% %10lld %5.1f%%  %s\n", (long long)e->flat[0],
			       pct(e->flat[0], rep->total[0]), (long long)e->cum[0],
			       pct(e->cum[0], rep->total[0]), e->key);
		}
	}
	free(order);
	return 0;
}

/* ---- command line ---- */

static bool parse_top(const char *s, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return false;
	*ret = v;
	return true;
}

/* The profiles of paths (a folder means its profiles; none given: the default folder). */
static int gather(const char *cmd, char *const *paths, size_t npaths, struct paths *files)
{
	const char *dflt = DEFAULT_DIR;
	size_t start = files->n;
	int r;

	if (!npaths) {
		paths = (char *const *)&dflt;
		npaths = 1;
	}
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;

		if (stat(paths[i], &st) < 0) {
			fprintf(stderr, "ldprof %s: '%s': %s\n", cmd, paths[i], strerror(errno));
			return -1;
		}
		r = S_ISDIR(st.st_mode) ? add_dir(files, paths[i]) : paths_add(files, NULL, paths[i]);
		if (r < 0) {
			fprintf(stderr, "ldprof %s: '%s': %s\n", cmd, paths[i], strerror(-r));
			return -1;
		}
	}
	if (files->n == start) {
		fprintf(stderr, "ldprof %s: no profiles found (*.pb.gz, *.pb) in %s%s\n", cmd, paths[0],
			npaths > 1 ? " and the others named" : "");
		return -1;
	}
	return 0;
}

/* From the file's name alone: "comm (pid)" and comm for comm.pid.seq.pb.gz, else its name. */
static void file_names_by_path(struct report *rep, const char *path)
{
	const char *base = strrchr(path, '/'), *end, *seq;
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	end = n > 6 && !strcmp(base + n - 6, ".pb.gz") ? base + n - 6 :
	      n > 3 && !strcmp(base + n - 3, ".pb") ? base + n - 3 : base + n;
	snprintf(rep->file_process, sizeof(rep->file_process), "%.*s", (int)(end - base), base);
	snprintf(rep->file_service, sizeof(rep->file_service), "%.*s", (int)(end - base), base);
	/* comm.pid.seq: the last two dot-separated parts are numbers */
	seq = memrchr(base, '.', (size_t)(end - base));
	if (!seq || seq == base || strspn(seq + 1, "0123456789") != (size_t)(end - seq - 1) || seq + 1 == end)
		return;
	{
		const char *pid = memrchr(base, '.', (size_t)(seq - base));

		if (!pid || pid == base || pid + 1 == seq ||
		    strspn(pid + 1, "0123456789") != (size_t)(seq - pid - 1))
			return;
		snprintf(rep->file_process, sizeof(rep->file_process), "%.*s (%.*s)", (int)(pid - base),
			 base, (int)(seq - pid - 1), pid + 1);
		snprintf(rep->file_service, sizeof(rep->file_service), "%.*s", (int)(pid - base), base);
	}
}

/* The value of the profile's comment "key=value", or NULL. */
static const char *comment_of(const struct ldp_profile *p, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < p->ncomments; i++) {
		const char *c = p->strings[p->comments[i]];

		if (!strncmp(c, key, n) && c[n] == '=')
			return c + n + 1;
	}
	return NULL;
}

/* The process and service a file's samples are of when their labels do not say: the file's
 * comments service_name=, comm= and pid= (ldprof writes its labels there), else "comm (pid)"
 * and comm from ldprof's file name comm.pid.seq.pb.gz, else the file's name for both. */
static void file_names(struct report *rep, const char *path, const struct ldp_profile *p)
{
	const char *svc = comment_of(p, "service_name"), *comm = comment_of(p, "comm"),
		   *pid = comment_of(p, "pid");

	file_names_by_path(rep, path);
	if (comm && pid)
		snprintf(rep->file_process, sizeof(rep->file_process), "%s (%s)", comm, pid);
	if (svc && *svc)
		snprintf(rep->file_service, sizeof(rep->file_service), "%s", svc);
}

/* Reads and adds files[from..] to rep's current side. */
static int load(const char *cmd, struct report *rep, const struct paths *files, size_t from)
{
	for (size_t f = from; f < files->n; f++) {
		struct ldp_profile p;
		uint8_t *buf = NULL;
		size_t len = 0;
		int r;

		r = ldp_read_file(files->v[f], 0, LDP_PROFILE_MAX_RAW, (char **)&buf, &len);
		if (r < 0) {
			fprintf(stderr, "ldprof %s: '%s': %s\n", cmd, files->v[f], strerror(-r));
			return -1;
		}
		r = ldp_profile_parse(buf, len, &p);
		free(buf);
		if (r < 0) {
			fprintf(stderr, "ldprof %s: '%s': not a valid pprof profile (%s)\n", cmd,
				files->v[f], strerror(-r));
			return -1;
		}
		file_names(rep, files->v[f], &p);
		r = add_profile(rep, &p);
		ldp_profile_free(&p);
		if (r < 0) {
			fprintf(stderr, "ldprof %s: '%s': %s\n", cmd, files->v[f], strerror(-r));
			return -1;
		}
	}
	return 0;
}

/* The keys of a map, by index (freed by the caller; the strings stay the map's). */
static const char **keys_of(const struct map *m)
{
	const char **v = calloc(m->n + 1, sizeof(*v));

	for (size_t i = 0; v && i < m->n; i++)
		v[i] = m->e[i].key;
	return v;
}

/* The flame graph into path ("-": stdout): SVG (flame.h), or with html the page (htmlview.h). */
static int write_graph(const char *cmd, const struct report *rep, const char *path, const char *title,
		       const char *subtitle, int diff, bool html)
{
	const char **names = keys_of(&rep->frames), **values[LDP_HTML_NFILTERS] = { 0 };
	unsigned char *kinds = calloc(rep->frames.n + 1, 1);
	int64_t *groups = NULL;
	struct ldp_flame_svg o = { .title = title, .subtitle = subtitle, .names = names,
				   .kinds = kinds, .diff = diff };
	struct ldp_html_view v = { .title = title, .subtitle = subtitle, .diff = diff, .names = names,
				   .kinds = kinds, .nframes = rep->frames.n, .flame = rep->flame,
				   .ngroups = rep->groups.n };
	FILE *f = NULL;
	bool nomem = !names || !kinds;
	int r = -1;

	for (int k = 0; html && k < LDP_HTML_NFILTERS; k++) {
		values[k] = keys_of(&rep->filter[k]);
		v.values[k] = values[k];
		v.nvalues[k] = rep->filter[k].n;
		nomem |= !values[k];
	}
	if (html) {
		groups = calloc(rep->groups.n + 1, LDP_HTML_GROUP * sizeof(*groups));
		nomem |= !groups;
		for (size_t i = 0; groups && i < rep->groups.n; i++) {
			long long g[LDP_HTML_GROUP - 1];
			int64_t *out = &groups[i * LDP_HTML_GROUP];

			/* the key made in add_group(): node side process thread service */
			if (sscanf(rep->groups.e[i].key, "%lld %lld %lld %lld %lld", &g[0], &g[1], &g[2],
				   &g[3], &g[4]) != 5)
				abort();
			for (int k = 0; k < LDP_HTML_GROUP - 1; k++)
				out[k] = g[k];
			out[LDP_HTML_GROUP - 1] = rep->groups.e[i].flat[0];
		}
		v.groups = groups;
	}
	if (nomem) {
		fprintf(stderr, "ldprof %s: %s\n", cmd, strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < rep->frames.n; i++)
		kinds[i] = rep->frames.e[i].kind ? rep->frames.e[i].kind - 1 : LDP_FLAME_UNKNOWN;
	f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	if (!f) {
		fprintf(stderr, "ldprof %s: cannot write '%s': %s\n", cmd, path, strerror(errno));
		goto out;
	}
	errno = 0;
	if ((html ? ldp_html_write(&v, f) : ldp_flame_write_svg(rep->flame, &o, f)) < 0 ||
	    fflush(f) != 0 || ferror(f)) {
		fprintf(stderr, "ldprof %s: writing '%s': %s\n", cmd, path, strerror(errno ? errno : EIO));
		goto out;
	}
	r = 0;
out:
	if (f && f != stdout && fclose(f) != 0 && r == 0) {
		fprintf(stderr, "ldprof %s: writing '%s': %s\n", cmd, path, strerror(errno));
		r = -1;
	}
	free(names);
	free(kinds);
	free(groups);
	for (int k = 0; k < LDP_HTML_NFILTERS; k++)
		free(values[k]);
	return r;
}

/* The Debian package that ships path ("" when none is known): dpkg-query -S, run without a
 * shell. Debian 12 registers libraries under /lib, which /usr/lib stands for. */
static void package_of(const char *path, char *pkg, size_t len)
{
	char alt[PATH_MAX], line[PATH_MAX + 256];
	const char *try[2] = { path, NULL };

	pkg[0] = 0;
	if (!strncmp(path, "/usr/lib/", 9) && (size_t)snprintf(alt, sizeof(alt), "%s", path + 4) < sizeof(alt))
		try[1] = alt;
	for (int k = 0; k < 2 && try[k] && !pkg[0]; k++) {
		int fds[2], status;
		pid_t pid;
		ssize_t n = 0, got;

		if (pipe2(fds, O_CLOEXEC) < 0)
			return;
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(fds[1], 1);
			if (null >= 0)
				dup2(null, 2);
			execlp("dpkg-query", "dpkg-query", "-S", "--", try[k], (char *)NULL);
			_exit(127);
		}
		close(fds[1]);
		while (pid > 0 && n < (ssize_t)sizeof(line) - 1 &&
		       (got = read(fds[0], line + n, sizeof(line) - 1 - (size_t)n)) > 0)
			n += got;
		close(fds[0]);
		if (pid > 0)
			waitpid(pid, &status, 0);
		line[n] = 0;
		/* "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6": the first package named */
		if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			size_t e = strcspn(line, ":, \n");
			if (e > 0 && e < len)
				snprintf(pkg, len, "%.*s", (int)e, line);
		}
	}
}

/* When frames stayed unnamed, one line on stderr: how many, in which objects, and the package
 * whose debug symbols would name them (and how many debug files did name). */
static void say_unnamed(const char *cmd, const struct report *rep)
{
	size_t frames = 0, objects = 0, shown = 0;
	char pkg[128];

	for (size_t i = 0; i < rep->ndbg; i++)
		if (rep->dbg[i].unnamed) {
			frames += rep->dbg[i].unnamed;
			objects++;
		}
	if (!frames)
		return;
	fprintf(stderr, "ldprof %s: %zu frame%s in %zu object%s stayed unnamed", cmd, frames,
		frames == 1 ? "" : "s", objects, objects == 1 ? "" : "s");
	if (rep->named_by_debug)
		fprintf(stderr, " (%zu named from debug files in %s)", rep->named_by_debug, rep->debug_dir);
	fputc(':', stderr);
	for (size_t i = 0; i < rep->ndbg && shown < 8; i++) {
		const struct dbg *d = &rep->dbg[i];
		const char *base = strrchr(d->file, '/');

		if (!d->unnamed)
			continue;
		package_of(d->file, pkg, sizeof(pkg));
		fprintf(stderr, "%s %s (", shown ? "," : "", base ? base + 1 : d->file);
		if (!*rep->debug_dir)
			fprintf(stderr, "debug files not looked up");
		else if (!pkg[0])
			fprintf(stderr, "no debug file with build ID %s", *d->build_id ? d->build_id : "(none)");
		else
			fprintf(stderr, "install %s%s", pkg, strcmp(pkg, "libc6") ? "-dbgsym" : "-dbg");
		fputc(')', stderr);
		shown++;
	}
	fprintf(stderr, "%s\n", objects > shown ? ", ..." : "");
}

static void report_free(struct report *rep, struct paths *files)
{
	for (size_t i = 0; i < rep->ndbg; i++) {
		free(rep->dbg[i].file);
		free(rep->dbg[i].build_id);
		ldp_elfsym_free(rep->dbg[i].syms);
	}
	free(rep->dbg);
	for (size_t f = 0; f < files->n; f++)
		free(files->v[f]);
	free(files->v);
	map_free(&rep->frames);
	map_free(&rep->stacks);
	map_free(&rep->groups);
	for (int k = 0; k < LDP_HTML_NFILTERS; k++)
		map_free(&rep->filter[k]);
	free(rep->stk);
	free(rep->name.p);
	free(rep->key.p);
	ldp_flame_free(rep->flame);
}

/* --top N, --svg FILE, --html FILE, --folded (report only), --help: the options both commands
 * take (graph[0] is --svg's file, graph[1] --html's). Returns
 * 1 when argv[*i] was one (and consumed its value), 0 when it is not an option, or the exit code
 * + 100 to stop with. */
static int option(const char *cmd, const char *use, int argc, char **argv, int *i, long *top,
		  const char **graph, bool *folded, const char **debug_dir)
{
	const char *a = argv[*i];

	if (strcmp(a, "--debug-dir") == 0 || strncmp(a, "--debug-dir=", 12) == 0) {
		const char *v = a[11] == '=' ? a + 12 : (*i + 1 < argc ? argv[++*i] : NULL);

		if (!v) {
			fprintf(stderr, "ldprof %s: --debug-dir needs a folder (\"\" for none; see ldprof "
				"%s --help)\n", cmd, cmd);
			return 102;
		}
		*debug_dir = v;
		return 1;
	}

	for (int k = 0; k < 2; k++) {
		const char *name = k ? "--html" : "--svg", *v;
		size_t len = strlen(name);

		if (strncmp(a, name, len) || (a[len] && a[len] != '='))
			continue;
		v = a[len] == '=' ? a + len + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
		if (!v || !*v) {
			fprintf(stderr, "ldprof %s: %s needs a file name (see ldprof %s --help)\n", cmd,
				name, cmd);
			return 102;
		}
		if (!strcmp(v, "-") && graph[!k] && !strcmp(graph[!k], "-")) {
			fprintf(stderr, "ldprof %s: --svg and --html cannot both write to stdout\n", cmd);
			return 102;
		}
		graph[k] = v;
		return 1;
	}
	if (strcmp(a, "--top") == 0 || strncmp(a, "--top=", 6) == 0) {
		const char *v = a[5] == '=' ? a + 6 : (*i + 1 < argc ? argv[++*i] : NULL);

		if (!v) {
			fprintf(stderr, "ldprof %s: --top needs a number (see ldprof %s --help)\n", cmd, cmd);
			return 102;
		}
		if (!parse_top(v, top)) {
			fprintf(stderr, "ldprof %s: bad --top value '%s': a number of rows, 0 for all\n", cmd, v);
			return 102;
		}
		return 1;
	}
	if (folded && strcmp(a, "--folded") == 0) {
		*folded = true;
		return 1;
	}
	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
		fputs(use, stdout);
		return 100;
	}
	if (a[0] == '-' && a[1] && strcmp(a, "--")) {
		fprintf(stderr, "ldprof %s: unknown option '%s' (see ldprof %s --help)\n", cmd, a, cmd);
		return 102;
	}
	return 0;
}

int ldp_report_main(int argc, char **argv)
{
	struct report rep = { .debug_dir = LDP_DEBUG_ROOT };
	struct paths files = { 0 };
	long top = DEFAULT_TOP;
	const char *graph[2] = { NULL, NULL }; /* --svg, --html */
	char sub[160];
	int i, r, rc = 1, dashes = 0, npaths = 0;

	/* options anywhere before a "--", as getopt() allows; the rest are paths */
	for (i = 1; i < argc; i++) {
		r = dashes ? 0 : option("report", usage, argc, argv, &i, &top, graph, &rep.folded,
					&rep.debug_dir);
		if (r >= 100) {
			rc = r - 100;
			goto out;
		}
		if (!r && !dashes && !strcmp(argv[i], "--"))
			dashes = 1;
		else if (!r)
			argv[npaths++] = argv[i];
	}
	if ((graph[0] || graph[1]) && rep.folded) {
		fprintf(stderr, "ldprof report: --%s and --folded: choose one\n", graph[0] ? "svg" : "html");
		rc = 2;
		goto out;
	}
	rep.html = graph[1] != NULL;
	if ((graph[0] || graph[1]) && !(rep.flame = ldp_flame_new())) {
		fprintf(stderr, "ldprof report: %s\n", strerror(ENOMEM));
		goto out;
	}
	if (gather("report", argv, (size_t)npaths, &files) < 0 || load("report", &rep, &files, 0) < 0)
		goto out;
	snprintf(sub, sizeof(sub), "%lld samples in %zu profile%s", (long long)rep.total[0],
		 rep.nprofiles[0], rep.nprofiles[0] == 1 ? "" : "s");
	for (int g = 0; g < 2; g++) {
		if (!graph[g])
			continue;
		if (write_graph("report", &rep, graph[g], "ldprof: CPU flame graph", sub, 0, g) < 0)
			goto out;
		if (strcmp(graph[g], "-"))
			printf("%s: %s of %s\n", graph[g], g ? "an interactive report" : "a flame graph", sub);
	}
	if (!graph[0] && !graph[1] && (r = print_report(&rep, top)) < 0) {
		fprintf(stderr, "ldprof report: %s\n", strerror(-r));
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ldprof report: writing the report: %s\n", strerror(errno));
		goto out;
	}
	say_unnamed("report", &rep);
	rc = 0;
out:
	report_free(&rep, &files);
	return rc;
}

/* ---- diff ---- */

static const char diff_usage[] =
	"usage: ldprof diff [--top N] [--svg FILE] [--html FILE] BASE NEW\n"
	"       ldprof diff [--top N] [--svg FILE] [--html FILE] BASE... -- NEW...\n"
	"  Which functions take a larger or smaller share of all samples in NEW than in BASE\n"
	"  (each a profile or a folder of them; several on a side are merged).\n"
	"  --top N     show the N functions whose flat share changed most (default 20, 0 = all)\n"
	"  --svg FILE  also write a differential flame graph: widths from NEW, red where a frame\n"
	"              takes a larger share than in BASE, blue a smaller one\n"
	"  --html FILE also write an interactive page: the differential flame graph with zoom,\n"
	"              search and filters, and a table of both sides' shares, sortable\n"
	"  --debug-dir DIR  as for ldprof report\n"
	"  example: ldprof diff before/ after/ --html diff.html\n";

/* Change of share, in points. */
static double flat_change(const struct report *rep, const struct ent *e)
{
	return pct(e->flat[1], rep->total[1]) - pct(e->flat[0], rep->total[0]);
}

static double cum_change(const struct report *rep, const struct ent *e)
{
	return pct(e->cum[1], rep->total[1]) - pct(e->cum[0], rep->total[0]);
}

static int cmp_change(const void *a, const void *b, void *arg)
{
	const struct report *rep = arg;
	const struct ent *x = &rep->frames.e[*(const size_t *)a];
	const struct ent *y = &rep->frames.e[*(const size_t *)b];
	double dx = flat_change(rep, x), dy = flat_change(rep, y);

	dx = dx < 0 ? -dx : dx;
	dy = dy < 0 ? -dy : dy;
	if (dx != dy)
		return dx > dy ? -1 : 1;
	dx = cum_change(rep, x);
	dy = cum_change(rep, y);
	dx = dx < 0 ? -dx : dx;
	dy = dy < 0 ? -dy : dy;
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int print_diff(const struct report *rep, long top)
{
	size_t *order, n = rep->frames.n;

	order = calloc(n ? n : 1, sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_change, (void *)rep);
	printf("Base: %lld samples in %zu profile%s; new: %lld samples in %zu profile%s "
	       "(shares of each side's total)\n", (long long)rep->total[0], rep->nprofiles[0],
	       rep->nprofiles[0] == 1 ? "" : "s", (long long)rep->total[1], rep->nprofiles[1],
	       rep->nprofiles[1] == 1 ? "" : "s");
	printf("%6s %6s %7s  %6s %6s %7s  %s\n", "flat%", "flat%", "change", "cum%", "cum%", "change",
	       "function");
	printf("%6s %6s %7s  %6s %6s %7s\n", "base", "new", "", "base", "new", "");
	if (top > 0 && (size_t)top < n)
		n = (size_t)top;
	for (size_t i = 0; i < n; i++) {
		const struct ent *e = &rep->frames.e[order[i]];

		printf("%5.1f%% %5.1f%% %+6.1f%%  %5.1f%% %5.1f%% %+6.1f%%  %s\n",
		       pct(e->flat[0], rep->total[0]), pct(e->flat[1], rep->total[1]),
		       flat_change(rep, e), pct(e->cum[0], rep->total[0]),
		       pct(e->cum[1], rep->total[1]), cum_change(rep, e), e->key);
	}
	free(order);
	return 0;
}

int ldp_diff_main(int argc, char **argv)
{
	struct report rep = { .debug_dir = LDP_DEBUG_ROOT };
	struct paths files = { 0 };
	long top = DEFAULT_TOP;
	const char *graph[2] = { NULL, NULL }; /* --svg, --html */
	char sub[200];
	int i, r, rc = 1, sep = -1, npaths = 0;
	size_t nbase;

	/* options anywhere; paths in order, a "--" between the sides (else one path each) */
	for (i = 1; i < argc; i++) {
		r = option("diff", diff_usage, argc, argv, &i, &top, graph, NULL, &rep.debug_dir);
		if (r >= 100) {
			rc = r - 100;
			goto out;
		}
		if (!r && !strcmp(argv[i], "--"))
			sep = sep < 0 ? npaths : 0; /* a second "--" is a usage error */
		else if (!r)
			argv[npaths++] = argv[i];
	}
	if (sep < 0 && npaths == 2)
		sep = 1;
	if (sep <= 0 || sep >= npaths) {
		fprintf(stderr, "ldprof diff: name the base profiles and the new ones: BASE NEW, or "
			"BASE... -- NEW... (see ldprof diff --help)\n");
		rc = 2;
		goto out;
	}
	rep.html = graph[1] != NULL;
	if (!(rep.flame = ldp_flame_new())) {
		fprintf(stderr, "ldprof diff: %s\n", strerror(ENOMEM));
		goto out;
	}
	if (gather("diff", argv, (size_t)sep, &files) < 0)
		goto out;
	nbase = files.n;
	if (gather("diff", argv + sep, (size_t)(npaths - sep), &files) < 0)
		goto out;
	{
		struct paths base = { files.v, nbase, nbase };

		if (load("diff", &rep, &base, 0) < 0)
			goto out;
	}
	rep.side = 1;
	if (load("diff", &rep, &files, nbase) < 0)
		goto out;
	/* the table, unless a graph takes stdout */
	if (!(graph[0] && !strcmp(graph[0], "-")) && !(graph[1] && !strcmp(graph[1], "-")) &&
	    (r = print_diff(&rep, top)) < 0) {
		fprintf(stderr, "ldprof diff: %s\n", strerror(-r));
		goto out;
	}
	snprintf(sub, sizeof(sub), "base: %lld samples in %zu profiles; new: %lld samples in %zu profiles",
		 (long long)rep.total[0], rep.nprofiles[0], (long long)rep.total[1], rep.nprofiles[1]);
	for (int g = 0; g < 2; g++)
		if (graph[g] && write_graph("diff", &rep, graph[g], "ldprof: differential flame graph",
					    sub, 1, g) < 0)
			goto out;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ldprof diff: writing the report: %s\n", strerror(errno));
		goto out;
	}
	say_unnamed("diff", &rep);
	rc = 0;
out:
	report_free(&rep, &files);
	return rc;
}
