/* SPDX-License-Identifier: MIT
 *
 * test_elfsym.c — common/elfsym.c on a handcrafted ELF (alias choice, extents, fallback to
 * .dynsym, damaged headers), on this test's own executable (.symtab, built with -g), on the libc
 * it runs with (.dynsym), on a stripped copy, and on garbage. Go programs: a handcrafted
 * .gopclntab (and damaged copies), and tests/progs/go/hot stripped with -ldflags='-s -w' against
 * its unstripped build (.symtab). Build IDs are compared with what `readelf -n` prints. Exits
 * non-zero after printing every failed check.
 *
 * `test_elfsym --write-seeds DIR` writes the handcrafted ELF (whole and truncated), the
 * handcrafted Go one, and one around the last functions of the stripped Go program's real
 * .gopclntab into DIR: that is how tests/fuzz/corpus/fuzz_elfsym/synthetic* and go-* were made.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "debuginfo.h"
#include "elfsym.h"
#include "gopclntab.h"
#include "procmaps.h"

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

static const char *str_or_null(const char *s)
{
	return s ? s : "(null)";
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* ---- a handcrafted ELF ----
 * One PT_LOAD maps file offsets [0, 0x800) at 0x10000; the symbols below are at 0x10300 and up,
 * so their file offsets are 0x300 and up. */
#define SYN_SIZE  0x800
#define SYN_BASE  0x10000
#define OFF_NOTE  0x100
#define OFF_SYMS  0x200
#define OFF_STR   0x400
#define OFF_DYN   0x580
#define OFF_SHDRS 0x600

static const char syn_strtab[] = "\0__foo\0foo\0foo_local\0nosize\0sized\0obj\0undef\0zero\0ifunc\0"
				 "outside\0aaa_local\0_aaa\0dynonly";

static uint32_t stroff(const char *name)
{
	for (size_t i = 1; i < sizeof(syn_strtab); i += strlen(syn_strtab + i) + 1)
		if (strcmp(syn_strtab + i, name) == 0)
			return (uint32_t)i;
	abort();
}

static Elf64_Sym sym(const char *name, int bind, int type, uint64_t value, uint64_t size)
{
	return (Elf64_Sym){ .st_name = name ? stroff(name) : 0,
			    .st_info = ELF64_ST_INFO(bind, type),
			    .st_shndx = 1,
			    .st_value = value,
			    .st_size = size };
}

/* An x86-64 ELF header with phnum program headers right after it. */
static Elf64_Ehdr ehdr(uint16_t type, uint16_t phnum, uint64_t shoff, uint16_t shnum)
{
	Elf64_Ehdr eh = { .e_type = type, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_phoff = sizeof(eh), .e_shoff = shoff, .e_ehsize = sizeof(eh),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = phnum,
			  .e_shentsize = sizeof(Elf64_Shdr), .e_shnum = shnum };

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	return eh;
}

static void make_synthetic(uint8_t *f)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2] = { 0 };
	Elf64_Shdr sh[5] = { 0 };
	Elf64_Sym syms[14], dyn[2];
	const uint8_t note[] = { 4, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0,
				 0xde, 0xad, 0xbe, 0xef };

	memset(f, 0, SYN_SIZE);
	eh = ehdr(ET_DYN, 2, OFF_SHDRS, 5);
	memcpy(f, &eh, sizeof(eh));

	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
			      .p_vaddr = SYN_BASE, .p_filesz = SYN_SIZE, .p_memsz = SYN_SIZE,
			      .p_align = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = OFF_NOTE, .p_vaddr = SYN_BASE + OFF_NOTE,
			      .p_filesz = sizeof(note), .p_align = 4 };
	memcpy(f + sizeof(eh), ph, sizeof(ph));
	memcpy(f + OFF_NOTE, note, sizeof(note));

	syms[0] = (Elf64_Sym){ 0 };
	syms[1] = sym("__foo", STB_GLOBAL, STT_FUNC, SYN_BASE + 0x300, 0x10);
	syms[2] = sym("foo", STB_WEAK, STT_FUNC, SYN_BASE + 0x300, 0x10);
	syms[3] = sym("foo_local", STB_LOCAL, STT_FUNC, SYN_BASE + 0x300, 0x20);
	syms[4] = sym("nosize", STB_GLOBAL, STT_FUNC, SYN_BASE + 0x340, 0);
	syms[5] = sym("sized", STB_GLOBAL, STT_FUNC, SYN_BASE + 0x380, 0x10);
	syms[6] = sym("obj", STB_GLOBAL, STT_OBJECT, SYN_BASE + 0x390, 8);
	syms[7] = sym("undef", STB_GLOBAL, STT_FUNC, SYN_BASE + 0x3a0, 0);
	syms[7].st_shndx = SHN_UNDEF;
	syms[8] = sym("zero", STB_GLOBAL, STT_FUNC, 0, 0x10);
	syms[9] = sym("ifunc", STB_GLOBAL, STT_GNU_IFUNC, SYN_BASE + 0x3c0, 0);
	syms[10] = sym("outside", STB_GLOBAL, STT_FUNC, 0x90000, 0x10);
	syms[11] = sym(NULL, STB_GLOBAL, STT_FUNC, SYN_BASE + 0x3b0, 0x4);
	syms[11].st_name = 0x7fffffff; /* past the string table */
	syms[12] = sym("aaa_local", STB_LOCAL, STT_FUNC, SYN_BASE + 0x3e0, 4);
	syms[13] = sym("_aaa", STB_GLOBAL, STT_FUNC, SYN_BASE + 0x3e0, 4);
	memcpy(f + OFF_SYMS, syms, sizeof(syms));
	dyn[0] = (Elf64_Sym){ 0 };
	dyn[1] = sym("dynonly", STB_GLOBAL, STT_FUNC, SYN_BASE + 0x700, 0x10);
	memcpy(f + OFF_DYN, dyn, sizeof(dyn));
	memcpy(f + OFF_STR, syn_strtab, sizeof(syn_strtab));

	sh[1] = (Elf64_Shdr){ .sh_type = SHT_NOTE, .sh_flags = SHF_ALLOC, .sh_offset = OFF_NOTE,
			      .sh_size = sizeof(note), .sh_addralign = 4 };
	sh[2] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = OFF_SYMS, .sh_size = sizeof(syms),
			      .sh_link = 3, .sh_info = 1, .sh_entsize = sizeof(Elf64_Sym) };
	sh[3] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = OFF_STR,
			      .sh_size = sizeof(syn_strtab) };
	sh[4] = (Elf64_Shdr){ .sh_type = SHT_DYNSYM, .sh_offset = OFF_DYN, .sh_size = sizeof(dyn),
			      .sh_link = 3, .sh_info = 1, .sh_entsize = sizeof(Elf64_Sym) };
	memcpy(f + OFF_SHDRS, sh, sizeof(sh));
}

static int parse_code(const uint8_t *f, size_t len)
{
	struct ldp_elfsym *s = NULL;
	int r = ldp_elfsym_parse(f, len, &s);

	ldp_elfsym_free(s);
	return r;
}

/* What a lookup at an offset must give (NULL: no name). */
struct want_name {
	uint64_t off;
	const char *name;
};

