/* SPDX-License-Identifier: MIT
 *
 * ringsamp.c — the libc-free sampler (ringsamp.h): timers, the SIGPROF handler, the fast-path
 * unwinder's object table, and the ring the samples leave the process through.
 *
 * ASYNC-SIGNAL CONTEXT — on_prof() and everything it calls (walk, rule_for, read_word,
 * ring_get, ring_make, the agentreq.c client; and, once per process on a deferred start,
 * activate(): the first stage's activate/activated, tables_map, maps_build, threads_start)
 * run inside the SIGPROF handler. Allowed there: raw system calls (they never touch errno),
 * reads of memory known to be mapped (the object table's readable segments, the interrupted
 * thread's stack between its stack pointer and its known top) with bound checks that cannot
 * wrap, process_vm_readv for every other address, glibc's _dl_find_object (lock-free by
 * design), and lock-free atomics. Never: a libc call (but sigaction, async-signal-safe, on the
 * paths that give SIGPROF back: foreign(), give_up() and a failed activation, which save
 * errno), a lock (give_up() and activate() only try one, and go on or come back later), an
 * allocation other than mmap (the ring; the tables and a scratch buffer at activation), a
 * wait (the agent's question and the hand-over are bounded by LDP_AGENT_REPLY_MS). The log
 * lines are the first stage's, raw system calls only.
 *
 * Outside the handler (wrappers, fork handlers), still without libc: a spin lock (`tlock`)
 * orders the writers of the thread table; the handler never takes it, it finds its slot by the
 * index and generation in the timer's sigev_value. The object table is double-buffered: the
 * builder fills the spare copy, publishes it, and waits until no handler reads
 * the old one before that may be reused.
 *
 * It starts at once (ldp_rs_start: `ldprof run`, start_after_cpu = 0) or deferred
 * (ldp_rs_defer, [agent] rings on a host): then the process has our handler and a timer on
 * each thread's CPU clock until it has used start_after_cpu, and the sampler is set up from
 * the handler (see "deferred start" below): the object table from /proc/self/maps, since
 * dl_iterate_phdr takes a lock the interrupted thread may hold.
 *
 * The ring is made by the first sample (so a process that never uses a sample period of CPU
 * never makes one, and fork stays cheap): a memfd sealed against shrinking and growing,
 * mapped shared and MADV_DONTFORK (a forked child never sees, let alone writes, its parent's),
 * sent to the collector over the agent protocol's socket with SCM_RIGHTS; the memfd and the
 * socket are closed before the handler returns. When no collector takes it, sampling ends
 * there for good (give_up), said in the log and in ldprof status; a collector that goes
 * away later costs the process nothing (a full ring drops and counts).
 *
 * The walk is the fast path only: .eh_frame rules (cfi.c), a PLT stub at the leaf taken by
 * its return address, signal frames through the kernel's saved registers; objects without
 * .eh_frame_hdr get a search table made from their .eh_frame. Code with no rule is crossed by
 * a frame-pointer chain when it is a JIT compiler's, by a checked scan for its return address
 * when it is a file's (caller_by_scan). What it cannot take ends the stack, counted in the
 * ring's header.
 */
#if defined(__x86_64__)

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#include "agentproto.h"
#include "agentreq.h"
#include "cfi.h"
#include "mapsline.h"
#include "rawsys.h"
#include "ring.h"
#include "ringsamp.h"
#include "state.h"

#define NR_madvise 28
#define NR_sched_yield 24
#define NR_rt_sigaction 13
#define NR_ftruncate 77
#define NR_getdents64 217
#define NR_process_vm_readv 310
#define NR_memfd_create 319
#define NR_pread64 17

#define SIGPROF_ 27
#define SI_TIMER_ (-2)
#define SIGEV_THREAD_ID_ 4
#define SIG_BLOCK_ 0
#define SIG_SETMASK_ 2
#define SA_SIGINFO_ 4
#define SA_RESTART_ 0x10000000
#define PROT_RW_ 3
#define MAP_PRIVATE_ANON_ 0x22
#define MAP_SHARED_ 0x01
#define MADV_DONTFORK_ 10
#define MADV_POPULATE_WRITE_ 23 /* Linux 5.14 */
#define MFD_CLOEXEC_ 1u
#define MFD_ALLOW_SEALING_ 2u
#define F_ADD_SEALS_ 1033
#define F_SEAL_SEAL_ 1
#define F_SEAL_SHRINK_ 2
#define F_SEAL_GROW_ 4
#define O_DIRECTORY_CLOEXEC_ (0200000 | 02000000)
#define ESRCH_ 3
#define EINTR_ 4
#define EAGAIN_ 11

#define MAX_THREADS 1024   /* thread slots: the sigev_value carries the index in 16 bits */
#define MAX_TEXT 1024
#define MAX_SEGS 4096
#define RCACHE 4096
#define TRAMPS 256         /* threads being started at once */
#define REAP_EVERY 32      /* pthread_creates between two looks for threads ended unseen */
#define MAX_FRAMES (LDP_RING_MAX_FRAMES + 1)  /* one more, to know a stack was cut */
/* The ring holds what the process's threads take in RING_HOLD_MS (the collector drains every
 * 50 ms), counted at its making, in slots of 1 KiB: 64 (64 KiB) for up to 2 busy threads at
 * 99 Hz, 128 for 5, 2048 for 64 at 99 Hz or 16 at the kernel's 250 a second, at most 4096. */
#define RING_HOLD_MS 250
#define RING_MIN_SLOTS 64u
#define SIVAL_MAGIC 0x4c52ull /* "LR" in the sigev_value's top 16 bits */
/* The rescan: a thread with no timer of ours (started with a raw clone(), or when the
 * trampolines ran out) is found in /proc/self/task by a sampled thread's handler, after
 * SCAN_NS of sampled CPU time; a rescan that finds none doubles the wait, up to SCAN_MAX_NS.
 * Not a timer on the process's CPU clock: its signal goes to the process, and the kernel may
 * hand it to a sleeping thread (the main one before Linux 6.4, any one when the running thread
 * blocks SIGPROF), whose pause(), nanosleep() or epoll_wait() then fails with EINTR. */
#define SCAN_NS 50000000L
#define SCAN_MAX_NS 1600000000L
/* The activation timers of a deferred start (ldp_rs_defer): one per thread known to us, on
 * the thread's own CPU clock, firing every ACT_STEP of it (start_after_cpu / 4, from 1 to
 * 10 ms) until the process's CPU time reaches start_after_cpu. Not one timer on the process's
 * CPU clock: its signal may land in a sleeping thread (see SCAN_NS). A thread seen by neither
 * wrapper, or past ACT_THREADS, waits for the activation to adopt it. */
#define ACT_IDX 0xfffeu
#define ACT_THREADS 32
#define ACT_TRAMPS 8
#define ACT_MIN_NS 1000000L
#define ACT_MAX_STEP_NS 10000000L

/* ---- the process's state (small: the tables are mapped at start) ---- */

enum { SLOT_FREE, SLOT_LIVE };

struct thread {
	int32_t tid;
	int32_t timer;
	uint32_t gen;
	uint32_t state;
	uint64_t stack_lo, stack_hi; /* [lo, hi): all of it mapped; 0, 0 when unknown */
};

struct text {
	uint64_t lo, hi;          /* executable segment */
	struct ldp_cfi_obj eh;    /* its object's .eh_frame_hdr and the segment holding it */
};

struct seg {
	uint64_t lo, hi;
};

struct objtab {
	uint32_t ntext, nsegs;
	struct text text[MAX_TEXT];
	struct seg segs[MAX_SEGS];
};

struct rentry {
	uint64_t key, val;
};

struct tramp {
	int busy;
	void *(*fn)(void *);
	void *arg;
};

/* The libc's struct sigaction on x86_64: glibc and musl lay it out alike. */
struct k_sigaction {
	void *handler;
	uint64_t mask[16];
	int flags;
	void (*restorer)(void);
};

struct k_sigevent {
	uint64_t value;
	int signo, notify, tid;
	int pad[11];
};

struct k_siginfo {
	int signo, err, code, pad0;
	int timerid, overrun;
	uint64_t value;
};

/* glibc's struct dl_find_object (2.35): the fields we read, room for the rest. */
struct dl_find_object_ {
	unsigned long long flags;
	void *map_start, *map_end;
	void *link_map;
	void *eh_frame;
	unsigned long long reserved[11];
};

/* struct dl_phdr_info: glibc and musl lay it out alike. */
struct phdr_info {
	uint64_t addr;
	const char *name;
	const Elf64_Phdr *phdr;
	uint16_t phnum;
};

enum { RING_NONE, RING_MAKING, RING_READY, RING_FAILED };

static struct {
	struct ldp_rs_boot b;
	char collector[108];
	long pid;
	int on;             /* sampling; 0 for good once the program takes SIGPROF */
	int paused;         /* an exec is in progress */
	int fenced;         /* a dlclose is in progress */
	int readers;        /* handlers inside the object table */
	int tlock;          /* writers of the thread table */
	/* slots at and above this index have never been used in this process (a fork child
	 * starts at 0: the parent's slots are garbage to it, never written, so never copied) */
	uint32_t hiwater;
	int tablock;        /* builders of the object table */
	int cur;            /* the object table handlers read */
	int old_busy;       /* a handler may still read the other one */
	int ring_state;
	uint32_t tramp_hw;  /* trampoline cells at and above this index were never taken */
	uint32_t scan_count; /* samples since the last rescan */
	uint32_t scan_every; /* samples between two rescans (0: not set up) */
	uint32_t rgen;      /* the rule cache's generation (rcache_key) */
	int exec_marked;    /* an exec mark went into the ring (hook_exec_prepare) */
	unsigned creates;   /* pthread_create calls, for the reaping's pace */
	void *ring;
	uint32_t ring_slots;
	struct thread *threads;
	struct objtab *tabs[2];
	struct rentry *rcache;
	struct tramp *tramps;
	struct k_sigaction orig; /* the program's SIGPROF disposition, as it set it */
	struct index *idx;       /* search tables made for objects without .eh_frame_hdr */
	/* deferred activation (ldp_rs_defer): nothing above is set up until it happens */
	int pending;             /* the activation timers are armed */
	int holds;               /* wrappers holding a pending activation off */
	int activating;          /* handlers at the activation (two threads' timers may fire at once) */
	int exec_held, dl_held, fork_held; /* holds taken by exec, dlclose, fork, released after */
	const char *leaving;     /* where a solo call of a pending process may be taking it */
	long long act_after_ns;  /* [select] start_after_cpu */
	long long act_at_ns;     /* when, on the process's CPU clock */
	long long act_step_ns;   /* each activation timer's period, on its thread's CPU clock */
	uint32_t nact;           /* act[0, nact): the threads with an activation timer (tlock) */
	struct { int32_t tid, timer; } act[ACT_THREADS];
	struct tramp act_tramps[ACT_TRAMPS]; /* pthread_create's cells while pending */
	struct seg *stacks;      /* the threads' stacks as mapped at activation (adopted threads) */
	uint32_t nstacks;
} R;

/* The slots to look at: [0, slots_hw()). */
static uint32_t slots_hw(void)
{
	return __atomic_load_n(&R.hiwater, __ATOMIC_ACQUIRE);
}

static long my_tid(void) { return sys3(NR_gettid, 0, 0, 0); }

static void yield(void) { sys3(NR_sched_yield, 0, 0, 0); }

static void nap_ms(long ms)
{
	struct ldp_k_timespec t = { 0, ms * 1000000L };

	sys6(NR_clock_nanosleep, LDP_CLOCK_MONOTONIC, 0, (long)&t, 0, 0, 0);
}

static void lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		yield();
}

static void unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static void *map_anon(unsigned long len)
{
	long p = sys6(NR_mmap, 0, (long)len, PROT_RW_, MAP_PRIVATE_ANON_, -1, 0);

	return p < 0 && p > -4096 ? 0 : (void *)p;
}

static void zero(void *p, unsigned long n)
{
	unsigned char *c = p;

	while (n--)
		*c++ = 0;
}

/* ---- reading memory (handler side) ---- */

struct walk {
	uint64_t sp, stack_hi; /* direct reads in [sp, stack_hi) */
	const struct objtab *t;
	long pid;
};

static const struct text *find_text(const struct objtab *t, uint64_t ip)
{
	uint32_t lo = 0, hi = t->ntext;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (ip < t->text[mid].lo)
			hi = mid;
		else if (ip >= t->text[mid].hi)
			lo = mid + 1;
		else
			return &t->text[mid];
	}
	return 0;
}

/* The segment of the n (sorted, apart) holding addr, or NULL. */
static const struct seg *seg_find(const struct seg *s, uint32_t n, uint64_t addr)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (addr < s[mid].lo)
			hi = mid;
		else if (addr >= s[mid].hi)
			lo = mid + 1;
		else
			return &s[mid];
	}
	return 0;
}

static int in_segs(const struct objtab *t, uint64_t addr)
{
	const struct seg *g = seg_find(t->segs, t->nsegs, addr);

	return g && g->hi - addr >= sizeof(uint64_t);
}

struct iovec_ {
	void *base;
	unsigned long len;
};

static long read_remote(long pid, uint64_t addr, void *buf, unsigned long len)
{
	struct iovec_ local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };

	if (addr < 4096)
		return -1;
	return sys6(NR_process_vm_readv, pid, (long)&local, 1, (long)&remote, 1, 0);
}

/* Written so that it cannot wrap: addr may be anything (a frame pointer of -1). */
static int read_word(const struct walk *w, uint64_t addr, uint64_t *val)
{
	if ((w->stack_hi >= sizeof(uint64_t) && addr >= w->sp && addr <= w->stack_hi - sizeof(uint64_t)) ||
	    in_segs(w->t, addr)) {
		*val = *(const uint64_t *)(uintptr_t)addr;
		return 0;
	}
	return read_remote(w->pid, addr, val, sizeof(*val)) == (long)sizeof(*val) ? 0 : -1;
}

/* ---- unwind rules, cached by address (as unwind.c: key = 0, value, key = ip) ---- */

