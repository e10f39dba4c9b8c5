/* SPDX-License-Identifier: MIT
 *
 * config.c — ldprof's settings: defaults, then one INI file (inih), then LDPROF_* variables.
 *
 * Overall design. One table, keys[], names every setting once: its section, key, kind, field,
 * range and the hint shown when a value is refused. The file parser, the environment parser,
 * the printer and the "did you mean" suggestions all walk it, so a new setting is one line
 * here (and one entry in config/ldprof.ini).
 * inih splits the lines. Our reader hands it one line at a time from a memory buffer and:
 *  - counts lines, because Debian's inih calls the handler without a line number;
 *  - refuses NUL bytes and lines that do not fit inih's 200-byte buffer (inih would silently
 *    split a long line into two lines);
 *  - classifies each line exactly the way inih is about to, because inih only returns the line
 *    of the first syntax error, and would silently glue an indented line onto the previous
 *    value (multi-line values are on in Debian's build): both are reported on their own line.
 * A refused value leaves its field as it was; every problem goes to the caller's callback with
 * where it is, what is wrong and how to fix it.
 *
 * Runs in every profiled process's start-up: no stdio for reading, no locale, no global state,
 * stack frames well under 16 KiB, the file read once with a 1 MiB cap. Never called from a
 * signal handler. The input is untrusted: nothing here reads past a length it was given, and
 * values are escaped before they are quoted in a message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "fileio.h"

#define FILE_MAX (1u << 20)  /* bigger config files are refused, not read */
#define MAX_PROBLEMS 50      /* per source: a binary file must not flood a log */
#define SHOW_MAX 80          /* bytes of a value quoted in a message */
#define QUOTE_SIZE (SHOW_MAX * 4 + 8)
#define NAME_MAX_INIH 50     /* inih keeps section and key names in 50-byte buffers */

#define NS_MS 1000000ll
#define NS_S 1000000000ll
#define NS_M (60 * NS_S)
#define NS_H (60 * NS_M)

enum kind {
	K_INT,      /* int, whole number in [min, max] */
	K_DUR,      /* int64_t ns, duration in [min, max] */
	K_SIZE,     /* uint64_t bytes, size in [min, max] */
	K_ENDPOINT, /* file:///dir, http://..., https://... */
	K_PROTO,    /* enum ldp_protocol */
	K_COMP,     /* enum ldp_compression */
	K_BOOL,     /* int 0/1 */
	K_PATH,     /* empty, or an absolute path */
	K_DIR,      /* an absolute path */
	K_NAME,     /* service name */
	K_LABELS,   /* k=v,k2=v2 into nlabels/labels */
	K_HEADER,   /* Name: value, appended to nheaders/headers */
	K_LEVEL,    /* int 0..3 */
	K_LOGFILE,  /* empty, "syslog" or an absolute path */
	K_GLOBS,    /* comma-separated globs, kept as written */
	K_SOCKET,   /* empty, or an absolute path that fits sun_path */
	K_COVER,    /* enum ldp_agent_cover */
};

struct key {
	const char *sect, *name;
	enum kind kind;
	size_t off, size;   /* the field in struct ldp_config */
	int64_t min, max;   /* K_INT, K_DUR, K_SIZE */
	const char *hint;   /* NULL: made from min and max */
};

#define F(field) offsetof(struct ldp_config, field), sizeof(((struct ldp_config *)0)->field)

static const char PATH_HINT[] = "write an absolute path, or nothing";
static const char GLOB_HINT[] = "write comma-separated glob patterns, e.g. /usr/bin/*,*python*";

/* In the documented order: sections as they come, keys as config/ldprof.ini lists them. */
static const struct key keys[] = {
	{ "sampling", "hz", K_INT, F(hz), 1, 1000, NULL },
	{ "sampling", "flush_interval", K_DUR, F(flush_ns), 100 * NS_MS, 24 * NS_H, NULL },
	{ "output", "endpoint", K_ENDPOINT, F(endpoint), 0, 0,
	  "write file:///absolute/dir, http://host[:port][/path] or https://host[:port][/path]" },
	{ "output", "protocol", K_PROTO, F(protocol), 0, 0, "write pyroscope, parca or pprof" },
	{ "output", "compression", K_COMP, F(compression), 0, 0, "write gzip, zstd or none" },
	{ "output", "connect_timeout", K_DUR, F(connect_timeout_ns), 100 * NS_MS, 60 * NS_S, NULL },
	{ "output", "timeout", K_DUR, F(timeout_ns), 100 * NS_MS, 10 * NS_M, NULL },
	{ "output", "exit_timeout", K_DUR, F(exit_timeout_ns), 0, 10 * NS_S, NULL },
	{ "output", "retries", K_INT, F(retries), 0, 100, NULL },
	{ "output", "backoff", K_DUR, F(backoff_ns), 10 * NS_MS, NS_H, NULL },
	{ "output", "backoff_max", K_DUR, F(backoff_max_ns), 10 * NS_MS, 24 * NS_H, NULL },
	{ "output", "queue_max_bytes", K_SIZE, F(queue_max_bytes), 64ll << 10, 1ll << 30, NULL },
	{ "output", "token_file", K_PATH, F(token_file), 0, 0, PATH_HINT },
	{ "output", "header", K_HEADER, F(headers), 0, 0,
	  "write header = Name: value (Name is an HTTP token such as X-Scope-OrgID), "
	  "one per line, up to 16" },
	{ "tls", "verify", K_BOOL, F(tls_verify), 0, 0, "write true or false (or yes/no, on/off, 1/0)" },
	{ "tls", "ca_file", K_PATH, F(tls_ca_file), 0, 0, PATH_HINT },
	{ "tls", "cert_file", K_PATH, F(tls_cert_file), 0, 0, PATH_HINT },
	{ "tls", "key_file", K_PATH, F(tls_key_file), 0, 0, PATH_HINT },
	{ "service", "name", K_NAME, F(service_name), 0, 0,
	  "write printable text without { } , = or \", or nothing for the executable's name" },
	{ "service", "labels", K_LABELS, F(labels), 0, 0,
	  "write key=value,key2=value2: keys of letters, digits and _ (not first), "
	  "values without , { } or \", up to 32 labels" },
	{ "spool", "dir", K_DIR, F(spool_dir), 0, 0,
	  "write an absolute path (max_bytes = 0 turns the spool off)" },
	{ "spool", "max_bytes", K_SIZE, F(spool_max_bytes), 0, 64ll << 30, NULL },
	{ "log", "level", K_LEVEL, F(log_level), 0, 0, "write error, warn, info or debug" },
	{ "log", "file", K_LOGFILE, F(log_file), 0, 0,
	  "write an absolute path, syslog, or nothing for no log" },
	{ "select", "include_exe", K_GLOBS, F(include_exe), 0, 0, GLOB_HINT },
	{ "select", "exclude_exe", K_GLOBS, F(exclude_exe), 0, 0, GLOB_HINT },
	{ "select", "include_comm", K_GLOBS, F(include_comm), 0, 0, GLOB_HINT },
	{ "select", "exclude_comm", K_GLOBS, F(exclude_comm), 0, 0, GLOB_HINT },
	{ "select", "include_user", K_GLOBS, F(include_user), 0, 0, GLOB_HINT },
	{ "select", "exclude_user", K_GLOBS, F(exclude_user), 0, 0, GLOB_HINT },
	{ "select", "include_cgroup", K_GLOBS, F(include_cgroup), 0, 0, GLOB_HINT },
	{ "select", "exclude_cgroup", K_GLOBS, F(exclude_cgroup), 0, 0, GLOB_HINT },
	{ "select", "include_seccomp", K_BOOL, F(include_seccomp), 0, 0,
	  "write true or false (or yes/no, on/off, 1/0)" },
	{ "select", "start_after_cpu", K_DUR, F(start_after_cpu_ns), 0, 3600 * NS_S, NULL },
	{ "agent", "socket", K_SOCKET, F(agent_socket), 0, 0,
	  "write an absolute path of at most 107 bytes, or nothing to never ask the agent" },
	{ "agent", "cover", K_COVER, F(agent_cover), 0, 0, "write registered or static" },
	{ "agent", "symbol_memory", K_SIZE, F(agent_symbol_memory), 16ll << 20, 64ll << 30, NULL },
	{ "agent", "symbol_memory_per_user", K_SIZE, F(agent_symbol_memory_per_user), 1ll << 20,
	  64ll << 30, NULL },
	{ "agent", "profiles_per_user", K_INT, F(agent_profiles_per_user), 1, 1000000, NULL },
	{ "agent", "rings", K_BOOL, F(agent_rings), 0, 0, "write true or false (or yes/no, on/off, 1/0)" },
	{ "agent", "rings_per_user", K_INT, F(agent_rings_per_user), 1, 1000000, NULL },
	{ "agent", "ring_memory", K_SIZE, F(agent_ring_memory), 16ll << 20, 1ll << 40, NULL },
	{ "agent", "ring_memory_per_user", K_SIZE, F(agent_ring_memory_per_user), 1ll << 20, 1ll << 40, NULL },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = { "sampling", "output", "tls", "service", "spool", "log",
					"select", "agent" };
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))
#define NO_SECTION (-1)    /* before the first [section] */
#define BAD_SECTION (-2)   /* under an unknown or broken one: already reported */

