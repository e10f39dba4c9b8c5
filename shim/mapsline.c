/* SPDX-License-Identifier: MIT
 *
 * mapsline.c — /proc/self/maps line by line, without libc (mapsline.h).
 *
 * ASYNC-SIGNAL CONTEXT — everything here runs in the SIGPROF handler of a deferred activation:
 * pure functions on the caller's buffer and its read callback, nothing else. common/procmaps.c
 * parses the same format for the collector with libc; this one exists because the shim has
 * none.
 */
#include "mapsline.h"

char *ldp_mapsline_next(struct ldp_mapsline *m)
{
	for (;;) {
		unsigned long i = m->pos;
		long n;

		while (i < m->len && m->buf[i] != '\n')
			i++;
		if (i < m->len) {
			char *line = m->buf + m->pos;
			m->buf[i] = 0;
			m->pos = i + 1;
			if (m->skip) {
				m->skip = 0;
				continue;
			}
			return line;
		}
		if (m->pos == 0 && m->len == m->cap) { /* one line fills the buffer: dropped */
			m->len = 0;
			m->skip = 1;
		}
		for (i = m->pos; i < m->len; i++)
			m->buf[i - m->pos] = m->buf[i];
		m->len -= m->pos;
		m->pos = 0;
		n = m->read(m->fd, m->buf + m->len, m->cap - m->len);
		if (n <= 0 || (unsigned long)n > m->cap - m->len)
			return 0; /* a last line with no newline is not a whole one */
		m->len += (unsigned long)n;
	}
}

static const char *hex(const char *s, uint64_t *v)
{
	int digits = 0;

	*v = 0;
	for (;; s++, digits++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
		if (d < 0 || digits == 16)
			return s;
		*v = *v << 4 | (uint64_t)d;
	}
}

int ldp_mapsline_parse(const char *s, struct ldp_mapsline_ent *l)
{
	s = hex(s, &l->lo);
	if (*s++ != '-')
		return -1;
	s = hex(s, &l->hi);
	if (*s++ != ' ')
		return -1;
	for (int i = 0; i < 4; i++)
		if (!(l->perm[i] = *s++))
			return -1;
	if (*s++ != ' ')
		return -1;
	s = hex(s, &l->off);
	if (*s++ != ' ')
		return -1;
	while (*s && *s != ' ')
		s++; /* the device */
	if (*s++ != ' ')
		return -1;
	for (l->inode = 0; *s >= '0' && *s <= '9'; s++)
		l->inode = l->inode * 10 + (uint64_t)(*s - '0');
	while (*s == ' ')
		s++;
	l->path = s;
	return l->hi > l->lo ? 0 : -1;
}
