/* SPDX-License-Identifier: MIT
 *
 * test_spool.c — the on-disk spool (common/spool.c), each check in a fresh mkdtemp folder.
 *
 * The file format both ways (round trip, and hand-made frames that must be refused), put and
 * count, oldest-first claims, the byte bound and its drop count, claim/done/release, corrupt
 * files set aside as .bad, symlinks and foreign names left alone, recovery of a dead process's
 * claim, and 4 forked drainers emptying 200 files with each claimed exactly once.
 *
 * `test_spool --write-corpus DIR` writes the fuzz seeds (tests/fuzz/corpus/fuzz_spool/) and
 * exits. Prints one line per check; exits 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "spool.h"

#include "check.h"

#define T0 1700000000000000000ll
#define MAX_CONTENT ((size_t)LDP_SHIP_MAX_PPROF + 65536)

/* ---- helpers ---- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint8_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)rng;
}

/* A shipment with len bytes of pprof (random: incompressible, so file sizes are predictable). */
static void make(struct ldp_shipment *s, int64_t from, int64_t until, size_t len, int nlabels)
{
	char k[32], v[32];

	memset(s, 0, sizeof(*s));
	s->from_ns = from;
	s->until_ns = until;
	s->hz = 99;
	s->pprof = malloc(len);
	s->len = len;
	for (size_t i = 0; i < len; i++)
		s->pprof[i] = rnd();
	for (int i = 0; i < nlabels; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		snprintf(v, sizeof(v), "value=%d", i); /* '=' in a value is allowed */
		ldp_shipment_add_label(s, k, v);
	}
}

static bool same(const struct ldp_shipment *a, const struct ldp_shipment *b)
{
	if (a->from_ns != b->from_ns || a->until_ns != b->until_ns || a->hz != b->hz ||
	    a->nlabels != b->nlabels || a->len != b->len || memcmp(a->pprof, b->pprof, a->len))
		return false;
	for (int i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i].key, b->labels[i].key) ||
		    strcmp(a->labels[i].value, b->labels[i].value))
			return false;
	return true;
}

static bool cleared(const struct ldp_shipment *s)
{
	static const struct ldp_shipment zero;

	return !memcmp(s, &zero, sizeof(zero));
}

/* The file content, written from the format's description (not by spool.c's code). */
static size_t content(const struct ldp_shipment *s, uint8_t *out, size_t cap)
{
	size_t n = (size_t)snprintf((char *)out, cap, "LDPSPOOL1\nfrom=%" PRId64 "\nuntil=%" PRId64
				    "\nhz=%d\n", s->from_ns, s->until_ns, s->hz);

	for (int i = 0; i < s->nlabels; i++)
		n += (size_t)snprintf((char *)out + n, cap - n, "label=%s=%s\n", s->labels[i].key,
				      s->labels[i].value);
	out[n++] = '\n';
	memcpy(out + n, s->pprof, s->len);
	return n + s->len;
}

/* A zstd frame by hand: 4-byte content size, single segment, raw (stored) blocks, no checksum.
 * The fuzzer's mutations of such a frame reach the header parser instead of zstd's checks. */
static size_t raw_frame(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t pos = 9;

	memcpy(out, "\x28\xb5\x2f\xfd\xa0", 5);
	for (int i = 0; i < 4; i++)
		out[5 + i] = (uint8_t)(len >> (8 * i));
	do {
		size_t bs = len > 131072 ? 131072 : len;
		uint32_t h = (uint32_t)(bs << 3) | (bs == len); /* type 0: raw */

		out[pos++] = (uint8_t)h;
		out[pos++] = (uint8_t)(h >> 8);
		out[pos++] = (uint8_t)(h >> 16);
		memcpy(out + pos, in, bs);
		pos += bs;
		in += bs;
		len -= bs;
	} while (len);
	return pos;
}