static const char *const proto_names[] = { "pyroscope", "parca", "pprof" };
static const char *const comp_names[] = { "gzip", "zstd", "none" };
static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const cover_names[] = { "registered", "static" };

/* One source being read (a file or the environment) and what has been said about it. */
struct src {
	struct ldp_config *c;
	ldp_config_problem_fn fn;
	void *ctx;
	const char *file;      /* file name; NULL: the environment */
	unsigned line;         /* the line inih is working on */
	char var[128];         /* the variable being applied */
	int errors, problems;
	bool stop;             /* too many problems: read no further */
	unsigned seen[NKEYS];  /* line each key was set on in this source (environment: 1) */

	/* the file reader and its mirror of inih's state */
	const char *buf;
	size_t len, pos;
	int sect;              /* index into sections[], or NO_SECTION / BAD_SECTION */
	bool have_prev;        /* inih's prev_name is set: an indented line continues it */
	bool cont;             /* this line is a continuation (already reported) */
	char prev[NAME_MAX_INIH];
};

/* ---- small helpers ---- */

static bool is_ws(char ch)
{
	/* isspace() of the C locale, as inih uses it (we never call setlocale) */
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static char upper(char ch)
{
	return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

static bool eq_nocase(const char *a, const char *b)
{
	for (; *a && lower(*a) == lower(*b); a++, b++)
		;
	return lower(*a) == lower(*b);
}

/* "text" for a message: at most SHOW_MAX bytes, anything but printable ASCII as \xNN, so a
 * hostile value cannot garble a terminal or a log line. */
static const char *quote_n(char *buf, size_t size, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; i < n && i < SHOW_MAX && o + 6 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		} else {
			buf[o++] = (char)ch;
		}
	}
	buf[o++] = '"';
	if (i < n && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = 0;
	return buf;
}

static const char *quote(char *buf, size_t size, const char *s)
{
	return quote_n(buf, size, s, strlen(s));
}

/* Optimal string alignment distance (Levenshtein plus transpositions), ASCII case ignored;
 * names longer than 63 bytes are never close to anything. */
static int distance(const char *a, const char *b)
{
	int rows[3][64], *pp = rows[0], *p = rows[1], *cur = rows[2];
	size_t na = strlen(a), nb = strlen(b);

	if (na > 63 || nb > 63)
		return 99;
	for (size_t j = 0; j <= nb; j++)
		p[j] = (int)j;
	for (size_t i = 1; i <= na; i++) {
		cur[0] = (int)i;
		for (size_t j = 1; j <= nb; j++) {
			int cost = lower(a[i - 1]) != lower(b[j - 1]);
			int d = p[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (p[j - 1] + cost < d)
				d = p[j - 1] + cost;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) && pp[j - 2] + 1 < d)
				d = pp[j - 2] + 1;
			cur[j] = d;
		}
		int *t = pp;
		pp = p;
		p = cur;
		cur = t;
	}
	return p[nb];
}

/* Close enough to be a typo of candidate: one edit for short names, two for longer ones. */
static bool close_to(const char *typed, const char *candidate)
{
	size_t a = strlen(typed), b = strlen(candidate);
	int max = b <= 4 ? 1 : 2;

	/* each edit changes the length by one at most: most names need no distance at all */
	if (a > b + (size_t)max || b > a + (size_t)max)
		return false;
	return distance(typed, candidate) <= max;
}

/* Valid UTF-8 without control characters (C0 and DEL): what a label, a service name or a
 * path may hold. Profile strings must be valid UTF-8 (proto3 readers reject anything else). */
