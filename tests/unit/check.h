/* SPDX-License-Identifier: MIT
 *
 * check.h — the unit tests' one assertion: CHECK(cond, fmt, ...) prints "ok" or "FAIL" with
 * the place and a message, counts, and goes on (one run shows every failure). main() ends
 * with CHECK_SUMMARY(), which prints the counts and returns non-zero on any failure.
 */
#ifndef LDP_TEST_CHECK_H
#define LDP_TEST_CHECK_H

#include <stdio.h>

static int failed, passed;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (cond) {                                                   \
			passed++;                                             \
			printf("ok   %s:%d: ", __func__, __LINE__);           \
		} else {                                                      \
			failed++;                                             \
			printf("FAIL %s:%d: %s: ", __func__, __LINE__, #cond); \
		}                                                             \
		printf(__VA_ARGS__);                                          \
		printf("\n");                                                 \
	} while (0)

#endif
