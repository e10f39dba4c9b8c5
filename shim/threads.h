/* SPDX-License-Identifier: MIT
 *
 * threads.h — which threads are sampled, and their CPU-time timers.
 *
 * Each sampled thread owns a slot in a fixed array (mapped once) and a POSIX timer on its own
 * CPU clock that sends SIGPROF to that thread only (SIGEV_THREAD_ID). The timer carries the
 * slot's index and generation in its sigval, so the handler finds its slot without TLS and
 * recognises a stale signal from a thread that is gone. Threads created with pthread_create
 * register themselves, with the top of their stack (the unwinder reads the stack directly up
 * to there); threads found in /proc/self/task (before activation, or raw clone()) are adopted
 * from outside, and their stack is read through process_vm_readv until the background thread
 * has learnt its mapping from a sample's stack pointer (ldp_threads_learn_stacks).
 * The registry takes a mutex; only ldp_threads_lookup() runs in the handler.
 */
#ifndef LDP_THREADS_H
#define LDP_THREADS_H

#include <stdint.h>
#include <sys/types.h>

#define LDP_MAX_THREADS 4096
#define LDP_SIVAL_MAGIC 0x1d9full

enum { LDP_SLOT_FREE = 0, LDP_SLOT_LIVE = 1, LDP_SLOT_DEAD = 2 };

struct ldp_slot {
	uint32_t gen;
	uint32_t state;
	int32_t tid;
	int32_t timer;    /* kernel timer id, -1 when none */
	uint32_t seen;    /* rescan mark */
	/* [stack_lo, stack_hi): the thread's stack, all of it mapped; the unwinder reads it
	 * directly when a sample's stack pointer lies in it, and through process_vm_readv
	 * otherwise. Registered threads give their own (pthread_getattr_np; for the main thread
	 * shim/core.c's main_stack()). An adopted thread's is learnt after the fact: its handler
	 * leaves the stack pointer of a sample in seen_sp, and ldp_threads_learn_stacks() sets
	 * the range to the mapping holding it (stack_lo first). 0, 0: not known. */
	uint64_t stack_hi;
	uint64_t stack_lo;
	uint64_t seen_sp;
	uint64_t seen_self; /* and its pthread_self(): glibc keeps it at the top of the stack */
	char name[16];
};

int ldp_threads_init(long period_ns);
/* The calling thread: a slot, a timer, armed unless sampling is paused. */
struct ldp_slot *ldp_threads_add_self(uint64_t stack_lo, uint64_t stack_hi);
/* At thread exit (pthread key destructor): keeps the name for the next profile. */
void ldp_threads_remove(struct ldp_slot *s);
/* Walks /proc/self/task: adopts threads we do not know, retires those that are gone.
 * Returns the number adopted. */
int ldp_threads_rescan(void);
void ldp_threads_arm_all(int on);
/* After fork, in the child: every slot but the caller's is gone, and no timer survived. */
void ldp_threads_after_fork_child(int32_t parent_tid);
void ldp_threads_lock(void);
void ldp_threads_unlock(void);
/* Name of tid for a profile: its slot's, else /proc. buf >= 16 bytes. */
void ldp_threads_name(int32_t tid, char *buf, size_t len);
/* Adopted threads whose stack is not known yet and that were sampled: the anonymous writable
 * mapping that held their stack pointer, up to their glibc descriptor (struct pthread, at the
 * top of a thread's stack: above it may lie a neighbour the kernel merged into the same
 * mapping), becomes their stack, so that later samples
 * read it directly instead of through process_vm_readv (about 14 times the cost for a 60-frame
 * stack). Returns how many were learnt. Reads /proc/self/maps only when there is one. */
int ldp_threads_learn_stacks(void);
unsigned ldp_threads_learnt(void);
/* Retire DEAD slots once their samples were written. */
void ldp_threads_reap(void);
unsigned ldp_threads_live(void);
unsigned ldp_threads_failed(void);

/* A thread of the program's that the core did not see start (start_after_cpu), with its stack
 * when known (the main thread's): a slot and a timer, armed unless sampling is paused. */
struct ldp_slot *ldp_threads_adopt(int32_t tid, uint64_t stack_lo, uint64_t stack_hi);

/* The background and sender threads, and the first stage's thread that started the core late:
 * never sampled, never adopted. */
extern int32_t ldp_bg_tid, ldp_send_tid, ldp_setup_tid;

/* ASYNC-SIGNAL-SAFE: the slot a timer signal belongs to, or NULL when it is not one of ours
 * (*ours = 0) or a stale one of ours (*ours = 1). */
struct ldp_slot *ldp_threads_lookup(uint64_t sival, int *ours);

#endif
