/* SPDX-License-Identifier: MIT
 *
 * debuginfo.c — finding and reading an object's separate debug file (see debuginfo.h).
 *
 * Every file here is opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK and read with pread() by elfsym.c
 * (a FIFO planted on a path must not hold the caller; a file that changes under us costs a
 * wrong name at worst, never a crash). The CRC of a debuglink candidate is computed with zlib
 * over the whole file (debug files are a few MiB).
 *
 * MiniDebugInfo (Fedora and others; GDB reads it too): a section .gnu_debugdata in the object
 * itself, holding an xz-compressed ELF file whose .symtab has the functions .dynsym leaves out.
 * It is untrusted input like any file: liblzma decodes it under a memory limit, into at most
 * MINI_MAX_ELF bytes, and elfsym.c parses the result as it parses a debug file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lzma.h>
#include <stdlib.h>
#include <zlib.h>

#include "debuginfo.h"

#define MINI_MAX_XZ  (16u << 20) /* a larger .gnu_debugdata is not read */
#define MINI_MAX_ELF (64u << 20) /* nor one that decompresses to more */

static int open_ro(const char *path)
{
	return open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

/* CRC32 of the file open on fd, as .gnu_debuglink holds it. */
static int file_crc(int fd, uint32_t *ret)
{
	unsigned char buf[65536];
	uLong crc = crc32(0L, Z_NULL, 0);
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		crc = crc32(crc, buf, (uInt)n);
		off += n;
	}
	if (n < 0)
		return -errno;
	*ret = (uint32_t)crc;
	return 0;
}

/* The debug file at path, if it is one for this build ID (when known) and CRC (when want_crc). */
static int try_file(const char *path, const char *build_id, const uint32_t *want_crc,
		    const struct ldp_elfsym_loads *orig, uint64_t max_bytes, struct ldp_elfsym **ret)
{
	struct ldp_elfsym *s = NULL;
	uint32_t crc;
	int fd = open_ro(path), r;

	if (fd < 0)
		return -ENOENT;
	r = 0;
	if (want_crc && (file_crc(fd, &crc) < 0 || crc != *want_crc))
		r = -ENOENT;
	if (r == 0)
		r = ldp_elfsym_open_debug_fd(fd, orig, max_bytes, &s);
	if (r == 0 && build_id && *build_id && strcmp(ldp_elfsym_build_id(s), build_id)) {
		ldp_elfsym_free(s);
		r = -ENOENT;
	}
	if (r == 0 && ldp_elfsym_count(s) == 0) {
		ldp_elfsym_free(s);
		r = -ENOENT;
	}
	close(fd);
	if (r == 0)
		*ret = s;
	return r == -E2BIG ? r : r < 0 ? -ENOENT : 0;
}

static int hex_id(const char *build_id)
{
	return build_id && strlen(build_id) > 2 && strspn(build_id, "0123456789abcdef") == strlen(build_id);
}

/* DEBUG_ROOT/.build-id/xx/yyyy.debug (its path into path). */
static int by_build_id(const char *build_id, const struct ldp_elfsym_loads *loads,
		       const char *debug_root, uint64_t max_bytes, struct ldp_elfsym **ret,
		       char *path, size_t len)
{
	if (!hex_id(build_id))
		return -ENOENT;
	snprintf(path, len, "%s/.build-id/%.2s/%s.debug", debug_root ? debug_root : LDP_DEBUG_ROOT,
		 build_id, build_id + 2);
	return try_file(path, build_id, NULL, loads, max_bytes, ret);
}

int ldp_debuginfo_by_build_id(const char *build_id, const struct ldp_elfsym_loads *loads,
			      const char *debug_root, uint64_t max_bytes, struct ldp_elfsym **ret)
{
	char path[PATH_MAX];

	return by_build_id(build_id, loads, debug_root, max_bytes, ret, path, sizeof(path));
}

/* The xz stream in[0..len) into a new buffer of at most max bytes. */
static int unxz(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *outlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	size_t cap = len < max / 8 ? len * 8 : max;
	uint8_t *buf, *nb;
	lzma_ret lr = LZMA_OK;
	int r = -ENOMEM;

	if (cap < 4096)
		cap = max < 4096 ? max : 4096;
	if (!cap)
		return -E2BIG; /* (cap doubles: it must not be 0) */
	buf = malloc(cap);
	if (!buf || lzma_stream_decoder(&s, 64u << 20, 0) != LZMA_OK)
		goto out;
	s.next_in = in;
	s.avail_in = len;
	for (;;) {
		s.next_out = buf + s.total_out;
		s.avail_out = cap - s.total_out;
		lr = lzma_code(&s, LZMA_FINISH);
		if (lr == LZMA_STREAM_END)
			break;
		if (lr != LZMA_OK && lr != LZMA_BUF_ERROR) {
			r = lr == LZMA_MEM_ERROR ? -ENOMEM : lr == LZMA_MEMLIMIT_ERROR ? -E2BIG : -EINVAL;
			goto out;
		}
		if (s.avail_out) { /* the input ended before the stream did */
			r = -EINVAL;
			goto out;
		}
		if (cap >= max) {
			r = -E2BIG;
			goto out;
		}
		cap = cap > max / 2 ? max : cap * 2;
		if (!(nb = realloc(buf, cap)))
			goto out;
		buf = nb;
	}
	*out = buf;
	*outlen = s.total_out;
	buf = NULL;
	r = 0;
out:
	lzma_end(&s);
	free(buf);
	return r;
}

