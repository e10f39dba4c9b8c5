/* SPDX-License-Identifier: MIT
 *
 * elfsym.h — function names and GNU build IDs from ELF files on disk.
 *
 * Reads .symtab (falling back to .dynsym, then, for a stripped Go program, to the function
 * table of .gopclntab), and names its PLT stubs "NAME@plt", of one ELF64 file into a sorted
 * table of function symbols and answers
 * "which function holds this file offset" in O(log n). The file is
 * untrusted input: every offset and size is checked against the file size, and the parser is
 * fuzzed. Never called from a signal handler: it allocates and does I/O.
 */
#ifndef LDP_ELFSYM_H
#define LDP_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

struct ldp_elfsym;

/* Opens and parses path. Returns 0 or -errno (-ENOEXEC for a file that is not a usable ELF). */
int ldp_elfsym_open(const char *path, struct ldp_elfsym **ret);
/* The same from a file open on fd (read with pread, left open). max_bytes: what the parse may
 * allocate at its peak, the result included (0: only the parser's own caps); a file whose
 * tables would take more is -E2BIG, before they are read. */
int ldp_elfsym_open_fd(int fd, uint64_t max_bytes, struct ldp_elfsym **ret);
/* Only the names of its PLT stubs ("NAME@plt"), as ldp_elfsym_open_fd() gives them: for a file
 * whose functions its debug file names. A table with no entry when it has no PLT. */
int ldp_elfsym_open_plt_fd(int fd, uint64_t max_bytes, struct ldp_elfsym **ret);
/* A file's PT_LOAD segments with contents (at most LDP_ELFSYM_MAX_LOADS). */
#define LDP_ELFSYM_MAX_LOADS 64
struct ldp_elfsym_loads {
	size_t n;
	struct {
		uint64_t vaddr, offset, filesz;
	} l[LDP_ELFSYM_MAX_LOADS];
};

/* The segments and the GNU build ID ("" when none; into build_id, len bytes) of the ELF file
 * open on fd: what a separate debug file of it needs. Returns 0 or -errno. */
int ldp_elfsym_read_loads(int fd, struct ldp_elfsym_loads *ret, char *build_id, size_t len);

/* The .gnu_debuglink of the ELF file open on fd: the debug file's name (no '/') and its CRC32.
 * Returns 0, -ENOENT when there is none, or -errno. */
int ldp_elfsym_debuglink(int fd, char *name, size_t len, uint32_t *crc);

/* A separate debug file (`objcopy --only-keep-debug`, as Debian's -dbg and -dbgsym packages
 * install them under /usr/lib/debug): its .symtab, with the file offsets of the original,
 * whose segments orig gives (ldp_elfsym_read_loads of it). Without them (NULL, or n == 0:
 * the original is not on this host), each of the debug file's PT_LOADs is taken as linked at
 * its own file offset, which is how GNU ld and lld lay out the code of libraries and PIE
 * programs. Lookups then take the original's file offsets, as for ldp_elfsym_open(). */
int ldp_elfsym_open_debug_fd(int fd, const struct ldp_elfsym_loads *orig, uint64_t max_bytes,
			     struct ldp_elfsym **ret);
int ldp_elfsym_parse_debug(const void *buf, size_t len, const struct ldp_elfsym_loads *orig,
			   struct ldp_elfsym **ret);

/* The contents of section name (SHT_PROGBITS) of the ELF file open on fd, into a new buffer
 * (*buf, freed by the caller). Returns 0, -ENOENT when there is none, -E2BIG when it is larger
 * than max bytes, or -errno. */
int ldp_elfsym_section(int fd, const char *name, uint64_t max, void **buf, size_t *len);

/* Adds from's functions (from may be NULL) to into, both tables of one object with the same
 * file offsets: at an offset both have, into's name stays; extents are cut at the next
 * function, so that none overlaps another. Returns 0 or -errno (into is unchanged then). */
int ldp_elfsym_merge(struct ldp_elfsym *into, const struct ldp_elfsym *from);

/* Same from a buffer (used by the fuzzer); the buffer is copied. */
int ldp_elfsym_parse(const void *buf, size_t len, struct ldp_elfsym **ret);
/* ... with a budget, as ldp_elfsym_open_fd. */
int ldp_elfsym_parse_budget(const void *buf, size_t len, uint64_t max_bytes, struct ldp_elfsym **ret);
void ldp_elfsym_free(struct ldp_elfsym *s);

/* Name of the function containing `file_offset` (an offset into the file, as /proc/PID/maps
 * gives: addr - map_start + map_offset), or NULL. The name is owned by s. */
const char *ldp_elfsym_lookup(const struct ldp_elfsym *s, uint64_t file_offset);

/* GNU build ID as lowercase hex ("" when the file has none). Owned by s. */
const char *ldp_elfsym_build_id(const struct ldp_elfsym *s);
/* Memory the table holds (0 for NULL). */
size_t ldp_elfsym_bytes(const struct ldp_elfsym *s);

/* Number of function symbols kept, and the i-th of them in file-offset order (for tests, the
 * fuzzer and tools): it covers [*ret_start, *ret_start + *ret_size). Returns 0, or -ERANGE when
 * i >= count (the ret_* are then left alone). */
size_t ldp_elfsym_count(const struct ldp_elfsym *s);
int ldp_elfsym_get(const struct ldp_elfsym *s, size_t i, uint64_t *ret_start, uint64_t *ret_size,
		   const char **ret_name);

/* A defined symbol of the dynamic symbol table, and where the file's first PT_LOAD is linked:
 * enough to find a variable of a library in another process that has it mapped (the variable
 * is at  load bias + value,  and the first PT_LOAD's mapping starts at  load bias +
 * first_load_vaddr  rounded down to a page, with the file offset first_load_offset rounded
 * down likewise). Used by `ldprof status` to find the shim's `ldp_state`. */
struct ldp_elfsym_dynvar {
	uint64_t value;             /* st_value: the link-time address */
	uint64_t size;              /* st_size */
	uint64_t first_load_vaddr;  /* p_vaddr of the first PT_LOAD (0 for a library) */
	uint64_t first_load_offset; /* its p_offset */
};

/* Looks `name` up in the first .dynsym of the ELF file open on fd (read with pread, never
 * mapped; fd is left open) or in buf. The first defined symbol of that name wins. Returns 0,
 * -ENOENT when .dynsym has no such defined symbol (or there is no .dynsym), -ENOEXEC for a file
 * that is not a usable ELF, -EFBIG past 1 GiB, or -errno; *ret is written only on success. */
int ldp_elfsym_find_dynsym(int fd, const char *name, struct ldp_elfsym_dynvar *ret);
int ldp_elfsym_find_dynsym_buf(const void *buf, size_t len, const char *name,
			       struct ldp_elfsym_dynvar *ret);

#endif
