/* SPDX-License-Identifier: MIT
 *
 * test_procmaps.c — common/procmaps.c on a handcrafted maps text full of edge cases, then on
 * this process's own /proc/self/maps. Exits non-zero after printing every failed check.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procmaps.h"
#include "leaderless.h"

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

static const char text[] =
	"55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234                       /usr/bin/my prog\n"
	"55d0c0a02000-55d0c0a05000 r-xp 00002000 08:01 1234                       /usr/bin/my prog\n"
	"55d0c0a01000-55d0c0a03000 r-xp 00000000 08:01 1234                       /overlaps\n"
	"55d0c0c00000-55d0c0c21000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n"
	"7f0000001000-7f0000002000 r-xs 00001000 fd:102 99999999999              "
	"/tmp/lib with  spaces.so (deleted)\n"
	"garbage line here\n"
	"\n"
	"7f0000003000-7f0000002000 r-xp 00000000 00:00 0                          /start-after-end\n"
	"7f0000004000-7f0000005000 rwzp 00000000 00:00 0                          /bad-perms\n"
	"7f0000005000-7f0000006000 r-xp 00000000 00:00 0x12\n"
	"7f0000005000-7f0000006000 r-xp 00000000 00:00 12/no-space\n"
	"7f0000005000-7f0000006000  r-xp 00000000 00:00 12 /two-spaces\n"
	"17f00000050000000-17f00000060000000 r-xp 00000000 00:00 0                /17-digits\n"
	"7f0000005000-7f0000006000 r-xp 00000000 00:00 99999999999999999999999 /inode-overflow\n"
	"7f0000005000-7f0000006000 r-xp 00000000 00:00 0 /nul\0inside\n"
	"7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7f0000006000-7f0000007000 r-xp 00000000 00:00 0\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
	"7f0000008000-7f0000009000 r-xp 00000000 08:01 5 /usr/lib/libcut-off.so";

struct expect {
	uint64_t start, end, offset, inode;
	unsigned major, minor;
	const char *perms, *path;
};

static const struct expect want[] = {
	{ 0x55d0c0a00000, 0x55d0c0a02000, 0, 1234, 8, 1, "r--p", "/usr/bin/my prog" },
	{ 0x55d0c0a02000, 0x55d0c0a05000, 0x2000, 1234, 8, 1, "r-xp", "/usr/bin/my prog" },
	{ 0x55d0c0c00000, 0x55d0c0c21000, 0, 0, 0, 0, "rw-p", "[heap]" },
	{ 0x7f0000000000, 0x7f0000001000, 0, 0, 0, 0, "rw-p", "" },
	{ 0x7f0000001000, 0x7f0000002000, 0x1000, 99999999999ull, 0xfd, 0x102, "r-xs",
	  "/tmp/lib with  spaces.so (deleted)" },
	{ 0x7f0000006000, 0x7f0000007000, 0, 0, 0, 0, "r-xp", "" },
	{ 0x7ffc00000000, 0x7ffc00002000, 0, 0, 0, 0, "r-xp", "[vdso]" },
	{ 0xffffffffff600000, 0xffffffffff601000, 0, 0, 0, 0, "--xp", "[vsyscall]" },
};

static void test_handcrafted(void)
{
	const size_t nwant = sizeof(want) / sizeof(want[0]);
	struct ldp_maps m = { 0 };
	const struct ldp_map *f;
	int r;

	r = ldp_maps_parse(text, sizeof(text) - 1, &m);
	CHECK(r == 0, "ldp_maps_parse returned %d", r);
	CHECK(m.n == nwant, "parsed %zu mappings, want %zu", m.n, nwant);
	for (size_t i = 0; i < m.n && i < nwant; i++) {
		const struct ldp_map *g = &m.maps[i];
		const struct expect *w = &want[i];

		CHECK(g->start == w->start && g->end == w->end, "map %zu: %llx-%llx", i,
		      (unsigned long long)g->start, (unsigned long long)g->end);
		CHECK(g->offset == w->offset, "map %zu: offset %llx", i, (unsigned long long)g->offset);
		CHECK(g->inode == w->inode, "map %zu: inode %llu", i, (unsigned long long)g->inode);
		CHECK(g->dev_major == w->major && g->dev_minor == w->minor, "map %zu: dev %x:%x", i,
		      g->dev_major, g->dev_minor);
		CHECK(strcmp(g->perms, w->perms) == 0, "map %zu: perms '%s'", i, g->perms);
		CHECK(strcmp(g->path, w->path) == 0, "map %zu: path '%s', want '%s'", i, g->path,
		      w->path);
	}

	f = ldp_maps_find(&m, 0x55d0c0a02000);
	CHECK(f == &m.maps[1], "find at a mapping's start");
	f = ldp_maps_find(&m, 0x55d0c0a04fff);
	CHECK(f == &m.maps[1], "find at a mapping's last byte");
	CHECK(ldp_maps_find(&m, 0x55d0c0a05000) == NULL, "find at a mapping's end");
	CHECK(ldp_maps_find(&m, 0) == NULL, "find below every mapping");
	CHECK(ldp_maps_find(&m, 0x7f0000008000) == NULL, "find in the cut-off last line");
	f = ldp_maps_find(&m, 0xffffffffff600fff);
	CHECK(f && strcmp(f->path, "[vsyscall]") == 0, "find in the last mapping");
	CHECK(ldp_maps_find(&m, UINT64_MAX) == NULL, "find at UINT64_MAX");
	ldp_maps_free(&m);
	CHECK(m.maps == NULL && m.n == 0, "ldp_maps_free clears");
	ldp_maps_free(&m);
	ldp_maps_free(NULL);

	/* A text cut inside its first line, an empty text, and bad arguments. */
	r = ldp_maps_parse(text, 30, &m);
	CHECK(r == 0 && m.n == 0, "cut first line: r=%d n=%zu", r, m.n);
	ldp_maps_free(&m);
	r = ldp_maps_parse("", 0, &m);
	CHECK(r == 0 && m.n == 0 && m.maps == NULL, "empty text: r=%d n=%zu", r, m.n);
	CHECK(ldp_maps_parse(NULL, 10, &m) == -EINVAL, "NULL text");
	CHECK(ldp_maps_find(NULL, 1) == NULL, "find in NULL");
}

