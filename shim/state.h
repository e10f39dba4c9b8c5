/* SPDX-License-Identifier: MIT
 *
 * state.h — what the shim decided in a process, kept where `ldprof status` can read it from
 * outside: one struct in the first stage's data, exported as the symbol `ldp_state`.
 *
 * `ldprof status` finds libldprof.so in /proc/PID/maps, the symbol's offset in the file's
 * .dynsym, and reads the struct through /proc/PID/mem (root, or the process's owner where
 * ptrace rules allow). Nothing else reads it; the shim only ever writes it, with plain stores
 * (a reader may see a torn detail string: it checks the magic and NUL-terminates).
 * A fork child inherits its parent's copy until its own sampler writes it (pid says whose it
 * is). The layout is fixed: a new field means a new magic; the decisions keep their numbers
 * (processes started before an upgrade still carry an older shim).
 */
#ifndef LDP_STATE_H
#define LDP_STATE_H

#include <stdint.h>

#define LDP_STATE_MAGIC "ldprof-state-2"  /* 15 bytes + NUL; 2: the agent fields */
#define LDP_STATE_SYMBOL "ldp_state"

enum ldp_decision {
	LDP_ST_UNDECIDED = 0,   /* the constructor has not run (or is running) */
	LDP_ST_DISABLED,        /* LDPROF_DISABLED=1 */
	LDP_ST_SECURE,          /* secure execution (setuid, setgid, file capabilities) */
	LDP_ST_NO_LIBC,         /* no libc in the process (static-pie Go, -nostdlib) */
	LDP_ST_MUSL,            /* older versions: musl libc with no collector */
	LDP_ST_GO,              /* a Go runtime: it owns SIGPROF */
	LDP_ST_EXCLUDED,        /* a [select] rule, or a built-in exclusion (ldprof's own tools) */
	LDP_ST_NO_OUTPUT,       /* older versions: the output folder cannot be written */
	LDP_ST_UNSAFE_CONFIG,   /* root, and the config file is writable by someone else */
	LDP_ST_CONFIG_ERROR,    /* an error in the configuration ([sampling] hz) */
	LDP_ST_FOREIGN_SIGPROF, /* the program had a SIGPROF handler before us */
	LDP_ST_FAILED,          /* the sampler could not start (older versions: their core) */
	LDP_ST_SAMPLING,        /* older versions: active, their in-process core */
	LDP_ST_STEPPED_ASIDE,   /* the program took SIGPROF later: we stopped */
	LDP_ST_SECCOMP,         /* started under a seccomp filter ([select] include_seccomp) */
	LDP_ST_TASKS_LIMIT,     /* older versions: no room in pids.max for a thread of theirs */
	LDP_ST_STARTING,        /* older versions: their core loaded and starting */
	LDP_ST_WAITING,         /* let in; the sampler starts once it has used start_after_cpu */
	LDP_ST_HOST_INIT,       /* the host's init (PID 1): never sampled; registered with the agent */
	LDP_ST_RING,            /* active: the ring sampler, its samples collected outside (no thread) */
	LDP_ST_NO_COLLECTOR,    /* no collector takes its ring: neither ldprof run nor the agent */
	LDP_ST_COUNT
};

/* LDP_ST_RING's detail: this, then the socket its ring went to (a restarted agent takes back
 * the rings handed to its own socket). */
#define LDP_STATE_RING_DETAIL "ring sampler, collector "

/* The log line's start when the sampler is on (`ldprof install`'s check looks for it). */
#define LDP_STATE_ACTIVE_LINE "active pid="

/* LDP_ST_WAITING's detail on the ring sampler's deferred start: no thread of ours waits, our
 * SIGPROF handler and a timer on each thread's CPU clock do (`ldprof status` checks that). */
#define LDP_STATE_RING_WAITING_DETAIL "for the CPU time of [select] start_after_cpu (handler and timers, no thread)"

/* What ldprof-agent (common/agentproto.h) said when the shim asked it. */
enum ldp_agent_outcome {
	LDP_AG_NOT_ASKED = 0,   /* never asked: off before that question arose, or socket empty */
	LDP_AG_NONE,            /* asked; no agent answered (absent, dead, silent, garbled) */
	LDP_AG_REGISTERED,      /* "LDPA1 register" answered ok: the shim samples, the agent knows */
	LDP_AG_SAMPLING,        /* "LDPA1 sample ..." answered ok: the agent samples this process */
	LDP_AG_REFUSED,         /* "LDPA1 no REASON" */
	LDP_AG_COUNT
};

struct ldp_state {
	char magic[16];
	int32_t decision;       /* enum ldp_decision */
	int32_t pid;            /* the process that wrote it */
	char detail[112];       /* e.g. the rule that excluded it, the first config error;
				 * LDP_ST_RING: LDP_STATE_RING_DETAIL and the collector's socket */
	int32_t agent;          /* enum ldp_agent_outcome */
	char agent_detail[60];  /* the agent's detail or reason, or why none answered */
};

/* Names for status output, indexed by enum ldp_decision. */
#define LDP_DECISION_NAMES                                                                  \
	{ "undecided", "disabled", "secure-execution", "no-libc", "musl", "go-runtime",     \
	  "excluded", "output-not-writable", "unsafe-config", "config-error",              \
	  "foreign-sigprof", "failed", "sampling", "stepped-aside", "seccomp", "tasks-limit", "starting", \
	  "waiting", "host-init", "ring-sampling", "no-collector" }

/* Names for status output and logs, indexed by enum ldp_agent_outcome. */
#define LDP_AGENT_OUTCOME_NAMES \
	{ "not asked", "none", "registered", "sampling it", "refused" }

#endif