#define R_VALID (1ull << 63)
#define R_NONE (1ull << 62)
#define R_SIG (1ull << 61)     /* the address after it is the signal-return stub */
#define R_NOSCAN (1ull << 60)  /* with R_NONE: caller_by_scan() found no caller from here */
#define R_SCANNED (1ull << 59) /* a rule caller_by_scan() found: checked at each use */

static uint64_t pack(const struct ldp_cfi_rule *r)
{
	return R_VALID | (uint64_t)r->cfa_reg << 52 | (uint64_t)r->rbp_saved << 51 | (uint64_t)r->end << 50 |
	       ((uint64_t)(uint32_t)r->cfa_off & 0x1ffffff) << 25 | ((uint64_t)(uint32_t)-r->rbp_off & 0x1ffffff);
}

static void unpack(uint64_t v, struct ldp_cfi_rule *r)
{
	r->cfa_reg = (v >> 52) & 1;
	r->rbp_saved = (v >> 51) & 1;
	r->end = (v >> 50) & 1;
	r->cfa_off = (int32_t)((v >> 25) & 0x1ffffff);
	r->rbp_off = -(int32_t)(v & 0x1ffffff);
}

/* An object newer than the table (glibc only: musl's dlopen wrapper rebuilds the table before
 * the program can run a new object's code): its text and search table, found through glibc,
 * and the bounds of the segment holding its unwind tables, from its program headers read
 * through the kernel. cfi.c then reads that segment directly: it stays mapped, since a
 * dlclose() fences every handler out first. */
static int late_text(const struct walk *w, uint64_t ip, struct text *t)
{
	struct dl_find_object_ o;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[32];
	uint64_t hdr, base, minv = ~0ull;
	uint8_t head[32];
	long n;
	int i, ok = 0;

	if (!R.b.find_object || R.b.find_object((void *)(uintptr_t)ip, &o) != 0 || !o.eh_frame)
		return -1;
	base = (uint64_t)(uintptr_t)o.map_start;
	if (read_remote(w->pid, base, &eh, sizeof(eh)) != (long)sizeof(eh) || eh.e_ident[0] != 0x7f ||
	    eh.e_ident[1] != 'E' || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 32 ||
	    eh.e_phoff > 4096)
		return -1;
	n = (long)(eh.e_phnum * sizeof(Elf64_Phdr));
	if (read_remote(w->pid, base + eh.e_phoff, ph, (unsigned long)n) != n)
		return -1;
	for (i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < minv)
			minv = ph[i].p_vaddr;
	if (minv == ~0ull)
		return -1;
	base -= minv & ~4095ull; /* the load bias */
	hdr = (uint64_t)(uintptr_t)o.eh_frame;
	t->lo = t->hi = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		uint64_t lo = base + ph[i].p_vaddr, hi = lo + ph[i].p_memsz;
		if (ph[i].p_type != PT_LOAD || hi < lo)
			continue;
		if ((ph[i].p_flags & PF_X) && ip >= lo && ip < hi) {
			t->lo = lo;
			t->hi = hi;
		}
		if ((ph[i].p_flags & PF_R) && hdr >= lo && hdr < hi &&
		    read_remote(w->pid, hdr, head, sizeof(head)) > 0)
			ok = ldp_cfi_obj_init(&t->eh, hdr, lo, hi) == 0;
	}
	return ok && t->hi ? 0 : -1;
}

/* The text holding ip: the table's, or one newer than it (late_text, into *late). */
static const struct text *text_at(const struct walk *w, uint64_t ip, struct text *late)
{
	const struct text *tx = find_text(w->t, ip);

	return tx ? tx : late_text(w, ip, late) == 0 ? late : 0;
}

/* ip is in an object: the table's code, or (glibc) an object loaded after the table was built,
 * which only _dl_find_object knows (glibc's dlopen is not wrapped: it takes the RUNPATH of its
 * caller, so the table is built again only at a fork or a dlclose). For an object newer than
 * the table this says "in the object", not "in its code": callers check the bytes before a
 * return address (a call) wherever that matters. */
static int in_object(const struct walk *w, uint64_t ip)
{
	struct dl_find_object_ o;

	if (find_text(w->t, ip))
		return 1;
	return R.b.find_object && R.b.find_object((void *)(uintptr_t)ip, &o) == 0;
}

enum { STOP_NONE, STOP_NO_OBJECT, STOP_NO_RULE, SIGFRAME, NO_SCAN, SCANNED };

/* ucontext_t on x86_64: uc_mcontext.gregs at 40 (RBP 10, RSP 15, RIP 16) */
#define UC_GREGS 40

/* The rt_sigreturn stub glibc and musl install as the handlers' SA_RESTORER on x86_64:
 * mov $15, %rax; syscall. */
static int sigreturn_at(const struct walk *w, uint64_t a)
{
	static const uint8_t code[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05 };
	uint64_t x[2];

	if (read_word(w, a, &x[0]) < 0 || read_word(w, a + 8, &x[1]) < 0)
		return 0;
	for (unsigned i = 0; i < sizeof(code); i++)
		if (((const uint8_t *)x)[i] != code[i])
			return 0;
	return 1;
}

/* A cache key: the address, and in the bits above any user-space address the table's
 * generation, which a dlclose() moves on (an unloaded object's addresses may come back):
 * entries of an older one miss. */
static uint64_t rcache_key(uint64_t ip)
{
	return ip | (uint64_t)__atomic_load_n(&R.rgen, __ATOMIC_ACQUIRE) << 48;
}

static uint32_t rcache_at(uint64_t ip)
{
	return (uint32_t)((ip * 0x9e3779b97f4a7c15ull) >> 52) & (RCACHE - 1);
}

static void rcache_put(uint64_t ip, uint64_t v)
{
	uint32_t i = rcache_at(ip);

	__atomic_store_n(&R.rcache[i].key, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&R.rcache[i].val, v, __ATOMIC_RELEASE);
	__atomic_store_n(&R.rcache[i].key, rcache_key(ip), __ATOMIC_RELEASE);
}

/* 0 or SCANNED and the rule, or STOP_NO_OBJECT / STOP_NO_RULE / NO_SCAN / SIGFRAME. */
static int rule_for(const struct walk *w, uint64_t ip, struct ldp_cfi_rule *r)
{
	uint32_t i = rcache_at(ip);
	uint64_t want = rcache_key(ip), k1 = __atomic_load_n(&R.rcache[i].key, __ATOMIC_ACQUIRE), v, k2;
	const struct text *tx;
	struct text late;

	v = __atomic_load_n(&R.rcache[i].val, __ATOMIC_ACQUIRE);
	k2 = __atomic_load_n(&R.rcache[i].key, __ATOMIC_ACQUIRE);
	if (k1 == want && k2 == want && (v & R_VALID)) {
		if (v & R_SIG)
			return SIGFRAME;
		if (v & R_NONE)
			return v & R_NOSCAN ? NO_SCAN : STOP_NO_RULE;
		unpack(v, r);
		return v & R_SCANNED ? SCANNED : 0;
	}
	tx = text_at(w, ip, &late);
	if (!tx)
		return STOP_NO_OBJECT; /* not cached: the object may be on its way in */
	/* A return address at the signal-return stub: whatever rule covers the byte before it
	 * (the end of another function, in musl) is not this frame's. */
	if (sigreturn_at(w, ip + 1))
		v = R_VALID | R_SIG;
	else
		v = ldp_cfi_rule(&tx->eh, ip, r) == 0 ? pack(r) : R_VALID | R_NONE;
	rcache_put(ip, v);
	return v & R_SIG ? SIGFRAME : v & R_NONE ? STOP_NO_RULE : 0;
}

/* ---- frames in a file's code with no unwind rule ---- */

#define SCAN_WORDS 2048         /* how far up the stack (16 KiB) a return address is looked for */
#define SCAN_FN_MAX (16 << 10)  /* the farthest an address may lie from its function's start */
#define STACK_ARGS 6            /* the most arguments a call pushes that caller_by_scan allows */

/* The function a call instruction ending at ret reaches: direct (call rel32), through the GOT
 * (call *disp32(%rip)), and through a PLT stub of either form (jmp *GOT, after an endbr64 and
 * a bnd prefix). 0 for any other call (through a register: no way to tell where it went). */
static uint64_t call_target(const struct walk *w, uint64_t ret)
{
	uint64_t b, f, got;
	const uint8_t *c = (const uint8_t *)&b;

	if (read_word(w, ret - 8, &b) < 0)
		return 0;
	if (c[3] == 0xe8)
		f = ret + (uint64_t)(int64_t)(int32_t)(b >> 32);
	else if (c[2] == 0xff && c[3] == 0x15) {
		got = ret + (uint64_t)(int64_t)(int32_t)(b >> 32);
		return read_word(w, got, &f) < 0 ? 0 : f;
	} else
		return 0;
	if (read_word(w, f, &b) < 0)
		return 0;
	if ((b & 0xffffffffu) == 0xfa1e0ff3u) { /* endbr64 */
		if (read_word(w, f + 4, &b) < 0)
			return 0;
		f += 4;
	}
	if ((b & 0xff) == 0xf2) { /* bnd */
		b >>= 8;
		f += 1;
	}
	if ((b & 0xffff) == 0x25ff) { /* a PLT stub: jmp *disp32(%rip) */
		got = f + 6 + (uint64_t)(int64_t)(int32_t)(b >> 16);
		if (read_word(w, got, &f) < 0)
			return 0;
	}
	return f;
}

/* Where function f goes when it only sets up arguments and jumps to another (musl's qsort
 * to qsort_r: moves between registers, of constants, lea of an address, then jmp rel32); 0
 * when it does anything else first. */
static uint64_t thunk_target(const struct walk *w, uint64_t f)
{
	uint64_t b[3];
	const uint8_t *c = (const uint8_t *)b;
	unsigned i = 0;

	for (int k = 0; k < 3; k++)
		if (read_word(w, f + 8 * (uint64_t)k, &b[k]) < 0)
			return 0;
	if ((b[0] & 0xffffffffu) == 0xfa1e0ff3u)
		i = 4;
	while (i + 7 <= sizeof(b)) {
		unsigned rex = c[i] >= 0x40 && c[i] <= 0x4f ? c[i] : 0, op = c[i + !!rex];
		const uint8_t *x = c + i + !!rex;

		if (op == 0xe9 && !rex)
			return f + i + 5 + (uint64_t)(int64_t)(int32_t)((uint32_t)x[1] | (uint32_t)x[2] << 8 |
									(uint32_t)x[3] << 16 | (uint32_t)x[4] << 24);
		if ((op == 0x89 || op == 0x8b || op == 0x31) && x[1] >= 0xc0)
			i += 2 + !!rex;
		else if (op >= 0xb8 && op <= 0xbf && !(rex & 8))
			i += 5 + !!rex;
		else if (op == 0x8d && (x[1] & 0xc7) == 0x05)
			i += 6 + !!rex; /* lea disp32(%rip) */
		else
			return 0;
	}
	return 0;
}

/* What the prologue of function f has done to the stack by ip, read up to its sub from RSP,
 * through what GCC and clang put between its pushes (endbr64, moves and arithmetic between
 * registers, moves of constants, lea of an address, zeroing of a vector register): its pushes
 * before ip, which of them pushed RBP (1-based, 0 for none), and the bytes its sub took, if
 * before ip. known == 0 when no such sub ends it (a prologue of pushes only, one that does
 * more in between, a leaf that needs no stack, a prologue shrink-wrapped behind a test). */
struct prologue {
	unsigned pushes, rbp_push, known;
	unsigned fp; /* it sets RBP to RSP: it may move RSP later (alloca) */
	uint64_t frame;
};

static void prologue_of(const struct walk *w, uint64_t f, uint64_t ip, struct prologue *p)
{
	uint64_t b[6];
	const uint8_t *c = (const uint8_t *)b;
	unsigned i = 0;

	p->pushes = p->rbp_push = p->known = p->fp = 0;
	p->frame = 0;
	for (int k = 0; k < 6; k++)
		if (read_word(w, f + 8 * (uint64_t)k, &b[k]) < 0)
			return;
	if ((b[0] & 0xffffffffu) == 0xfa1e0ff3u)
		i = 4;
	while (i + 7 <= sizeof(b)) {
		unsigned rex = c[i] >= 0x40 && c[i] <= 0x4f ? c[i] : 0, op = c[i + !!rex];
		const uint8_t *x = c + i + !!rex;
		int done = f + i < ip;

		if (op >= 0x50 && op <= 0x57 && (rex & ~1u) == (rex ? 0x40u : 0u)) {
			p->pushes += done;
			if (op == 0x55 && !rex && done)
				p->rbp_push = p->pushes;
			i += 1 + !!rex;
		} else if ((op == 0x89 || op == 0x8b || op == 0x31 || op == 0x33) && x[1] >= 0xc0) {
			p->fp |= rex == 0x48 && op == 0x89 && x[1] == 0xe5;
			i += 2 + !!rex; /* mov, xor: register to register */
		} else if (op == 0x0f && x[1] == 0xaf && x[2] >= 0xc0) {
			i += 3 + !!rex; /* imul register by register */
		} else if (op == 0x8d && (x[1] & 0xc7) == 0x05) {
			i += 6 + !!rex; /* lea disp32(%rip) */
		} else if (!rex && op == 0x66 && x[1] == 0x0f && x[2] == 0xef && x[3] >= 0xc0) {
			i += 4; /* pxor */
		} else if (op == 0x0f && x[1] == 0x57 && x[2] >= 0xc0) {
			i += 3 + !!rex; /* xorps */
		} else if (op >= 0xb8 && op <= 0xbf && !(rex & 8)) {
			i += 5 + !!rex; /* mov $imm32 to a 32-bit register */
		} else if (rex == 0x48 && op == 0x83 && x[1] == 0xec) {
			p->frame = done ? x[2] : 0;
			p->known = 1;
			return;
		} else if (rex == 0x48 && op == 0x81 && x[1] == 0xec) {
			p->frame = !done ? 0 : (uint64_t)x[2] | (uint64_t)x[3] << 8 | (uint64_t)x[4] << 16 |
						 (uint64_t)x[5] << 24;
			p->known = 1;
			return;
		} else
			return;
	}
}