static bool printable(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		unsigned ch = *p, need;
		uint32_t cp;

		if (ch < 0x80) {
			if (ch < 0x20 || ch == 0x7f)
				return false;
			p++;
			continue;
		}
		if (ch >= 0xc2 && ch <= 0xdf) {
			need = 1;
			cp = ch & 0x1f;
		} else if (ch >= 0xe0 && ch <= 0xef) {
			need = 2;
			cp = ch & 0x0f;
		} else if (ch >= 0xf0 && ch <= 0xf4) {
			need = 3;
			cp = ch & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= need)
			return false;
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* overlong forms, UTF-16 surrogates, past U+10FFFF */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += need + 1;
	}
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void fmt_duration(char *buf, size_t size, int64_t ns)
{
	if (ns == 0)
		snprintf(buf, size, "0");
	else if (ns % NS_H == 0)
		snprintf(buf, size, "%lldh", (long long)(ns / NS_H));
	else if (ns % NS_M == 0)
		snprintf(buf, size, "%lldm", (long long)(ns / NS_M));
	else if (ns % NS_S == 0)
		snprintf(buf, size, "%llds", (long long)(ns / NS_S));
	else if (ns % NS_MS == 0)
		snprintf(buf, size, "%lldms", (long long)(ns / NS_MS));
	else {
		/* exact, so that a printed configuration reads back the same */
		char frac[16];
		int n = snprintf(frac, sizeof(frac), "%09lld", (long long)(ns % NS_S));
		while (n > 1 && frac[n - 1] == '0')
			frac[--n] = 0;
		snprintf(buf, size, "%lld.%ss", (long long)(ns / NS_S), frac);
	}
}

static void fmt_size(char *buf, size_t size, uint64_t v)
{
	static const char units[] = "TGMK";

	for (int i = 0; i < 4 && v; i++) {
		uint64_t u = 1ull << (10 * (4 - i));
		if (v % u == 0) {
			snprintf(buf, size, "%llu%c", (unsigned long long)(v / u), units[i]);
			return;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)v);
}

static const char *key_hint(const struct key *k, char *buf, size_t size)
{
	char lo[32], hi[32];

	if (k->hint)
		return k->hint;
	switch (k->kind) {
	case K_INT:
		snprintf(buf, size, "write a whole number from %lld to %lld", (long long)k->min,
			 (long long)k->max);
		break;
	case K_DUR:
		fmt_duration(lo, sizeof(lo), k->min);
		fmt_duration(hi, sizeof(hi), k->max);
		snprintf(buf, size, "write a number with ms, s, m or h, from %s to %s", lo, hi);
		break;
	default:
		fmt_size(lo, sizeof(lo), (uint64_t)k->min);
		fmt_size(hi, sizeof(hi), (uint64_t)k->max);
		snprintf(buf, size, "write a whole number of bytes, or with K, M, G or T (powers of "
			 "1024), from %s to %s", lo, hi);
		break;
	}
	return buf;
}

static void *field(struct ldp_config *c, const struct key *k)
{
	return (char *)c + k->off;
}

static const void *cfield(const struct ldp_config *c, const struct key *k)
{
	return (const char *)c + k->off;
}

static int key_index(const char *sect, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].sect, sect) && !strcmp(keys[i].name, name))
			return (int)i;
	return -1;
}

/* ---- problems ---- */

static void emit(struct src *s, enum ldp_config_severity sev, unsigned line, const char *hint,
		 const char *what)
{
	struct ldp_config_problem p;
	char where[1100];

	if (s->file && line)
		snprintf(where, sizeof(where), "%.1000s:%u", s->file, line);
	else if (s->file)
		snprintf(where, sizeof(where), "%.1000s", s->file);
	else
		snprintf(where, sizeof(where), "%s", s->var);
	p.severity = sev;
	p.where = where;
	p.what = what;
	p.hint = hint;
	if (s->fn)
		s->fn(s->ctx, &p);
}

static void report(struct src *s, enum ldp_config_severity sev, unsigned line, const char *hint,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(struct src *s, enum ldp_config_severity sev, unsigned line, const char *hint,
		   const char *fmt, ...)
{
	char what[640];
	va_list ap;

	if (s->stop)
		return;
	if (s->problems == MAX_PROBLEMS) {
		s->stop = true;
		s->errors++;
		snprintf(what, sizeof(what), "more than %d problems: the rest was not checked",
			 MAX_PROBLEMS);
		emit(s, LDP_CONFIG_ERROR, line, "fix the problems above first", what);
		return;
	}
	s->problems++;
	if (sev == LDP_CONFIG_ERROR)
		s->errors++;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	emit(s, sev, line, hint, what);
}

/* "NAME = "VALUE" WHY", with the key's hint unless one is given. Returns -1. */
static int refuse(struct src *s, const struct key *k, const char *v, const char *hint,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(struct src *s, const struct key *k, const char *v, const char *hint,
		  const char *fmt, ...)
{
	char why[384], q[QUOTE_SIZE], hbuf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	report(s, LDP_CONFIG_ERROR, s->line, hint ? hint : key_hint(k, hbuf, sizeof(hbuf)),
	       "%s = %s %s", k->name, quote(q, sizeof(q), v), why);
	return -1;
}

/* ---- numbers ---- */

int ldp_config_parse_duration(const char *s, int64_t min_ns, int64_t max_ns, int64_t *ret)
{
	unsigned __int128 total;
	uint64_t ip = 0, frac = 0, scale = 1, unit;
	bool big = false;
	const char *p = s;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		if (ip > 100000000000000ull) /* past any range: keep checking the syntax */
			big = true;
		else
			ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		/* 18 digits are below a nanosecond for every unit; the rest only has to be digits */
		for (int n = 0; is_digit(*p); p++, n++) {
			if (n < 18) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
	}
	if (!strcmp(p, "ms"))
		unit = NS_MS;
	else if (!strcmp(p, "s") || !*p)
		unit = NS_S;
	else if (!strcmp(p, "m"))
		unit = NS_M;
	else if (!strcmp(p, "h"))
		unit = NS_H;
	else
		return -EINVAL;
	if (big)
		return -ERANGE;
	total = (unsigned __int128)ip * unit + (unsigned __int128)frac * unit / scale;
	if (total > (unsigned __int128)INT64_MAX || (int64_t)total < min_ns ||
	    (int64_t)total > max_ns)
		return -ERANGE;
	*ret = (int64_t)total;
	return 0;
}

int ldp_config_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	static const char *const suffixes[] = { "", "K", "M", "G", "T", NULL, "KiB", "MiB", "GiB",
						"TiB" };
	unsigned __int128 v = 0;
	const char *p = s;
	int shift = -1;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++)
		if (v < ((unsigned __int128)1 << 100)) /* saturates; still checks the syntax */
			v = v * 10 + (unsigned)(*p - '0');
	for (int i = 0; i < 10; i++)
		if (suffixes[i] && !strcmp(p, suffixes[i]))
			shift = 10 * (i % 5);
	if (shift < 0)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	v <<= shift;
	if (v < min || v > max)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

/* Whole numbers: an optional '-' (so "-1" is out of range, not "not a number") and digits. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	const char *p = s + (*s == '-');
	int64_t v = 0;
	bool big = false;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		if (v > 100000000000ll)
			big = true;
		else
			v = v * 10 + (*p - '0');
	}
	if (*p)
		return -EINVAL;
	if (*s == '-')
		v = -v;
	if (big || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* ---- values ---- */

static int set_string(struct src *s, const struct key *k, const char *v)
{
	size_t n = strlen(v);
	char *dst = field(s->c, k);

	if (n >= k->size)
		return refuse(s, k, v, NULL, "is longer than %zu bytes", k->size - 1);
	/* the whole field, so that a shorter value leaves no trace of a longer one */
	memset(dst, 0, k->size);
	memcpy(dst, v, n);
	return 0;
}

static int set_path(struct src *s, const struct key *k, const char *v, bool empty_ok)
{
	if (!*v && !empty_ok)
		return refuse(s, k, v, NULL, "is empty");
	if (has_control(v))
		return refuse(s, k, v, NULL, "contains a control character");
	if (*v && *v != '/')
		return refuse(s, k, v, NULL, "is not an absolute path");
	return set_string(s, k, v);
}

static int set_endpoint(struct src *s, const struct key *k, const char *v)
{
	const char *rest;

	if (!*v)
		return refuse(s, k, v, NULL, "is empty");
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return refuse(s, k, v, NULL, "contains a space or a control character");
	if (!strncmp(v, "file://", 7)) {
		rest = v + 7;
		if (*rest != '/')
			return refuse(s, k, v, "write file:// and an absolute path: file:///var/lib/ldprof/profiles",
				      "does not name an absolute folder");
	} else if (!strncmp(v, "http://", 7) || !strncmp(v, "https://", 8)) {
		rest = strstr(v, "://") + 3;
		if (!*rest || *rest == '/' || *rest == '?' || *rest == '#')
			return refuse(s, k, v, NULL, "has no host");
	} else {
		return refuse(s, k, v, NULL, "is not a file://, http:// or https:// URL");
	}
	return set_string(s, k, v);
}

static int set_enum(struct src *s, const struct key *k, const char *v, const char *const *names,
		    int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(v, names[i])) {
			*(int *)field(s->c, k) = i;
			return 0;
		}
	}
	return refuse(s, k, v, NULL, "is not %s", what);
}

