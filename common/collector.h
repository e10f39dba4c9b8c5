/* SPDX-License-Identifier: MIT
 *
 * collector.h — the collector's pipeline, outside the sampled processes (issue 15): each
 * process sampled by the ring sampler (shim/ringsamp.c) hands its ring over a unix socket
 * ("LDPA1 ring", agentproto.h); the collector drains every ring, turns the samples into one
 * profile per process (profile.c: symbols read from the process's mappings while it lives),
 * and hands a profile to delivery (deliver.c) every flush interval and when the process ends
 * or execs. `ldprof run` runs it for the tree it starts.
 *
 * To the collector every ring is untrusted input (ring.c checks it); who a ring belongs to is
 * taken from the socket's peer credentials (peer.c), never from the ring or the message.
 * Never: block on a process, keep a descriptor of a process that has ended, write into a
 * ring. One thread at a time.
 */
#ifndef LDP_COLLECTOR_H
#define LDP_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "deliver.h"

struct ldp_collector;

typedef void (*ldp_collector_log_fn)(int level, const char *msg);

struct ldp_symcache;

/* Listens at sock_path (made 0600 by bind() under a umask, in a folder the caller made
 * private; an existing file there is an error); NULL: listens nowhere, its connections come
 * through ldp_collector_take() (ldprof-agent takes them on its own socket). d: where
 * profiles go. sc: where symbol tables come from (the objects' own, their debug files by
 * build ID or debuglink, MiniDebugInfo: what `ldprof report` finds), read on its thread;
 * NULL: each profile reads the objects' own tables itself. A process that has ended keeps
 * its last window up to 10 s for its tables. Returns 0 or -errno. */
int ldp_collector_new(const char *sock_path, struct ldp_deliver *d, struct ldp_symcache *sc,
		      int64_t period_ns, int64_t flush_ns, ldp_collector_log_fn log, struct ldp_collector **ret);
/* Takes the pending rings, drains every ring a last time and ships every profile (the
 * processes still running are forgotten: their rings are not drained any more). */
void ldp_collector_finish(struct ldp_collector *c);
/* ldp_collector_finish(), then stops listening (the socket file is
 * removed). Accepts NULL. */
void ldp_collector_free(struct ldp_collector *c);

/* One connection whose message has come or is coming (a ring hand-over, agentproto.h): takes
 * its ring, as the pid put in *taken (NULL: not wanted). The connection stays the caller's to
 * close. 0, -EAGAIN (no message yet: call again when it is readable), or -errno (refused and
 * counted: a bad message, a peer gone, a limit below reached, -ERANGE: the ring's producer
 * samples faster than this collector's rate). A refused ring that could be mapped is marked
 * so in its header: its producer stops sampling. */
int ldp_collector_take(struct ldp_collector *c, int conn, pid_t *taken);

/* A ring's hand-over on conn that no collector will take (ldprof-agent with [agent] rings
 * off, or a user over its rate of new state): the ring, if it is one, is marked refused (why:
 * ring.h's LDP_RING_REFUSED*), so that its producer stops sampling into it. 0, -EAGAIN (no
 * message yet), or -errno. */
int ldp_collector_refuse(int conn, uint32_t why);

/* The ring of a process already running, which handed it to a collector before this one (a
 * restarted agent finds it through /proc/PID/map_files): ringfd (the caller's to close) is
 * taken as pid's, the process's effective uid its owner. 0, -EEXIST (taken already), or
 * -errno (refused and counted). */
int ldp_collector_adopt(struct ldp_collector *c, pid_t pid, int ringfd);

/* Rings a uid other than root may have taken at once, and their bytes; the bytes of all
 * rings. A ring past one is refused, and counted in ldp_collector_stats().limited. Without a
 * call, only the built-in cap on processes holds (`ldprof run`: one tree, one user). */
struct ldp_collector_limits {
	unsigned rings_per_uid;
	uint64_t bytes_per_uid, bytes;
};
void ldp_collector_limit(struct ldp_collector *c, const struct ldp_collector_limits *l);
/* `ldprof run` as root: a ring of a uid other than the collector's own is taken only from a
 * descendant of root (a program of the tree that switched user: setpriv, a service dropping
 * its privileges before an exec); its socket is open to every user for them. Without a call,
 * whoever can connect is taken (the socket's mode decides). */
void ldp_collector_tree(struct ldp_collector *c, pid_t root);
/* 1 when a ring of the smallest size from uid would be taken now. */
int ldp_collector_room(const struct ldp_collector *c, uid_t uid);

/* A descriptor to poll for POLLIN (an epoll set of the listening socket and the connections
 * whose message has not come yet), then call ldp_collector_accept(). */
int ldp_collector_fd(const struct ldp_collector *c);
/* Takes the rings of every connection whose message has come. Never blocks: a connection
 * without its message waits on the set, a second at most. */
void ldp_collector_accept(struct ldp_collector *c);
/* Drains the rings; ends the profiles of processes that are gone; ships the windows that are
 * due. Call it when ldp_collector_wait_ms() says 0: the next tick is due LDP_COLLECTOR_TICK_MS
 * after one when a ring fills fast, up to 125 ms when none does, and within
 * LDP_COLLECTOR_TICK_MS of a ring being taken (see collector.c). */
#define LDP_COLLECTOR_TICK_MS 50
void ldp_collector_tick(struct ldp_collector *c);
/* Milliseconds until the next tick is due (0: now), for the caller's poll. */
int ldp_collector_wait_ms(const struct ldp_collector *c);

struct ldp_collector_stats {
	uint64_t rings;          /* rings taken */
	uint64_t refused;        /* connections refused: bad message, no ring, a peer gone */
	uint64_t limited;        /* of them, rings past a limit (ldp_collector_limit) */
	uint64_t ring_bytes;     /* the rings taken now: their bytes */
	uint64_t samples;        /* samples counted into profiles */
	uint64_t weight;         /* the periods they stand for */
	uint64_t dropped;        /* samples the processes said they dropped (ring full) */
	uint64_t bad;            /* slots the rings held that were not samples */
	uint64_t walked_whole;   /* stacks the processes unwound to their first frame */
	uint64_t stopped_no_object, stopped_no_rule;
	uint64_t profiles;       /* profiles handed to delivery */
	uint64_t exec_undone;    /* mappings read just after an exec, taken back (its mark came after) */
	/* the handlers' own clock: TSC cycles over how many samples, and the mean in ns (the
	 * cycles at the rate the collector measured; 0 when unknown) */
	uint64_t handler_cycles, handled, handler_ns;
};
void ldp_collector_stats(const struct ldp_collector *c, struct ldp_collector_stats *ret);
/* The stats in one log line ("collector: N rings, ..."), into buf; returns buf. */
const char *ldp_collector_summary(const struct ldp_collector_stats *st, char *buf, size_t len);

#endif
