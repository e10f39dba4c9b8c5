/* SPDX-License-Identifier: MIT
 *
 * sampler.h — what the BPF sampler (sampler.bpf.c) and the agent (main.c) share: the event one
 * sample puts into the ring buffer, and the limits of the maps. Types and constants only; it
 * is compiled both for the BPF target (with vmlinux.h) and for user space (with <stdint.h>).
 */
#ifndef LDP_AGENT_SAMPLER_H
#define LDP_AGENT_SAMPLER_H

/* Deepest user stack kept (frames past it are cut off: the sample still counts). */
#define LDP_AGENT_MAX_FRAMES 127
/* Processes the sampler can be asked to sample at once (the `targets` map). */
#define LDP_AGENT_MAX_TARGETS 1024
/* Ring buffer bytes: 256 KiB hold ~240 events, over a second at 99 Hz on 2 CPUs even if user
 * space stalled; a full buffer drops and counts (`dropped` in the BPF program's .bss). */
#define LDP_AGENT_RINGBUF_BYTES (256u * 1024u)
#define LDP_AGENT_COMM_LEN 16

/* One sample: the thread that was running on the CPU when the CPU clock fired, and its user
 * stack, leaf first (instruction pointer, then return addresses by the frame-pointer chain). */
struct ldp_agent_event {
	unsigned int tgid;
	unsigned int tid;
	unsigned int nframes;
	unsigned int pad_;
	char comm[LDP_AGENT_COMM_LEN];
	unsigned long long frames[LDP_AGENT_MAX_FRAMES];
};

#endif
