/* SPDX-License-Identifier: MIT
 *
 * test_select.c — the first stage's [select] rules (shim/select.c).
 *
 * The glob matcher (literals, '*' across '/', '?', classes, an unterminated '[', the empty
 * pattern, and a timed many-star pattern on a 64 KiB string); the INI scan (which keys count in
 * which section, comments, continuation lines, CRLF, BOM, broken headers, NUL bytes), checked
 * the way inih reads the same text; the LDPROF_SELECT_* variables; the facts each rule set
 * needs; the decision and the detail it logs; and the /etc/passwd lookup.
 * Every text is copied into a heap block of its exact length, so ASan sees any read past it.
 * Prints one line per check; exits 1 if any failed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "select.h"

#include "check.h"

/* ---- helpers ---- */

/* A heap copy of buf[0..n) with nothing after it. */
static char *exact(const char *buf, size_t n)
{
	char *p = malloc(n ? n : 1);

	if (!p)
		abort();
	memcpy(p, buf, n);
	return p;
}

static int glob(const char *pat, const char *s)
{
	char *p = exact(pat, strlen(pat));
	int r = ldp_select_glob(p, strlen(pat), s);

	free(p);
	return r;
}

static int is(struct ldp_sel_str v, const char *want)
{
	return v.n == strlen(want) && (!v.n || memcmp(v.p, want, v.n) == 0);
}

static int none(const struct ldp_select_rules *r)
{
	for (int k = 0; k < LDP_SEL_KINDS; k++)
		if (r->include[k].n || r->exclude[k].n)
			return 0;
	return !r->sampling_hz.n;
}

/* Scans text[0..n) from a heap copy; the copy stays alive (the rules point into it) until the
 * next call. */
static char *scanned;

static struct ldp_select_rules scan_n(const char *text, size_t n)
{
	struct ldp_select_rules r;

	memset(&r, 0, sizeof(r));
	free(scanned);
	scanned = exact(text, n);
	ldp_select_scan(scanned, n, &r);
	return r;
}

