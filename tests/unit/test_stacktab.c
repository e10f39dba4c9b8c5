/* SPDX-License-Identifier: MIT
 *
 * test_stacktab.c — shim/stacktab.c, the SIGPROF handler's table: a stack added twice is one
 * entry with both weights, a full table drops and counts, a reset clears; and in a forked
 * child the parent's samples are gone without a page of them copied, both with
 * MADV_WIPEONFORK and with the MADV_DONTNEED fallback.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stacktab.h"

#include "check.h"

#define CAP 8192
#define ARENA (128 * 1024)

static void stack_of(uint32_t i, uint64_t f[4])
{
	f[0] = 0x1000 + i;
	f[1] = 0x2000 + i % 13;
	f[2] = 0x3000;
	f[3] = 0x4000 + i % 3;
}

/* Entries ready, and the sum of their weights. */
static uint32_t ready(const struct ldp_stacktab *t, uint64_t *weight)
{
	uint32_t n = 0;

	*weight = 0;
	for (uint32_t i = 0; i < t->cap; i++)
		if (t->e[i].ready == 1) {
			n++;
			*weight += t->e[i].count;
		}
	return n;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void test_add_and_reset(void)
{
	struct ldp_stacktab t;
	uint64_t f[4], w;
	uint32_t n;

	CHECK(ldp_stacktab_init(&t, CAP, ARENA) == 0, "init");
	stack_of(1, f);
	ldp_stacktab_add(&t, 7, f, 4, 1);
	ldp_stacktab_add(&t, 7, f, 4, 3);
	ldp_stacktab_add(&t, 8, f, 4, 1); /* another thread: another entry */
	n = ready(&t, &w);
	CHECK(n == 2 && w == 5 && t.added == 5 && t.dropped == 0, "two entries, weight 5: %u, %llu",
	      n, (unsigned long long)w);
	for (uint32_t i = 0; i < t.cap; i++)
		if (t.e[i].ready == 1 && t.e[i].tid == 7)
			CHECK(t.e[i].count == 4 && t.e[i].depth == 4 &&
			      !memcmp(ldp_stacktab_frames(&t, &t.e[i]), f, sizeof(f)),
			      "the same stack twice is one entry with both weights");
	ldp_stacktab_reset(&t);
	n = ready(&t, &w);
	CHECK(n == 0 && t.added == 0 && t.arena_used == 0, "reset: %u entries", n);
	ldp_stacktab_destroy(&t);

	/* a table with room for 16 frames: the fifth 4-frame stack finds none */
	CHECK(ldp_stacktab_init(&t, 64, 16) == 0, "init small");
	for (uint32_t i = 0; i < 5; i++) {
		stack_of(i, f);
		ldp_stacktab_add(&t, 7, f, 4, 1);
	}
	CHECK(t.added == 4 && t.dropped == 1, "full arena: %llu added, %llu dropped",
	      (unsigned long long)t.added, (unsigned long long)t.dropped);
	ldp_stacktab_destroy(&t);
}

/* In the child: forget, count the pages that copied, and check the table is empty and works. */
static int child_forgets(struct ldp_stacktab *t)
{
	uint64_t f[4], w;
	long before, faults;
	uint32_t n;

	before = minor_faults();
	ldp_stacktab_forget(t);
	faults = minor_faults() - before;
	CHECK(faults <= 3, "forget copies nothing: %ld pages faulted", faults);
	n = ready(t, &w);
	CHECK(n == 0 && t->added == 0 && t->dropped == 0 && t->arena_used == 0,
	      "none of the parent's %u entries left", n);
	stack_of(5, f);
	ldp_stacktab_add(t, 9, f, 4, 2);
	n = ready(t, &w);
	CHECK(n == 1 && w == 2 && t->added == 2, "the child's own sample: %u entries", n);
	fflush(stdout);
	return failed;
}

static void test_forget_after_fork(int wipe)
{
	struct ldp_stacktab t;
	uint64_t f[4], w;
	int status = 0;
	pid_t pid;

	CHECK(ldp_stacktab_init(&t, CAP, ARENA) == 0, "init");
	if (!wipe) { /* the fallback: as on a kernel without MADV_WIPEONFORK */
		CHECK(madvise(t.e, t.map_len, MADV_KEEPONFORK) == 0, "keep on fork");
		t.wipe_on_fork = 0;
	} else {
		CHECK(t.wipe_on_fork, "MADV_WIPEONFORK taken");
	}
	for (uint32_t i = 0; i < 4000; i++) {
		stack_of(i, f);
		ldp_stacktab_add(&t, 3, f, 4, 1);
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(child_forgets(&t) ? 1 : 0);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
	      "%s: the child's checks (above) passed: status %#x", wipe ? "wipe on fork" : "dontneed",
	      status);
	CHECK(ready(&t, &w) == 4000 && w == 4000, "the parent keeps its samples");
	ldp_stacktab_destroy(&t);
}

int main(void)
{
	test_add_and_reset();
	test_forget_after_fork(1);
	test_forget_after_fork(0);
	printf("%d checks passed, %d failed\n", passed, failed);
	if (failed) {
		fprintf(stderr, "test_stacktab: %d check(s) FAILED\n", failed);
		return 1;
	}
	return 0;
}
