/* SPDX-License-Identifier: MIT
 *
 * fileio.c — whole-file reads with a cap, whole-buffer writes.
 *
 * The buffer grows by doubling from 64 KiB and never past max + 1 bytes: a file (or a /proc
 * file that keeps growing) larger than the caller allows is refused, not truncated.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

int ldp_private_dir(const char *base, unsigned euid, char *out, size_t out_len)
{
	int fd, r;

	if (!base[0] || (size_t)snprintf(out, out_len, "%s", base) >= out_len)
		return -ENAMETOOLONG;
	if (mkdir(base, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* The base as it is configured may be a symlink (the admin's choice); what we return
	 * below it may not. */
	/* O_PATH: a shared base lets others in (x) without letting them list it (no r). */
	fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = ours(fd, euid, 0);
	close(fd);
	if (r == 0)
		return 0;
	if ((size_t)snprintf(out, out_len, "%s/%u", base, euid) >= out_len)
		return -ENAMETOOLONG;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(out, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ? -EPERM : -errno;
	r = ours(fd, euid, 1);
	close(fd);
	return r;
}
