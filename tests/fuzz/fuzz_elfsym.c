/* SPDX-License-Identifier: MIT
 *
 * fuzz_elfsym.c — libFuzzer target for ldp_elfsym_parse() (common/elfsym.c).
 *
 * Oracle: on any input, no crash, no ASan/UBSan report, no leak, and the call returns 0,
 * -ENOEXEC or -ENOMEM (-EFBIG cannot happen below 1 GiB). On success: the build ID is "" or
 * an even number (at most 128) of lowercase hex digits; the entries are in strictly increasing
 * order of start, each inside the input, each with a size > 0 and a non-empty name; looking up
 * an entry's start gives that entry's name (the same pointer), and the byte before the next
 * entry gives this entry's name or NULL; lookups at arbitrary offsets return NULL or a
 * NUL-terminated string. Seeds: small real ELF files and a handcrafted one, and two Go ones
 * with a .gopclntab (handcrafted, and the last functions of tests/progs/go/hot's real table;
 * see tests/unit/test_elfsym.c --write-seeds). The count bound holds for Go too: each function
 * kept costs 8 bytes of its table and a record of 40 (common/gopclntab.c).
 * With a budget (what ldprof-agent gives each file, derived here from the input's last bytes):
 * 0, -ENOEXEC, -ENOMEM or -E2BIG; on success the table holds at most the budget and is the
 * same table as without one. The same bytes as a separate debug file: entries in increasing
 * order, each found by its start; and as an original's .gnu_debuglink: a name without '/'.
 * The file's table merged with its debug table (ldp_elfsym_merge), and its MiniDebugInfo
 * (common/debuginfo.c: .gnu_debugdata, xz): entries in increasing order, none overlapping the
 * next, each found by its start. Seed tiny-minidebuginfo.so was made as
 * tests/test_debuginfo.py's make_minidebuginfo() makes its library.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "debuginfo.h"
#include "elfsym.h"

static void touch(const char *name)
{
	if (name && strlen(name) == (size_t)-1)
		abort();
}

/* Strictly increasing, each entry found by its start; with strict (a merged table), none
 * overlapping the next. */
