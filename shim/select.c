/* SPDX-License-Identifier: MIT
 *
 * select.c — the [select] rules (see select.h). Linked into the libc-free first stage: no libc
 * call, no system call, no allocation, no writable static data; every loop is bounded by the lengths of
 * its inputs, and the glob matcher uses no recursion (a pattern of many stars stays linear per
 * star, so a hostile config cannot make every exec on the host slow).
 */
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "select.h"

static const char *const kind_names[LDP_SEL_KINDS] = { "exe", "comm", "user", "cgroup" };

static size_t slen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static int eq(const char *a, size_t an, const char *b)
{
	size_t i;

	for (i = 0; i < an; i++)
		if (a[i] != b[i] || !b[i])
			return 0;
	return b[an] == 0;
}

/* isspace() of the C locale without '\n' (lines are split on it), as inih and config.c use it:
 * the same line must be blank, indented or trimmed the same way in both. */
static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int digit(char c)
{
	return c >= '0' && c <= '9';
}

static struct ldp_sel_str trim(const char *p, size_t n)
{
	while (n && space(*p))
		p++, n--;
	while (n && space(p[n - 1]))
		n--;
	return (struct ldp_sel_str){ p, n };
}

/* ---- the config text ---- */

/* Is k exactly prefix + name? */
static int is_key(struct ldp_sel_str k, const char *prefix, const char *name)
{
	size_t pn = slen(prefix);

	if (k.n < pn)
		return 0;
	for (size_t i = 0; i < pn; i++)
		if (k.p[i] != prefix[i])
			return 0;
	return eq(k.p + pn, k.n - pn, name);
}

enum { SECT_OTHER, SECT_SELECT, SECT_AGENT, SECT_LOG, SECT_SAMPLING };

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c;
}

/* true, yes, on or 1, in any case, as config.c reads a boolean: 1; anything else 0 (a value
 * that is not a boolean is config.c's to report). */
static int truth(struct ldp_sel_str v)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };

	for (int i = 0; i < 4; i++) {
		size_t j = 0;

		while (j < v.n && yes[i][j] && lower(v.p[j]) == yes[i][j])
			j++;
		if (j == v.n && !yes[i][j])
			return 1;
	}
	return 0;
}

void ldp_select_init(struct ldp_select_rules *r)
{
	r->start_after_ns = LDP_START_AFTER_DEFAULT;
	r->agent_rings = 1;
}

int ldp_select_duration(const char *p, size_t n, long long max_ns, long long *ns)
{
	static const struct { const char *unit; long long ns; } units[] = {
		{ "ms", 1000000LL }, { "s", 1000000000LL }, { "", 1000000000LL },
		{ "m", 60000000000LL }, { "h", 3600000000000LL },
	};
	unsigned long long ip = 0, frac = 0, scale = 1;
	size_t i = 0, d;

	if (!n || !digit(p[0]))
		return -1;
	for (; i < n && digit(p[i]); i++) {
		if (ip > 100000000000000ull)
			return -1;
		ip = ip * 10 + (unsigned)(p[i] - '0');
	}
	if (i < n && p[i] == '.') {
		if (++i == n || !digit(p[i]))
			return -1;
		for (d = 0; i < n && digit(p[i]); i++, d++)
			if (d < 9) {
				frac = frac * 10 + (unsigned)(p[i] - '0');
				scale *= 10;
			}
	}
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (!eq(p + i, n - i, units[u].unit))
			continue;
		/* max_ns is far below 2^63 / an hour: ip is checked first so nothing overflows */
		if (ip > (unsigned long long)max_ns / (unsigned long long)units[u].ns)
			return -1;
		ip = ip * (unsigned long long)units[u].ns +
		     frac * (unsigned long long)units[u].ns / scale;
		if (ip > (unsigned long long)max_ns)
			return -1;
		*ns = (long long)ip;
		return 0;
	}
	return -1;
}

static void set_start_after(struct ldp_select_rules *r, struct ldp_sel_str v)
{
	long long ns;

	v = trim(v.p, v.n);
	if (ldp_select_duration(v.p, v.n, LDP_START_AFTER_MAX, &ns) == 0)
		r->start_after_ns = ns;
}

