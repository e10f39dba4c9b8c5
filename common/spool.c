/* SPDX-License-Identifier: MIT
 *
 * spool.c — on-disk queue of profiles that could not be delivered yet (see spool.h).
 *
 * Overall design. One file per profile, "<until_ns, 20 digits>-<pid>-<seq>.ldps", written as
 * ".tmp-<pid>-<seq>", fsync()ed, rename()d into place and the folder fsync()ed, so a reader
 * never sees half a file and a crash leaves at most a stale temporary (removed by a later put
 * after TMP_TTL_S). Several processes put and drain one folder at once with no lock: every
 * state change is one rename() or unlink() of one name, and whoever loses a race sees ENOENT
 * and moves on. A claim is "<name>.claim-<pid>"; a file that does not decode becomes
 * "<name>.bad" and stays a day for a human to look at (put() removes older ones).
 *
 * The bound: put sums st_size (not st_blocks: what we wrote is what we count, independent of
 * the file system's block size) of the unclaimed *.ldps files and drops the oldest until the
 * new file fits. Claims, .bad files and temporaries are not counted. Two processes that put at
 * the same moment can each see room for their file: the folder can pass max_bytes by one file
 * per concurrent writer, until the next put.
 *
 * File content (inside one zstd frame with its content size and checksum):
 *   "LDPSPOOL1\n" "from=<ns>\n" "until=<ns>\n" "hz=<n>\n" ("label=<key>=<value>\n")* "\n" pprof
 * in exactly that order; numbers are canonical decimals. Decoding accepts exactly what encoding
 * writes, so decode(encode(s)) == s and anything else is refused.
 *
 * Never: follow a symlink for a spool file (O_NOFOLLOW, fstatat AT_SYMLINK_NOFOLLOW) or on the
 * way to the folder (ldp_dir_open: callers give the path as the kernel resolved it), keep a
 * descriptor past return, print,
 * raise or block signals (kill(pid, 0) sends none), grow memory without bound (a listing keeps
 * at most LIST_CAP names, a decode at most LDP_SHIP_MAX_PPROF + 64 KiB). Runs on the shim's
 * background thread inside arbitrary programs; never called from a signal handler.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "fileio.h"
#include "spool.h"

#define MAGIC "LDPSPOOL1\n"
#define MAX_CONTENT ((size_t)LDP_SHIP_MAX_PPROF + 65536) /* decompressed, and compressed read cap */
#define HDR_MAX 16384     /* longest header encode can write: 15727 bytes, see format_header */
#define ZLEVEL 3
#define TMP_TTL_S 600     /* a temporary this old belongs to a writer that crashed */
#define BAD_TTL_S 86400   /* an unreadable file is kept this long, then removed */
/* A listing keeps at most this many names (the oldest ones, ~10 MiB): a spool of more files
 * is drained in passes. Claim needs only the first few. */
#define LIST_CAP 100000
#define CLAIM_BATCH 64
/* "<20>-<10>-<20>.ldps.claim-<10>" is 74 bytes; a longer name is not ours. */
#define NAME_LEN 96

_Static_assert(HDR_MAX < 65536, "the header must fit in the decode slack");

static _Atomic uint64_t seq;

/* ---- names ---- */

/* Number of decimal digits at p (at most max, no more before end), 0 if fewer than min. */
static size_t digits(const char *p, const char *end, size_t min, size_t max)
{
	size_t n = 0;

	while (p + n < end && n <= max && p[n] >= '0' && p[n] <= '9')
		n++;
	return n >= min && n <= max ? n : 0;
}

/* "<20 digits>-<1..10 digits>-<1..20 digits>.ldps", exactly n bytes. */
static bool ldps_name(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	size_t k;

	if (n >= NAME_LEN || digits(p, end, 20, 20) != 20)
		return false;
	p += 20;
	if (p == end || *p++ != '-' || !(k = digits(p, end, 1, 10)))
		return false;
	p += k;
	if (p == end || *p++ != '-' || !(k = digits(p, end, 1, 20)))
		return false;
	p += k;
	return (size_t)(end - p) == 5 && !memcmp(p, ".ldps", 5);
}

