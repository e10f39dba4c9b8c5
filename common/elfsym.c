/* SPDX-License-Identifier: MIT
 *
 * elfsym.c — function symbols and the GNU build ID of one ELF64 little-endian file.
 *
 * Overall design: the file is read with pread() into private buffers and never mmap()ed: the
 * profiler runs inside other people's processes, and a mapping of a file that shrinks under us
 * (a package upgrade rewriting a library in place) would kill the process with SIGBUS. Only what
 * is needed is read: the ELF header, the program headers (PT_LOAD turns symbol addresses into
 * file offsets, PT_NOTE may hold the build ID), the section headers, one symbol table with its
 * string table, note sections, and for the PLT's stubs .dynsym, the relocations of its GOT slots
 * and the stubs' code. Symbol tables are found by type; section names are looked at only to
 * find Go's .gopclntab and the PLT sections.
 *
 * A Go program stripped with -ldflags='-s -w' has neither .symtab nor (static) .dynsym, but
 * keeps .gopclntab for its runtime: when neither symbol table has a function, the names come
 * from there (common/gopclntab.c parses it). Its entries are link-time addresses like st_value
 * and go through the same PT_LOAD conversion; each function extends to the next one's entry.
 * The whole section is read and serves as the string table: peak memory is about its size
 * (0.35 MiB for tests/progs/go/hot, some tens of MiB for the largest Go programs), for as long
 * as the table is being built.
 *
 * The table is built once: STT_FUNC/STT_GNU_IFUNC symbols, and the GLOBAL/WEAK STT_NOTYPE labels
 * of executable sections (assembly with no .type, such as musl's `_start`), are mapped to file
 * offsets, sorted, aliases at one offset folded into one entry, and every entry given its
 * extent, so a lookup is one binary search. Among aliases the name kept is, in this order: a
 * function's over a label's, one that does not start
 * with '_' (glibc's public names, such as the WEAK `getpid`, alias internal GLOBAL names such as
 * `__getpid`), then GLOBAL (or GNU_UNIQUE) over WEAK over LOCAL, then the shorter, then the one
 * first in the string table (so the choice never depends on the sort's order). The kept entry gets
 * the largest st_size of its aliases. An entry with st_size 0 extends to the next entry or to
 * the end of its PT_LOAD segment's file range, whichever comes first.
 *
 * Names are kept in one arena: a compacted copy of the names in use, or the string table itself
 * when the names in use would not be smaller (many symbols may share one string).
 *
 * Every field comes from an untrusted file (and from the fuzzer): offsets and sizes are checked
 * by subtraction (`len > size - off`, never `off + len > size`, which wraps), every count and
 * buffer has a cap, and no loop runs longer than the file is large. The string table's last
 * byte is forced to NUL, so every st_name below its size names a string that ends inside it.
 * Never called from a signal handler.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "gopclntab.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "elfsym.c reads little-endian ELF files with native loads"
#endif

#define MAX_FILE_SIZE (1ull << 30)   /* larger files are refused with -EFBIG */
#define MAX_SYMS      (1u << 22)     /* function symbols kept; any further ones are ignored */
#define MAX_STRTAB    (256ull << 20) /* a larger string table (or .gopclntab) is not used */
/* Peak memory for one file is up to twice its string table, plus 24 bytes per function symbol
 * (twice while sorting), plus 96 KiB of read buffer: a few MiB for libc or libLLVM. */
#define MAX_SECTIONS  65536
#define MAX_PHDRS     4096
#define MAX_LOADS     64             /* more PT_LOAD segments with file contents: -ENOEXEC */
#define MAX_NOTE      (1ull << 20)   /* larger note sections and segments are not read */
#define MAX_BUILD_ID  64             /* bytes; GNU ld writes 20 (sha1) or 16 (md5, uuid) */
#define SYM_CHUNK     4096           /* symbols read per pread() */
#define RANK_NAME_LEN 255            /* name lengths compared for aliases are capped here */
#define MAX_SHSTRTAB  (1ull << 20)   /* section names: a larger table means no .gopclntab */
#define PATH_MAX_LINK 255            /* a .gnu_debuglink name */

struct sym {
	uint64_t start; /* file offset */
	uint64_t size;  /* extent [start, start + size); while building, st_size */
	uint32_t name;  /* offset into the arena; while building, into the string table */
	uint32_t pref;  /* while building: preference among aliases, lower is better */
};

struct ldp_elfsym {
	struct sym *syms;
	size_t n;
	char *names;
	size_t names_len;
	char build_id[2 * MAX_BUILD_ID + 1];
};

/* Where the bytes come from: a caller's buffer, or a file read with pread(). */
struct src {
	const uint8_t *buf;
	int fd;
	uint64_t size;
};

struct load {
	uint64_t vaddr, offset, filesz;
};

/* What the parser has read of the file so far. */
struct elf {
	struct src src;
	const struct ldp_elfsym_loads *debug; /* a debug file: where the original had its segments */
	Elf64_Ehdr eh;
	Elf64_Shdr *sh;
	size_t shnum;
	Elf64_Phdr *ph;
	size_t phnum;
	struct load loads[MAX_LOADS];
	size_t nloads;
	uint64_t budget; /* bytes the tables may take at their peak (UINT64_MAX: the caps above) */
	bool plt_only;   /* the PLT's stubs alone: a debug file names the rest */
};

/* Symbols being collected from one symbol table, and that table's strings. */
struct table {
	struct sym *syms;
	size_t n, cap;
	size_t max; /* symbols the budget allows; past MAX_SYMS the rest is ignored instead */
	char *strtab;
	uint64_t strsz;
};

static bool in_file(const struct src *s, uint64_t off, uint64_t len)
{
	return off <= s->size && len <= s->size - off;
}

