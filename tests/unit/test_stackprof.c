/* SPDX-License-Identifier: MIT
 *
 * test_stackprof.c — common/stackprof.c: the (thread, stack) table and the profile it builds.
 *
 * The table: it grows past its first size without losing a count, stops at max_stacks exactly
 * (the shim's 3/4 of 2^16 and the agent's 2^16), counts what it drops, and a reset keeps
 * nothing of the previous window. The profile is built for this very process (pid 0) and
 * parsed back: counts, labels, thread names asked once per thread, the window, and
 * symbolization of a function of this test with and without the return-address adjustment.
 * Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "pprof.h"
#include "stackprof.h"

#include "check.h"
#include "leaderless.h"
#include "profnames.h"

#define PERIOD 10000000 /* 100 Hz */
#define T0 1700000000000000000ll
#define T1 (T0 + 10000000000ll)

/* ---- helpers ---- */

static const char *label(const struct ldp_profile *p, const struct ldp_prof_sample *s,
			 const char *key)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (!strcmp(str(p, s->labels[i].key), key))
			return str(p, s->labels[i].str);
	return NULL;
}

static unsigned name_calls;

static void name_of(void *ctx, uint32_t tid, char *buf, size_t len)
{
	name_calls++;
	snprintf(buf, len, "%s-%u", (const char *)ctx, tid);
}

/* Refreshes, builds and parses; *ret_sh keeps the shipment's labels (its pprof is freed). */
static int build(struct ldp_stackprof *sp, const struct ldp_stackprof_out *out,
		 struct ldp_shipment *ret_sh, struct ldp_profile *ret)
{
	int r = ldp_stackprof_refresh(sp);

	if (r < 0)
		return r;
	r = ldp_stackprof_build(sp, out, ret_sh);
	if (r < 0)
		return r;
	r = ldp_profile_parse(ret_sh->pprof, ret_sh->len, ret);
	free(ret_sh->pprof);
	ret_sh->pprof = NULL;
	return r;
}

/* Distinct stack number i of thread tid. */
static void stack_of(uint32_t i, uint64_t f[3])
{
	f[0] = 0x1000 + i;
	f[1] = 0x2000;
	f[2] = 0x3000 + (i % 7);
}

/* ---- the table ---- */

static void test_grow(void)
{
	struct ldp_stackprof_out out = { .period_ns = PERIOD, .end_ns = T1 };
	struct ldp_stackprof *sp = NULL;
	struct ldp_profile prof = { 0 };
	struct ldp_shipment sh;
	uint64_t f[3];
	int r, bad = 0;
	size_t wrong = 0;

	r = ldp_stackprof_new(0, 1u << 16, 0, T0, &sp);
	CHECK(r == 0 && sp, "new: %d", r);
	if (!sp)
		return;
	/* 5000 stacks is past the first size (1024 slots) several doublings over */
	for (uint32_t round = 0; round < 2; round++)
		for (uint32_t i = 0; i < 5000; i++) {
			stack_of(i, f);
			bad += ldp_stackprof_add(sp, 7, NULL, f, 3, 1) != 0;
		}
	/* the same stack on another thread is another entry */
	stack_of(0, f);
	bad += ldp_stackprof_add(sp, 8, NULL, f, 3, 5) != 0;
	CHECK(bad == 0, "every add of 10001 succeeded (%d failed)", bad);
	CHECK(ldp_stackprof_samples(sp) == 10005 && ldp_stackprof_dropped(sp) == 0,
	      "samples %llu dropped %llu", (unsigned long long)ldp_stackprof_samples(sp),
	      (unsigned long long)ldp_stackprof_dropped(sp));
	r = build(sp, &out, &sh, &prof);
	CHECK(r == 0 && prof.nsamples == 5001, "built and parsed: %d, %zu samples", r, prof.nsamples);
	for (size_t i = 0; r == 0 && i < prof.nsamples; i++) {
		const struct ldp_prof_sample *s = &prof.samples[i];
		const char *tid = label(&prof, s, "thread_id");
		int64_t want = tid && !strcmp(tid, "8") ? 5 : 2;
		wrong += s->nlocs != 3 || s->values[0] != want || s->values[1] != want * PERIOD ||
			 label(&prof, s, "thread_name") != NULL;
	}
	CHECK(r == 0 && wrong == 0, "each stack counted exactly, no thread_name without a source (%zu wrong)",
	      wrong);
	ldp_profile_free(&prof);
	ldp_shipment_clear(&sh);
	ldp_stackprof_free(sp);
}