static void check_names(const struct ldp_elfsym *s, const char *what, const struct want_name *want,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = ldp_elfsym_lookup(s, want[i].off);

		CHECK(want[i].name ? streq(got, want[i].name) : got == NULL,
		      "%s: lookup(%#llx) = %s, want %s", what, (unsigned long long)want[i].off,
		      str_or_null(got), str_or_null(want[i].name));
	}
}

static void test_synthetic(void)
{
	static const struct want_name want[] = {
		{ 0x2ff, NULL },     { 0x300, "foo" },    { 0x31f, "foo" },    { 0x320, NULL },
		{ 0x33f, NULL },     { 0x340, "nosize" }, { 0x37f, "nosize" }, { 0x380, "sized" },
		{ 0x38f, "sized" },  { 0x390, NULL },     { 0x3a0, NULL },     { 0x3b0, NULL },
		{ 0x3c0, "ifunc" },  { 0x3df, "ifunc" },  { 0x3e0, "aaa_local" },
		{ 0x3e4, NULL },     { 0x700, NULL },     { 0, NULL },         { UINT64_MAX, NULL },
	};
	uint8_t f[SYN_SIZE], g[SYN_SIZE];
	struct ldp_elfsym *s = NULL;
	Elf64_Shdr sh;
	Elf64_Ehdr eh;
	uint64_t start, size;
	const char *name;
	int r;

	make_synthetic(f);
	r = ldp_elfsym_parse(f, sizeof(f), &s);
	CHECK(r == 0, "synthetic: ldp_elfsym_parse returned %d", r);
	if (r < 0)
		return;
	check_names(s, "synthetic", want, sizeof(want) / sizeof(want[0]));
	CHECK(ldp_elfsym_count(s) == 5, "synthetic: %zu symbols kept, want 5", ldp_elfsym_count(s));
	r = ldp_elfsym_get(s, 0, &start, &size, &name);
	CHECK(r == 0 && start == 0x300 && size == 0x20 && streq(name, "foo"),
	      "synthetic: entry 0 is %s at %#llx+%#llx", str_or_null(name),
	      (unsigned long long)start, (unsigned long long)size);
	CHECK(ldp_elfsym_get(s, 5, &start, &size, &name) == -ERANGE, "synthetic: get past the end");
	CHECK(streq(ldp_elfsym_build_id(s), "deadbeef"), "synthetic: build ID '%s'",
	      ldp_elfsym_build_id(s));
	ldp_elfsym_free(s);
	s = NULL;

	/* Without a usable .symtab, .dynsym is used. */
	memcpy(g, f, sizeof(g));
	memcpy(&sh, g + OFF_SHDRS + 2 * sizeof(sh), sizeof(sh));
	sh.sh_size = 0x7fffffffffffff00ull; /* .symtab runs past the file */
	memcpy(g + OFF_SHDRS + 2 * sizeof(sh), &sh, sizeof(sh));
	r = ldp_elfsym_parse(g, sizeof(g), &s);
	CHECK(r == 0 && streq(ldp_elfsym_lookup(s, 0x700), "dynonly") &&
	      ldp_elfsym_lookup(s, 0x300) == NULL,
	      "synthetic, broken .symtab: r=%d lookup(0x700)=%s", r,
	      str_or_null(ldp_elfsym_lookup(s, 0x700)));
	ldp_elfsym_free(s);
	s = NULL;

	/* A string table without its final NUL: the last name is cut, never read past. */
	memcpy(g, f, sizeof(g));
	memcpy(&sh, g + OFF_SHDRS + 3 * sizeof(sh), sizeof(sh));
	sh.sh_size -= 1;
	memcpy(g + OFF_SHDRS + 3 * sizeof(sh), &sh, sizeof(sh));
	memcpy(g + OFF_STR + sh.sh_size, "X", 1);
	r = ldp_elfsym_parse(g, sizeof(g), &s);
	CHECK(r == 0 && streq(ldp_elfsym_lookup(s, 0x300), "foo"), "synthetic, unterminated strtab");
	ldp_elfsym_free(s);
	s = NULL;

	/* Damage that leaves nothing usable: -ENOEXEC. */
	CHECK(parse_code(f, OFF_SHDRS + 100) == -ENOEXEC, "synthetic cut in its section headers");
	CHECK(parse_code(f, 63) == -ENOEXEC, "synthetic cut in its ELF header");
	CHECK(parse_code(f, 0) == -ENOEXEC, "empty buffer");
	CHECK(parse_code(NULL, 0) == -ENOEXEC, "NULL, 0");
	CHECK(ldp_elfsym_parse(NULL, 1, &s) == -EINVAL, "NULL, 1");
#define DAMAGED(field, value, what)                                            \
	do {                                                                   \
		memcpy(g, f, sizeof(g));                                       \
		memcpy(&eh, g, sizeof(eh));                                    \
		eh.field = value;                                              \
		memcpy(g, &eh, sizeof(eh));                                    \
		r = parse_code(g, sizeof(g));                                  \
		CHECK(r == -ENOEXEC, "synthetic with %s: %d", what, r);        \
	} while (0)
	DAMAGED(e_shoff, UINT64_MAX - 10, "e_shoff near UINT64_MAX");
	DAMAGED(e_shoff, SYN_SIZE - 64, "section headers past the end");
	DAMAGED(e_phoff, UINT64_MAX - 10, "e_phoff near UINT64_MAX");
	DAMAGED(e_phnum, 0, "no program headers");
	DAMAGED(e_phnum, PN_XNUM, "PN_XNUM and sh_info 0");
	DAMAGED(e_phentsize, 32, "e_phentsize 32");
	DAMAGED(e_shentsize, 0, "e_shentsize 0");
	DAMAGED(e_type, ET_REL, "ET_REL");
	DAMAGED(e_ident[EI_CLASS], ELFCLASS32, "ELFCLASS32");
	DAMAGED(e_ident[EI_DATA], ELFDATA2MSB, "big endian");
#undef DAMAGED

	/* e_shnum 0 means "the count is in section 0": here that is 0, so no sections, and the
	 * build ID still comes from PT_NOTE. */
	memcpy(g, f, sizeof(g));
	memcpy(&eh, g, sizeof(eh));
	eh.e_shnum = 0;
	memcpy(g, &eh, sizeof(eh));
	r = ldp_elfsym_parse(g, sizeof(g), &s);
	CHECK(r == 0 && ldp_elfsym_count(s) == 0 && streq(ldp_elfsym_build_id(s), "deadbeef"),
	      "synthetic without sections: r=%d", r);
	ldp_elfsym_free(s);
	s = NULL;
}

/* ---- helpers for real files ---- */

/* Runs argv with stdout into out (NUL-terminated, cut to outsz - 1) and stderr to /dev/null.
 * Returns the exit status, or -1. */
