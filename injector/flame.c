/* SPDX-License-Identifier: MIT
 *
 * flame.c — flame graphs as SVG (see flame.h).
 *
 * The tree: node 0 is the root ("all"); a node is one frame id under one parent, found through
 * a hash of (parent, id). Drawing walks the tree depth first with an explicit stack (a stack
 * from a hostile profile may be deep), children in name order, and leaves out a frame
 * narrower than MIN_W pixels together with everything above it (as flamegraph.pl does): a
 * profile of 100,000 distinct stacks still makes a file a browser opens at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flame.h"

#define WIDTH 1200.0
#define PAD 10.0
#define FRAME_H 16.0
#define TOP 34.0      /* title */
#define BOTTOM 40.0   /* subtitle and legend */
#define MIN_W 0.1     /* pixels */
#define CHAR_W 7.2    /* of the 12px monospace font */

struct node {
	int64_t id;
	uint32_t parent;
	int64_t v[2];
};

struct ldp_flame {
	struct node *n;
	size_t len, cap;
	uint32_t *slots; /* node index + 1; 0 = empty */
	size_t mask;
};

struct ldp_flame *ldp_flame_new(void)
{
	struct ldp_flame *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->n = calloc(1, sizeof(*f->n));
	if (!f->n) {
		free(f);
		return NULL;
	}
	f->n[0].id = -1;
	f->len = f->cap = 1;
	return f;
}

void ldp_flame_free(struct ldp_flame *f)
{
	if (!f)
		return;
	free(f->n);
	free(f->slots);
	free(f);
}

static uint64_t hash2(uint32_t parent, int64_t id)
{
	uint64_t h = ((uint64_t)parent << 32 ^ (uint64_t)id) * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 31);
}

static int grow(struct ldp_flame *f)
{
	size_t ncap = f->mask ? (f->mask + 1) * 2 : 1024;
	uint32_t *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 1; i < f->len; i++) {
		size_t j = hash2(f->n[i].parent, f->n[i].id) & (ncap - 1);

		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = (uint32_t)(i + 1);
	}
	free(f->slots);
	f->slots = ns;
	f->mask = ncap - 1;
	return 0;
}

