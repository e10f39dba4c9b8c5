/* SPDX-License-Identifier: MIT
 *
 * exechdr.c — has an executable file an ELF interpreter? (exechdr.h). No libc: it goes into
 * the first stage.
 */
#include "exechdr.h"

#define ET_EXEC_ 2
#define ET_DYN_ 3
#define PT_LOAD_ 1
#define PT_INTERP_ 3

static unsigned long le(const unsigned char *p, int bytes)
{
	unsigned long v = 0;

	while (bytes--)
		v = v << 8 | p[bytes];
	return v;
}

int ldp_exechdr_head(const unsigned char *b, long n, unsigned long *phoff, long *phlen)
{
	unsigned long type, phentsize, phnum;

	if (n < 64 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F' ||
	    b[4] != 2 /* ELFCLASS64 */ || b[5] != 1 /* little-endian */)
		return 0;
	type = le(b + 16, 2);
	*phoff = le(b + 32, 8);
	phentsize = le(b + 54, 2);
	phnum = le(b + 56, 2);
	if ((type != ET_EXEC_ && type != ET_DYN_) || phentsize != LDP_EXECHDR_PHENT || phnum == 0 ||
	    *phoff > (1ul << 30))
		return 0;
	if (phnum > LDP_EXECHDR_PHDRS)
		phnum = LDP_EXECHDR_PHDRS;
	*phlen = (long)(phnum * LDP_EXECHDR_PHENT);
	return 1;
}

int ldp_exechdr_static(const unsigned char *ph, long n)
{
	for (long i = 0; i + LDP_EXECHDR_PHENT <= n; i += LDP_EXECHDR_PHENT) {
		unsigned long t = le(ph + i, 4);

		if (t == PT_INTERP_)
			return 0;
		if (t == PT_LOAD_)
			return 1;
	}
	return -1;
}