/* "<ldps name>.claim-<pid>": the length of the ldps name and the pid, or 0. */
static size_t claim_name(const char *s, int *ret_pid)
{
	const char *c = strstr(s, ".claim-"), *end;
	long pid = 0;
	size_t k;

	if (!c || !ldps_name(s, (size_t)(c - s)))
		return 0;
	end = c + strlen(c);
	c += 7;
	k = digits(c, end, 1, 10);
	if (!k || c + k != end || *c == '0')
		return 0;
	for (size_t i = 0; i < k; i++)
		pid = pid * 10 + (c[i] - '0');
	if (pid > INT_MAX) /* and > 0: no leading zero. kill() of 0 or -1 would mean a group */
		return 0;
	*ret_pid = (int)pid;
	return (size_t)(c - 7 - s);
}

/* ".tmp-<pid>-<seq>" */
static bool tmp_name(const char *s)
{
	const char *end = s + strlen(s), *p;
	size_t k;

	if (strncmp(s, ".tmp-", 5))
		return false;
	p = s + 5;
	if (!(k = digits(p, end, 1, 10)))
		return false;
	p += k;
	if (p == end || *p++ != '-' || !(k = digits(p, end, 1, 20)))
		return false;
	return p + k == end;
}

/* ---- listing: the oldest names, in order ---- */

struct ent {
	char name[NAME_LEN];
	uint64_t size;
};

struct list {
	struct ent *e;
	size_t n, cap;
	bool truncated; /* more names than kept: after the kept ones, list again */
};

static void list_free(struct list *l)
{
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static int cmp_ent(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->name, ((const struct ent *)b)->name);
}

static void swap_ent(struct ent *a, struct ent *b)
{
	struct ent t = *a;

	*a = *b;
	*b = t;
}

/* Keeps the keep lowest names in a max-heap (e[0] is the highest kept), so a folder of any
 * size is listed in bounded memory and the kept names are still the oldest. */
static int keep_lowest(struct list *l, size_t keep, const char *name, size_t nlen,
		       uint64_t size)
{
	size_t i;

	if (l->n == keep) {
		l->truncated = true;
		if (strcmp(name, l->e[0].name) >= 0)
			return 0;
		memcpy(l->e[0].name, name, nlen + 1); /* nlen < NAME_LEN: checked by ldps_name */
		l->e[0].size = size;
		for (i = 0;;) { /* sift down */
			size_t c = 2 * i + 1, big = i;

			if (c < l->n && strcmp(l->e[c].name, l->e[big].name) > 0)
				big = c;
			if (c + 1 < l->n && strcmp(l->e[c + 1].name, l->e[big].name) > 0)
				big = c + 1;
			if (big == i)
				break;
			swap_ent(&l->e[i], &l->e[big]);
			i = big;
		}
		return 0;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct ent *ne;

		if (ncap > keep)
			ncap = keep;
		ne = realloc(l->e, ncap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		l->e = ne;
		l->cap = ncap;
	}
	i = l->n++;
	memcpy(l->e[i].name, name, nlen + 1);
	l->e[i].size = size;
	while (i && strcmp(l->e[(i - 1) / 2].name, l->e[i].name) < 0) { /* sift up */
		swap_ent(&l->e[(i - 1) / 2], &l->e[i]);
		i = (i - 1) / 2;
	}
	return 0;
}

/* Walks the folder's regular *.ldps files (symlinks and anything else skipped): counts them
 * and their st_size into *ret_files / *ret_bytes (may be NULL), keeps the keep oldest names in
 * l sorted (keep 0: none, l may be NULL), and with clean_tmp removes stale temporaries. */
static int scan(int dfd, size_t keep, bool clean_tmp, struct list *l, unsigned *ret_files,
		uint64_t *ret_bytes)
{
	time_t now = time(NULL);
	unsigned files = 0;
	uint64_t bytes = 0;
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	size_t nlen;
	int fd, r;

	/* a descriptor of our own: closedir() closes it, dfd stays the caller's */
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno; /* 0 at the end */
			if (r < 0)
				goto out;
			break;
		}
		if (clean_tmp && tmp_name(de->d_name)) {
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && st.st_mtime + TMP_TTL_S < now)
				unlinkat(dfd, de->d_name, 0); /* lost a race: someone else did */
			continue;
		}
		nlen = strlen(de->d_name);
		/* Unreadable files are kept a day for a human to look at, not forever. */
		if (clean_tmp && nlen > 4 && !strcmp(de->d_name + nlen - 4, ".bad") &&
		    ldps_name(de->d_name, nlen - 4)) {
			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && st.st_mtime + BAD_TTL_S < now)
				unlinkat(dfd, de->d_name, 0);
			continue;
		}
		if (!ldps_name(de->d_name, nlen))
			continue;
		/* gone since readdir (claimed, dropped): not there any more, skip it */
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		files++;
		bytes += (uint64_t)st.st_size;
		if (keep) {
			r = keep_lowest(l, keep, de->d_name, nlen, (uint64_t)st.st_size);
			if (r < 0)
				goto out;
		}
	}
	if (keep && l->n)
		qsort(l->e, l->n, sizeof(*l->e), cmp_ent);
	if (ret_files)
		*ret_files = files;
	if (ret_bytes)
		*ret_bytes = bytes;
	r = 0;