/* At ip, an epilogue ([add $n, %rsp,] pops, ret): the bytes between the stack pointer and the
 * return address; -1 for anything else. */
static int64_t epilogue_at(const struct walk *w, uint64_t ip)
{
	uint64_t b[2];
	const uint8_t *c = (const uint8_t *)b;
	int64_t d = 0;
	unsigned i = 0;

	if (read_word(w, ip, &b[0]) < 0 || read_word(w, ip + 8, &b[1]) < 0)
		return -1;
	if (c[0] == 0x48 && c[1] == 0x83 && c[2] == 0xc4 && c[3] < 0x80) {
		d = c[3];
		i = 4;
	} else if (c[0] == 0x48 && c[1] == 0x81 && c[2] == 0xc4 && c[6] < 0x80) {
		d = (int64_t)c[3] | (int64_t)c[4] << 8 | (int64_t)c[5] << 16 | (int64_t)c[6] << 24;
		i = 7;
	}
	while (i < sizeof(b)) {
		if (c[i] >= 0x58 && c[i] <= 0x5f && c[i] != 0x5c) {
			d += 8;
			i++;
		} else if (c[i] == 0x41 && i + 1 < sizeof(b) && c[i + 1] >= 0x58 && c[i + 1] <= 0x5f) {
			d += 8;
			i += 2;
		} else if (c[i] == 0xc3 || (c[i] == 0xf3 && i + 1 < sizeof(b) && c[i + 1] == 0xc3)) {
			return d;
		} else
			return -1;
	}
	return -1;
}

/* The word at sp is the return address of a call that entered the code at ip less than 16
 * bytes ago: to a PLT stub, or to a function (through its stub). */
static int entered(const struct walk *w, uint64_t ip, uint64_t sp, uint64_t *ra)
{
	uint64_t v, b, t;

	if (read_word(w, sp, &v) < 0 || v < 8 || !in_object(w, v - 1) || read_word(w, v - 8, &b) < 0)
		return -1;
	t = v + (uint64_t)(int64_t)(int32_t)(b >> 32);
	if (((b >> 24) & 0xff) == 0xe8 && ip >= t && ip - t < 16) {
		*ra = v;
		return 0;
	}
	t = call_target(w, v);
	if (t && ip >= t && ip - t < 16) {
		*ra = v;
		return 0;
	}
	return -1;
}

/* The start of the function holding ip (in a text segment starting at lo), when the code
 * before v is a call to it (or to a thunk that jumps to it); 0 otherwise. */
static uint64_t calls_into(const struct walk *w, uint64_t v, uint64_t ip, uint64_t lo)
{
	uint64_t f = call_target(w, v);

	if (f && (f > ip || ip - f >= SCAN_FN_MAX))
		f = thunk_target(w, f);
	return f && f <= ip && ip - f < SCAN_FN_MAX && f >= lo ? f : 0;
}

/* A frame in a file's code with no unwind rule (musl's libc is built without unwind tables;
 * hand-written assembly): its return address is a word up the stack that follows a call
 * instruction into a function starting at most SCAN_FN_MAX before ip, at the place the
 * function's prologue (or, interrupted there, its epilogue) puts it, or up to STACK_ARGS
 * words above (arguments pushed for a call). A stale return address would have to come from
 * an earlier call of a function just before ip and sit exactly there; a call through a
 * register cannot be checked and is not taken; a call to a thunk that jumps to the function
 * counts as a call to it. Only when no word is where its function's prologue puts it, the
 * first word whose function's prologue prologue_of() cannot read is taken. The caller's RBP
 * comes back from where the prologue pushed it (musl's functions use RBP as a general
 * register, and a caller may need it for its CFA). exact: ip is where the thread was
 * interrupted, not a return address - 1, so it may lie in a prologue or an epilogue. 1 when
 * the frame found holds at ip whenever the thread is there (the rule for it is in *rule, for
 * the cache), 0 when it holds this time, -1 when none is found. */
static int caller_by_scan(const struct walk *w, uint64_t ip, int exact, uint64_t *rsp, uint64_t *rbp,
			  uint64_t *ra, struct ldp_cfi_rule *rule)
{
	struct text late;
	const struct text *tx = text_at(w, ip, &late);
	int64_t epi = exact ? epilogue_at(w, ip) : -1;
	uint64_t a, n, d, weak = 0, slot;
	struct prologue p = { 0 }, wp = { 0 };
	int found = 0, popped = 1;

	/* direct reads only in [w->sp, stack_hi): a signal frame's saved RSP may point elsewhere */
	if (!tx || !w->stack_hi || *rsp < w->sp || *rsp >= w->stack_hi || (*rsp & 7))
		return -1;
	for (a = *rsp, n = 0; n < SCAN_WORDS && a <= w->stack_hi - 8; a += 8, n++) {
		uint64_t v = *(const uint64_t *)(uintptr_t)a, f;

		d = a - *rsp;
		/* most words that are addresses at all are the stack's own */
		if (v < 4096 || (v >= w->sp && v < w->stack_hi) || !in_object(w, v - 1))
			continue;
		f = calls_into(w, v, ip, tx->lo);
		if (!f || (epi >= 0 && d != (uint64_t)epi))
			continue;
		prologue_of(w, f, ip, &p);
		if (epi >= 0 || (p.known && d >= 8 * (uint64_t)p.pushes + p.frame &&
				 d <= 8 * (uint64_t)p.pushes + p.frame + 8 * STACK_ARGS)) {
			found = 1; /* where its function's frame puts it: no need to look further */
			break;
		}
		if (!p.known && !weak) {
			weak = a;
			wp = p;
		}
	}
	if (!found) {
		/* only a word whose function's prologue could not be read, if any: the first */
		if (!weak)
			return -1;
		a = weak;
		p = wp;
	}
	d = a - *rsp;
	if (p.rbp_push) {
		slot = a - 8 * (uint64_t)p.rbp_push;
		/* below the stack pointer: popped already, RBP is the caller's again */
		popped = slot < *rsp;
		if (!popped && read_word(w, slot, rbp) < 0)
			return -1;
	}
	*rsp = a + 8;
	*ra = *(const uint64_t *)(uintptr_t)a;
	/* At one address the frame is always this one, when the prologue said so and nothing
	 * moves RSP at run time (alloca: a function that keeps a frame pointer). */
	if (!p.known || p.fp || d + 8 > (1u << 24))
		return 0;
	rule->cfa_reg = LDP_CFA_RSP;
	rule->cfa_off = (int32_t)(d + 8);
	rule->rbp_saved = p.rbp_push && !popped;
	rule->rbp_off = -(int32_t)(8 + 8 * p.rbp_push);
	rule->end = 0;
	return 1;
}

/* Where neither a rule nor the scan goes on, has the walk reached the thread's first frame?
 * 1, and *ra the program's entry function's frame: a return address at most START_WORDS up
 * from rsp that follows a call in it (musl's _start calls _start_c, which reaches the code
 * calling main by tail calls, which the scan cannot follow). 1, *ra 0: in the last
 * START_WORDS of the thread's known stack, a return address that follows a call through a
 * register (musl's __clone calls the thread's start so; not a frame worth naming, and
 * stripped, its address takes the name of the function before it). 0: neither. */
#define START_WORDS 8
#define ENTRY_MAX 64 /* the entry function's size, at most: musl's and glibc's _start are ~40 */

static int first_frame(const struct walk *w, uint64_t rsp, uint64_t *ra)
{
	uint64_t a, v, b;
	const uint8_t *c = (const uint8_t *)&b;

	*ra = 0;
	if (!w->stack_hi || rsp < w->sp || rsp >= w->stack_hi || (rsp & 7))
		return 0;
	for (a = rsp; a < rsp + 8 * START_WORDS && a <= w->stack_hi - 8; a += 8) {
		v = *(const uint64_t *)(uintptr_t)a;
		if (v < 8 || !in_object(w, v - 1) || read_word(w, v - 8, &b) < 0)
			continue;
		if (R.b.entry && v - R.b.entry < ENTRY_MAX && c[3] == 0xe8) {
			*ra = v;
			return 1;
		}
		/* call *%reg: ff d0+r, after a REX.B (41) for r8-r15 */
		if (w->stack_hi - a <= 8 * START_WORDS && c[6] == 0xff && (c[7] & 0xf8) == 0xd0)
			return 1;
	}
	return 0;
}

/* The top of the stack holding sp, for a thread adopted at a deferred activation (its stack
 * was not known then): a thread stack mapped at that moment, behind its guard page (R.stacks,
 * sorted); 0 when sp is in none (its reads go through the kernel). */
static uint64_t adopted_stack_hi(uint64_t sp)
{
	const struct seg *g = seg_find(R.stacks, __atomic_load_n(&R.nstacks, __ATOMIC_ACQUIRE), sp);

	return g ? g->hi : 0;
}

/* The interrupted thread's stack, leaf first: the interrupted address, then return addresses
 * (ring.h). *stop says why it ended short of the thread's first frame. */
static uint32_t walk(const void *ucp, const struct thread *th, uint64_t *frames, uint32_t max, int *stop)
{
	const uint64_t *gregs = (const uint64_t *)((const char *)ucp + UC_GREGS);
	uint64_t rip = gregs[16], rsp = gregs[15], rbp = gregs[10], look = rip;
	uint64_t lo = __atomic_load_n(&th->stack_lo, __ATOMIC_ACQUIRE);
	uint64_t hi = __atomic_load_n(&th->stack_hi, __ATOMIC_ACQUIRE);
	struct walk w;
	struct text late;
	uint32_t n = 0;
	int jit = 0; /* a frame-pointer chain out of code in no file is being followed */
	int exact = 1; /* look is where the thread was interrupted, not a return address - 1 */

	w.sp = rsp;
	/* not when the stack pointer is elsewhere: a coroutine's stack, an alternate signal stack */
	w.stack_hi = lo && rsp >= lo && rsp < hi ? hi : lo ? 0 : adopted_stack_hi(rsp);
	w.t = R.tabs[__atomic_load_n(&R.cur, __ATOMIC_ACQUIRE)];
	w.pid = R.pid;
	*stop = STOP_NONE;
	frames[n++] = rip;
	while (n < max) {
		struct ldp_cfi_rule r;
		uint64_t cfa, ra, nrbp = rbp;
		int e = rule_for(&w, look, &r), scan = 1, c;

		if (e == NO_SCAN) {
			e = STOP_NO_RULE;
			scan = 0;
		}
		if (e == SCANNED) {
			/* the frame a scan found from here before: taken if the return address
			 * there follows a call into this function again (a frame below that was
			 * found by a scan without a prologue to check it against may have left
			 * RSP short of the truth), else scanned for anew */
			const struct text *tx = text_at(&w, look, &late);
			cfa = rsp + (uint64_t)r.cfa_off;
			if (!tx || cfa <= rsp || read_word(&w, cfa - 8, &ra) < 0 || ra < 8 ||
			    !in_object(&w, ra - 1) || !calls_into(&w, ra, look, tx->lo))
				e = STOP_NO_RULE;
			else
				e = 0;
		}

		if (e == SIGFRAME && n > 1) {
			/* The frame below returns into the signal-return stub: a signal handler's
			 * frame. The kernel's ucontext sits where the stub's stack pointer will be;
			 * the interrupted thread goes on from the registers saved in it. */
			uint64_t g = rsp + UC_GREGS, nrip, nrsp;
			if (read_word(&w, g + 16 * 8, &nrip) < 0 || read_word(&w, g + 15 * 8, &nrsp) < 0 ||
			    read_word(&w, g + 10 * 8, &rbp) < 0 || !nrip) {
				*stop = STOP_NO_RULE;
				break;
			}
			/* the exact interrupted address, + 1: the collector steps every caller's
			 * address back by one */
			frames[n++] = nrip + 1;
			rsp = nrsp;
			look = nrip;
			exact = 1;
			continue;
		}
		if (e == SIGFRAME)
			e = STOP_NO_RULE; /* interrupted in the stub itself */
		if (e == STOP_NO_RULE && !jit) {
			/* Interrupted in a PLT stub (its rule is an expression) or at the entry of a
			 * function with no rule: the return address is at the stack pointer, after a
			 * call to here. Else the frame's return address is looked for. Last, as ever,
			 * an interrupted frame takes the word at the stack pointer if it is in known
			 * code. */
			if (exact && entered(&w, look, rsp, &ra) == 0) {
				c = 0;
				rsp += 8;
			} else if (scan && (c = caller_by_scan(&w, look, exact, &rsp, &rbp, &ra, &r)) >= 0) {
				if (c == 1)
					rcache_put(look, pack(&r) | R_SCANNED);
			} else if (n == 1 && read_word(&w, rsp, &ra) == 0 && ra >= 1 && text_at(&w, ra - 1, &late)) {
				c = 0;
				rsp += 8;
			} else {
				c = -1;
				/* an address in a call that no scan gets past (a call through a
				 * register: musl's thread start and its call of main) is not scanned
				 * again, so that each sample does not pay for it */
				if (scan && !exact)
					rcache_put(look, R_VALID | R_NONE | R_NOSCAN);
				/* there, the thread's first frame may be just above */
				if (!exact && first_frame(&w, rsp, &ra)) {
					if (ra)
						frames[n++] = ra;
					break;
				}
			}
			if (c >= 0) {
				look = ra - 1;
				frames[n++] = ra;
				exact = 0;
				continue;
			}
		}
		if ((e == STOP_NO_OBJECT || (e == STOP_NO_RULE && jit)) && w.stack_hi && rbp >= rsp &&
		    rbp <= w.stack_hi - 16 && !(rbp & 7)) {
			/* Code in no file: a JIT compiler's (V8, the JVM, LuaJIT), which keep a
			 * frame-pointer chain through their code, and through the code of theirs
			 * it calls in and out of (V8's builtins: in the program's text, with no
			 * unwind rule). Followed while it stays on this thread's known stack and goes
			 * up it; the collector names such frames from the compiler's perf map. A leaf
			 * that has not pushed its frame yet costs the stack its caller's frame. */
			uint64_t up;
			if (read_word(&w, rbp, &up) < 0 || read_word(&w, rbp + 8, &ra) < 0 || ra < 2) {
				*stop = e;
				break;
			}
			rsp = rbp + 16;
			rbp = up;
			look = ra - 1;
			frames[n++] = ra;
			jit = 1;
			exact = 0;
			continue;
		}
		if (e) {
			*stop = e;
			break;
		}
		if (r.end)
			break;
		/* cfa_off is in [0, 2^24] and rbp_off in [-2^24, 0] (cfi.c checks) */
		cfa = (r.cfa_reg == LDP_CFA_RSP ? rsp : rbp) + (uint64_t)r.cfa_off;
		if (cfa <= rsp || cfa < 8 || read_word(&w, cfa - 8, &ra) < 0)
			break;
		if (r.rbp_saved && ((uint64_t)-(int64_t)r.rbp_off > cfa ||
				    read_word(&w, cfa - (uint64_t)-(int64_t)r.rbp_off, &nrbp) < 0))
			break;
		if (ra == 0)
			break;
		rsp = cfa;
		rbp = nrbp;
		look = ra - 1;
		frames[n++] = ra;
		exact = 0;
	}
	return n;
}

