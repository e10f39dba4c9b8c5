/* SPDX-License-Identifier: MIT
 *
 * procmaps.c — parse /proc/PID/maps.
 *
 * The kernel writes one line per mapping:
 *
 *	start-end perms offset major:minor inode[ <padding>path]\n
 *
 * with start, end, offset, major and minor in hex, inode in decimal, and a single space
 * between fields (plus a trailing space after the inode, and padding before a path). A path
 * may hold any byte but NUL and '\n' (the kernel escapes '\n'), spaces included, and may end
 * in " (deleted)", which is kept as is. Leading spaces of a path cannot be told from the
 * padding and are lost.
 *
 * Parsing is strict and bounded: numbers are parsed by hand with a digit limit (no sscanf,
 * no strtoul on text that is not NUL-terminated), a line that does not parse is skipped, and
 * so is a last line without '\n', which may have been cut anywhere — in the path included.
 * Two passes: the first counts lines and path bytes, the second fills one allocation that
 * holds the array followed by the paths, so ldp_maps_free() is one free(). The result is
 * sorted by start, and a line overlapping an earlier one is dropped, so ldp_maps_find() is a
 * binary search with exactly one answer. Never called from a signal handler.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fileio.h"
#include "procmaps.h"

#define MAX_MAPS_TEXT (64u << 20) /* a larger maps file is refused with -EFBIG */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 to max_digits hex digits (max_digits <= 16, so no overflow), not followed by another. */
static bool hexnum(const char **pp, const char *end, unsigned max_digits, uint64_t *ret)
{
	const char *p = *pp;
	uint64_t v = 0;
	unsigned n = 0;

	while (p < end && n < max_digits && hexval(*p) >= 0) {
		v = v << 4 | (uint64_t)hexval(*p);
		p++;
		n++;
	}
	if (n == 0 || (p < end && hexval(*p) >= 0))
		return false;
	*pp = p;
	*ret = v;
	return true;
}

static bool decnum(const char **pp, const char *end, uint64_t *ret)
{
	const char *p = *pp;
	uint64_t v = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		p++;
	}
	if (p == *pp)
		return false;
	*pp = p;
	*ret = v;
	return true;
}

static bool expect(const char **pp, const char *end, char c)
{
	if (*pp >= end || **pp != c)
		return false;
	(*pp)++;
	return true;
}

/* Parses the line [p, end) (without its '\n') into m, all but m->path; the path is
 * [*ret_path, *ret_path + *ret_len). */
static bool parse_line(const char *p, const char *end, struct ldp_map *m, const char **ret_path,
		       size_t *ret_len)
{
	uint64_t major, minor;

	if (memchr(p, '\0', (size_t)(end - p)))
		return false;
	if (!hexnum(&p, end, 16, &m->start) || !expect(&p, end, '-') ||
	    !hexnum(&p, end, 16, &m->end) || !expect(&p, end, ' ') || m->start >= m->end)
		return false;
	if (end - p < 4 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's'))
		return false;
	memcpy(m->perms, p, 4);
	m->perms[4] = '\0';
	p += 4;
	if (!expect(&p, end, ' ') || !hexnum(&p, end, 16, &m->offset) || !expect(&p, end, ' ') ||
	    !hexnum(&p, end, 8, &major) || !expect(&p, end, ':') || !hexnum(&p, end, 8, &minor) ||
	    !expect(&p, end, ' ') || !decnum(&p, end, &m->inode))
		return false;
	m->dev_major = (unsigned)major;
	m->dev_minor = (unsigned)minor;
	if (p < end && *p != ' ')
		return false;
	while (p < end && *p == ' ')
		p++;
	*ret_path = p;
	*ret_len = (size_t)(end - p);
	return true;
}

