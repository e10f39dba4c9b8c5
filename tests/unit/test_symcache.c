/* SPDX-License-Identifier: MIT
 *
 * test_symcache.c — common/symcache.c: symbol tables shared across profiles, read on the
 * cache's thread, under budgets.
 *
 * On real files (this test's own executable, copied and hard-linked into a folder of its own,
 * and libc): one read per file whatever the names it is reached by, links on the way refused,
 * a file replaced since it was mapped refused, the memory budget of a uid and of the cache
 * (refusal before reading; unused tables dropped to make room), the time budget (a uid over it
 * waits for its next window while root's file is read), a queued file nobody wants any more
 * never read, idle tables dropped.
 * Prints one line per check; exits 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "symcache.h"

#include "check.h"

/* as /proc/PID/maps names it: /lib is a link to usr/lib on Debian 12, and links are refused */
#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"

static char dir[64], exe_copy[PATH_MAX], exe_link[PATH_MAX], exe_copy2[PATH_MAX];
static int rootfd;

static int copy(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0755);
	ssize_t n;
	int r = in >= 0 && out >= 0 ? 0 : -1;

	while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			r = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		r = -1;
	return r;
}

static uint64_t inode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static struct ldp_symcache_limits roomy(void)
{
	struct ldp_symcache_limits l = ldp_symcache_defaults;

	return l;
}

static void test_shared_and_checked(void)
{
	struct ldp_symcache_limits l = roomy();
	struct ldp_symfile *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	struct ldp_symcache_stats st;
	struct ldp_symcache *sc;
	char path[PATH_MAX + 16];
	int r;

	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	r = ldp_symcache_get(sc, rootfd, exe_copy, inode_of(exe_copy), 1000, &a);
	CHECK(r == 0, "a file is queued (%d)", r);
	r = ldp_symcache_get(sc, rootfd, exe_link, inode_of(exe_link), 1001, &b);
	CHECK(r == 0 && b == a, "its hard link is the same file, whoever asks (%d)", r);
	CHECK(ldp_symcache_drain(sc, 10000000000LL) == 0, "the queue drains");
	CHECK(ldp_symcache_syms(a) && ldp_elfsym_count(ldp_symcache_syms(a)) > 100,
	      "the table is read (%zu functions)", ldp_elfsym_count(ldp_symcache_syms(a)));
	CHECK(!ldp_symcache_pending(a) && ldp_symcache_error(a) == 0, "not pending, no error");
	r = ldp_symcache_get(sc, rootfd, exe_copy2, inode_of(exe_copy2), 1000, &c);
	CHECK(r == 0 && c != a, "a copy is another file (%d)", r);
	ldp_symcache_drain(sc, 10000000000LL);
	ldp_symcache_stats(sc, &st);
	CHECK(st.reads == 2 && st.hits == 1 && st.files == 2, "two reads, one hit (%llu, %llu, %u)",
	      (unsigned long long)st.reads, (unsigned long long)st.hits, st.files);

	snprintf(path, sizeof(path), "%s/symlink", dir);
	r = ldp_symcache_get(sc, rootfd, path, 0, 1000, &d);
	CHECK(r == -ELOOP, "a symbolic link is not followed (%d)", r);
	snprintf(path, sizeof(path), "%s/dirlink/exe", dir);
	r = ldp_symcache_get(sc, rootfd, path, 0, 1000, &d);
	CHECK(r == -ELOOP, "nor a link to a folder on the way (%d)", r);
	r = ldp_symcache_get(sc, rootfd, exe_copy, inode_of(exe_copy2), 1000, &d);
	CHECK(r == -ESTALE, "a file that is not the one mapped is refused (%d)", r);
	r = ldp_symcache_get(sc, rootfd, dir, 0, 1000, &d);
	CHECK(r == -ENOEXEC, "a folder is no file (%d)", r);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	r = ldp_symcache_get(sc, rootfd, path, 0, 1000, &d);
	CHECK(r == -ENOEXEC, "nor a FIFO (%d)", r);
	snprintf(path, sizeof(path), "%s/exe", dir + 1); /* relative: still under rootfd */
	r = ldp_symcache_get(sc, rootfd, path, 0, 1000, &d);
	CHECK(r == 0 && d == a, "a path is taken from the root given (%d)", r);
	ldp_symcache_put(d);

	ldp_symcache_put(a);
	ldp_symcache_put(b);
	ldp_symcache_put(c);
	ldp_symcache_stats(sc, &st);
	CHECK(st.files == 2, "unused tables are kept for later users (%u)", st.files);
	ldp_symcache_free(sc);
}