static struct ldp_select_rules scan(const char *text)
{
	return scan_n(text, strlen(text));
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static struct ldp_sel_str str(const char *s)
{
	return (struct ldp_sel_str){ s, strlen(s) };
}

static struct ldp_select_facts facts(const char *exe, const char *comm, const char *argv0,
				     unsigned uid, const char *user, const char *cgroup)
{
	return (struct ldp_select_facts){ exe, comm, argv0, uid, user, cgroup };
}

/* ---- glob ---- */

static void test_glob_basic(void)
{
	CHECK(glob("sort", "sort") == 1, "a literal matches itself");
	CHECK(glob("sort", "sor") == 0 && glob("sort", "sorts") == 0 && glob("sort", "Sort") == 0,
	      "a literal matches nothing else");
	CHECK(glob("*", "") == 1 && glob("*", "anything/at/all") == 1, "* matches anything");
	CHECK(glob("py*", "python3") == 1 && glob("py*", "py") == 1 && glob("py*", "p") == 0,
	      "a trailing * matches the empty rest");
	CHECK(glob("*.service", "/system.slice/x.service") == 1 &&
	      glob("*.service", "/x.service.d") == 0, "a leading * anchors the end");
	CHECK(glob("/usr/*", "/usr/lib/jvm/bin/java") == 1, "* matches '/'");
	CHECK(glob("/usr/*/java", "/usr/lib/jvm/bin/java") == 1, "* in the middle spans folders");
	CHECK(glob("s?rt", "sort") == 1 && glob("s?rt", "srt") == 0 && glob("?", "") == 0 &&
	      glob("??", "ab") == 1, "? is exactly one byte");
	CHECK(glob("a?c", "a/c") == 1, "? matches '/'");
	CHECK(glob("**", "") == 1 && glob("a**b", "ab") == 1 && glob("a**b", "axxb") == 1,
	      "consecutive stars");
	CHECK(glob("*ab", "aab") == 1 && glob("*aab", "aaab") == 1 && glob("a*b*c", "abbbc") == 1 &&
	      glob("a*b*c", "acb") == 0, "backtracking to the last star");
	CHECK(ldp_select_glob("", 0, "") == 1, "the empty pattern matches the empty string");
	CHECK(ldp_select_glob("", 0, "a") == 0, "the empty pattern matches nothing else");
	CHECK(ldp_select_glob("abcXYZ", 3, "abc") == 1 && ldp_select_glob("abcXYZ", 3, "abcX") == 0,
	      "the pattern ends at its length, not at a NUL");
	CHECK(ldp_select_glob("x*", 1, "xy") == 0, "a star past the length is not read");
}

static void test_glob_class(void)
{
	CHECK(glob("[a-z]x", "bx") == 1 && glob("[a-z]x", "Bx") == 0 && glob("[a-z]", "") == 0,
	      "[a-z] is a range");
	CHECK(glob("[!0-9]", "a") == 1 && glob("[!0-9]", "5") == 0, "[!0-9] negates");
	CHECK(glob("[^x]", "y") == 1 && glob("[^x]", "x") == 0, "[^x] negates too");
	CHECK(glob("[abc]", "b") == 1 && glob("[abc]", "d") == 0 && glob("[abc]", "bc") == 0,
	      "a set is one byte");
	CHECK(glob("[]a]", "]") == 1 && glob("[]a]", "a") == 1 && glob("[]a]", "b") == 0,
	      "']' first in a class is a member");
	CHECK(glob("[!]]", "a") == 1 && glob("[!]]", "]") == 0, "']' first after '!' is a member");
	CHECK(glob("[a-]", "-") == 1 && glob("[a-]", "a") == 1 && glob("[a-]", "b") == 0,
	      "'-' last in a class is a member");
	CHECK(glob("[0-9][0-9]*", "42abc") == 1 && glob("[0-9][0-9]*", "4x") == 0,
	      "classes in a row, then a star");
	CHECK(glob("[\x80-\xff]", "\xe9") == 1 && glob("[\x80-\xff]", "e") == 0,
	      "a range over bytes >= 0x80 compares unsigned");
	CHECK(glob("*[0-9]", "python3") == 1 && glob("*[0-9]", "python") == 0, "a star then a class");
	CHECK(glob("[abc", "[abc") == 1 && glob("[abc", "a") == 0,
	      "an unterminated '[' is a literal");
	CHECK(glob("x[", "x[") == 1 && glob("x[", "x") == 0, "a '[' at the end is a literal");
	CHECK(glob("[a-z", "[a-z") == 1 && glob("*[a-z", "foo[a-z") == 1,
	      "an unterminated range is literal text");
	CHECK(glob("[!]", "[!]") == 1 && glob("[!]", "a") == 0, "\"[!]\" is literal text");
}

static void test_glob_many_stars(void)
{
	size_t n = 64 * 1024;
	char *s = malloc(n + 1), pat[201], pat2[201];
	struct timespec t0;
	double ms;
	int r1, r2, r3;

	if (!s)
		abort();
	memset(s, 'a', n);
	s[n] = 0;
	/* "*a*a*a...*b": the naive recursive matcher is exponential here */
	for (size_t i = 0; i < 199; i += 2) {
		pat[i] = '*';
		pat[i + 1] = 'a';
	}
	pat[199] = 'b';
	pat[200] = 0;
	/* "*a*a*...*a": the same, matching */
	memcpy(pat2, pat, sizeof(pat2));
	pat2[199] = '*';

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r1 = ldp_select_glob(pat, 200, s);
	r2 = ldp_select_glob(pat2, 200, s);
	memset(pat, '*', 200);
	r3 = ldp_select_glob(pat, 200, s);
	ms = ms_since(&t0);
	CHECK(r1 == 0, "\"*a*a...*b\" does not match 64 KiB of 'a'");
	CHECK(r2 == 1, "\"*a*a...*a*\" matches 64 KiB of 'a'");
	CHECK(r3 == 1, "200 stars match 64 KiB of 'a'");
	CHECK(ms < 50, "three 200-byte star patterns on a 64 KiB string: %.2f ms (< 50)", ms);
	free(s);
}

/* ---- scan ---- */

static void test_scan_sections(void)
{
	struct ldp_select_rules r;

	r = scan("[sampling]\nhz = 99\n[select]\ninclude_comm = sort, uniq\nexclude_exe=/bin/*\n"
		 "include_user=alice\nexclude_user=0\ninclude_cgroup=/system.slice/*\n"
		 "exclude_cgroup=/docker/*\ninclude_exe=/usr/*\nexclude_comm=bash\n"
		 "[sampling]\nhz = 250\n");
	CHECK(is(r.include[LDP_SEL_COMM], "sort, uniq") && is(r.exclude[LDP_SEL_EXE], "/bin/*") &&
	      is(r.include[LDP_SEL_USER], "alice") && is(r.exclude[LDP_SEL_USER], "0") &&
	      is(r.include[LDP_SEL_CGROUP], "/system.slice/*") &&
	      is(r.exclude[LDP_SEL_CGROUP], "/docker/*") && is(r.include[LDP_SEL_EXE], "/usr/*") &&
	      is(r.exclude[LDP_SEL_COMM], "bash"), "all eight [select] keys, values trimmed");
	CHECK(is(r.sampling_hz, "250"), "[sampling] hz, the later of two");

	r = scan("include_comm=x\nhz=1\n[sampling]\ninclude_comm=y\nexclude_exe=z\n"
		 "[output]\ninclude_comm=w\n[spool]\nhz=2\n");
	CHECK(none(&r), "[select] keys count only in [select], hz only in [sampling]");
	r = scan("[select]\nhz=5\n");
	CHECK(none(&r), "hz in [select] is not the rate");
	r = scan("[agent]\nsocket = /run/a.sock ; the agent\ncover = static\n");
	CHECK(is(r.agent_socket, "/run/a.sock") && none(&r), "[agent] socket, inline comment cut");
	r = scan("[agent]\nsocket =\n");
	CHECK(r.agent_socket.p && !r.agent_socket.n, "[agent] socket set empty: never ask");
	r = scan("[output]\nsocket=/x\n[select]\nsocket=/y\n");
	CHECK(!r.agent_socket.p, "socket counts only in [agent]; unset: the default applies");
	r = scan("[agent]\nrings = yes ; collect\n");
	CHECK(r.agent_rings && none(&r), "[agent] rings");
	r = scan("[select]\nrings = yes\n[agent]\nrings = off\n");
	CHECK(!r.agent_rings, "rings counts only in [agent]; off is off");
	CHECK(ldp_select_env(&r, "LDPROF_AGENT_RINGS", "true") == 1 && r.agent_rings, "LDPROF_AGENT_RINGS=true");
	CHECK(ldp_select_env(&r, "LDPROF_AGENT_RINGS", "0") == 1 && !r.agent_rings, "LDPROF_AGENT_RINGS=0");
	r = scan("[log]\nfile = /var/log/ldprof.log ; root's\nlevel = info\n[output]\nfile=/x\nlevel=debug\n");
	CHECK(is(r.log_file, "/var/log/ldprof.log") && is(r.log_level, "info") && none(&r),
	      "[log] file and level (where a root process's first stage logs), only in [log]");
	r = scan("[select]\nfile=/x\n");
	CHECK(!r.log_file.p && !r.log_level.p, "[log] keys unset: none");
	r = scan("[select]\ninclude_comm=a\n[sampling]\nhz=7\n[select]\nexclude_comm=b\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a") && is(r.exclude[LDP_SEL_COMM], "b") &&
	      is(r.sampling_hz, "7"), "a section opened twice");
	r = scan("[Select]\ninclude_comm=a\n[select]\nInclude_comm=b\ninclude_Comm=c\n"
		 "include_commx=d\ninclude_com=e\ninclude_=f\n");
	CHECK(none(&r), "section and key names are exact and case-sensitive");
	r = scan("[ select ]\ninclude_comm=a\n");
	CHECK(none(&r), "[ select ] is another section, as inih reads it");
	r = scan("[select] ; the rules\ninclude_comm=a\n[sampling]   # here\nhz=9\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a") && is(r.sampling_hz, "9"),
	      "a comment after a section header");
	r = scan("[select\ninclude_comm=a\n");
	CHECK(none(&r), "\"[select\" without ']' does not open the section");
	r = scan("[select]\n[output\ninclude_comm=a\n");
	CHECK(!r.include[LDP_SEL_COMM].n, "a broken header closes [select] (the shim stays off)");
}

