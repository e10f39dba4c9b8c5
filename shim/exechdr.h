/* SPDX-License-Identifier: MIT
 *
 * exechdr.h — has an executable file an ELF interpreter? The first stage's look at a file a
 * process still waiting for its activation is about to exec (preload.c, exec_register): a
 * static program's exec registers the process with the agent first.
 *
 * Pure functions on bytes the caller read from the file, async-signal-safe. Never: read outside
 * the bytes given, or trust a count or an offset from them.
 */
#ifndef LDP_EXECHDR_H
#define LDP_EXECHDR_H

#define LDP_EXECHDR_PHDRS 16 /* program headers looked at: PT_INTERP comes before any PT_LOAD */
#define LDP_EXECHDR_PHENT 56 /* sizeof(Elf64_Phdr) */

/* b: the file's first n bytes. 1 when they begin a 64-bit ELF executable or shared object:
 * *phoff and *phlen (a multiple of LDP_EXECHDR_PHENT, at most LDP_EXECHDR_PHDRS of them) say
 * where its program headers to look at are; 0 otherwise (no such file: not static). */
int ldp_exechdr_head(const unsigned char *b, long n, unsigned long *phoff, long *phlen);

/* ph: n bytes of program headers. 1 when a PT_LOAD comes before any PT_INTERP (static or
 * static-PIE), 0 when PT_INTERP does, -1 when neither is in them. */
int ldp_exechdr_static(const unsigned char *ph, long n);

#endif
