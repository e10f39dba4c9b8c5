/* SPDX-License-Identifier: MIT
 *
 * test_config.c — the configuration module (common/config.c): defaults, the duration and size
 * parsers, every kind of broken INI line (with the line it is reported on), the environment,
 * ldp_config_load(), the print → load round trip, and hostile input (truncations, every byte,
 * a flood of bad lines).
 * Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

#include "check.h"

#define MAXP 64

/* Every problem reported, copied (the strings live only for the call). */
struct problems {
	int n, errors, warnings;
	struct {
		int sev;
		char where[256], what[700], hint[400];
	} p[MAXP];
};

static void collect(void *ctx, const struct ldp_config_problem *p)
{
	struct problems *ps = ctx;

	if (p->severity == LDP_CONFIG_ERROR)
		ps->errors++;
	else
		ps->warnings++;
	if (ps->n < MAXP) {
		ps->p[ps->n].sev = p->severity;
		snprintf(ps->p[ps->n].where, sizeof(ps->p[0].where), "%s", p->where ? p->where : "(null)");
		snprintf(ps->p[ps->n].what, sizeof(ps->p[0].what), "%s", p->what ? p->what : "(null)");
		snprintf(ps->p[ps->n].hint, sizeof(ps->p[0].hint), "%s", p->hint ? p->hint : "");
	}
	ps->n++;
}

static void dump(const struct problems *ps)
{
	for (int i = 0; i < ps->n && i < MAXP; i++)
		printf("     %s: %s: %s (hint: %s)\n", ps->p[i].where,
		       ps->p[i].sev == LDP_CONFIG_ERROR ? "error" : "warning", ps->p[i].what,
		       ps->p[i].hint);
}

/* Is there a problem at WHERE whose text holds TEXT? */
static bool has(const struct problems *ps, const char *where, const char *text)
{
	for (int i = 0; i < ps->n && i < MAXP; i++)
		if (!strcmp(ps->p[i].where, where) &&
		    (strstr(ps->p[i].what, text) || strstr(ps->p[i].hint, text)))
			return true;
	return false;
}

static int load(struct ldp_config *c, const char *text, size_t len, struct problems *ps)
{
	memset(ps, 0, sizeof(*ps));
	ldp_config_defaults(c);
	return ldp_config_load_buffer(c, "t.ini", text, len, collect, ps);
}

static int loads(struct ldp_config *c, const char *text, struct problems *ps)
{
	return load(c, text, strlen(text), ps);
}

/* ---- the checks ---- */

static void test_defaults(struct ldp_config *c)
{
	ldp_config_defaults(c);
	CHECK(c->hz == 99 && c->flush_ns == 10000000000ll, "sampling defaults");
	CHECK(!strcmp(c->endpoint, LDP_CONFIG_DEFAULT_ENDPOINT), "endpoint %s", c->endpoint);
	CHECK(c->protocol == LDP_PROTO_PYROSCOPE && c->compression == LDP_COMP_GZIP, "enums");
	CHECK(c->connect_timeout_ns == 2000000000ll && c->timeout_ns == 10000000000ll &&
	      c->exit_timeout_ns == 200000000ll, "timeouts");
	CHECK(c->retries == 5 && c->backoff_ns == 1000000000ll && c->backoff_max_ns == 60000000000ll,
	      "retries");
	CHECK(c->queue_max_bytes == 8u << 20 && c->spool_max_bytes == 256u << 20, "sizes");
	CHECK(c->tls_verify == 1 && !c->tls_ca_file[0] && !c->token_file[0] && !c->nheaders, "tls");
	CHECK(!strcmp(c->spool_dir, "/var/lib/ldprof/spool") && c->log_level == 1 && !c->log_file[0],
	      "spool, log");
	CHECK(!strcmp(c->agent_socket, LDP_AGENT_SOCKET_DEFAULT) &&
	      c->agent_cover == LDP_AGENT_COVER_REGISTERED, "agent");
	CHECK(c->agent_rings == 1 && c->agent_rings_per_user == 1000, "[agent] rings on by default");
	CHECK(!strcmp(ldp_config_protocol_name(LDP_PROTO_PARCA), "parca") &&
	      !strcmp(ldp_config_compression_name(LDP_COMP_ZSTD), "zstd"), "names");
}