/* content text + pprof bytes -> zstd-compressed frame (with content size), decoded */
static int decode_text(const char *text, struct ldp_shipment *s)
{
	size_t n = strlen(text), cap = ZSTD_compressBound(n), z;
	uint8_t *buf = malloc(cap);
	int r;

	z = ZSTD_compress(buf, cap, text, n, 3);
	memset(s, 0xa5, sizeof(*s));
	r = ZSTD_isError(z) ? -999 : ldp_spool_decode(buf, z, s);
	free(buf);
	return r;
}

static char tmpdir[64];
static char spool[128];

static void fresh(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_spool.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(spool, sizeof(spool), "%s/spool", tmpdir); /* put creates it */
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	return remove(p);
}

static void done_dir(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Files in spool whose name ends with suffix. */
static int count_suffix(const char *suffix)
{
	char cmd[256];
	int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls -a '%s' 2>/dev/null | grep -c -- '%s$'", spool, suffix);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	pclose(f);
	return n;
}

static size_t encoded_len(const struct ldp_shipment *s)
{
	uint8_t *b;
	size_t n;

	if (ldp_spool_encode(s, &b, &n) < 0)
		return 0;
	free(b);
	return n;
}

static int put(int64_t from, int64_t until, size_t len, uint64_t max, unsigned *dropped)
{
	struct ldp_shipment s;
	int r;

	make(&s, from, until, len, 2);
	r = ldp_spool_put(spool, max, &s, dropped);
	ldp_shipment_clear(&s);
	return r;
}

/* ---- format ---- */

static void test_roundtrip(void)
{
	struct ldp_shipment s, d, bad;
	uint8_t *buf = NULL, *raw;
	size_t len, rlen;
	int r;

	make(&s, T0, T0 + 10000000000ll, 5000, 3);
	ldp_shipment_add_label(&s, LDP_LABEL_SERVICE, ""); /* empty value */
	r = ldp_spool_encode(&s, &buf, &len);
	CHECK(r == 0 && len > 0, "encode: %d, %zu bytes", r, len);
	memset(&d, 0xa5, sizeof(d));
	r = ldp_spool_decode(buf, len, &d);
	CHECK(r == 0 && same(&s, &d), "decode gives back window, hz, 4 labels and the bytes: %d", r);
	CHECK(d.nlabels == 4 && !strcmp(d.labels[1].value, "value=1") && !d.labels[3].value[0],
	      "label values keep '=' and may be empty");
	ldp_shipment_clear(&d);
	free(buf);

	/* the format as documented, written by hand, decodes to the same */
	raw = malloc(2 * 65536);
	rlen = content(&s, raw, 65536);
	buf = malloc(rlen + 64);
	len = raw_frame(raw, rlen, buf);
	r = ldp_spool_decode(buf, len, &d);
	CHECK(r == 0 && same(&s, &d), "a hand-made frame of the documented format decodes: %d", r);
	ldp_shipment_clear(&d);
	free(buf);
	ldp_shipment_clear(&s);

	make(&s, 0, 0, 1, LDP_SHIP_MAX_LABELS);
	r = ldp_spool_encode(&s, &buf, &len);
	CHECK(r == 0, "48 labels, 1 byte, zero window encode: %d", r);
	r = r ? r : ldp_spool_decode(buf, len, &d);
	CHECK(r == 0 && same(&s, &d), "and decode: %d", r);
	ldp_shipment_clear(&d);
	free(buf);

	/* encode refuses what decode would refuse */
	memcpy(&bad, &s, sizeof(s));
	bad.nlabels = 1;
	snprintf(bad.labels[0].key, sizeof(bad.labels[0].key), "a\nb");
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "newline in a key");
	snprintf(bad.labels[0].key, sizeof(bad.labels[0].key), "a=b");
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "'=' in a key");
	bad.labels[0].key[0] = 0;
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "empty key");
	memset(bad.labels[0].key, 'k', sizeof(bad.labels[0].key));
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "key without room for its NUL");
	snprintf(bad.labels[0].key, sizeof(bad.labels[0].key), "k");
	snprintf(bad.labels[0].value, sizeof(bad.labels[0].value), "v\n");
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "newline in a value");
	memset(bad.labels[0].value, 'v', sizeof(bad.labels[0].value));
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "value without room for its NUL");
	memcpy(&bad, &s, sizeof(s));
	bad.nlabels = LDP_SHIP_MAX_LABELS + 1;
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "49 labels");
	bad.nlabels = 0;
	bad.len = 0;
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "empty pprof");
	bad.len = LDP_SHIP_MAX_PPROF + 1;
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EFBIG, "pprof over LDP_SHIP_MAX_PPROF");
	bad.len = 1;
	bad.hz = 0;
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "hz 0");
	bad.hz = 99;
	bad.from_ns = 5;
	bad.until_ns = 4;
	CHECK(ldp_spool_encode(&bad, &buf, &len) == -EINVAL, "window ends before it starts");
	ldp_shipment_clear(&s);
	free(raw);
}