static int set_bool(struct src *s, const struct key *k, const char *v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (int i = 0; i < 4; i++) {
		if (eq_nocase(v, yes[i]) || eq_nocase(v, no[i])) {
			*(int *)field(s->c, k) = eq_nocase(v, yes[i]);
			return 0;
		}
	}
	return refuse(s, k, v, NULL, "is not true or false");
}

static int set_name(struct src *s, const struct key *k, const char *v)
{
	if (!printable(v, strlen(v)))
		return refuse(s, k, v, NULL, "is not printable UTF-8 text");
	if (strpbrk(v, "{},=\""))
		return refuse(s, k, v, NULL, "contains one of { } , = \"");
	return set_string(s, k, v);
}

static int set_logfile(struct src *s, const struct key *k, const char *v)
{
	if (*v && strcmp(v, "syslog") && *v != '/')
		return refuse(s, k, v, NULL, "is neither an absolute path nor syslog");
	if (has_control(v))
		return refuse(s, k, v, NULL, "contains a control character");
	return set_string(s, k, v);
}

static int set_globs(struct src *s, const struct key *k, const char *v)
{
	const char *p = v;

	if (has_control(v))
		return refuse(s, k, v, NULL, "contains a control character");
	while (*v) { /* an empty value is an empty list; otherwise until the last entry */
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		size_t i = 0;

		while (i < n && is_ws(p[i]))
			i++;
		if (i == n)
			return refuse(s, k, v, NULL, "has an empty entry (two commas, or one at an end)");
		if (!end)
			break;
		p = end + 1;
	}
	return set_string(s, k, v);
}

/* The agent's socket: a sockaddr_un must hold it with its NUL, or a connect would go to a
 * cut path. */
static int set_socket(struct src *s, const struct key *k, const char *v)
{
	if (strlen(v) > LDP_AGENT_SOCKET_MAX)
		return refuse(s, k, v, NULL, "is longer than %d bytes (a socket's path is at most that)",
			      LDP_AGENT_SOCKET_MAX);
	return set_path(s, k, v, true);
}

