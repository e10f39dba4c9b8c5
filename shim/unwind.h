/* SPDX-License-Identifier: MIT
 *
 * unwind.h — unwinding the interrupted thread from the SIGPROF handler, without the loader.
 *
 * libunwind's local unwinder calls dl_iterate_phdr on every step, which takes glibc's loader
 * lock; a handler that interrupts a thread while it acquires or holds that lock deadlocks
 * (seen here with dlopen/dlclose churn at 1000 Hz). So we drive libunwind's generic ("remote")
 * unwinder with our own accessors: the table of loaded objects and their .eh_frame_hdr search
 * tables is built outside the handler (at start, every drain tick when the loader's counters
 * moved, and after every dlclose while the sampler is fenced), and the handler only reads it.
 */
#ifndef LDP_UNWIND_H
#define LDP_UNWIND_H

#include <stdint.h>
#include <ucontext.h>

int ldp_unwind_init(void);
/* Rebuild the object table if objects were loaded or unloaded since the last build (or always,
 * with force). Not async-signal-safe. The caller guarantees no handler runs during a forced
 * rebuild after dlclose (the sampler's fence); otherwise it waits for readers of the old table. */
void ldp_unwind_refresh(int force);
/* Forget cached unwind rules: an unloaded object's addresses may be reused. Not in a handler. */
void ldp_unwind_flush_cache(void);
/* How many frames were found in objects newer than the table (through _dl_find_object). */
unsigned long long ldp_unwind_late(void);
/* Stacks the fast path unwound whole, and those it handed to libunwind because a frame was in
 * no known object or had a rule it does not model (how many of those at the interrupted
 * frame itself). */
void ldp_unwind_paths(unsigned long long *fast, unsigned long long *no_object,
		      unsigned long long *no_rule, unsigned long long *at_leaf);
/* How many table builds ran out of room (frames in the objects left out end their stacks). */
unsigned long long ldp_unwind_truncated(void);
/* In a fork child: handlers of the parent's other threads are gone. */
void ldp_unwind_after_fork_child(void);

/* ASYNC-SIGNAL-SAFE. Leaf first; callers' addresses are return addresses minus one.
 * [stack_lo, stack_hi): the thread's stack, all of it mapped (0, 0 when not known). When the
 * interrupted stack pointer lies in it, reads between it and stack_hi are direct; every other
 * read outside the loaded objects' segments goes through process_vm_readv, so that no
 * register or stack content, however corrupt, can make the handler fault. */
uint32_t ldp_unwind(const ucontext_t *uc, uint64_t stack_lo, uint64_t stack_hi, uint64_t *frames,
		    uint32_t max);
/* ASYNC-SIGNAL-SAFE: the interrupted stack pointer. */
uint64_t ldp_unwind_sp(const ucontext_t *uc);

#endif