static void test_decode_rejects(void)
{
	struct ldp_shipment s, d;
	uint8_t *buf, *two, frame[64];
	size_t len, bad_trunc = 0;
	char text[8192];
	int r;

	make(&s, T0, T0 + 1, 300, 2);
	if (ldp_spool_encode(&s, &buf, &len) < 0) {
		CHECK(0, "encode");
		return;
	}
	for (size_t n = 0; n < len; n++) {
		memset(&d, 0xa5, sizeof(d));
		r = ldp_spool_decode(buf, n, &d);
		if (r != -EBADMSG || !cleared(&d))
			bad_trunc++;
	}
	CHECK(bad_trunc == 0, "every truncation (%zu) is -EBADMSG and leaves *s cleared", len);

	two = malloc(2 * len + 1);
	memcpy(two, buf, len);
	two[len] = 0;
	r = ldp_spool_decode(two, len + 1, &d);
	CHECK(r == -EBADMSG && cleared(&d), "a byte after the frame: %d", r);
	memcpy(two + len, buf, len);
	r = ldp_spool_decode(two, 2 * len, &d);
	CHECK(r == -EBADMSG && cleared(&d), "two frames: %d", r);
	buf[len / 2] ^= 0x10;
	r = ldp_spool_decode(buf, len, &d);
	CHECK(r == -EBADMSG && cleared(&d), "a flipped bit (checksum): %d", r);
	for (size_t i = 0; i < len; i++)
		two[i] = rnd();
	r = ldp_spool_decode(two, len, &d);
	CHECK(r == -EBADMSG && cleared(&d), "random bytes: %d", r);
	r = ldp_spool_decode((const uint8_t *)"LDPSPOOL1\nfrom=1\n", 17, &d);
	CHECK(r == -EBADMSG && cleared(&d), "not compressed: %d", r);
	r = ldp_spool_decode(NULL, 0, &d);
	CHECK(r == -EBADMSG && cleared(&d), "nothing: %d", r);
	free(two);
	free(buf);

	/* a frame that announces more than the cap: refused before anything is allocated */
	memcpy(frame, "\x28\xb5\x2f\xfd\xe0", 5); /* 8-byte content size, single segment */
	for (int i = 0; i < 8; i++)
		frame[5 + i] = (uint8_t)((MAX_CONTENT + 1) >> (8 * i));
	memcpy(frame + 13, "\x51\x00\x00" "LDPSPOOL1\n", 13); /* last raw block of 10 bytes */
	memset(&d, 0xa5, sizeof(d));
	r = ldp_spool_decode(frame, 26, &d);
	CHECK(r == -EBADMSG && cleared(&d), "content size over LDP_SHIP_MAX_PPROF + 64 KiB: %d", r);
	{
		ZSTD_CCtx *cc = ZSTD_createCCtx();
		const char *t = "LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\n\nX";
		size_t z;

		ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
		buf = malloc(256);
		z = ZSTD_compress2(cc, buf, 256, t, strlen(t));
		memset(&d, 0xa5, sizeof(d));
		r = ZSTD_isError(z) ? -999 : ldp_spool_decode(buf, z, &d);
		CHECK(r == -EBADMSG && cleared(&d), "content size not in the frame: %d", r);
		free(buf);
		ZSTD_freeCCtx(cc);
	}

	r = decode_text("LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nlabel=a=b\n\nX", &d);
	CHECK(r == 0 && d.len == 1 && d.pprof[0] == 'X' && d.nlabels == 1, "the minimal file: %d", r);
	ldp_shipment_clear(&d);
	len = (size_t)snprintf(text, sizeof(text), "LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\n");
	for (int i = 0; i <= LDP_SHIP_MAX_LABELS; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "label=k%d=v\n", i);
	snprintf(text + len, sizeof(text) - len, "\nX");
	r = decode_text(text, &d);
	CHECK(r == -EBADMSG && cleared(&d), "49 labels: %d", r);

	static const char *const bad[] = {
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nnew=1\n\nX",       /* unknown header line */
		"LDPSPOOL2\nfrom=1\nuntil=2\nhz=3\n\nX",              /* magic */
		"LDPSPOOL1\nuntil=2\nfrom=1\nhz=3\n\nX",              /* order */
		"LDPSPOOL1\nfrom=1\nfrom=1\nuntil=2\nhz=3\n\nX",      /* repeated */
		"LDPSPOOL1\nfrom=1\nuntil=2\n\nX",                    /* missing hz */
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\n\n",               /* empty pprof */
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\n",                 /* no blank line */
		"LDPSPOOL1\nfrom=01\nuntil=2\nhz=3\n\nX",             /* leading zero */
		"LDPSPOOL1\nfrom=-1\nuntil=2\nhz=3\n\nX",             /* negative */
		"LDPSPOOL1\nfrom=+1\nuntil=2\nhz=3\n\nX",
		"LDPSPOOL1\nfrom=1 \nuntil=2\nhz=3\n\nX",
		"LDPSPOOL1\nfrom=\nuntil=2\nhz=3\n\nX",
		"LDPSPOOL1\nfrom=3\nuntil=2\nhz=3\n\nX",              /* until < from */
		"LDPSPOOL1\nfrom=1\nuntil=9223372036854775808\nhz=3\n\nX", /* > INT64_MAX */
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=0\n\nX",
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=2147483648\n\nX",
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nlabel=ab\n\nX",    /* no '=' */
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nlabel==b\n\nX",    /* empty key */
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nlabel=a=b\r\nfoo\n\nX",
		"LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nlabel=kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
		"kkkkkkkkkkkkkkkkkkkkkkkk=v\n\nX",                    /* 64-byte key */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = decode_text(bad[i], &d);
		CHECK(r == -EBADMSG && cleared(&d), "refused bad[%zu] (see the list): %d", i, r);
		ldp_shipment_clear(&d);
	}
	{
		/* a NUL inside a header line (decode_text stops at NUL: compress by hand) */
		static const char t[] = "LDPSPOOL1\nfrom=1\nuntil=2\nhz=3\nlabel=a=b\0c\n\nX";
		uint8_t out[256];
		size_t z = ZSTD_compress(out, sizeof(out), t, sizeof(t) - 1, 3);

		memset(&d, 0xa5, sizeof(d));
		r = ldp_spool_decode(out, z, &d);
		CHECK(r == -EBADMSG && cleared(&d), "NUL in a label value: %d", r);
	}
	ldp_shipment_clear(&s);
}

