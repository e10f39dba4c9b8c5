/* SPDX-License-Identifier: MIT
 *
 * fileio.h — read a whole file into memory, and write a whole buffer, the careful way:
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

#endif