static int run(char *const argv[], char *out, size_t outsz)
{
	int pfd[2], status;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int dn = open("/dev/null", O_WRONLY);

		dup2(pfd[1], 1);
		if (dn >= 0)
			dup2(dn, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char sink[4096];
		ssize_t k;

		if (out && len + 1 < outsz)
			k = read(pfd[0], out + len, outsz - 1 - len);
		else
			k = read(pfd[0], sink, sizeof(sink));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (out && len + 1 < outsz)
			len += (size_t)k;
	}
	close(pfd[0]);
	if (out && outsz)
		out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The build ID `readelf -n` prints for path, "" for none; false if readelf failed. */
static int readelf_build_id(const char *path, char *out, size_t outsz)
{
	static char buf[1 << 16];
	char *argv[] = { "readelf", "-n", (char *)path, NULL };
	const char *p;
	size_t n = 0;

	if (run(argv, buf, sizeof(buf)) != 0)
		return 0;
	p = strstr(buf, "Build ID: ");
	if (p) {
		p += strlen("Build ID: ");
		while (n + 1 < outsz && ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f'))) {
			out[n] = p[n];
			n++;
		}
	}
	out[n] = '\0';
	return 1;
}

static void check_build_id(const struct ldp_elfsym *s, const char *path)
{
	char want[256];

	if (!readelf_build_id(path, want, sizeof(want))) {
		CHECK(0, "could not run readelf -n %s", path);
		return;
	}
	CHECK(streq(ldp_elfsym_build_id(s), want), "%s: build ID '%s', readelf says '%s'", path,
	      ldp_elfsym_build_id(s), want);
}

static int make_temp(char *path, size_t size)
{
	int fd;

	snprintf(path, size, "/tmp/test_elfsym.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* ---- real files ---- */

__attribute__((noinline, used)) int elfsym_test_marker(int x)
{
	return x * 7 + 3;
}

static void test_self(const struct ldp_maps *maps, const char *exe)
{
	int (*volatile fn)(int) = elfsym_test_marker;
	uintptr_t addr = (uintptr_t)fn;
	const struct ldp_map *m = ldp_maps_find(maps, addr);
	struct ldp_elfsym *s = NULL;
	char tmp[64];
	uint64_t off;
	int r;

	CHECK(m && streq(m->path, exe), "elfsym_test_marker at %p is not in %s", (void *)addr, exe);
	if (!m)
		return;
	off = addr - m->start + m->offset;
	r = ldp_elfsym_open("/proc/self/exe", &s);
	CHECK(r == 0, "ldp_elfsym_open(/proc/self/exe) returned %d", r);
	if (r < 0)
		return;
	CHECK(streq(ldp_elfsym_lookup(s, off), "elfsym_test_marker"), "self: lookup(%#llx) = %s",
	      (unsigned long long)off, str_or_null(ldp_elfsym_lookup(s, off)));
	CHECK(streq(ldp_elfsym_lookup(s, off + 1), "elfsym_test_marker"),
	      "self: lookup(%#llx + 1) = %s", (unsigned long long)off,
	      str_or_null(ldp_elfsym_lookup(s, off + 1)));
	CHECK(ldp_elfsym_lookup(s, 0) == NULL, "self: the ELF header is in %s",
	      ldp_elfsym_lookup(s, 0));
	CHECK(ldp_elfsym_count(s) > 10, "self: only %zu symbols", ldp_elfsym_count(s));
	for (size_t i = 1; i < ldp_elfsym_count(s); i++) {
		uint64_t a, b;

		ldp_elfsym_get(s, i - 1, &a, NULL, NULL);
		ldp_elfsym_get(s, i, &b, NULL, NULL);
		CHECK(a < b, "self: entries %zu and %zu out of order", i - 1, i);
	}
	check_build_id(s, exe);
	ldp_elfsym_free(s);
	s = NULL;

	/* Stripped of .symtab, the test exports nothing: the marker is unknown, nothing breaks. */
	if (make_temp(tmp, sizeof(tmp)) == 0) {
		char *argv[] = { "objcopy", "--strip-all", (char *)exe, tmp, NULL };

		r = run(argv, NULL, 0);
		CHECK(r == 0, "objcopy --strip-all %s failed: %d", exe, r);
		r = ldp_elfsym_open(tmp, &s);
		CHECK(r == 0, "stripped self: ldp_elfsym_open returned %d", r);
		CHECK(!streq(ldp_elfsym_lookup(s, off), "elfsym_test_marker"),
		      "stripped self: marker still found");
		check_build_id(s, tmp);
		ldp_elfsym_free(s);
		s = NULL;

		/* Cut in half: the section headers are gone. */
		r = truncate(tmp, 8192);
		CHECK(r == 0, "truncate %s: %s", tmp, strerror(errno));
		r = ldp_elfsym_open(tmp, &s);
		CHECK(r == -ENOEXEC, "truncated copy: ldp_elfsym_open returned %d", r);
		unlink(tmp);
	}
}

static void test_libc(const struct ldp_maps *maps)
{
	uintptr_t addr = (uintptr_t)&getpid;
	const struct ldp_map *m = ldp_maps_find(maps, addr);
	struct ldp_elfsym *s = NULL;
	const char *name;
	char tmp[64];
	uint64_t off;
	int r;

	CHECK(m && strstr(m->path, "/libc.so"), "getpid at %p is in %s, not libc", (void *)addr,
	      m ? m->path : "(no mapping)");
	if (!m)
		return;
	off = addr - m->start + m->offset;
	r = ldp_elfsym_open(m->path, &s);
	CHECK(r == 0, "ldp_elfsym_open(%s) returned %d", m->path, r);
	name = ldp_elfsym_lookup(s, off);
	CHECK(name && strstr(name, "getpid"), "libc: lookup(%#llx) = %s", (unsigned long long)off,
	      str_or_null(name));
	check_build_id(s, m->path);
	ldp_elfsym_free(s);
	s = NULL;

	if (make_temp(tmp, sizeof(tmp)) == 0) {
		char *argv[] = { "objcopy", "--strip-all", m->path, tmp, NULL };

		r = run(argv, NULL, 0);
		CHECK(r == 0, "objcopy --strip-all %s failed: %d", m->path, r);
		r = ldp_elfsym_open(tmp, &s);
		CHECK(r == 0, "stripped libc: ldp_elfsym_open returned %d", r);
		name = ldp_elfsym_lookup(s, off);
		CHECK(name && strstr(name, "getpid"), "stripped libc: lookup(%#llx) = %s",
		      (unsigned long long)off, str_or_null(name));
		check_build_id(s, tmp);
		ldp_elfsym_free(s);
		s = NULL;
		unlink(tmp);
	}
}

/* The file offset of virtual address v in the file whose segments are l. */
static int offset_of(const struct ldp_elfsym_loads *l, uint64_t v, uint64_t *off)
{
	for (size_t i = 0; i < l->n; i++)
		if (v >= l->l[i].vaddr && v - l->l[i].vaddr < l->l[i].filesz) {
			*off = l->l[i].offset + (v - l->l[i].vaddr);
			return 0;
		}
	return -1;
}

/* Every PLT stub objdump names "NAME@plt" is named so by a lookup; one objdump calls
 * "*ABS*+0xADDR@plt" (IRELATIVE) carries the name a lookup of ADDR gives, with "@plt". No stub
 * is taken for the function before the PLT (`_init`, size 0). Returns the stubs checked. */
static int check_plt(const char *path)
{
	char *argv[] = { "objdump", "-d", "-j", ".plt", "-j", ".plt.got", "-j", ".plt.sec", (char *)path, NULL };
	size_t outsz = 4u << 20;
	char *out = malloc(outsz), *line, *save = NULL, want[256];
	struct ldp_elfsym_loads loads;
	struct ldp_elfsym *s = NULL;
	char bid[2 * 64 + 1];
	int fd, r, n = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && ldp_elfsym_read_loads(fd, &loads, bid, sizeof(bid)) == 0, "%s: no loads", path);
	if (fd >= 0)
		close(fd);
	r = ldp_elfsym_open(path, &s);
	CHECK(r == 0 && out, "ldp_elfsym_open(%s) returned %d", path, r);
	if (r != 0 || !out || run(argv, out, outsz) != 0)
		goto out;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long addr, abs;
		char name[200];
		const char *got, *base;
		uint64_t off, aoff;

		if (sscanf(line, "%llx <%199[^>]>:", &addr, name) != 2)
			continue;
		if (offset_of(&loads, addr, &off) < 0) {
			CHECK(0, "%s: %#llx in no segment", path, addr);
			continue;
		}
		got = ldp_elfsym_lookup(s, off);
		if (strstr(name, "@plt-")) {
			/* the lazy PLT's first entry ("NEXT@plt-0x10"): no function's */
			CHECK(!got, "%s: the PLT's first entry at %#llx named %s", path, addr, got);
			continue;
		}
		if (sscanf(name, "*ABS*+0x%llx@plt", &abs) == 1) {
			base = offset_of(&loads, abs, &aoff) == 0 ? ldp_elfsym_lookup(s, aoff) : NULL;
			snprintf(want, sizeof(want), "%s@plt", str_or_null(base));
		} else {
			snprintf(want, sizeof(want), "%s", name);
		}
		CHECK(streq(got, want), "%s: stub at %#llx: %s, want %s", path, addr, str_or_null(got), want);
		n++;
	}
out:
	free(out);
	ldp_elfsym_free(s);
	return n;
}

static void test_plt(const struct ldp_maps *maps, const char *exe)
{
	const struct ldp_map *m = ldp_maps_find(maps, (uintptr_t)&getpid);
	int n;

	/* libc: JUMP_SLOT, IRELATIVE (its calls of its own IFUNCs) and .plt.got stubs */
	n = m ? check_plt(m->path) : 0;
	CHECK(n >= 10, "libc: %d PLT stubs checked", n);
	/* Debian's stripped programs (.dynsym only); this test (.symtab, with _init before .plt) */
	CHECK(check_plt("/usr/bin/ls") >= 50, "ls: too few PLT stubs");
	CHECK(check_plt("/usr/bin/xz") >= 50, "xz: too few PLT stubs");
	CHECK(check_plt(exe) >= 10, "%s: too few PLT stubs", exe);
}

/* A PLT stub's name: "NAME@plt". */
static bool is_stub(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcmp(name + n - 4, "@plt");
}

/* ldp_elfsym_open_plt_fd(): the stubs of the full table, every one, and nothing else. */
static void check_plt_only(const char *path)
{
	struct ldp_elfsym *all = NULL, *plt = NULL;
	size_t nplt = 0, bad = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0 && ldp_elfsym_open_fd(fd, 0, &all) == 0 && ldp_elfsym_open_plt_fd(fd, 0, &plt) == 0,
	      "%s: both tables", path);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; all && i < ldp_elfsym_count(all); i++) {
		uint64_t start, size;
		const char *name;

		ldp_elfsym_get(all, i, &start, &size, &name);
		nplt += is_stub(name);
	}
	for (size_t i = 0; plt && i < ldp_elfsym_count(plt); i++) {
		uint64_t start, size;
		const char *name;

		ldp_elfsym_get(plt, i, &start, &size, &name);
		bad += !is_stub(name) || !streq(ldp_elfsym_lookup(all, start), name);
	}
	CHECK(plt && nplt >= 10 && ldp_elfsym_count(plt) == nplt && !bad,
	      "%s: %zu stubs alone, %zu in the whole table, %zu not the same", path, plt ? ldp_elfsym_count(plt) : 0,
	      nplt, bad);
	ldp_elfsym_free(all);
	ldp_elfsym_free(plt);
}

