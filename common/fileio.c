/* SPDX-License-Identifier: MIT
 *
 * fileio.c — whole-file reads with a cap, whole-buffer writes.
 *
 * The buffer grows by doubling from 64 KiB and never past max + 1 bytes: a file (or a /proc
 * file that keeps growing) larger than the caller allows is refused, not truncated.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "fileio.h"

int ldp_read_file(const char *path, int extra_flags, size_t max, char **ret, size_t *ret_len)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | extra_flags);
	if (fd < 0)
		return -errno;
	/* Regular files only (/proc files are): a FIFO or a device named here is refused, not
	 * read until it ends. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			if (len > max) {
				r = -EFBIG;
				goto out;
			}
			if (ncap > max + 2)
				ncap = max + 2; /* room for one byte past max, and the NUL */
			nb = realloc(buf, ncap);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = -EFBIG;
		goto out;
	}
	buf[len] = 0;
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int ldp_root_only(const struct stat *st)
{
	return st->st_uid == 0 && !(st->st_mode & 022);
}

int ldp_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ldp_append_line(const char *path, const char *line, size_t len)
{
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((n = write(fd, line, len)) < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO; /* one write or none: a line continued by a second one could interleave */
	close(fd);
	return r;
}

size_t ldp_log_format(char *buf, size_t size, const char *prefix, const char *level, const char *msg)
{
	int n = snprintf(buf, size - 1, "%sldprof[%d]: %s: %s", prefix, (int)getpid(), level, msg);

	if (n < 0)
		n = 0;
	if (n > (int)size - 2)
		n = (int)size - 2;
	for (int i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[n++] = '\n';
	return (size_t)n;
}

int ldp_log_line(const char *path, const char *level, const char *msg)
{
	char line[1024];

	return ldp_append_line(path, line, ldp_log_format(line, sizeof(line), "", level, msg));
}

/* Is the folder at fd ours alone (owned by euid, no write for others; no access at all for
 * others when strict)? */
static int ours(int fd, unsigned euid, int strict)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != euid)
		return -EPERM;
	if (st.st_mode & (strict ? 077 : 022))
		return -EPERM;
	return 0;
}

int ldp_openat_nolinks(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = resolve | RESOLVE_NO_SYMLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) {
		/* Before 5.6: only the last component is checked. Under RESOLVE_IN_ROOT an
		 * absolute path is dirfd's own. */
		if (resolve & RESOLVE_IN_ROOT)
			while (*path == '/')
				path++;
		fd = openat(dirfd, *path ? path : ".", flags | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

int ldp_dir_open(const char *dir, int flags)
{
	return ldp_openat_nolinks(AT_FDCWD, dir, flags | O_DIRECTORY, 0);
}

/* The path the kernel has for the folder open on fd (what /proc/PID/maps would show), so that
 * later opens can refuse every symbolic link on the way; the path as given when /proc cannot
 * say. Through thread-self: a process whose main thread has exited has no /proc/self/fd. */
static void real_path(int fd, const char *given, char *out, size_t out_len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/thread-self/fd/%d", fd);
	n = readlink(link, out, out_len - 1);
	if (n > 0 && out[0] == '/' && (size_t)n < out_len - 1) {
		out[n] = 0;
		return;
	}
	snprintf(out, out_len, "%s", given);
}

/* Someone else's folder where root's should be, in a base only root may change: moved aside
 * (kept, for the admin to look at) and made again; note says so. Returns 0 or -errno. */
static int take_back(int basefd, const char *name, char *note, size_t note_len)
{
	char aside[64];
	struct stat st;

	if (fstatat(basefd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	snprintf(aside, sizeof(aside), ".squatted-%s-uid%u-%llu", name, (unsigned)st.st_uid,
		 (unsigned long long)st.st_ino);
	if (renameat(basefd, name, basefd, aside) < 0)
		return -errno;
	snprintf(note, note_len, "%s (owner uid %u, mode %o) was not root's own: moved aside to %s",
		 name, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), aside);
	if (mkdirat(basefd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int ldp_private_dir(const char *base, unsigned euid, char *out, size_t out_len, char *note,
		    size_t note_len)
{
	char name[16], tmp[PATH_MAX];
	int basefd = -1, fd = -1, r;
	struct stat st;

	if (note_len)
		note[0] = 0;
	r = -ENAMETOOLONG;
	if (!base[0] || out_len < 2)
		goto out;
	if (mkdir(base, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	/* The base as it is configured may be a symlink (the admin's choice); what we return
	 * below it may not. O_PATH: a shared base lets others in (x) without letting them list
	 * it (no r). */
	basefd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0) {
		r = -errno;
		goto out;
	}
	if (ours(basefd, euid, 0) == 0) {
		real_path(basefd, base, tmp, sizeof(tmp));
		r = (size_t)snprintf(out, out_len, "%s", tmp) >= out_len ? -ENAMETOOLONG : 0;
		goto out;
	}
	/* A base that is not ours: it must be root's (or ours), and, if others may create in it,
	 * sticky, so that nobody but us (and root) can rename or replace the folder we make. */
	r = -errno;
	if (fstat(basefd, &st) < 0)
		goto out;
	r = -EPERM;
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != euid)) {
		snprintf(note, note_len, "%s belongs to uid %u: only a folder of root's or uid %u's "
			 "may hold uid %u's", base, (unsigned)st.st_uid, euid, euid);
		goto out;
	}
	if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
		snprintf(note, note_len, "%s is writable by others without the sticky bit (mode %o): "
			 "they could replace uid %u's folder in it", base, (unsigned)(st.st_mode & 07777), euid);
		goto out;
	}
	snprintf(name, sizeof(name), "%u", euid);
	if (mkdirat(basefd, name, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	for (int pass = 0; pass < 2; pass++) {
		fd = ldp_openat_nolinks(basefd, name, O_PATH | O_DIRECTORY, RESOLVE_BENEATH);
		r = fd < 0 ? (fd == -ELOOP || fd == -ENOTDIR ? -EPERM : fd) : ours(fd, euid, 1);
		if (r != -EPERM || pass || euid != 0 || st.st_uid != 0)
			break;
		/* root's folder squatted by a user, in root's base: taken back, so that a user
		 * creating <base>/0 first cannot turn root's profiles off */
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (take_back(basefd, name, note, note_len) < 0)
			break;
	}
	if (r < 0) {
		if (r == -EPERM && !note[0])
			snprintf(note, note_len, "%s/%s is not uid %u's alone (owner or mode)", base, name, euid);
		goto out;
	}
	real_path(fd, "", tmp, sizeof(tmp));
	if (!tmp[0] && (size_t)snprintf(tmp, sizeof(tmp), "%s/%s", base, name) >= sizeof(tmp)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	r = (size_t)snprintf(out, out_len, "%s", tmp) >= out_len ? -ENAMETOOLONG : 0;
out:
	if (fd >= 0)
		close(fd);
	if (basefd >= 0)
		close(basefd);
	return r;
}
