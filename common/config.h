/* SPDX-License-Identifier: MIT
 *
 * config.h — ldprof's configuration: one INI file (parsed with inih), then environment
 * overrides LDPROF_<SECTION>_<KEY>, checked key by key.
 *
 * Every problem is reported with where it was found (file:line, or the variable's name), what
 * is wrong and how to fix it; the caller decides what to do with it (`ldprof run` and the
 * agent refuse a file with an error, `ldprof config check` prints them all). Unknown sections and keys are errors: a typo
 * must not silently send profiles to the default place.
 * The input is untrusted (any byte, any length): never read past it, never crash on it.
 * Shared by the CLI (`ldprof run`'s collector, config check) and the agent. Never called from a
 * signal handler.
 */
#ifndef LDP_CONFIG_H
#define LDP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agentproto.h"

#define LDP_CONFIG_DEFAULT_PATH "/etc/ldprof/ldprof.ini"
#define LDP_CONFIG_DEFAULT_ENDPOINT "file:///var/lib/ldprof/profiles"

#define LDP_CONFIG_STR 1024      /* room for every string value (paths, URLs, names) */
#define LDP_CONFIG_MAX_HEADERS 16
#define LDP_CONFIG_MAX_LABELS 32

enum ldp_protocol { LDP_PROTO_PYROSCOPE, LDP_PROTO_PARCA, LDP_PROTO_PPROF };
enum ldp_compression { LDP_COMP_GZIP, LDP_COMP_ZSTD, LDP_COMP_NONE };
/* [agent] cover: which processes ldprof-agent samples from the kernel. */
enum ldp_agent_cover {
	LDP_AGENT_COVER_REGISTERED, /* those a shim asked it to, and their static descendants */
	LDP_AGENT_COVER_STATIC,     /* ... and every static executable on the host */
};
/* A sockaddr_un's sun_path holds 108 bytes with the NUL. */
#define LDP_AGENT_SOCKET_MAX 107

struct ldp_config_label {
	char key[64];
	char value[192];
};

struct ldp_config {
	/* [sampling] */
	int hz;                         /* hz = 99, 1..1000 */
	int64_t flush_ns;               /* flush_interval = 10s, 100ms..24h */

	/* [output] */
	char endpoint[LDP_CONFIG_STR];  /* file://DIR, http://..., https://... */
	enum ldp_protocol protocol;     /* protocol = pyroscope (for http(s) endpoints) */
	enum ldp_compression compression; /* compression = gzip: the HTTP body encoding */
	int64_t connect_timeout_ns;     /* connect_timeout = 2s */
	int64_t timeout_ns;             /* timeout = 10s: one request, all of it */
	int64_t exit_timeout_ns;        /* exit_timeout = 200ms: network time allowed at exit */
	int retries;                    /* retries = 5: attempts after the first, then spool */
	int64_t backoff_ns;             /* backoff = 1s: first retry delay, doubled, jittered */
	int64_t backoff_max_ns;         /* backoff_max = 60s */
	uint64_t queue_max_bytes;       /* queue_max_bytes = 8M: unsent profiles held in memory */
	char token_file[LDP_CONFIG_STR]; /* token_file = : bearer token, first line of the file */
	int nheaders;                   /* header = Name: value (repeatable) */
	char headers[LDP_CONFIG_MAX_HEADERS][256];

	/* [tls] */
	int tls_verify;                 /* verify = true */
	char tls_ca_file[LDP_CONFIG_STR];   /* ca_file = (system store) */
	char tls_cert_file[LDP_CONFIG_STR]; /* cert_file = : client certificate (PEM) */
	char tls_key_file[LDP_CONFIG_STR];  /* key_file = : its key (PEM) */

	/* [service] */
	char service_name[256];         /* name = : empty means the executable's base name */
	int nlabels;                    /* labels = k=v,k2=v2 */
	struct ldp_config_label labels[LDP_CONFIG_MAX_LABELS];

	/* [spool] */
	char spool_dir[LDP_CONFIG_STR]; /* dir = /var/lib/ldprof/spool */
	uint64_t spool_max_bytes;       /* max_bytes = 256M */

	/* [log] */
	int log_level;                  /* level = warn: error|warn|info|debug -> 0..3 */
	char log_file[LDP_CONFIG_STR];  /* file = : empty: no log; "syslog"; or a path */

	/* [select] (issue 4): comma-separated glob lists, kept as written */
	char include_exe[LDP_CONFIG_STR], exclude_exe[LDP_CONFIG_STR];
	char include_comm[LDP_CONFIG_STR], exclude_comm[LDP_CONFIG_STR];
	char include_user[LDP_CONFIG_STR], exclude_user[LDP_CONFIG_STR];
	char include_cgroup[LDP_CONFIG_STR], exclude_cgroup[LDP_CONFIG_STR];
	int include_seccomp;       /* profile processes that start under a seccomp filter */
	int64_t start_after_cpu_ns; /* start_after_cpu = 20ms: CPU time used before sampling */