static void test_scan_values(void)
{
	struct ldp_select_rules r;

	r = scan("[select]\ninclude_comm=a\ninclude_comm=b\nexclude_exe=x\nexclude_exe=\n");
	CHECK(is(r.include[LDP_SEL_COMM], "b"), "the later key wins");
	CHECK(!r.exclude[LDP_SEL_EXE].n, "an empty later value clears the rule");
	r = scan("[select]\ninclude_comm = a ;comment\nexclude_comm=a;b\ninclude_exe=x\t; y\n"
		 "exclude_exe= ;x\ninclude_user=;x\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a"), "\" ;\" starts an inline comment");
	CHECK(is(r.exclude[LDP_SEL_COMM], "a;b"), "\"a;b\" is kept");
	CHECK(is(r.include[LDP_SEL_EXE], "x"), "a tab before ';' starts a comment too");
	CHECK(!r.exclude[LDP_SEL_EXE].n, "\"= ;x\" is an empty value, as inih reads it");
	CHECK(is(r.include[LDP_SEL_USER], ";x"), "\"=;x\" keeps the ';', as inih reads it");
	r = scan("[select]\n; include_comm=a\n# exclude_comm=b\n  ;include_exe=c\n\t# exclude_exe=d\n"
		 "include_user # = e\n");
	CHECK(none(&r), "';' and '#' comment lines, also indented");
	r = scan("[select]\ninclude_comm=a\n  exclude_comm=b\n\tinclude_exe=c\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a") && !r.exclude[LDP_SEL_COMM].n &&
	      !r.include[LDP_SEL_EXE].n, "indented continuation lines are ignored");
	r = scan("[select]\n  exclude_comm = sort\n include_exe=/x\n");
	CHECK(is(r.exclude[LDP_SEL_COMM], "sort") && !r.include[LDP_SEL_EXE].n,
	      "an indented first key of a section is a key (inih has no value to continue)");
	r = scan("[sampling]\nhz=1\n[select]\n\texclude_comm=sort\n");
	CHECK(is(r.exclude[LDP_SEL_COMM], "sort"), "a section header ends the previous value");
	r = scan("[select]\r\ninclude_comm = a\r\nexclude_comm=b\r\n[sampling]\r\nhz=3\r\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a") && is(r.exclude[LDP_SEL_COMM], "b") &&
	      is(r.sampling_hz, "3"), "CRLF line ends");
	r = scan("[select]\nexclude_comm\f=\vx\f\n");
	CHECK(is(r.exclude[LDP_SEL_COMM], "x"), "'\\f' and '\\v' are blanks, as isspace() has them");
	r = scan("\xef\xbb\xbf[select]\ninclude_comm=a\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a"), "a UTF-8 BOM");
	r = scan("\xef\xbb\xbf");
	CHECK(none(&r), "a BOM alone");
	r = scan("[select]\nexclude_comm =  sort ,  uniq  ,x\n");
	CHECK(is(r.exclude[LDP_SEL_COMM], "sort ,  uniq  ,x"), "spaces around commas are kept");
	r = scan("[select]\ninclude_comm: a\nexclude_exe : /b=c\n");
	CHECK(is(r.include[LDP_SEL_COMM], "a") && is(r.exclude[LDP_SEL_EXE], "/b=c"),
	      "':' separates too; the first '=' or ':' splits");
	r = scan("[select]\ninclude_comm=abc");
	CHECK(is(r.include[LDP_SEL_COMM], "abc"), "no trailing newline");
	r = scan_n("[select]\ninclude_comm=abc", 24);
	CHECK(is(r.include[LDP_SEL_COMM], "ab"), "the text ends at its length");
	r = scan("[select]\ninclude_comm=");
	CHECK(!r.include[LDP_SEL_COMM].n, "an empty value at the very end");
	r = scan("");
	CHECK(none(&r), "an empty text");
	r = scan("\n\n\r\n   \n[select]\n\n");
	CHECK(none(&r), "blank lines only");
	{
		static const char nul[] = "[select]\ninclude_comm=a\0b\nexc\0lude_exe=x\n"
					  "\0[output]\nexclude_comm=c\n";
		r = scan_n(nul, sizeof(nul) - 1);
		CHECK(r.include[LDP_SEL_COMM].n == 3 && !memcmp(r.include[LDP_SEL_COMM].p, "a\0b", 3),
		      "NUL bytes in a value stay inside it (config.c refuses the file)");
		CHECK(!r.exclude[LDP_SEL_EXE].n, "a key with a NUL byte is no key");
		CHECK(is(r.exclude[LDP_SEL_COMM], "c"), "a header behind a NUL byte is no header; the next line is read");
	}
	free(scanned);
	scanned = NULL;
}