static void fill_to_cap(uint32_t max)
{
	struct ldp_stackprof *sp = NULL;
	uint64_t f[3];
	int r, first_r = 0;
	uint32_t kept = 0, i;

	r = ldp_stackprof_new(0, max, 0, T0, &sp);
	CHECK(r == 0, "new(max_stacks %u): %d", max, r);
	if (r < 0)
		return;
	for (i = 0; i < max + 1000; i++) {
		stack_of(i, f);
		r = ldp_stackprof_add(sp, 1, NULL, f, 3, 2);
		if (r == 0)
			kept++;
		else if (!first_r)
			first_r = r;
	}
	CHECK(kept == max && first_r == -E2BIG, "max %u: kept %u, first refusal %d", max, kept,
	      first_r);
	CHECK(ldp_stackprof_samples(sp) == 2ull * max && ldp_stackprof_dropped(sp) == 2000,
	      "max %u: samples %llu dropped %llu (weights counted)", max,
	      (unsigned long long)ldp_stackprof_samples(sp),
	      (unsigned long long)ldp_stackprof_dropped(sp));
	/* a full table still counts the stacks it has */
	stack_of(0, f);
	r = ldp_stackprof_add(sp, 1, NULL, f, 3, 1);
	CHECK(r == 0 && ldp_stackprof_samples(sp) == 2ull * max + 1, "full table counts a known stack: %d",
	      r);
	ldp_stackprof_drop(sp, 3);
	CHECK(ldp_stackprof_dropped(sp) == 2003, "drop() adds to the window's dropped");
	ldp_stackprof_free(sp);
}

static void test_cap(void)
{
	fill_to_cap(3000);
	fill_to_cap(3u << 14); /* the shim's window */
	fill_to_cap(1u << 16); /* the agent's */
	CHECK(ldp_stackprof_new(0, 0, 0, T0, &(struct ldp_stackprof *){ NULL }) == -EINVAL,
	      "max_stacks 0 is refused");
}

