/* SPDX-License-Identifier: MIT
 *
 * test_agent_profile.c — common/profile.c's windows: each shipment holds the samples since the
 * previous one (or since creation), the next window starts where it ended with nothing of it,
 * and the snapshot survives. The "sampled process" is this one, seen as another one (its pid,
 * files through /proc/PID/root), so no eBPF is needed. And the files whose symbols a process's
 * mappings make the collector read: every executable file but libldprof.so, whose frames are
 * left out of profiles.
 * Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "pprof.h"
#include "procmaps.h"
#include "profile.h"
#include "symcache.h"

#include "check.h"
#include "profnames.h"

#define PERIOD 10000000 /* 100 Hz */

static int64_t total(const struct ldp_profile *p)
{
	int64_t n = 0;

	for (size_t i = 0; i < p->nsamples; i++)
		n += p->samples[i].values[0];
	return n;
}

int main(void);

static void test_windows(void)
{
	uint64_t f[2] = { (uint64_t)(uintptr_t)&test_windows + 4, (uint64_t)(uintptr_t)&main + 4 };
	struct ldp_shipment a = { 0 }, b = { 0 };
	struct ldp_profile pa = { 0 }, pb = { 0 };
	struct ldp_agent_prof *p = NULL;
	struct timespec ts;
	int64_t t0, end1, end2;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	CHECK(ldp_agent_prof_new(0, PERIOD, NULL, 0, &p) == -EINVAL, "pid 0 is refused");
	r = ldp_agent_prof_new(getpid(), PERIOD, NULL, 0, &p);
	CHECK(r == 0, "new: %d", r);
	if (r < 0)
		return;
	r = ldp_agent_prof_refresh(p);
	CHECK(r == 0, "refresh: %d", r);
	for (int i = 0; i < 5; i++)
		ldp_agent_prof_add(p, 11, "worker", f, 2);
	CHECK(ldp_agent_prof_samples(p) == 5, "5 samples in the first window");
	end1 = t0 + 1000000000LL;
	r = ldp_agent_prof_shipment(p, end1, &a);
	CHECK(r == 0 && ldp_profile_parse(a.pprof, a.len, &pa) == 0, "first shipment: %d", r);
	CHECK(a.from_ns >= t0 && a.from_ns < end1 && a.until_ns == end1 && total(&pa) == 5,
	      "first window from creation to end: %lld..%lld, %lld samples", (long long)a.from_ns,
	      (long long)a.until_ns, (long long)total(&pa));
	CHECK(ldp_shipment_label(&a, "source") && ldp_shipment_label(&a, LDP_LABEL_BUILD_ID) &&
	      ldp_shipment_label(&a, LDP_LABEL_EXE) && ldp_shipment_label(&a, LDP_LABEL_COMM),
	      "labels source, build_id, exe, comm");
	CHECK(pa.nsamples && pa.samples[0].nlabels == 3 &&
	      !strcmp(str(&pa, pa.samples[0].labels[0].key), "source") &&
	      !strcmp(str(&pa, pa.samples[0].labels[2].str), "worker"),
	      "samples labelled source, thread_id, thread_name");
	CHECK(ldp_agent_prof_samples(p) == 0 && ldp_agent_prof_dropped(p) == 0,
	      "a shipment starts an empty window");

	/* the next window: only its own samples, from the previous end */
	ldp_agent_prof_add(p, 12, "other", f, 2);
	end2 = end1 + 1000000000LL;
	r = ldp_agent_prof_shipment(p, end2, &b);
	CHECK(r == 0 && ldp_profile_parse(b.pprof, b.len, &pb) == 0, "second shipment: %d", r);
	CHECK(b.from_ns == end1 && b.until_ns == end2 && total(&pb) == 1 && pb.nsamples == 1,
	      "second window from the first's end, with its one sample");
	CHECK(pb.nsamples == 1 && pb.samples[0].nlocs == 2 &&
	      loc_name(&pb, pb.samples[0].locs[0]) && loc_name(&pb, pb.samples[0].locs[1]) &&
	      !strcmp(loc_name(&pb, pb.samples[0].locs[0]), "test_windows") &&
	      !strcmp(loc_name(&pb, pb.samples[0].locs[1]), "main"),
	      "symbolized from the kept snapshot");
	ldp_profile_free(&pa);
	ldp_profile_free(&pb);
	ldp_shipment_clear(&a);
	ldp_shipment_clear(&b);
	ldp_agent_prof_free(p);
}

/* A program that maps libldprof.so (preloaded; with no collector it stays off): its other
 * executable files are read for their symbols, ours is not. */
static void test_no_symbols_of_ours(void)
{
	char shim[PATH_MAX], env[PATH_MAX + 16];
	struct ldp_symcache_stats st = { 0 };
	struct ldp_agent_prof *p = NULL;
	struct ldp_symcache *sc = NULL;
	struct ldp_maps maps = { 0 };
	unsigned nfiles = 0, shim_mapped = 0;
	pid_t pid;
	int status;

	if (!realpath("build/lib/libldprof.so", shim)) {
		CHECK(0, "build/lib/libldprof.so (run from the source tree, after make)");
		return;
	}
	snprintf(env, sizeof(env), "LD_PRELOAD=%s", shim);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "sleep", "5", NULL }, *envp[] = { env, NULL };

		execve("/bin/sleep", argv, envp);
		_exit(127);
	}
	for (int i = 0; i < 200 && !shim_mapped; i++) { /* until sleep has started */
		usleep(5000);
		ldp_maps_free(&maps);
		if (ldp_maps_read(pid, &maps) < 0)
			continue;
		for (size_t k = 0; k < maps.n; k++)
			shim_mapped |= !strcmp(maps.maps[k].path, shim);
	}
	CHECK(shim_mapped, "sleep maps %s", shim);
	for (size_t k = 0; k < maps.n; k++) { /* each file once: its first executable mapping */
		const struct ldp_map *m = &maps.maps[k];
		size_t j;

		if (m->perms[2] != 'x' || m->path[0] != '/' || !strcmp(m->path, shim))
			continue;
		for (j = 0; j < k && (maps.maps[j].perms[2] != 'x' || strcmp(maps.maps[j].path, m->path)); j++)
			;
		nfiles += j == k;
	}
	CHECK(ldp_symcache_new(&ldp_symcache_defaults, &sc) == 0 && ldp_agent_prof_new(pid, PERIOD, sc, 0, &p) == 0 &&
	      ldp_agent_prof_refresh(p) == 0, "sleep's snapshot");
	if (sc) {
		ldp_symcache_drain(sc, 5000000000LL);
		ldp_symcache_stats(sc, &st);
	}
	CHECK(nfiles >= 2 && st.files == nfiles, "%u tables for sleep's %u executable files other than ours", st.files,
	      nfiles);
	ldp_agent_prof_free(p);
	ldp_symcache_free(sc);
	ldp_maps_free(&maps);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int main(void)
{
	test_windows();
	test_no_symbols_of_ours();
	printf("%d checks passed, %d failed\n", passed, failed);
	if (failed) {
		fprintf(stderr, "test_agent_profile: %d check(s) FAILED\n", failed);
		return 1;
	}
	return 0;
}