/* ---- the folder ---- */

static void test_put_count(void)
{
	unsigned files = 99, dropped = 99;
	uint64_t bytes = 99, want = 0;
	struct ldp_shipment s;
	struct stat st;
	int r;

	fresh();
	r = ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 0 && files == 0 && bytes == 0, "count of a missing folder: 0 (%d)", r);
	for (int i = 0; i < 3; i++) {
		make(&s, T0 + i, T0 + i + 1, 1000 + 100 * (size_t)i, 1);
		want += encoded_len(&s);
		r = ldp_spool_put(spool, 1 << 20, &s, &dropped);
		CHECK(r == 0 && dropped == 0, "put %d: %d, dropped %u", i, r, dropped);
		ldp_shipment_clear(&s);
	}
	CHECK(stat(spool, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0,
	      "folder created without group/other access (%o)", st.st_mode & 0777);
	r = ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 0 && files == 3 && bytes == want, "count: %u files, %" PRIu64 " bytes (want %"
	      PRIu64 ")", files, bytes, want);
	CHECK(count_suffix(".ldps") == 3 && count_suffix("") == 5, "no temporaries left behind");
	done_dir();
}

static void test_order(void)
{
	int64_t untils[] = { 30, 10, 20, 5 }, got[4] = { 0 };
	char claim[PATH_MAX];
	struct ldp_shipment s;
	int r, n = 0;

	fresh();
	for (int i = 0; i < 4; i++)
		put(untils[i] - 1, untils[i], 100, 1 << 20, NULL);
	while ((r = ldp_spool_claim(spool, &s, claim, sizeof(claim), NULL)) == 1 && n < 4) {
		got[n++] = s.until_ns;
		ldp_spool_done(claim);
		ldp_shipment_clear(&s);
	}
	CHECK(r == 0 && n == 4 && got[0] == 5 && got[1] == 10 && got[2] == 20 && got[3] == 30,
	      "claimed oldest first: %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, got[0],
	      got[1], got[2], got[3]);
	done_dir();
}