/* ---- env ---- */

static void test_env(void)
{
	static const char *const in[] = { "LDPROF_SELECT_INCLUDE_EXE", "LDPROF_SELECT_INCLUDE_COMM",
					  "LDPROF_SELECT_INCLUDE_USER",
					  "LDPROF_SELECT_INCLUDE_CGROUP" };
	static const char *const ex[] = { "LDPROF_SELECT_EXCLUDE_EXE", "LDPROF_SELECT_EXCLUDE_COMM",
					  "LDPROF_SELECT_EXCLUDE_USER",
					  "LDPROF_SELECT_EXCLUDE_CGROUP" };
	static const char *const unknown[] = { "LDPROF_SELECT_FOO", "LDPROF_SELECT_INCLUDE_",
					       "LDPROF_SELECT_INCLUDE_COM",
					       "LDPROF_SELECT_INCLUDE_COMMX",
					       "ldprof_select_include_comm",
					       "LDPROF_SELECT_include_comm",
					       "LDPROF_SELECT_INCLUDE_Comm", "LDPROF_OUTPUT_ENDPOINT",
					       "LDPROF_SELECT_EXCLUDE_CGROUPS", "" };
	struct ldp_select_rules r;
	char vals[2][LDP_SEL_KINDS][16];

	memset(&r, 0, sizeof(r));
	for (int k = 0; k < LDP_SEL_KINDS; k++) {
		snprintf(vals[0][k], sizeof(vals[0][k]), "in%d", k);
		snprintf(vals[1][k], sizeof(vals[1][k]), "ex%d", k);
		CHECK(ldp_select_env(&r, in[k], vals[0][k]) == 1, "%s is known", in[k]);
		CHECK(ldp_select_env(&r, ex[k], vals[1][k]) == 1, "%s is known", ex[k]);
	}
	for (int k = 0; k < LDP_SEL_KINDS; k++)
		CHECK(r.include[k].p == vals[0][k] && is(r.include[k], vals[0][k]) &&
		      r.exclude[k].p == vals[1][k] && is(r.exclude[k], vals[1][k]),
		      "kind %d: each variable sets its own rule, pointing at the value", k);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct ldp_select_rules before = r;

		CHECK(ldp_select_env(&r, unknown[i], "x") == 0 && !memcmp(&before, &r, sizeof(r)),
		      "\"%s\" is not a select variable and changes nothing", unknown[i]);
	}

	r = scan("[select]\ninclude_comm=a\nexclude_exe=/x\n");
	CHECK(ldp_select_env(&r, "LDPROF_SELECT_INCLUDE_COMM", "b") == 1 &&
	      is(r.include[LDP_SEL_COMM], "b") && is(r.exclude[LDP_SEL_EXE], "/x"),
	      "a variable beats the file, the other keys stay");
	CHECK(ldp_select_env(&r, "LDPROF_SELECT_EXCLUDE_EXE", "") == 1 && !r.exclude[LDP_SEL_EXE].n,
	      "an empty variable clears the file's rule");
	free(scanned);
	scanned = NULL;
}

