/* SPDX-License-Identifier: MIT
 *
 * gopclntab.h — function names of a Go program from its .gopclntab section.
 *
 * Go's runtime needs its function table for tracebacks and the garbage collector, so the
 * linker keeps it even in binaries built with -ldflags='-s -w', which have no ELF symbol table.
 * This module reads it from a buffer holding the whole section, for common/elfsym.c: the layout
 * of Go 1.18 and 1.19 (magic 0xfffffff0) and of Go 1.20 and later (0xfffffff1), with 8-byte
 * pointers, little-endian. Any other layout is refused, never guessed at.
 *
 * The buffer is untrusted: every offset is checked against its length, names are taken only
 * when they end inside the name table within LDP_GOPCLNTAB_MAX_NAME bytes, and no loop runs
 * longer than the buffer is large. It never allocates, never does I/O and never reads outside
 * the buffer. Never called from a signal handler (nothing stops it, but nothing needs it there).
 */
#ifndef LDP_GOPCLNTAB_H
#define LDP_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>

/* Longer function names are left out (Go's generic instantiations can be long). */
#define LDP_GOPCLNTAB_MAX_NAME 4096

struct ldp_gopclntab {
	const uint8_t *buf;
	size_t len;
	uint64_t text_start; /* link-time address the entries are relative to */
	size_t nfunc;
	size_t ftab;              /* offset of the function table: nfunc + 1 entries */
	size_t names, names_end;  /* the function-name table */
};

/* Checks the header and the whole function table of the section in buf[0, len) (which must
 * stay valid while t is used). Returns 0, or -ENOEXEC for a layout this module does not know or
 * a table that is not consistent (entries out of order, records that overlap or do not match
 * their entry): then nothing of it should be trusted. */
int ldp_gopclntab_init(struct ldp_gopclntab *t, const void *buf, size_t len);

size_t ldp_gopclntab_count(const struct ldp_gopclntab *t);

/* The i-th function: its link-time entry address, its size (up to the next function's entry)
 * and its name, a NUL-terminated string inside the buffer. Returns 0, -ERANGE when
 * i >= count, or -ENOENT for an entry without a usable name or with size 0 (ret_* are then
 * left alone). */
int ldp_gopclntab_func(const struct ldp_gopclntab *t, size_t i, uint64_t *ret_addr,
		       uint64_t *ret_size, const char **ret_name);

#endif