static void test_bound(void)
{
	unsigned dropped, total = 0, files;
	struct ldp_shipment s;
	char claim[PATH_MAX];
	uint64_t bytes, max;
	size_t one;
	int r, bad = 0;

	fresh();
	make(&s, T0, T0 + 1, 2000, 2);
	/* every file below is about this size (same lengths; zstd may still find a few bytes to
	 * save in random data): 5 fit in the bound, 6 never do */
	one = encoded_len(&s);
	ldp_shipment_clear(&s);
	max = 5 * one + one / 2;
	for (int i = 0; i < 20; i++) {
		r = put(T0 + i, T0 + 100 + i, 2000, max, &dropped);
		if (r < 0 || dropped != (i >= 5))
			bad++;
		total += dropped;
		if (ldp_spool_count(spool, &files, &bytes) < 0 || bytes > max)
			bad++;
	}
	CHECK(bad == 0, "each put past the 5th dropped exactly one, the bound always held");
	r = ldp_spool_count(spool, &files, &bytes);
	CHECK(total == 15 && files == 5 && bytes <= max,
	      "20 puts into room for 5: %u dropped, %u left, %" PRIu64 " <= %" PRIu64 " bytes",
	      total, files, bytes, max);
	for (int i = 15; i < 20; i++) {
		r = ldp_spool_claim(spool, &s, claim, sizeof(claim), NULL);
		if (r != 1 || s.from_ns != T0 + i)
			bad++;
		if (r == 1)
			ldp_spool_done(claim);
		ldp_shipment_clear(&s);
	}
	CHECK(bad == 0, "the 5 left are the newest, in order");

	r = put(T0, T0 + 1, 10000, 1000, &dropped);
	CHECK(r == -EFBIG && dropped == 0, "a file larger than max_bytes: %d", r);
	r = put(T0, T0 + 1, 10, 0, &dropped);
	CHECK(r == -EFBIG, "max_bytes 0 (spool off): %d", r);
	r = ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 0 && files == 0 && count_suffix("") == 2, "and nothing was written");
	done_dir();
}