/* The child of parent for frame id, made when new; -errno on failure. */
static int64_t child(struct ldp_flame *f, uint32_t parent, int64_t id)
{
	size_t i;
	int r;

	if ((f->len + 1) * 2 > f->mask + 1) {
		if (f->len >= UINT32_MAX / 4)
			return -E2BIG;
		if ((r = grow(f)) < 0)
			return r;
	}
	for (i = hash2(parent, id) & f->mask; f->slots[i]; i = (i + 1) & f->mask) {
		const struct node *c = &f->n[f->slots[i] - 1];

		if (c->parent == parent && c->id == id)
			return f->slots[i] - 1;
	}
	if (f->len == f->cap) {
		size_t ncap = f->cap * 2;
		struct node *nn = reallocarray(f->n, ncap, sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		f->n = nn;
		f->cap = ncap;
	}
	f->n[f->len] = (struct node){ .id = id, .parent = parent };
	f->slots[i] = (uint32_t)(f->len + 1);
	return (int64_t)f->len++;
}

static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

int64_t ldp_flame_add(struct ldp_flame *f, const int64_t *ids, size_t n, int64_t count, int side)
{
	uint32_t cur = 0;

	side = side ? 1 : 0;
	f->n[0].v[side] = sat_add(f->n[0].v[side], count);
	for (size_t j = n; j-- > 0;) {
		int64_t c = child(f, cur, ids[j]);

		if (c < 0)
			return (int)c;
		cur = (uint32_t)c;
		f->n[cur].v[side] = sat_add(f->n[cur].v[side], count);
	}
	return cur;
}

size_t ldp_flame_nodes(const struct ldp_flame *f)
{
	return f->len;
}

void ldp_flame_node(const struct ldp_flame *f, size_t i, uint32_t *parent, int64_t *id)
{
	*parent = f->n[i].parent;
	*id = f->n[i].id;
}

size_t ldp_flame_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
		   (*p & 0xf8) == 0xf0 ? 4 : 0;

	if (n == 2 && *p < 0xc2)
		return 0; /* overlong */
	for (size_t k = 1; k < n; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* ---- writing ---- */

struct draw {
	const struct ldp_flame *f;
	const struct ldp_flame_svg *o;
	uint32_t *kid_at, *kids; /* the children of node i: kids[kid_at[i] .. kid_at[i + 1]) */
	int side;                /* whose samples make the widths */
	double scale, maxabs;    /* pixels per sample; largest change of share drawn (diff) */
	int64_t total[2];
	FILE *out;
};

static const char *name_of(const struct draw *d, uint32_t i)
{
	return i ? d->o->names[d->f->n[i].id] : "all";
}

static int cmp_kids(const void *a, const void *b, void *arg)
{
	const struct draw *d = arg;

	return strcmp(name_of(d, *(const uint32_t *)a), name_of(d, *(const uint32_t *)b));
}

/* Children lists in name order. */
static int index_kids(struct draw *d)
{
	const struct ldp_flame *f = d->f;

	d->kid_at = calloc(f->len + 1, sizeof(*d->kid_at));
	d->kids = calloc(f->len, sizeof(*d->kids));
	if (!d->kid_at || !d->kids)
		return -ENOMEM;
	for (size_t i = 1; i < f->len; i++)
		d->kid_at[f->n[i].parent + 1]++;
	for (size_t i = 0; i < f->len; i++)
		d->kid_at[i + 1] += d->kid_at[i];
	{
		uint32_t *fill = calloc(f->len, sizeof(*fill));

		if (!fill)
			return -ENOMEM;
		for (size_t i = 1; i < f->len; i++) {
			uint32_t p = f->n[i].parent;
			d->kids[d->kid_at[p] + fill[p]++] = (uint32_t)i;
		}
		free(fill);
	}
	for (size_t i = 0; i < f->len; i++)
		if (d->kid_at[i + 1] - d->kid_at[i] > 1)
			qsort_r(d->kids + d->kid_at[i], d->kid_at[i + 1] - d->kid_at[i], sizeof(*d->kids),
				cmp_kids, d);
	return 0;
}

/* s, XML-escaped, at most max bytes of it (0: all), whole UTF-8 sequences only; a byte that
 * is not part of valid UTF-8 becomes '?'. Adds ".." when cut. */
static void put_text(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t used = 0;

	while (*p) {
		size_t n = ldp_flame_utf8_len((const char *)p);
		int ok = n > 0;

		if (max && used + (ok ? n : 1) > max - 2 && strlen((const char *)p) > max - used) {
			fputs("..", out);
			return;
		}
		if (!ok) {
			fputc('?', out);
			p++;
			used++;
			continue;
		}
		if (n == 1) {
			switch (*p) {
			case '&': fputs("&amp;", out); break;
			case '<': fputs("&lt;", out); break;
			case '>': fputs("&gt;", out); break;
			case '"': fputs("&quot;", out); break;
			case '\'': fputs("&apos;", out); break;
			default: fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
			}
		} else {
			fwrite(p, 1, n, out);
		}
		p += n;
		used += n;
	}
}

static double share(int64_t v, int64_t total)
{
	return total > 0 ? (double)v / (double)total : 0.0;
}

static double unit_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return (double)(h % 1000) / 1000.0;
}

/* The fill of node i: by object, varied by name so neighbours differ; by change for a diff. */
static void fill(const struct draw *d, uint32_t i, char *buf, size_t len)
{
	const struct node *n = &d->f->n[i];
	double v = unit_hash(name_of(d, i));
	int r, g, b;

	if (d->o->diff) {
		double c = share(n->v[1], d->total[1]) - share(n->v[0], d->total[0]);
		double k = d->maxabs > 0 ? (c < 0 ? -c : c) / d->maxabs : 0;
		int fade = (int)(255 - 200 * k);

		r = c > 0 ? 255 : fade;
		g = fade;
		b = c < 0 ? 255 : fade;
		snprintf(buf, len, "rgb(%d,%d,%d)", r, g, b);
		return;
	}
	switch (i ? d->o->kinds[n->id] : LDP_FLAME_UNKNOWN) {
	case LDP_FLAME_PROGRAM: r = 230; g = 90 + (int)(90 * v); b = 40; break;
	case LDP_FLAME_LIBC: r = 225; g = 195 + (int)(45 * v); b = 60; break;
	case LDP_FLAME_LIB: r = 70; g = 180 + (int)(50 * v); b = 190; break;
	case LDP_FLAME_KERNEL: r = 110; g = 140 + (int)(50 * v); b = 235; break;
	case LDP_FLAME_JIT: r = 90; g = 195 + (int)(45 * v); b = 90; break;
	default: r = g = b = 185 + (int)(30 * v); break;
	}
	snprintf(buf, len, "rgb(%d,%d,%d)", r, g, b);
}

struct step {
	uint32_t node, depth;
	int64_t x; /* samples left of it */
};

/* Walks the drawn frames depth first; with out NULL only finds the depth and the largest
 * change of share. Returns the depth of the deepest frame drawn, or -errno. */
static int walk(struct draw *d, int draw, double height)
{
	const struct ldp_flame *f = d->f;
	struct step *st = malloc(f->len * sizeof(*st));
	size_t sp = 0;
	int maxdepth = 0;

	if (!st)
		return -ENOMEM;
	st[sp++] = (struct step){ 0, 0, 0 };
	while (sp) {
		struct step s = st[--sp];
		const struct node *n = &f->n[s.node];
		double w = (double)n->v[d->side] * d->scale, x = PAD + (double)s.x * d->scale;
		int64_t off = s.x;
		size_t first;

		if (w < MIN_W || n->v[d->side] <= 0)
			continue;
		if ((int)s.depth > maxdepth)
			maxdepth = (int)s.depth;
		if (!draw && d->o->diff && s.node) {
			double c = share(n->v[1], d->total[1]) - share(n->v[0], d->total[0]);
			if ((c < 0 ? -c : c) > d->maxabs)
				d->maxabs = c < 0 ? -c : c;
		}
		if (draw) {
			double y = height - BOTTOM - (s.depth + 1) * FRAME_H;
			size_t chars = w > 6 ? (size_t)((w - 6) / CHAR_W) : 0;
			char col[48];

			fill(d, s.node, col, sizeof(col));
			fputs("<g><title>", d->out);
			put_text(d->out, name_of(d, s.node), 0);
			if (d->o->diff)
				fprintf(d->out, " (%.2f%% -&gt; %.2f%%, %+.2f points; %lld -&gt; %lld samples)",
					100 * share(n->v[0], d->total[0]), 100 * share(n->v[1], d->total[1]),
					100 * (share(n->v[1], d->total[1]) - share(n->v[0], d->total[0])),
					(long long)n->v[0], (long long)n->v[1]);
			else
				fprintf(d->out, " (%lld samples, %.2f%%)", (long long)n->v[0],
					100 * share(n->v[0], d->total[0]));
			fprintf(d->out, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				"fill=\"%s\" rx=\"2\"/>", x, y, w, FRAME_H - 1, col);
			if (chars >= 3) {
				fprintf(d->out, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + FRAME_H - 5);
				put_text(d->out, name_of(d, s.node), chars);
				fputs("</text>", d->out);
			}
			fputs("</g>\n", d->out);
		}
		/* the children, each right of the one before; reversed on the stack so that the
		 * first pops first (the order only matters for reading the file) */
		first = sp;
		for (uint32_t k = d->kid_at[s.node]; k < d->kid_at[s.node + 1]; k++) {
			uint32_t c = d->kids[k];

			st[sp++] = (struct step){ c, s.depth + 1, off };
			off = sat_add(off, f->n[c].v[d->side]);
		}
		for (size_t a = first, b = sp; a + 1 < b; a++, b--) {
			struct step t = st[a];

			st[a] = st[b - 1];
			st[b - 1] = t;
		}
	}
	free(st);
	return maxdepth;
}

static void legend(const struct draw *d, double height)
{
	static const char *const what[] = { "program", "libc", "other libraries", "kernel", "JIT" };
	static const char *const col[] = { "rgb(230,135,40)", "rgb(225,215,60)", "rgb(70,205,190)",
					   "rgb(110,165,235)", "rgb(90,215,90)" };
	double x = WIDTH - PAD - 5 * 140;

	if (d->o->diff) {
		fprintf(d->out, "<text x=\"%.1f\" y=\"%.1f\">widths: the new profiles; red: a larger "
			"share of all samples than in the base, blue: smaller</text>\n", PAD, height - 8);
		return;
	}
	for (int i = 0; i < 5; i++, x += 140)
		fprintf(d->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
			"<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x, height - 18, col[i], x + 16,
			height - 8, what[i]);
}

int ldp_flame_write_svg(const struct ldp_flame *f, const struct ldp_flame_svg *o, FILE *out)
{
	struct draw d = { .f = f, .o = o, .out = out, .side = o->diff ? 1 : 0 };
	double height;
	int depth, r;

	d.total[0] = f->n[0].v[0];
	d.total[1] = f->n[0].v[1];
	d.scale = d.total[d.side] > 0 ? (WIDTH - 2 * PAD) / (double)d.total[d.side] : 0;
	r = index_kids(&d);
	if (r < 0)
		goto out;
	depth = walk(&d, 0, 0);
	if (depth < 0) {
		r = depth;
		goto out;
	}
	height = TOP + (depth + 1) * FRAME_H + BOTTOM;
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\">\n"
		"<style>text { font-family: monospace; font-size: 12px; fill: #000; } "
		"g:hover rect { stroke: #000; stroke-width: 0.5; }</style>\n"
		"<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#f6f6f6\"/>\n"
		"<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" style=\"font-size: 16px\">",
		WIDTH, height, WIDTH, height, WIDTH, height, WIDTH / 2);
	put_text(out, o->title ? o->title : "ldprof", 0);
	fprintf(out, "</text>\n<text x=\"%.0f\" y=\"%.1f\">", PAD, height - 24);
	put_text(out, o->subtitle ? o->subtitle : "", 0);
	fputs("</text>\n", out);
	legend(&d, height);
	if (d.total[d.side] > 0) {
		r = walk(&d, 1, height);
		if (r < 0)
			goto out;
	}
	fputs("</svg>\n", out);
	r = ferror(out) ? -EIO : 0;
out:
	free(d.kid_at);
	free(d.kids);
	return r;
}
