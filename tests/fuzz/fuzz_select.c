/* SPDX-License-Identifier: MIT
 *
 * fuzz_select.c — the first stage's [select] rules (shim/select.c) on hostile bytes.
 *
 * Input: an 8-byte header (shorter inputs are padded with zeros), then the INI text, then the
 * facts separated by NUL bytes:
 *   header  [0..1] INI length, little endian (cut to what follows), [2..5] uid,
 *           [6] detail buffer length (% 128), [7] user name buffer length (% 80);
 *   facts   exe, comm, argv0, user, cgroup text, an environment name and its value, a passwd
 *           text, a glob pattern and a string to match it against (a missing user or cgroup
 *           is NULL, any other missing fact "").
 * Every text sits in a heap block of its exact length (the INI and the pattern with no NUL
 * after them), so ASan sees any read past a length.
 *
 * Oracle: no crash, no ASan/UBSan report; every rule scan() keeps is a trimmed, one-line
 * slice of the INI text, and the same text with an extra final newline or with CRLF line ends
 * gives the same rules; env() takes exactly the eight LDPROF_SELECT_* rule names and points the
 * rule at the value, and INCLUDE_SECCOMP and START_AFTER_CPU, which change their own field
 * only (start_after_cpu stays within its range); needs() has a bit for exactly the kinds that have rules; decide() returns
 * 0 or 1, the same with any detail buffer, an exclusion's detail is NUL-terminated within its
 * buffer and names a rule, no rules means 0 and exclude_exe=* means 1; passwd_name() returns
 * 0 or -1, and a name it returns fits its buffer and starts a line of the text; glob("*", s)
 * is 1, glob(s, s) is 1 when s has no '*', '?' or '[', and a match stays a match with a '*'
 * put before or after the pattern.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "select.h"

enum { F_EXE, F_COMM, F_ARGV0, F_USER, F_CGROUP, F_ENV_NAME, F_ENV_VALUE, F_PASSWD, F_PAT, F_SUBJ,
       F_N };

#define HDR 8

#define FAIL(...)                                                       \
	do {                                                                \
		fprintf(stderr, "fuzz_select: " __VA_ARGS__);               \
		fprintf(stderr, "\n");                                      \
		abort();                                                    \
	} while (0)

static char *exact(const void *p, size_t n)
{
	char *b = malloc(n ? n : 1);

	if (!b)
		abort();
	if (p && n) /* p NULL: an uninitialised block */
		memcpy(b, p, n);
	return b;
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int same(struct ldp_sel_str a, struct ldp_sel_str b)
{
	return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n));
}

static int same_rules(const struct ldp_select_rules *a, const struct ldp_select_rules *b)
{
	for (int k = 0; k < LDP_SEL_KINDS; k++)
		if (!same(a->include[k], b->include[k]) || !same(a->exclude[k], b->exclude[k]))
			return 0;
	return same(a->sampling_hz, b->sampling_hz) && a->include_seccomp == b->include_seccomp &&
	       a->start_after_ns == b->start_after_ns;
}

static void check_slice(struct ldp_sel_str v, const char *ini, size_t len, const char *what)
{
	if (!v.n)
		return;
	if (v.p < ini || v.p + v.n > ini + len)
		FAIL("%s points outside the INI text", what);
	if (memchr(v.p, '\n', v.n))
		FAIL("%s spans lines", what);
	if (blank(v.p[0]) || blank(v.p[v.n - 1]))
		FAIL("%s is not trimmed", what);
}

static void scan_checks(const char *ini, size_t len, struct ldp_select_rules *r)
{
	struct ldp_select_rules r2;
	size_t n2 = 0;
	char *b;

	memset(r, 0, sizeof(*r));
	ldp_select_init(r);
	ldp_select_scan(ini, len, r);
	if (r->start_after_ns < 0 || r->start_after_ns > LDP_START_AFTER_MAX)
		FAIL("start_after_cpu out of range: %lld", r->start_after_ns);
	for (int k = 0; k < LDP_SEL_KINDS; k++) {
		check_slice(r->include[k], ini, len, "an include rule");
		check_slice(r->exclude[k], ini, len, "an exclude rule");
	}
	check_slice(r->sampling_hz, ini, len, "[sampling] hz");

	/* one more newline at the end: an empty last line */
	b = exact(NULL, len + 1);
	memcpy(b, ini, len);
	b[len] = '\n';
	memset(&r2, 0, sizeof(r2));
	ldp_select_init(&r2);
	ldp_select_scan(b, len + 1, &r2);
	if (!same_rules(r, &r2))
		FAIL("a final newline changes the rules");
	free(b);

	/* CRLF: a '\r' before every '\n' only adds a blank at the end of each line */
	b = exact(NULL, 2 * len);
	for (size_t i = 0; i < len; i++) {
		if (ini[i] == '\n')
			b[n2++] = '\r';
		b[n2++] = ini[i];
	}
	memset(&r2, 0, sizeof(r2));
	ldp_select_init(&r2);
	ldp_select_scan(b, n2, &r2);
	if (!same_rules(r, &r2))
		FAIL("CRLF line ends change the rules");
	free(b);
}

