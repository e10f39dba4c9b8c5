/* SPDX-License-Identifier: MIT
 *
 * test_cfi.c — the unwinder's fast path (shim/cfi.c) against libunwind, on this program's own
 * stacks and on libc.
 *
 * Oracle: for a 24-deep recursion, walking with ldp_cfi_rule() from a getcontext() snapshot
 * gives the same return addresses and stack pointers as libunwind's local unwinder, frame by
 * frame, down to main; at the first instruction of any function the rule is CFA = RSP + 8
 * with RBP untouched; and asking for a rule at every address of the text segments of this
 * program and of libc never faults (each answer is a rule or "not handled").
 */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "cfi.h"

static int failures, checks;

#define CHECK(cond, ...)                                         \
	do {                                                     \
		checks++;                                        \
		if (!(cond)) {                                   \
			failures++;                              \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);            \
			fputc('\n', stderr);                     \
		}                                                \
	} while (0)

struct find {
	uint64_t ip;
	struct ldp_cfi_obj obj;
	uint64_t text_lo, text_hi;
	int found;
};

static int find_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct find *f = data;
	uint64_t hdr = 0;
	int in = 0;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && f->ip >= lo && f->ip < lo + ph->p_memsz) {
			in = 1;
			f->text_lo = lo;
			f->text_hi = lo + ph->p_memsz;
		}
		if (ph->p_type == PT_GNU_EH_FRAME)
			hdr = lo;
	}
	if (!in || !hdr)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && hdr >= lo && hdr < lo + ph->p_memsz)
			f->found = ldp_cfi_obj_init(&f->obj, hdr, lo, lo + ph->p_memsz) == 0;
	}
	return 1;
}

static int obj_for(uint64_t ip, struct find *f)
{
	memset(f, 0, sizeof(*f));
	f->ip = ip;
	dl_iterate_phdr(find_cb, f);
	return f->found ? 0 : -1;
}

/* Our walk: return addresses and CFAs, as the fast path in unwind.c computes them. */
static int walk(const ucontext_t *uc, uint64_t *ips, uint64_t *sps, int max)
{
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP], rsp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
	uint64_t rbp = (uint64_t)uc->uc_mcontext.gregs[REG_RBP], look = rip;
	int n = 0;

	while (n < max) {
		struct find f;
		struct ldp_cfi_rule r;
		uint64_t cfa;

		ips[n] = rip;
		sps[n] = rsp;
		n++;
		if (obj_for(look, &f) < 0 || ldp_cfi_rule(&f.obj, look, &r) < 0 || r.end)
			break;
		cfa = (r.cfa_reg == LDP_CFA_RSP ? rsp : rbp) + (uint64_t)(int64_t)r.cfa_off;
		if (r.rbp_saved)
			rbp = *(uint64_t *)(cfa + (uint64_t)(int64_t)r.rbp_off);
		rip = *(uint64_t *)(cfa - 8);
		rsp = cfa;
		if (!rip)
			break;
		look = rip - 1;
	}
	return n;
}

static int lu_walk(ucontext_t *uc, uint64_t *ips, uint64_t *sps, int max)
{
	unw_cursor_t c;
	int n = 0;

	if (unw_init_local(&c, (unw_context_t *)uc) < 0)
		return 0;
	do {
		unw_word_t ip, sp;
		unw_get_reg(&c, UNW_REG_IP, &ip);
		unw_get_reg(&c, UNW_REG_SP, &sp);
		ips[n] = ip;
		sps[n] = sp;
		n++;
	} while (n < max && unw_step(&c) > 0);
	return n;
}

#define DEPTH 24
static volatile int sink;

static __attribute__((noinline)) void compare(ucontext_t *uc)
{
	uint64_t a_ip[64], a_sp[64], b_ip[64], b_sp[64];
	int na, nb, same = 0;

	na = walk(uc, a_ip, a_sp, 64);
	nb = lu_walk(uc, b_ip, b_sp, 64);
	while (same < na && same < nb && a_ip[same] == b_ip[same] && a_sp[same] == b_sp[same])
		same++;
	/* leaf + DEPTH+1 rec frames + main at least. */
	CHECK(same >= DEPTH + 3, "fast path and libunwind agree on %d frames only (fast %d, libunwind %d)",
	      same, na, nb);
	for (int i = same; i < na && i < nb; i++)
		fprintf(stderr, "  frame %d: fast ip=%#lx sp=%#lx  libunwind ip=%#lx sp=%#lx\n", i,
			(unsigned long)a_ip[i], (unsigned long)a_sp[i], (unsigned long)b_ip[i], (unsigned long)b_sp[i]);
	printf("stack: fast path %d frames, libunwind %d, identical for %d\n", na, nb, same);
}

static __attribute__((noinline)) void leaf(void)
{
	ucontext_t uc;

	getcontext(&uc);
	compare(&uc);
	sink++;
}

static __attribute__((noinline)) void rec(int n)
{
	volatile char buf[32 + (n & 7) * 16];

	buf[0] = (char)n;
	if (n > 0)
		rec(n - 1);
	else
		leaf();
	sink += buf[0];
}