/* What the collector reads for a library whose debug file this host has (libc6-dbg): the
 * debug file's table and the original's stubs give the very table that the debug file's and
 * the whole original's did: the debug file's .symtab holds every function of .dynsym. */
static void check_debug_and_original(const char *path)
{
	struct ldp_elfsym *old = NULL, *now = NULL, *own = NULL;
	struct ldp_elfsym_loads loads;
	char id[160] = "";
	size_t diff = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0 && ldp_elfsym_read_loads(fd, &loads, id, sizeof(id)) == 0 && id[0] &&
	      ldp_debuginfo_by_build_id(id, &loads, NULL, 0, &old) == 0 &&
	      ldp_debuginfo_by_build_id(id, &loads, NULL, 0, &now) == 0 && ldp_elfsym_open_fd(fd, 0, &own) == 0,
	      "%s: its debug file (libc6-dbg) and its own table", path);
	if (old && now && own) {
		CHECK(ldp_elfsym_merge(old, own) == 0 && ldp_debuginfo_add_original(fd, 0, now) == 0, "%s: merged", path);
		for (size_t i = 0; i < ldp_elfsym_count(old) && i < ldp_elfsym_count(now); i++) {
			uint64_t s1, z1, s2, z2;
			const char *n1, *n2;

			ldp_elfsym_get(old, i, &s1, &z1, &n1);
			ldp_elfsym_get(now, i, &s2, &z2, &n2);
			diff += s1 != s2 || z1 != z2 || strcmp(n1, n2);
		}
		CHECK(ldp_elfsym_count(old) > 500 && ldp_elfsym_count(old) == ldp_elfsym_count(now) && !diff,
		      "%s: %zu functions with the whole original, %zu with its stubs, %zu differ", path,
		      ldp_elfsym_count(old), ldp_elfsym_count(now), diff);
	}
	if (fd >= 0)
		close(fd);
	ldp_elfsym_free(old);
	ldp_elfsym_free(now);
	ldp_elfsym_free(own);
}

static void test_plt_only(const struct ldp_maps *maps)
{
	const struct ldp_map *m = ldp_maps_find(maps, (uintptr_t)&getpid);

	if (m)
		check_plt_only(m->path);
	check_plt_only("/usr/bin/ls");
	check_plt_only("/usr/bin/xz");
	if (m)
		check_debug_and_original(m->path);
	check_debug_and_original("/lib/x86_64-linux-gnu/libm.so.6");
}

static void test_garbage(void)
{
	uint8_t buf[4096];
	struct ldp_elfsym *s = NULL;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int r;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	CHECK(parse_code(buf, sizeof(buf)) == -ENOEXEC, "random bytes");
	memcpy(buf, ELFMAG, SELFMAG);
	CHECK(parse_code(buf, sizeof(buf)) == -ENOEXEC, "ELF magic then random bytes");
	CHECK(parse_code((const uint8_t *)"\177ELF", 4) == -ENOEXEC, "ELF magic alone");

	r = ldp_elfsym_open("/nonexistent/libfoo.so", &s);
	CHECK(r == -ENOENT, "missing file: %d", r);
	r = ldp_elfsym_open("/tmp", &s);
	CHECK(r == -EISDIR, "a folder: %d", r);
	r = ldp_elfsym_open("/dev/null", &s);
	CHECK(r == -ENOEXEC, "/dev/null: %d", r);
	r = ldp_elfsym_open("/proc/self/maps", &s);
	CHECK(r == -ENOEXEC, "/proc/self/maps: %d", r);
	CHECK(ldp_elfsym_lookup(NULL, 0) == NULL, "lookup in NULL");
	CHECK(streq(ldp_elfsym_build_id(NULL), ""), "build ID of NULL");
	ldp_elfsym_free(NULL);
}