static bool is_tchar(char ch)
{
	/* RFC 9110 token characters: what a header name is made of */
	return is_alpha(ch) || is_digit(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* "Name: value" into out[256], normalized to one space after the colon. */
static int parse_header(struct src *s, const struct key *k, const char *v, char *out)
{
	const char *colon = strchr(v, ':'), *val;
	char q[QUOTE_SIZE];
	size_t nlen;

	if (!colon)
		return refuse(s, k, v, NULL, "has no ':' between the header's name and value");
	nlen = (size_t)(colon - v);
	if (!nlen)
		return refuse(s, k, v, NULL, "has no header name before ':'");
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(v[i]))
			return refuse(s, k, v, NULL, "has a header name %s that is not an HTTP token",
				      quote_n(q, sizeof(q), v, nlen));
	for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
		;
	for (const char *p = val; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return refuse(s, k, v, NULL, "contains a control character (CR or LF?)");
	if (nlen + 2 + strlen(val) >= sizeof(s->c->headers[0]))
		return refuse(s, k, v, NULL, "is longer than %zu bytes", sizeof(s->c->headers[0]) - 1);
	memset(out, 0, sizeof(s->c->headers[0]));
	snprintf(out, sizeof(s->c->headers[0]), "%.*s: %s", (int)nlen, v, val);
	return 0;
}

static int add_header(struct src *s, const struct key *k, const char *v, bool replace)
{
	struct ldp_config *c = s->c;
	char h[sizeof(c->headers[0])];

	if (parse_header(s, k, v, h) < 0)
		return -1;
	if (replace) {
		memset(c->headers, 0, sizeof(c->headers));
		c->nheaders = 0;
	}
	if (c->nheaders >= LDP_CONFIG_MAX_HEADERS)
		return refuse(s, k, v, "remove headers: at most 16 are sent",
			      "is one header too many");
	memcpy(c->headers[c->nheaders++], h, sizeof(h));
	return 0;
}

static void trim(const char **b, const char **e)
{
	while (*b < *e && is_ws(**b))
		(*b)++;
	while (*e > *b && is_ws((*e)[-1]))
		(*e)--;
}

static int set_labels(struct src *s, const struct key *k, const char *v)
{
	struct ldp_config_label tmp[LDP_CONFIG_MAX_LABELS]; /* 8 KiB: applied only if all is well */
	const char *p = v;
	char q[QUOTE_SIZE];
	int n = 0;

	while (*v) { /* an empty value is no label; otherwise until the last entry */
		const char *end = strchr(p, ','), *ks = p, *ke, *vs, *ve, *eq;

		if (!end)
			end = p + strlen(p);
		ve = end;
		trim(&ks, &ve);
		if (ks == ve)
			return refuse(s, k, v, NULL, "has an empty entry (two commas, or one at an end)");
		eq = memchr(ks, '=', (size_t)(ve - ks));
		if (!eq)
			return refuse(s, k, v, NULL, "has an entry %s without '='",
				      quote_n(q, sizeof(q), ks, (size_t)(ve - ks)));
		ke = eq;
		vs = eq + 1;
		trim(&ks, &ke);
		trim(&vs, &ve);
		if (ks == ke || ke - ks > 63 || is_digit(*ks))
			goto bad_key;
		for (const char *c = ks; c < ke; c++)
			if (!is_alpha(*c) && !is_digit(*c) && *c != '_')
				goto bad_key;
		if (vs == ve)
			return refuse(s, k, v, NULL, "gives label %s an empty value",
				      quote_n(q, sizeof(q), ks, (size_t)(ke - ks)));
		if (ve - vs > 191 || !printable(vs, (size_t)(ve - vs)) ||
		    memchr(vs, '{', (size_t)(ve - vs)) || memchr(vs, '}', (size_t)(ve - vs)) ||
		    memchr(vs, '"', (size_t)(ve - vs)))
			return refuse(s, k, v, NULL, "gives label %s a value that is not printable "
				      "UTF-8 of at most 191 bytes without { } or \"",
				      quote_n(q, sizeof(q), ks, (size_t)(ke - ks)));
		for (int i = 0; i < n; i++)
			if (strlen(tmp[i].key) == (size_t)(ke - ks) &&
			    !memcmp(tmp[i].key, ks, (size_t)(ke - ks)))
				return refuse(s, k, v, NULL, "sets label %s twice",
					      quote_n(q, sizeof(q), ks, (size_t)(ke - ks)));
		if (n == LDP_CONFIG_MAX_LABELS)
			return refuse(s, k, v, NULL, "has more than %d labels", LDP_CONFIG_MAX_LABELS);
		memset(&tmp[n], 0, sizeof(tmp[n]));
		memcpy(tmp[n].key, ks, (size_t)(ke - ks));
		memcpy(tmp[n].value, vs, (size_t)(ve - vs));
		n++;
		if (!*end)
			break;
		p = end + 1;
		continue;
bad_key:
		return refuse(s, k, v, NULL, "has a label key %s that is not letters, digits and _ "
			      "(not first), at most 63 bytes", quote_n(q, sizeof(q), ks, (size_t)(ke - ks)));
	}
	memset(s->c->labels, 0, sizeof(s->c->labels));
	memcpy(s->c->labels, tmp, (size_t)n * sizeof(tmp[0]));
	s->c->nlabels = n;
	return 0;
}

static int set_value(struct src *s, const struct key *k, const char *v, bool env)
{
	struct ldp_config *c = s->c;
	int64_t i64;
	uint64_t u64;
	int r;

	switch (k->kind) {
	case K_INT:
		r = parse_int(v, k->min, k->max, &i64);
		if (r == -EINVAL)
			return refuse(s, k, v, NULL, "is not a whole number");
		if (r < 0)
			return refuse(s, k, v, NULL, "is out of range");
		*(int *)field(c, k) = (int)i64;
		return 0;
	case K_DUR:
		r = ldp_config_parse_duration(v, k->min, k->max, &i64);
		if (r == -EINVAL)
			return refuse(s, k, v, NULL, "is not a duration");
		if (r < 0)
			return refuse(s, k, v, NULL, "is out of range");
		*(int64_t *)field(c, k) = i64;
		return 0;
	case K_SIZE:
		r = ldp_config_parse_size(v, (uint64_t)k->min, (uint64_t)k->max, &u64);
		if (r == -EINVAL)
			return refuse(s, k, v, NULL, "is not a size");
		if (r < 0)
			return refuse(s, k, v, NULL, "is out of range");
		*(uint64_t *)field(c, k) = u64;
		return 0;
	case K_ENDPOINT:
		return set_endpoint(s, k, v);
	case K_PROTO:
		return set_enum(s, k, v, proto_names, 3, "a protocol");
	case K_COMP:
		return set_enum(s, k, v, comp_names, 3, "a compression");
	case K_LEVEL:
		return set_enum(s, k, v, level_names, 4, "a log level");
	case K_BOOL:
		return set_bool(s, k, v);
	case K_PATH:
		return set_path(s, k, v, true);
	case K_DIR:
		return set_path(s, k, v, false);
	case K_NAME:
		return set_name(s, k, v);
	case K_LABELS:
		return set_labels(s, k, v);
	case K_HEADER:
		/* the file adds one header per line; the one variable replaces them all */
		return add_header(s, k, v, env);
	case K_LOGFILE:
		return set_logfile(s, k, v);
	case K_GLOBS:
		return set_globs(s, k, v);
	case K_SOCKET:
		return set_socket(s, k, v);
	case K_COVER:
		return set_enum(s, k, v, cover_names, 2, "registered or static");
	}
	return -1;
}

/* Checks between keys, after a source was applied; reported only when that source set one of
 * the keys involved, at the later of them. */
static void cross_check(struct src *s)
{
	int b = key_index("output", "backoff"), bm = key_index("output", "backoff_max");
	int kf = key_index("tls", "key_file"), cf = key_index("tls", "cert_file");
	struct ldp_config *c = s->c;
	char lo[32], hi[32];

	if ((s->seen[b] || s->seen[bm]) && c->backoff_max_ns < c->backoff_ns) {
		unsigned line = s->seen[b] > s->seen[bm] ? s->seen[b] : s->seen[bm];
		fmt_duration(lo, sizeof(lo), c->backoff_ns);
		fmt_duration(hi, sizeof(hi), c->backoff_max_ns);
		if (!s->file)
			snprintf(s->var, sizeof(s->var), "LDPROF_OUTPUT_%s",
				 s->seen[bm] ? "BACKOFF_MAX" : "BACKOFF");
		report(s, LDP_CONFIG_ERROR, line, "make backoff_max at least as long as backoff",
		       "backoff_max = %s is shorter than backoff = %s", hi, lo);
	}
	if ((s->seen[kf] || s->seen[cf]) && c->tls_key_file[0] && !c->tls_cert_file[0]) {
		if (!s->file)
			snprintf(s->var, sizeof(s->var), "LDPROF_TLS_KEY_FILE");
		report(s, LDP_CONFIG_ERROR, s->seen[kf] ? s->seen[kf] : s->seen[cf],
		       "set cert_file to the client certificate that goes with the key",
		       "key_file is set but cert_file is not");
	}
}

/* ---- the file ---- */

/* inih's find_chars_or_comment(): the first of chars, or of an inline comment (';' after
 * whitespace), or the end. */
static const char *find_chars(const char *p, const char *end, const char *chars)
{
	bool was_space = false;

	for (; p < end; p++) {
		if (strchr(chars, *p) || (was_space && *p == ';'))
			return p;
		was_space = is_ws(*p);
	}
	return end;
}

static void list_keys(char *buf, size_t size, const char *sect)
{
	size_t o = 0;

	for (size_t i = 0; i < NKEYS && o < size; i++) {
		if (strcmp(keys[i].sect, sect))
			continue;
		o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", keys[i].name);
	}
}

static void section_hint(char *buf, size_t size, const char *typed)
{
	for (size_t i = 0; i < NSECTIONS; i++) {
		if (close_to(typed, sections[i])) {
			snprintf(buf, size, "did you mean [%s]?", sections[i]);
			return;
		}
	}
	snprintf(buf, size, "sections are [sampling], [output], [tls], [service], [spool], [log], "
		 "[select] and [agent]");
}

/* The line inih is about to parse, classified the way inih will (see the banner). */
static void classify(struct src *s, const char *line, size_t n)
{
	const char *b = line, *e = line + n, *q;
	char name[200], qb[QUOTE_SIZE], hint[256];

	s->cont = false;
	trim(&b, &e);
	if (b == e || *b == ';' || *b == '#')
		return;
	if (s->have_prev && b > line) {
		s->cont = true;
		report(s, LDP_CONFIG_ERROR, s->line, "remove the indentation: a value cannot span lines",
		       "indented line %s would continue the value of %s",
		       quote_n(qb, sizeof(qb), b, (size_t)(e - b)), s->prev);
		return;
	}
	if (*b == '[') {
		q = find_chars(b + 1, e, "]");
		if (q == e || *q != ']') {
			const char *nb = b + 1, *ne = q;
			trim(&nb, &ne);
			memcpy(name, nb, (size_t)(ne - nb));
			name[ne - nb] = 0;
			snprintf(hint, sizeof(hint), "write [section]");
			if (*name)
				section_hint(hint, sizeof(hint), name);
			for (size_t i = 0; i < NSECTIONS; i++)
				if (!strcmp(name, sections[i]))
					snprintf(hint, sizeof(hint), "write [%s]", sections[i]);
			report(s, LDP_CONFIG_ERROR, s->line, hint, "section header %s has no closing ']'",
			       quote_n(qb, sizeof(qb), b, (size_t)(e - b)));
			/* inih keeps the section it had; the keys that follow were meant for this one */
			s->sect = BAD_SECTION;
			return;
		}
		memcpy(name, b + 1, (size_t)(q - b - 1));
		name[q - b - 1] = 0;
		s->have_prev = false;
		s->sect = BAD_SECTION;
		for (size_t i = 0; i < NSECTIONS; i++)
			if (!strcmp(name, sections[i]))
				s->sect = (int)i;
		if (s->sect == BAD_SECTION) {
			const char *nb = name, *ne = name + strlen(name);
			trim(&nb, &ne);
			if (ne - nb != (ptrdiff_t)strlen(name) && ne > nb) {
				char t[200];
				memcpy(t, nb, (size_t)(ne - nb));
				t[ne - nb] = 0;
				snprintf(hint, sizeof(hint), "write [%s] without spaces", t);
			} else {
				section_hint(hint, sizeof(hint), name);
			}
			report(s, LDP_CONFIG_ERROR, s->line, hint, "unknown section %s",
			       quote_n(qb, sizeof(qb), b, (size_t)(q + 1 - b)));
		}
		for (b = q + 1; b < e && is_ws(*b); b++)
			;
		if (b < e && *b != ';' && *b != '#')
			report(s, LDP_CONFIG_ERROR, s->line, "put only a comment after ']'",
			       "text %s after the section header",
			       quote_n(qb, sizeof(qb), b, (size_t)(e - b)));
		return;
	}
	q = find_chars(b, e, "=:");
	if (q == e || (*q != '=' && *q != ':')) {
		report(s, LDP_CONFIG_ERROR, s->line,
		       "write key = value under a [section]; comments start with ; or #",
		       "cannot parse %s: not a [section], key = value or comment",
		       quote_n(qb, sizeof(qb), b, (size_t)(e - b)));
		return;
	}
	e = q;
	trim(&b, &e);
	/* inih copies the key into its 50-byte prev_name */
	snprintf(s->prev, sizeof(s->prev), "%.*s", (int)(e - b), b);
	s->have_prev = e > b;
}

/* inih's fgets(): one line of the buffer, without its '\n'. A line that would not fit inih's
 * buffer or holds a NUL byte is reported and handed over empty, so that inih and our count
 * stay on the same line. */
static char *reader(char *str, int num, void *stream)
{
	struct src *s = stream;
	const char *line, *nl;
	size_t n, len;

	if (s->stop || s->pos >= s->len || num < 2)
		return NULL;
	line = s->buf + s->pos;
	len = s->len - s->pos;
	nl = memchr(line, '\n', len);
	n = nl ? (size_t)(nl - line) : len;
	s->pos += n + (nl != NULL);
	s->line++;
	s->cont = false;
	if (n && line[n - 1] == '\r') /* CRLF files: inih strips the '\r' anyway */
		n--;
	if (memchr(line, 0, n)) {
		report(s, LDP_CONFIG_ERROR, s->line, "the file must be text; remove the NUL bytes",
		       "line contains a NUL byte");
		n = 0;
	} else if (n > (size_t)num - 1) {
		report(s, LDP_CONFIG_ERROR, s->line, "shorten the value, or the path it names",
		       "line is longer than %d bytes", num - 1);
		n = 0;
	}
	memcpy(str, line, n);
	str[n] = 0;
	classify(s, str, n);
	return str;
}

static const char *section_of(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return keys[i].sect;
	return NULL;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct src *s = user;
	char hint[320], qb[QUOTE_SIZE];
	const char *sect, *other;
	int errors = s->errors, ki = -1;

	(void)section; /* ours has no 50-byte limit: s->sect */
	if (s->cont || s->stop || s->sect == BAD_SECTION)
		return 0; /* reported already */
	if (!*name) {
		report(s, LDP_CONFIG_ERROR, s->line, "write key = value",
		       "line has no key before '='");
		return 0;
	}
	if (s->sect == NO_SECTION) {
		other = section_of(name);
		if (other)
			snprintf(hint, sizeof(hint), "put it under [%s]", other);
		report(s, LDP_CONFIG_ERROR, s->line, other ? hint : "start the file with a [section]",
		       "key %s comes before any [section]", quote(qb, sizeof(qb), name));
		return 0;
	}
	sect = sections[s->sect];
	ki = key_index(sect, name);
	if (ki < 0) {
		const char *best = NULL;
		for (size_t i = 0; i < NKEYS; i++)
			if (!strcmp(keys[i].sect, sect) && !best && eq_nocase(name, keys[i].name))
				best = keys[i].name;
		for (size_t i = 0; i < NKEYS; i++)
			if (!strcmp(keys[i].sect, sect) && !best && close_to(name, keys[i].name))
				best = keys[i].name;
		other = section_of(name);
		if (best) {
			snprintf(hint, sizeof(hint), "did you mean \"%s\"?", best);
		} else if (other) {
			snprintf(hint, sizeof(hint), "%s belongs in [%s]", name, other);
		} else {
			char list[256];
			list_keys(list, sizeof(list), sect);
			snprintf(hint, sizeof(hint), "keys of [%s] are: %s", sect, list);
		}
		report(s, LDP_CONFIG_ERROR, s->line, hint, "unknown key %s in [%s]",
		       quote(qb, sizeof(qb), name), sect);
		return 0;
	}
	if (s->seen[ki] && keys[ki].kind != K_HEADER)
		report(s, LDP_CONFIG_WARNING, s->line, "remove one of the two lines",
		       "%s is set again (first on line %u): the later value wins", name,
		       s->seen[ki]);
	s->seen[ki] = s->line;
	set_value(s, &keys[ki], value, false);
	return s->errors == errors;
}

int ldp_config_load_buffer(struct ldp_config *c, const char *name, const char *buf, size_t len,
			   ldp_config_problem_fn fn, void *ctx)
{
	struct src s = { .c = c, .fn = fn, .ctx = ctx, .file = name, .buf = buf, .len = len,
			 .sect = NO_SECTION };
	int r;

	/* inih skips a UTF-8 BOM only in what it takes for its first line; skip it here, so
	 * our reader and its line agree */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		s.pos = 3;
	r = ini_parse_stream(reader, &s, handler, &s);
	if (r > 0 && s.errors == 0)
		/* inih refused a line our mirror took: say so rather than accept it silently */
		report(&s, LDP_CONFIG_ERROR, (unsigned)r, "rewrite the line as key = value",
		       "line cannot be parsed");
	else if (r < 0 && s.errors == 0)
		report(&s, LDP_CONFIG_ERROR, 0, NULL, "the file could not be parsed");
	if (!s.stop)
		cross_check(&s);
	return s.errors;
}

int ldp_config_load_file(struct ldp_config *c, const char *path, int missing_ok,
			 ldp_config_problem_fn fn, void *ctx)
{
	struct src s = { .fn = fn, .ctx = ctx, .file = path };
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = ldp_read_file(path, 0, FILE_MAX, &buf, &len);
	if (r == -ENOENT && missing_ok)
		return 0;
	if (r < 0) {
		char q[QUOTE_SIZE];
		const char *hint = NULL, *why = strerror(-r);

		if (r == -EFBIG) {
			hint = "a configuration file is at most 1 MiB";
			why = "it is larger than 1 MiB";
		} else if (r == -EINVAL) {
			hint = "name a regular file";
			why = "it is not a regular file";
		} else if (r == -EACCES) {
			hint = "make it readable by every profiled program (mode 0644)";
		} else if (r == -ENOENT) {
			hint = "check the path; only the default file may be absent";
		}
		report(&s, LDP_CONFIG_ERROR, 0, hint, "cannot read %s: %s", quote(q, sizeof(q), path),
		       why);
	}
	if (r < 0)
		return r;
	r = ldp_config_load_buffer(c, path, buf, len, fn, ctx);
	free(buf);
	return r;
}

/* ---- the environment ---- */

/* The key an LDPROF_ variable names: LDPROF_<SECTION>_<KEY>, upper case. */
static int env_key(const char *name, size_t n)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const char *p = name, *end = name + n;
		const char *a;

		for (a = keys[i].sect; *a && p < end && *p == upper(*a); a++, p++)
			;
		if (*a || p == end || *p++ != '_')
			continue;
		for (a = keys[i].name; *a && p < end && *p == upper(*a); a++, p++)
			;
		if (!*a && p == end)
			return (int)i;
	}
	return -1;
}