static void entry_rules(const char *name, void *fn)
{
	struct find f;
	struct ldp_cfi_rule r;

	CHECK(obj_for((uint64_t)fn, &f) == 0, "%s: no .eh_frame_hdr", name);
	if (!f.found)
		return;
	CHECK(ldp_cfi_rule(&f.obj, (uint64_t)fn, &r) == 0, "%s: no rule at entry", name);
	CHECK(r.cfa_reg == LDP_CFA_RSP && r.cfa_off == 8 && !r.rbp_saved && !r.end,
	      "%s: entry rule reg=%d off=%d rbp=%d end=%d, want RSP+8", name, r.cfa_reg, r.cfa_off,
	      r.rbp_saved, r.end);
}

static void sweep(const char *name, void *fn)
{
	struct find f;
	struct ldp_cfi_rule r;
	long handled = 0, total = 0;

	if (obj_for((uint64_t)fn, &f) < 0)
		return;
	for (uint64_t ip = f.text_lo; ip < f.text_hi; ip++, total++)
		handled += ldp_cfi_rule(&f.obj, ip, &r) == 0;
	printf("sweep %s: %ld of %ld addresses have a fast-path rule\n", name, handled, total);
	CHECK(handled > total / 2, "%s: only %ld of %ld addresses handled", name, handled, total);
}

/* ldp_cfi_index() on an object's .eh_frame must give the table its linker wrote into
 * .eh_frame_hdr: the same pairs, in the same order (offsets from the header). */
static void index_like_linker(const char *name, void *fn)
{
	struct find f;
	const uint8_t *h;
	int32_t ptr, *mine;
	uint64_t eh;
	long n;

	CHECK(obj_for((uint64_t)fn, &f) == 0, "%s: no .eh_frame_hdr", name);
	if (!f.found)
		return;
	h = (const uint8_t *)f.obj.hdr;
	CHECK(h[1] == 0x1b, "%s: eh_frame_ptr encoded 0x%x", name, h[1]);
	memcpy(&ptr, h + 4, sizeof(ptr));
	eh = f.obj.hdr + 4 + (int64_t)ptr;
	mine = calloc(f.obj.nfde + 16, 8);
	n = ldp_cfi_index(eh, f.obj.hi - eh, f.obj.lo, f.obj.hi, f.obj.hdr, mine, f.obj.nfde + 16);
	CHECK(n == (long)f.obj.nfde, "%s: %ld FDEs indexed, the linker's table has %lu", name, n,
	      (unsigned long)f.obj.nfde);
	CHECK(n > 0 && memcmp(mine, (const void *)f.obj.table, (size_t)n * 8) == 0,
	      "%s: the index differs from the linker's table", name);
	/* rules through the index are the rules through the header */
	{
		struct ldp_cfi_obj x = f.obj;
		struct ldp_cfi_rule a, b;
		x.table = (uint64_t)mine;
		x.tlo = x.table;
		x.thi = x.table + (uint64_t)n * 8;
		for (long i = 0; i < n; i += 1 + n / 200) {
			uint64_t ip = f.obj.hdr + (int64_t)mine[2 * i] + 1;
			int ra = ldp_cfi_rule(&f.obj, ip, &a), rb = ldp_cfi_rule(&x, ip, &b);
			CHECK(ra == rb && (ra < 0 || memcmp(&a, &b, sizeof(a)) == 0), "%s: rule at %#lx differs", name,
			      (unsigned long)ip);
		}
	}
	/* cut short: refused or fewer, never past the bytes given */
	CHECK(ldp_cfi_index(eh, f.obj.hi - eh + 1, f.obj.lo, f.obj.hi, f.obj.hdr, mine, 4) < 0,
	      "%s: a section past its segment accepted", name);
	free(mine);
}

int main(void)
{
	struct ldp_cfi_obj o;

	rec(DEPTH);
	entry_rules("rec", (void *)rec);
	entry_rules("leaf", (void *)leaf);
	entry_rules("main", (void *)main);
	entry_rules("libc getpid", dlsym(RTLD_DEFAULT, "getpid"));
	entry_rules("libc qsort", dlsym(RTLD_DEFAULT, "qsort"));
	sweep("test_cfi", (void *)main);
	sweep("libc", dlsym(RTLD_DEFAULT, "qsort"));
	index_like_linker("test_cfi", (void *)main);
	index_like_linker("libc", dlsym(RTLD_DEFAULT, "qsort"));

	/* A header that is not one: refused, not read past its segment. */
	{
		static const uint8_t junk[8] = { 2, 0x1b, 0x03, 0x3b, 0, 0, 0, 0 };
		uint64_t a = (uint64_t)junk;
		CHECK(ldp_cfi_obj_init(&o, a, a, a + sizeof(junk)) < 0, "bad version accepted");
		CHECK(ldp_cfi_obj_init(&o, a, a, a + 3) < 0, "truncated header accepted");
	}
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