/* ---- Go programs: names from .gopclntab ----
 * A minimal ELF around a .gopclntab: one PT_LOAD maps the whole file so that the text start
 * lands at file offset GO_TEXT_OFF; sections .text, .gopclntab and .shstrtab. */
#define GO_TEXT_OFF  0x100
#define GO_TEXT_MAX  0x700 /* text bytes the frame holds */
#define GO_PCLN_OFF  (GO_TEXT_OFF + GO_TEXT_MAX)
#define GO_PCLN_MAX  0x1200 /* room for a name of LDP_GOPCLNTAB_MAX_NAME + 1 bytes */
#define GO_FRAME_MAX (GO_PCLN_OFF + GO_PCLN_MAX + 4 * sizeof(Elf64_Shdr))
#define GO_HDR       72
#define GO_RECORD    40
#define GO_TEXT      0x401000ull

static const char go_shstrtab[] = "\0.text\0.gopclntab\0.shstrtab";

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Wraps pcln[0, len) (len <= GO_PCLN_MAX) into an ELF in f, with the text where its header
 * says; returns the ELF's size. */
static size_t make_go_elf(uint8_t *f, const uint8_t *pcln, size_t len)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Shdr sh[4] = { 0 };
	size_t shoff = GO_PCLN_OFF + ((len + 7) & ~(size_t)7), size = shoff + sizeof(sh);
	uint64_t text = len >= GO_HDR ? get64(pcln + 24) : GO_TEXT;

	memset(f, 0, size);
	eh = ehdr(ET_EXEC, 1, shoff, 4);
	eh.e_shstrndx = 3;
	memcpy(f, &eh, sizeof(eh));
	ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
			   .p_vaddr = text - GO_TEXT_OFF, .p_filesz = size, .p_memsz = size,
			   .p_align = 0x1000 };
	memcpy(f + sizeof(eh), &ph, sizeof(ph));
	memcpy(f + 0x80, go_shstrtab, sizeof(go_shstrtab));
	memset(f + GO_TEXT_OFF, 0xcc, GO_TEXT_MAX);
	memcpy(f + GO_PCLN_OFF, pcln, len);
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			      .sh_addr = text, .sh_offset = GO_TEXT_OFF, .sh_size = GO_TEXT_MAX };
	sh[2] = (Elf64_Shdr){ .sh_name = 7, .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC,
			      .sh_addr = text - GO_TEXT_OFF + GO_PCLN_OFF,
			      .sh_offset = GO_PCLN_OFF, .sh_size = len };
	sh[3] = (Elf64_Shdr){ .sh_name = 18, .sh_type = SHT_STRTAB, .sh_offset = 0x80,
			      .sh_size = sizeof(go_shstrtab) };
	memcpy(f + shoff, sh, sizeof(sh));
	return size;
}

/* A Go 1.18 .gopclntab of three functions at 0x0, 0x40 and 0x100 (the text ends at 0x180) with
 * the names at offsets name[] of names[0, names_len); returns its size. */
static const char go_names[] = "main.main\0main.hotGo\0runtime.goexit";

static size_t make_go_pcln(uint8_t *p, const char *names, size_t names_len, const uint32_t *name)
{
	static const uint32_t entry[] = { 0x0, 0x40, 0x100, 0x180 };
	size_t end = GO_HDR + names_len, ftab = (end + 7) & ~(size_t)7;
	size_t size = ftab + 4 * 8 + 3 * GO_RECORD;

	memset(p, 0, size);
	put32(p, 0xfffffff0);
	p[6] = 1;
	p[7] = 8;
	put64(p + 8, 3); /* nfunc */
	put64(p + 24, GO_TEXT);
	put64(p + 32, GO_HDR);
	for (int k = 0; k < 4; k++)
		put64(p + 40 + 8 * k, k < 3 ? end : ftab); /* cutab, filetab, pctab (empty); pclntab */
	memcpy(p + GO_HDR, names, names_len);
	for (int i = 0; i < 4; i++) {
		uint32_t rec = 4 * 8 + (uint32_t)i * GO_RECORD;

		put32(p + ftab + 8 * i, entry[i]);
		put32(p + ftab + 8 * i + 4, i < 3 ? rec : 0);
		if (i < 3) {
			put32(p + ftab + rec, entry[i]);
			put32(p + ftab + rec + 4, name[i]);
		}
	}
	return size;
}

static size_t make_go_pcln3(uint8_t *p)
{
	static const uint32_t name[] = { 0, 10, 21 };

	return make_go_pcln(p, go_names, sizeof(go_names), name);
}

/* Function count of the ELF around pcln, or -1 if the parse failed; *ret_name: the name at the
 * text start + off. */
static long go_parse(const uint8_t *pcln, size_t len, uint64_t off, const char **ret_name)
{
	static uint8_t f[GO_FRAME_MAX];
	static char name[64];
	struct ldp_elfsym *s = NULL;
	size_t size = make_go_elf(f, pcln, len);
	const char *got;
	long n;

	if (ldp_elfsym_parse(f, size, &s) < 0)
		return -1;
	n = (long)ldp_elfsym_count(s);
	got = ldp_elfsym_lookup(s, GO_TEXT_OFF + off);
	snprintf(name, sizeof(name), "%s", got ? got : "(null)");
	*ret_name = name;
	ldp_elfsym_free(s);
	return n;
}

/* Labels: GLOBAL/WEAK STT_NOTYPE symbols inside an executable section name code (assembly
 * with no .type, musl's `_start`); LOCAL ones, end markers, section bounds and labels of other
 * sections do not, and a function at the same offset keeps its name (the label's, shorter,
 * would win between two functions). */
static const char lab_strtab[] = "\0lab\0loc\0func\0al\0etext\0__start_sec\0dat\0wlab";

static Elf64_Sym lab_sym(const char *name, int bind, int type, uint16_t shndx, uint64_t value,
			 uint64_t size)
{
	Elf64_Sym s = { .st_info = ELF64_ST_INFO(bind, type), .st_shndx = shndx,
			.st_value = SYN_BASE + value, .st_size = size };

	for (size_t i = 1; i < sizeof(lab_strtab); i += strlen(lab_strtab + i) + 1)
		if (strcmp(lab_strtab + i, name) == 0)
			s.st_name = (uint32_t)i;
	return s;
}