static void test_memory_budgets(void)
{
	struct ldp_symcache_limits l = roomy();
	struct ldp_symfile *a = NULL, *b = NULL;
	struct ldp_symcache_stats st;
	struct ldp_symcache *sc;
	uint64_t bytes, libc_bytes;
	int64_t ns;
	int r;

	/* libc's size, as this cache counts it */
	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	r = ldp_symcache_get(sc, rootfd, LIBC, 0, 1000, &a);
	ldp_symcache_drain(sc, 10000000000LL);
	libc_bytes = ldp_elfsym_bytes(ldp_symcache_syms(a));
	ldp_symcache_uid_usage(sc, 1000, &bytes, &ns);
	CHECK(r == 0 && libc_bytes > 0 && bytes == libc_bytes && ns > 0,
	      "a table is charged to the uid that asked first (%llu bytes, %lld ns)",
	      (unsigned long long)bytes, (long long)ns);
	ldp_symcache_uid_usage(sc, 1001, &bytes, &ns);
	CHECK(bytes == 0 && ns == 0, "and to no other");
	ldp_symcache_put(a);
	ldp_symcache_free(sc);

	/* a uid budget too small for anything: refused without reading */
	l.uid_bytes = 32 << 10;
	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	ldp_symcache_get(sc, rootfd, LIBC, 0, 1000, &a);
	ldp_symcache_get(sc, rootfd, exe_copy, 0, 0, &b);
	ldp_symcache_drain(sc, 10000000000LL);
	ldp_symcache_stats(sc, &st);
	CHECK(!ldp_symcache_syms(a) && ldp_symcache_error(a) == -EDQUOT,
	      "over its uid's budget: no table (%d)", ldp_symcache_error(a));
	CHECK(ldp_symcache_syms(b) != NULL, "root has no uid budget, only the cache's");
	CHECK(st.over_budget == 1 && st.reads == 1, "refused before reading (%llu, %llu)",
	      (unsigned long long)st.over_budget, (unsigned long long)st.reads);
	ldp_symcache_put(a);
	ldp_symcache_put(b);
	ldp_symcache_free(sc);

	/* a budget the tables need more than: the parser stops (-E2BIG) */
	l.uid_bytes = libc_bytes; /* its peak is about twice the result */
	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	ldp_symcache_get(sc, rootfd, LIBC, 0, 1000, &a);
	ldp_symcache_drain(sc, 10000000000LL);
	CHECK(!ldp_symcache_syms(a) && ldp_symcache_error(a) == -E2BIG,
	      "a table that would pass the budget at its peak is refused (%d)", ldp_symcache_error(a));
	ldp_symcache_uid_usage(sc, 1000, &bytes, &ns);
	CHECK(bytes == 0, "and nothing stays charged (%llu)", (unsigned long long)bytes);
	ldp_symcache_put(a);
	ldp_symcache_free(sc);

	/* the cache's cap: an unused table makes room for a new one */
	l = roomy();
	l.max_bytes = 3 * libc_bytes; /* the executable (2 MiB) may need more than what is left */
	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	ldp_symcache_get(sc, rootfd, LIBC, 0, 1000, &a);
	ldp_symcache_drain(sc, 10000000000LL);
	ldp_symcache_put(a);
	ldp_symcache_get(sc, rootfd, exe_copy, 0, 1001, &b);
	ldp_symcache_drain(sc, 10000000000LL);
	ldp_symcache_stats(sc, &st);
	CHECK(ldp_symcache_syms(b) && st.files == 1 && st.bytes <= l.max_bytes,
	      "the unused table was dropped for the new one (%u files, %llu bytes)", st.files,
	      (unsigned long long)st.bytes);
	ldp_symcache_put(b);
	ldp_symcache_free(sc);
}

