/* SPDX-License-Identifier: MIT
 *
 * compress.h — whole-buffer gzip and zstd, in one place: pprof files are gzip, spool files and
 * opt-in HTTP bodies zstd. Decompression is capped (inputs are untrusted). Buffers are
 * malloc()ed and owned by the caller. Never called from a signal handler.
 */
#ifndef LDP_COMPRESS_H
#define LDP_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* gzip (deflate with a gzip header). Returns 0 or -errno. */
int ldp_gzip(const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len);
/* gzip or zlib, several gzip members allowed; -E2BIG past max output bytes, -EINVAL on
 * corrupt or truncated input. */
int ldp_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len);
/* One zstd frame with its content size recorded. */
int ldp_zstd(const uint8_t *in, size_t len, int level, uint8_t **ret, size_t *ret_len);
/* One zstd frame whose recorded content size is at most max (-E2BIG), else -EINVAL. */
int ldp_unzstd(const uint8_t *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len);

#endif