int ldp_debuginfo_mini(int fd, const struct ldp_elfsym_loads *loads, uint64_t max_bytes,
		       struct ldp_elfsym **ret)
{
	struct ldp_elfsym *own = NULL, *mini = NULL;
	uint8_t *elf = NULL;
	size_t len = 0, elflen = 0;
	void *xz = NULL;
	int r;

	r = ldp_elfsym_section(fd, ".gnu_debugdata", MINI_MAX_XZ, &xz, &len);
	if (r < 0)
		goto out;
	r = unxz(xz, len, max_bytes && max_bytes < MINI_MAX_ELF ? max_bytes : MINI_MAX_ELF, &elf, &elflen);
	if (r == 0)
		r = ldp_elfsym_parse_debug(elf, elflen, loads, &mini);
	if (r < 0)
		goto out;
	/* the object's own table (.symtab, or .dynsym), with the functions it lacks added */
	if (ldp_elfsym_open_fd(fd, max_bytes, &own) < 0) {
		*ret = mini;
		mini = NULL;
		goto out;
	}
	r = ldp_elfsym_merge(own, mini);
	if (r == 0) {
		*ret = own;
		own = NULL;
	}
out:
	ldp_elfsym_free(own);
	ldp_elfsym_free(mini);
	free(elf);
	free(xz);
	return r == -ENOEXEC ? -ENOENT : r;
}

int ldp_debuginfo_add_original(int fd, uint64_t max_bytes, struct ldp_elfsym *into)
{
	struct ldp_elfsym *own = NULL;
	/* A debug file that names functions has the link's whole .symtab, of which .dynsym is a
	 * part: reading .dynsym again would cost a glibc program's collector a third of a
	 * millisecond (libc's 2,800 functions) and add no name. */
	int r = ldp_elfsym_count(into) ? ldp_elfsym_open_plt_fd(fd, max_bytes, &own)
				       : ldp_elfsym_open_fd(fd, max_bytes, &own);

	if (r == 0)
		r = ldp_elfsym_merge(into, own);
	ldp_elfsym_free(own);
	return r;
}

int ldp_debuginfo_open(const char *orig_path, const char *build_id, const char *debug_root,
		       struct ldp_elfsym **ret, char *found, size_t found_len)
{
	struct ldp_elfsym_loads loads = { 0 };
	char path[PATH_MAX], dir[PATH_MAX], link[256], id[160] = "";
	uint32_t crc;
	int fd = -1, have_link = 0, same = 0, r;
	const char *slash;

	if (!debug_root)
		debug_root = LDP_DEBUG_ROOT;
	/* The original, when it is here and the same build: where its segments were, its link. */
	if (orig_path && *orig_path == '/' && (fd = open_ro(orig_path)) >= 0) {
		if (ldp_elfsym_read_loads(fd, &loads, id, sizeof(id)) < 0 ||
		    (build_id && *build_id && strcmp(id, build_id)))
			loads.n = 0; /* another build of it: only the build ID can find the right file */
		else
			same = 1;
		if (same)
			have_link = ldp_elfsym_debuglink(fd, link, sizeof(link), &crc) == 0;
	}
	r = by_build_id(build_id, &loads, debug_root, 0, ret, path, sizeof(path));
	if (r < 0 && have_link && (slash = strrchr(orig_path, '/'))) {
		const char *fmt[] = { "%s%s/%s", "%s%s/.debug/%s", "%s%s/%s" };

		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - orig_path), orig_path);
		for (int k = 0; k < 3 && r < 0; k++) {
			if ((size_t)snprintf(path, sizeof(path), fmt[k], k ? "" : debug_root, dir, link) >=
			    sizeof(path))
				continue;
			if (k == 2 && !strcmp(path, orig_path))
				continue; /* the link names the object itself */
			r = try_file(path, build_id, &crc, &loads, 0, ret);
		}
	}
	if (r == 0 && same)
		ldp_debuginfo_add_original(fd, 0, *ret); /* without them: the debug file's names */
	else if (r < 0 && same && ldp_debuginfo_mini(fd, &loads, 0, ret) == 0) {
		snprintf(path, sizeof(path), "%s", orig_path); /* its own .gnu_debugdata */
		r = 0;
	}
	if (fd >= 0)
		close(fd);
	if (r == 0 && found)
		snprintf(found, found_len, "%s", path);
	return r;
}
