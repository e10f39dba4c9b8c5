/* SPDX-License-Identifier: MIT
 *
 * fuzz_unwind.c — the SIGPROF handler's unwinder (shim/unwind.c with shim/cfi.c and libunwind,
 * the very code the core links) on hostile registers and stacks.
 *
 * The process has real libraries loaded: libc, libunwind, libz and libzstd in the unwinder's
 * object table, and libcrypt loaded after the table was built (a library the program dlopen()ed
 * a moment ago: libunwind falls back to the frame-pointer chain there). Each input sets the
 * interrupted context's 17 registers and the contents of a 64 KiB stack with guard pages
 * around it; each value is either raw bytes or one of the places that have hurt unwinders:
 * the top and bottom of the address space (RBP = -1 after a system call), the edge of the
 * canonical range, an unmapped gap, a guard page, code in and out of the table, the stack and
 * its last words. Stack words can be turned into such pointers too, so chains of frames form.
 * The stack's bounds are given as the sampler gives them: the real ones, a part of them, or
 * none.
 *
 * Oracle: no fault (a fault in the handler kills the profiled program), no undefined behaviour
 * (UBSan), a depth between 1 and the maximum, the interrupted address first. unwind.c and
 * cfi.c are built without ASan: they read any byte of a loaded object's segments by design.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "unwind.h"

#define PAGE 4096ull
#define STACK (64 * 1024ull)
#define MAX_TEXT 64
#define MAX_FRAMES 128

static struct {
	int ready;
	uint64_t stack_lo, stack_hi; /* the fake stack, guard pages on both sides */
	uint64_t guard, gap;         /* a PROT_NONE page, an address nothing is mapped at */
	uint64_t text_lo[MAX_TEXT], text_hi[MAX_TEXT];
	uint32_t ntext;
	uint64_t late_lo, late_hi;   /* libcrypt's code: loaded after the table was built */
	uint64_t funcs[8];
	uint32_t nfuncs;
} F;

static int add_text(struct dl_phdr_info *info, size_t size, void *data)
{
	int late = data != NULL;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || !ph->p_memsz)
			continue;
		if (late) {
			if (strstr(info->dlpi_name, "libcrypt.so.1")) {
				F.late_lo = lo;
				F.late_hi = lo + ph->p_memsz;
			}
		} else if (F.ntext < MAX_TEXT) {
			F.text_lo[F.ntext] = lo;
			F.text_hi[F.ntext++] = lo + ph->p_memsz;
		}
	}
	return 0;
}

