/* SPDX-License-Identifier: MIT
 *
 * test_fileio.c — common/fileio.c: the private folder of a uid under a configured base, and
 * opening it with no link followed (issue 18, findings 4 and 7).
 *
 * Run as root (make check is), so that folders of other users can be made: a base that is the
 * caller's; a shared base as packaged (root's, 1733); a base another user owns, or a shared one
 * without the sticky bit, refused with a reason; root's base/0 made first by a user (a folder,
 * or a link) taken back and the squatter's kept aside; another uid's squatted folder refused;
 * a base that is itself a link resolved in the path returned; ldp_dir_open refusing a link
 * anywhere on the way. ldp_log_line() appending one line, and refusing a FIFO, a link or a
 * folder at its path.
 * Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"

#include "check.h"

#define NOBODY 65534u

static char top[64];

static void mk(const char *rel, unsigned mode, unsigned uid, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", top, rel);
	mkdir(out, 0700);
	chown(out, uid, uid);
	chmod(out, mode);
}

/* ldp_private_dir() in a child running as uid, as that user's process would call it. */
static int as_user(unsigned uid, const char *base, char *out, size_t out_len, char *note,
		   size_t note_len)
{
	struct { int r; char out[PATH_MAX]; char note[512]; } res = { -EIO, "", "" };
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		if (setresgid(uid, uid, uid) == 0 && setresuid(uid, uid, uid) == 0)
			res.r = ldp_private_dir(base, uid, res.out, sizeof(res.out), res.note,
						sizeof(res.note));
		_exit(write(p[1], &res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], &res, sizeof(res)) != sizeof(res))
		res.r = -EIO;
	close(p[0]);
	waitpid(pid, NULL, 0);
	snprintf(out, out_len, "%s", res.out);
	snprintf(note, note_len, "%s", res.note);
	return res.r;
}

static int owner_mode(const char *path, unsigned *uid, unsigned *mode)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	*uid = st.st_uid;
	*mode = st.st_mode & 07777;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* ldp_log_line(): one line appended, whatever the message holds; a FIFO (with or without a
 * reader), a link or a folder at the path is not written and holds nobody. */
static void test_log_line(void)
{
	char path[PATH_MAX], fifo[PATH_MAX], lnk[PATH_MAX], buf[4096], want[128];
	int fd, rd, r;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/log.txt", top);
	r = ldp_log_line(path, "info", "one");
	CHECK(r == 0, "a new log file is made (%d)", r);
	r = ldp_log_line(path, "warn", "two\nldprof[1]: error: forged\r\x1b[2J");
	CHECK(r == 0, "a second line appended (%d)", r);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof(want), "ldprof[%d]: info: one\nldprof[%d]: warn: two?ldprof[1]: error: forged??[2J\n",
		 (int)getpid(), (int)getpid());
	CHECK(!strcmp(buf, want), "two lines, control characters made '?': %s", buf);

	snprintf(fifo, sizeof(fifo), "%s/fifo", top);
	mkfifo(fifo, 0644);
	r = ldp_log_line(fifo, "info", "x");
	CHECK(r == -ENXIO, "a FIFO nobody reads: not opened, not waited on (%d)", r);
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	r = ldp_log_line(fifo, "info", "x");
	CHECK(r == -EINVAL, "a FIFO someone reads: not written (%d)", r);
	n = rd >= 0 ? read(rd, buf, sizeof(buf)) : -1;
	CHECK(n <= 0, "nothing reached its reader (%zd)", n);
	if (rd >= 0)
		close(rd);

	snprintf(lnk, sizeof(lnk), "%s/link", top);
	symlink(path, lnk);
	r = ldp_log_line(lnk, "info", "x");
	CHECK(r == -ELOOP, "a link is not followed (%d)", r);
	r = ldp_log_line(top, "info", "x");
	CHECK(r < 0, "a folder is not written (%d)", r);
}

