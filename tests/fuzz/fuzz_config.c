/* SPDX-License-Identifier: MIT
 *
 * fuzz_config.c — libFuzzer target for the configuration parser (common/config.c): the input
 * is an INI file (not NUL-terminated: the parser must not read past it), and its lines are
 * also applied as environment entries.
 *
 * Oracle: on any input, no crash, no ASan/UBSan report, no leak; the error count returned is
 * the number of errors reported; every problem has a "where" naming the file and a line that
 * exists (or the variable), and a non-empty "what"; at most 51 problems per source; every
 * value is within its documented range; and a configuration accepted without error prints as
 * an INI file that loads back, without a problem, to the same configuration (headers masked).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct seen {
	int errors, problems;
	size_t lines;
	bool file;
};

static void check_problem(void *ctx, const struct ldp_config_problem *p)
{
	struct seen *s = ctx;

	if (!p->where || !p->what || !*p->what)
		abort();
	if (p->severity == LDP_CONFIG_ERROR)
		s->errors++;
	else if (p->severity != LDP_CONFIG_WARNING)
		abort();
	s->problems++;
	if (s->file) {
		/* "f.ini" or "f.ini:LINE" with 1 <= LINE <= lines */
		if (strncmp(p->where, "f.ini", 5))
			abort();
		if (p->where[5]) {
			unsigned long line = strtoul(p->where + 6, NULL, 10);
			if (p->where[5] != ':' || line < 1 || line > s->lines)
				abort();
		}
	} else if (strncmp(p->where, "LDPROF_", 7)) {
		abort();
	}
}

static void check_ranges(const struct ldp_config *c)
{
	if (c->hz < 1 || c->hz > 1000 || c->flush_ns < 100000000 || c->flush_ns > 86400000000000ll ||
	    c->retries < 0 || c->retries > 100 || c->exit_timeout_ns < 0 ||
	    c->queue_max_bytes < 65536 || c->queue_max_bytes > (1u << 30) ||
	    c->spool_max_bytes > (64ull << 30) || c->nheaders < 0 ||
	    c->nheaders > LDP_CONFIG_MAX_HEADERS || c->nlabels < 0 ||
	    c->nlabels > LDP_CONFIG_MAX_LABELS || c->log_level < 0 || c->log_level > 3 ||
	    (unsigned)c->protocol > LDP_PROTO_PPROF || (unsigned)c->compression > LDP_COMP_NONE)
		abort();
	if (!memchr(c->endpoint, 0, sizeof(c->endpoint)) || !memchr(c->spool_dir, 0, sizeof(c->spool_dir)) ||
	    !memchr(c->service_name, 0, sizeof(c->service_name)))
		abort();
	for (int i = 0; i < c->nlabels; i++)
		if (!c->labels[i].key[0] || !c->labels[i].value[0] ||
		    !memchr(c->labels[i].value, 0, sizeof(c->labels[i].value)))
			abort();
	for (int i = 0; i < c->nheaders; i++)
		if (!strchr(c->headers[i], ':') || strchr(c->headers[i], '\n') || strchr(c->headers[i], '\r'))
			abort();
}

static void round_trip(struct ldp_config *c)
{
	struct ldp_config *b = malloc(sizeof(*b));
	struct seen s = { .file = true, .lines = 0 };
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (!b)
		return;
	f = open_memstream(&out, &len);
	if (!f) {
		free(b);
		return;
	}
	ldp_config_print(c, f, 0);
	fclose(f);
	/* what print writes is what comes back, but for the header values it masks */
	for (int i = 0; i < c->nheaders; i++) {
		char *colon = strchr(c->headers[i], ':');
		size_t n = (size_t)(colon - c->headers[i]);
		memset(colon, 0, sizeof(c->headers[0]) - n);
		memcpy(colon, ": ***", 5);
	}
	for (size_t i = 0, start = 0; i < len; i++) {
		if (out[i] != '\n')
			continue;
		s.lines++;
		if (i - start > 199)
			goto out; /* a header name of ~190 bytes, masked: a file cannot hold it */
		start = i + 1;
	}
	ldp_config_defaults(b);
	if (ldp_config_load_buffer(b, "f.ini", out, len, check_problem, &s) != 0 || s.problems ||
	    memcmp(b, c, sizeof(*b)))
		abort();
out:
	free(out);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ldp_config *c = malloc(sizeof(*c));
	struct seen s = { .file = true };
	char *copy = NULL, **envp = NULL;
	size_t n = 0;
	int r;

	if (!c)
		return 0;
	for (size_t i = 0; i < size; i++)
		s.lines += data[i] == '\n';
	s.lines++; /* the last line may lack its '\n' */

	ldp_config_defaults(c);
	r = ldp_config_load_buffer(c, "f.ini", (const char *)data, size, check_problem, &s);
	if (r < 0 || r != s.errors || s.problems > 51)
		abort();
	check_ranges(c);
	if (r == 0)
		round_trip(c);

	/* the same lines as environment entries (NUL-terminated, as the kernel hands them over) */
	copy = malloc(size + 1);
	envp = calloc(s.lines + 1, sizeof(*envp));
	if (copy && envp) {
		memcpy(copy, data, size);
		copy[size] = 0;
		for (char *p = copy; p <= copy + size && n < s.lines; n++) {
			char *nl = memchr(p, '\n', (size_t)(copy + size - p));
			envp[n] = p;
			if (!nl)
				break;
			*nl = 0;
			p = nl + 1;
		}
		struct seen e = { .file = false };
		ldp_config_defaults(c);
		r = ldp_config_apply_env(c, envp, check_problem, &e);
		if (r < 0 || r != e.errors || e.problems > 51)
			abort();
		check_ranges(c);
	}
	free(envp);
	free(copy);
	free(c);
	return 0;
}
