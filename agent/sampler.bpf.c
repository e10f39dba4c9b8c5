/* SPDX-License-Identifier: MIT
 *
 * sampler.bpf.c — the kernel half of the agent: a perf_event program run on every tick of the
 * per-CPU CPU-clock events the agent opens. When the task on the CPU belongs to a process in the
 * `targets` map, it records that thread's user stack (frame pointers, walked by the kernel's
 * bpf_get_stack) into the `events` ring buffer; everything else returns at once.
 * It must never block or loop unbounded (the verifier holds it to that), never sample a process
 * user space did not put into `targets`, and never wait for room: a full ring buffer drops the
 * sample and counts it in `dropped`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "sampler.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* tgid -> 1: the processes to sample; filled and emptied by user space only (for now). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LDP_AGENT_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LDP_AGENT_RINGBUF_BYTES);
} events SEC(".maps");

/* Samples of targets lost to a full ring buffer (read by user space through the skeleton). */
__u64 dropped = 0;

SEC("perf_event")
int on_cpu_clock(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct ldp_agent_event *e;
	long n;

	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->tgid = tgid;
	e->tid = (__u32)id;
	e->pad_ = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	n = bpf_get_stack(ctx, e->frames, sizeof(e->frames), BPF_F_USER_STACK);
	e->nframes = n > 0 ? (unsigned int)(n / sizeof(e->frames[0])) : 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
