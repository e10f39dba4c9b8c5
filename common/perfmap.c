/* SPDX-License-Identifier: MIT
 *
 * perfmap.c — /tmp/perf-PID.map of another process (see perfmap.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "perfmap.h"
#include "procmaps.h"

#define MAX_LINES (1u << 20) /* past this many, the oldest stay and the rest is not read */
#define MAX_NAME 512         /* a longer name is cut */
#define CHUNK (256u << 10)

struct line {
	uint64_t start, end; /* [start, end) */
	uint64_t seq;        /* the order lines came in: a later one wins where they overlap */
	uint32_t name;       /* offset in names */
};

struct ldp_perfmap {
	pid_t pid, nspid; /* nspid: the pid in its own namespace, which names its map (0: not yet) */
	struct line *l;
	size_t n, cap, sorted; /* l[0, sorted) is sorted by start */
	char *names;
	size_t nlen, ncap;
	uint64_t seq;
	/* the file read so far: which one, and up to where (whole lines) */
	dev_t dev;
	ino_t ino;
	off_t off;
	size_t total;
};

int ldp_perfmap_new(pid_t pid, struct ldp_perfmap **ret)
{
	struct ldp_perfmap *pm = calloc(1, sizeof(*pm));

	if (!pm)
		return -ENOMEM;
	pm->pid = pid;
	*ret = pm;
	return 0;
}

static void reset(struct ldp_perfmap *pm)
{
	pm->n = pm->sorted = pm->nlen = 0;
	pm->off = 0;
	pm->total = 0;
}

void ldp_perfmap_free(struct ldp_perfmap *pm)
{
	if (!pm)
		return;
	free(pm->l);
	free(pm->names);
	free(pm);
}

size_t ldp_perfmap_count(const struct ldp_perfmap *pm)
{
	return pm->n;
}

static int hex(const char **p, const char *end, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; s < end; s++, digits++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (v >> 60)
			return -1; /* more than 64 bits */
		v = v << 4 | d;
	}
	if (!digits)
		return -1;
	*p = s;
	*ret = v;
	return 0;
}

/* One line (without its '\n'): "START SIZE name". */
static int parse_line(struct ldp_perfmap *pm, const char *s, const char *end)
{
	uint64_t start, size;
	size_t len;

	if (hex(&s, end, &start) < 0 || s >= end || *s != ' ')
		return 0;
	s++;
	if (hex(&s, end, &size) < 0 || s >= end || *s != ' ' || !size || start + size < start)
		return 0;
	s++;
	len = (size_t)(end - s);
	if (!len)
		return 0;
	if (len > MAX_NAME)
		len = MAX_NAME;
	if (pm->n >= MAX_LINES)
		return 0;
	if (pm->n == pm->cap) {
		size_t cap = pm->cap ? pm->cap * 2 : 256;
		struct line *l = realloc(pm->l, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		pm->l = l;
		pm->cap = cap;
	}
	if (pm->nlen + len + 1 > pm->ncap) {
		size_t cap = pm->ncap ? pm->ncap : 4096;
		char *n;

		while (pm->nlen + len + 1 > cap)
			cap *= 2;
		if (cap > UINT32_MAX)
			return 0;
		n = realloc(pm->names, cap);
		if (!n)
			return -ENOMEM;
		pm->names = n;
		pm->ncap = cap;
	}
	memcpy(pm->names + pm->nlen, s, len);
	/* a name goes into profiles and logs: no control characters */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)pm->names[pm->nlen + i] < 0x20 || pm->names[pm->nlen + i] == 0x7f)
			pm->names[pm->nlen + i] = '?';
	pm->names[pm->nlen + len] = 0;
	pm->l[pm->n++] = (struct line){ start, start + size, pm->seq++, (uint32_t)pm->nlen };
	pm->nlen += len + 1;
	return 0;
}

