/* SPDX-License-Identifier: MIT
 *
 * compress.c — whole-buffer gzip (zlib) and zstd. See compress.h. Allocates; never called from
 * a signal handler.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"

/* The window and hash sizes for len bytes of input: a window that holds the whole input finds
 * every match the largest one would (deflate keeps MIN_LOOKAHEAD, 262 bytes, of it free), and
 * a hash of about as many entries as the window. zlib's largest state takes 256 KiB, freed
 * and the heap trimmed after each profile, so that it was faulted in anew each time: most of
 * the cost of compressing a profile of a few KiB, which is what a collector ships. */
static void gzip_sizes(size_t len, int *window_bits, int *mem_level)
{
	int w = 9; /* zlib's smallest for deflate */

	while (w < 15 && ((size_t)1 << w) - 262 < len)
		w++;
	*window_bits = w;
	*mem_level = w - 7 < 1 ? 1 : w - 7 > 8 ? 8 : w - 7; /* hash bits = mem_level + 7 */
}

int ldp_gzip(const uint8_t *in, size_t len, uint8_t **ret_buf, size_t *ret_len)
{
	z_stream zs = { 0 };
	uint8_t *out = NULL;
	size_t cap;
	int r, w, m;

	if (len > UINT32_MAX) /* one deflate() call: avail_in is a uInt */
		return -E2BIG;
	gzip_sizes(len, &w, &m);
	r = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, w + 16, m, Z_DEFAULT_STRATEGY);
	if (r != Z_OK)
		return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	cap = deflateBound(&zs, len);
	out = malloc(cap);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		r = -EIO; /* deflateBound() promises this cannot happen */
		goto out;
	}
	*ret_buf = out;
	*ret_len = zs.total_out;
	out = NULL;
	r = 0;
out:
	deflateEnd(&zs);
	free(out);
	return r;
}

int ldp_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **ret_buf, size_t *ret_len)
{
	z_stream zs = { 0 };
	uint8_t *out = NULL, *nb;
	size_t cap, n = 0;
	int r, z;

	r = inflateInit2(&zs, 15 + 32); /* gzip or zlib header, detected */
	if (r != Z_OK)
		return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	cap = len < max / 4 ? len * 4 : max;
	if (cap < 4096)
		cap = 4096;
	out = malloc(cap);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	zs.next_in = (Bytef *)in;
	for (;;) {
		size_t left_in = len - (size_t)(zs.next_in - in);

		if (zs.avail_in == 0)
			zs.avail_in = left_in > UINT_MAX ? UINT_MAX : (uInt)left_in;
		if (n == cap) {
			if (cap >= max) {
				r = -E2BIG;
				goto out;
			}
			cap = cap > max / 2 ? max : cap * 2;
			nb = realloc(out, cap);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			out = nb;
		}
		zs.next_out = out + n;
		zs.avail_out = cap - n > UINT_MAX ? UINT_MAX : (uInt)(cap - n);
		z = inflate(&zs, Z_NO_FLUSH);
		n = (size_t)(zs.next_out - out);
		if (z == Z_STREAM_END) {
			if (zs.next_in == in + len)
				break;
			/* another gzip member follows (as `cat a.gz b.gz` makes) */
			if (inflateReset(&zs) != Z_OK) {
				r = -EINVAL;
				goto out;
			}
			continue;
		}
		if (z == Z_OK)
			continue;
		if (z == Z_BUF_ERROR && zs.avail_out == 0)
			continue; /* output full: grow */
		r = z == Z_MEM_ERROR ? -ENOMEM : -EINVAL; /* corrupt or truncated */
		goto out;
	}
	*ret_buf = out;
	*ret_len = n;
	out = NULL;
	r = 0;
out:
	inflateEnd(&zs);
	free(out);
	return r;
}

int ldp_zstd(const uint8_t *in, size_t len, int level, uint8_t **ret, size_t *ret_len)
{
	size_t cap = ZSTD_compressBound(len), n;
	uint8_t *out;

	if (ZSTD_isError(cap))
		return -E2BIG;
	out = malloc(cap ? cap : 1);
	if (!out)
		return -ENOMEM;
	n = ZSTD_compress(out, cap, in, len, level);
	if (ZSTD_isError(n)) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

int ldp_unzstd(const uint8_t *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
	unsigned long long size = ZSTD_getFrameContentSize(in, len);
	uint8_t *out;
	size_t n;

	/* Only frames that say their size: the buffer is allocated once, and a lie is caught
	 * by ZSTD_decompress (it fails when the content does not fit or falls short). */
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
		return -EINVAL;
	if (size > max)
		return -E2BIG;
	out = malloc(size ? size : 1);
	if (!out)
		return -ENOMEM;
	n = ZSTD_decompress(out, size, in, len);
	if (ZSTD_isError(n) || n != size) {
		free(out);
		return -EINVAL;
	}
	*ret = out;
	*ret_len = n;
	return 0;
}
