/* SPDX-License-Identifier: MIT
 *
 * fileio.h — read a whole file into memory, write a whole buffer, find a private folder, the
 * careful way:
 * O_CLOEXEC, EINTR retried, short reads and writes continued, a size cap on every read.
 * Shared by the CLI and the agent; never called from a signal handler.
 */
#ifndef LDP_FILEIO_H
#define LDP_FILEIO_H

#include <stddef.h>
#include <sys/stat.h>
#include <stdint.h>

/* Reads path (opened O_RDONLY | O_CLOEXEC | extra_flags) to its end, which also works for
 * /proc files whose size is 0. *ret is malloc()ed, NUL-terminated after *ret_len bytes, and
 * owned by the caller. Returns 0, -EINVAL for anything but a regular file, -EFBIG past max
 * bytes, or -errno. */
int ldp_read_file(const char *path, int extra_flags, size_t max, char **ret, size_t *ret_len);

/* 1 when the file or folder st describes is root's alone: owned by root, writable by nobody
 * else. What a root process asks of a config file and its folder before it uses them. */
int ldp_root_only(const struct stat *st);

/* Writes all len bytes to fd. Returns 0 or -errno. */
int ldp_write_all(int fd, const void *buf, size_t len);

/* Appends a log line to path with one write() on a descriptor opened O_APPEND for it (lines of
 * several processes do not interleave, no descriptor stays open): non-blocking, so that a FIFO
 * planted at the path holds nobody; not through a symbolic link; written only when it is a
 * regular file. line is len bytes, its '\n' included: the caller has made it one line.
 * Returns 0, -EINVAL for anything but a regular file, or -errno. */
int ldp_append_line(const char *path, const char *line, size_t len);

/* "PREFIXldprof[PID]: LEVEL: MSG\n" into buf (size > 2 bytes): one line whatever msg holds
 * (control characters become '?'), cut to fit. Returns its length, the '\n' included. */
size_t ldp_log_format(char *buf, size_t size, const char *prefix, const char *level, const char *msg);

/* The log line (ldp_log_format, no prefix, cut at 1 KiB) appended to path with
 * ldp_append_line(). Returns 0 or -errno. */
int ldp_log_line(const char *path, const char *level, const char *msg);

/* The folder a process with effective uid euid writes its files into, under a configured base
 * (profiles, spool): base itself when it is a folder owned by euid that nobody else can write;
 * otherwise base/<euid>, created 0700 when missing. Such a base must be root's (or euid's) and,
 * when others may write it, sticky: /var/lib/ldprof/profiles (root, 1733) gives each user a
 * folder of their own that nobody else can rename or replace, and root never writes into a
 * folder someone else can change. A missing base is created 0700 (it is then the caller's).
 * Never follows a symlink for base/<euid>; checks it is owned by euid with no access for
 * others. For root in a base of root's, a base/0 someone else made first is moved aside (kept as
 * .squatted-0-uidN-INODE) and made again: a user cannot turn root's files off that way.
 * out gets the folder's path as the kernel has it (symbolic links of the base resolved), for
 * ldp_dir_open(); note (may be of length 0) a line for the caller's log when something was
 * refused or moved aside, else "". Returns 0, -EPERM (not safely ours: note says why), or
 * -errno. */
int ldp_private_dir(const char *base, unsigned euid, char *out, size_t out_len, char *note,
		    size_t note_len);

/* openat(dirfd, path, flags) following no symbolic link on the way (openat2 with
 * RESOLVE_NO_SYMLINKS and the RESOLVE_* flags of resolve, e.g. RESOLVE_IN_ROOT; before Linux
 * 5.6, O_NOFOLLOW: the last component only). O_CLOEXEC is added. Returns the descriptor or
 * -errno (-ELOOP for a link). */
int ldp_openat_nolinks(int dirfd, const char *path, int flags, uint64_t resolve);

/* Opens the folder dir (flags: O_PATH, or O_RDONLY to list it) following no symbolic link on
 * the way (openat2 RESOLVE_NO_SYMLINKS; where the kernel lacks it, none as its last component):
 * a folder found by ldp_private_dir is used through this descriptor, so a link planted since
 * cannot send the files elsewhere. Returns the descriptor or -errno (-ELOOP for a link). */
int ldp_dir_open(const char *dir, int flags);

#endif