/* ---- the ring ---- */

static int arm(int timer, long ns);


/* The threads with a timer of ours. */
static uint32_t live_threads(void)
{
	uint32_t n = 0;

	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		n += __atomic_load_n(&R.threads[i].state, __ATOMIC_RELAXED) == SLOT_LIVE;
	return n;
}

/* Slots for the threads there are now, each at its rate (a thread's CPU clock fires at most
 * at the kernel's tick, 250 a second here; more would be overruns, counted in one sample). */
static uint32_t ring_slots(void)
{
	uint64_t hz = LDP_NS_PER_S / (uint64_t)R.b.period_ns, live = live_threads(), want;
	uint32_t n = RING_MIN_SLOTS;

	if (hz > 250)
		hz = 250;
	want = live * hz * RING_HOLD_MS / 1000;
	while (n < want && n < LDP_RING_MAX_SLOTS)
		n *= 2;
	return n;
}

/* Makes the ring and hands it to the collector; NULL when either fails (*why says which). */
static void *ring_make(const char **why)
{
	uint32_t slots = ring_slots();
	unsigned long size = ldp_ring_size(slots);
	unsigned char st[256];
	long fd, p = -1;
	void *mem = 0;
	int r;

	/* A root process names its collector in its environment too (`ldprof run` as root): then
	 * the socket must be root's, or a user could listen for root's stack addresses. */
	if (sys3(NR_geteuid, 0, 0, 0) == 0) {
		r = (int)sys_stat(R.collector, st);
		if (r < 0 || *(const unsigned *)(st + ST_UID) != 0) {
			*why = r < 0 ? ldp_agentreq_why(r) : "the collector's socket is not root's";
			return 0;
		}
	}
	*why = "cannot make the ring (memfd)";
	fd = sys3(NR_memfd_create, (long)LDP_RING_MEMFD_NAME, MFD_CLOEXEC_ | MFD_ALLOW_SEALING_, 0);
	if (fd < 0)
		return 0;
	if (sys3(NR_ftruncate, fd, (long)size, 0) < 0)
		goto out;
	p = sys6(NR_mmap, 0, (long)size, PROT_RW_, MAP_SHARED_, fd, 0);
	if (p < 0 && p > -4096)
		goto out;
	mem = (void *)p;
	sys3(NR_madvise, p, (long)size, MADV_DONTFORK_);
	/* Every page in at once, here, rather than one fault at a time in the samples that
	 * first reach each page (a shared-memory fault in the handler: 2 µs more a sample at
	 * 99 Hz, tens of µs at times on a virtual machine). One call populates faster than
	 * writing each slot did; without it (before 5.14) the pages come as samples do. */
	sys3(NR_madvise, p, (long)size, MADV_POPULATE_WRITE_);
	ldp_ring_init(mem, slots, (uint32_t)R.pid);
	/* the collector refuses a rate faster than its own, and weighs a slower one's samples */
	((struct ldp_ring_hdr *)mem)->period_ns = (uint64_t)R.b.period_ns;
	R.ring_slots = slots;
	r = (int)sys3(NR_fcntl, fd, F_ADD_SEALS_, F_SEAL_SHRINK_ | F_SEAL_GROW_ | F_SEAL_SEAL_);
	if (r == 0) {
		r = ldp_agentreq_hand(R.collector, LDP_AGENT_REQ_RING, (int)fd);
		*why = ldp_agentreq_why(r);
	}
	if (r < 0) {
		sys3(NR_munmap, p, (long)size, 0);
		mem = 0;
	}
out:
	sys3(NR_close, fd, 0, 0);
	return mem;
}

static int try_lock(int *l)
{
	return !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);
}

static void restore_disposition(void);

/* The decision and its detail published for `ldprof status` (the detail cut to fit). */
static void put_state(int decision, const char *why)
{
	char *d;
	unsigned long k = 0;

	if (!R.b.state)
		return;
	d = R.b.state->detail;
	while (why[k] && k < sizeof(R.b.state->detail) - 1) {
		d[k] = why[k];
		k++;
	}
	d[k] = 0;
	R.b.state->decision = decision;
}

/* Sampling (or its pending start) ended for good, why: published and logged. */
static void said_aside(const char *why)
{
	put_state(LDP_ST_STEPPED_ASIDE, why);
	if (R.b.log)
		R.b.log("stepping aside", why);
}

/* parts, n of them, one after the other into buf of len bytes (cut to fit). */
static void join(char *buf, unsigned long len, const char *const *parts, unsigned n)
{
	char *d = buf;

	for (unsigned k = 0; k < n; k++)
		for (const char *c = parts[k]; *c && d < buf + len - 1; c++)
			*d++ = *c;
	*d = 0;
}

/* No collector took the ring: sampling ends for good, from the handler, said in the log and
 * in ldprof status. Every timer is disarmed (never deleted here: an id freed under a thread
 * that is adding one could be the program's by the time it is deleted again); the program's
 * SIGPROF disposition comes back only if no thread is adding a timer right now (tlock free),
 * else our handler stays, and returns at once. */
static void give_up(const char *why)
{
	char detail[112];
	const char *parts[] = { "no collector took the ring: ", why, " (", R.collector, ")" };

	if (!__atomic_exchange_n(&R.on, 0, __ATOMIC_SEQ_CST))
		return;
	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		if (__atomic_load_n(&R.threads[i].state, __ATOMIC_ACQUIRE) == SLOT_LIVE)
			arm(R.threads[i].timer, 0);
	if (try_lock(&R.tlock)) {
		int saved = R.b.errno_location ? *R.b.errno_location() : 0;
		restore_disposition();
		if (R.b.errno_location)
			*R.b.errno_location() = saved;
		unlock(&R.tlock);
	}
	join(detail, sizeof(detail), parts, sizeof(parts) / sizeof(parts[0]));
	said_aside(detail);
}

static void *ring_get(void)
{
	int s = __atomic_load_n(&R.ring_state, __ATOMIC_ACQUIRE);
	const char *why = 0;
	void *m;

	if (s == RING_READY)
		return R.ring;
	if (s != RING_NONE || !__atomic_compare_exchange_n(&R.ring_state, &s, RING_MAKING, 0,
							    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	m = ring_make(&why);
	R.ring = m;
	__atomic_store_n(&R.ring_state, m ? RING_READY : RING_FAILED, __ATOMIC_RELEASE);
	if (!m)
		give_up(why);
	return m;
}

/* ---- the handler ---- */

/* A SIGPROF that is not one of our timers' (kill -PROF): what the program's own disposition
 * would have done with it. */
static void foreign(void)
{
	struct k_sigaction dfl;
	int saved = R.b.errno_location ? *R.b.errno_location() : 0;

	if (R.orig.handler == (void *)1 /* SIG_IGN */)
		return;
	zero(&dfl, sizeof(dfl));
	R.b.real_sigaction(SIGPROF_, &dfl, 0);
	/* pending until this handler returns, then the default action: as without us */
	sys3(NR_tgkill, R.pid, my_tid(), SIGPROF_);
	if (R.b.errno_location)
		*R.b.errno_location() = saved;
}

static struct thread *thread_add(int32_t tid, uint64_t lo, uint64_t hi);
static void adopt_all(void);
static void activate(void);

/* The samples a rescan waits for at first, at the sampling period. */
static uint32_t scan_first(void)
{
	long n = SCAN_NS / (R.b.period_ns > 0 ? R.b.period_ns : SCAN_NS);

	return n > 0 ? (uint32_t)n : 1;
}

/* After a sample: every scan_every samples, the threads in /proc/self/task without a timer of
 * ours get one (their stacks are not known: their reads go through the kernel). Never waits
 * for the thread lock: when another thread holds it, a later sample tries again. */
static void rescan(void)
{
	uint32_t every = __atomic_load_n(&R.scan_every, __ATOMIC_RELAXED), before;

	if (__atomic_add_fetch(&R.scan_count, 1, __ATOMIC_RELAXED) < every || !every)
		return;
	if (__atomic_exchange_n(&R.tlock, 1, __ATOMIC_ACQUIRE))
		return;
	before = live_threads();
	adopt_all();
	if (live_threads() > before)
		every = scan_first();
	else if ((uint64_t)every * 2 * (uint64_t)R.b.period_ns <= (uint64_t)SCAN_MAX_NS)
		every *= 2;
	__atomic_store_n(&R.scan_every, every, __ATOMIC_RELAXED);
	__atomic_store_n(&R.scan_count, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&R.tlock, 0, __ATOMIC_RELEASE);
}

static uint64_t tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void on_prof(int sig, void *sip, void *ucp)
{
	const struct k_siginfo *si = sip;
	uint64_t frames[MAX_FRAMES], v = si->value, weight, t0 = tsc();
	struct ldp_ring_hdr *h;
	struct thread *th;
	uint32_t idx, n, refused;
	int stop;
	void *ring;

	(void)sig;
	if (si->code != SI_TIMER_ || (v >> 48) != SIVAL_MAGIC) {
		foreign();
		return;
	}
	idx = (uint32_t)(v & 0xffff);
	if (idx == ACT_IDX) {
		activate();
		return;
	}
	if (idx >= slots_hw())
		return;
	th = &R.threads[idx];
	if (__atomic_load_n(&th->gen, __ATOMIC_ACQUIRE) != (uint32_t)(v >> 16) ||
	    __atomic_load_n(&th->state, __ATOMIC_ACQUIRE) != SLOT_LIVE)
		return;
	weight = 1 + (uint64_t)(si->overrun > 0 ? si->overrun : 0);
	__atomic_fetch_add(&R.readers, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&R.on, __ATOMIC_SEQ_CST) || __atomic_load_n(&R.paused, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&R.fenced, __ATOMIC_SEQ_CST))
		goto out;
	ring = ring_get();
	if (!ring)
		goto out;
	/* the collector will never read it (past its limits): sampling stops here */
	if ((refused = __atomic_load_n(&((struct ldp_ring_hdr *)ring)->refused, __ATOMIC_ACQUIRE))) {
		give_up(refused == LDP_RING_REFUSED_RATE ? "refused: it samples faster than the collector"
			: refused == LDP_RING_REFUSED_OFF ? "refused: the agent collects no rings"
							  : "refused past its limits");
		goto out;
	}
	/* the clock is per sample: making the ring and handing it over, once per process (a
	 * connect to the collector: hundreds of µs), would swamp a short process's mean */
	if (__atomic_load_n(&((struct ldp_ring_hdr *)ring)->handled, __ATOMIC_RELAXED) == 0)
		t0 = tsc();
	n = walk(ucp, th, frames, MAX_FRAMES, &stop);
	ldp_ring_put(ring, R.ring_slots, (uint32_t)th->tid, weight, frames, n);
	h = ring;
	if (stop == STOP_NO_OBJECT)
		__atomic_fetch_add(&h->stopped_no_object, 1, __ATOMIC_RELAXED);
	else if (stop == STOP_NO_RULE)
		__atomic_fetch_add(&h->stopped_no_rule, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&h->walked_whole, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->handler_cycles, tsc() - t0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->handled, 1, __ATOMIC_RELAXED);
	rescan();
out:
	__atomic_fetch_sub(&R.readers, 1, __ATOMIC_SEQ_CST);
}

/* ---- the object table (never in a handler) ---- */

struct build {
	struct objtab *t;
	int first;             /* the next object is the first: the main program */
};

/* Search tables made by ldp_cfi_index() for objects linked without .eh_frame_hdr (Debian's
 * musl-gcc), kept for the process's life: a handler may read one as long as its object is in
 * a table, and objects are only ever added on musl (its dlclose unloads nothing). */
#define INDEX_BYTES (4u << 20)
#define INDEX_OBJS 64
struct index {
	unsigned nobj;
	uint64_t used;
	struct {
		uint64_t addr, eh, table, n;
	} obj[INDEX_OBJS];
	/* the tables follow */
};

/* The .eh_frame section of the object at info, found through the section headers of its file
 * (its name, or /proc/self/exe for the program), which must have the program headers it was
 * loaded with. 0 and [*eh, *eh + *len) (loaded addresses), or -1. */
static int eh_section(const struct phdr_info *info, int main_prog, uint64_t *eh, uint64_t *len)
{
	const char *path = info->name && info->name[0] == '/' ? info->name : main_prog ? "/proc/self/exe" : 0;
	Elf64_Ehdr e;
	Elf64_Shdr sh, names;
	char strtab[1024];
	long fd, r = -1;

	if (!path)
		return -1;
	fd = sys_open(path, 02000000 /* O_CLOEXEC */, 0);
	if (fd < 0)
		return -1;
	if (sys6(NR_pread64, fd, (long)&e, sizeof(e), 0, 0, 0) != sizeof(e) || e.e_ident[0] != 0x7f ||
	    e.e_ident[1] != 'E' || e.e_ident[4] != ELFCLASS64 || e.e_phnum != info->phnum ||
	    e.e_shentsize != sizeof(Elf64_Shdr) || e.e_shnum > 512 || e.e_shstrndx >= e.e_shnum)
		goto out;
	for (unsigned i = 0; i < e.e_phnum; i++) {
		Elf64_Phdr ph;
		if (sys6(NR_pread64, fd, (long)&ph, sizeof(ph), (long)(e.e_phoff + i * sizeof(ph)), 0, 0) != sizeof(ph) ||
		    ph.p_type != info->phdr[i].p_type || ph.p_vaddr != info->phdr[i].p_vaddr ||
		    ph.p_memsz != info->phdr[i].p_memsz)
			goto out; /* not the file this object was loaded from */
	}
	if (sys6(NR_pread64, fd, (long)&names, sizeof(names), (long)(e.e_shoff + e.e_shstrndx * sizeof(sh)), 0, 0) !=
	    sizeof(names) || names.sh_size < 2)
		goto out;
	if (names.sh_size > sizeof(strtab))
		names.sh_size = sizeof(strtab);
	if (sys6(NR_pread64, fd, (long)strtab, (long)names.sh_size, (long)names.sh_offset, 0, 0) != (long)names.sh_size)
		goto out;
	strtab[names.sh_size - 1] = 0;
	for (unsigned i = 0; i < e.e_shnum; i++) {
		static const char want[] = ".eh_frame";
		unsigned k = 0;
		if (sys6(NR_pread64, fd, (long)&sh, sizeof(sh), (long)(e.e_shoff + i * sizeof(sh)), 0, 0) != sizeof(sh))
			goto out;
		if (sh.sh_name >= names.sh_size || sh.sh_type != SHT_PROGBITS || !sh.sh_addr)
			continue;
		while (k < sizeof(want) - 1 && sh.sh_name + k < names.sh_size - 1 && strtab[sh.sh_name + k] == want[k])
			k++;
		if (k == sizeof(want) - 1 && !strtab[sh.sh_name + k]) {
			*eh = info->addr + sh.sh_addr;
			*len = sh.sh_size;
			r = 0;
			break;
		}
	}
out:
	sys3(NR_close, fd, 0, 0);
	return (int)r;
}

/* The object's search table, made once (an index), inside the readable segment [lo, hi) that
 * holds its .eh_frame. 0 and *o, or -1. */
static int indexed(const struct phdr_info *info, int main_prog, struct ldp_cfi_obj *o)
{
	const Elf64_Phdr *ph = info->phdr;
	uint64_t eh = 0, len = 0, lo = 0, hi = 0, cap;
	struct index *x;
	long n;
	unsigned i;

	if (!R.idx) {
		R.idx = map_anon(INDEX_BYTES);
		if (!R.idx)
			return -1;
		R.idx->used = sizeof(*R.idx);
	}
	x = R.idx;
	if (eh_section(info, main_prog, &eh, &len) < 0)
		return -1;
	for (i = 0; i < info->phnum; i++) {
		uint64_t a = info->addr + ph[i].p_vaddr;
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_R) && eh >= a && eh - a <= ph[i].p_memsz &&
		    len <= ph[i].p_memsz - (eh - a)) {
			lo = a;
			hi = a + ph[i].p_memsz;
		}
	}
	if (!hi)
		return -1;
	for (i = 0; i < x->nobj; i++)
		if (x->obj[i].addr == info->addr && x->obj[i].eh == eh)
			break;
	if (i == x->nobj) {
		/* an FDE is at least 16 bytes */
		cap = len / 16 + 1;
		if (x->nobj == INDEX_OBJS || cap * 8 > INDEX_BYTES - x->used)
			return -1;
		n = ldp_cfi_index(eh, len, lo, hi, info->addr, (int32_t *)((char *)x + x->used), cap);
		if (n <= 0)
			return -1;
		x->obj[i].addr = info->addr;
		x->obj[i].eh = eh;
		x->obj[i].table = (uint64_t)(uintptr_t)((char *)x + x->used);
		x->obj[i].n = (uint64_t)n;
		x->used += ((uint64_t)n * 8 + 63) & ~63ull;
		x->nobj++;
	}
	o->lo = lo;
	o->hi = hi;
	o->hdr = info->addr;
	o->table = x->obj[i].table;
	o->nfde = x->obj[i].n;
	o->tlo = o->table;
	o->thi = o->table + o->nfde * 8;
	return 0;
}