static void test_reset(void)
{
	struct ldp_stackprof_out out = { .period_ns = PERIOD, .end_ns = T1 + 1000 };
	struct ldp_stackprof *sp = NULL;
	struct ldp_profile prof = { 0 };
	struct ldp_shipment sh;
	uint64_t f[3], deep[200];
	int r;

	r = ldp_stackprof_new(0, 2000, 0, T0, &sp);
	CHECK(r == 0, "new: %d", r);
	if (r < 0)
		return;
	for (uint32_t i = 0; i < 3000; i++) {
		stack_of(i, f);
		ldp_stackprof_add(sp, 3, "before", f, 3, 1);
	}
	CHECK(ldp_stackprof_dropped(sp) == 1000, "full before the reset");
	ldp_stackprof_reset(sp, T1);
	CHECK(ldp_stackprof_samples(sp) == 0 && ldp_stackprof_dropped(sp) == 0,
	      "reset: samples %llu dropped %llu", (unsigned long long)ldp_stackprof_samples(sp),
	      (unsigned long long)ldp_stackprof_dropped(sp));
	/* a stack of the previous window starts again from 1, with this window's name */
	stack_of(0, f);
	r = ldp_stackprof_add(sp, 3, "after", f, 3, 1);
	CHECK(r == 0 && ldp_stackprof_samples(sp) == 1, "the old stack starts from 1: %d", r);
	/* room again for max_stacks entries */
	for (uint32_t i = 1; i < 2000; i++) {
		stack_of(i, f);
		r |= ldp_stackprof_add(sp, 4, NULL, f, 3, 1);
	}
	CHECK(r == 0 && ldp_stackprof_dropped(sp) == 0, "max_stacks entries fit again: %d", r);
	ldp_stackprof_reset(sp, T1);
	/* a stack deeper than the cap is cut to its leaf side: two that differ past it are one */
	for (uint32_t i = 0; i < 200; i++)
		deep[i] = 0x5000 + i;
	ldp_stackprof_add(sp, 3, "deep", deep, 200, 1);
	deep[199] = 1;
	ldp_stackprof_add(sp, 3, "deep", deep, 200, 1);
	r = build(sp, &out, &sh, &prof);
	CHECK(r == 0 && prof.nsamples == 1 && prof.samples[0].values[0] == 2 &&
	      prof.samples[0].nlocs == LDP_STACKPROF_MAX_DEPTH,
	      "after reset only this window's stack: %d, %zu samples", r, prof.nsamples);
	CHECK(r == 0 && prof.time_nanos == T1 && prof.duration_nanos == 1000 && sh.from_ns == T1 &&
	      sh.until_ns == T1 + 1000 && sh.hz == 100,
	      "the window starts at the reset: time %lld duration %lld", (long long)prof.time_nanos,
	      (long long)prof.duration_nanos);
	CHECK(r == 0 && prof.nsamples && label(&prof, &prof.samples[0], "thread_name") &&
	      !strcmp(label(&prof, &prof.samples[0], "thread_name"), "deep"),
	      "the thread name given with the samples");
	ldp_profile_free(&prof);
	ldp_shipment_clear(&sh);
	ldp_stackprof_free(sp);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* The forked child's half of test_reset_after_fork; returns its number of failed checks. */
static int after_fork_child(struct ldp_stackprof *sp)
{
	struct ldp_stackprof_out out = { .period_ns = PERIOD, .end_ns = T1 + 1000 };
	struct ldp_profile prof = { 0 };
	struct ldp_shipment sh;
	uint64_t f[3];
	long before, faults;
	int r;

	before = minor_faults();
	ldp_stackprof_reset_after_fork(sp, T1);
	faults = minor_faults() - before;
	/* The old reset freed 3,000 entries and cleared a 4,096-slot table: one copied page per
	 * page of them (about 50). What is left is the page of the struct itself. */
	CHECK(faults <= 3, "the parent's entries are not touched: %ld pages copied", faults);
	CHECK(ldp_stackprof_samples(sp) == 0 && ldp_stackprof_dropped(sp) == 0, "nothing counted");
	stack_of(1, f);
	r = ldp_stackprof_add(sp, 9, "child", f, 3, 2);
	CHECK(r == 0 && ldp_stackprof_samples(sp) == 2, "the child's first sample: %d", r);
	r = build(sp, &out, &sh, &prof);
	CHECK(r == 0 && prof.nsamples == 1 && prof.samples[0].values[0] == 2 &&
	      !strcmp(label(&prof, &prof.samples[0], "thread_name"), "child") &&
	      prof.time_nanos == T1,
	      "only the child's samples, in a window from the fork: %d, %zu samples", r, prof.nsamples);
	ldp_profile_free(&prof);
	ldp_shipment_clear(&sh);
	/* A reset with samples of its own frees the parent's entries (a leak under ASan if not). */
	ldp_stackprof_reset(sp, T1 + 1000);
	stack_of(2, f);
	CHECK(ldp_stackprof_add(sp, 9, NULL, f, 3, 1) == 0, "a window after the tidy-up");
	/* Forked again before any sample: the grandchild leaves its table behind too. */
	ldp_stackprof_reset(sp, T1 + 2000);
	ldp_stackprof_reset_after_fork(sp, T1 + 3000);
	ldp_stackprof_reset_after_fork(sp, T1 + 4000);
	CHECK(ldp_stackprof_add(sp, 9, NULL, f, 3, 1) == 0 && ldp_stackprof_samples(sp) == 1,
	      "twice after fork");
	ldp_stackprof_free(sp);
	fflush(stdout);
	return failed;
}

static void test_reset_after_fork(void)
{
	struct ldp_stackprof *sp = NULL;
	uint64_t f[3];
	int r, status = 0;
	pid_t pid;

	r = ldp_stackprof_new(0, 1u << 14, 0, T0, &sp);
	CHECK(r == 0, "new: %d", r);
	if (r < 0)
		return;
	for (uint32_t i = 0; i < 3000; i++) {
		stack_of(i, f);
		ldp_stackprof_add(sp, 3 + i % 3, "parent", f, 3, 1);
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(after_fork_child(sp) ? 1 : 0);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
	      "the child's checks (above) passed: status %#x", status);
	CHECK(ldp_stackprof_samples(sp) == 3000, "the parent keeps its samples");
	ldp_stackprof_free(sp);
}

/* ---- the profile ---- */

static volatile unsigned target_calls;

/* A few instructions long: a leaf inside it is not its first byte. */
__attribute__((noinline, used)) void stackprof_test_target(void)
{
	target_calls++;
	target_calls *= 3;
}

static void test_profile(unsigned flags)
{
	struct ldp_pprof_label extra = { "source", "test" };
	struct ldp_stackprof_out out = { .period_ns = PERIOD, .end_ns = T1, .labels = &extra,
					 .nlabels = 1, .thread_name = name_of, .ctx = "t" };
	struct ldp_stackprof *sp = NULL;
	struct ldp_profile prof = { 0 };
	struct ldp_shipment sh;
	uint64_t target = (uint64_t)(uintptr_t)&stackprof_test_target, f[3] = { target + 1, target };
	char exe[4096], pid[16];
	const char *want_leaf = "stackprof_test_target", *caller;
	ssize_t n;
	int r;

	r = ldp_stackprof_new(0, 100, flags, T0, &sp);
	CHECK(r == 0, "new: %d", r);
	if (r < 0)
		return;
	for (uint32_t tid = 1; tid <= 3; tid++)
		for (uint32_t i = 0; i < 10; i++) {
			/* the leaf inside the target (its first byte is the caller frame's address,
			 * and a location is one per address), then an address in no mapping */
			f[2] = 0x10 + i;
			ldp_stackprof_add(sp, tid, NULL, f, 3, 1);
		}
	name_calls = 0;
	r = build(sp, &out, &sh, &prof);
	CHECK(r == 0 && prof.nsamples == 30, "built: %d, %zu samples", r, prof.nsamples);
	CHECK(name_calls == 3, "thread names asked once per thread: %u", name_calls);
	if (r == 0 && prof.nsamples) {
		const struct ldp_prof_sample *s = &prof.samples[0];
		const char *tid = label(&prof, s, "thread_id"), *name = label(&prof, s, "thread_name");
		char want[32];

		snprintf(want, sizeof(want), "t-%s", tid ? tid : "?");
		CHECK(s->nlabels == 3 && !strcmp(str(&prof, s->labels[0].key), "source") &&
		      name && !strcmp(name, want), "labels: caller's first, then thread_id, thread_name");
		CHECK(s->nlocs == 3 && loc_name(&prof, s->locs[0]) &&
		      !strcmp(loc_name(&prof, s->locs[0]), want_leaf), "leaf symbolized: %s",
		      s->nlocs ? loc_name(&prof, s->locs[0]) : "(none)");
		/* the caller frame is the target's first byte: a return address there means the
		 * call was in whatever comes before it */
		caller = s->nlocs == 3 ? loc_name(&prof, s->locs[1]) : NULL;
		if (flags & LDP_STACKPROF_RETURN_ADDRESSES)
			CHECK(!caller || strcmp(caller, want_leaf), "return address looked up at -1: %s",
			      caller ? caller : "(none)");
		else
			CHECK(caller && !strcmp(caller, want_leaf), "address looked up as is: %s",
			      caller ? caller : "(none)");
		CHECK(s->nlocs == 3 && ldp_profile_location(&prof, s->locs[1])->address ==
		      ((flags & LDP_STACKPROF_RETURN_ADDRESSES) ? target - 1 : target) &&
		      ldp_profile_location(&prof, s->locs[2])->mapping_id == 0 &&
		      !loc_name(&prof, s->locs[2]), "return addresses stored at -1, others as they are; unmapped: no mapping, no name");
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(r == 0 && prof.nmappings >= 1 && !strcmp(str(&prof, prof.mappings[0].filename), exe),
	      "mapping 1 is the executable");
	CHECK(ldp_shipment_label(&sh, LDP_LABEL_EXE) &&
	      !strcmp(ldp_shipment_label(&sh, LDP_LABEL_EXE), exe) &&
	      ldp_shipment_label(&sh, LDP_LABEL_PID) &&
	      !strcmp(ldp_shipment_label(&sh, LDP_LABEL_PID), pid) &&
	      ldp_shipment_label(&sh, LDP_LABEL_COMM) &&
	      !strcmp(ldp_shipment_label(&sh, LDP_LABEL_COMM), ldp_stackprof_comm(sp)) &&
	      ldp_shipment_label(&sh, LDP_LABEL_BUILD_ID),
	      "shipment labels comm, pid, exe, build_id");
	/* a second refresh with nothing changed keeps the snapshot and the samples */
	r = ldp_stackprof_refresh(sp);
	CHECK(r == 0 && !strcmp(ldp_stackprof_exe(sp), exe) && ldp_stackprof_samples(sp) == 30,
	      "refresh again: %d", r);
	ldp_profile_free(&prof);
	ldp_shipment_clear(&sh);
	ldp_stackprof_free(sp);
}

/* Another process whose main thread has left (the agent's case): its snapshot, executable
 * and symbol files are read through its live thread. */
static void test_other_leaderless(void)
{
	struct leaderless l;
	struct ldp_stackprof *sp = NULL;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int r;

	exe[n > 0 ? n : 0] = 0;
	if (leaderless_start(&l) < 0) {
		CHECK(0, "cannot start a child whose main thread has left");
		return;
	}
	r = ldp_stackprof_new(l.pid, 100, LDP_STACKPROF_RETURN_ADDRESSES, T0, &sp);
	CHECK(r == 0 && ldp_stackprof_refresh(sp) == 0 && !strcmp(ldp_stackprof_exe(sp), exe),
	      "refresh of a process without its main thread: %d, exe %s", r, sp ? ldp_stackprof_exe(sp) : "-");
	ldp_stackprof_free(sp);
	CHECK(leaderless_end(&l) == 0, "the child ends with its last thread");
}

/* A refresh that read an exec'd image's mappings is taken back (the collector's exec race):
 * a child that waits on a pipe, then execs /bin/sleep. */
static void test_refresh_undo(void)
{
	struct ldp_stackprof *sp = NULL;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fds[2], st;
	pid_t pid;
	char c;

	exe[n > 0 ? n : 0] = 0;
	if (pipe(fds) < 0) {
		CHECK(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	CHECK(ldp_stackprof_new(pid, 100, LDP_STACKPROF_RETURN_ADDRESSES, T0, &sp) == 0, "new");
	CHECK(sp && ldp_stackprof_refresh(sp) == 0 && !strcmp(ldp_stackprof_exe(sp), exe),
	      "the child, before its exec: %s", sp ? ldp_stackprof_exe(sp) : "-");
	CHECK(sp && ldp_stackprof_refresh(sp) == 0 && ldp_stackprof_refresh_undo(sp) == 0,
	      "nothing changed: nothing to take back");
	CHECK(write(fds[1], "x", 1) == 1, "let it exec");
	for (int i = 0; i < 200 && sp; i++) { /* until the exec shows */
		ldp_stackprof_refresh(sp);
		if (strcmp(ldp_stackprof_exe(sp), exe))
			break;
		usleep(5000);
	}
	CHECK(sp && !strcmp(ldp_stackprof_exe(sp), "/usr/bin/sleep"), "the new image read: %s",
	      sp ? ldp_stackprof_exe(sp) : "-");
	CHECK(sp && ldp_stackprof_refresh_undo(sp) == 1 && !strcmp(ldp_stackprof_exe(sp), exe),
	      "taken back: the old image again: %s", sp ? ldp_stackprof_exe(sp) : "-");
	CHECK(sp && ldp_stackprof_refresh_undo(sp) == 0, "only once");
	ldp_stackprof_free(sp);
	close(fds[1]);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Frames the snapshot cannot place, which make a collector read the mappings again soon: an
 * address in no mapping; code mapped since the snapshot; code of no file until the process's
 * perf map names it. */
static void test_unmapped(void)
{
	struct ldp_stackprof *sp = NULL;
	uint64_t here = (uint64_t)(uintptr_t)test_grow, nowhere = 4096, zero = 0, jit = 0;
	char path[64];
	int go[2], back[2], st;
	FILE *f;
	pid_t pid;

	if (pipe(go) < 0 || pipe(back) < 0) {
		CHECK(0, "pipes");
		return;
	}
	pid = fork();
	if (pid == 0) {
		char c;
		void *code;

		if (read(go[0], &c, 1) != 1)
			_exit(1);
		code = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (code == MAP_FAILED || write(back[1], &code, sizeof(code)) != sizeof(code))
			_exit(2);
		pause();
		_exit(0);
	}
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)pid);
	CHECK(ldp_stackprof_new(pid, 100, LDP_STACKPROF_RETURN_ADDRESSES, T0, &sp) == 0 && ldp_stackprof_refresh(sp) == 0,
	      "the child's snapshot");
	CHECK(sp && !ldp_stackprof_unmapped(sp, &here, 1) && !ldp_stackprof_unmapped(sp, &zero, 1),
	      "code of the program placed; a zero frame is no frame");
	CHECK(sp && ldp_stackprof_unmapped(sp, &nowhere, 1), "an address in no mapping is not");
	CHECK(write(go[1], "x", 1) == 1 && read(back[0], &jit, sizeof(jit)) == sizeof(jit), "code mapped by the child");
	CHECK(sp && ldp_stackprof_unmapped(sp, &jit, 1), "mapped since the snapshot: not placed");
	CHECK(sp && ldp_stackprof_refresh(sp) == 0 && ldp_stackprof_unmapped(sp, &jit, 1),
	      "in the snapshot, but code of no file that no perf map names");
	f = fopen(path, "w");
	CHECK(f && fprintf(f, "%llx 100 jitted_function\n", (unsigned long long)jit) > 0 && fclose(f) == 0, "%s written", path);
	CHECK(sp && ldp_stackprof_refresh(sp) == 0 && !ldp_stackprof_unmapped(sp, &jit, 1),
	      "named by the perf map read with the mappings: placed");
	ldp_stackprof_free(sp);
	unlink(path);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(go[0]);
	close(go[1]);
	close(back[0]);
	close(back[1]);
}

int main(void)
{
	test_grow();
	test_unmapped();
	test_refresh_undo();
	test_cap();
	test_reset();
	test_reset_after_fork();
	test_other_leaderless();
	test_profile(0);
	test_profile(LDP_STACKPROF_RETURN_ADDRESSES);
	printf("%d checks passed, %d failed\n", passed, failed);
	if (failed) {
		fprintf(stderr, "test_stackprof: %d check(s) FAILED\n", failed);
		return 1;
	}
	return 0;
}