/* ---- include_seccomp: a boolean, read as config.c reads one ---- */

static void test_seccomp(void)
{
	static const char *const yes[] = { "true", "yes", "on", "1", "TRUE", "Yes", "oN" };
	static const char *const no[] = { "false", "no", "off", "0", "", "maybe", "yess", "ye",
					  "1 ", "truex", "2" };
	struct ldp_select_rules r;
	char text[96];

	r = scan("[select]\ninclude_comm=a\n");
	CHECK(!r.include_seccomp, "off unless set");
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "[select]\ninclude_seccomp = %s ; comment\n", yes[i]);
		r = scan(text);
		CHECK(r.include_seccomp == 1, "include_seccomp = %s", yes[i]);
		memset(&r, 0, sizeof(r));
		CHECK(ldp_select_env(&r, "LDPROF_SELECT_INCLUDE_SECCOMP", yes[i]) == 1 &&
		      r.include_seccomp == 1, "LDPROF_SELECT_INCLUDE_SECCOMP=%s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		/* "1 " is trimmed in the file (inih does too), not in a variable */
		snprintf(text, sizeof(text), "[select]\ninclude_seccomp = %s\n", no[i]);
		r = scan(text);
		CHECK(r.include_seccomp == (i == 8), "include_seccomp = \"%s\"", no[i]);
		r.include_seccomp = 1;
		CHECK(ldp_select_env(&r, "LDPROF_SELECT_INCLUDE_SECCOMP", no[i]) == 1 &&
		      r.include_seccomp == 0, "LDPROF_SELECT_INCLUDE_SECCOMP=\"%s\" is not true", no[i]);
	}
	r = scan("[sampling]\ninclude_seccomp = yes\n[agent]\ninclude_seccomp=yes\n");
	CHECK(!r.include_seccomp, "only in [select]");
	r = scan("[select]\ninclude_seccomp = yes\ninclude_seccomp = no\n");
	CHECK(!r.include_seccomp, "set twice: the later wins");
	free(scanned);
	scanned = NULL;
}

/* ---- start_after_cpu: a duration, read as config.c reads one ---- */

static void test_start_after(void)
{
	static const struct {
		const char *text;
		long long ns; /* -1: not a duration, or out of range */
	} cases[] = {
		{ "0", 0 }, { "20ms", 20000000LL }, { "1.5ms", 1500000LL }, { "0.5s", 500000000LL },
		{ "2", 2000000000LL }, { "3m", 180000000000LL }, { "1h", 3600000000000LL },
		{ "0.000000001s", 1 }, { "0.0000000001s", 0 }, { "1.25", 1250000000LL },
		{ "2h", -1 }, { "61m", -1 }, { "", -1 }, { "ms", -1 }, { "-1s", -1 }, { "1.s", -1 },
		{ ".5s", -1 }, { "10 ms", -1 }, { "10us", -1 }, { "1e3ms", -1 }, { "5x", -1 },
		{ "99999999999999999999s", -1 }, { "1000000000000000000ms", -1 },
	};
	struct ldp_select_rules r;
	long long ns;
	char text[96];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		int ok = ldp_select_duration(t, strlen(t), LDP_START_AFTER_MAX, &ns);

		CHECK(cases[i].ns < 0 ? ok == -1 : ok == 0 && ns == cases[i].ns, "duration \"%s\"", t);
		memset(&r, 0, sizeof(r));
		ldp_select_init(&r);
		snprintf(text, sizeof(text), "[select]\nstart_after_cpu = %s ; comment\n", t);
		ldp_select_scan(text, strlen(text), &r);
		CHECK(r.start_after_ns == (cases[i].ns < 0 ? LDP_START_AFTER_DEFAULT : cases[i].ns),
		      "start_after_cpu = %s (a bad value leaves the default)", t);
		memset(&r, 0, sizeof(r));
		ldp_select_init(&r);
		CHECK(ldp_select_env(&r, "LDPROF_SELECT_START_AFTER_CPU", t) == 1 &&
		      r.start_after_ns == (cases[i].ns < 0 ? LDP_START_AFTER_DEFAULT : cases[i].ns),
		      "LDPROF_SELECT_START_AFTER_CPU=%s", t);
	}
	memset(&r, 0, sizeof(r));
	ldp_select_init(&r);
	CHECK(r.start_after_ns == 20000000LL, "the default is 20ms");
	CHECK(r.agent_rings, "[agent] rings is on by default (the agent collects)");
	snprintf(text, sizeof(text), "[agent]\nrings = false\n");
	ldp_select_scan(text, strlen(text), &r);
	CHECK(!r.agent_rings, "[agent] rings = false turns it off");
	CHECK(ldp_select_duration("20ms", 3, LDP_START_AFTER_MAX, &ns) == 0 && ns == 1200000000000LL,
	      "only the bytes given are read: \"20m\" is 20 minutes");
	CHECK(ldp_select_duration("1h", 2, 59LL * 60 * 1000000000, &ns) == -1, "max is honoured");
}