static void test_claim_done_release(void)
{
	char claim[PATH_MAX], want[64], path[PATH_MAX];
	struct ldp_shipment s;
	uint64_t bytes;
	unsigned files, nbad = 9;
	int r;

	fresh();
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), &nbad);
	CHECK(r == 0 && nbad == 0, "claim from a missing folder: nothing (%d)", r);
	put(1, 2, 100, 1 << 20, NULL);
	put(3, 4, 100, 1 << 20, NULL);
	r = ldp_spool_claim(spool, &s, claim, 10, NULL);
	CHECK(r == -ENAMETOOLONG && count_suffix(".ldps") == 2, "claim buffer too small: %d", r);
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), &nbad);
	snprintf(want, sizeof(want), ".ldps.claim-%d", (int)getpid());
	CHECK(r == 1 && s.from_ns == 1 && nbad == 0 && strstr(claim, want) &&
	      !strncmp(claim, spool, strlen(spool)), "claimed %s", claim);
	ldp_shipment_clear(&s);
	ldp_spool_count(spool, &files, &bytes);
	CHECK(files == 1 && access(claim, F_OK) == 0, "a claim is not counted as spooled");
	r = ldp_spool_release(claim);
	ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 0 && files == 2 && access(claim, F_OK) < 0, "release gives it back: %d", r);
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), NULL);
	CHECK(r == 1 && s.from_ns == 1, "and it keeps its place: from %" PRId64, s.from_ns);
	ldp_shipment_clear(&s);
	r = ldp_spool_done(claim);
	ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 0 && files == 1 && access(claim, F_OK) < 0, "done removes it: %d", r);
	r = ldp_spool_done(claim);
	CHECK(r == -ENOENT, "done twice: %d", r);
	snprintf(path, sizeof(path), "%s/somefile", spool);
	CHECK(ldp_spool_done(path) == -EINVAL && ldp_spool_release(path) == -EINVAL,
	      "done/release refuse a path that is not a claim");
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), NULL);
	CHECK(r == 1 && s.from_ns == 3, "next: from %" PRId64, s.from_ns);
	ldp_spool_done(claim);
	ldp_shipment_clear(&s);
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), NULL);
	CHECK(r == 0 && cleared(&s), "then nothing: %d", r);
	done_dir();
}

static void test_bad_files(void)
{
	char path[PATH_MAX], target[PATH_MAX], claim[PATH_MAX];
	struct ldp_shipment s;
	unsigned nbad = 0, files;
	uint64_t bytes;
	int fd, r;

	fresh();
	put(100, 200, 100, 1 << 20, NULL);
	/* a corrupt file, older than the good one */
	snprintf(path, sizeof(path), "%s/00000000000000000001-1-1.ldps", spool);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0 && write(fd, "garbage!", 8) == 8, "wrote a corrupt file");
	close(fd);
	/* a symlink with a spool name, to a valid spool file outside, and a name not ours */
	snprintf(target, sizeof(target), "%s/outside.ldps", tmpdir);
	{
		struct ldp_shipment o;
		uint8_t *b;
		size_t n;

		make(&o, 0, 0, 10, 0);
		ldp_spool_encode(&o, &b, &n);
		fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		CHECK(fd >= 0 && write(fd, b, n) == (ssize_t)n, "wrote a file outside");
		close(fd);
		snprintf(path, sizeof(path), "%s/foreign.ldps", spool);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		CHECK(fd >= 0 && write(fd, b, n) == (ssize_t)n, "wrote a foreign name");
		close(fd);
		free(b);
		ldp_shipment_clear(&o);
	}
	snprintf(path, sizeof(path), "%s/00000000000000000000-1-1.ldps", spool);
	CHECK(symlink(target, path) == 0, "symlink with a spool name");
	r = ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 0 && files == 2, "count skips the symlink and the foreign name: %u", files);
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), &nbad);
	CHECK(r == 1 && s.from_ns == 100 && nbad == 1, "the corrupt file is skipped (bad %u), the "
	      "good one claimed (%d)", nbad, r);
	ldp_spool_done(claim);
	ldp_shipment_clear(&s);
	snprintf(path, sizeof(path), "%s/00000000000000000001-1-1.ldps.bad", spool);
	CHECK(access(path, F_OK) == 0, "and renamed .bad");
	r = ldp_spool_claim(spool, &s, claim, sizeof(claim), &nbad);
	CHECK(r == 0 && nbad == 0, "symlink, foreign name and .bad are never claimed: %d", r);
	snprintf(path, sizeof(path), "%s/00000000000000000000-1-1.ldps", spool);
	CHECK(access(path, F_OK) == 0 && access(target, F_OK) == 0 && count_suffix("") == 5,
	      "and left alone");
	/* a bound that drops everything does not touch them either */
	put(300, 400, 100, 1 << 20, NULL);
	make(&s, 500, 600, 100, 2);
	r = ldp_spool_put(spool, encoded_len(&s), &s, &nbad);
	ldp_shipment_clear(&s);
	CHECK(r == 0 && nbad == 1 && count_suffix("") == 6,
	      "put into room for one file drops the other spooled file only (%d, %u)", r, nbad);
	CHECK(access(path, F_OK) == 0 && access(target, F_OK) == 0, "the symlink and its target "
	      "are still there");
	done_dir();
}