static void make_labels(uint8_t *f)
{
	Elf64_Ehdr eh = ehdr(ET_DYN, 1, OFF_SHDRS, 5);
	Elf64_Phdr ph = { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_vaddr = SYN_BASE,
			  .p_filesz = SYN_SIZE, .p_memsz = SYN_SIZE, .p_align = 0x1000 };
	Elf64_Shdr sh[5] = { 0 };
	Elf64_Sym syms[10] = { 0 };

	memset(f, 0, SYN_SIZE);
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + sizeof(eh), &ph, sizeof(ph));
	syms[1] = lab_sym("lab", STB_GLOBAL, STT_NOTYPE, 1, 0x120, 0);
	syms[2] = lab_sym("loc", STB_LOCAL, STT_NOTYPE, 1, 0x140, 0);
	syms[3] = lab_sym("func", STB_GLOBAL, STT_FUNC, 1, 0x160, 0x10);
	syms[4] = lab_sym("al", STB_GLOBAL, STT_NOTYPE, 1, 0x160, 0);
	syms[5] = lab_sym("__start_sec", STB_GLOBAL, STT_NOTYPE, 1, 0x180, 0);
	syms[6] = lab_sym("wlab", STB_WEAK, STT_NOTYPE, 1, 0x1c0, 0);
	syms[7] = lab_sym("etext", STB_GLOBAL, STT_NOTYPE, 1, 0x200, 0);
	syms[8] = lab_sym("dat", STB_GLOBAL, STT_NOTYPE, 4, 0x220, 0);
	memcpy(f + OFF_SYMS, syms, sizeof(syms));
	memcpy(f + OFF_STR, lab_strtab, sizeof(lab_strtab));
	/* .text is 0x100-0x200: a label of size 0 ends with it */
	sh[1] = (Elf64_Shdr){ .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			      .sh_addr = SYN_BASE + 0x100, .sh_offset = 0x100, .sh_size = 0x100 };
	sh[2] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = OFF_SYMS, .sh_size = sizeof(syms),
			      .sh_link = 3, .sh_info = 1, .sh_entsize = sizeof(Elf64_Sym) };
	sh[3] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = OFF_STR,
			      .sh_size = sizeof(lab_strtab) };
	sh[4] = (Elf64_Shdr){ .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC | SHF_WRITE,
			      .sh_addr = SYN_BASE + 0x220, .sh_offset = 0x220, .sh_size = 0x20 };
	memcpy(f + OFF_SHDRS, sh, sizeof(sh));
}

static void test_labels(void)
{
	static const struct want_name want[] = {
		{ 0x11f, NULL },  { 0x120, "lab" },  { 0x13f, "lab" },  { 0x140, "lab" },
		{ 0x15f, "lab" }, { 0x160, "func" }, { 0x16f, "func" }, { 0x170, NULL },
		{ 0x180, NULL },  { 0x1c0, "wlab" }, { 0x1ff, "wlab" }, { 0x200, NULL },
		{ 0x220, NULL },
	};
	uint8_t f[SYN_SIZE];
	struct ldp_elfsym *s = NULL;
	int r;

	make_labels(f);
	r = ldp_elfsym_parse(f, sizeof(f), &s);
	CHECK(r == 0, "labels: ldp_elfsym_parse returned %d", r);
	if (r < 0)
		return;
	check_names(s, "labels", want, sizeof(want) / sizeof(want[0]));
	CHECK(ldp_elfsym_count(s) == 3, "labels: %zu symbols kept, want 3", ldp_elfsym_count(s));
	ldp_elfsym_free(s);
}

/* Two tables merged in one pass (a debug file's into the original's, debuginfo.c): in offset
 * order, the first table's entry kept where both have one (foo against dat at 0x300). */
static void test_merge(void)
{
	static const struct want_name want[] = {
		{ 0x11f, NULL },   { 0x120, "lab" },    { 0x160, "func" },   { 0x170, NULL },
		{ 0x1c0, "wlab" }, { 0x1ff, "wlab" },   { 0x200, NULL },     { 0x300, "foo" },
		{ 0x31f, "foo" },  { 0x340, "nosize" }, { 0x380, "sized" },  { 0x3e0, "aaa_local" },
	};
	uint8_t f[SYN_SIZE], g[SYN_SIZE];
	struct ldp_elfsym *a = NULL, *b = NULL, *c = NULL;

	Elf64_Sym dat = lab_sym("dat", STB_GLOBAL, STT_FUNC, 1, 0x300, 0x10);

	make_synthetic(f);
	make_labels(g);
	/* the labels' table gets a function where the synthetic one has foo */
	memcpy(g + OFF_SYMS + 8 * sizeof(Elf64_Sym), &dat, sizeof(dat));
	CHECK(ldp_elfsym_parse(f, sizeof(f), &a) == 0 && ldp_elfsym_parse(g, sizeof(g), &b) == 0 &&
		      ldp_elfsym_parse(f, sizeof(f), &c) == 0,
	      "merge: the tables");
	if (!a || !b || !c)
		goto out;
	CHECK(ldp_elfsym_merge(a, b) == 0 && ldp_elfsym_count(a) == 8, "merge: %zu entries, want 8",
	      ldp_elfsym_count(a));
	check_names(a, "merge", want, sizeof(want) / sizeof(want[0]));
	/* the other way round: at 0x300 the first table's dat stays */
	CHECK(ldp_elfsym_merge(b, c) == 0 && ldp_elfsym_count(b) == 8 &&
		      streq(ldp_elfsym_lookup(b, 0x300), "dat") && streq(ldp_elfsym_lookup(b, 0x340), "nosize"),
	      "merge: into the labels' table: %zu entries, %s at 0x300", ldp_elfsym_count(b),
	      str_or_null(ldp_elfsym_lookup(b, 0x300)));
	CHECK(ldp_elfsym_merge(a, NULL) == 0 && ldp_elfsym_count(a) == 8, "merge: nothing into a table");
out:
	ldp_elfsym_free(a);
	ldp_elfsym_free(b);
	ldp_elfsym_free(c);
}

static void prog_path(const char *exe, const char *name, char *out, size_t size);

/* A musl executable's entry is crt1's `_start`, a label with no .type: every musl stack's
 * root frame is named after it. */
static void test_musl_start(const char *exe)
{
	struct ldp_elfsym_loads loads = { 0 };
	struct ldp_elfsym *s = NULL;
	char path[4096], bid[128];
	Elf64_Ehdr eh = { 0 };
	uint64_t off = 0;
	int fd, found = 0, r;

	prog_path(exe, "musl/hot2", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
		      ldp_elfsym_read_loads(fd, &loads, bid, sizeof(bid)) == 0,
	      "cannot read %s (make test-bins)", path);
	if (fd >= 0)
		close(fd);
	found = offset_of(&loads, eh.e_entry, &off) == 0;
	CHECK(found, "%s: its entry is in no PT_LOAD", path);
	r = ldp_elfsym_open(path, &s);
	CHECK(r == 0, "ldp_elfsym_open(%s) returned %d", path, r);
	if (found && r == 0)
		CHECK(streq(ldp_elfsym_lookup(s, off), "_start"), "%s: its entry is named %s, want _start",
		      path, str_or_null(ldp_elfsym_lookup(s, off)));
	ldp_elfsym_free(s);
}