static void env_name(char *buf, size_t size, const struct key *k)
{
	size_t o = (size_t)snprintf(buf, size, "LDPROF_");

	for (const char *a = k->sect; *a && o + 1 < size; a++)
		buf[o++] = upper(*a);
	if (o + 1 < size)
		buf[o++] = '_';
	for (const char *a = k->name; *a && o + 1 < size; a++)
		buf[o++] = upper(*a);
	buf[o] = 0;
}

/* A root process may run with a user's environment (sudo with env_keep, doas keepenv): the
 * environment may tune how root's processes profile, but not name where root writes, what it
 * reads or sends, whom it talks to, or the headers (tokens, tenants) it sends. Those come only
 * from a config file, which a root process uses only when it is root's own (issue 18,
 * finding 8). */
static int names_a_place(enum kind k)
{
	return k == K_ENDPOINT || k == K_PATH || k == K_DIR || k == K_LOGFILE || k == K_SOCKET ||
	       k == K_HEADER;
}

int ldp_config_apply_env(struct ldp_config *c, char *const *envp, ldp_config_problem_fn fn,
			 void *ctx)
{
	struct src src = { .c = c, .fn = fn, .ctx = ctx }, *s = &src;
	char val[LDP_CONFIG_STR];
	int root = geteuid() == 0;

	for (char *const *e = envp; e && *e && !s->stop; e++) {
		const char *eq = strchr(*e, '='), *vb, *ve;
		char hint[256], cand[128];
		size_t nlen;
		int ki;

		if (strncmp(*e, "LDPROF_", 7) || !eq)
			continue;
		nlen = (size_t)(eq - *e);
		if (nlen < sizeof(s->var))
			snprintf(s->var, sizeof(s->var), "%.*s", (int)nlen, *e);
		else
			snprintf(s->var, sizeof(s->var), "%.*s...", (int)sizeof(s->var) - 4, *e);
		if (!strcmp(s->var, "LDPROF_CONFIG") || !strcmp(s->var, "LDPROF_DISABLED"))
			continue;
		ki = env_key(*e + 7, nlen - 7);
		if (ki < 0) {
			const char *best = NULL;
			for (size_t i = 0; i < NKEYS && !best; i++) {
				env_name(cand, sizeof(cand), &keys[i]);
				if (close_to(s->var, cand))
					best = cand;
			}
			if (best)
				snprintf(hint, sizeof(hint), "did you mean %s?", best);
			report(s, LDP_CONFIG_WARNING, 0,
			       best ? hint : "settings are LDPROF_<SECTION>_<KEY>, e.g. LDPROF_OUTPUT_ENDPOINT",
			       "%s names no setting: ignored", s->var);
			continue;
		}
		if (s->seen[ki]) {
			/* getenv() and the first stage take the first one */
			report(s, LDP_CONFIG_WARNING, 0, "set it once",
			       "%s is in the environment twice: the first one wins", s->var);
			continue;
		}
		s->seen[ki] = 1;
		if (root && names_a_place(keys[ki].kind)) {
			report(s, LDP_CONFIG_WARNING, 0,
			       "name it in root's config file, or use `ldprof run -o DIR`",
			       "%s is ignored when running as root", s->var);
			continue;
		}
		vb = eq + 1;
		ve = vb + strlen(vb);
		trim(&vb, &ve);
		if ((size_t)(ve - vb) >= LDP_CONFIG_STR) {
			char q[QUOTE_SIZE];
			report(s, LDP_CONFIG_ERROR, 0, "shorten it",
			       "%s = %s is longer than %d bytes", keys[ki].name,
			       quote_n(q, sizeof(q), vb, (size_t)(ve - vb)), LDP_CONFIG_STR - 1);
			continue;
		}
		memcpy(val, vb, (size_t)(ve - vb));
		val[ve - vb] = 0;
		set_value(s, &keys[ki], val, true);
	}
	if (!s->stop)
		cross_check(s);
	return s->errors;
}