static int add_object(void *infop, unsigned long size, void *data)
{
	const struct phdr_info *info = infop;
	struct build *b = data;
	struct objtab *t = b->t;
	const Elf64_Phdr *ph = info->phdr;
	struct ldp_cfi_obj eh;
	uint64_t hdr = 0;
	int have_eh = 0, main_prog = b->first;

	(void)size;
	b->first = 0;
	for (int i = 0; i < info->phnum; i++)
		if (ph[i].p_type == PT_GNU_EH_FRAME)
			hdr = info->addr + ph[i].p_vaddr;
	for (int i = 0; hdr && i < info->phnum; i++) {
		uint64_t lo = info->addr + ph[i].p_vaddr;
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_R) && hdr >= lo && hdr - lo < ph[i].p_memsz)
			have_eh = ldp_cfi_obj_init(&eh, hdr, lo, lo + ph[i].p_memsz) == 0;
	}
	if (!hdr)
		have_eh = indexed(info, main_prog, &eh) == 0;
	for (int i = 0; i < info->phnum; i++) {
		uint64_t lo, hi;
		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		lo = info->addr + ph[i].p_vaddr;
		hi = lo + ph[i].p_memsz;
		if ((ph[i].p_flags & PF_R) && t->nsegs < MAX_SEGS)
			t->segs[t->nsegs++] = (struct seg){ lo, hi };
		/* an object with no unwind tables still has known code: its frames are found
		 * by caller_by_scan(), not taken for a JIT compiler's */
		if ((ph[i].p_flags & PF_X) && t->ntext < MAX_TEXT)
			t->text[t->ntext++] = (struct text){ lo, hi, have_eh ? eh : (struct ldp_cfi_obj){ 0 } };
	}
	return 0;
}

/* Insertion sorts: a process maps tens to a few hundred objects, and this runs at start, after
 * dlopen and after dlclose only. */
static void sort_tab(struct objtab *t)
{
	for (uint32_t i = 1; i < t->ntext; i++) {
		struct text x = t->text[i];
		uint32_t j = i;
		for (; j && t->text[j - 1].lo > x.lo; j--)
			t->text[j] = t->text[j - 1];
		t->text[j] = x;
	}
	for (uint32_t i = 1; i < t->nsegs; i++) {
		struct seg x = t->segs[i];
		uint32_t j = i;
		for (; j && t->segs[j - 1].lo > x.lo; j--)
			t->segs[j] = t->segs[j - 1];
		t->segs[j] = x;
	}
}

static int wait_readers(void)
{
	for (int i = 0; i < 200000; i++) {
		if (!__atomic_load_n(&R.readers, __ATOMIC_SEQ_CST))
			return 0;
		yield();
	}
	return -1;
}

/* Builds the spare table and publishes it. */
static void rebuild(void)
{
	struct build b;
	int next;

	lock(&R.tablock);
	if (R.old_busy && wait_readers() < 0)
		goto out; /* a handler still reads the spare table: the next build will do */
	R.old_busy = 0;
	next = !__atomic_load_n(&R.cur, __ATOMIC_SEQ_CST);
	b.t = R.tabs[next];
	b.first = 1;
	b.t->ntext = b.t->nsegs = 0;
	R.b.iterate_phdr(add_object, &b);
	sort_tab(b.t);
	__atomic_store_n(&R.cur, next, __ATOMIC_SEQ_CST);
	if (wait_readers() < 0)
		R.old_busy = 1;
out:
	unlock(&R.tablock);
}

void ldp_rs_loaded(void)
{
	if (R.threads && __atomic_load_n(&R.on, __ATOMIC_ACQUIRE) && sys3(NR_getpid, 0, 0, 0) == R.pid)
		rebuild();
}

/* ---- threads and their timers ---- */

static int arm(int timer, long ns)
{
	struct ldp_k_timespec its[2];

	its[0].sec = its[1].sec = ns / LDP_NS_PER_S;
	its[0].nsec = its[1].nsec = ns % LDP_NS_PER_S;
	return (int)sys6(NR_timer_settime, timer, 0, (long)its, 0, 0, 0);
}

static void reap(void);

/* Called with tlock held. */
static struct thread *thread_add(int32_t tid, uint64_t lo, uint64_t hi)
{
	struct k_sigevent sev;
	uint32_t i, free_at = MAX_THREADS, hw = R.hiwater; /* tlock held: only we move it */
	int timer = -1;

	/* off since the caller looked (give_up() from a handler): no timer may start now, its
	 * SIGPROF could meet the program's own disposition */
	if (!__atomic_load_n(&R.on, __ATOMIC_SEQ_CST))
		return 0;
	for (i = 0; i < hw; i++) {
		if (R.threads[i].state == SLOT_LIVE && R.threads[i].tid == tid)
			return &R.threads[i]; /* found by the scan at start already */
		if (R.threads[i].state == SLOT_FREE && free_at == MAX_THREADS)
			free_at = i;
	}
	if (free_at == MAX_THREADS && hw < MAX_THREADS)
		free_at = hw; /* never used: whatever it holds (a fork parent's) is garbage */
	if (free_at == MAX_THREADS) {
		/* full: the slots of threads that ended unseen go back first */
		reap();
		for (i = 0; i < MAX_THREADS && free_at == MAX_THREADS; i++)
			if (R.threads[i].state == SLOT_FREE)
				free_at = i;
		if (free_at == MAX_THREADS)
			return 0;
	}
	i = free_at;
	zero(&sev, sizeof(sev));
	sev.value = SIVAL_MAGIC << 48 | (uint64_t)(R.threads[i].gen + 1) << 16 | i;
	sev.signo = SIGPROF_;
	sev.notify = SIGEV_THREAD_ID_;
	sev.tid = tid;
	/* the thread's CPU clock: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD of tid */
	if (sys3(NR_timer_create, (long)(int)(((unsigned)~tid << 3) | 6), (long)&sev, (long)&timer) < 0)
		return 0;
	R.threads[i].tid = tid;
	R.threads[i].timer = timer;
	R.threads[i].stack_lo = lo;
	R.threads[i].stack_hi = hi;
	__atomic_store_n(&R.threads[i].gen, R.threads[i].gen + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&R.threads[i].state, SLOT_LIVE, __ATOMIC_RELEASE);
	if (i >= hw)
		__atomic_store_n(&R.hiwater, i + 1, __ATOMIC_RELEASE);
	/* a timer that cannot be armed (a seccomp filter refusing timer_settime) samples nothing:
	 * the thread is not ours to count */
	if (!__atomic_load_n(&R.paused, __ATOMIC_ACQUIRE) && arm(timer, R.b.period_ns) < 0) {
		__atomic_store_n(&R.threads[i].state, SLOT_FREE, __ATOMIC_RELEASE);
		sys3(NR_timer_delete, timer, 0, 0);
		return 0;
	}
	return &R.threads[i];
}

/* Called with tlock held. */
static void thread_retire(struct thread *t)
{
	__atomic_store_n(&t->state, SLOT_FREE, __ATOMIC_RELEASE);
	sys3(NR_timer_delete, t->timer, 0, 0);
}

/* Threads that ended without returning through the trampoline (pthread_exit, a raw clone):
 * their timers will never fire again, but each holds a kernel timer (and a sigqueue entry
 * counted against RLIMIT_SIGPENDING). One tgkill(0) per live thread: done every REAP_EVERY
 * thread creations, and when the table is full, not at every one. Called with tlock held. */
static void reap(void)
{
	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		if (R.threads[i].state == SLOT_LIVE &&
		    sys3(NR_tgkill, R.pid, R.threads[i].tid, 0) == -ESRCH_)
			thread_retire(&R.threads[i]);
}

static void arm_all(int on)
{
	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		if (R.threads[i].state == SLOT_LIVE)
			arm(R.threads[i].timer, on ? R.b.period_ns : 0);
}

/* The calling thread's stack as its libc made it (not for the main thread). */
static void my_stack(uint64_t *lo, uint64_t *hi)
{
	/* pthread_attr_t: 56 bytes in glibc and musl on x86_64 */
	unsigned long attr[16] __attribute__((aligned(16)));
	unsigned long size = 0;
	void *addr = 0;

	*lo = *hi = 0;
	if (!R.b.pthread_self || !R.b.getattr_np || !R.b.attr_getstack)
		return;
	if (R.b.getattr_np(R.b.pthread_self(), attr) != 0)
		return;
	if (R.b.attr_getstack(attr, &addr, &size) == 0 && addr && size) {
		*lo = (uint64_t)(uintptr_t)addr;
		*hi = *lo + size;
	}
	if (R.b.attr_destroy)
		R.b.attr_destroy(attr);
}

static int act_add(int32_t tid, long long first_ns);
static long long act_first(void);
static void act_drop(int32_t tid);

/* tlock with every signal blocked: a handler of the program's that calls a wrapper taking it
 * (sigaction, exec) must not find it held by the very thread it interrupted. */
static uint64_t lock_masked(void)
{
	uint64_t all = ~0ull, old = 0;

	sys6(NR_rt_sigprocmask, SIG_BLOCK_, (long)&all, (long)&old, 8, 0, 0);
	lock(&R.tlock);
	return old;
}

static void unlock_masked(uint64_t old)
{
	unlock(&R.tlock);
	sys6(NR_rt_sigprocmask, SIG_SETMASK_, (long)&old, 0, 8, 0, 0);
}

/* The slot of a live thread, or 0. tlock held. */
static struct thread *thread_find(int32_t tid)
{
	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		if (R.threads[i].state == SLOT_LIVE && R.threads[i].tid == tid)
			return &R.threads[i];
	return 0;
}

/* A new thread's first words: its timer (an activation timer while the activation is pending,
 * a sampling one after), then the program's function; the timer goes with it when it returns. */