static void test_durations(void)
{
	static const struct {
		const char *s;
		int r;
		int64_t ns;
	} cases[] = {
		{ "10s", 0, 10000000000ll }, { "500ms", 0, 500000000 }, { "2m", 0, 120000000000ll },
		{ "1h", 0, 3600000000000ll }, { "10", 0, 10000000000ll }, { "1.5s", 0, 1500000000 },
		{ "0.1", 0, 100000000 }, { "0", 0, 0 }, { "0ms", 0, 0 }, { "1.0000000001s", 0, 1000000000 },
		{ "0.25h", 0, 900000000000ll }, { "1.5ms", 0, 1500000 },
		{ "", -EINVAL, 0 }, { "s", -EINVAL, 0 }, { "10x", -EINVAL, 0 }, { "-1s", -EINVAL, 0 },
		{ "1.s", -EINVAL, 0 }, { ".5s", -EINVAL, 0 }, { "1e3", -EINVAL, 0 }, { "10 s", -EINVAL, 0 },
		{ "10S", -EINVAL, 0 }, { "1min", -EINVAL, 0 }, { "10us", -EINVAL, 0 }, { "+1s", -EINVAL, 0 },
		{ "25h", -ERANGE, 0 }, { "99999999999999999999999h", -ERANGE, 0 },
		{ "9223372036854775807s", -ERANGE, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -1;
		int r = ldp_config_parse_duration(cases[i].s, 0, 24 * 3600000000000ll, &v);
		CHECK(r == cases[i].r && (r < 0 || v == cases[i].ns), "duration \"%s\" -> %d %lld",
		      cases[i].s, r, (long long)v);
	}
	int64_t v = 7;
	CHECK(ldp_config_parse_duration("50ms", 100000000, 1000000000, &v) == -ERANGE && v == 7,
	      "below the minimum, nothing written");
}

static void test_sizes(void)
{
	static const struct {
		const char *s;
		int r;
		uint64_t v;
	} cases[] = {
		{ "8M", 0, 8u << 20 }, { "256MiB", 0, 256u << 20 }, { "1G", 0, 1u << 30 },
		{ "4096", 0, 4096 }, { "0", 0, 0 }, { "1T", 0, 1ull << 40 }, { "64K", 0, 65536 },
		{ "2TiB", 0, 2ull << 40 }, { "16777215T", 0, 16777215ull << 40 },
		{ "-1", -EINVAL, 0 }, { "1.5M", -EINVAL, 0 }, { "8MB", -EINVAL, 0 }, { "M", -EINVAL, 0 },
		{ "", -EINVAL, 0 }, { " 8M", -EINVAL, 0 }, { "8m", -EINVAL, 0 }, { "8 M", -EINVAL, 0 },
		{ "18446744073709551616", -ERANGE, 0 }, { "16777216T", -ERANGE, 0 },
		{ "999999999999999999999999999999999999999999", -ERANGE, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 1;
		int r = ldp_config_parse_size(cases[i].s, 0, UINT64_MAX, &v);
		CHECK(r == cases[i].r && (r < 0 || v == cases[i].v), "size \"%s\" -> %d %llu",
		      cases[i].s, r, (unsigned long long)v);
	}
}

static const char FULL[] =
	"; a full configuration\n"
	"[sampling]\n"
	"hz = 250\n"
	"flush_interval = 1.5s\n"
	"[output]\n"
	"endpoint = https://pyroscope.example:4040/base\n"
	"protocol = parca\n"
	"compression = zstd\n"
	"connect_timeout = 500ms\n"
	"timeout = 2m\n"
	"exit_timeout = 0\n"
	"retries = 0\n"
	"backoff = 10ms\n"
	"backoff_max = 24h\n"
	"queue_max_bytes = 64KiB\n"
	"token_file = /etc/ldprof/token\n"
	"header = X-Scope-OrgID: tenant1\n"
	"header = Authorization:Basic abc ; the value after ':'\n"
	"[tls]\n"
	"verify = off\n"
	"ca_file = /etc/ssl/ca.pem\n"
	"cert_file = /etc/ldprof/client.pem\n"
	"key_file = /etc/ldprof/client.key\n"
	"[service]\n"
	"name = billing-api\n"
	"labels = env=prod, region = eu-west-1,team=payments\n"
	"[spool]\n"
	"dir = /var/spool/ldprof\n"
	"max_bytes = 0\n"
	"[log]\n"
	"level = debug\n"
	"file = syslog\n"
	"[select]\n"
	"include_exe = /usr/bin/*,/opt/*/bin/*\n"
	"exclude_exe = *python*\n"
	"include_comm = java\n"
	"exclude_comm = sh,bash\n"
	"include_user = www-data\n"
	"exclude_user = root\n"
	"include_cgroup = /system.slice/*\n"
	"exclude_cgroup = /user.slice/*\n"
	"include_seccomp = yes\n"
	"[agent]\n"
	"socket = /run/ldprof-test/agent.sock\n"
	"cover = static\n";

static void test_full(struct ldp_config *c)
{
	struct problems ps;
	int r = loads(c, FULL, &ps);

	dump(&ps);
	CHECK(r == 0 && ps.n == 0, "full file: %d errors, %d problems", r, ps.n);
	CHECK(c->hz == 250 && c->flush_ns == 1500000000, "sampling");
	CHECK(!strcmp(c->endpoint, "https://pyroscope.example:4040/base"), "endpoint");
	CHECK(c->protocol == LDP_PROTO_PARCA && c->compression == LDP_COMP_ZSTD, "enums");
	CHECK(c->connect_timeout_ns == 500000000 && c->timeout_ns == 120000000000ll &&
	      c->exit_timeout_ns == 0 && c->retries == 0 && c->backoff_ns == 10000000 &&
	      c->backoff_max_ns == 86400000000000ll && c->queue_max_bytes == 65536, "numbers");
	CHECK(!strcmp(c->token_file, "/etc/ldprof/token"), "token_file");
	CHECK(c->nheaders == 2 && !strcmp(c->headers[0], "X-Scope-OrgID: tenant1") &&
	      !strcmp(c->headers[1], "Authorization: Basic abc"), "headers \"%s\" \"%s\"",
	      c->headers[0], c->headers[1]);
	CHECK(c->tls_verify == 0 && !strcmp(c->tls_ca_file, "/etc/ssl/ca.pem") &&
	      !strcmp(c->tls_key_file, "/etc/ldprof/client.key"), "tls");
	CHECK(!strcmp(c->service_name, "billing-api") && c->nlabels == 3 &&
	      !strcmp(c->labels[1].key, "region") && !strcmp(c->labels[1].value, "eu-west-1") &&
	      !strcmp(c->labels[2].value, "payments"), "service");
	CHECK(!strcmp(c->spool_dir, "/var/spool/ldprof") && c->spool_max_bytes == 0, "spool");
	CHECK(c->log_level == 3 && !strcmp(c->log_file, "syslog"), "log");
	CHECK(!strcmp(c->include_exe, "/usr/bin/*,/opt/*/bin/*") && !strcmp(c->exclude_comm, "sh,bash") &&
	      !strcmp(c->exclude_cgroup, "/user.slice/*") && c->include_seccomp == 1, "select");
	CHECK(!strcmp(c->agent_socket, "/run/ldprof-test/agent.sock") &&
	      c->agent_cover == LDP_AGENT_COVER_STATIC, "agent");
}

/* Loads text; expects `errors` errors and a problem at t.ini:LINE mentioning text. */
static void expect_n(struct ldp_config *c, const char *name, const char *text, size_t len,
		     int errors, int line, const char *what)
{
	struct problems ps;
	char where[64];
	int r = load(c, text, len, &ps);

	snprintf(where, sizeof(where), line ? "t.ini:%d" : "t.ini", line);
	if (r != errors || (what && !has(&ps, where, what)))
		dump(&ps);
	CHECK(r == errors && ps.errors == errors, "%s: %d errors (want %d)", name, r, errors);
	if (what)
		CHECK(has(&ps, where, what), "%s: %s mentions \"%s\"", name, where, what);
}

static void expect(struct ldp_config *c, const char *name, const char *text, int errors,
		   int line, const char *what)
{
	expect_n(c, name, text, strlen(text), errors, line, what);
}

static void test_broken(struct ldp_config *c)
{
	static const char nul[] = "[sampling]\nhz = 1\0x\nhz = 2\n";
	char line[512];

	expect(c, "empty", "", 0, 0, NULL);
	expect(c, "comments only", "# a\n; b\n   ; c\n\n", 0, 0, NULL);
	expect(c, "BOM", "\xef\xbb\xbf[sampling]\nhz = 7\n", 0, 0, NULL);
	CHECK(c->hz == 7, "BOM file applied");
	expect(c, "CRLF", "[sampling]\r\nhz = 8\r\n", 0, 0, NULL);
	CHECK(c->hz == 8, "CRLF file applied");
	expect(c, "no newline at the end", "[sampling]\nhz = 9", 0, 0, NULL);
	CHECK(c->hz == 9, "last line applied");
	expect(c, "inline comment", "[sampling]\nhz = 10 ; ten\n", 0, 0, NULL);
	CHECK(c->hz == 10, "inline comment stripped");
	expect(c, "key before any section", "\nhz = 5\n[sampling]\n", 1, 2, "put it under [sampling]");
	expect(c, "unknown section", "[sampling]\n[outptu]\nendpoint = x\nfoo = 1\n", 1, 2,
	       "did you mean [output]?");
	expect(c, "section with spaces", "[ output ]\n", 1, 1, "without spaces");
	expect(c, "unknown key", "[output]\nendpiont = http://x\n", 1, 2, "did you mean \"endpoint\"?");
	expect(c, "key in the wrong section", "[output]\nhz = 5\n", 1, 2, "hz belongs in [sampling]");
	expect(c, "upper-case key", "[sampling]\nHZ = 5\n", 1, 2, "did you mean \"hz\"?");
	expect(c, "hz = abc", "[sampling]\nhz = abc\n", 1, 2, "is not a whole number");
	expect(c, "hz = 0", "[sampling]\nhz = 0\n", 1, 2, "from 1 to 1000");
	expect(c, "hz = 5000", "[sampling]\nhz = 5000\n", 1, 2, "out of range");
	CHECK(c->hz == 99, "refused value leaves the default");
	expect(c, "flush_interval = 10x", "[sampling]\n\nflush_interval = 10x\n", 1, 3,
	       "write a number with ms, s, m or h, from 100ms to 24h");
	expect(c, "flush_interval = 50ms", "[sampling]\nflush_interval = 50ms\n", 1, 2, "out of range");
	expect(c, "max_bytes = -1", "[spool]\nmax_bytes = -1\n", 1, 2, "is not a size");
	expect(c, "queue too small", "[output]\nqueue_max_bytes = 1K\n", 1, 2, "from 64K to 1G");
	expect(c, "protocol = grpc", "[output]\nprotocol = grpc\n", 1, 2, "pyroscope, parca or pprof");
	expect(c, "ftp endpoint", "[output]\nendpoint = ftp://x/y\n", 1, 2, "file://, http:// or https://");
	expect(c, "empty endpoint", "[output]\nendpoint =\n", 1, 2, "is empty");
	expect(c, "relative file endpoint", "[output]\nendpoint = file://profiles\n", 1, 2,
	       "absolute");
	expect(c, "http without host", "[output]\nendpoint = http:///x\n", 1, 2, "has no host");
	expect(c, "endpoint with a space", "[output]\nendpoint = http://a b\n", 1, 2, "space");
	expect(c, "unterminated section", "[output\nendpoint = ftp://x\n", 1, 1, "no closing ']'");
	expect(c, "section cut by a comment", "[output ;x]\n", 1, 1, "no closing ']'");
	expect(c, "text after a section", "[output] x\n", 1, 1, "after the section header");
	expect(c, "comment after a section", "[output] ; x\n", 0, 0, NULL);
	expect(c, "not a key = value", "[output]\nendpoint\n", 1, 2, "cannot parse");
	expect(c, "no key", "[output]\n= 5\n", 1, 2, "no key");
	expect(c, "indented line", "[sampling]\nhz = 5\n  flush_interval = 1s\n", 1, 3,
	       "continue the value of hz");
	expect(c, "first key indented", "[sampling]\n  hz = 5\n", 0, 0, NULL);
	CHECK(c->hz == 5, "an indented first key is still a key");
	expect(c, "duplicate key", "[sampling]\nhz = 5\nhz = 6\n", 0, 3, "first on line 2");
	CHECK(c->hz == 6, "the later value wins");
	expect(c, "labels: empty entry", "[service]\nlabels = a=1,,b=2\n", 1, 2, "empty entry");
	expect(c, "labels: trailing comma", "[service]\nlabels = a=1,\n", 1, 2, "empty entry");
	expect(c, "labels: no =", "[service]\nlabels = a=1,b\n", 1, 2, "without '='");
	expect(c, "labels: bad key", "[service]\nlabels = 1a=1\n", 1, 2, "label key");
	expect(c, "labels: bad value", "[service]\nlabels = a={x}\n", 1, 2, "label \"a\"");
	expect(c, "labels: twice", "[service]\nlabels = a=1,a=2\n", 1, 2, "twice");
	expect(c, "labels: empty value", "[service]\nlabels = a=\n", 1, 2, "empty value");
	CHECK(c->nlabels == 0, "refused labels are not applied");
	expect(c, "name with a brace", "[service]\nname = a{b}\n", 1, 2, "{ } , =");
	expect(c, "name not UTF-8", "[service]\nname = a\xff\n", 1, 2, "UTF-8");
	expect(c, "UTF-8 name", "[service]\nname = caf\xc3\xa9\n", 0, 0, NULL);
	expect(c, "header without colon", "[output]\nheader = Authorization\n", 1, 2, "no ':'");
	expect(c, "header bad name", "[output]\nheader = a b: c\n", 1, 2, "HTTP token");
	expect(c, "bool", "[tls]\nverify = maybe\n", 1, 2, "true or false");
	expect(c, "relative ca_file", "[tls]\nca_file = ca.pem\n", 1, 2, "absolute");
	expect(c, "key without cert", "[tls]\nkey_file = /k.pem\n", 1, 2, "cert_file");
	expect(c, "backoff_max < backoff", "[output]\nbackoff = 10s\nbackoff_max = 5s\n", 1, 3,
	       "shorter than backoff");
	expect(c, "log level", "[log]\nlevel = verbose\n", 1, 2, "error, warn, info or debug");
	expect(c, "log file relative", "[log]\nfile = ldprof.log\n", 1, 2, "syslog");
	expect(c, "spool dir empty", "[spool]\ndir =\n", 1, 2, "is empty");
	expect(c, "globs: empty entry", "[select]\ninclude_exe = /bin/*,\n", 1, 2, "empty entry");
	expect(c, "agent socket relative", "[agent]\nsocket = agent.sock\n", 1, 2, "absolute");
	expect(c, "agent socket empty", "[agent]\nsocket =\n", 0, 0, NULL);
	CHECK(!c->agent_socket[0], "an empty socket is kept: never ask the agent");
	expect(c, "agent cover", "[agent]\ncover = all\n", 1, 2, "registered or static");
	/* a sockaddr_un holds 107 bytes and the NUL */
	memset(line, 0, sizeof(line));
	snprintf(line, sizeof(line), "[agent]\nsocket = /");
	memset(line + strlen(line), 's', 106);
	expect(c, "agent socket of 107 bytes", line, 0, 0, NULL);
	CHECK(strlen(c->agent_socket) == 107, "107-byte socket path kept");
	strcat(line, "s");
	expect(c, "agent socket of 108 bytes", line, 1, 2, "longer than 107 bytes");
	CHECK(!strcmp(c->agent_socket, LDP_AGENT_SOCKET_DEFAULT), "too long: not applied");
	expect_n(c, "NUL byte", nul, sizeof(nul) - 1, 1, 2, "NUL");
	CHECK(c->hz == 2, "the line after a NUL is read");

	/* 199 bytes fit inih's buffer; 200 do not */
	memset(line, 0, sizeof(line));
	snprintf(line, sizeof(line), "[service]\nname = ");
	memset(line + strlen(line), 'x', 199 - 7);
	strcat(line, "\nlabels = a=1\n");
	expect(c, "199-byte line", line, 0, 0, NULL);
	CHECK(strlen(c->service_name) == 192 && c->nlabels == 1, "199-byte line read whole");
	snprintf(line, sizeof(line), "[service]\nname = ");
	memset(line + strlen(line), 'x', 200 - 7);
	strcat(line, "\nlabels = a=1\n");
	expect(c, "200-byte line", line, 1, 2, "longer than 199 bytes");
	CHECK(c->service_name[0] == 0 && c->nlabels == 1, "long line skipped whole, next line read");
}

static void test_too_many(struct ldp_config *c)
{
	size_t n = 1000 * 8;
	char *buf = malloc(n + 1);
	struct problems ps;
	int r;

	for (size_t i = 0; i < 1000; i++)
		memcpy(buf + i * 8, "garbage\n", 8);
	buf[n] = 0;
	r = load(c, buf, n, &ps);
	CHECK(r == 51 && ps.n == 51 && strstr(ps.p[50].what, "more than 50"),
	      "1000 bad lines: %d errors, %d problems reported", r, ps.n);
	free(buf);
}

static void test_env(struct ldp_config *c)
{
	struct problems ps;
	char *env1[] = { "PATH=/bin", "LDPROF_OUTPUT_ENDPOINT=http://127.0.0.1:4040",
			 "LDPROF_OUTPUT_PROTOCOL= pprof ", "LDPROF_SAMPLING_FLUSH_INTERVAL=2s",
			 "LDPROF_SELECT_EXCLUDE_EXE=*sh", "LDPROF_TLS_CA_FILE=/ca.pem",
			 "LDPROF_SERVICE_LABELS=a=1,b=2", "LDPROF_LOG_FILE=/tmp/x.log",
			 "LDPROF_CONFIG=/nonexistent", "LDPROF_DISABLED=1", "LDPROF_OUTPUT_HEADER=X-A: b",
			 "LDPROF_SAMPLING_HZ=123", "LDPROF_SAMPLING_HZ=7", "LDPROF_OUTPUT_ENDPIONT=x",
			 "LDPROF_NOPE", "LDPROF_AGENT_SOCKET=", "LDPROF_AGENT_COVER=static", NULL };
	char *env2[] = { "LDPROF_SAMPLING_HZ=abc", "LDPROF_OUTPUT_BACKOFF=2h",
			 "LDPROF_TLS_KEY_FILE=/k", "LDPROF_OUTPUT_HEADER=a: b\r\nX-Evil: 1", NULL };
	int r;

	memset(&ps, 0, sizeof(ps));
	ldp_config_defaults(c);
	c->nheaders = 2;
	snprintf(c->headers[0], sizeof(c->headers[0]), "X-Old: 1");
	snprintf(c->headers[1], sizeof(c->headers[1]), "X-Old: 2");
	r = ldp_config_apply_env(c, env1, collect, &ps);
	dump(&ps);
	CHECK(r == 0 && ps.errors == 0, "valid environment: %d errors", r);
	CHECK(!strcmp(c->endpoint, "http://127.0.0.1:4040") && c->protocol == LDP_PROTO_PPROF &&
	      c->flush_ns == 2000000000 && !strcmp(c->exclude_exe, "*sh") &&
	      !strcmp(c->tls_ca_file, "/ca.pem") && c->nlabels == 2 &&
	      !strcmp(c->log_file, "/tmp/x.log"), "values applied (trimmed)");
	CHECK(c->nheaders == 1 && !strcmp(c->headers[0], "X-A: b"), "LDPROF_OUTPUT_HEADER replaces");
	CHECK(!c->agent_socket[0] && c->agent_cover == LDP_AGENT_COVER_STATIC,
	      "LDPROF_AGENT_SOCKET (empty: never ask) and LDPROF_AGENT_COVER");
	CHECK(c->hz == 123 && has(&ps, "LDPROF_SAMPLING_HZ", "first one wins"),
	      "a duplicate variable: the first wins, as getenv()");
	CHECK(ps.warnings == 2 && has(&ps, "LDPROF_OUTPUT_ENDPIONT", "LDPROF_OUTPUT_ENDPOINT"),
	      "an unknown variable is a warning with a suggestion");

	memset(&ps, 0, sizeof(ps));
	ldp_config_defaults(c);
	r = ldp_config_apply_env(c, env2, collect, &ps);
	dump(&ps);
	CHECK(r == 4 && has(&ps, "LDPROF_SAMPLING_HZ", "hz = \"abc\"") &&
	      has(&ps, "LDPROF_OUTPUT_BACKOFF", "out of range") &&
	      has(&ps, "LDPROF_TLS_KEY_FILE", "cert_file") &&
	      has(&ps, "LDPROF_OUTPUT_HEADER", "control character"), "bad environment: %d errors", r);
	CHECK(c->hz == 99 && c->nheaders == 0, "refused values not applied");
}

/* A root process takes from its environment how to profile, never where to write, what to
 * read or send, whom to talk to, or which headers to send (issue 18, finding 8). */
static void test_env_root(struct ldp_config *c)
{
	struct problems ps;
	char *env[] = { "LDPROF_OUTPUT_ENDPOINT=http://127.0.0.1:4040", "LDPROF_LOG_FILE=/tmp/x.log",
			"LDPROF_SPOOL_DIR=/tmp/spool", "LDPROF_AGENT_SOCKET=/tmp/a.sock",
			"LDPROF_OUTPUT_TOKEN_FILE=/etc/shadow", "LDPROF_TLS_CA_FILE=/ca.pem",
			"LDPROF_TLS_CERT_FILE=/c.pem", "LDPROF_TLS_KEY_FILE=/k.pem",
			"LDPROF_OUTPUT_HEADER=X-Scope-OrgID: other", "LDPROF_SAMPLING_HZ=123",
			"LDPROF_SERVICE_NAME=web", "LDPROF_LOG_LEVEL=debug", NULL };
	int r, ignored = 0;

	memset(&ps, 0, sizeof(ps));
	ldp_config_defaults(c);
	r = ldp_config_apply_env(c, env, collect, &ps);
	dump(&ps);
	for (int i = 0; i < ps.n && i < MAXP; i++)
		ignored += ps.p[i].sev == LDP_CONFIG_WARNING &&
			   strstr(ps.p[i].what, "is ignored when running as root") != NULL;
	CHECK(r == 0 && ignored == 9 && ps.n == 9, "9 places ignored, each said: %d of %d", ignored, ps.n);
	CHECK(!strcmp(c->endpoint, LDP_CONFIG_DEFAULT_ENDPOINT) && !c->log_file[0] &&
	      !strcmp(c->spool_dir, "/var/lib/ldprof/spool") &&
	      !strcmp(c->agent_socket, LDP_AGENT_SOCKET_DEFAULT) && !c->token_file[0] &&
	      !c->tls_ca_file[0] && !c->tls_cert_file[0] && !c->tls_key_file[0] && !c->nheaders,
	      "root: no place taken from the environment");
	CHECK(c->hz == 123 && !strcmp(c->service_name, "web") && c->log_level == 3,
	      "root: how to profile still is");
}

/* test_env as an unprivileged user: a child process that drops to nobody. */
static void test_env_as_nobody(struct ldp_config *c)
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		test_env(c);
		fflush(stdout);
		_exit(failed ? 1 : 0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "test_env as nobody: status %#x", status);
}

static int write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void test_load(struct ldp_config *c)
{
	char path[] = "/tmp/ldprof-test-config-XXXXXX", var[128], big[] = "/tmp/ldprof-test-big-XXXXXX";
	struct problems ps;
	int r, fd;

	if (write_tmp(path, "[sampling]\nhz = 300\n[output]\nendpoint = file:///tmp/p\n") < 0) {
		CHECK(0, "cannot write a temporary file");
		return;
	}
	snprintf(var, sizeof(var), "LDPROF_CONFIG=%s", path);
	{
		char *envp[] = { var, "LDPROF_SAMPLING_HZ=400", NULL };
		memset(&ps, 0, sizeof(ps));
		r = ldp_config_load(c, envp, collect, &ps);
		dump(&ps);
		CHECK(r == 0 && c->hz == 400 && !strcmp(c->endpoint, "file:///tmp/p"),
		      "LDPROF_CONFIG file, then the environment on top");
	}
	{
		char *envp[] = { "LDPROF_CONFIG=/nonexistent/ldprof.ini", "LDPROF_SAMPLING_HZ=x", NULL };
		memset(&ps, 0, sizeof(ps));
		r = ldp_config_load(c, envp, collect, &ps);
		CHECK(r == -ENOENT && has(&ps, "/nonexistent/ldprof.ini", "cannot read") &&
		      has(&ps, "LDPROF_SAMPLING_HZ", "whole number"),
		      "a missing LDPROF_CONFIG file is an error; the environment is still checked");
	}
	memset(&ps, 0, sizeof(ps));
	r = ldp_config_load_file(c, "/nonexistent/ldprof.ini", 1, collect, &ps);
	CHECK(r == 0 && ps.n == 0, "a missing default file is fine");
	memset(&ps, 0, sizeof(ps));
	r = ldp_config_load_file(c, "/tmp", 0, collect, &ps);
	CHECK(r == -EINVAL && has(&ps, "/tmp", "not a regular file"), "a folder is refused");
	fd = mkstemp(big);
	if (fd >= 0) {
		CHECK(ftruncate(fd, (1 << 20) + 1) == 0, "1 MiB + 1 file");
		close(fd);
		memset(&ps, 0, sizeof(ps));
		r = ldp_config_load_file(c, big, 0, collect, &ps);
		CHECK(r == -EFBIG && has(&ps, big, "larger than 1 MiB"), "a file over 1 MiB is refused");
		unlink(big);
	}
	unlink(path);
}

/* print → load gives the same configuration: all of it with secrets (what `ldprof run` writes
 * for a root CMD), headers masked without */
static void test_round_trip(struct ldp_config *a, struct ldp_config *b, const char *text)
{
	struct problems ps;
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	loads(a, text, &ps);
	f = open_memstream(&out, &len);
	ldp_config_print(a, f, 1);
	fclose(f);
	r = load(b, out, len, &ps);
	dump(&ps);
	CHECK(r == 0 && ps.n == 0 && !memcmp(a, b, sizeof(*a)), "round trip with secrets of %zu bytes", len);
	if (memcmp(a, b, sizeof(*a)))
		printf("%s", out);
	free(out);
	out = NULL;

	f = open_memstream(&out, &len);
	ldp_config_print(a, f, 0);
	fclose(f);
	for (int i = 0; i < a->nheaders; i++) {
		char *colon = strchr(a->headers[i], ':');
		size_t n = (size_t)(colon - a->headers[i]);
		memset(colon, 0, sizeof(a->headers[0]) - n);
		memcpy(colon, ": ***", 5);
	}
	r = load(b, out, len, &ps);
	dump(&ps);
	CHECK(r == 0 && ps.n == 0 && !memcmp(a, b, sizeof(*a)), "round trip of %zu bytes", len);
	if (memcmp(a, b, sizeof(*a)))
		printf("%s", out);
	free(out);
}

/* every prefix of a valid file, and every byte value in a value: no crash, sane counts */
static void test_hostile(struct ldp_config *c)
{
	struct problems ps;
	size_t n = strlen(FULL);
	char *buf = malloc(n);
	int bad = 0;

	for (size_t i = 0; i <= n; i++) {
		memcpy(buf, FULL, i); /* exactly i bytes: ASan catches a read past them */
		int r = load(c, buf, i, &ps);
		if (r < 0 || r != ps.errors || ps.n > 51)
			bad++;
	}
	CHECK(bad == 0, "every truncation of the full file: %d bad results", bad);
	free(buf);
	for (int ch = 0; ch < 256; ch++) {
		char text[64];
		int len = snprintf(text, sizeof(text), "[service]\nname = a%cb\nlabels = k=%cv\n", ch, ch);
		int r = load(c, text, (size_t)len, &ps);
		if (r < 0 || ps.n > 51 || (ch >= 'a' && ch <= 'z' && r))
			bad++;
	}
	CHECK(bad == 0, "every byte in a value: %d bad results", bad);
}

int main(void)
{
	/* ~30 KiB each: not on the stack */
	struct ldp_config *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	test_defaults(a);
	test_durations();
	test_sizes();
	test_full(a);
	test_broken(a);
	test_too_many(a);
	if (geteuid() == 0) {
		test_env_root(a);
		test_env_as_nobody(a);
	} else {
		printf("note: not root, so the root rules for the environment are not checked here\n");
		test_env(a);
	}
	test_load(a);
	test_hostile(a);
	test_round_trip(a, b, FULL);
	test_round_trip(a, b, "");
	test_round_trip(a, b, "[sampling]\nflush_interval = 1.000000001\n[output]\nexit_timeout = 1.5ms\n"
			      "queue_max_bytes = 65537\n[spool]\nmax_bytes = 3T\n");
	free(a);
	free(b);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