/* ---- all of it ---- */

void ldp_config_defaults(struct ldp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->hz = 99;
	c->flush_ns = 10 * NS_S;
	snprintf(c->endpoint, sizeof(c->endpoint), "%s", LDP_CONFIG_DEFAULT_ENDPOINT);
	c->protocol = LDP_PROTO_PYROSCOPE;
	c->compression = LDP_COMP_GZIP;
	c->connect_timeout_ns = 2 * NS_S;
	c->timeout_ns = 10 * NS_S;
	c->exit_timeout_ns = 200 * NS_MS;
	c->start_after_cpu_ns = 20 * NS_MS; /* LDP_START_AFTER_DEFAULT, shim/select.h */
	c->retries = 5;
	c->backoff_ns = NS_S;
	c->backoff_max_ns = 60 * NS_S;
	c->queue_max_bytes = 8ull << 20;
	c->tls_verify = 1;
	snprintf(c->spool_dir, sizeof(c->spool_dir), "/var/lib/ldprof/spool");
	c->spool_max_bytes = 256ull << 20;
	c->log_level = 1;
	snprintf(c->agent_socket, sizeof(c->agent_socket), "%s", LDP_AGENT_SOCKET_DEFAULT);
	c->agent_cover = LDP_AGENT_COVER_REGISTERED;
	c->agent_symbol_memory = 1ull << 30;
	c->agent_symbol_memory_per_user = 256ull << 20;
	c->agent_profiles_per_user = 600;
	c->agent_rings = 1;
	c->agent_rings_per_user = 1000;
	c->agent_ring_memory = 4ull << 30;
	c->agent_ring_memory_per_user = 512ull << 20;
}