static void *trampoline(void *p)
{
	struct tramp *c = p;
	void *(*fn)(void *) = c->fn, *arg = c->arg, *ret;
	int32_t tid = (int32_t)my_tid();
	int had = 0;
	uint64_t lo, hi, old;

	__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
	if (sys3(NR_getpid, 0, 0, 0) == R.pid) {
		if (__atomic_load_n(&R.on, __ATOMIC_ACQUIRE))
			my_stack(&lo, &hi);
		else
			lo = hi = 0;
		old = lock_masked();
		if (__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST))
			had = act_add(tid, act_first()) == 0;
		else
			had = thread_add(tid, lo, hi) != 0;
		unlock_masked(old);
	}
	ret = fn(arg);
	if (had) {
		struct thread *t;
		old = lock_masked();
		if (__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST))
			act_drop(tid);
		else if (R.threads && (t = thread_find(tid)))
			thread_retire(t); /* adopted at the activation, if it came meanwhile */
		unlock_masked(old);
	}
	return ret;
}

/* A cell of cells[0, n), or 0 when all are taken; hwp: their high-water mark, or 0. */
static struct tramp *tramp_take(struct tramp *cells, uint32_t n, uint32_t *hwp)
{
	for (uint32_t i = 0; i < n; i++) {
		int z = 0;
		if (__atomic_compare_exchange_n(&cells[i].busy, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			uint32_t hw = hwp ? __atomic_load_n(hwp, __ATOMIC_RELAXED) : i + 1;
			while (hw < i + 1 && !__atomic_compare_exchange_n(hwp, &hw, i + 1, 0,
									  __ATOMIC_RELEASE, __ATOMIC_RELAXED))
				;
			return &cells[i];
		}
	}
	return 0;
}

static int pend_mine(void);

static int hook_pthread_create(ldp_pthread_create_fn real, void *thread, const void *attr,
			       void *(*fn)(void *), void *arg)
{
	struct tramp *c = 0;
	int r;

	if (pend_mine())
		c = tramp_take(R.act_tramps, ACT_TRAMPS, 0);
	else if (!__atomic_load_n(&R.on, __ATOMIC_ACQUIRE) || sys3(NR_getpid, 0, 0, 0) != R.pid)
		return real(thread, attr, fn, arg);
	else {
		if (__atomic_add_fetch(&R.creates, 1, __ATOMIC_RELAXED) % REAP_EVERY == 0) {
			lock(&R.tlock);
			reap();
			unlock(&R.tlock);
		}
		c = tramp_take(R.tramps, TRAMPS, &R.tramp_hw);
	}
	if (!c) /* that many threads starting at once: this one goes unsampled */
		return real(thread, attr, fn, arg);
	c->fn = fn;
	c->arg = arg;
	r = real(thread, attr, trampoline, c);
	if (r)
		__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
	return r;
}

const char ldp_rs_foreign_sigprof[] = "the program has a SIGPROF handler of its own";

unsigned ldp_rs_threads(void)
{
	return R.threads ? live_threads() : 0;
}

static void main_stack(uint64_t *lo, uint64_t *hi);

/* Adopts the threads already running (a library constructor's, the program's own by the time
 * a deferred activation comes): their stacks are not known but the main thread's, so their
 * stack reads go through the kernel, or to the stacks mapped at activation (R.stacks). */
static void adopt_all(void)
{
	char buf[2048];
	long fd = sys_open("/proc/self/task", O_DIRECTORY_CLOEXEC_, 0), n;

	if (fd < 0)
		return;
	while ((n = sys3(NR_getdents64, fd, (long)buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			unsigned short reclen = *(unsigned short *)(buf + off + 16);
			const char *name = buf + off + 19;
			int32_t tid = 0;

			for (; *name >= '0' && *name <= '9'; name++)
				tid = tid * 10 + (*name - '0');
			if (!*name && tid > 0 && tid != my_tid()) {
				uint64_t lo = 0, hi = 0;
				/* the main thread's is known (a deferred activation in another thread) */
				if (tid == R.pid)
					main_stack(&lo, &hi);
				thread_add(tid, lo, hi);
			}
			off += reclen ? reclen : n;
		}
	}
	sys3(NR_close, fd, 0, 0);
}

/* ---- stepping aside, exec, dlclose, fork ---- */

static void restore_disposition(void)
{
	struct k_sigaction ign;

	/* through SIG_IGN: a SIGPROF of ours still pending anywhere is discarded */
	zero(&ign, sizeof(ign));
	ign.handler = (void *)1;
	R.b.real_sigaction(SIGPROF_, &ign, 0);
	R.b.real_sigaction(SIGPROF_, &R.orig, 0);
}

static int install_handler(void)
{
	struct k_sigaction sa;

	zero(&sa, sizeof(sa));
	sa.handler = (void *)on_prof;
	sa.flags = SA_SIGINFO_ | SA_RESTART_;
	return R.b.real_sigaction(SIGPROF_, &sa, 0);
}

/* Stops sampling for good. agent_request: what to ask the agent once our timers are off and
 * the program's disposition is back, so that its samples never meet ours (NULL: nothing). */
static void step_aside(const char *why, const char *agent_request)
{
	if (!__atomic_exchange_n(&R.on, 0, __ATOMIC_SEQ_CST))
		return;
	lock(&R.tlock);
	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		if (R.threads[i].state == SLOT_LIVE)
			thread_retire(&R.threads[i]);
	unlock(&R.tlock);
	restore_disposition();
	said_aside(why);
	if (agent_request && R.b.ask_agent)
		R.b.ask_agent(agent_request);
}

static int pend_hold(void);
static void pend_release(void);
static int pend_hold_across(int *held);
static int pend_held(int *held);
static void pend_cancel(const char *why, const char *agent_request);
static int act_arm_all(int on);
static void act_drop_all(void);
static long long cpu_now(void);

#define PEND_FOREIGN "the program installs its own SIGPROF handler before the activation"

static int mine(void)
{
	return __atomic_load_n(&R.on, __ATOMIC_ACQUIRE) && sys3(NR_getpid, 0, 0, 0) == R.pid;
}

/* A thread of a raw clone() (a runtime's, a sandbox's): its timer now, or it would wait for
 * a rescan, which only a sampled thread's CPU time brings (its parent may sleep until it
 * ends). While the activation is pending: an activation timer. */
static void hook_cloned(int tid)
{
	int saved = R.b.errno_location ? *R.b.errno_location() : 0;
	uint64_t old;

	if (pend_mine() || mine()) {
		old = lock_masked();
		if (__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST))
			act_add((int32_t)tid, act_first());
		else
			thread_add((int32_t)tid, 0, 0);
		unlock_masked(old);
	}
	if (R.b.errno_location)
		*R.b.errno_location() = saved;
}

/* None of ours pending across exec: the new image would die of it before its shim runs.
 * The program's disposition back. */
static void flush_sigprof(void)
{
	uint64_t prof = 1ull << (SIGPROF_ - 1), old = 0;
	struct ldp_k_timespec zero_ts = { 0, 0 };

	sys6(NR_rt_sigprocmask, SIG_BLOCK_, (long)&prof, (long)&old, 8, 0, 0);
	while (sys6(NR_rt_sigtimedwait, (long)&prof, 0, (long)&zero_ts, 8, 0, 0) == SIGPROF_)
		;
	restore_disposition();
	sys6(NR_rt_sigprocmask, SIG_SETMASK_, (long)&old, 0, 8, 0, 0);
}

static void hook_exec_prepare(void)
{
	if (pend_hold_across(&R.exec_held)) {
		/* held until exec_failed: the image ends here otherwise */
		act_arm_all(0);
		flush_sigprof();
		return;
	}
	if (!mine())
		return;
	__atomic_store_n(&R.paused, 1, __ATOMIC_SEQ_CST);
	lock(&R.tlock);
	arm_all(0);
	unlock(&R.tlock);
	/* What the ring holds was taken in this image: the collector names it with these
	 * mappings, not the next image's. */
	if (__atomic_load_n(&R.ring_state, __ATOMIC_ACQUIRE) == RING_READY)
		R.exec_marked = ldp_ring_put_rec(R.ring, R.ring_slots, (uint32_t)my_tid(), 0, 0, 0,
						 LDP_RING_F_EXEC) == 0;
	flush_sigprof();
}

static void hook_exec_failed(void)
{
	int saved = R.b.errno_location ? *R.b.errno_location() : 0;

	if (pend_held(&R.exec_held)) {
		/* the CPU the failed exec took counts */
		if (install_handler() != 0 || act_arm_all(1) < 0)
			pend_cancel("the exec failed and our handler could not be put back", 0);
		pend_release();
		goto out;
	}
	if (!mine())
		goto out;
	/* The collector ended this ring at the exec mark: the next sample makes a new one. No
	 * handler runs now (paused), none reads the ring. */
	if (R.exec_marked) {
		R.exec_marked = 0;
		sys3(NR_munmap, (long)R.ring, (long)ldp_ring_size(R.ring_slots), 0);
		R.ring = 0;
		__atomic_store_n(&R.ring_state, RING_NONE, __ATOMIC_RELEASE);
	}
	if (install_handler() == 0) {
		lock(&R.tlock);
		arm_all(1);
		unlock(&R.tlock);
		__atomic_store_n(&R.paused, 0, __ATOMIC_SEQ_CST);
	} else {
		step_aside("the exec failed and our handler could not be put back", 0);
	}
out:
	if (R.b.errno_location)
		*R.b.errno_location() = saved;
}

/* SIGPROF set or queried while the activation is pending: as when sampling (below), but the
 * agent is not asked to sample the process from the kernel: many short programs take SIGPROF
 * as they start (sort(1) cleans up its temporary files on it), and a round trip to the agent
 * for each would cost the host what the deferred start saves. */
static int pend_sigaction(ldp_sigaction_fn real, int sig, const struct k_sigaction *a, void *oldact)
{
	if (a && ((a->flags & SA_SIGINFO_) || (a->handler != (void *)0 && a->handler != (void *)1))) {
		pend_cancel(PEND_FOREIGN, 0);
		return real(sig, a, oldact);
	}
	if (oldact)
		*(struct k_sigaction *)oldact = R.orig;
	if (a)
		R.orig = *a;
	return 0;
}

static int hook_sigaction(ldp_sigaction_fn real, int sig, const void *act, void *oldact)
{
	const struct k_sigaction *a = act;

	if (pend_hold()) {
		if (__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST)) {
			int r = pend_sigaction(real, sig, a, oldact);
			pend_release();
			return r;
		}
		pend_release(); /* activated meanwhile: as below */
	}
	if (!mine())
		return real(sig, act, oldact);
	if (!act) {
		if (oldact)
			*(struct k_sigaction *)oldact = R.orig;
		return 0;
	}
	/* SIG_DFL or SIG_IGN is no handler of the program's own: keep sampling, and remember
	 * what a SIGPROF that is not ours should meet */
	if (!(a->flags & SA_SIGINFO_) && (a->handler == (void *)0 || a->handler == (void *)1)) {
		if (oldact)
			*(struct k_sigaction *)oldact = R.orig;
		R.orig = *a;
		return 0;
	}
	step_aside("the program installs its own SIGPROF handler", LDP_AGENT_REQ_SAMPLE_SIGPROF);
	return real(sig, act, oldact);
}

static void hook_sigprof_claim(void)
{
	if (pend_hold()) {
		pend_cancel(PEND_FOREIGN, 0);
		pend_release();
	}
	if (mine())
		step_aside("the program installs its own SIGPROF handler", LDP_AGENT_REQ_SAMPLE_SIGPROF);
}

static void hook_dlclose_prepare(void)
{
	if (pend_hold_across(&R.dl_held))
		return;
	if (!mine())
		return;
	__atomic_store_n(&R.fenced, 1, __ATOMIC_SEQ_CST);
	wait_readers();
}

static void hook_dlclose_done(void)
{
	if (pend_held(&R.dl_held)) {
		pend_release();
		return;
	}
	if (!mine())
		return;
	R.old_busy = 0; /* fenced: no handler reads either table */
	rebuild();
	/* fenced: no handler reads the cache; zeroed once every 65536 generations */
	R.rgen = (R.rgen + 1) & 0xffff;
	if (!R.rgen)
		zero(R.rcache, RCACHE * sizeof(*R.rcache));
	__atomic_store_n(&R.fenced, 0, __ATOMIC_SEQ_CST);
}

/* The calls that want the process to themselves need nothing from us: no thread of ours is
 * there to refuse them. What is left is where the process goes: as another user (set*id), in
 * another user or mount namespace, under another root, our socket may not be reachable any
 * more (a root tree's lies in a folder only root enters), and under a seccomp filter our
 * calls may not be allowed. A ring already handed over stays the collector's: so it is
 * handed over now, before the call, if no sample has made it yet (a daemon dropping root at
 * its start). */
static void hook_solo_prepare(const char *leaving, int for_good)
{
	if (pend_hold()) {
		/* pending: no system call of ours may follow a filter; elsewhere (below) the agent's
		 * socket may be out of reach when the activation asks it, as for a sampler that
		 * never made its ring: for good */
		if (for_good)
			pend_cancel("a seccomp filter before the activation", LDP_AGENT_REQ_SAMPLE_SECCOMP);
		else
			__atomic_store_n(&R.leaving, leaving, __ATOMIC_SEQ_CST);
		pend_release();
		return;
	}
	if (!mine())
		return;
	if (for_good) {
		step_aside("a seccomp filter", LDP_AGENT_REQ_SAMPLE_SECCOMP);
		return;
	}
	if (__atomic_load_n(&R.ring_state, __ATOMIC_ACQUIRE) == RING_NONE)
		ring_get();
}

static void hook_solo_done(int left)
{
	const char *leaving = __atomic_exchange_n(&R.leaving, 0, __ATOMIC_SEQ_CST);
	int saved = R.b.errno_location ? *R.b.errno_location() : 0;

	if (left && leaving && pend_hold()) {
		char why[112];
		const char *parts[] = { "moved into ", leaving, " before the activation" };
		join(why, sizeof(why), parts, sizeof(parts) / sizeof(parts[0]));
		pend_cancel(why, 0);
		pend_release();
	}
	if (R.b.errno_location)
		*R.b.errno_location() = saved;
}