static void check_table(const struct ldp_elfsym *t, int strict)
{
	uint64_t prev_end = 0, start, len;
	const char *name;

	for (size_t i = 0; i < ldp_elfsym_count(t); i++) {
		if (ldp_elfsym_get(t, i, &start, &len, &name) != 0 || !name || !name[0] || len == 0 ||
		    (strict && i && start < prev_end) || ldp_elfsym_lookup(t, start) != name)
			abort();
		prev_end = start + len < start ? UINT64_MAX : start + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ldp_elfsym *s = NULL;
	const char *id;
	size_t n, idlen;
	uint64_t probe;
	int r;

	/* ldprof status looks a data symbol up in the .dynsym of a mapped libldprof.so. */
	{
		struct ldp_elfsym_dynvar dv;
		int f = ldp_elfsym_find_dynsym_buf(data, size, "ldp_state", &dv);

		if (f > 0)
			abort(); /* 0 or -errno */
	}

	/* The same bytes as a separate debug file (its segments taken as linked at their own file
	 * offsets), and as an original whose .gnu_debuglink is read (from a memfd: it reads by fd). */
	{
		struct ldp_elfsym *d = NULL;
		uint64_t prev = 0, start, len;
		const char *name;
		int q = ldp_elfsym_parse_debug(data, size, NULL, &d);
		char link[256];
		uint32_t crc;
		int fd;

		if (q < 0 && q != -ENOEXEC && q != -ENOMEM)
			abort();
		for (size_t i = 0; q == 0 && i < ldp_elfsym_count(d); i++) {
			if (ldp_elfsym_get(d, i, &start, &len, &name) != 0 || !name || !name[0] || len == 0 ||
			    (i && start <= prev) || ldp_elfsym_lookup(d, start) != name)
				abort();
			prev = start;
		}
		if (q == 0) {
			struct ldp_elfsym *own = NULL;

			if (ldp_elfsym_parse(data, size, &own) == 0) {
				if (ldp_elfsym_merge(own, d) == 0)
					check_table(own, 1);
				ldp_elfsym_free(own);
			}
		}
		ldp_elfsym_free(d);
		fd = memfd_create("elf", MFD_CLOEXEC);
		if (fd >= 0 && write(fd, data, size) == (ssize_t)size) {
			q = ldp_elfsym_debuglink(fd, link, sizeof(link), &crc);
			if (q == 0 && (!link[0] || strchr(link, '/') || strlen(link) >= sizeof(link)))
				abort();
			d = NULL;
			q = ldp_debuginfo_mini(fd, NULL, 16u << 20, &d);
			if (q == 0)
				check_table(d, 0);
			else if (q != -ENOENT && q != -EINVAL && q != -E2BIG && q != -ENOMEM)
				abort();
			ldp_elfsym_free(d);
		}
		if (fd >= 0)
			close(fd);
	}

	r = ldp_elfsym_parse(data, size, &s);
	if (r < 0) {
		if (r != -ENOEXEC && r != -ENOMEM)
			abort();
		return 0;
	}

	id = ldp_elfsym_build_id(s);
	idlen = strlen(id);
	if (idlen % 2 != 0 || idlen > 128)
		abort();
	for (size_t i = 0; i < idlen; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			abort();

	n = ldp_elfsym_count(s);
	if (n > size / 24)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint64_t start, len, next;
		const char *name, *got;

		if (ldp_elfsym_get(s, i, &start, &len, &name) != 0 || !name || !name[0] ||
		    start >= size || len == 0)
			abort();
		touch(name);
		if (ldp_elfsym_lookup(s, start) != name)
			abort();
		if (i + 1 < n) {
			if (ldp_elfsym_get(s, i + 1, &next, NULL, NULL) != 0 || next <= start)
				abort();
			got = ldp_elfsym_lookup(s, next - 1);
			if (got != (next - 1 - start < len ? name : NULL))
				abort();
		}
	}
	if (ldp_elfsym_get(s, n, &probe, NULL, NULL) != -ERANGE)
		abort();

	touch(ldp_elfsym_lookup(s, 0));
	touch(ldp_elfsym_lookup(s, size / 2));
	touch(ldp_elfsym_lookup(s, size ? size - 1 : 0));
	touch(ldp_elfsym_lookup(s, UINT64_MAX));
	if (size >= 8) {
		memcpy(&probe, data + size - 8, 8);
		touch(ldp_elfsym_lookup(s, probe));
		touch(ldp_elfsym_lookup(s, probe % size));
	}
	/* the same with a budget: within it, or refused; never a different table */
	{
		struct ldp_elfsym *b = NULL;
		uint64_t budget = 1 + (size >= 2 ? (uint64_t)(data[size - 2] | data[size - 1] << 8) * 16 : 0);
		int rb = ldp_elfsym_parse_budget(data, size, budget, &b);

		if (rb < 0 && rb != -ENOEXEC && rb != -ENOMEM && rb != -E2BIG)
			abort();
		if (rb == 0) {
			if (ldp_elfsym_bytes(b) > budget || ldp_elfsym_count(b) != n ||
			    strcmp(ldp_elfsym_build_id(b), id))
				abort();
			for (size_t i = 0; i < n; i++) {
				uint64_t s1, l1, s2, l2;
				const char *n1, *n2;

				ldp_elfsym_get(s, i, &s1, &l1, &n1);
				ldp_elfsym_get(b, i, &s2, &l2, &n2);
				if (s1 != s2 || l1 != l2 || strcmp(n1, n2))
					abort();
			}
		}
		ldp_elfsym_free(b);
	}
	ldp_elfsym_free(s);
	return 0;
}