static void test_needs(void)
{
	struct ldp_select_rules r;

	memset(&r, 0, sizeof(r));
	CHECK(ldp_select_needs(&r) == 0, "no rules need nothing");
	r.include[LDP_SEL_EXE] = str("/usr/*");
	CHECK(ldp_select_needs(&r) == 1u << LDP_SEL_EXE, "include_exe needs the exe");
	memset(&r, 0, sizeof(r));
	r.exclude[LDP_SEL_COMM] = str("sort");
	CHECK(ldp_select_needs(&r) == 1u << LDP_SEL_COMM, "exclude_comm needs the comm");
	memset(&r, 0, sizeof(r));
	r.include[LDP_SEL_CGROUP] = str("/x/*");
	CHECK(ldp_select_needs(&r) == 1u << LDP_SEL_CGROUP, "include_cgroup needs the cgroup");
	memset(&r, 0, sizeof(r));
	r.include[LDP_SEL_USER] = str("0, 1000 ,65534");
	CHECK(ldp_select_needs(&r) == 1u << LDP_SEL_USER, "numeric users need only the uid");
	r.exclude[LDP_SEL_USER] = str("root");
	CHECK(ldp_select_needs(&r) == ((1u << LDP_SEL_USER) | LDP_SEL_NEED_USERNAME),
	      "a user name needs the name");
	r.exclude[LDP_SEL_USER] = str("10*");
	CHECK(ldp_select_needs(&r) & LDP_SEL_NEED_USERNAME, "a user glob needs the name");
	memset(&r, 0, sizeof(r));
	r.exclude[LDP_SEL_EXE] = str("/bin/1000");
	r.include[LDP_SEL_COMM] = str("alice");
	CHECK(!(ldp_select_needs(&r) & LDP_SEL_NEED_USERNAME),
	      "names in other kinds need no user name");
	for (int k = 0; k < LDP_SEL_KINDS; k++) {
		r.include[k] = str("x");
		r.exclude[k] = str("0");
	}
	CHECK(ldp_select_needs(&r) == (0xfu | LDP_SEL_NEED_USERNAME), "every kind at once");
}

/* ---- decide ---- */

static int decide(const struct ldp_select_rules *r, const struct ldp_select_facts *f, char *detail,
		  size_t len)
{
	memset(detail, 'X', len);
	return ldp_select_decide(r, f, detail, len);
}