static void test_go_synthetic(void)
{
	static uint8_t p[GO_PCLN_MAX], q[GO_PCLN_MAX];
	size_t len = make_go_pcln3(p), ftab = get64(p + 64);
	const char *name;
	long n;

	n = go_parse(p, len, 0x40, &name);
	CHECK(n == 3 && streq(name, "main.hotGo"), "go: %ld functions, 0x40 in %s", n, name);
	n = go_parse(p, len, 0x17f, &name);
	CHECK(n == 3 && streq(name, "runtime.goexit"), "go: the last ends at the sentinel: %s", name);
	n = go_parse(p, len, 0x180, &name);
	CHECK(streq(name, "(null)"), "go: past the sentinel: %s", name);

#define GO_DAMAGED(what, want_n, stmt)                                                \
	do {                                                                          \
		memcpy(q, p, len);                                                    \
		stmt;                                                                 \
		n = go_parse(q, len, 0x0, &name);                                     \
		CHECK(n == (want_n), "go with %s: %ld functions, want %d", what, n,   \
		      want_n);                                                        \
	} while (0)
	GO_DAMAGED("the Go 1.20 magic", 3, put32(q, 0xfffffff1));
	GO_DAMAGED("the Go 1.16 magic", 0, put32(q, 0xfffffffa));
	GO_DAMAGED("4-byte pointers", 0, q[7] = 4);
	GO_DAMAGED("minLC 3", 0, q[6] = 3);
	GO_DAMAGED("text start 0", 0, put64(q + 24, 0));
	GO_DAMAGED("nfunc past the section", 0, put64(q + 8, UINT64_MAX / 2));
	GO_DAMAGED("nfunc one too many", 0, put64(q + 8, 4));
	GO_DAMAGED("the table past the section", 0, put64(q + 64, len - 4));
	GO_DAMAGED("names past the section", 0, put64(q + 32, len + 1));
	GO_DAMAGED("entries out of order", 0, put32(q + ftab + 8, 0x200));
	GO_DAMAGED("a record inside the table", 0, put32(q + ftab + 4, 8));
	GO_DAMAGED("overlapping records", 0, put32(q + ftab + 12, 32 + 4));
	GO_DAMAGED("a record that differs from its entry", 0, put32(q + ftab + 32 + 40, 0x44));
	GO_DAMAGED("a record past the section", 0, put32(q + ftab + 20, (uint32_t)len));
	GO_DAMAGED("a name offset past the names", 2, put32(q + ftab + 32 + 4, 0x7fffffff));
	GO_DAMAGED("a negative name offset", 2, put32(q + ftab + 32 + 4, 0x80000000u));
	GO_DAMAGED("an empty name", 2, put32(q + ftab + 32 + 4, 9));
	GO_DAMAGED("a name not ended in its table", 2, put64(q + 40, GO_HDR + 35));
	GO_DAMAGED("two functions at one entry", 2, (put32(q + ftab + 8, 0), put32(q + ftab + 72, 0)));
	GO_DAMAGED("a text start that wraps", 0, put64(q + 24, UINT64_MAX - 0x100));
#undef GO_DAMAGED

	/* A name of LDP_GOPCLNTAB_MAX_NAME bytes is kept, a longer one is left out. */
	for (size_t extra = 0; extra < 2; extra++) {
		static char big[LDP_GOPCLNTAB_MAX_NAME + 2];
		static const uint32_t zero[3] = { 0 };
		size_t nl = LDP_GOPCLNTAB_MAX_NAME + extra;

		memset(big, 'x', nl);
		big[nl] = '\0';
		len = make_go_pcln(q, big, nl + 1, zero);
		n = go_parse(q, len, 0x40, &name);
		CHECK(n == (extra ? 0 : 3), "go: a name of %zu bytes: %ld functions", nl, n);
	}
}

/* The programs of tests/progs/progs.mk, next to this test's folder: build/tests/{unit,progs}. */
static void prog_path(const char *exe, const char *name, char *out, size_t size)
{
	const char *slash = strrchr(exe, '/');
	int dirlen = slash ? (int)(slash - exe) : 1;

	snprintf(out, size, "%.*s/../progs/%s", dirlen, slash ? exe : ".", name);
}

/* The whole file path, or NULL; its size in *ret_len. */
static uint8_t *slurp(const char *path, size_t *ret_len)
{
	FILE *in = fopen(path, "rbe");
	uint8_t *buf = NULL;
	long len;

	if (!in)
		return NULL;
	if (fseek(in, 0, SEEK_END) == 0 && (len = ftell(in)) > 0 && fseek(in, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len);
		if (buf && fread(buf, 1, (size_t)len, in) != (size_t)len) {
			free(buf);
			buf = NULL;
		}
		*ret_len = (size_t)len;
	}
	fclose(in);
	return buf;
}

/* The file offset and size of the section called name in the ELF f (trusted: our own build). */
static int section(const uint8_t *f, const char *name, uint64_t *ret_off, uint64_t *ret_size)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, str;

	memcpy(&eh, f, sizeof(eh));
	memcpy(&str, f + eh.e_shoff + eh.e_shstrndx * sizeof(sh), sizeof(str));
	for (size_t i = 0; i < eh.e_shnum; i++) {
		memcpy(&sh, f + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (strcmp((const char *)f + str.sh_offset + sh.sh_name, name) == 0) {
			*ret_off = sh.sh_offset;
			*ret_size = sh.sh_size;
			return 0;
		}
	}
	return -1;
}

/* The start and size of the function called name in s, or 0 for start. */
static uint64_t find_func(const struct ldp_elfsym *s, const char *name, uint64_t *ret_size)
{
	for (size_t i = 0; i < ldp_elfsym_count(s); i++) {
		uint64_t start;
		const char *got;

		if (ldp_elfsym_get(s, i, &start, ret_size, &got) == 0 && streq(got, name))
			return start;
	}
	return 0;
}

/* Whether .gopclntab's name pc and .symtab's name sym are one function's: .symtab adds ".abi0"
 * to assembly functions, and names some type..eq functions in full where pc has "[...]". */
static int go_same_name(const char *pc, const char *sym)
{
	size_t n = strlen(pc);

	if (!sym)
		return 0;
	return strcmp(pc, sym) == 0 || (strncmp(pc, sym, n) == 0 && strcmp(sym + n, ".abi0") == 0) ||
	       (strncmp(pc, "type..eq.", 9) == 0 && strncmp(sym, "type..eq.", 9) == 0);
}