int ldp_perfmap_parse(struct ldp_perfmap *pm, const char *text, size_t len, size_t *used)
{
	const char *p = text, *end = text + len;
	int r;

	*used = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			break;
		r = parse_line(pm, p, nl);
		if (r < 0)
			return r;
		p = nl + 1;
		*used = (size_t)(p - text);
	}
	return 0;
}

/* The pid the process knows itself by (the last of /proc/PID/status's NSpid: its own PID
 * namespace's), which names its map; pid itself when the line is missing. */
static pid_t ns_pid(pid_t pid)
{
	char path[64], *buf = NULL, *l;
	size_t len;
	long v = pid;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (ldp_read_file(path, 0, 16384, &buf, &len) < 0)
		return pid;
	l = strstr(buf, "\nNSpid:");
	if (l) {
		char *e = strchr(l + 1, '\n'), *q;

		if (e)
			*e = 0;
		q = strrchr(l + 7, '\t');
		q = q ? q + 1 : l + 7;
		v = strtol(q, &e, 10);
		if (e == q || v <= 0)
			v = pid;
	}
	free(buf);
	return (pid_t)v;
}

int ldp_perfmap_update(struct ldp_perfmap *pm)
{
	char name[48], path[128];
	struct stat st;
	char *buf = NULL;
	uid_t ruid, euid;
	size_t have = 0, used;
	ssize_t got;
	int fd = -1, r;

	r = ldp_proc_uids(pm->pid, &ruid, &euid);
	if (r < 0)
		return r;
	if (!pm->nspid)
		pm->nspid = ns_pid(pm->pid); /* a process keeps its pid */
	snprintf(name, sizeof(name), "root/tmp/perf-%d.map", (int)pm->nspid);
	/* through a live thread's folder: a main thread that left makes /proc/PID/root unreadable */
	r = ldp_proc_path(pm->pid, name, path, sizeof(path));
	if (r == -EINVAL || r == -ENAMETOOLONG)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = errno == ELOOP ? -EPERM : -errno;
		goto out;
	}
	r = -EPERM;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != euid)
		goto out;
	if (st.st_dev != pm->dev || st.st_ino != pm->ino || st.st_size < pm->off) {
		reset(pm); /* another file, or one truncated: start over */
		pm->dev = st.st_dev;
		pm->ino = st.st_ino;
	}
	r = 0;
	if (st.st_size == pm->off)
		goto out;
	r = -ENOMEM;
	buf = malloc(CHUNK);
	if (!buf)
		goto out;
	for (;;) {
		if (pm->total >= LDP_PERFMAP_MAX_BYTES) {
			r = -EFBIG;
			goto out;
		}
		got = pread(fd, buf + have, CHUNK - have, pm->off + (off_t)have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			goto out;
		}
		if (got == 0)
			break;
		have += (size_t)got;
		r = ldp_perfmap_parse(pm, buf, have, &used);
		if (r < 0)
			goto out;
		if (!used && have == CHUNK)
			used = have; /* a line longer than a chunk: skipped */
		pm->off += (off_t)used;
		pm->total += used;
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	r = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static int by_start(const void *a, const void *b)
{
	const struct line *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Lines overlap when a compiler moves or replaces code; a few before the candidate are
 * looked at, the latest line that covers addr wins. */
#define LOOK_BACK 16

const char *ldp_perfmap_lookup(struct ldp_perfmap *pm, uint64_t addr)
{
	size_t lo = 0, hi, best = SIZE_MAX;

	if (!pm->n)
		return NULL;
	if (pm->sorted != pm->n) {
		qsort(pm->l, pm->n, sizeof(*pm->l), by_start);
		pm->sorted = pm->n;
	}
	/* the last line starting at or below addr */
	hi = pm->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->l[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = 0; k < LOOK_BACK && lo > 0; k++, lo--) {
		const struct line *l = &pm->l[lo - 1];

		if (addr < l->end && (best == SIZE_MAX || l->seq > pm->l[best].seq))
			best = lo - 1;
	}
	return best == SIZE_MAX ? NULL : pm->names + pm->l[best].name;
}
