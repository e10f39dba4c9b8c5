/* SPDX-License-Identifier: MIT
 *
 * procmaps.h — parse /proc/PID/maps, find the /proc folder a process can be read through (its
 * main thread may be gone), read its uids from /proc/PID/status.
 *
 * The text comes from the kernel but a path can hold any byte but NUL and '\n' (and " (deleted)"
 * suffixes): parse strictly, skip lines that do not parse, never read past the buffer.
 * Never called from a signal handler.
 */
#ifndef LDP_PROCMAPS_H
#define LDP_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ldp_map {
	uint64_t start, end, offset;
	uint64_t inode;
	unsigned dev_major, dev_minor;
	char perms[5];  /* "r-xp" */
	char *path;     /* "" for anonymous; "[vdso]", "[stack]" ... kept as is */
};

struct ldp_maps {
	struct ldp_map *maps;
	size_t n;
};

/* Parse a maps text of len bytes (it need not be NUL-terminated). Lines that do not parse are
 * skipped, and so is a last line without '\n' (it may have been cut anywhere). The result is
 * sorted by start; a mapping overlapping an earlier one is dropped. Returns 0 or -errno; on
 * success free the result with ldp_maps_free(). */
int ldp_maps_parse(const char *text, size_t len, struct ldp_maps *ret);
/* Read and parse the maps of pid (0 = this process) in full, whether or not its main thread
 * is still there. -EFBIG past 64 MiB. */
int ldp_maps_read(pid_t pid, struct ldp_maps *ret);
/* Only the executable mappings of the process whose /proc folder is proc_dir (ldp_proc_dir),
 * at most max of them, with one PROCMAP_QUERY ioctl each (Linux 6.11): the kernel's cost
 * grows with the mappings returned, not with all the process has (a user's 65,000 mappings
 * cost a full read ~30 ms of kernel time, and the agent reads a target's maps on its request
 * thread). [vsyscall], the kernel's gate page, is not among them. Returns 0, -ENOTTY on a
 * kernel without the ioctl (read the whole file instead), or -errno. */
int ldp_maps_read_exec(const char *proc_dir, size_t max, struct ldp_maps *ret);
/* The same on fd, that folder's maps opened (O_RDONLY) and kept: it stays the process's that
 * was opened (a pid reused later is not it) and, past an exec or the end, says -ESRCH; a
 * caller that reads often saves the open and the close. */
int ldp_maps_read_exec_fd(int fd, size_t max, struct ldp_maps *ret);
void ldp_maps_free(struct ldp_maps *m);
/* The mapping containing addr, or NULL (maps are sorted by start, as the kernel gives them). */
const struct ldp_map *ldp_maps_find(const struct ldp_maps *m, uint64_t addr);

/* The /proc folder through which pid's maps, mem, exe, root and map_files can be read:
 * "/proc/PID" while its main thread lives, else "/proc/PID/task/TID" of a thread that does (a
 * main thread that called pthread_exit() leaves those of /proc/PID empty or unreadable while
 * the process goes on); "/proc/thread-self" for pid 0. Returns 0, or -ESRCH (or -errno) when
 * no live thread of it was found, with "/proc/PID" in buf all the same. */
int ldp_proc_dir(pid_t pid, char *buf, size_t len);
/* ldp_proc_dir(pid) + "/" + what into buf (what ldp_proc_dir returns; -ENAMETOOLONG). */
int ldp_proc_path(pid_t pid, const char *what, char *buf, size_t len);

/* The real and effective uid of pid (the first two fields of /proc/PID/status's "Uid:" line).
 * Returns 0, -EPROTO when the line is missing, or -errno. */
int ldp_proc_uids(pid_t pid, uid_t *real, uid_t *eff);

/* The parent of process pid, from /proc/PID/stat. 0 or -errno. */
int ldp_proc_ppid(pid_t pid, pid_t *ppid);
/* The same from the text of a /proc/PID/stat (len bytes, not NUL-terminated); -EPROTO when
 * it is not one. */
int ldp_proc_stat_ppid(const char *buf, size_t len, pid_t *ppid);

#endif
