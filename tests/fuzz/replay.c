/* SPDX-License-Identifier: MIT
 *
 * replay.c — a libFuzzer-compatible driver for `make check` (gcc + ASan/UBSan, no clang needed).
 *
 * Runs LLVMFuzzerTestOneInput on every file named on the command line (folders are walked one
 * level), then on ITER deterministic mutations of each of them (bit flips, truncations, byte
 * insertions, random bytes), so every parser is exercised on hostile input in every CI run.
 * `make fuzz` runs the same targets under real libFuzzer for longer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return -1;
	for (;;) {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 4096);
			if (!nb) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	*ret = buf;
	*ret_len = len;
	return 0;
}

static void mutate_and_run(const uint8_t *seed, size_t len, long iters)
{
	uint8_t *buf = malloc(len + 64);

	if (!buf)
		return;
	for (long i = 0; i < iters; i++) {
		size_t n = len;
		memcpy(buf, seed, len);
		switch (next() % 5) {
		case 0: /* flip a few bits */
			for (int k = 0; n && k < 1 + (int)(next() % 8); k++)
				buf[next() % n] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* truncate */
			n = n ? next() % n : 0;
			break;
		case 2: /* overwrite with interesting values */
			for (int k = 0; n && k < 4; k++)
				buf[next() % n] = (uint8_t[]){ 0, 0xff, 0x7f, 0x80, 1 }[next() % 5];
			break;
		case 3: /* insert random bytes */
			if (n) {
				size_t at = next() % n, add = 1 + next() % 32;
				memmove(buf + at + add, buf + at, n - at);
				for (size_t k = 0; k < add; k++)
					buf[at + k] = (uint8_t)next();
				n += add;
			}
			break;
		default: /* random 32-bit word */
			if (n >= 4) {
				uint32_t v = (uint32_t)next();
				memcpy(buf + next() % (n - 3), &v, 4);
			}
			break;
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	free(buf);
}

static void run_path(const char *path, long iters, int depth)
{
	struct stat st;
	uint8_t *buf;
	size_t len;

	if (stat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && depth == 0) {
		DIR *d = opendir(path);
		struct dirent *de;
		char sub[4096];
		if (!d)
			return;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			run_path(sub, iters, 1);
		}
		closedir(d);
		return;
	}
	if (!S_ISREG(st.st_mode) || read_file(path, &buf, &len) < 0)
		return;
	LLVMFuzzerTestOneInput(buf, len);
	mutate_and_run(buf, len, iters);
	free(buf);
}

int main(int argc, char **argv)
{
	long iters = getenv("ITER") ? strtol(getenv("ITER"), NULL, 10) : 20000;

	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	for (int i = 1; i < argc; i++)
		run_path(argv[i], iters, 0);
	printf("replayed %d inputs with %ld mutations each\n", argc - 1, iters);
	return 0;
}
