/* SPDX-License-Identifier: MIT
 *
 * fileio.h — read a whole file into memory, write a whole buffer, find a private folder, the
 * careful way:
 * O_CLOEXEC, EINTR retried, short reads and writes continued, a size cap on every read.
 * Shared by the CLI and the shim's background thread; never called from a signal handler.
 */
#ifndef LDP_FILEIO_H
#define LDP_FILEIO_H

#include <stddef.h>

/* Reads path (opened O_RDONLY | O_CLOEXEC | extra_flags) to its end, which also works for
 * /proc files whose size is 0. *ret is malloc()ed, NUL-terminated after *ret_len bytes, and
 * owned by the caller. Returns 0, -EINVAL for anything but a regular file, -EFBIG past max
 * bytes, or -errno. */
int ldp_read_file(const char *path, int extra_flags, size_t max, char **ret, size_t *ret_len);

/* Writes all len bytes to fd. Returns 0 or -errno. */
int ldp_write_all(int fd, const void *buf, size_t len);

/* The folder a process with effective uid euid writes its files into, under a configured base
 * (profiles, spool): base itself when it is a folder owned by euid that nobody else can write;
 * otherwise base/<euid>, created 0700 when missing. A shared base (such as
 * /var/lib/ldprof/profiles, mode 1733) thus gives each user a folder of their own, and root
 * never writes into a folder someone else can change. A missing base is created 0700 (it is
 * then the caller's). Never follows a symlink for the folder it returns; checks it is owned by
 * euid with no access for others. out gets the path. Returns 0, -EPERM (a folder is there but
 * is not safely ours), or -errno. */
int ldp_private_dir(const char *base, unsigned euid, char *out, size_t out_len);

#endif
