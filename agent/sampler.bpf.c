/* SPDX-License-Identifier: MIT
 *
 * sampler.bpf.c — the kernel half of the agent.
 *
 *  - on_cpu_clock (perf_event, one CPU-clock event per CPU): when the task on the CPU belongs
 *    to a process in `targets`, records that thread's user stack (frame pointers, walked by the
 *    kernel's bpf_get_stack) into the `events` ring buffer; everything else returns at once.
 *  - on_fork (tp_btf/sched_process_fork): a new process inherits its parent's marks before it
 *    runs: registered -> registered, target -> target; for a uid other than root, within
 *    LDP_AGENT_*_PER_UID marks given this way to its live processes (`per_uid`, `charged`).
 *  - on_exec (tp_btf/sched_process_exec): a process that is registered (or any process, with
 *    cover_static) becomes a target when its new image has no ELF interpreter (AT_BASE = 0: a
 *    static or static-PIE executable), is not secure-execution (AT_SECURE = 0) and is dumpable;
 *    a target that executes anything else stops being one. Decided in the kernel at the exec,
 *    so the new image is sampled from its first instruction with no race.
 *  - on_exit (tp_btf/sched_process_exit): the last thread of a process removes its marks and
 *    gives back what it was charged.
 * It must never block or loop unbounded (the verifier holds it to that), never sample a
 * process that is not a target or is no longer dumpable, and never wait for room: a full ring
 * buffer drops the event and counts it. Only tracepoints and perf events: no kprobes, no
 * tracefs.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sampler.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AT_NULL 0
#define AT_BASE 7
#define AT_SECURE 23
#define SUID_DUMP_USER 1
#define MMF_DUMPABLE_MASK 3
#define AUXV_MAX_PAIRS 32
/* Samples do not wake user space, which reads the ring buffer at least every 100 ms anyway,
 * until this much waits: one wake-up per ~60 samples instead of one per sample. Start and end
 * events wake it at once (a new target's maps are best read while it is young). */
#define WAKEUP_BYTES (64u * 1024u)

/* tgid -> LDP_AGENT_REG_*: processes whose static execs are covered. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LDP_AGENT_MAX_REGISTERED);
	__type(key, __u32);
	__type(value, __u8);
} registered SEC(".maps");

/* tgid -> LDP_AGENT_TGT_*: the processes to sample. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LDP_AGENT_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

/* tgid -> what it was charged to its uid (marks given here, not by user space). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LDP_AGENT_MAX_REGISTERED);
	__type(key, __u32);
	__type(value, struct ldp_agent_charge);
} charged SEC(".maps");

/* uid -> marks its live processes were given here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LDP_AGENT_MAX_UIDS);
	__type(key, __u32);
	__type(value, struct ldp_agent_uid_marks);
} per_uid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LDP_AGENT_RINGBUF_BYTES);
} events SEC(".maps");

/* Set by user space: 1 makes every static exec on the host a target ([agent] cover = static). */
__u32 cover_static = 0;
/* Counters read by user space: samples lost to a full ring buffer, start/end events lost
 * (user space recovers those by its own checks), marks that did not fit their map. */
__u64 dropped = 0;
__u64 ctl_dropped = 0;
__u64 map_full = 0;
/* Marks not given because their uid had as many as LDP_AGENT_*_PER_UID. */
__u64 uid_capped = 0;

/* 1 when the mm's dumpable mode is SUID_DUMP_USER (what ptrace and /proc/PID/mem require). */
static __always_inline int mm_dumpable(struct mm_struct *mm)
{
	unsigned long flags = 0;

	if (!mm || bpf_core_read(&flags, sizeof(flags), &mm->flags))
		return 0;
	return (flags & MMF_DUMPABLE_MASK) == SUID_DUMP_USER;
}

/* 1 when the image just loaded has no interpreter and is not secure-execution, read from the
 * auxiliary vector the kernel saved for it; 0 when unsure. */
static __always_inline int mm_static_plain(struct mm_struct *mm)
{
	unsigned long off = bpf_core_field_offset(struct mm_struct, saved_auxv);
	unsigned int n = bpf_core_field_size(struct mm_struct, saved_auxv) / 16;
	unsigned long base = 1, secure = 1;

	if (!mm)
		return 0;
	for (unsigned int i = 0; i < AUXV_MAX_PAIRS && i < n; i++) {
		unsigned long v[2];

		if (bpf_probe_read_kernel(v, sizeof(v), (char *)mm + off + i * 16))
			return 0;
		if (v[0] == AT_NULL)
			break;
		if (v[0] == AT_BASE)
			base = v[1];
		else if (v[0] == AT_SECURE)
			secure = v[1];
	}
	return base == 0 && secure == 0;
}

static __always_inline void ctl_event(__u32 kind, __u32 tgid, __u32 arg)
{
	struct ldp_agent_ctl *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);

	if (!c) {
		__sync_fetch_and_add(&ctl_dropped, 1);
		return;
	}
	c->h.kind = kind;
	c->h.tgid = tgid;
	c->arg = arg;
	c->pad_ = 0;
	c->ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(c, 0);
}