static void test_decide(void)
{
	struct ldp_select_facts f = facts("/usr/bin/sort", "sort", "sort", 1000, "alice",
					  "0::/user.slice/user-1000.slice/session-2.scope\n");
	struct ldp_select_rules r;
	char d[112];

	memset(&r, 0, sizeof(r));
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "no rules: on");

	r.include[LDP_SEL_COMM] = str("sort");
	r.exclude[LDP_SEL_COMM] = str("sort");
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "exclude_comm=sort"),
	      "exclude wins over include: \"%s\"", d);

	memset(&r, 0, sizeof(r));
	r.exclude[LDP_SEL_COMM] = str("uniq, bash");
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "no include rule and no exclude match: on");

	memset(&r, 0, sizeof(r));
	r.include[LDP_SEL_EXE] = str("/opt/*");
	r.include[LDP_SEL_USER] = str("1000");
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "include rules in two kinds: the user matches");
	r.include[LDP_SEL_EXE] = str("/usr/bin/*");
	r.include[LDP_SEL_USER] = str("0");
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "include rules in two kinds: the exe matches");
	r.include[LDP_SEL_EXE] = str("/opt/*");
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "no include rule matches"),
	      "include rules, none matches: \"%s\"", d);

	memset(&r, 0, sizeof(r));
	r.exclude[LDP_SEL_EXE] = str(" /opt/* , /usr/bin/* ,/x");
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "exclude_exe=/usr/bin/*"),
	      "the detail names the glob that matched, trimmed: \"%s\"", d);
	CHECK(decide(&r, &f, d, 8) == 1 && !strcmp(d, "exclude"), "a short detail is cut: \"%s\"", d);
	CHECK(decide(&r, &f, d, 1) == 1 && d[0] == 0, "a 1-byte detail is empty");
	CHECK(ldp_select_decide(&r, &f, NULL, 0) == 1, "no detail buffer at all");
	r.exclude[LDP_SEL_EXE] = str(",,/opt/*,");
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "empty list items match nothing");
	{
		char longglob[200];

		memset(longglob, '*', sizeof(longglob) - 1);
		longglob[sizeof(longglob) - 1] = 0;
		r.exclude[LDP_SEL_EXE] = str(longglob);
		CHECK(decide(&r, &f, d, sizeof(d)) == 1 && strlen(d) < sizeof(d) &&
		      !strncmp(d, "exclude_exe=***", 15), "a long glob is cut in the detail");
	}

	/* comm: the kernel's name or argv[0]'s base name */
	memset(&r, 0, sizeof(r));
	r.exclude[LDP_SEL_COMM] = str("python3");
	f = facts("/usr/bin/python3.11", "MainThread", "python3", 0, NULL, NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "exclude_comm=python3"),
	      "a comm rule matches argv0");
	f = facts("/usr/bin/python3.11", "python3", "", 0, NULL, NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "a comm rule matches comm");
	f = facts("/usr/bin/python3.11", "python3.11", "python3.11", 0, NULL, NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "a comm rule matches neither");
	f = facts("", NULL, NULL, 0, NULL, NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "no comm and no argv0 known");
	r.exclude[LDP_SEL_COMM] = str("*");
	f = facts("", "", "", 0, NULL, NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "\"*\" matches an empty comm");

	/* user: the uid's digits or the name */
	memset(&r, 0, sizeof(r));
	r.exclude[LDP_SEL_USER] = str("1000");
	f = facts("", "", "", 1000, NULL, NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "exclude_user=1000"),
	      "a numeric uid, no name known");
	f.uid = 100;
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "uid 100 is not 1000");
	f.uid = 10000;
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "uid 10000 is not 1000");
	r.exclude[LDP_SEL_USER] = str("alice");
	f = facts("", "", "", 1000, "alice", NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "exclude_user=alice"), "a user name");
	f.user = NULL;
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "a user name, no name known");
	r.exclude[LDP_SEL_USER] = str("0");
	f = facts("", "", "", 0, "root", NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "uid 0");
	r.exclude[LDP_SEL_USER] = str("4294967295");
	f.uid = UINT_MAX;
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "the largest uid");
	r.include[LDP_SEL_USER] = str("root");
	r.exclude[LDP_SEL_USER] = (struct ldp_sel_str){ 0, 0 };
	f = facts("", "", "", 0, "root", NULL);
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "include_user by name");

	/* cgroup: every line's path */
	memset(&r, 0, sizeof(r));
	r.include[LDP_SEL_CGROUP] = str("/system.slice/*.service");
	f = facts("", "", "", 0, NULL, "0::/system.slice/x.service\n");
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "cgroup v2: included");
	f.cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "cgroup v2: not included");
	r.include[LDP_SEL_CGROUP] = (struct ldp_sel_str){ 0, 0 };
	r.exclude[LDP_SEL_CGROUP] = str("/system.slice/x.service");
	f.cgroup = "0::/system.slice/x.service\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 &&
	      !strcmp(d, "exclude_cgroup=/system.slice/x.service"),
	      "cgroup v2: an exact path, the newline is not part of it: \"%s\"", d);
	f.cgroup = "0::/system.slice/x.service";
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "cgroup v2: no trailing newline");
	r.exclude[LDP_SEL_CGROUP] = str("/docker/*");
	f.cgroup = "12:pids:/user.slice/user-1000.slice\n11:memory:/docker/0123abcd\n"
		   "1:name=systemd:/user.slice/x\n0::/\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 1 && !strcmp(d, "exclude_cgroup=/docker/*"),
	      "cgroup v1: a match on a middle line");
	f.cgroup = "12:pids:/user.slice\n11:memory:/user.slice\n0::/\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "cgroup v1: no line matches");
	r.exclude[LDP_SEL_CGROUP] = str("/a:b");
	f.cgroup = "5:cpu,cpuacct:/a:b\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "a ':' inside the path is part of it");
	r.exclude[LDP_SEL_CGROUP] = str("*");
	f.cgroup = "garbage\nno:path\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "lines with fewer than two ':' have no path");
	f.cgroup = "0::\n";
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "an empty path is a path");
	f.cgroup = "";
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "an empty cgroup text");
	f.cgroup = NULL;
	CHECK(decide(&r, &f, d, sizeof(d)) == 0, "no cgroup known: no exclude matches");
	r.exclude[LDP_SEL_CGROUP] = (struct ldp_sel_str){ 0, 0 };
	r.include[LDP_SEL_CGROUP] = str("*");
	CHECK(decide(&r, &f, d, sizeof(d)) == 1, "no cgroup known: no include matches");
	{
		/* a path longer than any fixed copy: matched whole, not cut */
		char cg[1200];
		size_t n = 0;

		n += (size_t)snprintf(cg + n, sizeof(cg) - n, "0::/");
		memset(cg + n, 'a', 900);
		n += 900;
		snprintf(cg + n, sizeof(cg) - n, "/x.service\n");
		memset(&r, 0, sizeof(r));
		f.cgroup = cg;
		r.exclude[LDP_SEL_CGROUP] = str("*/x.service");
		CHECK(decide(&r, &f, d, sizeof(d)) == 1, "a 900-byte cgroup path matches its end");
		r.exclude[LDP_SEL_CGROUP] = str("*a");
		CHECK(decide(&r, &f, d, sizeof(d)) == 0, "a 900-byte cgroup path is not cut");
	}
}