static int cmp_start(const void *a, const void *b)
{
	const struct ldp_map *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int ldp_maps_parse(const char *text, size_t len, struct ldp_maps *ret)
{
	const char *end, *p, *nl, *path;
	struct ldp_map m, *maps = NULL;
	size_t n = 0, bytes = 0, plen, k;
	char *arena;

	if (!ret || (!text && len > 0))
		return -EINVAL;
	if (len == 0) {
		*ret = (struct ldp_maps){ NULL, 0 };
		return 0;
	}
	end = text + len;

	/* Pass 1: count. Each line is at least as long as its path plus the NUL. */
	for (p = text; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
		if (parse_line(p, nl, &m, &path, &plen)) {
			n++;
			bytes += plen + 1;
		}
	}
	if (n == 0) {
		*ret = (struct ldp_maps){ NULL, 0 };
		return 0;
	}
	if (n > (SIZE_MAX - bytes) / sizeof(*maps))
		return -ENOMEM;
	maps = malloc(n * sizeof(*maps) + bytes);
	if (!maps)
		return -ENOMEM;
	arena = (char *)(maps + n);

	/* Pass 2: fill, on the same lines. */
	k = 0;
	for (p = text; k < n && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
		if (!parse_line(p, nl, &maps[k], &path, &plen))
			continue;
		memcpy(arena, path, plen);
		arena[plen] = '\0';
		maps[k].path = arena;
		arena += plen + 1;
		k++;
	}

	/* The kernel gives sorted, disjoint mappings; anything else is made so. */
	for (size_t i = 1; i < n; i++) {
		if (maps[i].start < maps[i - 1].start) {
			qsort(maps, n, sizeof(*maps), cmp_start);
			break;
		}
	}
	k = 1;
	for (size_t i = 1; i < n; i++) {
		if (maps[i].start < maps[k - 1].end)
			continue;
		maps[k++] = maps[i];
	}

	*ret = (struct ldp_maps){ maps, k };
	return 0;
}

/* 1 when the task whose /proc folder is dir has not exited (its stat's state is not Z or X). */
static int task_alive(const char *dir)
{
	char path[96], *buf = NULL, *p;
	size_t len;
	int alive;

	snprintf(path, sizeof(path), "%s/stat", dir);
	if (ldp_read_file(path, O_NOCTTY, 4096, &buf, &len) < 0)
		return 0;
	p = memrchr(buf, ')', len); /* comm may hold anything, ')' included */
	alive = p && (size_t)(p - buf) + 2 < len && p[2] != 'Z' && p[2] != 'X';
	free(buf);
	return alive;
}

int ldp_proc_dir(pid_t pid, char *buf, size_t len)
{
	char dir[64];
	struct dirent *de;
	DIR *d;
	int r = -ESRCH;

	if (pid < 0)
		return -EINVAL;
	if (pid == 0) {
		snprintf(buf, len, "/proc/thread-self");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (task_alive(dir)) {
		snprintf(buf, len, "%s", dir);
		return 0;
	}
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d) {
		r = -errno;
		goto out;
	}
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (*end || tid <= 0 || tid == pid)
			continue;
		snprintf(buf, len, "/proc/%d/task/%ld", (int)pid, tid);
		if (task_alive(buf)) {
			r = 0;
			break;
		}
	}
	closedir(d);
out:
	if (r < 0) /* no live thread: the process's own folder, for what it still shows */
		snprintf(buf, len, "/proc/%d", (int)pid);
	return r;
}

int ldp_proc_path(pid_t pid, const char *what, char *buf, size_t len)
{
	char dir[64];
	int r = ldp_proc_dir(pid, dir, sizeof(dir));

	if (r == -EINVAL)
		return r;
	if (snprintf(buf, len, "%s/%s", dir, what) >= (int)len)
		return -ENAMETOOLONG;
	return r;
}

static int read_maps(const char *path, struct ldp_maps *ret)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = ldp_read_file(path, O_NOCTTY, MAX_MAPS_TEXT, &buf, &len);
	if (r < 0)
		return r;
	r = ldp_maps_parse(buf, len, ret);
	free(buf);
	return r;
}

