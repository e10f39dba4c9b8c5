/* SPDX-License-Identifier: MIT
 *
 * shimstate.c — the shim's published decision, read from outside the process (shimstate.h).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "shimstate.h"

#define SHIM_NAME "libldprof.so"

static const char *denied(void)
{
	return geteuid() == 0 ? "(permission denied, even as root)" : "(run as root)";
}

int ldp_shimstate_is_shim_path(const char *path)
{
	static const char del[] = " (deleted)";
	const char *base = strrchr(path, '/');
	size_t n;

	if (!base)
		return 0;
	base++;
	n = strlen(base);
	if (n >= sizeof(del) - 1 && !strcmp(base + n - (sizeof(del) - 1), del))
		n -= sizeof(del) - 1;
	return n == sizeof(SHIM_NAME) - 1 && !memcmp(base, SHIM_NAME, n);
}

const struct ldp_map *ldp_shimstate_find(const struct ldp_maps *maps)
{
	for (size_t i = 0; i < maps->n; i++)
		if (ldp_shimstate_is_shim_path(maps->maps[i].path))
			return &maps->maps[i];
	return NULL;
}

/* Opens the ELF file behind mapping m of pid: the very file mapped (map_files, root only),
 * else the path inside the process's root, if its inode is the mapping's. Returns fd or -errno
 * (-ESTALE: the file on disk is not the one mapped). */
static int open_mapped(const char *dir, const struct ldp_map *m)
{
	static const char del[] = " (deleted)";
	char path[PATH_MAX + 64];
	struct stat st;
	size_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/map_files/%llx-%llx", dir, (unsigned long long)m->start,
		 (unsigned long long)m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	n = strlen(m->path);
	if (n >= sizeof(del) - 1 && !strcmp(m->path + n - (sizeof(del) - 1), del))
		return -ESTALE;
	if (snprintf(path, sizeof(path), "%s/root%s", dir, m->path) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != m->inode) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int ldp_shimstate_read(pid_t pid, const struct ldp_maps *maps, const struct ldp_map *first,
		      struct ldp_state *ret, char *note, size_t notelen)
{
	struct ldp_elfsym_dynvar dv;
	const struct ldp_map *base = NULL;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), addr;
	char dir[64], path[96];
	ssize_t n;
	int fd = -1, r;

	/* through a live thread: a main thread that called pthread_exit() takes mem, map_files
	 * and root away from /proc/PID */
	ldp_proc_dir(pid, dir, sizeof(dir));
	fd = open_mapped(dir, first);
	if (fd < 0) {
		r = fd;
		if (r == -EACCES || r == -EPERM)
			snprintf(note, notelen, "%s", denied());
		else if (r == -ESTALE)
			snprintf(note, notelen, "(the %s on disk is not the one mapped)", SHIM_NAME);
		else
			snprintf(note, notelen, "(cannot open the mapped %s: %s)", SHIM_NAME, strerror(-r));
		goto out;
	}
	{
		unsigned char ident[EI_NIDENT];

		if (pread(fd, ident, sizeof(ident), 0) == (ssize_t)sizeof(ident) &&
		    !memcmp(ident, ELFMAG, SELFMAG) && ident[EI_CLASS] == ELFCLASS32) {
			r = 1;
			goto out;
		}
	}
	r = ldp_elfsym_find_dynsym(fd, LDP_STATE_SYMBOL, &dv);
	if (r < 0) {
		if (r == -ENOENT)
			snprintf(note, notelen, "(symbol missing: this %s has no %s: an older build?)",
				 SHIM_NAME, LDP_STATE_SYMBOL);
		else
			snprintf(note, notelen, "(cannot read the mapped %s: %s)", SHIM_NAME, strerror(-r));
		goto out;
	}
	if (dv.size && dv.size < sizeof(*ret)) {
		snprintf(note, notelen, "(%s is %llu bytes, not %zu: another layout)", LDP_STATE_SYMBOL,
			 (unsigned long long)dv.size, sizeof(*ret));
		r = -EPROTO;
		goto out;
	}
	/* The first PT_LOAD's mapping: same file, at its page-aligned file offset. */
	for (size_t i = 0; i < maps->n && !base; i++) {
		const struct ldp_map *m = &maps->maps[i];

		if (m->inode == first->inode && m->dev_major == first->dev_major &&
		    m->dev_minor == first->dev_minor && m->offset == (dv.first_load_offset & ~(page - 1)) &&
		    ldp_shimstate_is_shim_path(m->path))
			base = m;
	}
	if (!base) {
		snprintf(note, notelen, "(no mapping of %s at file offset 0x%llx)", SHIM_NAME,
			 (unsigned long long)(dv.first_load_offset & ~(page - 1)));
		r = -ENOENT;
		goto out;
	}
	addr = base->start - (dv.first_load_vaddr & ~(page - 1)) + dv.value;
	close(fd);
	snprintf(path, sizeof(path), "%s/mem", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -EACCES || r == -EPERM)
			snprintf(note, notelen, "%s", denied());
		else
			snprintf(note, notelen, "(cannot open %s: %s)", path, strerror(-r));
		goto out;
	}
	do
		n = pread(fd, ret, sizeof(*ret), (off_t)addr);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*ret)) {
		r = n < 0 ? -errno : -EIO;
		if (r == -EACCES || r == -EPERM)
			snprintf(note, notelen, "%s", denied());
		else
			snprintf(note, notelen, "(cannot read the state at 0x%llx: %s)",
				 (unsigned long long)addr, strerror(-r));
		goto out;
	}
	if (memcmp(ret->magic, LDP_STATE_MAGIC, sizeof(LDP_STATE_MAGIC))) {
		snprintf(note, notelen, "(bad magic at 0x%llx: not a state this ldprof reads)",
			 (unsigned long long)addr);
		r = -EPROTO;
		goto out;
	}
	ret->detail[sizeof(ret->detail) - 1] = '\0';
	ret->agent_detail[sizeof(ret->agent_detail) - 1] = '\0';
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