/* ---- passwd ---- */

static int pw(const char *text, size_t len, unsigned uid, char *name, size_t name_len)
{
	char *p = exact(text, len);
	int r = ldp_select_passwd_name(p, len, uid, name, name_len);

	free(p);
	return r;
}

static void test_passwd(void)
{
	static const char etc[] = "root:x:0:0:root:/root:/bin/bash\n"
				  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
				  "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
				  "bob:x:1001:1001::/home/bob:/bin/sh";
	static const char bad[] = "nocolons\n"
				  ":x:7:7::/:/bin/sh\n"
				  "letters:x:7x:7::/:\n"
				  "sign:x:+7:7::/:\n"
				  "space:x: 7:7::/:\n"
				  "empty:x::7::/:\n"
				  "short:x:7\n"
				  "\n"
				  "good:x:7:7::/:\n";
	char name[64];
	size_t n = sizeof(etc) - 1;

	CHECK(pw(etc, n, 0, name, sizeof(name)) == 0 && !strcmp(name, "root"), "uid 0, first line");
	CHECK(pw(etc, n, 1000, name, sizeof(name)) == 0 && !strcmp(name, "alice"),
	      "a uid in the middle");
	CHECK(pw(etc, n, 1001, name, sizeof(name)) == 0 && !strcmp(name, "bob"),
	      "the last line, no trailing newline");
	CHECK(pw(etc, n, 5, name, sizeof(name)) == -1, "an absent uid");
	CHECK(pw(etc, n, 100, name, sizeof(name)) == -1 && pw(etc, n, 10001, name, sizeof(name)) == -1,
	      "a prefix or an extension of a uid is another uid");
	CHECK(pw(etc, strlen("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1"), 1, name,
		 sizeof(name)) == -1, "the text ends at its length");
	CHECK(pw(bad, sizeof(bad) - 1, 7, name, sizeof(name)) == 0 && !strcmp(name, "good"),
	      "malformed lines are skipped");
	CHECK(pw("short:x:7", 9, 7, name, sizeof(name)) == -1, "a line without a third ':'");
	CHECK(pw("", 0, 0, name, sizeof(name)) == -1, "an empty text");

	strcpy(name, "zzzz");
	CHECK(pw(etc, n, 1000, name, 5) == -1 && !strcmp(name, "zzzz"),
	      "a name buffer too small: -1, buffer untouched");
	CHECK(pw(etc, n, 1000, name, 6) == 0 && !strcmp(name, "alice"), "a name buffer just big enough");
	CHECK(pw(etc, n, 0, name, 0) == -1, "a 0-byte name buffer");

	{
		static const char huge[] = "big:x:99999999999999999999999:0::/:\n"
					   "wrap:x:4294967296:0::/:\n"
					   "wrap2:x:4294967303:0::/:\n"
					   "max:x:4294967295:0::/:\n"
					   "zeros:x:0000000000000000000042:0::/:\n";
		size_t hn = sizeof(huge) - 1;

		CHECK(pw(huge, hn, 0, name, sizeof(name)) == -1, "uids past 32 bits do not wrap to 0");
		CHECK(pw(huge, hn, 7, name, sizeof(name)) == -1, "4294967303 is not uid 7");
		CHECK(pw(huge, hn, UINT_MAX, name, sizeof(name)) == 0 && !strcmp(name, "max"),
		      "uid 4294967295");
		CHECK(pw(huge, hn, 42, name, sizeof(name)) == 0 && !strcmp(name, "zeros"),
		      "leading zeros");
	}
}

int main(void)
{
	test_glob_basic();
	test_glob_class();
	test_glob_many_stars();
	test_scan_sections();
	test_scan_values();
	test_env();
	test_seccomp();
	test_start_after();
	test_needs();
	test_decide();
	test_passwd();
	printf("%d checks passed, %d failed\n", passed, failed);
	return failed != 0;
}