int ldp_maps_read(pid_t pid, struct ldp_maps *ret)
{
	char path[96];
	int r;

	if (pid < 0 || !ret)
		return -EINVAL;
	/* Our own through thread-self: /proc/self is the main thread's view, and a main thread
	 * that called pthread_exit() leaves it empty while the process goes on. */
	if (pid == 0) {
		r = read_maps("/proc/thread-self/maps", ret);
		if (r == -ENOENT) /* a kernel before 3.17 */
			r = read_maps("/proc/self/maps", ret);
		return r;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	r = read_maps(path, ret);
	if (r < 0 || ret->n)
		return r;
	/* empty: the process has exited, or only its main thread has */
	if (ldp_proc_path(pid, "maps", path, sizeof(path)) < 0)
		return 0;
	ldp_maps_free(ret);
	return read_maps(path, ret);
}

/* PROCMAP_QUERY (Linux 6.11, include/uapi/linux/fs.h), declared here: Debian 12's headers
 * predate it. One ioctl on the maps file finds the next mapping with the flags asked for. */
#define LDP_PROCMAP_QUERY 0xC0686611u /* _IOWR('f', 17, struct procmap_query) */
#define LDP_PMQ_READABLE 0x01u
#define LDP_PMQ_WRITABLE 0x02u
#define LDP_PMQ_EXECUTABLE 0x04u
#define LDP_PMQ_SHARED 0x08u
#define LDP_PMQ_COVERING_OR_NEXT 0x10u

struct procmap_query {
	uint64_t size, query_flags, query_addr;
	uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};

int ldp_maps_read_exec(const char *proc_dir, size_t max, struct ldp_maps *ret)
{
	char path[96];
	int fd, r;

	if (!proc_dir || !ret || !max)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/maps", proc_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = ldp_maps_read_exec_fd(fd, max, ret);
	close(fd);
	return r;
}

int ldp_maps_read_exec_fd(int fd, size_t max, struct ldp_maps *ret)
{
	struct ldp_map *v = NULL, *out;
	char name[PATH_MAX + 32], *names = NULL, *arena;
	size_t n = 0, cap = 0, nlen = 0, ncap = 0;
	uint64_t addr = 0;
	int r;

	if (fd < 0 || !ret || !max)
		return -EINVAL;
	for (;;) {
		struct procmap_query q = {
			.size = sizeof(q), .query_addr = addr,
			.query_flags = LDP_PMQ_COVERING_OR_NEXT | LDP_PMQ_EXECUTABLE,
			.vma_name_addr = (uint64_t)(uintptr_t)name, .vma_name_size = sizeof(name),
		};
		size_t len;

		if (ioctl(fd, LDP_PROCMAP_QUERY, &q) < 0) {
			if (errno == ENAMETOOLONG) { /* a name past PATH_MAX: the mapping, unnamed */
				q.vma_name_addr = 0;
				q.vma_name_size = 0;
				if (ioctl(fd, LDP_PROCMAP_QUERY, &q) == 0)
					goto got;
			}
			r = errno == ENOENT ? 0 : -errno; /* ENOENT: no further mapping */
			if (r == -EINVAL || r == -ENOTTY)
				r = -ENOTTY; /* a kernel before 6.11 */
			if (r < 0)
				goto out;
			break;
		}
got:
		if (n == max)
			break;
		len = q.vma_name_size ? strnlen(name, q.vma_name_size) : 0;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct ldp_map *nv = realloc(v, c * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = c;
		}
		if (nlen + len + 1 > ncap) {
			size_t c = ncap ? ncap * 2 : 4096;
			char *nn;

			while (c < nlen + len + 1)
				c *= 2;
			nn = realloc(names, c);
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
			ncap = c;
		}
		memcpy(names + nlen, name, len);
		names[nlen + len] = 0;
		v[n] = (struct ldp_map){
			.start = q.vma_start, .end = q.vma_end, .offset = q.vma_offset, .inode = q.inode,
			.dev_major = q.dev_major, .dev_minor = q.dev_minor,
			.path = (char *)(uintptr_t)nlen, /* an offset until the arena is made */
		};
		snprintf(v[n].perms, sizeof(v[n].perms), "%c%c%c%c",
			 q.vma_flags & LDP_PMQ_READABLE ? 'r' : '-', q.vma_flags & LDP_PMQ_WRITABLE ? 'w' : '-',
			 q.vma_flags & LDP_PMQ_EXECUTABLE ? 'x' : '-', q.vma_flags & LDP_PMQ_SHARED ? 's' : 'p');
		nlen += len + 1;
		n++;
		if (q.vma_end <= addr)
			break; /* cannot happen: the kernel's mappings are in order */
		addr = q.vma_end;
	}
	/* one block, as ldp_maps_parse makes: the array, then the names */
	out = malloc(n * sizeof(*out) + nlen + 1);
	r = -ENOMEM;
	if (!out)
		goto out;
	arena = (char *)(out + n);
	if (nlen)
		memcpy(arena, names, nlen);
	for (size_t i = 0; i < n; i++) {
		out[i] = v[i];
		out[i].path = arena + (size_t)(uintptr_t)v[i].path;
	}
	ret->maps = out;
	ret->n = n;
	r = 0;
out:
	free(v);
	free(names);
	return r;
}

void ldp_maps_free(struct ldp_maps *m)
{
	if (!m)
		return;
	free(m->maps);
	m->maps = NULL;
	m->n = 0;
}

const struct ldp_map *ldp_maps_find(const struct ldp_maps *m, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!m || m->n == 0)
		return NULL;
	hi = m->n;
	while (lo < hi) { /* first mapping starting after addr */
		size_t mid = lo + (hi - lo) / 2;

		if (m->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || addr >= m->maps[lo - 1].end)
		return NULL;
	return &m->maps[lo - 1];
}

int ldp_proc_stat_ppid(const char *buf, size_t len, pid_t *ppid)
{
	/* comm may hold anything, ')' included: the fields go on after the last ')' */
	const char *p = memrchr(buf, ')', len), *end = buf + len;
	long v = 0;
	int digits = 0;

	/* ") S PPID ": the state, then the parent */
	if (!p || end - p < 5 || p[1] != ' ' || p[3] != ' ')
		return -EPROTO;
	for (p += 4; p < end && *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
		v = v * 10 + (*p - '0');
	if (!digits || v > INT32_MAX || (p < end && *p != ' ' && *p != '\n'))
		return -EPROTO;
	*ppid = (pid_t)v;
	return 0;
}

int ldp_proc_ppid(pid_t pid, pid_t *ppid)
{
	char path[64], *buf = NULL;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = ldp_read_file(path, O_NOCTTY, 4096, &buf, &len);
	if (r < 0)
		return r;
	r = ldp_proc_stat_ppid(buf, len, ppid);
	free(buf);
	return r;
}

int ldp_proc_uids(pid_t pid, uid_t *real, uid_t *eff)
{
	char path[64], *buf = NULL, *s;
	unsigned long r, e;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ret = ldp_read_file(path, 0, 64 * 1024, &buf, &len);
	if (ret < 0)
		return ret;
	s = strstr(buf, "\nUid:");
	ret = -EPROTO;
	if (s && sscanf(s + 5, "%lu %lu", &r, &e) == 2) {
		*real = (uid_t)r;
		*eff = (uid_t)e;
		ret = 0;
	}
	free(buf);
	return ret;
}