static void test_time_budget(void)
{
	struct ldp_symcache_limits l = roomy();
	struct ldp_symfile *a = NULL, *b = NULL, *c = NULL;
	struct ldp_symcache_stats st;
	struct ldp_symcache *sc;

	l.uid_read_ns = 1;
	l.window_ns = 3600LL * 1000000000LL;
	l.idle_ns = 1;
	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	ldp_symcache_get(sc, rootfd, LIBC, 0, 1000, &a);
	ldp_symcache_drain(sc, 10000000000LL);
	CHECK(ldp_symcache_syms(a) != NULL, "the first read of a uid runs");
	ldp_symcache_get(sc, rootfd, exe_copy, 0, 1000, &b);
	ldp_symcache_get(sc, rootfd, exe_copy2, 0, 0, &c);
	CHECK(ldp_symcache_drain(sc, 500000000LL) == -ETIMEDOUT, "a uid over its time waits");
	CHECK(ldp_symcache_pending(b), "its file stays queued");
	CHECK(ldp_symcache_syms(c) != NULL, "while root's is read");
	ldp_symcache_stats(sc, &st);
	CHECK(st.throttled == 1 && st.reads == 2, "one file waits, two were read (%llu, %llu)",
	      (unsigned long long)st.throttled, (unsigned long long)st.reads);
	ldp_symcache_put(b);
	ldp_symcache_stats(sc, &st);
	CHECK(st.queued == 0 && st.files == 2, "a queued file nobody wants is forgotten unread");
	ldp_symcache_put(a);
	ldp_symcache_put(c);
	for (int i = 0; i < 40; i++) {
		ldp_symcache_stats(sc, &st);
		if (!st.files)
			break;
		usleep(100000);
	}
	CHECK(st.files == 0 && st.bytes == 0, "idle tables are dropped (%u left)", st.files);
	ldp_symcache_free(sc);
}

/* Voluntary context switches of this process's threads other than the main one. */
static long others_switches(void)
{
	char path[300], line[128];
	long total = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.' || atoi(de->d_name) == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "voluntary_ctxt_switches:", 24))
				total += atol(line + 24);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

/* With nothing queued and a table let go (dropped ten minutes from now), the reading thread
 * sleeps: no wake-up in over a second (it ticked every second). */
static void test_asleep_when_idle(void)
{
	struct ldp_symcache_limits l = roomy();
	struct ldp_symfile *a = NULL;
	struct ldp_symcache *sc;
	long before, after;

	CHECK(ldp_symcache_new(&l, &sc) == 0, "a cache starts");
	ldp_symcache_get(sc, rootfd, LIBC, 0, 0, &a);
	ldp_symcache_drain(sc, 10000000000LL);
	ldp_symcache_put(a);
	usleep(100000);
	before = others_switches();
	usleep(1300000);
	after = others_switches();
	CHECK(before > 0 && after == before, "the reading thread woke %ld times in 1.3 s of nothing to do", after - before);
	ldp_symcache_free(sc);
}

int main(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char tmpl[] = "/tmp/test_symcache.XXXXXX";

	if (n <= 0 || !mkdtemp(tmpl))
		return 1;
	exe[n] = 0;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(exe_copy, sizeof(exe_copy), "%s/exe", dir);
	snprintf(exe_link, sizeof(exe_link), "%s/hardlink", dir);
	snprintf(exe_copy2, sizeof(exe_copy2), "%s/exe2", dir);
	if (copy(exe, exe_copy) < 0 || copy(exe, exe_copy2) < 0 || link(exe_copy, exe_link) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/symlink", dir);
	if (symlink(exe_copy, path) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/dirlink", dir);
	if (symlink(dir, path) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600) < 0)
		return 1;
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	test_shared_and_checked();
	test_memory_budgets();
	test_time_budget();
	test_asleep_when_idle();

	close(rootfd);
	for (const char *f = "exe\0exe2\0hardlink\0symlink\0dirlink\0fifo\0"; *f; f += strlen(f) + 1) {
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		unlink(path);
	}
	rmdir(dir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
