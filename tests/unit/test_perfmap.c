/* SPDX-License-Identifier: MIT
 *
 * test_perfmap.c — common/perfmap.c: the parser on handcrafted lines (good, bad, cut, long,
 * overlapping), lookups, and the reader on files of this process's own, planted the ways a
 * hostile user would (a link, a FIFO, a second hard link, the wrong owner).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "perfmap.h"

static void parser(void)
{
	static const char text[] =
		"7f0000001000 100 JS:*hot /tmp/x.js:1:2\n"
		"0x7f0000002000 0x80 Builtin:ArgumentsAdaptor\n"
		"zz 10 bad start\n"
		"7f0000003000 0 zero size\n"
		"7f0000003000 10\n"                      /* no name */
		"7f0000004000 40 name with\ttab and \x01 control\n"
		"ffffffffffffffff 10 wraps\n"
		"7f0000001010 20 JS:*later, over hot\n"
		"7f0000005000 10 cut here"; /* no '\n': left for the next read */
	struct ldp_perfmap *pm;
	size_t used = 0;
	const char *n;

	CHECK(ldp_perfmap_new(1, &pm) == 0, "new");
	CHECK(ldp_perfmap_parse(pm, text, sizeof(text) - 1, &used) == 0, "parse");
	CHECK(used == (size_t)(strrchr(text, '\n') + 1 - text), "used %zu: up to the last newline", used);
	CHECK(ldp_perfmap_count(pm) == 4, "%zu lines kept (4 good)", ldp_perfmap_count(pm));
	n = ldp_perfmap_lookup(pm, 0x7f0000001000);
	CHECK(n && !strcmp(n, "JS:*hot /tmp/x.js:1:2"), "start of hot: %s", n ? n : "(null)");
	n = ldp_perfmap_lookup(pm, 0x7f0000001018);
	CHECK(n && !strcmp(n, "JS:*later, over hot"), "the later line wins where they overlap: %s", n ? n : "(null)");
	n = ldp_perfmap_lookup(pm, 0x7f0000001040);
	CHECK(n && !strcmp(n, "JS:*hot /tmp/x.js:1:2"), "past the later line, hot again: %s", n ? n : "(null)");
	CHECK(!ldp_perfmap_lookup(pm, 0x7f0000001100), "end is exclusive");
	CHECK(!ldp_perfmap_lookup(pm, 0x7f0000000fff), "below every line");
	n = ldp_perfmap_lookup(pm, 0x7f000000207f);
	CHECK(n && !strcmp(n, "Builtin:ArgumentsAdaptor"), "0x prefixes: %s", n ? n : "(null)");
	n = ldp_perfmap_lookup(pm, 0x7f0000004000);
	CHECK(n && !strcmp(n, "name with?tab and ? control"), "control characters replaced: %s", n ? n : "(null)");
	CHECK(!ldp_perfmap_lookup(pm, 0x7f0000005000), "a cut line is not taken");
	CHECK(!ldp_perfmap_lookup(pm, 0xfffffffffffffff0ull), "a range past 2^64 is not taken");
	ldp_perfmap_free(pm);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* This process's map, where ldp_perfmap_update() looks for it (our own /tmp). */
static void reader(void)
{
	char path[64], other[64];
	struct ldp_perfmap *pm;
	const char *n;
	int fd;

	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	snprintf(other, sizeof(other), "/tmp/ldprof-test-perfmap-%d", (int)getpid());
	unlink(path);
	CHECK(ldp_perfmap_new(getpid(), &pm) == 0, "new");
	CHECK(ldp_perfmap_update(pm) == -ENOENT, "no map yet");

	CHECK(write_file(path, "1000 10 first\n2000 10 sec") == 0, "write");
	CHECK(ldp_perfmap_update(pm) == 0, "read");
	n = ldp_perfmap_lookup(pm, 0x1005);
	CHECK(n && !strcmp(n, "first"), "first: %s", n ? n : "(null)");
	CHECK(!ldp_perfmap_lookup(pm, 0x2000), "the cut line waits");
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0 && write(fd, "ond\n", 4) == 4, "append");
	close(fd);
	CHECK(ldp_perfmap_update(pm) == 0, "read on");
	n = ldp_perfmap_lookup(pm, 0x2000);
	CHECK(n && !strcmp(n, "second"), "the appended line, whole: %s", n ? n : "(null)");
	CHECK(ldp_perfmap_count(pm) == 2, "%zu lines, none twice", ldp_perfmap_count(pm));

	/* replaced by a shorter file: read again from its start */
	unlink(path);
	CHECK(write_file(path, "3000 10 third\n") == 0, "rewrite");
	CHECK(ldp_perfmap_update(pm) == 0, "read the new file");
	CHECK(ldp_perfmap_count(pm) == 1 && !ldp_perfmap_lookup(pm, 0x1005), "the old file's lines are gone");

	/* planted: a symbolic link to a file of ours is refused, not followed */
	unlink(path);
	CHECK(write_file(other, "4000 10 secret\n") == 0, "the other file");
	CHECK(symlink(other, path) == 0, "symlink");
	CHECK(ldp_perfmap_update(pm) == -EPERM, "a link is refused");
	CHECK(!ldp_perfmap_lookup(pm, 0x4000), "nothing of the linked file");
	/* a second hard link to another file */
	unlink(path);
	CHECK(link(other, path) == 0, "hard link");
	CHECK(ldp_perfmap_update(pm) == -EPERM, "a file with two links is refused");
	/* a FIFO: refused at once, never waited on */
	unlink(path);
	CHECK(mkfifo(path, 0644) == 0, "fifo");
	CHECK(ldp_perfmap_update(pm) == -EPERM, "a FIFO is refused");
	/* another user's file */
	unlink(path);
	CHECK(write_file(path, "5000 10 not ours\n") == 0, "write");
	if (geteuid() == 0) {
		CHECK(chown(path, 65534, 65534) == 0, "chown");
		CHECK(ldp_perfmap_update(pm) == -EPERM, "a file of another user's is refused");
		CHECK(!ldp_perfmap_lookup(pm, 0x5000), "nothing of it");
	}
	unlink(path);
	unlink(other);
	ldp_perfmap_free(pm);
}

int main(void)
{
	parser();
	reader();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