static __attribute__((noinline)) int marker(int x)
{
	return x * 3 + 1;
}

/* The parent from /proc/PID/stat: after the last ')' of comm, whatever comm holds. */
static void test_stat_ppid(void)
{
	static const struct {
		const char *text;
		int r;
		pid_t ppid;
	} cases[] = {
		{ "3393 (cat) R 13857 13857 17262 0 -1\n", 0, 13857 },
		{ "7 (a) b) S 1 7 7 0\n", 0, 1 },            /* ')' inside comm */
		{ "7 (x) S 0 0 0", 0, 0 },                   /* the parent of PID 1 */
		{ "8 (y) Z 42", 0, 42 },                     /* at the very end */
		{ "9 (z) S 12a 1", -EPROTO, 0 },             /* not a number */
		{ "9 (z) S ", -EPROTO, 0 },                  /* cut */
		{ "9 (z) S", -EPROTO, 0 },
		{ "9 (z) S 99999999999 1", -EPROTO, 0 },     /* too large */
		{ "9 z S 1 1", -EPROTO, 0 },                 /* no comm */
	};
	pid_t ppid;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		ppid = -1;
		r = ldp_proc_stat_ppid(cases[i].text, strlen(cases[i].text), &ppid);
		CHECK(r == cases[i].r && (r < 0 || ppid == cases[i].ppid), "stat_ppid(%s) = %d, %d",
		      cases[i].text, r, (int)ppid);
	}
	/* our own, and a missing one */
	CHECK(ldp_proc_ppid(getpid(), &ppid) == 0 && ppid == getppid(), "ldp_proc_ppid(self) = %d, want %d",
	      (int)ppid, (int)getppid());
	CHECK(ldp_proc_ppid(INT32_MAX, &ppid) < 0, "ldp_proc_ppid of no process");
}

static void test_self(void)
{
	int (*volatile fn)(int) = marker;
	char exe[4096];
	ssize_t len;
	struct ldp_maps m = { 0 };
	const struct ldp_map *f;
	int r;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(len > 0, "readlink /proc/self/exe: %s", strerror(errno));
	if (len <= 0)
		return;
	exe[len] = '\0';

	r = ldp_maps_read(0, &m);
	CHECK(r == 0, "ldp_maps_read(0): %d", r);
	CHECK(m.n > 5, "only %zu mappings in /proc/self/maps", m.n);
	f = ldp_maps_find(&m, (uintptr_t)fn);
	CHECK(f != NULL, "no mapping holds marker() at %p", (void *)(uintptr_t)fn);
	if (f) {
		CHECK(strcmp(f->path, exe) == 0, "marker() is in '%s', want '%s'", f->path, exe);
		CHECK(f->perms[2] == 'x', "marker() is in a mapping with perms '%s'", f->perms);
	}
	f = ldp_maps_find(&m, (uintptr_t)&m);
	CHECK(f && strcmp(f->path, "[stack]") == 0, "a local variable is in '%s'",
	      f ? f->path : "(none)");
	for (size_t i = 1; i < m.n; i++)
		CHECK(m.maps[i - 1].end <= m.maps[i].start, "mappings %zu and %zu overlap", i - 1, i);
	ldp_maps_free(&m);

	r = ldp_maps_read(getpid(), &m);
	CHECK(r == 0 && m.n > 5, "ldp_maps_read(getpid()): r=%d n=%zu", r, m.n);
	ldp_maps_free(&m);
	CHECK(ldp_maps_read(-1, &m) == -EINVAL, "ldp_maps_read(-1)");
}