static void setup(void)
{
	void *m, *z, *zstd, *late, *g;

	/* real libraries in the table: built by ldp_unwind_init() after these are loaded */
	z = dlopen("libz.so.1", RTLD_NOW);
	zstd = dlopen("libzstd.so.1", RTLD_NOW);
	if (!z || !zstd)
		abort();
	m = mmap(NULL, STACK + 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || g == MAP_FAILED)
		abort();
	mprotect(m, PAGE, PROT_NONE);
	mprotect((char *)m + PAGE + STACK, PAGE, PROT_NONE);
	munmap(g, PAGE);
	F.guard = (uint64_t)(uintptr_t)m;
	F.stack_lo = F.guard + PAGE;
	F.stack_hi = F.stack_lo + STACK;
	F.gap = (uint64_t)(uintptr_t)g;
	dl_iterate_phdr(add_text, NULL);
	F.funcs[F.nfuncs++] = (uint64_t)(uintptr_t)dlsym(z, "crc32");
	F.funcs[F.nfuncs++] = (uint64_t)(uintptr_t)dlsym(zstd, "ZSTD_compress");
	F.funcs[F.nfuncs++] = (uint64_t)(uintptr_t)&memcpy;
	F.funcs[F.nfuncs++] = (uint64_t)(uintptr_t)&getpid;
	F.funcs[F.nfuncs++] = (uint64_t)(uintptr_t)&setup;
	if (ldp_unwind_init() < 0)
		abort();
	/* not in the table: it must not have been loaded before (a sanitizer runtime's needs) */
	if (dlopen("libcrypt.so.1", RTLD_NOW | RTLD_NOLOAD))
		abort();
	late = dlopen("libcrypt.so.1", RTLD_NOW);
	if (!late)
		abort();
	dl_iterate_phdr(add_text, late);
	F.funcs[F.nfuncs++] = (uint64_t)(uintptr_t)dlsym(late, "crypt");
	if (!F.late_lo || !F.ntext)
		abort();
	F.ready = 1;
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

static uint64_t in_range(uint64_t lo, uint64_t hi, uint64_t r)
{
	return hi > lo ? lo + r % (hi - lo) : lo;
}

/* A value of kind k made from raw bytes r. */
static uint64_t value(unsigned k, uint64_t r)
{
	uint32_t t;

	switch (k % 16) {
	case 1: /* code of a library in the table */
		t = (uint32_t)(r % F.ntext);
		return in_range(F.text_lo[t], F.text_hi[t], r >> 8);
	case 2: /* a function, or just after its start */
		return F.funcs[r % F.nfuncs] + ((r >> 8) & 63);
	case 3: /* the stack, aligned or not */
		return in_range(F.stack_lo, F.stack_hi, r >> 1) & ((r & 1) ? ~0ull : ~7ull);
	case 4: /* the top of the address space */
		return ~0ull - (r & 0xfff);
	case 5: /* the bottom */
		return r & 0xfff;
	case 6: /* nothing mapped there */
		return F.gap + (r & 0xfff);
	case 7: /* a guard page below the stack: mapped, unreadable */
		return F.guard + (r & 0xfff);
	case 8: /* the end of the canonical range, and past it */
		return 0x00007ffffffff000ull + (r & 0x1fff);
	case 9: /* non-canonical */
		return 0x8000000000000000ull + (r & 0xffff);
	case 10: /* code of a library loaded after the table was built */
		return in_range(F.late_lo, F.late_hi, r);
	case 11: /* the last words of the stack, and just past them */
		return F.stack_hi - 8 * (r & 15) + ((r >> 4) & 7);
	case 12:
		return ~0ull;
	case 13:
		return 0;
	default:
		return r;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t frames[MAX_FRAMES];
	struct in in = { data, size };
	ucontext_t uc;
	uint64_t lo, hi, *stack;
	unsigned mode, max;
	size_t words;
	uint32_t n;

	if (!F.ready)
		setup();
	memset(&uc, 0, sizeof(uc));
	mode = (unsigned)take(&in, 1);
	max = 1 + (unsigned)(take(&in, 1) % MAX_FRAMES);
	for (int r = 0; r < NGREG; r++) {
		unsigned k = (unsigned)take(&in, 1);
		uc.uc_mcontext.gregs[r] = (greg_t)value(k, take(&in, 8));
	}
	/* The stack: zero, then the rest of the input at its top. A word whose first byte is
	 * 0xa0 | k becomes a value of kind k made from its other seven bytes. */
	stack = (uint64_t *)(uintptr_t)F.stack_lo;
	memset(stack, 0, STACK);
	words = in.n / 8 < STACK / 8 ? in.n / 8 : STACK / 8;
	for (size_t i = 0; i < words; i++) {
		uint64_t w = take(&in, 8);
		if ((w & 0xf0) == 0xa0)
			w = value((unsigned)(w & 0x0f), w >> 8);
		stack[STACK / 8 - words + i] = w;
	}
	/* The bounds, as the sampler may give them: the real ones, a part of them (a learnt
	 * mapping, a descriptor below the top), none, or a top without a bottom. */
	switch (mode % 4) {
	case 0: lo = F.stack_lo; hi = F.stack_hi; break;
	case 1: lo = hi = 0; break;
	case 2: lo = 0; hi = F.stack_hi; break;
	default:
		lo = F.stack_lo + ((mode >> 2) % 16) * 4096;
		hi = F.stack_hi - ((mode >> 6) % 4) * 8;
		break;
	}
	n = ldp_unwind(&uc, lo, hi, frames, max);
	if (n < 1 || n > max || frames[0] != (uint64_t)uc.uc_mcontext.gregs[REG_RIP])
		abort();
	return 0;
}