static void test_recover(void)
{
	char claim[3][PATH_MAX], dead[PATH_MAX], one[PATH_MAX], *p;
	struct ldp_shipment s;
	unsigned files;
	uint64_t bytes;
	pid_t child;
	int r;

	fresh();
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0); /* a pid that no longer exists */
	for (int i = 0; i < 3; i++) {
		put(10 * i, 10 * i + 1, 100, 1 << 20, NULL);
		r = ldp_spool_claim(spool, &s, claim[i], sizeof(claim[i]), NULL);
		ldp_shipment_clear(&s);
		if (r != 1)
			CHECK(0, "claim %d: %d", i, r);
	}
	/* claim[0] -> the dead child's, claim[1] stays ours (fresh), claim[2] -> pid 1's */
	snprintf(dead, sizeof(dead), "%s", claim[0]);
	p = strrchr(dead, '-');
	snprintf(p + 1, sizeof(dead) - (size_t)(p + 1 - dead), "%d", (int)child);
	snprintf(one, sizeof(one), "%s", claim[2]);
	p = strrchr(one, '-');
	snprintf(p + 1, sizeof(one) - (size_t)(p + 1 - one), "1");
	CHECK(rename(claim[0], dead) == 0 && rename(claim[2], one) == 0, "made claims of pid %d "
	      "(dead) and 1", (int)child);
	r = ldp_spool_recover(spool);
	ldp_spool_count(spool, &files, &bytes);
	CHECK(r == 1 && files == 1 && access(dead, F_OK) < 0, "the dead pid's claim came back: %d",
	      r);
	CHECK(access(claim[1], F_OK) == 0 && access(one, F_OK) == 0,
	      "our own and pid 1's fresh claims stay");
	r = ldp_spool_claim(spool, &s, claim[0], sizeof(claim[0]), NULL);
	CHECK(r == 1 && s.from_ns == 0, "and it is claimed again: %d", r);
	ldp_shipment_clear(&s);
	r = ldp_spool_recover(spool);
	CHECK(r == 0, "recover again: nothing (%d)", r);
	done_dir();
}

