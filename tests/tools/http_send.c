/* SPDX-License-Identifier: MIT
 *
 * http_send.c — test driver: one ldp_http_send() of a pprof file, as the shim would make it.
 *
 * Usage: http_send [OPTIONS] ENDPOINT PROTOCOL COMPRESSION PPROF_FILE [LABEL=VALUE...]
 *   PROTOCOL pyroscope|parca|pprof, COMPRESSION gzip|zstd|none; PPROF_FILE raw or gzip.
 *   --ca FILE, --cert FILE, --key FILE, --no-verify   [tls]
 *   --token-file F, --header "Name: value" (repeatable), --timeout-ms N (default 10000)
 *   --window FROM_NS,UNTIL_NS (default: the last 10 s), --hz N (default 99)
 *   --at-exit       send a second time from an atexit() handler registered before the first
 *                   send, as the shim's exit flush is (OpenSSL's own atexit cleanup, if it
 *                   registered one, has run by then)
 *   --own-tls       initialize OpenSSL before ldprof does, as a program using TLS itself would
 * http_send --write-pprof FILE: writes a small CPU profile made by ldprof's pprof writer
 * (gzip, as the shim writes them) for the tests to send, and exits.
 * Prints "rc=N status=S safe_at_exit=B message=..." per send. Exit status: 0 delivered,
 * 2 retryable, 3 rejected, 4 no libcurl, 5 a SIGPIPE was left pending, 1 anything else.
 * Every signal is blocked, as on the shim's background thread. Not run by `make check` itself:
 * tests/test_http_receiver.py drives it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "config.h"
#include "fileio.h"
#include "http.h"
#include "pprof.h"
#include "shipment.h"

static struct ldp_config cfg;
static struct ldp_shipment ship;
static int64_t timeout_ns = 10000000000ll;

static int send_once(void)
{
	struct ldp_http_result res;
	sigset_t pending;
	int r;

	r = ldp_http_send(&cfg, &ship, timeout_ns, NULL, &res);
	printf("rc=%d status=%ld safe_at_exit=%d message=%s\n", r, res.status,
	       ldp_http_safe_at_exit(), res.message);
	fflush(stdout);
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
		return 5;
	return r == 0 ? 0 : r == -EAGAIN ? 2 : r == -EPERM ? 3 : r == -ENOSYS ? 4 : 1;
}

static int first_status;

static void at_exit(void)
{
	int st = send_once();

	_exit(first_status ? first_status : st);
}

static int usage(void)
{
	fprintf(stderr, "usage: http_send [--ca F] [--cert F] [--key F] [--no-verify] "
			"[--token-file F] [--header H] [--timeout-ms N] [--window FROM,UNTIL] "
			"[--hz N] [--at-exit] [--own-tls] ENDPOINT PROTOCOL COMPRESSION PPROF "
			"[K=V...]\n");
	return 1;
}

/* Two stacks in a main executable and libc, one unsymbolized frame, a thread label. */
static int write_pprof(const char *path)
{
	const int64_t period = 10101010, t0 = 1700000000000000000ll;
	struct ldp_pprof_label lab = { "thread", "main" };
	struct ldp_pprof *p = ldp_pprof_new(period, t0, 10000000000ll);
	int64_t m1, m2, l[4];
	uint64_t s1[3], s2[3];
	uint8_t *buf = NULL;
	size_t len;
	FILE *f;
	int ok;

	if (!p)
		return 1;
	m1 = ldp_pprof_add_mapping(p, 0x400000, 0x500000, 0, "/usr/bin/demo", "0123456789abcdef");
	m2 = ldp_pprof_add_mapping(p, 0x7f0000000000, 0x7f0000100000, 0x1000,
				   "/lib/x86_64-linux-gnu/libc.so.6", NULL);
	l[0] = ldp_pprof_add_location(p, (uint64_t)m1, 0x401000, "main");
	l[1] = ldp_pprof_add_location(p, (uint64_t)m1, 0x402000, "hot_loop");
	l[2] = ldp_pprof_add_location(p, (uint64_t)m2, 0x7f0000001234, "memcpy");
	l[3] = ldp_pprof_add_location(p, (uint64_t)m1, 0x403000, NULL);
	s1[0] = (uint64_t)l[2], s1[1] = (uint64_t)l[1], s1[2] = (uint64_t)l[0];
	s2[0] = (uint64_t)l[3], s2[1] = (uint64_t)l[1], s2[2] = (uint64_t)l[0];
	ok = m1 > 0 && m2 > 0 && l[0] > 0 && l[1] > 0 && l[2] > 0 && l[3] > 0 &&
	     ldp_pprof_add_sample(p, s1, 3, 70, &lab, 1) == 0 &&
	     ldp_pprof_add_sample(p, s2, 3, 30, &lab, 1) == 0 &&
	     ldp_pprof_serialize(p, &buf, &len) == 0;
	ldp_pprof_free(p);
	f = ok ? fopen(path, "we") : NULL;
	ok = f && fwrite(buf, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	free(buf);
	return ok ? 0 : 1;
}

static void set(char *dst, size_t len, const char *v)
{
	snprintf(dst, len, "%s", v);
}

int main(int argc, char **argv)
{
	long long from_ns = 0, until_ns = 0;
	int i, at_exit_too = 0, own_tls = 0, hz = 99;
	char *raw = NULL;
	size_t raw_len;
	sigset_t all;

	if (argc == 3 && !strcmp(argv[1], "--write-pprof"))
		return write_pprof(argv[2]);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	ldp_config_defaults(&cfg);

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--no-verify")) {
			cfg.tls_verify = 0;
			continue;
		}
		if (!strcmp(o, "--at-exit")) {
			at_exit_too = 1;
			continue;
		}
		if (!strcmp(o, "--own-tls")) {
			own_tls = 1;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(o, "--ca"))
			set(cfg.tls_ca_file, sizeof(cfg.tls_ca_file), v);
		else if (!strcmp(o, "--cert"))
			set(cfg.tls_cert_file, sizeof(cfg.tls_cert_file), v);
		else if (!strcmp(o, "--key"))
			set(cfg.tls_key_file, sizeof(cfg.tls_key_file), v);
		else if (!strcmp(o, "--token-file"))
			set(cfg.token_file, sizeof(cfg.token_file), v);
		else if (!strcmp(o, "--header") && cfg.nheaders < LDP_CONFIG_MAX_HEADERS)
			set(cfg.headers[cfg.nheaders++], sizeof(cfg.headers[0]), v);
		else if (!strcmp(o, "--timeout-ms"))
			timeout_ns = atoll(v) * 1000000;
		else if (!strcmp(o, "--window") && sscanf(v, "%lld,%lld", &from_ns, &until_ns) == 2)
			;
		else if (!strcmp(o, "--hz"))
			hz = atoi(v);
		else
			return usage();
	}
	if (argc - i < 4)
		return usage();
	set(cfg.endpoint, sizeof(cfg.endpoint), argv[i]);
	if (!strcmp(argv[i + 1], "pyroscope"))
		cfg.protocol = LDP_PROTO_PYROSCOPE;
	else if (!strcmp(argv[i + 1], "parca"))
		cfg.protocol = LDP_PROTO_PARCA;
	else if (!strcmp(argv[i + 1], "pprof"))
		cfg.protocol = LDP_PROTO_PPROF;
	else
		return usage();
	if (!strcmp(argv[i + 2], "gzip"))
		cfg.compression = LDP_COMP_GZIP;
	else if (!strcmp(argv[i + 2], "zstd"))
		cfg.compression = LDP_COMP_ZSTD;
	else if (!strcmp(argv[i + 2], "none"))
		cfg.compression = LDP_COMP_NONE;
	else
		return usage();
	/* the per-request cap is the config's; the caller's budget is --timeout-ms */
	if (cfg.timeout_ns < timeout_ns)
		cfg.timeout_ns = timeout_ns;

	if (ldp_read_file(argv[i + 3], 0, LDP_SHIP_MAX_PPROF, &raw, &raw_len) < 0) {
		fprintf(stderr, "http_send: cannot read %s\n", argv[i + 3]);
		return 1;
	}
	if (raw_len >= 2 && (uint8_t)raw[0] == 0x1f && (uint8_t)raw[1] == 0x8b) {
		if (ldp_gunzip((uint8_t *)raw, raw_len, LDP_SHIP_MAX_PPROF, &ship.pprof,
			       &ship.len) < 0) {
			fprintf(stderr, "http_send: %s is not valid gzip\n", argv[i + 3]);
			return 1;
		}
		free(raw);
	} else {
		ship.pprof = (uint8_t *)raw;
		ship.len = raw_len;
	}
	if (!until_ns) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		until_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		from_ns = until_ns - 10000000000ll;
	}
	ship.from_ns = from_ns;
	ship.until_ns = until_ns;
	ship.hz = hz;
	for (i += 4; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			return usage();
		*eq = '\0';
		ldp_shipment_add_label(&ship, argv[i], eq + 1);
	}

	/* the shim registers its exit flush at start-up, before the program's main() runs */
	if (at_exit_too)
		atexit(at_exit);
	if (own_tls) {
		void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_GLOBAL);
		int (*init)(uint64_t, const void *) = h ? (int (*)(uint64_t, const void *))
								  dlsym(h, "OPENSSL_init_ssl") : NULL;

		if (!init || !init(0, NULL)) {
			fprintf(stderr, "http_send: cannot initialize OpenSSL\n");
			return 1;
		}
	}
	first_status = send_once();
	return first_status;
}
