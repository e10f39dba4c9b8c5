/* SPDX-License-Identifier: MIT
 *
 * report.c — `ldprof report [--top N] [--folded] [PROFILE_OR_DIR...]`.
 *
 * Overall design. Each profile is parsed (pprof_read.c validates every reference, so frames
 * can be resolved here without checks) and folded into two hash maps keyed by name: frames
 * (flat and cum counts) and, with --folded, whole stacks (root-to-leaf names joined by ';').
 * Profiles are merged by frame *name*, so the same function in two profiles with different ids
 * is one row. The count of a sample is its value under the first sample type named "samples"
 * (value 0 when there is none). cum counts a sample once per function even when recursion puts
 * the function on the stack several times: each frame remembers the last sample it was counted
 * for.
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
#include <unistd.h>

#include "pprof.h"
#include "fileio.h"
#include "report.h"

#define DEFAULT_DIR "ldprof-profiles"
#define DEFAULT_TOP 20

static const char usage[] =
	"usage: ldprof report [--top N] [--folded] [PROFILE_OR_DIR...]\n"
	"  Summarize pprof CPU profiles (default: ./" DEFAULT_DIR "; a folder means its\n"
	"  *.pb.gz and *.pb files). All profiles are merged.\n"
	"  --top N    show the N functions with the most flat samples (default 20, 0 = all)\n"
	"  --folded   print folded stacks (\"root;...;leaf count\") for flame graphs\n";

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
	int64_t flat, cum;
	size_t stamp; /* 1 + index of the last sample counted in cum */
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
	int64_t total;
	size_t nprofiles, serial;
	int64_t *stk; /* frame indices of the current sample, leaf first */
	size_t nstk, capstk;
	struct str name, key;
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

static int push_frame(struct report *rep, const char *name)
{
	int64_t idx = map_get(&rep->frames, name);

	if (idx < 0)
		return (int)idx;
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

/* Resolves a sample's frames (inlined functions expand to several, innermost first). */
static int collect_frames(struct report *rep, const struct ldp_profile *p,
			  const struct ldp_prof_sample *s)
{
	int r;

	rep->nstk = 0;
	for (size_t i = 0; i < s->nlocs; i++) {
		const struct ldp_prof_location *l = ldp_profile_location(p, s->locs[i]);
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
			    (r = push_frame(rep, rep->name.p)) < 0)
				return r;
			named++;
		}
		if (named)
			continue;
		rep->name.len = 0;
		if ((r = str_add(&rep->name, "", 0)) < 0 ||
		    (r = unsymbolized(p, l, &rep->name)) < 0 ||
		    (r = push_frame(rep, rep->name.p)) < 0)
			return r;
	}
	return 0;
}

static int add_profile(struct report *rep, const struct ldp_profile *p)
{
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
		rep->total = sat_add(rep->total, count);
		r = collect_frames(rep, p, s);
		if (r < 0)
			return r;
		if (!rep->nstk)
			continue;
		rep->serial++;
		rep->frames.e[rep->stk[0]].flat = sat_add(rep->frames.e[rep->stk[0]].flat, count);
		for (size_t j = 0; j < rep->nstk; j++) {
			struct ent *e = &rep->frames.e[rep->stk[j]];

			if (e->stamp == rep->serial)
				continue; /* recursion: once per sample */
			e->stamp = rep->serial;
			e->cum = sat_add(e->cum, count);
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
			rep->stacks.e[idx].flat = sat_add(rep->stacks.e[idx].flat, count);
		}
	}
	rep->nprofiles++;
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

	if (x->flat != y->flat)
		return x->flat > y->flat ? -1 : 1;
	if (x->cum != y->cum)
		return x->cum > y->cum ? -1 : 1;
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
			printf("%s %lld\n", m->e[order[i]].key, (long long)m->e[order[i]].flat);
	} else {
		printf("Total: %lld samples in %zu profile%s\n", (long long)rep->total,
		       rep->nprofiles, rep->nprofiles == 1 ? "" : "s");
		printf("%10s %6s %10s %6s  %s\n", "flat", "flat%", "cum", "cum%", "function");
		if (top > 0 && (size_t)top < n)
			n = (size_t)top;
		for (size_t i = 0; i < n; i++) {
			const struct ent *e = &m->e[order[i]];

			printf("%10lld %5.1f%% %10lld %5.1f%%  %s\n", (long long)e->flat,
			       pct(e->flat, rep->total), (long long)e->cum, pct(e->cum, rep->total),
			       e->key);
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

int ldp_report_main(int argc, char **argv)
{
	struct report rep = { 0 };
	struct paths files = { 0 };
	long top = DEFAULT_TOP;
	int i, r, rc = 1;
	bool any_path = false;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--folded") == 0) {
			rep.folded = true;
		} else if (strcmp(a, "--top") == 0 || strncmp(a, "--top=", 6) == 0) {
			const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v) {
				fprintf(stderr, "ldprof report: --top needs a number\n");
				rc = 2;
				goto out;
			}
			if (!parse_top(v, &top)) {
				fprintf(stderr, "ldprof report: bad --top value '%s'\n", v);
				rc = 2;
				goto out;
			}
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			rc = 0;
			goto out;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ldprof report: unknown option '%s' (see --help)\n", a);
			rc = 2;
			goto out;
		} else {
			break;
		}
	}

	/* collect the files: the remaining arguments, or the default folder */
	for (; i < argc || !any_path; i++) {
		const char *path = i < argc ? argv[i] : DEFAULT_DIR;
		struct stat st;

		any_path = true;
		if (stat(path, &st) < 0) {
			fprintf(stderr, "ldprof report: '%s': %s\n", path, strerror(errno));
			goto out;
		}
		r = S_ISDIR(st.st_mode) ? add_dir(&files, path) : paths_add(&files, NULL, path);
		if (r < 0) {
			fprintf(stderr, "ldprof report: '%s': %s\n", path, strerror(-r));
			goto out;
		}
	}
	if (!files.n) {
		fprintf(stderr, "ldprof report: no profiles found (*.pb.gz, *.pb)\n");
		goto out;
	}

	for (size_t f = 0; f < files.n; f++) {
		struct ldp_profile p;
		uint8_t *buf = NULL;
		size_t len = 0;

		r = ldp_read_file(files.v[f], 0, LDP_PROFILE_MAX_RAW, (char **)&buf, &len);
		if (r < 0) {
			fprintf(stderr, "ldprof report: '%s': %s\n", files.v[f], strerror(-r));
			goto out;
		}
		r = ldp_profile_parse(buf, len, &p);
		free(buf);
		if (r < 0) {
			fprintf(stderr, "ldprof report: '%s': not a valid pprof profile (%s)\n",
				files.v[f], strerror(-r));
			goto out;
		}
		r = add_profile(&rep, &p);
		ldp_profile_free(&p);
		if (r < 0) {
			fprintf(stderr, "ldprof report: '%s': %s\n", files.v[f], strerror(-r));
			goto out;
		}
	}

	r = print_report(&rep, top);
	if (r < 0) {
		fprintf(stderr, "ldprof report: %s\n", strerror(-r));
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ldprof report: writing the report: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	for (size_t f = 0; f < files.n; f++)
		free(files.v[f]);
	free(files.v);
	map_free(&rep.frames);
	map_free(&rep.stacks);
	free(rep.stk);
	free(rep.name.p);
	free(rep.key.p);
	return rc;
}
