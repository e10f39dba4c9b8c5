/* SPDX-License-Identifier: MIT
 *
 * test_elfsym.c — common/elfsym.c on a handcrafted ELF (alias choice, extents, fallback to
 * .dynsym, damaged headers), on this test's own executable (.symtab, built with -g), on the libc
 * it runs with (.dynsym), on a stripped copy, and on garbage. Build IDs are compared with what
 * `readelf -n` prints. Exits non-zero after printing every failed check.
 *
 * `test_elfsym --write-seeds DIR` writes the handcrafted ELF (whole and truncated) into DIR: that
 * is how tests/fuzz/corpus/fuzz_elfsym/synthetic* were made.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfsym.h"
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

static void make_synthetic(uint8_t *f)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[2] = { 0 };
	Elf64_Shdr sh[5] = { 0 };
	Elf64_Sym syms[14], dyn[2];
	const uint8_t note[] = { 4, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0,
				 0xde, 0xad, 0xbe, 0xef };

	memset(f, 0, SYN_SIZE);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_shoff = OFF_SHDRS;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 5;
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

static void test_synthetic(void)
{
	static const struct {
		uint64_t off;
		const char *name;
	} want[] = {
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
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *got = ldp_elfsym_lookup(s, want[i].off);

		CHECK(want[i].name ? streq(got, want[i].name) : got == NULL,
		      "synthetic: lookup(%#llx) = %s, want %s", (unsigned long long)want[i].off,
		      str_or_null(got), str_or_null(want[i].name));
	}
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

static int write_seeds(const char *dir)
{
	uint8_t f[SYN_SIZE];
	char path[4096];
	FILE *out;

	make_synthetic(f);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, i ? "synthetic-truncated" : "synthetic");
		out = fopen(path, "wbe");
		if (!out || fwrite(f, 1, i ? OFF_SHDRS + 100 : SYN_SIZE, out) == 0 || fclose(out)) {
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

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);

	test_synthetic();
	test_garbage();

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	r = ldp_maps_read(0, &maps);
	CHECK(len > 0 && r == 0, "cannot read /proc/self/exe or /proc/self/maps (%d)", r);
	if (len > 0 && r == 0) {
		exe[len] = '\0';
		test_self(&maps, exe);
		test_libc(&maps);
	}
	ldp_maps_free(&maps);

	if (failures) {
		fprintf(stderr, "test_elfsym: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_elfsym: ok\n");
	return 0;
}