static void env_checks(struct ldp_select_rules *r, const char *name, const char *value)
{
	static const char *const kinds[LDP_SEL_KINDS] = { "EXE", "COMM", "USER", "CGROUP" };
	struct ldp_select_rules before = *r;
	int want = 0, got, k = 0;
	char full[64];

	/* want: 1 for an include variable, 2 for an exclude one, of kind k */
	for (int i = 0; i < LDP_SEL_KINDS; i++) {
		snprintf(full, sizeof(full), "LDPROF_SELECT_INCLUDE_%s", kinds[i]);
		if (!strcmp(name, full))
			want = 1, k = i;
		snprintf(full, sizeof(full), "LDPROF_SELECT_EXCLUDE_%s", kinds[i]);
		if (!strcmp(name, full))
			want = 2, k = i;
	}
	/* 3: a setting that is not a rule, which changes its own field only */
	if (!strcmp(name, "LDPROF_SELECT_INCLUDE_SECCOMP") || !strcmp(name, "LDPROF_SELECT_START_AFTER_CPU"))
		want = 3;
	got = ldp_select_env(r, name, value);
	if (got != !!want)
		FAIL("env(\"%s\") returned %d", name, got);
	if (want == 3) {
		if (r->start_after_ns < 0 || r->start_after_ns > LDP_START_AFTER_MAX)
			FAIL("start_after_cpu out of range: %lld", r->start_after_ns);
		r->include_seccomp = before.include_seccomp;
		r->start_after_ns = before.start_after_ns;
		if (memcmp(&before, r, sizeof(before)))
			FAIL("env(\"%s\") changed a rule", name);
		ldp_select_env(r, name, value);
		return;
	}
	if (want) {
		struct ldp_sel_str *s = want == 1 ? &r->include[k] : &r->exclude[k];

		if (s->p != value || s->n != strlen(value))
			FAIL("env(\"%s\") did not set its rule", name);
		*s = want == 1 ? before.include[k] : before.exclude[k];
	}
	if (memcmp(&before, r, sizeof(before)))
		FAIL("env(\"%s\") changed another rule", name);
	if (want) /* keep the variable's value for the checks that follow */
		ldp_select_env(r, name, value);
}

static void needs_checks(const struct ldp_select_rules *r)
{
	unsigned need = ldp_select_needs(r);

	if (need & ~(0xfu | LDP_SEL_NEED_USERNAME))
		FAIL("needs() set unknown bits %#x", need);
	for (int k = 0; k < LDP_SEL_KINDS; k++)
		if (!!(need & (1u << k)) != !!(r->include[k].n || r->exclude[k].n))
			FAIL("needs() bit %d is wrong", k);
	if ((need & LDP_SEL_NEED_USERNAME) && !(need & (1u << LDP_SEL_USER)))
		FAIL("needs() wants a user name with no user rule");
}

static void decide_checks(const struct ldp_select_rules *r, const struct ldp_select_facts *f,
			  size_t dlen)
{
	static const char none_msg[] = "no include rule matches";
	struct ldp_select_rules r2 = *r;
	char *detail = dlen ? malloc(dlen) : NULL;
	int any = 0, d, d0;

	if (dlen && !detail)
		abort();
	if (dlen)
		memset(detail, 'X', dlen);
	d = ldp_select_decide(r, f, detail, dlen);
	if (d != 0 && d != 1)
		FAIL("decide() returned %d", d);
	if (d && dlen) {
		if (!memchr(detail, 0, dlen))
			FAIL("the detail is not NUL-terminated within its %zu bytes", dlen);
		if (dlen >= sizeof(none_msg) && strncmp(detail, "exclude_", 8) &&
		    strcmp(detail, none_msg))
			FAIL("the detail \"%s\" names no rule", detail);
	}
	d0 = ldp_select_decide(r, f, NULL, 0);
	if (d0 != d)
		FAIL("decide() depends on the detail buffer");
	for (int k = 0; k < LDP_SEL_KINDS; k++)
		any |= r->include[k].n || r->exclude[k].n;
	if (!any && d)
		FAIL("decide() excluded with no rules");
	r2.exclude[LDP_SEL_EXE] = (struct ldp_sel_str){ "*", 1 };
	if (ldp_select_decide(&r2, f, detail, dlen) != 1)
		FAIL("exclude_exe=* did not exclude");
	if (dlen >= 14 && strcmp(detail, "exclude_exe=*"))
		FAIL("exclude_exe=* gave the detail \"%s\"", detail);
	free(detail);
}