	/* [agent] (issue 5): ldprof-agent, common/agentproto.h */
	char agent_socket[LDP_CONFIG_STR]; /* socket = /run/ldprof/agent.sock; empty: never ask */
	int agent_cover;                /* cover = registered: enum ldp_agent_cover (the agent's) */
	uint64_t agent_symbol_memory;   /* symbol_memory = 1GiB: the agent's symbol tables, all */
	uint64_t agent_symbol_memory_per_user; /* symbol_memory_per_user = 256MiB: one uid's */
	int agent_profiles_per_user;    /* profiles_per_user = 600: ended processes' profiles a
					 * uid other than root gets written per minute */
	int agent_rings;                /* rings = true: the agent collects the rings of the
					 * processes the shim samples (false: none, the shim stays off) */
	int agent_rings_per_user;       /* rings_per_user = 1000: a uid other than root's at once */
	uint64_t agent_ring_memory;     /* ring_memory = 4GiB: the bytes of all rings taken */
	uint64_t agent_ring_memory_per_user; /* ring_memory_per_user = 512MiB: one uid's, root aside */
};

enum ldp_config_severity { LDP_CONFIG_ERROR, LDP_CONFIG_WARNING };

struct ldp_config_problem {
	enum ldp_config_severity severity;
	const char *where;   /* "FILE:LINE" or "LDPROF_OUTPUT_ENDPOINT" */
	const char *what;    /* "flush_interval = \"10x\" is not a duration" */
	const char *hint;    /* "use a number with ms, s, m or h, from 100ms to 24h" (may be NULL) */
};

/* Called once per problem, in file order (checks between keys, such as backoff_max >= backoff
 * and key_file needing cert_file, come after the source's last line). The strings live only
 * for the call. At most 50 problems per source: then one "more than 50 problems" error, and
 * the rest of that source is not read. */
typedef void (*ldp_config_problem_fn)(void *ctx, const struct ldp_config_problem *p);

/* The defaults above. */
void ldp_config_defaults(struct ldp_config *c);

/* Reads path into c (which holds defaults or earlier values). A missing file is a problem
 * unless missing_ok (the default path may be absent: defaults then apply). Files over 1 MiB,
 * anything but a regular file, lines over 199 bytes, NUL bytes, unknown sections and keys, keys
 * before the first [section] and indented lines (inih would glue them onto the previous value)
 * are errors; a key set twice is a warning (the later value wins; header adds one each time).
 * A refused value leaves its field as it was.
 * Returns the number of errors (0: every value was applied), or -errno when the file could not
 * be read at all (also reported through fn). */
int ldp_config_load_file(struct ldp_config *c, const char *path, int missing_ok,
			 ldp_config_problem_fn fn, void *ctx);

/* Reads the len bytes at buf (no NUL needed) as if they were the file name: what
 * ldp_config_load_file() does once the file is in memory, and what the fuzz target calls.
 * Returns the number of errors. */
int ldp_config_load_buffer(struct ldp_config *c, const char *name, const char *buf, size_t len,
			   ldp_config_problem_fn fn, void *ctx);

/* Applies every LDPROF_<SECTION>_<KEY> variable of envp (NULL-terminated, as environ), e.g.
 * LDPROF_OUTPUT_ENDPOINT, LDPROF_LOG_LEVEL. LDPROF_CONFIG and LDPROF_DISABLED are not keys and
 * are skipped. An LDPROF_ variable that names no key is a warning, not an error (the
 * environment is shared with other versions of ldprof). LDPROF_OUTPUT_HEADER replaces the
 * file's headers with its one header. In a root process (euid 0), the variables that name a
 * place or a credential (endpoint, token and TLS files, spool folder, log file, agent socket,
 * header) are ignored with a warning: they come only from a config file. Returns the number of
 * errors. */
int ldp_config_apply_env(struct ldp_config *c, char *const *envp, ldp_config_problem_fn fn,
			 void *ctx);

/* What the shim does: defaults, then the file (LDPROF_CONFIG from envp, else the default path,
 * which may be missing; an empty LDPROF_CONFIG counts as unset), then envp (also when the file
 * could not be read, so that every problem is reported). Returns the number of errors (or the
 * file's -errno). */
int ldp_config_load(struct ldp_config *c, char *const *envp, ldp_config_problem_fn fn, void *ctx);

/* Prints the effective configuration as an INI file (every key, in the documented order),
 * header values masked ("Authorization: ***") unless secrets is set, token shown as its file
 * name only. ldp_config_load_file() reads it back to the same values, except what a
 * line of a file cannot hold: a line over 199 bytes, " ;" in a value (both only from the
 * environment, or a header name of some 190 bytes). */
void ldp_config_print(const struct ldp_config *c, FILE *out, int secrets);

/* Helpers shared with other parsers: "10s", "500ms", "2m", "1h", plain seconds; "8M", "256MiB",
 * "1G", "4096". Return 0 or -EINVAL/-ERANGE. */
int ldp_config_parse_duration(const char *s, int64_t min_ns, int64_t max_ns, int64_t *ret);
int ldp_config_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

const char *ldp_config_protocol_name(enum ldp_protocol p);
const char *ldp_config_compression_name(enum ldp_compression c);
const char *ldp_config_agent_cover_name(enum ldp_agent_cover c);

#endif