int main(void)
{
	char base[PATH_MAX], out[PATH_MAX], note[512], path[PATH_MAX + 32], link_base[PATH_MAX];
	char tmpl[] = "/tmp/test_fileio.XXXXXX";
	unsigned uid, mode;
	int r, fd;

	if (geteuid() != 0) {
		printf("test_fileio: needs root (folders of other users)\n");
		return 1;
	}
	if (!mkdtemp(tmpl))
		return 1;
	snprintf(top, sizeof(top), "%s", tmpl);
	chmod(top, 0755);

	/* the caller's own base: used as it is */
	mk("own", 0700, 0, base, sizeof(base));
	r = ldp_private_dir(base, 0, out, sizeof(out), note, sizeof(note));
	CHECK(r == 0 && !strcmp(out, base) && !note[0], "a base of the caller's own is its folder (%d %s)", r, out);

	/* a shared base as packaged: each uid gets base/<uid>, 0700 */
	mk("shared", 01733, 0, base, sizeof(base));
	r = as_user(NOBODY, base, out, sizeof(out), note, sizeof(note));
	snprintf(path, sizeof(path), "%s/%u", base, NOBODY);
	CHECK(r == 0 && !strcmp(out, path), "a user gets base/<uid> (%d %s)", r, out);
	CHECK(owner_mode(path, &uid, &mode) == 0 && uid == NOBODY && mode == 0700, "its own, 0700");
	r = as_user(NOBODY, base, out, sizeof(out), note, sizeof(note));
	CHECK(r == 0, "and found again (%d)", r);
	r = ldp_private_dir(base, 0, out, sizeof(out), note, sizeof(note));
	snprintf(path, sizeof(path), "%s/0", base);
	CHECK(r == 0 && !strcmp(out, path), "root gets base/0 (%d %s)", r, out);

	/* a base another user owns: refused for root, with why */
	mk("users", 0755, NOBODY, base, sizeof(base));
	r = ldp_private_dir(base, 0, out, sizeof(out), note, sizeof(note));
	CHECK(r == -EPERM && strstr(note, "belongs to uid 65534"), "another user's base is refused: %s", note);
	snprintf(path, sizeof(path), "%s/0", base);
	CHECK(access(path, F_OK) < 0, "and nothing is made in it");

	/* a shared base without the sticky bit: others could rename what we make */
	mk("nosticky", 0777, 0, base, sizeof(base));
	r = as_user(NOBODY, base, out, sizeof(out), note, sizeof(note));
	CHECK(r == -EPERM && strstr(note, "without the sticky bit"), "a shared base needs the sticky bit: %s", note);

	/* root's folder made first by a user: taken back, the squatter's kept aside */
	mk("squat", 01733, 0, base, sizeof(base));
	mk("squat/0", 0777, NOBODY, path, sizeof(path));
	r = ldp_private_dir(base, 0, out, sizeof(out), note, sizeof(note));
	CHECK(r == 0 && !strcmp(out, path) && strstr(note, "moved aside to .squatted-0-uid65534-"),
	      "a squatted base/0 is taken back: %d %s", r, note);
	CHECK(owner_mode(path, &uid, &mode) == 0 && uid == 0 && mode == 0700, "root's own now");

	/* ... also when the squatter left a link there */
	mk("squatlink", 01733, 0, base, sizeof(base));
	snprintf(path, sizeof(path), "%s/0", base);
	symlink(top, path);
	lchown(path, NOBODY, NOBODY);
	r = ldp_private_dir(base, 0, out, sizeof(out), note, sizeof(note));
	CHECK(r == 0 && !strcmp(out, path) && strstr(note, "moved aside"), "a planted link too: %d %s", r, note);
	CHECK(owner_mode(path, &uid, &mode) == 0 && uid == 0, "a real folder of root's in its place");

	/* another user's folder squatted: not taken back (only root's base and root's own) */
	mk("squat2", 01733, 0, base, sizeof(base));
	mk("squat2/1000", 0700, NOBODY, path, sizeof(path));
	r = ldp_private_dir(base, 1000, out, sizeof(out), note, sizeof(note));
	CHECK(r == -EPERM && note[0], "a user's squatted folder is refused, with why: %s", note);

	/* a base that is a link (the admin's choice): the path returned has it resolved */
	mk("real", 01733, 0, base, sizeof(base));
	snprintf(link_base, sizeof(link_base), "%s/linked", top);
	symlink(base, link_base);
	r = as_user(NOBODY, link_base, out, sizeof(out), note, sizeof(note));
	snprintf(path, sizeof(path), "%s/%u", base, NOBODY);
	CHECK(r == 0 && !strcmp(out, path), "the base's own link is resolved: %s", out);

	/* ldp_dir_open: no link anywhere on the way */
	fd = ldp_dir_open(path, O_PATH);
	CHECK(fd >= 0, "a folder opens (%d)", fd);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/%u", link_base, NOBODY);
	fd = ldp_dir_open(path, O_RDONLY);
	CHECK(fd == -ELOOP, "a link on the way is refused (%d)", fd);
	snprintf(path, sizeof(path), "%s/squatlink/0", top);
	unlink(path);
	rmdir(path);
	symlink(top, path);
	fd = ldp_dir_open(path, O_PATH);
	CHECK(fd == -ELOOP, "a link as the last part too (%d)", fd);

	test_log_line();

	printf("%d passed, %d failed\n", passed, failed);
	snprintf(path, sizeof(path), "rm -rf %s", top);
	if (system(path) != 0)
		return 1;
	return failed ? 1 : 0;
}
