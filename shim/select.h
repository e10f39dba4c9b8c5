/* SPDX-License-Identifier: MIT
 *
 * select.h — which processes are profiled: the [select] rules, decided by the first stage
 * before the sampler starts.
 *
 * Pure functions over buffers: no libc, no system calls, no allocation, no global state, so
 * they run in the libc-free first stage (preload.c gathers the facts and reads the files) and
 * in unit tests and a fuzzer. Inputs are untrusted (a config file, /proc text): every read is
 * bounded by the lengths given.
 *
 * Order of evaluation (the first that applies decides):
 *   1. an exclude rule matches (exclude_exe, exclude_comm, exclude_user, exclude_cgroup) -> off;
 *   2. there are include rules and none matches -> off;
 *   3. otherwise -> on.
 * Before these, and whatever they say, a process that starts under a seccomp filter stays off
 * unless include_seccomp is true (preload.c checks; the filter may kill it for a call the
 * profiler makes and the program never does).
 * A list is comma-separated globs (`*` any run of bytes, `/` included; `?` one byte; `[a-z]`,
 * `[!0-9]` a class). exe matches the executable's path; comm the kernel's process name or the
 * base name of argv[0]; user the user name or the numeric uid; cgroup the cgroup path (any
 * hierarchy's, for cgroup v1).
 */
#ifndef LDP_SELECT_H
#define LDP_SELECT_H

#include <stddef.h>

enum { LDP_SEL_EXE, LDP_SEL_COMM, LDP_SEL_USER, LDP_SEL_CGROUP, LDP_SEL_KINDS };

/* A value: bytes in someone else's buffer (the config text or the environment). */
struct ldp_sel_str {
	const char *p;
	size_t n;
};

struct ldp_select_rules {
	struct ldp_sel_str include[LDP_SEL_KINDS], exclude[LDP_SEL_KINDS];
	struct ldp_sel_str agent_socket; /* [agent] socket; p NULL: not set (the default applies) */
	struct ldp_sel_str log_file;   /* [log] file and level: where the first stage writes */
	struct ldp_sel_str log_level;
	struct ldp_sel_str sampling_hz; /* [sampling] hz: the rate a deferred activation samples
					 * at on the agent's path (p NULL: not set, 99) */
	int include_seccomp;           /* [select] include_seccomp is true (yes, on, 1) */
	int agent_rings;               /* [agent] rings (true unless set false): the agent
					* collects; false: it takes no ring, the shim stays off */
	/* [select] start_after_cpu: the CPU time a process uses before it is sampled
	 * (LDP_START_AFTER_DEFAULT unless set; a value that does not parse leaves the default:
	 * config.c reports it, and `ldprof run` and the agent refuse such a file). */
	long long start_after_ns;
};

#define LDP_START_AFTER_DEFAULT (20LL * 1000 * 1000)
#define LDP_START_AFTER_MAX (3600LL * 1000 * 1000 * 1000)

struct ldp_select_facts {
	const char *exe;     /* NUL-terminated; "" when unknown */
	const char *comm;
	const char *argv0;   /* base name of argv[0] */
	unsigned uid;
	const char *user;    /* name of uid, or NULL when unknown */
	const char *cgroup;  /* the text of /proc/self/cgroup, NUL-terminated, or NULL */
};

/* Sets r's defaults (start_after_ns); the rest of a zeroed struct is "not set". */
void ldp_select_init(struct ldp_select_rules *r);

/* A duration as common/config.c reads one: digits, an optional fraction, then ms,
 * s (or nothing), m or h. Returns 0 and *ns, or -1 when it is not one or is past max_ns. */
int ldp_select_duration(const char *p, size_t n, long long max_ns, long long *ns);

/* Reads the [select] keys (include_seccomp and start_after_cpu too), [sampling] hz,
 * [agent] socket and [log] file and level of an INI text into r (the rest is the collector's
 * business). A key set twice: the later wins, as in config.c. Never fails: what does not
 * parse is skipped (config.c reports it; `ldprof run` and the agent refuse such a file). */
void ldp_select_scan(const char *buf, size_t len, struct ldp_select_rules *r);

/* Sets rule kind/dir, include_seccomp or start_after_cpu from an environment value
 * (LDPROF_SELECT_*), agent_rings (LDPROF_AGENT_RINGS) or sampling_hz (LDPROF_SAMPLING_HZ),
 * which beats the file. Returns 1
 * when name is one of those. */
int ldp_select_env(struct ldp_select_rules *r, const char *name, const char *value);

/* The facts the rules need, one bit per LDP_SEL_* kind (plus bit 8: user names are needed,
 * not only uids): the first stage reads nothing else. */
unsigned ldp_select_needs(const struct ldp_select_rules *r);
#define LDP_SEL_NEED_USERNAME 0x100u

/* 1 when the process is excluded (detail gets the rule that decided, NUL-terminated), else 0. */
int ldp_select_decide(const struct ldp_select_rules *r, const struct ldp_select_facts *f,
		      char *detail, size_t detail_len);

/* Does s match glob pattern pat[0..n)? */
int ldp_select_glob(const char *pat, size_t n, const char *s);

/* The user name of uid in an /etc/passwd text, copied into name (NUL-terminated). Returns 0,
 * or -1 when absent or too long. */
int ldp_select_passwd_name(const char *buf, size_t len, unsigned uid, char *name, size_t name_len);

#endif