/* pw[0..len) may hold NUL bytes: a name cut at one still starts a line. */
static void passwd_checks(const char *pw, size_t len, unsigned uid, size_t name_len)
{
	char *text = exact(pw, len);
	char *name = name_len ? malloc(name_len) : NULL;
	size_t nl;
	int r;

	if (name_len && !name)
		abort();
	r = ldp_select_passwd_name(text, len, uid, name, name_len);
	if (r != 0 && r != -1)
		FAIL("passwd_name() returned %d", r);
	if (r == 0) {
		const char *at;

		if (!name_len || !memchr(name, 0, name_len))
			FAIL("a user name not NUL-terminated within its buffer");
		nl = strlen(name);
		if (strchr(name, ':') || strchr(name, '\n') || (!nl && !memchr(text, 0, len)))
			FAIL("a bad user name \"%s\"", name);
		for (at = text; at; at = memchr(at, '\n', (size_t)(text + len - at)), at = at ? at + 1 : 0)
			if ((size_t)(text + len - at) > nl && !memcmp(at, name, nl) &&
			    (at[nl] == ':' || at[nl] == 0))
				break;
		if (!at)
			FAIL("user name \"%s\" starts no line", name);
	}
	free(name);
	free(text);
}

static int glob_s(const char *pat, const char *s)
{
	size_t n = strlen(pat);
	char *p = exact(pat, n);
	int r = ldp_select_glob(p, n, s);

	free(p);
	return r;
}

static void glob_checks(const char *pat, const char *subj, char *const *fields)
{
	size_t n = strlen(pat);
	char *p;
	int m;

	for (int i = 0; i < F_N; i++) {
		const char *s = fields[i] ? fields[i] : "";

		if (ldp_select_glob("*", 1, s) != 1)
			FAIL("\"*\" does not match field %d", i);
		if (!strpbrk(s, "*?[") && glob_s(s, s) != 1)
			FAIL("field %d does not match itself", i);
	}
	m = glob_s(pat, subj);
	if (m != 0 && m != 1)
		FAIL("glob() returned %d", m);
	if (m) {
		p = exact(NULL, n + 1);
		p[0] = '*';
		memcpy(p + 1, pat, n);
		if (ldp_select_glob(p, n + 1, subj) != 1)
			FAIL("a leading '*' lost a match");
		memcpy(p, pat, n);
		p[n] = '*';
		if (ldp_select_glob(p, n + 1, subj) != 1)
			FAIL("a trailing '*' lost a match");
		free(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t h[HDR] = { 0 };
	const uint8_t *rest;
	size_t rest_n, ini_n, i;
	char *ini, *fields[F_N] = { 0 };
	struct ldp_select_rules r;
	struct ldp_select_facts f;

	if (size > (1 << 14)) /* glob() is O(pattern * string): keep each run short */
		return 0;
	memcpy(h, data, size < HDR ? size : HDR);
	rest = data + (size < HDR ? size : HDR);
	rest_n = size - (size_t)(rest - data);
	ini_n = (size_t)(h[0] | h[1] << 8);
	if (ini_n > rest_n)
		ini_n = rest_n;
	ini = exact(rest, ini_n);

	/* the facts: NUL-separated strings after the INI text */
	i = ini_n;
	for (int k = 0; k < F_N && i < rest_n; k++) {
		const uint8_t *end = memchr(rest + i, 0, rest_n - i);
		size_t n = end ? (size_t)(end - (rest + i)) : rest_n - i;

		fields[k] = malloc(n + 1);
		if (!fields[k])
			abort();
		memcpy(fields[k], rest + i, n);
		fields[k][n] = 0;
		i += n + 1;
	}
	for (int k = 0; k < F_N; k++)
		if (!fields[k] && k != F_USER && k != F_CGROUP)
			fields[k] = exact("", 1);

	scan_checks(ini, ini_n, &r);
	env_checks(&r, fields[F_ENV_NAME], fields[F_ENV_VALUE]);
	needs_checks(&r);
	f = (struct ldp_select_facts){ fields[F_EXE], fields[F_COMM], fields[F_ARGV0],
				       (unsigned)h[2] | (unsigned)h[3] << 8 | (unsigned)h[4] << 16 |
					       (unsigned)h[5] << 24,
				       fields[F_USER], fields[F_CGROUP] };
	decide_checks(&r, &f, h[6] % 128);
	passwd_checks(fields[F_PASSWD], strlen(fields[F_PASSWD]), f.uid, h[7] % 80);
	/* the INI text, NUL bytes and all, as a passwd file, and its include_comm as a pattern */
	passwd_checks(ini, ini_n, f.uid, 64);
	glob_checks(fields[F_PAT], fields[F_SUBJ], fields);
	if (r.include[LDP_SEL_COMM].n) {
		char *pat = exact(r.include[LDP_SEL_COMM].p, r.include[LDP_SEL_COMM].n);

		(void)ldp_select_glob(pat, r.include[LDP_SEL_COMM].n, fields[F_SUBJ]);
		free(pat);
	}

	for (int k = 0; k < F_N; k++)
		free(fields[k]);
	free(ini);
	return 0;
}