static int src_read(const struct src *s, uint64_t off, uint64_t len, void *dst)
{
	uint8_t *p = dst;

	if (!in_file(s, off, len))
		return -ENOEXEC;
	if (len == 0)
		return 0;
	if (s->buf) {
		memcpy(dst, s->buf + off, len);
		return 0;
	}
	while (len > 0) {
		ssize_t k = pread(s->fd, p, len, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO; /* the file shrank since fstat() */
		p += k;
		off += (uint64_t)k;
		len -= (uint64_t)k;
	}
	return 0;
}

/* Reads [off, off + len) into a new buffer of at least one byte. */
static int src_dup(const struct src *s, uint64_t off, uint64_t len, void **ret)
{
	void *p;
	int r;

	if (!in_file(s, off, len))
		return -ENOEXEC;
	p = malloc(len ? len : 1);
	if (!p)
		return -ENOMEM;
	r = src_read(s, off, len, p);
	if (r < 0) {
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

static int read_headers(struct elf *e)
{
	const Elf64_Ehdr *eh = &e->eh;
	uint64_t shnum, phnum;
	void *p;
	int r;

	r = src_read(&e->src, 0, sizeof(e->eh), &e->eh);
	if (r < 0)
		return r;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_ident[EI_VERSION] != EV_CURRENT ||
	    (eh->e_type != ET_EXEC && eh->e_type != ET_DYN))
		return -ENOEXEC;

	/* Section headers. A file without them (sstrip) is still usable for its build ID. With
	 * SHN_LORESERVE (0xff00) sections or more, e_shnum is 0 and section 0 holds the count. */
	if (eh->e_shoff != 0) {
		if (eh->e_shentsize != sizeof(Elf64_Shdr))
			return -ENOEXEC;
		shnum = eh->e_shnum;
		if (shnum == 0) {
			Elf64_Shdr sh0;

			r = src_read(&e->src, eh->e_shoff, sizeof(sh0), &sh0);
			if (r < 0)
				return r;
			if (sh0.sh_size > MAX_SECTIONS)
				return -ENOEXEC;
			shnum = sh0.sh_size;
		}
		if (shnum > 0) {
			r = src_dup(&e->src, eh->e_shoff, shnum * sizeof(Elf64_Shdr), &p);
			if (r < 0)
				return r;
			e->sh = p;
			e->shnum = shnum;
		}
	}

	/* Program headers: PN_XNUM means the count is in section 0's sh_info. */
	phnum = eh->e_phnum;
	if (phnum == PN_XNUM) {
		if (e->shnum == 0)
			return -ENOEXEC;
		phnum = e->sh[0].sh_info;
	}
	if (phnum == 0 || phnum > MAX_PHDRS || eh->e_phentsize != sizeof(Elf64_Phdr))
		return -ENOEXEC;
	r = src_dup(&e->src, eh->e_phoff, phnum * sizeof(Elf64_Phdr), &p);
	if (r < 0)
		return r;
	e->ph = p;
	e->phnum = phnum;

	/* A separate debug file keeps the original's program headers with their contents gone
	 * (p_filesz, often p_offset, zeroed): symbol addresses become the original's file offsets
	 * through the original's segments, which the caller read from it, or, without it, through
	 * the debug file's own PT_LOADs taken as linked at their file offsets (what GNU ld and lld
	 * do for the code of libraries and PIE programs). Symbols are never read from there. */
	if (e->debug) {
		for (size_t i = 0; i < e->debug->n && i < MAX_LOADS; i++)
			e->loads[e->nloads++] = (struct load){ .vaddr = e->debug->l[i].vaddr,
							       .offset = e->debug->l[i].offset,
							       .filesz = e->debug->l[i].filesz };
		for (size_t i = 0; i < e->phnum && !e->debug->n; i++) {
			const Elf64_Phdr *ph = &e->ph[i];

			if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
				continue;
			if (e->nloads == MAX_LOADS)
				return -ENOEXEC;
			e->loads[e->nloads++] = (struct load){
				.vaddr = ph->p_vaddr, .offset = ph->p_vaddr, .filesz = ph->p_memsz
			};
		}
		return e->nloads ? 0 : -ENOEXEC;
	}
	for (size_t i = 0; i < e->phnum; i++) {
		const Elf64_Phdr *ph = &e->ph[i];

		if (ph->p_type != PT_LOAD || ph->p_filesz == 0)
			continue;
		if (!in_file(&e->src, ph->p_offset, ph->p_filesz) || e->nloads == MAX_LOADS)
			return -ENOEXEC;
		e->loads[e->nloads++] = (struct load){
			.vaddr = ph->p_vaddr, .offset = ph->p_offset, .filesz = ph->p_filesz
		};
	}
	if (e->nloads == 0)
		return -ENOEXEC;
	return 0;
}

/* ---- build ID ---- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Walks the notes in p[0, len); writes the GNU build ID to out and returns true if found.
 * Names and descriptors are padded to `align` (4, or 8 in segments such as .note.gnu.property). */
static bool scan_notes(const uint8_t *p, uint64_t len, uint64_t align, char *out)
{
	uint64_t pos = 0;

	while (len - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t namesz, descsz;
		const uint8_t *name, *desc;

		memcpy(&nh, p + pos, sizeof(nh));
		pos += sizeof(nh);
		namesz = ((uint64_t)nh.n_namesz + align - 1) & ~(align - 1);
		descsz = ((uint64_t)nh.n_descsz + align - 1) & ~(align - 1);
		if (namesz > len - pos)
			return false;
		name = p + pos;
		pos += namesz;
		if (nh.n_descsz > len - pos)
			return false;
		desc = p + pos;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == sizeof(ELF_NOTE_GNU) &&
		    memcmp(name, ELF_NOTE_GNU, sizeof(ELF_NOTE_GNU)) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz <= MAX_BUILD_ID) {
			hex(desc, nh.n_descsz, out);
			return true;
		}
		if (descsz > len - pos)
			return false;
		pos += descsz;
	}
	return false;
}

/* Reads one note area and scans it. Malformed or oversized areas are skipped (returns 0);
 * only allocation and I/O failures are errors. */
static int note_area(const struct elf *e, uint64_t off, uint64_t len, uint64_t align, char *out,
		     bool *ret_found)
{
	void *p = NULL;
	int r;

	if (len < sizeof(Elf64_Nhdr) || len > MAX_NOTE || !in_file(&e->src, off, len))
		return 0;
	r = src_dup(&e->src, off, len, &p);
	if (r < 0)
		return r;
	*ret_found = scan_notes(p, len, align == 8 ? 8 : 4, out);
	free(p);
	return 0;
}

static int read_build_id(const struct elf *e, char *out)
{
	bool found = false;
	int r;

	out[0] = '\0';
	for (size_t i = 0; i < e->shnum && !found; i++) {
		const Elf64_Shdr *sh = &e->sh[i];

		if (sh->sh_type != SHT_NOTE)
			continue;
		r = note_area(e, sh->sh_offset, sh->sh_size, sh->sh_addralign, out, &found);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < e->phnum && !found; i++) {
		const Elf64_Phdr *ph = &e->ph[i];

		if (ph->p_type != PT_NOTE)
			continue;
		r = note_area(e, ph->p_offset, ph->p_filesz, ph->p_align, out, &found);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- symbols ---- */

/* The file offset of virtual address v, through the PT_LOAD whose file contents hold it. */
static bool vaddr_to_offset(const struct elf *e, uint64_t v, uint64_t *ret)
{
	for (size_t i = 0; i < e->nloads; i++) {
		const struct load *l = &e->loads[i];

		if (v >= l->vaddr && v - l->vaddr < l->filesz) {
			*ret = l->offset + (v - l->vaddr); /* < offset + filesz <= file size */
			return true;
		}
	}
	return false;
}

/* End of the file range of the PT_LOAD holding file offset off. */
static uint64_t segment_end(const struct elf *e, uint64_t off)
{
	for (size_t i = 0; i < e->nloads; i++) {
		const struct load *l = &e->loads[i];

		if (off >= l->offset && off - l->offset < l->filesz)
			return l->offset + l->filesz;
	}
	return off + 1; /* not reached: every start came from a segment */
}

static inline uint32_t preference(const Elf64_Sym *st, const char *name)
{
	uint32_t rank, notype = ELF64_ST_TYPE(st->st_info) == STT_NOTYPE;

	switch (ELF64_ST_BIND(st->st_info)) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		rank = 0;
		break;
	case STB_WEAK:
		rank = 1;
		break;
	default:
		rank = 2;
		break;
	}
	return notype << 25 | (uint32_t)(name[0] == '_') << 24 | rank << 16 |
	       (uint32_t)strnlen(name, RANK_NAME_LEN);
}

/* Peak memory of a table: its strings twice (the table, then the compacted names) and its
 * symbols twice (while the array doubles). A string table that alone passes the budget is
 * -E2BIG; otherwise t->max says how many symbols fit. */
static int budget_table(const struct elf *e, struct table *t, uint64_t strsz)
{
	uint64_t left;

	if (e->budget == UINT64_MAX) {
		t->max = MAX_SYMS;
		return 0;
	}
	if (strsz > e->budget / 2)
		return -E2BIG;
	left = (e->budget - 2 * strsz) / (2 * sizeof(struct sym));
	t->max = left < MAX_SYMS ? (size_t)left : MAX_SYMS;
	return 0;
}

/* Room for one more symbol in t: 0, 1 when t is full and the rest is to be ignored, or
 * -E2BIG (over budget) or -ENOMEM. */
static int grow_table(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 256;
	struct sym *p;

	if (t->n == t->max)
		return t->max == MAX_SYMS ? 1 : -E2BIG;
	if (cap > t->max)
		cap = t->max;
	p = realloc(t->syms, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->syms = p;
	t->cap = cap;
	return 0;
}

/* Inline: once for each of a debug file's thousands of functions. */
static inline int add_sym(struct table *t, uint64_t start, uint64_t size, uint32_t name, uint32_t pref)
{
	if (t->n == t->cap || t->n == t->max) { /* cap <= max */
		int r = grow_table(t);

		if (r)
			return r > 0 ? 0 : r; /* full: the rest is ignored, or over budget */
	}
	t->syms[t->n++] = (struct sym){ .start = start, .size = size, .name = name, .pref = pref };
	return 0;
}

static void table_done(struct table *t)
{
	free(t->syms);
	free(t->strtab);
	*t = (struct table){ 0 };
}

/* Collects the function symbols of symbol table section symsh into t. */
/* A debug file's .symtab names a versioned function with its version (nm:
 * "clock_gettime@@GLIBC_2.17"): the name is what comes before. Cut in the table's own copy of
 * the strings: names that share the tail end at the same place, and no function name starts
 * at the '@'. */
static void strip_version(struct table *t, uint32_t name)
{
	/* name < strsz names a non-empty string, and the table's last byte is NUL: strchr()
	 * stops inside it */
	char *at = strchr(t->strtab + name + 1, '@');

	if (at)
		*at = '\0';
}

/* A label that hand-written assembly made global without a .type: musl's `_start` (crt1's
 * entry, which every musl stack starts in), the SIMD kernels of codec libraries. Code only:
 * inside an executable section, not at its end (`etext` and the other end markers), and not
 * one of the linker's `__start_SECTION`/`__stop_SECTION` bounds. */
static bool code_label(const struct elf *e, const Elf64_Sym *st, const char *name)
{
	const Elf64_Shdr *sh;
	unsigned bind = ELF64_ST_BIND(st->st_info);

	if ((bind != STB_GLOBAL && bind != STB_WEAK) || st->st_shndx >= e->shnum ||
	    strncmp(name, "__start_", 8) == 0 || strncmp(name, "__stop_", 7) == 0)
		return false;
	sh = &e->sh[st->st_shndx];
	return (sh->sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) == (SHF_ALLOC | SHF_EXECINSTR) &&
	       st->st_value >= sh->sh_addr && st->st_value - sh->sh_addr < sh->sh_size;
}

static int load_table(const struct elf *e, const Elf64_Shdr *symsh, struct table *t)
{
	Elf64_Sym *chunk = NULL;
	const Elf64_Shdr *strsh;
	uint64_t nsyms;
	void *p;
	int r = -ENOEXEC;

	if (symsh->sh_entsize != sizeof(Elf64_Sym) || symsh->sh_link >= e->shnum ||
	    !in_file(&e->src, symsh->sh_offset, symsh->sh_size))
		goto out;
	strsh = &e->sh[symsh->sh_link];
	if (strsh->sh_type != SHT_STRTAB || strsh->sh_size == 0 || strsh->sh_size > MAX_STRTAB)
		goto out;
	r = budget_table(e, t, strsh->sh_size);
	if (r < 0)
		goto out;
	r = src_dup(&e->src, strsh->sh_offset, strsh->sh_size, &p);
	if (r < 0)
		goto out;
	t->strtab = p;
	t->strsz = strsh->sh_size;
	t->strtab[t->strsz - 1] = '\0';

	chunk = malloc(SYM_CHUNK * sizeof(*chunk));
	if (!chunk) {
		r = -ENOMEM;
		goto out;
	}
	nsyms = symsh->sh_size / sizeof(Elf64_Sym);
	/* Room for every entry at once: doubling copies the table through fresh pages (libc's
	 * debug file, 10,000 symbols: 23 page faults more of its 173), while the pages of this one
	 * allocation that no function reaches are never touched. */
	if (nsyms > t->cap && t->max > t->cap) {
		size_t cap = nsyms < t->max ? (size_t)nsyms : t->max;
		struct sym *q = realloc(t->syms, cap * sizeof(*q));

		if (!q) {
			r = -ENOMEM;
			goto out;
		}
		t->syms = q;
		t->cap = cap;
	}
	for (uint64_t i = 0; i < nsyms; i += SYM_CHUNK) {
		uint64_t k = nsyms - i < SYM_CHUNK ? nsyms - i : SYM_CHUNK;

		r = src_read(&e->src, symsh->sh_offset + i * sizeof(Elf64_Sym), k * sizeof(Elf64_Sym),
			     chunk);
		if (r < 0)
			goto out;
		for (uint64_t j = 0; j < k; j++) {
			const Elf64_Sym *st = &chunk[j];
			unsigned type = ELF64_ST_TYPE(st->st_info);
			uint64_t off;

			if ((type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE) ||
			    st->st_shndx == SHN_UNDEF || st->st_value == 0 || st->st_name == 0 ||
			    st->st_name >= t->strsz || t->strtab[st->st_name] == '\0' ||
			    (type == STT_NOTYPE && !code_label(e, st, t->strtab + st->st_name)) ||
			    !vaddr_to_offset(e, st->st_value, &off))
				continue;
			strip_version(t, st->st_name);
			r = add_sym(t, off, st->st_size, st->st_name,
				    preference(st, t->strtab + st->st_name));
			if (r < 0)
				goto out;
		}
	}
	r = 0;
out:
	free(chunk);
	if (r < 0)
		table_done(t);
	return r;
}

/* The order of a table: by offset, then preference, then name (the first of equal offsets is
 * the name kept). */
static inline bool sym_less(const struct sym *x, const struct sym *y)
{
	if (x->start != y->start)
		return x->start < y->start;
	if (x->pref != y->pref)
		return x->pref < y->pref;
	return x->name < y->name;
}

/* Sorting needs the offsets only: among the entries at one offset finish() keeps the least by
 * sym_less() and the largest size, whatever their order. */
static inline bool start_less(const struct sym *x, const struct sym *y)
{
	return x->start < y->start;
}

static void sym_swap(struct sym *a, struct sym *b)
{
	struct sym t = *a;

	*a = *b;
	*b = t;
}

static void sym_sift(struct sym *v, size_t n, size_t i)
{
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		if (c + 1 < n && start_less(&v[c], &v[c + 1]))
			c++;
		if (!start_less(&v[i], &v[c]))
			return;
		sym_swap(&v[i], &v[c]);
	}
}

/* Sorts v in place by offset: an introsort (quicksort, heapsort past a depth limit, insertion
 * sort for short runs) with the comparison inlined, for short tables and where radix_syms()
 * has no room for its copy. qsort() took most of a collector's reading of libc's debug file:
 * an indirect call per comparison and a memcpy() per move of its 24-byte elements. */
static void sort_syms(struct sym *v, size_t n)
{
	unsigned depth = 0;

	for (size_t k = n; k > 1; k >>= 1)
		depth += 2;
	while (n > 16) {
		struct sym *lo, *hi, pivot;

		if (depth-- == 0) {
			for (size_t i = n / 2; i-- > 0;)
				sym_sift(v, n, i);
			for (size_t i = n - 1; i > 0; i--) {
				sym_swap(&v[0], &v[i]);
				sym_sift(v, i, 0);
			}
			return;
		}
		/* median of three into v[0], Hoare partition around it */
		if (start_less(&v[n / 2], &v[0]))
			sym_swap(&v[n / 2], &v[0]);
		if (start_less(&v[n - 1], &v[n / 2]))
			sym_swap(&v[n - 1], &v[n / 2]);
		if (start_less(&v[n / 2], &v[0]))
			sym_swap(&v[n / 2], &v[0]);
		sym_swap(&v[0], &v[n / 2]);
		pivot = v[0];
		lo = v;
		hi = v + n;
		for (;;) {
			do
				lo++;
			while (lo < v + n && start_less(lo, &pivot));
			do
				hi--;
			while (start_less(&pivot, hi));
			if (lo >= hi)
				break;
			sym_swap(lo, hi);
		}
		sym_swap(&v[0], hi);
		/* the smaller side by recursion (depth at most log n), the larger by the loop */
		if ((size_t)(hi - v) < n - (size_t)(hi - v) - 1) {
			sort_syms(v, (size_t)(hi - v));
			n -= (size_t)(hi - v) + 1;
			v = hi + 1;
		} else {
			sort_syms(hi + 1, n - (size_t)(hi - v) - 1);
			n = (size_t)(hi - v);
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct sym x = v[i];
		size_t j = i;

		for (; j > 0 && start_less(&x, &v[j - 1]); j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The file ranges of the executable sections (at most MAX_XSECT, by address through the
 * PT_LOADs, so a debug file's NOBITS sections count too): a symbol of size 0 ends with its
 * section. `_init` (size 0, in .init) would otherwise take in the PLT after it. */
#define MAX_XSECT 32
struct xsect {
	size_t n;
	uint64_t lo[MAX_XSECT], hi[MAX_XSECT];
};

static void exec_sections(const struct elf *e, struct xsect *x)
{
	x->n = 0;
	for (size_t i = 0; i < e->shnum && x->n < MAX_XSECT; i++) {
		const Elf64_Shdr *sh = &e->sh[i];
		uint64_t off;

		if ((sh->sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) != (SHF_ALLOC | SHF_EXECINSTR) ||
		    sh->sh_size == 0 || !vaddr_to_offset(e, sh->sh_addr, &off))
			continue;
		x->lo[x->n] = off;
		x->hi[x->n++] = sh->sh_size > UINT64_MAX - off ? UINT64_MAX : off + sh->sh_size;
	}
}

static uint64_t section_end(const struct xsect *x, uint64_t off, uint64_t lim)
{
	for (size_t i = 0; i < x->n; i++)
		if (off >= x->lo[i] && off < x->hi[i] && x->hi[i] < lim)
			return x->hi[i];
	return lim;
}

/* Sorts v by offset, as sort_syms() does, with a radix sort: a byte of the offset a pass,
 * least significant first, only the bytes in which the offsets differ (a library's take
 * three). For libc's debug file this is a third of the introsort's instructions. tmp holds n
 * entries: with the table it stays within budget_table()'s peak, which counts the symbols
 * twice. Returns the one of v and tmp that holds the result. */
static struct sym *radix_syms(struct sym *v, struct sym *tmp, size_t n)
{
	uint64_t all = v[0].start, any = v[0].start;
	struct sym *src = v, *dst = tmp, *t;
	uint32_t count[256]; /* n <= MAX_SYMS fits */

	for (size_t i = 1; i < n; i++) {
		all &= v[i].start;
		any |= v[i].start;
	}
	for (unsigned shift = 0; shift < 64; shift += 8) {
		uint32_t at = 0;

		if (!(((all ^ any) >> shift) & 0xff))
			continue; /* the same byte in every offset */
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(src[i].start >> shift) & 0xff]++;
		for (unsigned d = 0; d < 256; d++) {
			uint32_t k = count[d];

			count[d] = at;
			at += k;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].start >> shift) & 0xff]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	return src;
}

/* Sorts, folds aliases, sets extents and moves the table and its names into s. */
static int finish(const struct elf *e, struct table *t, struct ldp_elfsym *s)
{
	uint64_t total = 0;
	size_t n = 0;
	char *arena = NULL;
	struct sym *tmp;
	struct xsect x;

	if (t->n == 0)
		return 0;
	exec_sections(e, &x);
	if (t->n > 64 && (tmp = malloc(t->n * sizeof(*tmp)))) {
		if (radix_syms(t->syms, tmp, t->n) == tmp) {
			free(t->syms);
			t->syms = tmp;
			t->cap = t->n;
		} else {
			free(tmp);
		}
	} else {
		sort_syms(t->syms, t->n); /* no room for the radix sort's copy: in place */
	}
	for (size_t i = 0; i < t->n; i++) {
		if (n > 0 && t->syms[n - 1].start == t->syms[i].start) {
			struct sym *k = &t->syms[n - 1];
			uint64_t size = t->syms[i].size > k->size ? t->syms[i].size : k->size;

			if (sym_less(&t->syms[i], k))
				*k = t->syms[i];
			k->size = size;
			continue;
		}
		t->syms[n++] = t->syms[i];
	}
	for (size_t i = 0; i < n; i++) {
		struct sym *y = &t->syms[i];
		uint64_t lim = segment_end(e, y->start);

		if (i + 1 < n && t->syms[i + 1].start < lim)
			lim = t->syms[i + 1].start;
		if (y->size == 0)
			y->size = section_end(&x, y->start, lim) - y->start;
		else if (y->size > UINT64_MAX - y->start)
			y->size = UINT64_MAX - y->start;
	}

	/* Compact the names in use unless that would not save anything. Each strlen() stops at
	 * the string table's forced final NUL, and the loop stops once past its size, so this
	 * reads at most about twice the table whatever the symbols point at. */
	for (size_t i = 0; i < n && total <= t->strsz; i++)
		total += strlen(t->strtab + t->syms[i].name) + 1;
	if (total <= t->strsz) {
		uint64_t pos = 0;

		arena = malloc(total);
		if (!arena)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			size_t len = strlen(t->strtab + t->syms[i].name) + 1;

			memcpy(arena + pos, t->strtab + t->syms[i].name, len);
			t->syms[i].name = (uint32_t)pos; /* pos < strsz <= MAX_STRTAB */
			pos += len;
		}
		free(t->strtab);
	} else {
		arena = t->strtab;
		total = t->strsz;
	}
	t->strtab = NULL;
	s->names = arena;
	s->names_len = (size_t)total;

	if (n < t->cap) {
		struct sym *p = realloc(t->syms, n * sizeof(*p));
		if (p)
			t->syms = p;
	}
	s->syms = t->syms;
	s->n = n;
	t->syms = NULL;
	t->n = t->cap = 0;
	return 0;
}

/* The first section with one of the names (NULL-terminated list), or NULL. Returns 0 or -errno
 * (only allocation and I/O failures: a file without section names has no such section). */
static int find_section(const struct elf *e, const char *const *names, const Elf64_Shdr **ret)
{
	const Elf64_Shdr *strsh, *found = NULL;
	size_t idx = e->eh.e_shstrndx;
	char *strtab = NULL;
	void *p;
	int r = 0;

	if (idx == SHN_XINDEX && e->shnum > 0)
		idx = e->sh[0].sh_link; /* too many sections: the index is kept in section 0 */
	if (idx == SHN_UNDEF || idx >= e->shnum)
		goto out;
	strsh = &e->sh[idx];
	if (strsh->sh_type != SHT_STRTAB || strsh->sh_size == 0 || strsh->sh_size > MAX_SHSTRTAB ||
	    !in_file(&e->src, strsh->sh_offset, strsh->sh_size))
		goto out;
	r = src_dup(&e->src, strsh->sh_offset, strsh->sh_size, &p);
	if (r < 0)
		goto out;
	strtab = p;
	strtab[strsh->sh_size - 1] = '\0';
	for (size_t i = 0; i < e->shnum && !found; i++) {
		if (e->sh[i].sh_name >= strsh->sh_size)
			continue;
		for (size_t k = 0; names[k] && !found; k++)
			if (strcmp(strtab + e->sh[i].sh_name, names[k]) == 0)
				found = &e->sh[i];
	}
out:
	free(strtab);
	if (r == 0)
		*ret = found;
	return r;
}

/* Collects the functions of Go's .gopclntab into t. A missing, oversized or unknown table adds
 * nothing; only allocation and I/O failures are errors. */
static int load_gopclntab(const struct elf *e, struct table *t)
{
	/* A Go PIE linked by Go itself puts the table in a relro section of its own name; a PIE
	 * linked externally (cgo) merges it into .data.rel.ro, where it is not looked for. */
	static const char *const names[] = { ".gopclntab", ".data.rel.ro.gopclntab", NULL };
	const Elf64_Shdr *sh = NULL;
	struct ldp_gopclntab g;
	uint8_t *buf = NULL;
	int r;

	r = find_section(e, names, &sh);
	if (r < 0 || !sh || sh->sh_type != SHT_PROGBITS || sh->sh_size == 0 ||
	    sh->sh_size > MAX_STRTAB || !in_file(&e->src, sh->sh_offset, sh->sh_size))
		goto out;
	r = budget_table(e, t, sh->sh_size + 1);
	if (r < 0)
		goto out;
	/* One byte more, a NUL: finish() takes the buffer for a string table that ends in one. */
	buf = malloc(sh->sh_size + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	r = src_read(&e->src, sh->sh_offset, sh->sh_size, buf);
	if (r < 0)
		goto out;
	buf[sh->sh_size] = '\0';
	if (ldp_gopclntab_init(&g, buf, sh->sh_size) < 0)
		goto out; /* r is 0: a layout we do not know gives no names */
	for (size_t i = 0; i < ldp_gopclntab_count(&g); i++) {
		uint64_t addr, size, off;
		const char *name;

		if (ldp_gopclntab_func(&g, i, &addr, &size, &name) < 0 ||
		    !vaddr_to_offset(e, addr, &off))
			continue;
		r = add_sym(t, off, size, (uint32_t)(name - (const char *)buf),
			    (uint32_t)strnlen(name, RANK_NAME_LEN));
		if (r < 0)
			goto out;
	}
	t->strtab = (char *)buf;
	t->strsz = sh->sh_size + 1;
	buf = NULL;
out:
	free(buf);
	return r;
}

/* ---- PLT stubs ---- */

/* A sample lands in a PLT stub often enough to matter (the jmp through the GOT of a hot call;
 * the first calls of an object just loaded, lazily bound). perf and objdump call a stub
 * "NAME@plt" after the function whose GOT slot it jumps through; so do we. A stub's slot comes
 * from its code (jmp *disp32(%rip), after an endbr64 and a bnd prefix: .plt, .plt.sec and
 * .plt.got alike), its name from the relocation that fills the slot: JUMP_SLOT and GLOB_DAT
 * through .dynsym, IRELATIVE (a call to an IFUNC of the object itself, as in libc) through the
 * IFUNC symbol at its resolver. A stub with no such relocation (the lazy PLT's first entry)
 * stays unnamed. */
#define MAX_PLT       (1u << 16)     /* stubs named; relocations looked at for them */
#define MAX_PLT_BYTES (1u << 20)     /* a larger PLT section is not read */
#define MAX_DYNSYM    (16ull << 20)  /* a larger .dynsym (or its strings) names no stub */

struct slot {
	uint64_t got;    /* the GOT slot's address */
	uint64_t addend; /* IRELATIVE: the resolver's address */
	uint32_t sym;    /* .dynsym index; 0 for IRELATIVE */
};

struct ifunc {
	uint64_t value;
	uint32_t pref; /* among aliases, the name a lookup of the resolver gives (preference()) */
	uint32_t name;
};

struct stub {
	uint64_t off, size;
	uint32_t name; /* into the .dynsym strings */
};

struct plt {
	Elf64_Sym *dsym;  /* .dynsym */
	uint64_t ndsym;
	char *dstr;       /* its strings, NUL-ended */
	uint64_t dstrsz;
	struct slot *slots;
	size_t nslots;
	struct ifunc *ifuncs;
	size_t nifuncs;
	struct stub *stubs;
	size_t nstubs;
};

static int cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->got < y->got ? -1 : x->got > y->got;
}

static int cmp_ifunc(const void *a, const void *b)
{
	const struct ifunc *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

static void plt_done(struct plt *p)
{
	free(p->dsym);
	free(p->dstr);
	free(p->slots);
	free(p->ifuncs);
	free(p->stubs);
}

/* .dynsym (section index dyn) and its strings, and the object's IFUNC symbols, sorted. */
static int plt_dynsym(const struct elf *e, size_t dyn, struct plt *p)
{
	const Elf64_Shdr *sh = &e->sh[dyn], *strsh;
	void *buf;
	int r;

	if (sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_size > MAX_DYNSYM || sh->sh_link >= e->shnum)
		return -ENOEXEC;
	strsh = &e->sh[sh->sh_link];
	if (strsh->sh_type != SHT_STRTAB || strsh->sh_size == 0 || strsh->sh_size > MAX_DYNSYM)
		return -ENOEXEC;
	r = src_dup(&e->src, sh->sh_offset, sh->sh_size, &buf);
	if (r < 0)
		return r;
	p->dsym = buf;
	p->ndsym = sh->sh_size / sizeof(Elf64_Sym);
	r = src_dup(&e->src, strsh->sh_offset, strsh->sh_size, &buf);
	if (r < 0)
		return r;
	p->dstr = buf;
	p->dstrsz = strsh->sh_size;
	p->dstr[p->dstrsz - 1] = '\0';
	for (uint64_t i = 0; i < p->ndsym; i++)
		if (ELF64_ST_TYPE(p->dsym[i].st_info) == STT_GNU_IFUNC && p->dsym[i].st_shndx != SHN_UNDEF)
			p->nifuncs++;
	if (p->nifuncs > MAX_PLT)
		p->nifuncs = MAX_PLT;
	p->ifuncs = malloc((p->nifuncs ? p->nifuncs : 1) * sizeof(*p->ifuncs));
	if (!p->ifuncs)
		return -ENOMEM;
	for (uint64_t i = 0, k = 0; i < p->ndsym && k < p->nifuncs; i++)
		if (ELF64_ST_TYPE(p->dsym[i].st_info) == STT_GNU_IFUNC && p->dsym[i].st_shndx != SHN_UNDEF)
			p->ifuncs[k++] = (struct ifunc){ p->dsym[i].st_value,
				p->dsym[i].st_name < p->dstrsz ? preference(&p->dsym[i], p->dstr + p->dsym[i].st_name) : ~0u,
				p->dsym[i].st_name };
	qsort(p->ifuncs, p->nifuncs, sizeof(*p->ifuncs), cmp_ifunc);
	return 0;
}

/* The relocations that fill GOT slots, from every RELA section of .dynsym (section dyn). */
static int plt_slots(const struct elf *e, size_t dyn, struct plt *p)
{
	Elf64_Rela chunk[256];
	int r = 0;

	p->slots = malloc(MAX_PLT * sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	for (size_t i = 0; i < e->shnum; i++) {
		const Elf64_Shdr *sh = &e->sh[i];
		uint64_t n = sh->sh_size / sizeof(Elf64_Rela);

		if (sh->sh_type != SHT_RELA || sh->sh_link != dyn || sh->sh_entsize != sizeof(Elf64_Rela))
			continue;
		for (uint64_t k = 0; k < n && p->nslots < MAX_PLT; k += 256) {
			uint64_t m = n - k < 256 ? n - k : 256;

			r = src_read(&e->src, sh->sh_offset + k * sizeof(Elf64_Rela), m * sizeof(Elf64_Rela), chunk);
			if (r == -ENOEXEC) /* past the end of the file: no more of this section */
				break;
			if (r < 0)
				return r;
			for (uint64_t j = 0; j < m && p->nslots < MAX_PLT; j++) {
				uint32_t type = ELF64_R_TYPE(chunk[j].r_info), sym = ELF64_R_SYM(chunk[j].r_info);

				if (((type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT) && sym && sym < p->ndsym) ||
				    type == R_X86_64_IRELATIVE)
					p->slots[p->nslots++] = (struct slot){ chunk[j].r_offset,
						(uint64_t)chunk[j].r_addend, type == R_X86_64_IRELATIVE ? 0 : sym };
			}
		}
	}
	qsort(p->slots, p->nslots, sizeof(*p->slots), cmp_slot);
	return 0;
}

/* The name (into dstr) of the function whose GOT slot is got; 0 for none. */
static uint32_t plt_name(const struct plt *p, uint64_t got)
{
	size_t lo = 0, hi = p->nslots;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct slot *sl = &p->slots[mid];

		if (got < sl->got) {
			hi = mid;
		} else if (got > sl->got) {
			lo = mid + 1;
		} else if (sl->sym) {
			return p->dsym[sl->sym].st_name < p->dstrsz ? p->dsym[sl->sym].st_name : 0;
		} else {
			/* IRELATIVE: the IFUNC symbol at the resolver */
			size_t a = 0, b = p->nifuncs;

			while (a < b) { /* the first at the resolver: the preferred alias */
				size_t m = a + (b - a) / 2;

				if (p->ifuncs[m].value < sl->addend)
					a = m + 1;
				else
					b = m;
			}
			return a < p->nifuncs && p->ifuncs[a].value == sl->addend && p->ifuncs[a].name < p->dstrsz
				       ? p->ifuncs[a].name : 0;
		}
	}
	return 0;
}

/* The GOT slot the stub at address at (its code in c, len bytes) jumps through; 0 for none. */
static uint64_t stub_got(const uint8_t *c, uint64_t len, uint64_t at)
{
	uint64_t i = 0;
	int32_t disp;

	if (len >= 4 && c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		i = 4; /* endbr64 */
	if (i < len && c[i] == 0xf2)
		i++; /* bnd */
	if (len < i + 6 || c[i] != 0xff || c[i + 1] != 0x25)
		return 0;
	memcpy(&disp, c + i + 2, sizeof(disp));
	return at + i + 6 + (uint64_t)(int64_t)disp;
}

/* The stubs of the PLT section sh, named. */
static int plt_section(const struct elf *e, const Elf64_Shdr *sh, struct plt *p)
{
	uint64_t step = sh->sh_entsize ? sh->sh_entsize : 16, off;
	uint8_t *code = NULL;
	void *buf;
	int r = 0;

	if (sh->sh_type != SHT_PROGBITS || !(sh->sh_flags & SHF_EXECINSTR) || (step != 8 && step != 16) ||
	    sh->sh_size == 0 || sh->sh_size > MAX_PLT_BYTES || !vaddr_to_offset(e, sh->sh_addr, &off))
		goto out;
	r = src_dup(&e->src, sh->sh_offset, sh->sh_size, &buf);
	if (r < 0)
		goto out;
	code = buf;
	for (uint64_t k = 0; k + step <= sh->sh_size && p->nstubs < MAX_PLT; k += step) {
		uint64_t got = stub_got(code + k, step, sh->sh_addr + k);
		uint32_t name = got ? plt_name(p, got) : 0;

		if (name && p->dstr[name])
			p->stubs[p->nstubs++] = (struct stub){ off + k, step, name };
	}
out:
	free(code);
	return r == -ENOEXEC ? 0 : r;
}

/* Adds "NAME@plt" for the PLT stubs to t (its strings grow by their names). A file without
 * .dynsym, relocations or PLT sections adds nothing; neither does one whose stubs would not fit
 * the table's budget. Only allocation and I/O failures are errors. */
static int load_plt(const struct elf *e, struct table *t)
{
	static const char *const names[][2] = { { ".plt", NULL }, { ".plt.sec", NULL }, { ".plt.got", NULL } };
	struct plt p = { 0 };
	uint64_t extra = 0, pos;
	size_t dyn = e->shnum;
	char *strtab;
	int r = 0;

	if (e->debug)
		goto out; /* a debug file's sections hold no code */
	for (size_t i = 0; i < e->shnum && dyn == e->shnum; i++)
		if (e->sh[i].sh_type == SHT_DYNSYM)
			dyn = i;
	if (dyn == e->shnum || (r = plt_dynsym(e, dyn, &p)) < 0 || (r = plt_slots(e, dyn, &p)) < 0 ||
	    p.nslots == 0)
		goto out;
	p.stubs = malloc(MAX_PLT * sizeof(*p.stubs));
	if (!p.stubs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < 3; k++) {
		const Elf64_Shdr *sh = NULL;

		r = find_section(e, names[k], &sh);
		if (r == 0 && sh)
			r = plt_section(e, sh, &p);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < p.nstubs; i++)
		extra += strlen(p.dstr + p.stubs[i].name) + sizeof("@plt");
	/* the table's budget: its strings and symbols as they will be (budget_table) */
	if (p.nstubs == 0 || t->strsz + extra > MAX_STRTAB ||
	    (e->budget != UINT64_MAX &&
	     (2 * (t->strsz + extra) > e->budget ||
	      t->n + p.nstubs > (e->budget - 2 * (t->strsz + extra)) / (2 * sizeof(struct sym)))) ||
	    t->n + p.nstubs > MAX_SYMS)
		goto out;
	/* a program whose symbol tables name no function of its own has no strings yet: they
	 * start with an empty one, as a string table does */
	strtab = realloc(t->strtab, (t->strtab ? t->strsz : 1) + extra);
	if (!strtab) {
		r = -ENOMEM;
		goto out;
	}
	if (!t->strtab) {
		strtab[0] = '\0';
		t->strsz = 1;
	}
	t->strtab = strtab;
	pos = t->strsz;
	t->strsz += extra;
	if (t->max < t->n + p.nstubs)
		t->max = t->n + p.nstubs;
	for (size_t i = 0; i < p.nstubs; i++) {
		uint64_t len = strlen(p.dstr + p.stubs[i].name);

		memcpy(strtab + pos, p.dstr + p.stubs[i].name, len);
		memcpy(strtab + pos + len, "@plt", sizeof("@plt"));
		r = add_sym(t, p.stubs[i].off, p.stubs[i].size, (uint32_t)pos, 2u << 16);
		if (r < 0)
			goto out;
		pos += len + sizeof("@plt");
	}
out:
	plt_done(&p);
	return r;
}

/* .symtab if it has any function, else .dynsym, else Go's .gopclntab; and the PLT's stubs. A
 * symbol table that is malformed counts as absent; only allocation and I/O failures are errors. */
static int read_symbols(const struct elf *e, struct ldp_elfsym *s)
{
	static const uint32_t types[] = { SHT_SYMTAB, SHT_DYNSYM };
	struct table t = { 0 };
	int r = 0;

	for (size_t k = 0; k < 2 && t.n == 0 && !e->plt_only; k++) {
		for (size_t i = 0; i < e->shnum; i++) {
			if (e->sh[i].sh_type != types[k])
				continue;
			table_done(&t);
			r = load_table(e, &e->sh[i], &t);
			if (r < 0 && r != -ENOEXEC)
				goto out;
			break; /* only the first table of each type */
		}
	}
	if (t.n == 0 && !e->plt_only) {
		table_done(&t);
		r = load_gopclntab(e, &t);
		if (r < 0)
			goto out;
	}
	r = load_plt(e, &t);
	if (r < 0)
		goto out;
	r = finish(e, &t, s);
out:
	table_done(&t);
	return r;
}

static int build(const struct src *src, uint64_t budget, const struct ldp_elfsym_loads *debug,
		 bool plt_only, struct ldp_elfsym **ret)
{
	struct elf e = { .src = *src, .debug = debug, .budget = budget ? budget : UINT64_MAX,
			 .plt_only = plt_only };
	struct ldp_elfsym *s = NULL;
	int r;

	/* the result's own header counts too: ldp_elfsym_bytes() is then within the budget */
	if (budget && budget <= sizeof(*s))
		return -E2BIG;
	if (budget)
		e.budget -= sizeof(*s);

	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	r = read_headers(&e);
	if (r < 0)
		goto out;
	r = read_build_id(&e, s->build_id);
	if (r < 0)
		goto out;
	r = read_symbols(&e, s);
	if (r < 0)
		goto out;
	*ret = s;
	s = NULL;
out:
	free(e.sh);
	free(e.ph);
	ldp_elfsym_free(s);
	return r;
}

int ldp_elfsym_parse_budget(const void *buf, size_t len, uint64_t max_bytes, struct ldp_elfsym **ret)
{
	struct src src = { .buf = buf, .fd = -1, .size = len };

	if (!ret || (!buf && len > 0))
		return -EINVAL;
	if (len > MAX_FILE_SIZE)
		return -EFBIG;
	return build(&src, max_bytes, NULL, false, ret);
}

int ldp_elfsym_parse(const void *buf, size_t len, struct ldp_elfsym **ret)
{
	return ldp_elfsym_parse_budget(buf, len, 0, ret);
}

/* The source of a file open on fd: a regular file of at most MAX_FILE_SIZE bytes. */
static int src_of_fd(int fd, struct src *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -ENOEXEC;
	if ((uint64_t)st.st_size > MAX_FILE_SIZE)
		return -EFBIG;
	*ret = (struct src){ .buf = NULL, .fd = fd, .size = (uint64_t)st.st_size };
	return 0;
}

static int open_fd(int fd, uint64_t max_bytes, bool plt_only, struct ldp_elfsym **ret)
{
	struct src src;
	int r;

	if (fd < 0 || !ret)
		return -EINVAL;
	r = src_of_fd(fd, &src);
	return r < 0 ? r : build(&src, max_bytes, NULL, plt_only, ret);
}

int ldp_elfsym_open_fd(int fd, uint64_t max_bytes, struct ldp_elfsym **ret)
{
	return open_fd(fd, max_bytes, false, ret);
}

int ldp_elfsym_open_plt_fd(int fd, uint64_t max_bytes, struct ldp_elfsym **ret)
{
	return open_fd(fd, max_bytes, true, ret);
}

int ldp_elfsym_open_debug_fd(int fd, const struct ldp_elfsym_loads *orig, uint64_t max_bytes,
			     struct ldp_elfsym **ret)
{
	static const struct ldp_elfsym_loads none;
	struct src src;
	int r;

	if (fd < 0 || !ret)
		return -EINVAL;
	r = src_of_fd(fd, &src);
	return r < 0 ? r : build(&src, max_bytes, orig ? orig : &none, false, ret);
}

int ldp_elfsym_parse_debug(const void *buf, size_t len, const struct ldp_elfsym_loads *orig,
			   struct ldp_elfsym **ret)
{
	static const struct ldp_elfsym_loads none;
	struct src src = { .buf = buf, .fd = -1, .size = len };

	if (!ret || (!buf && len > 0))
		return -EINVAL;
	if (len > MAX_FILE_SIZE)
		return -EFBIG;
	return build(&src, 0, orig ? orig : &none, false, ret);
}

/* The program headers and section headers of the file open on fd, for the two readers below. */
static int headers_of_fd(int fd, struct elf *e)
{
	int r = src_of_fd(fd, &e->src);

	return r < 0 ? r : read_headers(e);
}

int ldp_elfsym_read_loads(int fd, struct ldp_elfsym_loads *ret, char *build_id, size_t len)
{
	struct elf e = { .budget = UINT64_MAX };
	char id[2 * MAX_BUILD_ID + 1] = "";
	int r;

	r = headers_of_fd(fd, &e);
	if (r == 0)
		r = read_build_id(&e, id);
	if (r == 0) {
		ret->n = 0;
		for (size_t i = 0; i < e.nloads && i < LDP_ELFSYM_MAX_LOADS; i++) {
			ret->l[i].vaddr = e.loads[i].vaddr;
			ret->l[i].offset = e.loads[i].offset;
			ret->l[i].filesz = e.loads[i].filesz;
			ret->n++;
		}
		if (build_id && len)
			snprintf(build_id, len, "%s", id);
	}
	free(e.sh);
	free(e.ph);
	return r;
}

int ldp_elfsym_debuglink(int fd, char *name, size_t len, uint32_t *crc)
{
	static const char *const names[] = { ".gnu_debuglink", NULL };
	struct elf e = { .budget = UINT64_MAX };
	const Elf64_Shdr *sh = NULL;
	uint8_t buf[PATH_MAX_LINK + 8];
	size_t n, end;
	int r;

	r = headers_of_fd(fd, &e);
	if (r == 0)
		r = find_section(&e, names, &sh);
	if (r == 0 && (!sh || sh->sh_type != SHT_PROGBITS || sh->sh_size < 8 ||
		       sh->sh_size > sizeof(buf) || !in_file(&e.src, sh->sh_offset, sh->sh_size)))
		r = -ENOENT;
	if (r == 0)
		r = src_read(&e.src, sh->sh_offset, sh->sh_size, buf);
	if (r == 0) {
		/* the name, NUL, padding to 4 bytes, then the CRC32 of the debug file */
		n = strnlen((const char *)buf, sh->sh_size);
		end = (n + 4) & ~(size_t)3;
		if (n == 0 || n >= len || end + 4 > sh->sh_size || memchr(buf, '/', n)) {
			r = -ENOENT;
		} else {
			memcpy(name, buf, n + 1);
			memcpy(crc, buf + end, 4);
		}
	}
	free(e.sh);
	free(e.ph);
	return r;
}

int ldp_elfsym_section(int fd, const char *name, uint64_t max, void **buf, size_t *len)
{
	const char *const names[] = { name, NULL };
	struct elf e = { .budget = UINT64_MAX };
	const Elf64_Shdr *sh = NULL;
	void *p = NULL;
	int r;

	r = headers_of_fd(fd, &e);
	if (r == 0)
		r = find_section(&e, names, &sh);
	if (r == 0 && (!sh || sh->sh_type != SHT_PROGBITS || !in_file(&e.src, sh->sh_offset, sh->sh_size)))
		r = -ENOENT;
	if (r == 0 && sh->sh_size > max)
		r = -E2BIG;
	if (r == 0 && !(p = malloc(sh->sh_size ? sh->sh_size : 1)))
		r = -ENOMEM;
	if (r == 0)
		r = src_read(&e.src, sh->sh_offset, sh->sh_size, p);
	if (r == 0) {
		*buf = p;
		*len = sh->sh_size;
		p = NULL;
	}
	free(p);
	free(e.sh);
	free(e.ph);
	return r;
}

int ldp_elfsym_merge(struct ldp_elfsym *into, const struct ldp_elfsym *from)
{
	size_t n = 0, total = 0, pos = 0, i, j = 0;
	struct sym *v, *a;
	char *arena;

	static const struct ldp_elfsym none;

	if (!from)
		from = &none;
	for (int k = 0; k < 2; k++) {
		const struct ldp_elfsym *s = k ? from : into;

		for (i = 0; i < s->n; i++)
			total += strlen(s->names + s->syms[i].name) + 1;
	}
	if (total > UINT32_MAX)
		return -E2BIG;
	v = malloc((into->n + from->n + 1) * sizeof(*v));
	arena = malloc(total ? total : 1);
	if (!v || !arena) {
		free(v);
		free(arena);
		return -ENOMEM;
	}
	/* Both tables are in strictly increasing order of offset (finish() and this function
	 * leave every table so): one pass merges them, and at an offset both have, into's entry is
	 * kept and from's passed over, so that into's name wins. The names go into the arena
	 * into's first, then from's. into's entries wait at the end of v; an entry is written at
	 * n <= i + j <= from->n + i, never past the next of into's to be read. */
	a = v + from->n;
	for (i = 0; i < into->n; i++) {
		size_t l = strlen(into->names + into->syms[i].name) + 1;

		memcpy(arena + pos, into->names + into->syms[i].name, l);
		a[i] = (struct sym){ into->syms[i].start, into->syms[i].size, (uint32_t)pos, 0 };
		pos += l;
	}
	for (i = 0; i < into->n || j < from->n;) {
		size_t l;

		if (i < into->n && j < from->n && a[i].start == from->syms[j].start) {
			j++;
			continue;
		}
		if (j == from->n || (i < into->n && a[i].start < from->syms[j].start)) {
			v[n++] = a[i++];
			continue;
		}
		l = strlen(from->names + from->syms[j].name) + 1;
		memcpy(arena + pos, from->names + from->syms[j].name, l);
		v[n++] = (struct sym){ from->syms[j].start, from->syms[j].size, (uint32_t)pos, 0 };
		pos += l;
		j++;
	}
	/* an extent that reached the next function ends there (a lookup finds the same entry: the
	 * last one starting at or before the offset) */
	for (i = 0; i + 1 < n; i++)
		if (v[i].size > v[i + 1].start - v[i].start)
			v[i].size = v[i + 1].start - v[i].start;
	free(into->syms);
	free(into->names);
	into->syms = v;
	into->n = n;
	into->names = arena;
	into->names_len = total;
	return 0;
}

int ldp_elfsym_open(const char *path, struct ldp_elfsym **ret)
{
	int fd, r;

	if (!path || !ret)
		return -EINVAL;
	/* O_NONBLOCK: a FIFO put where a library was must not block the profiler's thread. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = ldp_elfsym_open_fd(fd, 0, ret);
	close(fd);
	return r;
}

void ldp_elfsym_free(struct ldp_elfsym *s)
{
	if (!s)
		return;
	free(s->syms);
	free(s->names);
	free(s);
}

const char *ldp_elfsym_lookup(const struct ldp_elfsym *s, uint64_t file_offset)
{
	size_t lo = 0, hi;
	const struct sym *y;

	if (!s || s->n == 0)
		return NULL;
	hi = s->n;
	while (lo < hi) { /* first entry starting after file_offset */
		size_t mid = lo + (hi - lo) / 2;

		if (s->syms[mid].start <= file_offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	y = &s->syms[lo - 1];
	if (file_offset - y->start >= y->size)
		return NULL;
	return s->names + y->name;
}

const char *ldp_elfsym_build_id(const struct ldp_elfsym *s)
{
	return s ? s->build_id : "";
}

size_t ldp_elfsym_bytes(const struct ldp_elfsym *s)
{
	return s ? sizeof(*s) + s->n * sizeof(*s->syms) + s->names_len : 0;
}

size_t ldp_elfsym_count(const struct ldp_elfsym *s)
{
	return s ? s->n : 0;
}

int ldp_elfsym_get(const struct ldp_elfsym *s, size_t i, uint64_t *ret_start, uint64_t *ret_size,
		   const char **ret_name)
{
	if (!s || i >= s->n)
		return -ERANGE;
	if (ret_start)
		*ret_start = s->syms[i].start;
	if (ret_size)
		*ret_size = s->syms[i].size;
	if (ret_name)
		*ret_name = s->names + s->syms[i].name;
	return 0;
}

/* ---- one dynamic symbol, by name (ldprof status) ----
 * Same rules as above: every offset checked against the file size, the string table's last
 * byte forced to NUL, the loop bounded by the symbol table's size, which is inside the file. */

static int find_dynsym(const struct src *src, const char *name, struct ldp_elfsym_dynvar *ret)
{
	struct elf e = { .src = *src };
	const Elf64_Shdr *symsh = NULL, *strsh;
	const Elf64_Phdr *first = NULL;
	Elf64_Sym *chunk = NULL;
	char *strtab = NULL;
	uint64_t nsyms, strsz;
	void *p;
	int r;

	r = read_headers(&e);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < e.phnum && !first; i++)
		if (e.ph[i].p_type == PT_LOAD)
			first = &e.ph[i];
	for (size_t i = 0; i < e.shnum && !symsh; i++)
		if (e.sh[i].sh_type == SHT_DYNSYM)
			symsh = &e.sh[i];
	r = -ENOENT;
	if (!first || !symsh)
		goto out;
	r = -ENOEXEC;
	if (symsh->sh_entsize != sizeof(Elf64_Sym) || symsh->sh_link >= e.shnum ||
	    !in_file(&e.src, symsh->sh_offset, symsh->sh_size))
		goto out;
	strsh = &e.sh[symsh->sh_link];
	if (strsh->sh_type != SHT_STRTAB || strsh->sh_size == 0 || strsh->sh_size > MAX_STRTAB)
		goto out;
	r = src_dup(&e.src, strsh->sh_offset, strsh->sh_size, &p);
	if (r < 0)
		goto out;
	strtab = p;
	strsz = strsh->sh_size;
	strtab[strsz - 1] = '\0';

	chunk = malloc(SYM_CHUNK * sizeof(*chunk));
	if (!chunk) {
		r = -ENOMEM;
		goto out;
	}
	nsyms = symsh->sh_size / sizeof(Elf64_Sym);
	r = -ENOENT;
	for (uint64_t i = 0; i < nsyms && r == -ENOENT; i += SYM_CHUNK) {
		uint64_t k = nsyms - i < SYM_CHUNK ? nsyms - i : SYM_CHUNK;
		int rr;

		rr = src_read(&e.src, symsh->sh_offset + i * sizeof(Elf64_Sym), k * sizeof(Elf64_Sym),
			      chunk);
		if (rr < 0) {
			r = rr;
			goto out;
		}
		for (uint64_t j = 0; j < k; j++) {
			const Elf64_Sym *st = &chunk[j];

			if (st->st_shndx == SHN_UNDEF || st->st_name == 0 || st->st_name >= strsz ||
			    strcmp(strtab + st->st_name, name) != 0)
				continue;
			*ret = (struct ldp_elfsym_dynvar){ .value = st->st_value, .size = st->st_size,
							   .first_load_vaddr = first->p_vaddr,
							   .first_load_offset = first->p_offset };
			r = 0;
			break;
		}
	}
out:
	free(chunk);
	free(strtab);
	free(e.sh);
	free(e.ph);
	return r;
}

int ldp_elfsym_find_dynsym_buf(const void *buf, size_t len, const char *name,
			       struct ldp_elfsym_dynvar *ret)
{
	struct src src = { .buf = buf, .fd = -1, .size = len };

	if (!name || !ret || (!buf && len > 0))
		return -EINVAL;
	if (len > MAX_FILE_SIZE)
		return -EFBIG;
	return find_dynsym(&src, name, ret);
}

int ldp_elfsym_find_dynsym(int fd, const char *name, struct ldp_elfsym_dynvar *ret)
{
	struct src src;
	int r;

	if (fd < 0 || !name || !ret)
		return -EINVAL;
	r = src_of_fd(fd, &src);
	return r < 0 ? r : find_dynsym(&src, name, ret);
}