/* 4 processes drain 200 files at once: every file exactly once, none left. */
static void test_concurrency(void)
{
	enum { N = 200, KIDS = 4 };
	int seen[N] = { 0 }, bad = 0, total = 0, fails = 0;
	pid_t kids[KIDS];
	char path[PATH_MAX];
	unsigned files;
	uint64_t bytes;

	fresh();
	for (int i = 0; i < N; i++)
		if (put(i, T0 + i, 200, 1 << 30, NULL) < 0)
			fails++;
	CHECK(fails == 0, "put %d files", N);
	for (int k = 0; k < KIDS; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct ldp_shipment s;
			char claim[PATH_MAX];
			int fd, r;

			snprintf(path, sizeof(path), "%s/result-%d", tmpdir, k);
			fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
			while ((r = ldp_spool_claim(spool, &s, claim, sizeof(claim), NULL)) == 1) {
				dprintf(fd, "%" PRId64 "\n", s.from_ns);
				if (ldp_spool_done(claim) < 0)
					_exit(3);
				ldp_shipment_clear(&s);
			}
			close(fd);
			_exit(r == 0 ? 0 : 2);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st = -1;

		waitpid(kids[k], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	CHECK(bad == 0, "%d drainers exited cleanly", KIDS);
	for (int k = 0; k < KIDS; k++) {
		long long v;
		FILE *f;
		int n = 0;

		snprintf(path, sizeof(path), "%s/result-%d", tmpdir, k);
		f = fopen(path, "re");
		while (f && fscanf(f, "%lld", &v) == 1) {
			if (v >= 0 && v < N)
				seen[v]++;
			else
				bad++;
			n++;
			total++;
		}
		if (f)
			fclose(f);
		printf("     drainer %d claimed %d\n", k, n);
	}
	for (int i = 0; i < N; i++)
		if (seen[i] != 1)
			bad++;
	CHECK(bad == 0 && total == N, "each of the %d files claimed exactly once (%d claims)", N,
	      total);
	CHECK(ldp_spool_count(spool, &files, &bytes) == 0 && files == 0 && bytes == 0 &&
	      count_suffix("") == 2, "the spool is empty, no claim left");
	done_dir();
}

/* Counted here, not by a `ls` of ours through popen(): popen() closes its copy of the pipe's
 * other end only after the child has started, and a loaded machine let `ls` see it (CI: "4
 * before, 5 after"). The listing's own descriptor is left out. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
			n++;
	closedir(d);
	return n;
}

/* ---- fuzz seeds ---- */

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write(fd, buf, len) == (ssize_t)len ? 0 : -EIO;
	close(fd);
	return r;
}

static int write_corpus(const char *dir)
{
	static const char pb[] = "\x0a\x04\x08\x01\x10\x02\x32\x00\x32\x07samples"; /* pprof-ish */
	struct ldp_shipment s;
	uint8_t *c = malloc(65536), *f = malloc(65536 + 64), *e;
	size_t n, en;
	int r = 0;

	memset(&s, 0, sizeof(s));
	s.from_ns = T0;
	s.until_ns = T0 + 10000000000ll;
	s.hz = 99;
	s.pprof = (uint8_t *)pb;
	s.len = sizeof(pb) - 1;
	ldp_shipment_add_label(&s, LDP_LABEL_SERVICE, "demo");
	ldp_shipment_add_label(&s, LDP_LABEL_HOST, "host-1");
	ldp_shipment_add_label(&s, LDP_LABEL_PID, "4242");
	ldp_shipment_add_label(&s, "k", "a=b=c");
	if (ldp_spool_encode(&s, &e, &en) < 0)
		return 1;
	r |= write_file(dir, "encoded.ldps", e, en); /* compressed, with checksum: as on disk */
	free(e);
	n = raw_frame(c, content(&s, c, 65536), f);
	r |= write_file(dir, "raw-labels", f, n);
	s.nlabels = 0;
	n = raw_frame(c, content(&s, c, 65536), f);
	r |= write_file(dir, "raw-no-labels", f, n);
	for (int i = 0; i < LDP_SHIP_MAX_LABELS; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		ldp_shipment_add_label(&s, k, i ? "v" : "");
	}
	n = raw_frame(c, content(&s, c, 65536), f);
	r |= write_file(dir, "raw-48-labels", f, n);
	free(c);
	free(f);
	if (r)
		fprintf(stderr, "test_spool: writing the corpus to '%s' failed\n", dir);
	return r != 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);

	int fds = open_fds();

	test_roundtrip();
	test_decode_rejects();
	test_put_count();
	test_order();
	test_bound();
	test_claim_done_release();
	test_bad_files();
	test_recover();
	test_concurrency();
	CHECK(open_fds() == fds, "no descriptor left open (%d before, %d after)", fds, open_fds());

	printf("%d checks passed, %d failed\n", passed, failed);
	if (failed) {
		fprintf(stderr, "test_spool: %d check(s) FAILED\n", failed);
		return 1;
	}
	return 0;
}