/* go_static_hot_stripped (-ldflags='-s -w') against go_static_hot, same source and flags. */
static void test_go_real(const char *exe)
{
	static const char *const funcs[] = { "main.hotGo", "main.coldGo" };
	struct ldp_elfsym *full = NULL, *s = NULL;
	char path[4096], full_path[4096], tmp[64];
	uint64_t toff = 0, tsize = 0, poff = 0, psize = 0;
	size_t same = 0, flen = 0, slen = 0;
	uint8_t *fbuf = NULL, *sbuf = NULL;
	int r;

	prog_path(exe, "go_static_hot", full_path, sizeof(full_path));
	prog_path(exe, "go_static_hot_stripped", path, sizeof(path));
	fbuf = slurp(full_path, &flen);
	sbuf = slurp(path, &slen);
	CHECK(fbuf && sbuf, "cannot read %s and %s (make test-bins)", full_path, path);
	if (!fbuf || !sbuf)
		goto out;
	/* The text at the same place with the same size, so .symtab's offsets hold for the stripped
	 * file (its bytes differ: the read-only data after it moved). The names check the rest. */
	CHECK(section(fbuf, ".text", &toff, &tsize) == 0 && section(sbuf, ".text", &poff, &psize) == 0 &&
		      toff == poff && tsize == psize,
	      "go: the stripped build's .text is elsewhere");
	CHECK(section(sbuf, ".symtab", &poff, &psize) < 0, "go: %s has a .symtab", path);

	r = ldp_elfsym_open(full_path, &full);
	CHECK(r == 0, "ldp_elfsym_open(%s) returned %d", full_path, r);
	r = ldp_elfsym_open(path, &s);
	CHECK(r == 0, "ldp_elfsym_open(%s) returned %d", path, r);
	if (!full || !s)
		goto out;
	for (size_t k = 0; k < 2; k++) {
		uint64_t size = 0, start = find_func(full, funcs[k], &size);

		CHECK(start != 0, "go: no %s in %s", funcs[k], full_path);
		CHECK(streq(ldp_elfsym_lookup(s, start), funcs[k]) &&
			      streq(ldp_elfsym_lookup(s, start + size - 1), funcs[k]),
		      "go stripped: lookup(%#llx) = %s, want %s", (unsigned long long)start,
		      str_or_null(ldp_elfsym_lookup(s, start)), funcs[k]);
	}
	/* Every function of .gopclntab is the function of .symtab at its offset. */
	for (size_t i = 0; i < ldp_elfsym_count(s); i++) {
		uint64_t start;
		const char *name;

		ldp_elfsym_get(s, i, &start, NULL, &name);
		same += go_same_name(name, ldp_elfsym_lookup(full, start));
	}
	CHECK(ldp_elfsym_count(s) > 1000 && same == ldp_elfsym_count(s),
	      "go stripped: %zu functions, %zu named as in .symtab", ldp_elfsym_count(s), same);
	check_build_id(s, path);
	ldp_elfsym_free(s);
	s = NULL;

	/* The header's version decides: Go 1.20's magic reads the same, Go 1.16's is refused. */
	CHECK(section(sbuf, ".gopclntab", &poff, &psize) == 0 && psize > 8, "go: no .gopclntab");
	put32(sbuf + poff, 0xfffffff1);
	r = ldp_elfsym_parse(sbuf, slen, &s);
	CHECK(r == 0 && ldp_elfsym_count(s) > 1000, "go, 1.20 magic: r=%d, %zu functions", r,
	      ldp_elfsym_count(s));
	ldp_elfsym_free(s);
	s = NULL;
	put32(sbuf + poff, 0xfffffffa);
	r = ldp_elfsym_parse(sbuf, slen, &s);
	CHECK(r == 0 && ldp_elfsym_count(s) == 0, "go, 1.16 magic: r=%d, %zu functions", r,
	      ldp_elfsym_count(s));
	ldp_elfsym_free(s);
	s = NULL;

	/* A stripped program that is not Go gets no names at all, invented or otherwise. */
	prog_path(exe, "static_fp", full_path, sizeof(full_path));
	if (make_temp(tmp, sizeof(tmp)) == 0) {
		char *argv[] = { "objcopy", "--strip-all", full_path, tmp, NULL };

		r = run(argv, NULL, 0);
		CHECK(r == 0, "objcopy --strip-all %s failed: %d", full_path, r);
		r = ldp_elfsym_open(tmp, &s);
		CHECK(r == 0 && ldp_elfsym_count(s) == 0, "stripped static C: r=%d, %zu functions", r,
		      ldp_elfsym_count(s));
		unlink(tmp);
	}
out:
	ldp_elfsym_free(full);
	ldp_elfsym_free(s);
	free(fbuf);
	free(sbuf);
}

/* The last few functions of the stripped Go program's .gopclntab (main.* among them), as a
 * .gopclntab of their own: a real table small enough for the fuzzer's seed corpus. Returns
 * its size, or 0. */
static size_t make_go_mini(const char *exe, uint8_t *out)
{
	char path[4096];
	uint8_t *f = NULL, *p;
	size_t flen = 0, size = 0, k, pos, ftab;
	uint64_t off, psize, nfunc, names, pcln, base;

	prog_path(exe, "go_static_hot_stripped", path, sizeof(path));
	f = slurp(path, &flen);
	if (!f || section(f, ".gopclntab", &off, &psize) < 0)
		goto out;
	p = f + off;
	nfunc = get64(p + 8);
	names = get64(p + 32);
	pcln = get64(p + 64);
	for (k = 8; k > 1; k--) /* the most functions whose text fits the frame */
		if (get32(p + pcln + 8 * nfunc) - get32(p + pcln + 8 * (nfunc - k)) <= GO_TEXT_MAX)
			break;
	base = get32(p + pcln + 8 * (nfunc - k));
	memcpy(out, p, GO_HDR);
	put64(out + 8, k);
	put64(out + 24, get64(p + 24) + base);
	put64(out + 32, GO_HDR);
	pos = GO_HDR;
	for (size_t i = 0; i < k; i++) { /* names first, to know where the table starts */
		const uint8_t *rec = p + pcln + get32(p + pcln + 8 * (nfunc - k + i) + 4);
		const char *name = (const char *)p + names + get32(rec + 4);

		if (strlen(name) + 1 > GO_PCLN_MAX / 2 / 8)
			goto out;
		memcpy(out + pos, name, strlen(name) + 1);
		pos += strlen(name) + 1;
	}
	ftab = (pos + 7) & ~(size_t)7;
	for (int t = 0; t < 4; t++)
		put64(out + 40 + 8 * t, t < 3 ? pos : ftab);
	memset(out + pos, 0, ftab - pos);
	pos = GO_HDR;
	for (size_t i = 0; i <= k; i++) {
		const uint8_t *ent = p + pcln + 8 * (nfunc - k + i);
		uint32_t rec = (uint32_t)((k + 1) * 8 + i * GO_RECORD);

		put32(out + ftab + 8 * i, get32(ent) - (uint32_t)base);
		put32(out + ftab + 8 * i + 4, i < k ? rec : 0);
		if (i == k)
			break;
		memcpy(out + ftab + rec, p + pcln + get32(ent + 4), GO_RECORD);
		put32(out + ftab + rec, get32(ent) - (uint32_t)base);
		put32(out + ftab + rec + 4, (uint32_t)(pos - GO_HDR));
		pos += strlen((const char *)out + pos) + 1;
	}
	size = ftab + (k + 1) * 8 + k * GO_RECORD;
out:
	free(f);
	return size;
}

static int write_seeds(const char *dir, const char *exe)
{
	uint8_t f[SYN_SIZE];
	char path[4096];
	FILE *out;

	static uint8_t pcln[GO_PCLN_MAX], go[GO_FRAME_MAX];
	static const char *const names[] = { "synthetic", "synthetic-truncated", "go-synthetic",
					     "go-mini" };
	size_t size[4] = { SYN_SIZE, OFF_SHDRS + 100, 0, 0 };

	make_synthetic(f);
	for (int i = 0; i < 4; i++) {
		if (i == 2)
			size[2] = make_go_elf(go, pcln, make_go_pcln3(pcln));
		if (i == 3) {
			size_t n = make_go_mini(exe, pcln);

			if (n == 0) {
				fprintf(stderr, "cannot read the stripped Go program (make test-bins)\n");
				return 1;
			}
			size[3] = make_go_elf(go, pcln, n);
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		out = fopen(path, "wbe");
		if (!out || fwrite(i < 2 ? f : go, 1, size[i], out) == 0 || fclose(out)) {
			fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ldp_maps maps = { 0 };
	char exe[4096];
	ssize_t len;
	int r;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0)
		exe[len] = '\0';
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return len > 0 ? write_seeds(argv[2], exe) : 1;

	test_synthetic();
	test_labels();
	test_merge();
	test_go_synthetic();
	test_garbage();

	r = ldp_maps_read(0, &maps);
	CHECK(len > 0 && r == 0, "cannot read /proc/self/exe or /proc/self/maps (%d)", r);
	if (len > 0 && r == 0) {
		test_self(&maps, exe);
		test_libc(&maps);
		test_plt(&maps, exe);
		test_plt_only(&maps);
		test_go_real(exe);
		test_musl_start(exe);
	}
	ldp_maps_free(&maps);

	if (failures) {
		fprintf(stderr, "test_elfsym: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_elfsym: ok\n");
	return 0;
}