out:
	closedir(d);
	if (r < 0 && keep)
		list_free(l);
	return r;
}

/* The folder, following no symbolic link on the way (fileio.h: ldp_dir_open): callers give the
 * path ldp_private_dir() found, with the base's own links resolved, so a link planted since
 * makes the spool fail rather than write or read elsewhere. */
static int open_dir(const char *dir)
{
	return ldp_dir_open(dir, O_RDONLY);
}

/* ---- encoding ---- */

static int check_str(const char *p, size_t size, bool key)
{
	size_t n = strnlen(p, size);

	if (n == size || (key && n == 0))
		return -EINVAL; /* no room for the NUL: longer than decode would accept */
	if (memchr(p, '\n', n) || (key && memchr(p, '=', n)))
		return -EINVAL;
	return 0;
}

static int check_shipment(const struct ldp_shipment *s)
{
	if (s->from_ns < 0 || s->until_ns < s->from_ns || s->hz <= 0 ||
	    s->nlabels < 0 || s->nlabels > LDP_SHIP_MAX_LABELS || !s->pprof || !s->len)
		return -EINVAL;
	if (s->len > LDP_SHIP_MAX_PPROF)
		return -EFBIG;
	for (int i = 0; i < s->nlabels; i++)
		if (check_str(s->labels[i].key, sizeof(s->labels[i].key), true) < 0 ||
		    check_str(s->labels[i].value, sizeof(s->labels[i].value), false) < 0)
			return -EINVAL;
	return 0;
}

/* At most 10 + 26 + 27 + 15 + 48 * (6 + 63 + 1 + 255 + 1) + 1 = 15727 bytes (< HDR_MAX). */
static size_t format_header(const struct ldp_shipment *s, char *buf, size_t size)
{
	size_t n;

	n = (size_t)snprintf(buf, size, MAGIC "from=%" PRId64 "\nuntil=%" PRId64 "\nhz=%d\n",
			     s->from_ns, s->until_ns, s->hz);
	for (int i = 0; i < s->nlabels; i++)
		n += (size_t)snprintf(buf + n, size - n, "label=%s=%s\n", s->labels[i].key,
				      s->labels[i].value);
	n += (size_t)snprintf(buf + n, size - n, "\n");
	return n;
}