/* fork: the parent writes nothing. After a fork its pages are shared with the child,
 * copy-on-write, and each page either side writes then costs a fault and a copy: the lock
 * the first version held across fork() cost the parent one per fork, and the child its own.
 * The child needs nothing of the parent's table but the forking thread's stack, which it
 * finds by its own stack pointer; whatever another thread of the parent was doing to the
 * table at that moment is garbage to the child (R.hiwater). */
static void fork_prepare(void)
{
	if (pend_hold_across(&R.fork_held))
		return;
	if (!mine())
		return;
	/* A handler of another thread making the ring holds its memfd and socket for a moment:
	 * the child must not inherit them (bounded: the hand-over waits LDP_AGENT_REPLY_MS at most). */
	while (__atomic_load_n(&R.ring_state, __ATOMIC_ACQUIRE) == RING_MAKING)
		yield();
}

static void fork_parent(void)
{
	if (pend_held(&R.fork_held))
		pend_release();
}

/* A child of a process whose activation is pending waits for its own CPU time, which starts
 * at zero, on a timer of its own (the kernel copies none). */
static void fork_child_pending(void)
{
	R.pid = sys3(NR_getpid, 0, 0, 0);
	R.holds = R.activating = R.exec_held = R.dl_held = R.fork_held = 0;
	R.tlock = 0;
	R.leaving = 0;
	R.nact = 0; /* the parent's threads and timers: none is the child's */
	for (uint32_t i = 0; i < ACT_TRAMPS; i++)
		R.act_tramps[i].busy = 0;
	if (R.b.state)
		R.b.state->pid = (int32_t)R.pid;
	R.act_at_ns = cpu_now() + R.act_after_ns;
	if (act_add((int32_t)R.pid, R.act_after_ns) < 0)
		pend_cancel("cannot set a timer on the thread's CPU clock", 0);
}

/* One thread, no timer (the kernel does not copy them), no ring (MADV_DONTFORK): its own of
 * both, the ring at its first sample. Only what must change is written, and the parent's
 * slots, trampoline cells past their high-water mark and everything else are only read:
 * a fork of a program with one thread costs the child two pages (R, its thread's slot). */
static void fork_child(void)
{
	uint64_t lo = 0, hi = 0, sp = (uint64_t)(unsigned long)__builtin_frame_address(0);

	if (__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST)) {
		fork_child_pending();
		return;
	}
	if (!__atomic_load_n(&R.on, __ATOMIC_ACQUIRE) || !R.threads)
		return;
	R.pid = sys3(NR_getpid, 0, 0, 0);
	R.ring = 0;
	R.ring_state = RING_NONE;
	R.readers = 0;
	R.tablock = 0;
	R.tlock = 0; /* another thread of the parent may have held it: it is not here */
	for (uint32_t i = 0, hw = slots_hw(); i < hw; i++)
		if (R.threads[i].state == SLOT_LIVE && R.threads[i].stack_lo <= sp && sp < R.threads[i].stack_hi) {
			lo = R.threads[i].stack_lo;
			hi = R.threads[i].stack_hi;
		}
	R.hiwater = 0; /* the parent's slots: read, never written (each write a page copied) */
	for (uint32_t i = 0, hw = __atomic_load_n(&R.tramp_hw, __ATOMIC_ACQUIRE); i < hw; i++)
		if (R.tramps[i].busy)
			R.tramps[i].busy = 0;
	if (R.b.state)
		R.b.state->pid = (int32_t)R.pid;
	lock(&R.tlock);
	thread_add((int32_t)my_tid(), lo, hi);
	/* the parent's raw threads are not the child's; its own are looked for as in a new process */
	R.scan_every = scan_first();
	R.scan_count = 0;
	unlock(&R.tlock);
}

static const struct ldp_hooks ops = {
	.pthread_create = hook_pthread_create,
	.cloned = hook_cloned,
	.exec_prepare = hook_exec_prepare,
	.exec_failed = hook_exec_failed,
	.sigaction = hook_sigaction,
	.sigprof_claim = hook_sigprof_claim,
	.dlclose_prepare = hook_dlclose_prepare,
	.dlclose_done = hook_dlclose_done,
	.solo_prepare = hook_solo_prepare,
	.solo_done = hook_solo_done,
};

/* ---- start ---- */

/* The main thread's stack: from the top the kernel gave it down to RLIMIT_STACK (at most
 * 128 MiB): the kernel places mmap_base below that much room for the stack, so no other mapping
 * lies in the range unless the program maps one there on purpose. */
static void main_stack(uint64_t *lo, uint64_t *hi)
{
	uint64_t lim[2] = { 0, 0 }, depth = 128ull << 20;

	*lo = *hi = 0;
	if (!R.b.main_stack_hint)
		return;
	if (sys6(NR_prlimit64, 0, 3 /* RLIMIT_STACK */, 0, (long)lim, 0, 0) == 0 && lim[0] < depth)
		depth = lim[0];
	*hi = (R.b.main_stack_hint + 4095) & ~4095ull;
	*lo = *hi > depth ? *hi - depth : 4096;
}

#define MAX_STACKS 1024

static unsigned long tables_len(void)
{
	return MAX_THREADS * sizeof(struct thread) + 2 * sizeof(struct objtab) + RCACHE * sizeof(struct rentry) +
	       TRAMPS * sizeof(struct tramp) + MAX_STACKS * sizeof(struct seg);
}

/* The tables, in one anonymous mapping (only the pages written cost memory). */
static int tables_map(void)
{
	char *m = map_anon(tables_len());

	if (!m)
		return -1;
	R.threads = (struct thread *)m;
	m += MAX_THREADS * sizeof(struct thread);
	R.tabs[0] = (struct objtab *)m;
	R.tabs[1] = R.tabs[0] + 1;
	m += 2 * sizeof(struct objtab);
	R.rcache = (struct rentry *)m;
	m += RCACHE * sizeof(struct rentry);
	R.tramps = (struct tramp *)m;
	m += TRAMPS * sizeof(struct tramp);
	R.stacks = (struct seg *)m;
	return 0;
}

static void tables_unmap(void)
{
	R.nstacks = 0;
	sys3(NR_munmap, (long)R.threads, (long)tables_len(), 0);
	R.threads = 0;
}

/* What both starts check and keep: the collector's socket, and the program's SIGPROF
 * disposition (a handler of its own, from a library's constructor: its SIGPROF). */
static int take_boot(const struct ldp_rs_boot *b, const char **why)
{
	struct k_sigaction cur;
	unsigned long k = 0;

	if (!b->iterate_phdr || !b->real_sigaction || b->period_ns <= 0) {
		*why = "the libc lacks dl_iterate_phdr or sigaction";
		return -1;
	}
	while (b->collector[k] && k < sizeof(R.collector) - 1) {
		R.collector[k] = b->collector[k];
		k++;
	}
	if (b->collector[k] || b->collector[0] != '/') {
		*why = "LDPROF_COLLECTOR is not an absolute path of at most 107 bytes";
		return -1;
	}
	R.b = *b;
	R.b.collector = R.collector;
	if (R.b.real_sigaction(SIGPROF_, 0, &cur) != 0) {
		*why = "cannot read the SIGPROF disposition (sigaction)";
		return -1;
	}
	if ((cur.flags & SA_SIGINFO_) || (cur.handler != (void *)0 && cur.handler != (void *)1)) {
		*why = ldp_rs_foreign_sigprof;
		return -1;
	}
	R.orig = cur;
	R.pid = b->pid ? b->pid : sys3(NR_getpid, 0, 0, 0);
	return 0;
}

/* The calling thread and the threads already running: called with tlock held. */
static int threads_start(uint64_t lo, uint64_t hi)
{
	if (!thread_add((int32_t)my_tid(), lo, hi))
		return -1;
	adopt_all();
	R.scan_count = 0;
	__atomic_store_n(&R.scan_every, scan_first(), __ATOMIC_RELEASE);
	return 0;
}

const struct ldp_hooks *ldp_rs_start(const struct ldp_rs_boot *b, const char **why)
{
	uint64_t lo, hi;

	if (take_boot(b, why) < 0)
		return 0;
	if (tables_map() < 0) {
		*why = "out of memory";
		return 0;
	}
	rebuild();
	if (R.b.atfork && R.b.atfork(fork_prepare, fork_parent, fork_child) != 0) {
		*why = "cannot register fork handlers";
		goto fail;
	}
	if (install_handler() != 0) {
		*why = "cannot install the SIGPROF handler";
		goto fail;
	}
	__atomic_store_n(&R.on, 1, __ATOMIC_SEQ_CST);
	main_stack(&lo, &hi);
	lock(&R.tlock);
	/* The calling thread: the main one at the process's start. */
	if (threads_start(lo, hi) < 0) {
		unlock(&R.tlock);
		__atomic_store_n(&R.on, 0, __ATOMIC_SEQ_CST);
		restore_disposition();
		*why = "cannot create or arm a CPU timer";
		goto fail;
	}
	unlock(&R.tlock);
	return &ops;
fail:
	tables_unmap();
	return 0;
}

/* ---- deferred start: no thread, activation timers, activation in the handler ----
 *
 * Until the process has used start_after_cpu of CPU time it has our SIGPROF handler and an
 * activation timer per thread we know (the main one; those started since, by the
 * pthread_create and clone wrappers), each on its thread's own CPU clock, so that its signal
 * comes only to a thread that runs. The first that fires once the process's CPU time is past
 * start_after_cpu activates the sampler from the handler: the first stage's activate() (the
 * agent asked), the tables mapped, the object table read from /proc/self/maps
 * (dl_iterate_phdr takes the loader's lock, which the interrupted thread may hold), a sampling
 * timer for every thread in /proc/self/task. The wrappers that must not meet a half-made
 * activation (exec, fork, dlclose, musl's dlopen, SIGPROF's sigaction) hold it off while they
 * run: `holds` counts them, `activating` says a handler is at it; each side sets its own and
 * then looks at the other's, so at least one sees the other. The handler never waits: held
 * off, the next tick of a timer tries again. A wrapper waits for a running activation to end
 * (a handler in another thread: it does not wait for anything). */

static long long cpu_now(void)
{
	return sys_clock_ns(LDP_CLOCK_PROCESS_CPUTIME_ID);
}

static int act_set(int timer, long long first_ns)
{
	struct ldp_k_timespec its[2] = { { R.act_step_ns / LDP_NS_PER_S, R.act_step_ns % LDP_NS_PER_S },
					  { first_ns / LDP_NS_PER_S, first_ns % LDP_NS_PER_S } };

	if (!first_ns)
		its[0].sec = its[0].nsec = 0;
	return (int)sys6(NR_timer_settime, timer, 0, (long)its, 0, 0, 0);
}

/* A thread's first tick: when the process's CPU time gets to start_after_cpu if the thread
 * alone used it, no later than a step. (The main thread at the start, or a fork child's
 * only one, waits for all of start_after_cpu: it is alone.) */
static long long act_first(void)
{
	long long left = R.act_at_ns - cpu_now();

	if (left > R.act_step_ns)
		left = R.act_step_ns;
	return left < ACT_MIN_NS ? ACT_MIN_NS : left;
}

/* act[i]'s timer deleted and its place taken by the last. tlock held. */
static void act_remove(uint32_t i)
{
	sys3(NR_timer_delete, R.act[i].timer, 0, 0);
	R.act[i] = R.act[--R.nact];
}

/* An activation timer on tid's CPU clock, to tid, its first tick first_ns from now: 0, or -1
 * (no timer, or no room: the thread waits for the activation to adopt it). tlock held. */
static int act_add(int32_t tid, long long first_ns)
{
	struct k_sigevent sev;
	int timer = -1;

	if (R.nact == ACT_THREADS) {
		/* the timers of threads that ended unseen (pthread_exit, a raw clone's) go first */
		for (uint32_t i = 0; i < R.nact;)
			if (sys3(NR_tgkill, R.pid, R.act[i].tid, 0) == -ESRCH_)
				act_remove(i);
			else
				i++;
		if (R.nact == ACT_THREADS)
			return -1;
	}
	zero(&sev, sizeof(sev));
	sev.value = SIVAL_MAGIC << 48 | (uint64_t)ACT_IDX;
	sev.signo = SIGPROF_;
	sev.notify = SIGEV_THREAD_ID_;
	sev.tid = tid;
	if (sys3(NR_timer_create, (long)(int)(((unsigned)~tid << 3) | 6), (long)&sev, (long)&timer) < 0)
		return -1;
	/* an exec under way disarmed the others; it arms this one too if it fails */
	if (!__atomic_load_n(&R.exec_held, __ATOMIC_SEQ_CST) && act_set(timer, first_ns) < 0) {
		sys3(NR_timer_delete, timer, 0, 0);
		return -1;
	}
	R.act[R.nact].tid = tid;
	R.act[R.nact].timer = timer;
	R.nact++;
	return 0;
}

/* tid's activation timer gone (its thread returns). tlock held. */
static void act_drop(int32_t tid)
{
	for (uint32_t i = 0; i < R.nact; i++)
		if (R.act[i].tid == tid) {
			act_remove(i);
			return;
		}
}

/* tlock held. */
static void act_drop_all(void)
{
	for (uint32_t i = 0; i < R.nact; i++)
		sys3(NR_timer_delete, R.act[i].timer, 0, 0);
	R.nact = 0;
}

/* Every activation timer stopped (0), or started again (1). One that cannot be (its thread
 * ended) goes. 0, or -1 when none is left. Takes tlock. */
static int act_arm_all(int on)
{
	uint64_t old = lock_masked();
	int r;

	for (uint32_t i = 0; i < R.nact;)
		if (act_set(R.act[i].timer, on ? act_first() : 0) < 0)
			act_remove(i);
		else
			i++;
	r = R.nact ? 0 : -1;
	unlock_masked(old);
	return r;
}

static int pend_mine(void)
{
	return __atomic_load_n(&R.pending, __ATOMIC_SEQ_CST) && sys3(NR_getpid, 0, 0, 0) == R.pid;
}