static void set_key(struct ldp_select_rules *r, int sect, struct ldp_sel_str k, struct ldp_sel_str v)
{
	if (sect == SECT_AGENT && eq(k.p, k.n, "socket")) {
		r->agent_socket = v;
		return;
	}
	if (sect == SECT_AGENT && eq(k.p, k.n, "rings")) {
		r->agent_rings = truth(v);
		return;
	}
	if (sect == SECT_LOG && eq(k.p, k.n, "file")) {
		r->log_file = v;
		return;
	}
	if (sect == SECT_LOG && eq(k.p, k.n, "level")) {
		r->log_level = v;
		return;
	}
	if (sect == SECT_SAMPLING && eq(k.p, k.n, "hz")) {
		r->sampling_hz = v;
		return;
	}
	if (sect != SECT_SELECT)
		return;
	if (eq(k.p, k.n, "include_seccomp")) {
		r->include_seccomp = truth(v);
		return;
	}
	if (eq(k.p, k.n, "start_after_cpu")) {
		set_start_after(r, v);
		return;
	}
	for (int i = 0; i < LDP_SEL_KINDS; i++) {
		if (is_key(k, "include_", kind_names[i]))
			r->include[i] = v;
		if (is_key(k, "exclude_", kind_names[i]))
			r->exclude[i] = v;
	}
}

/* The index of the first '\n' at or after i, or len: sixteen bytes at a time with SSE2 (all
 * of x86_64 has it), else eight (unaligned loads), never reading past len. Every process the
 * shim loads into reads the config, mostly comments (the packaged one is 7 KiB): this scan
 * was most of its cost. */
static size_t next_nl(const char *buf, size_t i, size_t len)
{
#if defined(__SSE2__)
	const __m128i nl16 = _mm_set1_epi8('\n');

	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl16));

		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = 0x0101010101010101ull, nl = ones * '\n';

	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		__builtin_memcpy(&w, buf + i, 8);
		w ^= nl;
		/* exact for the lowest zero byte (little-endian): the borrow only runs upwards */
		w = (w - ones) & ~w & (ones << 7);
		if (w)
			return i + (size_t)(__builtin_ctzll(w) >> 3);
	}
#endif
	while (i < len && buf[i] != '\n')
		i++;
	return i;
}

void ldp_select_scan(const char *buf, size_t len, struct ldp_select_rules *r)
{
	int sect = SECT_OTHER, have_prev = 0;
	size_t i = 0;

	/* A UTF-8 byte order mark, as inih allows. */
	if (len >= 3 && (unsigned char)buf[0] == 0xef && (unsigned char)buf[1] == 0xbb &&
	    (unsigned char)buf[2] == 0xbf)
		i = 3;
	while (i < len) {
		size_t start = i, end, eqpos, cut, j = i;
		struct ldp_sel_str line;

		while (j < len && space(buf[j]))
			j++;
		end = next_nl(buf, j, len);
		i = end + 1;
		/* blank or a comment: nothing to trim */
		if (j == end || buf[j] == ';' || buf[j] == '#')
			continue;
		line = trim(buf + start, end - start);
		/* inih glues an indented line onto the previous key of the section (an error for
		 * config.c); with no previous key, an indented line is read like any other. */
		if (have_prev && space(buf[start]))
			continue;
		if (line.p[0] == '[') {
			size_t k = 1;

			while (k < line.n && line.p[k] != ']')
				k++;
			if (k < line.n)
				have_prev = 0;
			sect = SECT_OTHER;
			if (k < line.n && eq(line.p + 1, k - 1, "select"))
				sect = SECT_SELECT;
			if (k < line.n && eq(line.p + 1, k - 1, "agent"))
				sect = SECT_AGENT;
			if (k < line.n && eq(line.p + 1, k - 1, "log"))
				sect = SECT_LOG;
			if (k < line.n && eq(line.p + 1, k - 1, "sampling"))
				sect = SECT_SAMPLING;
			continue;
		}
		for (eqpos = 0; eqpos < line.n && line.p[eqpos] != '=' && line.p[eqpos] != ':'; eqpos++)
			;
		if (eqpos == line.n)
			continue;
		have_prev = trim(line.p, eqpos).n != 0;
		/* An inline comment starts at a ';' after a blank, as inih reads it. */
		for (cut = eqpos + 1; cut < line.n; cut++)
			if (line.p[cut] == ';' && space(line.p[cut - 1]))
				break;
		set_key(r, sect, trim(line.p, eqpos),
			trim(line.p + eqpos + 1, cut - eqpos - 1));
	}
}

