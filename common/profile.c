/* SPDX-License-Identifier: MIT
 *
 * profile.c — the profile of one sampled process, on top of common/stackprof.c.
 *
 * What is the agent's own: the process is another one (its maps, files and names are read
 * through /proc/PID while it is alive, and the last good snapshot is used once it is gone),
 * samples come one by one with the thread's name from the kernel, frames past the leaf are
 * raw return addresses from a frame-pointer walk, and every sample and profile is labelled
 * source=ebpf so the agent's profiles are told from the shim's.
 * It never writes anything: the caller hands the shipment to delivery.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "profile.h"
#include "stackprof.h"

struct ldp_agent_prof {
	int64_t period_ns;
	struct ldp_stackprof *sp;
	struct ldp_symcache *sc;
	uid_t uid;
	struct ldp_pprof_label source; /* .str NULL: no source label */
};

/* The file as the process maps it: its path under the process's own root, reached through a
 * live thread, and checked against the inode the maps line gives. */
static void *syms_get(void *ctx, const char *proc_dir, const struct ldp_map *m)
{
	struct ldp_agent_prof *p = ctx;
	struct ldp_symfile *f = NULL;
	char root[96];
	int rootfd;

	snprintf(root, sizeof(root), "%s/root", proc_dir);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return NULL;
	if (ldp_symcache_get(p->sc, rootfd, m->path, m->inode, p->uid, &f) < 0)
		f = NULL;
	close(rootfd);
	return f;
}

static const struct ldp_elfsym *syms_table(void *ctx, void *ref)
{
	(void)ctx;
	return ldp_symcache_syms(ref);
}

static int syms_pending(void *ctx, void *ref)
{
	(void)ctx;
	return ldp_symcache_pending(ref);
}

static void syms_put(void *ctx, void *ref)
{
	(void)ctx;
	ldp_symcache_put(ref);
}


int ldp_agent_prof_new(pid_t pid, int64_t period_ns, struct ldp_symcache *sc, uid_t uid,
		       struct ldp_agent_prof **ret)
{
	struct ldp_agent_prof *p = NULL;
	struct timespec ts;
	int r = -EINVAL;

	if (pid <= 0 || period_ns <= 0)
		goto out;
	r = -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	p->period_ns = period_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	r = ldp_stackprof_new(pid, LDP_AGENT_PROF_MAX_STACKS, LDP_STACKPROF_RETURN_ADDRESSES,
			      (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec, &p->sp);
	if (r < 0)
		goto out;
	p->sc = sc;
	p->uid = uid;
	p->source = (struct ldp_pprof_label){ "source", "ebpf" };
	if (sc) {
		const struct ldp_stackprof_syms src = {
			.get = syms_get, .syms = syms_table, .pending = syms_pending,
			.put = syms_put, .ctx = p,
		};
		ldp_stackprof_set_syms(p->sp, &src);
	}
	*ret = p;
	p = NULL;
out:
	ldp_agent_prof_free(p);
	return r;
}

void ldp_agent_prof_free(struct ldp_agent_prof *p)
{
	if (!p)
		return;
	ldp_stackprof_free(p->sp);
	free(p);
}

int ldp_agent_prof_add(struct ldp_agent_prof *p, uint32_t tid, const char *comm,
		       const uint64_t *frames, uint32_t nframes)
{
	return ldp_stackprof_add(p->sp, tid, comm, frames, nframes, 1);
}

int ldp_agent_prof_add_n(struct ldp_agent_prof *p, uint32_t tid, const char *comm,
			 const uint64_t *frames, uint32_t nframes, uint64_t weight)
{
	return ldp_stackprof_add(p->sp, tid, comm, frames, nframes, weight);
}

void ldp_agent_prof_set_source(struct ldp_agent_prof *p, const char *source)
{
	p->source.str = source;
}

int ldp_agent_prof_refresh(struct ldp_agent_prof *p)
{
	return ldp_stackprof_refresh(p->sp);
}

bool ldp_agent_prof_unmapped(const struct ldp_agent_prof *p, const uint64_t *frames, uint32_t n)
{
	return ldp_stackprof_unmapped(p->sp, frames, n);
}

int ldp_agent_prof_refresh_undo(struct ldp_agent_prof *p)
{
	return ldp_stackprof_refresh_undo(p->sp);
}

unsigned ldp_agent_prof_pending(const struct ldp_agent_prof *p)
{
	return ldp_stackprof_syms_pending(p->sp);
}

uint64_t ldp_agent_prof_samples(const struct ldp_agent_prof *p)
{
	return ldp_stackprof_samples(p->sp);
}

uint64_t ldp_agent_prof_dropped(const struct ldp_agent_prof *p)
{
	return ldp_stackprof_dropped(p->sp);
}

void ldp_agent_prof_free_window(struct ldp_agent_prof *p)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ldp_stackprof_reset(p->sp, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

int ldp_agent_prof_shipment(struct ldp_agent_prof *p, int64_t end_ns, struct ldp_shipment *ret)
{
	const struct ldp_stackprof_out out = {
		.period_ns = p->period_ns, .end_ns = end_ns, .labels = &p->source,
		.nlabels = p->source.str ? 1 : 0,
	};
	int r;

	r = ldp_stackprof_build(p->sp, &out, ret);
	if (r < 0)
		return r;
	if (p->source.str)
		ldp_shipment_add_label(ret, p->source.key, p->source.str);
	ldp_stackprof_reset(p->sp, end_ns);
	return 0;
}