/* 1: a pending activation is held off until pend_release(). 0: none pending here. An
 * activation running in another thread's handler is waited for: it waits for nothing, and it
 * runs with every signal blocked, so no handler of the program's can call here from under it
 * in its own thread; the bound (about 5 s) is a safety net all the same. */
static int pend_hold(void)
{
	if (!pend_mine())
		return 0;
	__atomic_add_fetch(&R.holds, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 5100 && __atomic_load_n(&R.activating, __ATOMIC_SEQ_CST); i++) {
		if (i < 100)
			yield();
		else
			nap_ms(1);
	}
	return 1;
}

/* An activation held off meanwhile comes at the next tick of a timer. */
static void pend_release(void)
{
	__atomic_sub_fetch(&R.holds, 1, __ATOMIC_SEQ_CST);
}

/* In a wrapper's prepare: 1 when the activation is pending here and now held off until the
 * wrapper's done takes *held back (pend_held); 0 otherwise, the rest of the hook to run. */
static int pend_hold_across(int *held)
{
	if (!pend_hold())
		return 0;
	if (__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(held, 1, __ATOMIC_SEQ_CST);
		return 1;
	}
	pend_release(); /* activated meanwhile */
	return 0;
}

/* In the wrapper's done: 1 when its prepare held the activation off (*held counted down; the
 * caller does what it must, then pend_release()), 0 otherwise. */
static int pend_held(int *held)
{
	if (__atomic_load_n(held, __ATOMIC_SEQ_CST) <= 0 || sys3(NR_getpid, 0, 0, 0) != R.pid)
		return 0;
	__atomic_sub_fetch(held, 1, __ATOMIC_SEQ_CST);
	return 1;
}

/* No activation here, for good: the timers gone, the program's disposition back (a signal
 * of ours already pending is discarded). Held (locked: 0), or from the activating handler,
 * which holds tlock (locked: 1). */
static void pend_end(const char *why, const char *agent_request, int locked)
{
	uint64_t old = 0;

	if (!__atomic_exchange_n(&R.pending, 0, __ATOMIC_SEQ_CST))
		return;
	if (!locked)
		old = lock_masked();
	act_drop_all();
	if (!locked)
		unlock_masked(old);
	restore_disposition();
	if (why)
		said_aside(why);
	if (agent_request && R.b.ask_agent)
		R.b.ask_agent(agent_request);
}

static void pend_cancel(const char *why, const char *agent_request)
{
	pend_end(why, agent_request, 0);
}

const struct ldp_hooks *ldp_rs_defer(const struct ldp_rs_boot *b, long long after_ns, const char **why)
{
	if (take_boot(b, why) < 0)
		return 0;
	R.act_after_ns = after_ns;
	R.act_at_ns = cpu_now() + after_ns;
	R.act_step_ns = after_ns / 4;
	if (R.act_step_ns < ACT_MIN_NS)
		R.act_step_ns = ACT_MIN_NS;
	if (R.act_step_ns > ACT_MAX_STEP_NS)
		R.act_step_ns = ACT_MAX_STEP_NS;
	if (R.b.atfork && R.b.atfork(fork_prepare, fork_parent, fork_child) != 0) {
		*why = "cannot register fork handlers";
		return 0;
	}
	if (install_handler() != 0) {
		*why = "cannot install the SIGPROF handler";
		return 0;
	}
	/* the calling thread: the main one, at the process's start */
	if (act_add((int32_t)my_tid(), after_ns) < 0) {
		restore_disposition();
		*why = "cannot set a timer on the thread's CPU clock";
		return 0;
	}
	__atomic_store_n(&R.pending, 1, __ATOMIC_SEQ_CST);
	return &ops;
}

int ldp_rs_hold(void)
{
	return pend_hold();
}

int ldp_rs_waiting(void)
{
	return __atomic_load_n(&R.pending, __ATOMIC_SEQ_CST);
}

void ldp_rs_release(void)
{
	pend_release();
}

/* ---- the object table from /proc/self/maps (in the activating handler) ---- */

#define MAPS_BUF (32u << 10)
#define MAX_XMAPS 4096
#define ACT_PHDRS 64

static long maps_read(long fd, char *buf, unsigned long n)
{
	return sys3(NR_read, fd, (long)buf, (long)n);
}

static int maps_open(struct ldp_mapsline *m, char *buf)
{
	m->fd = sys_open("/proc/self/maps", 02000000 /* O_CLOEXEC */, 0);
	m->read = maps_read;
	m->buf = buf;
	m->cap = MAPS_BUF;
	m->len = m->pos = 0;
	m->skip = 0;
	return m->fd < 0 ? -1 : 0;
}

static int is_vdso(const char *path)
{
	const char *v = "[vdso]";

	while (*v && *path == *v)
		path++, v++;
	return !*v && !*path;
}

/* The object whose file is mapped from offset 0 at l->lo, if it is one the loader put there:
 * its ELF header and program headers read through the kernel (a mapping may go away under
 * us), each executable segment inside an executable mapping (an ELF file a program maps to
 * read is no object), and, where glibc can say, the same object glibc knows (one a failing
 * dlopen is about to unmap is not yet). */
static void maps_object(struct build *b, const struct ldp_mapsline_ent *l, const struct seg *xm, uint32_t nx, Elf64_Phdr *ph)
{
	Elf64_Ehdr e;
	struct phdr_info info;
	uint64_t minv = ~0ull, base, xlo = 0;
	long n;

	if (read_remote(R.pid, l->lo, &e, sizeof(e)) != (long)sizeof(e) || e.e_ident[0] != 0x7f ||
	    e.e_ident[1] != 'E' || e.e_ident[2] != 'L' || e.e_ident[3] != 'F' || e.e_ident[4] != ELFCLASS64 ||
	    (e.e_type != ET_DYN && e.e_type != ET_EXEC) || e.e_phentsize != sizeof(Elf64_Phdr) ||
	    !e.e_phnum || e.e_phnum > ACT_PHDRS)
		return;
	n = (long)(e.e_phnum * sizeof(Elf64_Phdr));
	if (read_remote(R.pid, l->lo + e.e_phoff, ph, (unsigned long)n) != n)
		return;
	for (int i = 0; i < e.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < minv)
			minv = ph[i].p_vaddr;
	if (minv == ~0ull)
		return;
	base = l->lo - (minv & ~4095ull);
	for (int i = 0; i < e.e_phnum; i++) {
		uint64_t lo = base + ph[i].p_vaddr, hi = lo + ph[i].p_memsz;
		const struct seg *g;
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X) || !ph[i].p_memsz)
			continue;
		g = hi > lo ? seg_find(xm, nx, lo) : 0; /* the maps list them in order */
		if (!g || hi > g->hi)
			return;
		if (!xlo)
			xlo = lo;
	}
	if (!xlo)
		return;
	if (R.b.find_object && !is_vdso(l->path)) {
		struct dl_find_object_ o;
		if (R.b.find_object((void *)(uintptr_t)xlo, &o) != 0 || (uint64_t)(uintptr_t)o.map_start != l->lo)
			return;
	}
	info.addr = base;
	info.name = l->path;
	info.phdr = ph;
	info.phnum = e.e_phnum;
	b->first = 0;
	add_object(&info, sizeof(info), b);
}

/* Fills R.tabs[0] (and R.stacks) from two reads of /proc/self/maps; -1 when it cannot be
 * read. scratch: MAPS_BUF + MAX_XMAPS segs + ACT_PHDRS program headers. */
static int maps_build(char *scratch)
{
	struct seg *xm = (struct seg *)(scratch + MAPS_BUF);
	Elf64_Phdr *ph = (Elf64_Phdr *)(xm + MAX_XMAPS);
	struct build b = { R.tabs[0], 0 };
	struct ldp_mapsline m;
	struct ldp_mapsline_ent l;
	uint64_t guard_hi = 0;
	uint32_t nx = 0, ns = 0;
	char *s;

	if (maps_open(&m, scratch) < 0)
		return -1;
	while ((s = ldp_mapsline_next(&m))) {
		if (ldp_mapsline_parse(s, &l) < 0)
			continue;
		if (l.perm[2] == 'x' && nx < MAX_XMAPS)
			xm[nx++] = (struct seg){ l.lo, l.hi };
		/* a thread's stack: private, anonymous, right above its guard (at most 64 KiB;
		 * a malloc arena's reserve above it is much larger) */
		if (l.perm[0] == 'r' && l.perm[1] == 'w' && l.perm[3] == 'p' && !l.inode && !l.path[0] &&
		    l.lo == guard_hi && l.hi - l.lo >= (16u << 10) && ns < MAX_STACKS)
			R.stacks[ns++] = (struct seg){ l.lo, l.hi };
		guard_hi = l.perm[0] == '-' && l.perm[1] == '-' && l.perm[2] == '-' && !l.inode &&
				   l.hi - l.lo <= (64u << 10) ? l.hi : 0;
	}
	sys3(NR_close, m.fd, 0, 0);
	__atomic_store_n(&R.nstacks, ns, __ATOMIC_RELEASE);
	if (maps_open(&m, scratch) < 0)
		return -1;
	b.t->ntext = b.t->nsegs = 0;
	while ((s = ldp_mapsline_next(&m))) {
		if (ldp_mapsline_parse(s, &l) == 0 && l.off == 0 && l.perm[0] == 'r' && (l.inode || is_vdso(l.path)))
			maps_object(&b, &l, xm, nx, ph);
	}
	sys3(NR_close, m.fd, 0, 0);
	sort_tab(b.t);
	__atomic_store_n(&R.cur, 0, __ATOMIC_SEQ_CST);
	return 0;
}

/* The stack of the thread activating: the main thread's as at the start, another's from the
 * maps (0, 0: unknown). */
static void act_stack(uint64_t *lo, uint64_t *hi)
{
	uint64_t sp = (uint64_t)(uintptr_t)__builtin_frame_address(0);

	if (my_tid() == R.pid) {
		main_stack(lo, hi);
		return;
	}
	*hi = adopted_stack_hi(sp);
	*lo = *hi ? sp & ~4095ull : 0;
}

/* An activation timer's signal: in the handler, in the thread whose timer it is, running. */
static void activate(void)
{
	int saved = R.b.errno_location ? *R.b.errno_location() : 0;
	unsigned long scratch_len = MAPS_BUF + MAX_XMAPS * sizeof(struct seg) + ACT_PHDRS * sizeof(Elf64_Phdr);
	const char *why = 0;
	char *scratch = 0;
	uint64_t lo, hi, all = ~0ull;
	long long t0;
	long period;

	if (!pend_mine() || cpu_now() < R.act_at_ns)
		return;
	t0 = sys_clock_ns(LDP_CLOCK_MONOTONIC);
	/* no handler of the program's may run in this thread until it is done: one that forks or
	 * execs would wait in a wrapper for this very activation (sigreturn restores the mask) */
	sys6(NR_rt_sigprocmask, SIG_BLOCK_, (long)&all, 0, 8, 0, 0);
	__atomic_add_fetch(&R.activating, 1, __ATOMIC_SEQ_CST);
	/* held off, or a wrapper at the timers: the next tick tries again */
	if (__atomic_load_n(&R.holds, __ATOMIC_SEQ_CST) || !try_lock(&R.tlock)) {
		__atomic_sub_fetch(&R.activating, 1, __ATOMIC_SEQ_CST);
		return;
	}
	if (!__atomic_load_n(&R.pending, __ATOMIC_SEQ_CST)) { /* another thread's timer was first */
		unlock(&R.tlock);
		__atomic_sub_fetch(&R.activating, 1, __ATOMIC_SEQ_CST);
		return;
	}
	/* the first stage's last word (the agent's, when it collects): 0 when it stays off */
	period = R.b.activate ? R.b.activate() : R.b.period_ns;
	if (period <= 0) {
		pend_end(0, 0, 1);
		goto out;
	}
	R.b.period_ns = period;
	why = "out of memory";
	if (tables_map() < 0)
		goto off;
	scratch = map_anon(scratch_len);
	why = "cannot read /proc/self/maps";
	if (!scratch || maps_build(scratch) < 0)
		goto off_unmap;
	act_stack(&lo, &hi);
	__atomic_store_n(&R.on, 1, __ATOMIC_SEQ_CST);
	why = "cannot create a CPU timer";
	if (threads_start(lo, hi) < 0) {
		__atomic_store_n(&R.on, 0, __ATOMIC_SEQ_CST);
		goto off_unmap;
	}
	act_drop_all();
	__atomic_store_n(&R.pending, 0, __ATOMIC_SEQ_CST);
	why = 0;
	goto out;
off_unmap:
	tables_unmap();
off:
	pend_end(0, 0, 1);
out:
	if (scratch)
		sys3(NR_munmap, (long)scratch, (long)scratch_len, 0);
	unlock(&R.tlock);
	__atomic_sub_fetch(&R.activating, 1, __ATOMIC_SEQ_CST);
	if (period > 0 && R.b.activated)
		R.b.activated(why, period, (long)(sys_clock_ns(LDP_CLOCK_MONOTONIC) - t0));
	if (R.b.errno_location)
		*R.b.errno_location() = saved;
}

#else /* not x86_64: the fast path's rules are x86_64's */

#include "ringsamp.h"

const struct ldp_hooks *ldp_rs_start(const struct ldp_rs_boot *b, const char **why)
{
	(void)b;
	*why = "the ring sampler is x86_64 only";
	return 0;
}

void ldp_rs_loaded(void)
{
}

const struct ldp_hooks *ldp_rs_defer(const struct ldp_rs_boot *b, long long after_ns, const char **why)
{
	(void)b;
	(void)after_ns;
	*why = "the ring sampler is x86_64 only";
	return 0;
}

int ldp_rs_hold(void)
{
	return 0;
}

int ldp_rs_waiting(void)
{
	return 0;
}

void ldp_rs_release(void)
{
}

const char ldp_rs_foreign_sigprof[] = "the program has a SIGPROF handler of its own";

unsigned ldp_rs_threads(void)
{
	return 0;
}

#endif