int ldp_select_env(struct ldp_select_rules *r, const char *name, const char *value)
{
	static const char *const upper[LDP_SEL_KINDS] = { "EXE", "COMM", "USER", "CGROUP" };
	struct ldp_sel_str v = { value, slen(value) };
	struct ldp_sel_str k = { name, slen(name) };

	if (eq(k.p, k.n, "LDPROF_SELECT_INCLUDE_SECCOMP")) {
		r->include_seccomp = truth(v);
		return 1;
	}
	if (eq(k.p, k.n, "LDPROF_SELECT_START_AFTER_CPU")) {
		set_start_after(r, v);
		return 1;
	}
	if (eq(k.p, k.n, "LDPROF_AGENT_RINGS")) {
		r->agent_rings = truth(v);
		return 1;
	}
	if (eq(k.p, k.n, "LDPROF_SAMPLING_HZ")) {
		r->sampling_hz = v;
		return 1;
	}
	for (int i = 0; i < LDP_SEL_KINDS; i++) {
		if (is_key(k, "LDPROF_SELECT_INCLUDE_", upper[i])) {
			r->include[i] = v;
			return 1;
		}
		if (is_key(k, "LDPROF_SELECT_EXCLUDE_", upper[i])) {
			r->exclude[i] = v;
			return 1;
		}
	}
	return 0;
}

unsigned ldp_select_needs(const struct ldp_select_rules *r)
{
	unsigned need = 0;

	for (int k = 0; k < LDP_SEL_KINDS; k++) {
		const struct ldp_sel_str *l[2] = { &r->include[k], &r->exclude[k] };

		for (int j = 0; j < 2; j++) {
			if (!l[j]->n)
				continue;
			need |= 1u << k;
			if (k != LDP_SEL_USER)
				continue;
			for (size_t i = 0; i < l[j]->n; i++) {
				char c = l[j]->p[i];
				if (c != ',' && !space(c) && (c < '0' || c > '9'))
					need |= LDP_SEL_NEED_USERNAME;
			}
		}
	}
	return need;
}

/* ---- matching ---- */

/* One class "[...]" at pat[0..n): does it hold c? *used gets the class's length, 0 when the
 * '[' opens no class (then it is a plain character). */
static int class_match(const char *pat, size_t n, char c, size_t *used)
{
	size_t i = 1;
	int neg = 0, hit = 0;

	if (i < n && (pat[i] == '!' || pat[i] == '^')) {
		neg = 1;
		i++;
	}
	for (size_t first = i; i < n && (pat[i] != ']' || i == first); i++) {
		if (i + 2 < n && pat[i + 1] == '-' && pat[i + 2] != ']') {
			if ((unsigned char)c >= (unsigned char)pat[i] &&
			    (unsigned char)c <= (unsigned char)pat[i + 2])
				hit = 1;
			i += 2;
		} else if (pat[i] == c) {
			hit = 1;
		}
	}
	if (i >= n) {
		*used = 0;
		return c == '[';
	}
	*used = i + 1;
	return hit != neg;
}

/* Does s[0..sn) match pat[0..n)? Bounded by sn, not by a NUL: a cgroup path is matched in
 * place, inside the text of /proc/self/cgroup. */
static int match(const char *pat, size_t n, const char *s, size_t sn)
{
	size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;

	/* The classic linear wildcard walk: on a mismatch, go back to the last '*' and let it
	 * swallow one more byte. */
	for (;;) {
		if (p < n && pat[p] == '*') {
			star_p = ++p;
			star_i = i;
			continue;
		}
		if (i == sn) {
			while (p < n && pat[p] == '*')
				p++;
			return p == n;
		}
		if (p < n) {
			size_t used = 1;
			int ok;

			if (pat[p] == '?')
				ok = 1;
			else if (pat[p] == '[') {
				ok = class_match(pat + p, n - p, s[i], &used);
				if (!used)
					used = 1;
			} else
				ok = pat[p] == s[i];
			if (ok) {
				p += used;
				i++;
				continue;
			}
		}
		if (star_p == (size_t)-1)
			return 0;
		p = star_p;
		i = ++star_i;
	}
}

int ldp_select_glob(const char *pat, size_t n, const char *s)
{
	return match(pat, n, s, slen(s));
}

/* Does any glob of the comma-separated list match s[0..sn)? */
static int list_match(struct ldp_sel_str list, const char *s, size_t sn, char *hit, size_t hit_len)
{
	size_t i = 0;

	while (i < list.n) {
		size_t start = i;
		struct ldp_sel_str g;

		while (i < list.n && list.p[i] != ',')
			i++;
		g = trim(list.p + start, i - start);
		i++;
		if (g.n && match(g.p, g.n, s, sn)) {
			size_t k;

			for (k = 0; k < g.n && k + 1 < hit_len; k++)
				hit[k] = g.p[k];
			if (hit_len)
				hit[k] = 0;
			return 1;
		}
	}
	return 0;
}