/* Charges a mark the BPF programs are about to give process tgid to the current uid (the
 * parent's at fork, the process's own at exec); 0 when it may be given. Root is not counted.
 * Two forks on two CPUs at once may both pass a count one below the limit: the limit is a
 * bound on what one user can fill, not an exact number. */
static __always_inline int charge(__u32 tgid, int tgt)
{
	struct ldp_agent_charge fresh = { 0 }, *ch = bpf_map_lookup_elem(&charged, &tgid);
	struct ldp_agent_uid_marks zero = { 0 }, *c;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 have;

	/* a process charged before keeps being charged to the uid it had then (it may have
	 * changed its uid since): what the exit hook gives back goes where it was taken */
	if (ch)
		uid = ch->uid;
	if (uid == 0)
		return 0;
	c = bpf_map_lookup_elem(&per_uid, &uid);
	if (!c) {
		bpf_map_update_elem(&per_uid, &uid, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&per_uid, &uid);
		if (!c) {
			__sync_fetch_and_add(&map_full, 1);
			return -1;
		}
	}
	if (ch && (tgt ? ch->tgt : ch->reg))
		return 0; /* this process holds one already */
	have = tgt ? c->tgt : c->reg;
	if (have >= (tgt ? LDP_AGENT_TGT_PER_UID : LDP_AGENT_REG_PER_UID)) {
		__sync_fetch_and_add(&uid_capped, 1);
		return -1;
	}
	if (!ch) {
		fresh.uid = uid;
		if (bpf_map_update_elem(&charged, &tgid, &fresh, BPF_NOEXIST)) {
			__sync_fetch_and_add(&map_full, 1);
			return -1;
		}
		ch = bpf_map_lookup_elem(&charged, &tgid);
		if (!ch)
			return -1;
	}
	if (tgt) {
		ch->tgt = 1;
		__sync_fetch_and_add(&c->tgt, 1);
	} else {
		ch->reg = 1;
		__sync_fetch_and_add(&c->reg, 1);
	}
	return 0;
}

/* The end of a process: what it was charged goes back to its uid. */
static __always_inline void uncharge(__u32 tgid)
{
	struct ldp_agent_charge *ch = bpf_map_lookup_elem(&charged, &tgid);
	struct ldp_agent_uid_marks *c;
	__u32 uid;

	if (!ch)
		return;
	uid = ch->uid;
	c = bpf_map_lookup_elem(&per_uid, &uid);
	if (c) {
		if (ch->reg)
			__sync_fetch_and_add(&c->reg, -1);
		if (ch->tgt)
			__sync_fetch_and_add(&c->tgt, -1);
	}
	bpf_map_delete_elem(&charged, &tgid);
}

SEC("perf_event")
int on_cpu_clock(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct ldp_agent_event *e;
	struct task_struct *task;
	long n;

	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	task = bpf_get_current_task_btf();
	if (!mm_dumpable(task->mm))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->h.kind = LDP_AGENT_EV_SAMPLE;
	e->h.tgid = tgid;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	n = bpf_get_stack(ctx, e->frames, sizeof(e->frames), BPF_F_USER_STACK);
	e->nframes = n > 0 ? (unsigned int)(n / sizeof(e->frames[0])) : 0;
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES ?
				 BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u8 *r, *t, v;

	if (child->pid != ctgid || ctgid == ptgid)
		return 0; /* a new thread, not a new process */
	r = bpf_map_lookup_elem(&registered, &ptgid);
	if (r && charge(ctgid, 0) == 0) {
		v = LDP_AGENT_REG_INHERIT;
		if (bpf_map_update_elem(&registered, &ctgid, &v, BPF_ANY))
			__sync_fetch_and_add(&map_full, 1);
	}
	t = bpf_map_lookup_elem(&targets, &ptgid);
	if (t && charge(ctgid, 1) == 0) {
		v = *t;
		if (bpf_map_update_elem(&targets, &ctgid, &v, BPF_ANY))
			__sync_fetch_and_add(&map_full, 1);
		else
			ctl_event(LDP_AGENT_EV_FORK, ctgid, ptgid);
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;
	struct mm_struct *mm;
	__u8 v = LDP_AGENT_TGT_STATIC;
	int was;

	was = bpf_map_lookup_elem(&targets, &tgid) != NULL;
	if (!was && !cover_static && !bpf_map_lookup_elem(&registered, &tgid))
		return 0;
	mm = p->mm;
	if (mm_static_plain(mm) && mm_dumpable(mm)) {
		if (!was && charge(tgid, 1))
			return 0;
		if (bpf_map_update_elem(&targets, &tgid, &v, BPF_ANY)) {
			__sync_fetch_and_add(&map_full, 1);
			return 0;
		}
		ctl_event(LDP_AGENT_EV_EXEC, tgid, 0);
	} else if (was) {
		bpf_map_delete_elem(&targets, &tgid);
		ctl_event(LDP_AGENT_EV_EXIT, tgid, 0);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	/* Every thread passes here; the process ends with the one that brought `live` to 0. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&registered, &tgid);
	if (bpf_map_delete_elem(&targets, &tgid) == 0)
		ctl_event(LDP_AGENT_EV_EXIT, tgid, 0);
	uncharge(tgid);
	return 0;
}