int ldp_spool_encode(const struct ldp_shipment *s, uint8_t **ret, size_t *ret_len)
{
	ZSTD_CCtx *cc = NULL;
	uint8_t *out = NULL, *shrunk;
	ZSTD_outBuffer ob;
	ZSTD_inBuffer ib;
	char *hdr = NULL;
	size_t hlen, zr;
	int r;

	r = check_shipment(s);
	if (r < 0)
		return r;
	r = -ENOMEM;
	hdr = malloc(HDR_MAX);
	cc = ZSTD_createCCtx();
	if (!hdr || !cc)
		goto out;
	hlen = format_header(s, hdr, HDR_MAX);
	/* The content size goes into the frame header (decode refuses a frame without it) and the
	 * checksum catches a file damaged on disk, which then goes to .bad instead of upstream. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZLEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, hlen + s->len))) {
		r = -EINVAL;
		goto out;
	}
	/* Streamed from the header and the caller's pprof, so a 64 MiB profile is not copied;
	 * the output is sized for the worst case and never needs a second pass. */
	ob.size = ZSTD_compressBound(hlen + s->len);
	ob.pos = 0;
	out = ob.dst = malloc(ob.size);
	if (!out)
		goto out;
	ib = (ZSTD_inBuffer){ hdr, hlen, 0 };
	while (ib.pos < ib.size) {
		zr = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
		if (ZSTD_isError(zr) || ob.pos == ob.size)
			goto zerr;
	}
	ib = (ZSTD_inBuffer){ s->pprof, s->len, 0 };
	do {
		zr = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
		if (ZSTD_isError(zr) || (zr && ob.pos == ob.size))
			goto zerr;
	} while (zr);
	/* incompressible data is stored raw, +3 bytes per 128 KiB: always under the read cap */
	if (ob.pos > MAX_CONTENT) {
		r = -EFBIG;
		goto out;
	}
	shrunk = realloc(out, ob.pos);
	if (shrunk)
		out = shrunk;
	*ret = out;
	*ret_len = ob.pos;
	out = NULL;
	r = 0;
	goto out;
zerr:
	r = -EIO;
out:
	free(out);
	free(hdr);
	ZSTD_freeCCtx(cc);
	return r;
}

/* ---- decoding ---- */