int ldp_config_load(struct ldp_config *c, char *const *envp, ldp_config_problem_fn fn, void *ctx)
{
	const char *path = NULL;
	int r, e;

	ldp_config_defaults(c);
	for (char *const *p = envp; p && *p; p++) {
		if (!strncmp(*p, "LDPROF_CONFIG=", 14)) {
			path = *p + 14; /* the first, as getenv() */
			break;
		}
	}
	/* named explicitly: must be there; the default file may be absent (an empty value
	 * counts as unset) */
	if (path && *path)
		r = ldp_config_load_file(c, path, 0, fn, ctx);
	else
		r = ldp_config_load_file(c, LDP_CONFIG_DEFAULT_PATH, 1, fn, ctx);
	/* the environment's problems are worth knowing even when the file failed */
	e = ldp_config_apply_env(c, envp, fn, ctx);
	if (r < 0)
		return r;
	if (e < 0)
		return e;
	return r + e;
}

const char *ldp_config_protocol_name(enum ldp_protocol p)
{
	return (unsigned)p < 3 ? proto_names[p] : "?";
}

const char *ldp_config_compression_name(enum ldp_compression c)
{
	return (unsigned)c < 3 ? comp_names[c] : "?";
}

const char *ldp_config_agent_cover_name(enum ldp_agent_cover c)
{
	return (unsigned)c < 2 ? cover_names[c] : "?";
}

/* "key = ", "key =" before an empty value, or "key=" when the spaces would push the line past
 * the 199 bytes a line of the file may have: what is printed must load back. */
static void put_key(FILE *out, const char *name, size_t vlen)
{
	fprintf(out, "%s%s", name, !vlen ? " =" : strlen(name) + 3 + vlen <= 199 ? " = " : "=");
}

void ldp_config_print(const struct ldp_config *c, FILE *out, int secrets)
{
	const char *sect = NULL;
	char buf[64];

	fputs("# ldprof configuration: the effective values (defaults, file, environment)\n", out);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const void *f = cfield(c, k);
		const char *v = buf;
		size_t n = 0;

		if (!sect || strcmp(sect, k->sect))
			fprintf(out, "\n[%s]\n", k->sect);
		sect = k->sect;
		switch (k->kind) {
		case K_INT:
			snprintf(buf, sizeof(buf), "%d", *(const int *)f);
			break;
		case K_DUR:
			fmt_duration(buf, sizeof(buf), *(const int64_t *)f);
			break;
		case K_SIZE:
			fmt_size(buf, sizeof(buf), *(const uint64_t *)f);
			break;
		case K_PROTO:
			v = ldp_config_protocol_name(c->protocol);
			break;
		case K_COMP:
			v = ldp_config_compression_name(c->compression);
			break;
		case K_LEVEL:
			v = (unsigned)c->log_level < 4 ? level_names[c->log_level] : "?";
			break;
		case K_COVER:
			v = ldp_config_agent_cover_name(c->agent_cover);
			break;
		case K_BOOL:
			v = *(const int *)f ? "true" : "false";
			break;
		case K_HEADER:
			/* values are secrets (tokens, tenant ids): names only, unless asked */
			if (!c->nheaders)
				fprintf(out, "# %s = (none)\n", k->name);
			for (int h = 0; h < c->nheaders && h < LDP_CONFIG_MAX_HEADERS; h++) {
				const char *colon = strchr(c->headers[h], ':');
				n = colon ? (size_t)(colon - c->headers[h]) : strnlen(c->headers[h], 255);
				if (secrets) {
					put_key(out, k->name, strnlen(c->headers[h], 255));
					fprintf(out, "%.255s\n", c->headers[h]);
					continue;
				}
				put_key(out, k->name, n + 5);
				fprintf(out, "%.*s: ***\n", (int)n, c->headers[h]);
			}
			continue;
		case K_LABELS:
			for (int l = 0; l < c->nlabels && l < LDP_CONFIG_MAX_LABELS; l++)
				n += (l > 0) + strnlen(c->labels[l].key, 63) + 1 +
				     strnlen(c->labels[l].value, 191);
			put_key(out, k->name, n);
			for (int l = 0; l < c->nlabels && l < LDP_CONFIG_MAX_LABELS; l++)
				fprintf(out, "%s%.63s=%.191s", l ? "," : "", c->labels[l].key,
					c->labels[l].value);
			fputc('\n', out);
			continue;
		default: /* strings; the token is never read here, token_file is its path */
			v = f;
			n = strnlen(v, k->size);
			put_key(out, k->name, n);
			fprintf(out, "%.*s\n", (int)n, v);
			continue;
		}
		put_key(out, k->name, strlen(v));
		fprintf(out, "%s\n", v);
	}
}