/* The same for a NUL-terminated s, or NULL (a fact not known: no match). */
static int str_match(struct ldp_sel_str list, const char *s, char *hit, size_t hit_len)
{
	return s && list_match(list, s, slen(s), hit, hit_len);
}

static void put_uint(char *buf, size_t len, unsigned v)
{
	char tmp[12];
	size_t i = 0, k = 0;

	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < sizeof(tmp));
	while (i && k + 1 < len)
		buf[k++] = tmp[--i];
	if (len)
		buf[k] = 0;
}

/* Does the kind's list match the process? */
static int kind_match(int kind, struct ldp_sel_str list, const struct ldp_select_facts *f, char *hit,
		      size_t hit_len)
{
	char uid[12];

	switch (kind) {
	case LDP_SEL_EXE:
		return str_match(list, f->exe, hit, hit_len);
	case LDP_SEL_COMM:
		return str_match(list, f->comm, hit, hit_len) ||
		       (f->argv0 && f->argv0[0] && str_match(list, f->argv0, hit, hit_len));
	case LDP_SEL_USER:
		put_uint(uid, sizeof(uid), f->uid);
		return str_match(list, uid, hit, hit_len) || str_match(list, f->user, hit, hit_len);
	case LDP_SEL_CGROUP: {
		const char *c = f->cgroup;

		if (!c)
			return 0;
		/* Each line is "ID:CONTROLLERS:PATH"; the path is matched where it is, whatever
		 * its length (a copy into a fixed buffer would cut a deep path and match a prefix). */
		while (*c) {
			const char *path = 0;
			size_t colons = 0;

			for (; *c && *c != '\n'; c++)
				if (*c == ':' && colons < 2 && ++colons == 2)
					path = c + 1;
			if (path && list_match(list, path, (size_t)(c - path), hit, hit_len))
				return 1;
			if (*c)
				c++;
		}
		return 0;
	}
	}
	return 0;
}

static void say(char *detail, size_t len, const char *rule, const char *kind, const char *hit)
{
	size_t k = 0;

	for (const char *s = rule; *s && k + 1 < len; s++)
		detail[k++] = *s;
	for (const char *s = kind; *s && k + 1 < len; s++)
		detail[k++] = *s;
	if (hit && k + 1 < len)
		detail[k++] = '=';
	for (const char *s = hit; s && *s && k + 1 < len; s++)
		detail[k++] = *s;
	if (len)
		detail[k] = 0;
}

int ldp_select_decide(const struct ldp_select_rules *r, const struct ldp_select_facts *f,
		      char *detail, size_t detail_len)
{
	char hit[96];
	int any_include = 0;

	for (int k = 0; k < LDP_SEL_KINDS; k++)
		if (r->exclude[k].n && kind_match(k, r->exclude[k], f, hit, sizeof(hit))) {
			say(detail, detail_len, "exclude_", kind_names[k], hit);
			return 1;
		}
	for (int k = 0; k < LDP_SEL_KINDS; k++) {
		if (!r->include[k].n)
			continue;
		any_include = 1;
		if (kind_match(k, r->include[k], f, hit, sizeof(hit)))
			return 0;
	}
	if (any_include) {
		say(detail, detail_len, "no include rule matches", "", 0);
		return 1;
	}
	return 0;
}

int ldp_select_passwd_name(const char *buf, size_t len, unsigned uid, char *name, size_t name_len)
{
	size_t i = 0;

	/* "name:passwd:uid:gid:gecos:home:shell" per line */
	while (i < len) {
		size_t start = i, f2 = 0, nlen = 0;
		int field = 0;
		unsigned long v = 0;
		int digits = 0, bad = 0;

		while (i < len && buf[i] != '\n') {
			if (buf[i] == ':') {
				field++;
				if (field == 1)
					nlen = i - start;
				if (field == 2)
					f2 = i + 1;
			} else if (field == 2) {
				/* v stays within 32 bits, also where unsigned long has 32 */
				if (buf[i] < '0' || buf[i] > '9' ||
				    v > (0xffffffffUL - (unsigned long)(buf[i] - '0')) / 10)
					bad = 1;
				else
					v = v * 10 + (unsigned long)(buf[i] - '0'), digits++;
			}
			i++;
		}
		i++;
		if (field >= 3 && !bad && digits && v == uid && nlen && nlen < name_len && f2) {
			for (size_t k = 0; k < nlen; k++)
				name[k] = buf[start + k];
			name[nlen] = 0;
			return 0;
		}
	}
	return -1;
}