/* A canonical decimal: digits only, no leading zero, at most max. */
static int parse_num(const char *p, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (p[i] < '0' || p[i] > '9' || v > (max - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static bool starts(const char *p, size_t n, const char *prefix, size_t plen)
{
	return n >= plen && !memcmp(p, prefix, plen);
}

/* Parses the header at the start of buf into s and returns its length through *ret_hlen. */
static int parse_header(const char *buf, size_t len, struct ldp_shipment *s, size_t *ret_hlen)
{
	const char *p = buf, *end = buf + len, *nl, *eq;
	enum { FROM, UNTIL, HZ, LABELS } want = FROM;
	uint64_t v;
	size_t n;

	if (len < sizeof(MAGIC) - 1 || memcmp(buf, MAGIC, sizeof(MAGIC) - 1))
		return -EBADMSG;
	p += sizeof(MAGIC) - 1;
	for (;;) {
		/* every header line is short: do not scan a 64 MiB pprof for a newline */
		nl = memchr(p, '\n', (size_t)(end - p) < HDR_MAX ? (size_t)(end - p) : HDR_MAX);
		if (!nl)
			return -EBADMSG;
		n = (size_t)(nl - p);
		if (memchr(p, '\0', n))
			return -EBADMSG;
		if (want == FROM && starts(p, n, "from=", 5)) {
			if (parse_num(p + 5, n - 5, INT64_MAX, &v) < 0)
				return -EBADMSG;
			s->from_ns = (int64_t)v;
			want = UNTIL;
		} else if (want == UNTIL && starts(p, n, "until=", 6)) {
			if (parse_num(p + 6, n - 6, INT64_MAX, &v) < 0 || (int64_t)v < s->from_ns)
				return -EBADMSG;
			s->until_ns = (int64_t)v;
			want = HZ;
		} else if (want == HZ && starts(p, n, "hz=", 3)) {
			if (parse_num(p + 3, n - 3, INT_MAX, &v) < 0 || v == 0)
				return -EBADMSG;
			s->hz = (int)v;
			want = LABELS;
		} else if (want == LABELS && n == 0) {
			*ret_hlen = (size_t)(nl + 1 - buf);
			return 0;
		} else if (want == LABELS && starts(p, n, "label=", 6)) {
			struct ldp_ship_label *l;
			size_t klen, vlen;

			if (s->nlabels >= LDP_SHIP_MAX_LABELS)
				return -EBADMSG;
			eq = memchr(p + 6, '=', n - 6);
			if (!eq)
				return -EBADMSG;
			klen = (size_t)(eq - (p + 6));
			vlen = (size_t)(nl - (eq + 1));
			l = &s->labels[s->nlabels];
			if (klen == 0 || klen >= sizeof(l->key) || vlen >= sizeof(l->value))
				return -EBADMSG;
			memcpy(l->key, p + 6, klen);
			memcpy(l->value, eq + 1, vlen);
			s->nlabels++;
		} else {
			return -EBADMSG; /* unknown, repeated or out-of-order line */
		}
		p = nl + 1;
	}
}

int ldp_spool_decode(const uint8_t *buf, size_t len, struct ldp_shipment *s)
{
	unsigned long long csize;
	ZSTD_DCtx *dc = NULL;
	uint8_t *out = NULL, *shrunk;
	size_t n, hlen, plen;
	int r = -EBADMSG;

	memset(s, 0, sizeof(*s));
	if (!buf || len == 0)
		goto out;
	/* the frame says how much it holds: refuse an unknown or too large size before allocating */
	csize = ZSTD_getFrameContentSize(buf, len);
	if (csize == ZSTD_CONTENTSIZE_UNKNOWN || csize == ZSTD_CONTENTSIZE_ERROR ||
	    csize > MAX_CONTENT || csize < sizeof(MAGIC))
		goto out;
	/* exactly one frame, nothing after it (no second frame, no skippable frame) */
	n = ZSTD_findFrameCompressedSize(buf, len);
	if (ZSTD_isError(n) || n != len)
		goto out;
	r = -ENOMEM;
	out = malloc((size_t)csize);
	dc = ZSTD_createDCtx(); /* explicit: ZSTD_decompress() may put a 160 KiB context on the stack */
	if (!out || !dc)
		goto out;
	r = -EBADMSG;
	/* into a buffer of exactly the announced size: a frame that holds more fails here */
	n = ZSTD_decompressDCtx(dc, out, (size_t)csize, buf, len);
	if (ZSTD_isError(n) || n != csize)
		goto out;
	r = parse_header((const char *)out, n, s, &hlen);
	if (r < 0)
		goto out;
	plen = n - hlen;
	if (plen == 0 || plen > LDP_SHIP_MAX_PPROF) {
		r = -EBADMSG;
		goto out;
	}
	memmove(out, out + hlen, plen);
	shrunk = realloc(out, plen);
	s->pprof = shrunk ? shrunk : out;
	s->len = plen;
	out = NULL;
	r = 0;
out:
	free(out);
	ZSTD_freeDCtx(dc);
	if (r < 0)
		memset(s, 0, sizeof(*s));
	return r;
}

/* ---- put ---- */

/* Drops the oldest files until the listed bytes are at most room. */
static int make_room(int dfd, uint64_t room, unsigned *dropped)
{
	struct list l = { 0 };
	uint64_t bytes = 0;
	int r;

	for (;;) {
		r = scan(dfd, LIST_CAP, true, &l, NULL, &bytes);
		if (r < 0)
			return r;
		for (size_t i = 0; i < l.n && bytes > room; i++) {
			/* ENOENT: another process claimed or dropped it; it is gone from the sum
			 * either way, but it is not ours to count */
			if (unlinkat(dfd, l.e[i].name, 0) == 0)
				(*dropped)++;
			else if (errno != ENOENT) {
				r = -errno;
				list_free(&l);
				return r;
			}
			bytes -= l.e[i].size < bytes ? l.e[i].size : bytes;
		}
		/* not truncated: every file counted was in the list, so bytes is now <= room */
		if (bytes <= room || !l.truncated)
			break;
		list_free(&l);
	}
	list_free(&l);
	return 0;
}

int ldp_spool_put(const char *dir, uint64_t max_bytes, const struct ldp_shipment *s,
		  unsigned *ret_dropped)
{
	char tmp[64], name[NAME_LEN];
	bool tmp_made = false;
	unsigned dropped = 0;
	int dfd = -1, fd = -1, r;
	uint8_t *buf = NULL;
	uint64_t n;
	size_t len;

	if (max_bytes == 0) { /* spool disabled */
		r = -EFBIG;
		goto out;
	}
	r = ldp_spool_encode(s, &buf, &len);
	if (r < 0)
		goto out;
	if (len > max_bytes) {
		r = -EFBIG;
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	dfd = r = open_dir(dir);
	if (r < 0)
		goto out;
	/* room first: on a nearly full disk, dropping old files is what lets the write succeed */
	r = make_room(dfd, max_bytes - len, &dropped);
	if (r < 0)
		goto out;

	/* pid + a process-wide counter: unique among live writers, so O_EXCL never collides */
	n = atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed);
	snprintf(tmp, sizeof(tmp), ".tmp-%d-%" PRIu64, (int)getpid(), n);
	snprintf(name, sizeof(name), "%020" PRId64 "-%d-%" PRIu64 ".ldps", s->until_ns,
		 (int)getpid(), n);
	fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	tmp_made = true;
	r = ldp_write_all(fd, buf, len);
	if (r < 0)
		goto out;
	/* the data must be on disk before the name is: else a crash can leave an empty .ldps */
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto out;
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		r = -errno;
		goto out;
	}
	tmp_made = false;
	/* makes the rename durable; if this fails the file is in place but may not survive a
	 * crash, and the caller hears about it */
	if (fsync(dfd) < 0) {
		r = -errno;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlinkat(dfd, tmp, 0);
	if (dfd >= 0)
		close(dfd);
	free(buf);
	if (ret_dropped)
		*ret_dropped = dropped;
	return r;
}

/* ---- claim, done, release ---- */

/* Claims name and decodes it. Returns 1 (claimed, *s filled, claim set), 0 (gone or bad:
 * try the next one) or -errno (the file is given back). */
static int claim_one(const char *dir, int dfd, const char *name, struct ldp_shipment *s,
		     char *claim, size_t claim_len, unsigned *bad)
{
	char cname[NAME_LEN + 24], other[NAME_LEN + 8];
	size_t len = 0;
	char *buf = NULL;
	int r;

	snprintf(cname, sizeof(cname), "%s.claim-%d", name, (int)getpid());
	r = snprintf(claim, claim_len, "%s/%s", dir, cname);
	if (r < 0 || (size_t)r >= claim_len)
		return -ENAMETOOLONG; /* found out before claiming: nothing to give back */
	/* the one atomic step: of several claimants exactly one rename succeeds */
	if (renameat(dfd, name, dfd, cname) < 0)
		return errno == ENOENT ? 0 : -errno;

	r = ldp_read_file(claim, O_NOFOLLOW, MAX_CONTENT, &buf, &len);
	if (r == 0)
		r = ldp_spool_decode((const uint8_t *)buf, len, s);
	free(buf);
	if (r == 0)
		return 1;
	if (r == -ENOENT)
		return 0; /* taken from us (recovered as stale): it is someone else's now */
	if (r == -EBADMSG || r == -EFBIG || r == -EINVAL || r == -ELOOP) {
		/* the file is the problem: set it aside for a human, never retry it */
		snprintf(other, sizeof(other), "%s.bad", name);
		if (renameat(dfd, cname, dfd, other) < 0)
			return -errno;
		(*bad)++;
		return 0;
	}
	/* we are the problem (memory, I/O): give it back for a later try */
	renameat(dfd, cname, dfd, name);
	return r;
}

int ldp_spool_claim(const char *dir, struct ldp_shipment *s, char *claim, size_t claim_len,
		    unsigned *ret_bad)
{
	struct list l = { 0 };
	unsigned bad = 0;
	int dfd, r;

	memset(s, 0, sizeof(*s));
	dfd = r = open_dir(dir);
	if (r < 0) {
		if (r == -ENOENT)
			r = 0; /* nothing was ever spooled */
		goto out;
	}
	/* Only the oldest few names are kept per listing: when all of them went to other
	 * claimants or to .bad, list again. Each pass takes at least one file out of the queue. */
	for (;;) {
		r = scan(dfd, CLAIM_BATCH, false, &l, NULL, NULL);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < l.n; i++) {
			r = claim_one(dir, dfd, l.e[i].name, s, claim, claim_len, &bad);
			if (r != 0)
				goto out;
		}
		if (!l.truncated)
			break;
		list_free(&l);
	}
	r = 0;
out:
	list_free(&l);
	if (dfd >= 0)
		close(dfd);
	if (r != 1)
		memset(s, 0, sizeof(*s));
	if (ret_bad)
		*ret_bad = bad;
	return r;
}

/* Length of path without its ".claim-<pid>" suffix, or 0 if it does not name a claim: done
 * and release never touch a file that is not one. */
static size_t claim_base(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t blen;
	int pid;

	b = b ? b + 1 : path;
	blen = claim_name(b, &pid);
	return blen ? (size_t)(b - path) + blen : 0;
}

int ldp_spool_done(const char *claim)
{
	if (!claim_base(claim))
		return -EINVAL;
	return unlink(claim) < 0 ? -errno : 0;
}

int ldp_spool_release(const char *claim)
{
	size_t n = claim_base(claim);
	char *orig;
	int r = 0;

	if (!n)
		return -EINVAL;
	orig = strndup(claim, n);
	if (!orig)
		return -ENOMEM;
	if (rename(claim, orig) < 0)
		r = -errno;
	free(orig);
	return r;
}

/* ---- recover, count ---- */

int ldp_spool_recover(const char *dir)
{
	char orig[NAME_LEN];
	time_t now = time(NULL);
	int me = (int)getpid(), dfd, fd, pid, r, n = 0;
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	size_t blen;

	dfd = r = open_dir(dir);
	if (r < 0) {
		if (r == -ENOENT)
			r = 0;
		goto out;
	}
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		goto out;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : n;
			break;
		}
		blen = claim_name(de->d_name, &pid);
		if (!blen || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		/* ctime, not mtime: the claiming rename set it, so it is the claim's age. A pid
		 * that exists may be a new process that reused the number; the age rule covers
		 * that. Our own claims are alive by definition, so only age gives them back.
		 * EPERM from kill means the process exists under another user. */
		if (now - st.st_ctime < LDP_SPOOL_CLAIM_TTL_S &&
		    (pid == me || kill(pid, 0) == 0 || errno != ESRCH))
			continue;
		memcpy(orig, de->d_name, blen);
		orig[blen] = 0;
		if (renameat(dfd, de->d_name, dfd, orig) < 0) {
			if (errno == ENOENT)
				continue; /* delivered, or given back by another process */
			r = -errno;
			break;
		}
		n++;
	}
out:
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	return r;
}

int ldp_spool_count(const char *dir, unsigned *ret_files, uint64_t *ret_bytes)
{
	unsigned files = 0;
	uint64_t bytes = 0;
	int dfd, r;

	dfd = r = open_dir(dir);
	if (r == -ENOENT)
		r = 0; /* nothing spooled yet */
	else if (r >= 0)
		r = scan(dfd, 0, false, NULL, &files, &bytes);
	if (dfd >= 0)
		close(dfd);
	if (r < 0)
		return r;
	*ret_files = files;
	*ret_bytes = bytes;
	return 0;
}
