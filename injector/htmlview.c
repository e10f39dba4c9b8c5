/* SPDX-License-Identifier: MIT
 *
 * htmlview.c — the HTML report (see htmlview.h).
 *
 * The page is injector/report.html, taken into the binary as it is (.incbin), with one marker
 * where the data goes. The data is JSON inside <script type="application/json">: the only
 * thing that could end that element early is "</", and every '<', '>' and '&' in a string is
 * written as \u003c, \u003e, \u0026, so no name can. A byte that is not part of valid UTF-8
 * becomes U+FFFD, so the page always parses.
 *
 * The tree and the groups are most of the data (a profile of 100,000 distinct stacks can have
 * 2.5 million nodes): they go as base64 of LEB128 varints. A node is (frame id + 1) * 2, plus
 * 1 when its parent is not the node just before it, and then the distance back to its parent;
 * most nodes take 2 or 3 bytes, a quarter of the size of JSON numbers, and the browser decodes
 * them in a single pass instead of parsing them. Counts are below 2^53 in any
 * real profile; past it a browser rounds them, nothing worse.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "htmlview.h"

#define MARKER "@LDPROF_DATA@"

/* The page, from the source tree at build time (make runs the compiler at the top of it). */
__asm__(".section .rodata\n"
	".balign 16\n"
	"ldp_html_page:\n"
	".incbin \"injector/report.html\"\n"
	"ldp_html_page_end:\n"
	".byte 0\n"
	".previous\n");
extern const char ldp_html_page[], ldp_html_page_end[];

static void put_str(FILE *out, const char *s)
{
	fputc('"', out);
	while (*s) {
		size_t n = ldp_flame_utf8_len(s);
		unsigned char c = (unsigned char)*s;

		if (!n) {
			fputs("\\ufffd", out);
			s++;
			continue;
		}
		if (n > 1)
			fwrite(s, 1, n, out);
		else if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&')
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
		s += n;
	}
	fputc('"', out);
}

/* base64 of a stream of varints, inside one JSON string */
struct b64 {
	FILE *out;
	unsigned char in[3];
	int n;
};

static const char b64_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* in[0..n) as base64: 4 characters, '=' for the bytes missing */
static void b64_quad(struct b64 *b, int n)
{
	unsigned char x = b->in[0], y = n > 1 ? b->in[1] : 0, z = n > 2 ? b->in[2] : 0;
	char q[4] = { b64_tab[x >> 2], b64_tab[(x & 3) << 4 | y >> 4],
		      n > 1 ? b64_tab[(y & 15) << 2 | z >> 6] : '=', n > 2 ? b64_tab[z & 63] : '=' };

	fwrite(q, 1, 4, b->out);
	b->n = 0;
}

static void b64_varint(struct b64 *b, uint64_t v)
{
	for (;;) {
		b->in[b->n++] = (unsigned char)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
		if (b->n == 3)
			b64_quad(b, 3);
		if (v < 0x80)
			return;
		v >>= 7;
	}
}

static void b64_end(struct b64 *b)
{
	if (b->n)
		b64_quad(b, b->n);
}

/* a JSON array of strings */
static void put_strs(FILE *out, const char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(i % 16 ? "," : ",\n", out);
		put_str(out, v[i]);
	}
	fputc(']', out);
}

static void put_data(const struct ldp_html_view *v, FILE *out)
{
	static const char *const filter[LDP_HTML_NFILTERS] = { "process", "thread", "service" };
	size_t nodes = ldp_flame_nodes(v->flame);
	struct b64 b = { .out = out };
	uint32_t parent;
	int64_t id;

	fputs("{\"version\":1,\"title\":", out);
	put_str(out, v->title ? v->title : "ldprof");
	fputs(",\"subtitle\":", out);
	put_str(out, v->subtitle ? v->subtitle : "");
	fprintf(out, ",\"diff\":%s", v->diff ? "true" : "false");
	fputs(",\n\"names\":", out);
	put_strs(out, v->names, v->nframes);
	fputs(",\n\"kinds\":[", out);
	for (size_t i = 0; i < v->nframes; i++)
		fprintf(out, "%s%d", i ? (i % 64 ? "," : ",\n") : "", v->kinds[i]);
	/* the root is (0 * 2 + 1, 0): frame -1, its own parent */
	fprintf(out, "],\n\"nnodes\":%zu,\"nodes\":\"", nodes);
	for (size_t i = 0; i < nodes; i++) {
		ldp_flame_node(v->flame, i, &parent, &id);
		b64_varint(&b, (uint64_t)(id + 1) << 1 | (i - parent != 1));
		if (i - parent != 1)
			b64_varint(&b, i - parent);
	}
	b64_end(&b);
	fputc('"', out);
	fputs(",\n\"filters\":{", out);
	for (int k = 0; k < LDP_HTML_NFILTERS; k++) {
		fprintf(out, "%s\"%s\":", k ? ",\n" : "", filter[k]);
		put_strs(out, v->values[k], v->nvalues[k]);
	}
	/* the groups, LDP_HTML_GROUP numbers each (counts below 0 are not made by report.c) */
	fprintf(out, "},\n\"ngroups\":%zu,\"groups\":\"", v->ngroups);
	for (size_t i = 0; i < v->ngroups * LDP_HTML_GROUP; i++)
		b64_varint(&b, v->groups[i] < 0 ? 0 : (uint64_t)v->groups[i]);
	b64_end(&b);
	fputs("\"}", out);
}

int ldp_html_write(const struct ldp_html_view *v, FILE *out)
{
	size_t len = (size_t)(ldp_html_page_end - ldp_html_page);
	const char *at = memmem(ldp_html_page, len, MARKER, strlen(MARKER));

	if (!at)
		return -EINVAL; /* a page without its marker: the build is broken */
	fwrite(ldp_html_page, 1, (size_t)(at - ldp_html_page), out);
	put_data(v, out);
	at += strlen(MARKER);
	fwrite(at, 1, len - (size_t)(at - ldp_html_page), out);
	return ferror(out) ? -EIO : 0;
}
