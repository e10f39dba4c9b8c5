/* SPDX-License-Identifier: MIT
 *
 * sampler.h — what the BPF programs (sampler.bpf.c) and the agent (user space) share: the
 * events they put into the ring buffer, the marks of the maps and their limits. Types and
 * constants only; it is compiled both for the BPF target (with vmlinux.h) and for user space.
 */
#ifndef LDP_AGENT_SAMPLER_H
#define LDP_AGENT_SAMPLER_H

/* Deepest user stack kept (frames past it are cut off: the sample still counts). */
#define LDP_AGENT_MAX_FRAMES 127
/* Processes the sampler can be asked to sample at once (the `targets` map). */
#define LDP_AGENT_MAX_TARGETS 1024
/* Processes registered (the shim asked, or a registered parent forked): their static execs are
 * covered. Every process carrying an active shim is one entry while it lives. */
#define LDP_AGENT_MAX_REGISTERED 65536
/* Marks the BPF programs give the processes of one uid other than root on their own (a
 * registered or target parent's fork, a registered process's static exec), counted while those
 * processes live: one user's forks cannot fill the maps that every user's requests need.
 * Targets a user asks for are capped by the agent at request time (64). */
#define LDP_AGENT_REG_PER_UID 4096
#define LDP_AGENT_TGT_PER_UID 128
/* Users whose marks are counted at once (the `per_uid` map). */
#define LDP_AGENT_MAX_UIDS 4096
/* Ring buffer bytes: 512 KiB hold ~480 samples, over two seconds at 99 Hz on 2 CPUs even if
 * user space stalled; a full buffer drops and counts (`dropped` in the BPF program's .bss). */
#define LDP_AGENT_RINGBUF_BYTES (512u * 1024u)
#define LDP_AGENT_COMM_LEN 16

/* Values of the `registered` map. */
#define LDP_AGENT_REG_SHIM 1    /* the shim samples it: cover its static descendants only */
#define LDP_AGENT_REG_INHERIT 2 /* registered by the fork hook, from a registered parent */

/* Values of the `targets` map: why the process is sampled. */
#define LDP_AGENT_TGT_STATIC 1  /* exec of a static image by a covered process */
#define LDP_AGENT_TGT_ASKED 2   /* the shim asked (Go runtime, foreign SIGPROF handler) */

/* What one process was charged for, in the `charged` map (tgid -> this), until it exits. */
struct ldp_agent_charge {
	unsigned int uid;
	unsigned char reg, tgt;
	unsigned short pad_;
};

/* Marks one uid's live processes were given by the BPF programs (the `per_uid` map). */
struct ldp_agent_uid_marks {
	unsigned int reg, tgt;
};

enum ldp_agent_event_kind {
	LDP_AGENT_EV_SAMPLE = 1,
	LDP_AGENT_EV_EXEC = 2,  /* tgid became a target: a new image, from its first instruction */
	LDP_AGENT_EV_FORK = 3,  /* tgid is a target's forked child (parent in `arg`) */
	LDP_AGENT_EV_EXIT = 4,  /* a target's last thread exited, or it exec'd what we do not sample */
};

/* The start of every event. */
struct ldp_agent_hdr {
	unsigned int kind;
	unsigned int tgid;
};

/* A target started, forked or ended. */
struct ldp_agent_ctl {
	struct ldp_agent_hdr h;
	unsigned int arg;
	unsigned int pad_;
	unsigned long long ns; /* bpf_ktime_get_ns() */
};

/* One sample: the thread that was running on the CPU when the CPU clock fired, and its user
 * stack, leaf first (instruction pointer, then return addresses by the frame-pointer chain). */
struct ldp_agent_event {
	struct ldp_agent_hdr h;
	unsigned int tid;
	unsigned int nframes;
	char comm[LDP_AGENT_COMM_LEN];
	unsigned long long frames[LDP_AGENT_MAX_FRAMES];
};

#endif