/* Only the executable mappings, one ioctl each: the same ones, with the same fields, as the
 * whole file gives; at most max of them. */
static void test_exec_only(void)
{
	struct ldp_maps all = { 0 }, ex = { 0 }, few = { 0 };
	char dir[64];
	size_t k = 0;
	int r;

	snprintf(dir, sizeof(dir), "/proc/%d", (int)getpid());
	r = ldp_maps_read_exec(dir, 100000, &ex);
	if (r == -ENOTTY) {
		printf("test_procmaps: no PROCMAP_QUERY on this kernel (before 6.11): exec-only reads "
		       "fall back to the whole file\n");
		return;
	}
	CHECK(r == 0 && ex.n >= 3, "ldp_maps_read_exec: r=%d n=%zu", r, ex.n);
	CHECK(ldp_maps_read(getpid(), &all) == 0, "ldp_maps_read");
	for (size_t i = 0; i < all.n; i++) {
		const struct ldp_map *a = &all.maps[i], *e;

		/* [vsyscall] is the kernel's gate page, not a mapping of the process: the ioctl
		 * does not see it (no user code runs there: it is emulated) */
		if (all.maps[i].perms[2] != 'x' || !strcmp(all.maps[i].path, "[vsyscall]"))
			continue;
		if (k >= ex.n) {
			CHECK(0, "exec-only lacks %s at %llx", a->path, (unsigned long long)a->start);
			break;
		}
		e = &ex.maps[k++];
		CHECK(a->start == e->start && a->end == e->end && a->offset == e->offset &&
		      a->inode == e->inode && a->dev_major == e->dev_major &&
		      a->dev_minor == e->dev_minor && !strcmp(a->perms, e->perms) &&
		      !strcmp(a->path, e->path),
		      "mapping %zu: %llx-%llx %s %s vs %llx-%llx %s %s", k - 1,
		      (unsigned long long)a->start, (unsigned long long)a->end, a->perms, a->path,
		      (unsigned long long)e->start, (unsigned long long)e->end, e->perms, e->path);
	}
	CHECK(k == ex.n, "exec-only has %zu mappings, the file %zu executable ones", ex.n, k);
	r = ldp_maps_read_exec(dir, 2, &few);
	CHECK(r == 0 && few.n == 2 && few.maps[1].start == ex.maps[1].start,
	      "at most max, the first ones: r=%d n=%zu", r, few.n);
	CHECK(ldp_maps_read_exec(NULL, 10, &few) == -EINVAL, "a folder is needed");
	ldp_maps_free(&few);
	ldp_maps_free(&all);
	ldp_maps_free(&ex);
}

/* A process whose main thread is gone is read through a thread that is not. */
static void test_leaderless(void)
{
	struct leaderless l;
	struct ldp_maps maps = { 0 };
	char dir[64], want[64], exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int r, found = 0;

	exe[n > 0 ? n : 0] = 0;
	CHECK(ldp_proc_dir(0, dir, sizeof(dir)) == 0 && !strcmp(dir, "/proc/thread-self"), "self: %s", dir);
	snprintf(want, sizeof(want), "/proc/%d", (int)getpid());
	CHECK(ldp_proc_dir(getpid(), dir, sizeof(dir)) == 0 && !strcmp(dir, want), "a live main thread: %s", dir);
	if (leaderless_start(&l) < 0) {
		CHECK(0, "cannot start a child whose main thread has left");
		return;
	}
	snprintf(want, sizeof(want), "/proc/%d/task/", (int)l.pid);
	r = ldp_proc_dir(l.pid, dir, sizeof(dir));
	CHECK(r == 0 && !strncmp(dir, want, strlen(want)) && atoi(dir + strlen(want)) > l.pid,
	      "main thread gone: %d %s", r, dir);
	r = ldp_maps_read(l.pid, &maps);
	for (size_t i = 0; r == 0 && i < maps.n; i++)
		found |= !strcmp(maps.maps[i].path, exe);
	CHECK(r == 0 && maps.n > 0 && found, "its maps, through its live thread: %d, %zu mappings", r, maps.n);
	ldp_maps_free(&maps);
	CHECK(leaderless_end(&l) == 0, "the child ends when its last thread does");
	CHECK(ldp_proc_dir(l.pid, dir, sizeof(dir)) < 0, "no thread left: %s", dir);
}

int main(void)
{
	test_handcrafted();
	test_stat_ppid();
	test_self();
	test_exec_only();
	test_leaderless();
	if (failures) {
		fprintf(stderr, "test_procmaps: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_procmaps: ok\n");
	return 0;
}
