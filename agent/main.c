/* SPDX-License-Identifier: MIT
 *
 * main.c — ldprof-agent: sample one running process (all its threads) from the kernel and
 * write its CPU profile.
 *
 *   ldprof-agent --pid PID [--hz 99] [--duration SECONDS] [-v] -o DIR
 *
 * One perf event per online CPU on the CPU clock (PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK,
 * pid -1), each running the BPF program of sampler.bpf.c, which records user stacks of the
 * processes in its `targets` map into a ring buffer; this file polls the ring buffer, hands the
 * samples to profile.c, and when the process exits (seen through a pidfd), the duration ends
 * or SIGINT/SIGTERM arrives, writes DIR/<comm>.<pid>.<seq>.pb.gz.
 * Exit status: 0 profile written, 1 failure (one line on stderr says what is missing), 2 usage.
 * It must never sample a process it was not asked for, never change the target (no ptrace, no
 * signals to it), and never print libbpf's own hints unless -v asks for them (its "raise ulimit
 * -l" is misleading on kernels that account BPF memory to cgroups).
 * Registration over a socket, fork/exec hooks and shipping come in the next increments.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "deliver.h"
#include "profile.h"
#include "sampler.h"
#include "sampler.skel.h"

#define MAX_CPUS 4096
/* The highest user-space address on x86-64 (4-level and 5-level paging alike, canonical). */
#define USER_ADDR_MAX 0x00ffffffffffffffULL
/* How often the target's maps are read again while it runs (its libraries may change). */
#define REFRESH_NS 1000000000LL

static volatile sig_atomic_t stop;
static int verbose;

struct opts {
	pid_t pid;
	int hz;
	double duration; /* seconds, 0: until the process exits */
	const char *dir;
};

struct run {
	struct ldp_agent_prof *prof;
	pid_t pid;
	uint64_t other; /* events of other processes (none expected: the map holds one) */
};

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ldprof-agent --pid PID [--hz N] [--duration SECONDS] [-v] -o DIR\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "hz", required_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	long v;
	int c;

	o->hz = 99;
	while ((c = getopt_long(argc, argv, "p:o:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v <= 0 || v > INT_MAX) {
				fprintf(stderr, "ldprof-agent: invalid pid '%s'\n", optarg);
				return -EINVAL;
			}
			o->pid = (pid_t)v;
			break;
		case 'f':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 1000) {
				fprintf(stderr, "ldprof-agent: invalid --hz '%s' (1..1000)\n", optarg);
				return -EINVAL;
			}
			o->hz = (int)v;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || *end || !(o->duration > 0) || o->duration > 1e7) {
				fprintf(stderr, "ldprof-agent: invalid --duration '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'o':
			o->dir = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->pid || !o->dir) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct run *run = ctx;
	const struct ldp_agent_event *e = data;
	char comm[LDP_AGENT_COMM_LEN + 1];
	uint32_t n, k;

	if (len < sizeof(*e))
		return 0;
	if ((pid_t)e->tgid != run->pid) {
		run->other++;
		return 0;
	}
	memcpy(comm, e->comm, LDP_AGENT_COMM_LEN);
	comm[LDP_AGENT_COMM_LEN] = 0;
	n = e->nframes < LDP_AGENT_MAX_FRAMES ? e->nframes : LDP_AGENT_MAX_FRAMES;
	/* The kernel follows the frame-pointer chain until it faults; code built without frame
	 * pointers (static glibc's start-up code) can leave a last word that is no user address
	 * at all. The stack ends before the first such frame. */
	for (k = 0; k < n; k++)
		if (!e->frames[k] || e->frames[k] > USER_ADDR_MAX)
			break;
	ldp_agent_prof_add(run->prof, e->tid, comm, (const uint64_t *)e->frames, k);
	return 0;
}

/* What a failed load or perf_event_open most likely lacks, in one phrase. */
static const char *missing(int err)
{
	if (err == EPERM || err == EACCES)
		return "missing CAP_BPF/CAP_PERFMON (run as root, or grant both capabilities)";
	if (err == ENOENT || err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP)
		return "the kernel lacks a needed BPF feature (perf_event programs, ring buffer, BTF)";
	return strerror(err);
}

/* One CPU-clock perf event per online CPU, the program attached to each. Offline CPUs
 * (ENODEV) are skipped. Returns the number attached or -errno. */
static int attach_cpus(struct sampler *skel, int hz, int *pfds, struct bpf_link **links, int ncpus)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = (unsigned long long)hz,
		.freq = 1,
	};
	int n = 0, err;

	for (int cpu = 0; cpu < ncpus; cpu++) {
		pfds[cpu] = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfds[cpu] < 0) {
			err = errno;
			if (err == ENODEV)
				continue;
			fprintf(stderr, "ldprof-agent: perf_event_open on cpu %d: %s\n", cpu, missing(err));
			return -err;
		}
		links[cpu] = bpf_program__attach_perf_event(skel->progs.on_cpu_clock, pfds[cpu]);
		if (!links[cpu]) {
			err = errno;
			fprintf(stderr, "ldprof-agent: attaching to cpu %d: %s\n", cpu, missing(err));
			return -err;
		}
		pfds[cpu] = -1; /* the link owns the perf event now and closes it */
		n++;
	}
	return n;
}

static void deliver_log(int level, const char *msg)
{
	if (level >= 2)
		fprintf(stderr, "ldprof-agent: %s\n", msg);
}

/* Through common/deliver.c, as the shim's profiles go: <dir>/<comm>.<pid>.<seq>.pb.gz. */
static int write_profile(struct ldp_agent_prof *p, const char *dir)
{
	static struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_deliver *d;
	int r;

	ldp_config_defaults(&c);
	if ((size_t)snprintf(c.endpoint, sizeof(c.endpoint), "file://%s", dir) >= sizeof(c.endpoint))
		return -ENAMETOOLONG;
	d = ldp_deliver_new(&c, deliver_log);
	if (!d)
		return -ENOMEM;
	r = ldp_agent_prof_shipment(p, real_ns(), &s);
	if (r == 0)
		r = ldp_deliver_submit(d, &s);
	ldp_deliver_free(d);
	return r;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct run run = { 0 };
	struct sampler *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct bpf_link **links = NULL;
	int *pfds = NULL;
	int ncpus = 0, nattached, pidfd = -1, status = 1, err;
	int64_t deadline = 0, next_refresh;
	uint64_t samples, dropped;
	struct sigaction sa = { .sa_handler = on_signal };
	__u32 key;
	__u8 one = 1;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	libbpf_set_print(libbpf_log);

	/* 1. feature probe: CO-RE needs the kernel's BTF */
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		fprintf(stderr, "ldprof-agent: missing kernel BTF (/sys/kernel/btf/vmlinux: %s): "
			"the kernel needs CONFIG_DEBUG_INFO_BTF=y\n", strerror(errno));
		return 1;
	}
	/* 2. the target: a pidfd tells when it exits, with no race on pid reuse */
	pidfd = (int)syscall(SYS_pidfd_open, o.pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			fprintf(stderr, "ldprof-agent: no process with pid %d\n", (int)o.pid);
		else
			fprintf(stderr, "ldprof-agent: pidfd_open(%d): %s\n", (int)o.pid, strerror(errno));
		return 1;
	}
	if (mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "ldprof-agent: cannot create '%s': %s\n", o.dir, strerror(errno));
		goto out;
	}
	err = ldp_agent_prof_new(o.pid, 1000000000LL / o.hz, &run.prof);
	if (err < 0) {
		fprintf(stderr, "ldprof-agent: %s\n", strerror(-err));
		goto out;
	}
	run.pid = o.pid;
	err = ldp_agent_prof_refresh(run.prof);
	if (err < 0) {
		fprintf(stderr, "ldprof-agent: cannot read /proc/%d/maps: %s\n", (int)o.pid,
			err == -EACCES || err == -EPERM ? "missing CAP_SYS_PTRACE" : strerror(-err));
		goto out;
	}

	/* 3. open the skeleton (the ring buffer and maps are sized in sampler.h) */
	skel = sampler__open();
	if (!skel) {
		fprintf(stderr, "ldprof-agent: opening the BPF object: %s\n", strerror(errno));
		goto out;
	}
	/* 4. load: the verifier runs here; EPERM means a capability is missing */
	err = sampler__load(skel);
	if (err) {
		fprintf(stderr, "ldprof-agent: loading the BPF program: %s\n", missing(-err));
		goto out;
	}
	/* 5. mark the target before the events start */
	key = (__u32)o.pid;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.targets), &key, &one, BPF_ANY) < 0) {
		fprintf(stderr, "ldprof-agent: updating the targets map: %s\n", strerror(errno));
		goto out;
	}
	/* 6. the ring buffer reader */
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, &run, NULL);
	if (!rb) {
		fprintf(stderr, "ldprof-agent: ring buffer: %s\n", strerror(errno));
		goto out;
	}
	/* 7. attach: one CPU-clock event per online CPU */
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0 || ncpus > MAX_CPUS) {
		fprintf(stderr, "ldprof-agent: cannot count the CPUs\n");
		goto out;
	}
	pfds = malloc(ncpus * sizeof(*pfds));
	links = calloc(ncpus, sizeof(*links));
	if (!pfds || !links) {
		fprintf(stderr, "ldprof-agent: out of memory\n");
		goto out;
	}
	for (int i = 0; i < ncpus; i++)
		pfds[i] = -1;
	nattached = attach_cpus(skel, o.hz, pfds, links, ncpus);
	if (nattached <= 0) {
		if (nattached == 0)
			fprintf(stderr, "ldprof-agent: no online CPU to sample\n");
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (o.duration > 0)
		deadline = mono_ns() + (int64_t)(o.duration * 1e9);
	next_refresh = mono_ns() + REFRESH_NS;
	fprintf(stderr, "ldprof-agent: sampling pid %d at %d Hz on %d CPUs\n", (int)o.pid, o.hz,
		nattached);

	/* 8. poll until the process exits, the duration ends or a signal comes */
	while (!stop) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int64_t now;

		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ldprof-agent: polling the ring buffer: %s\n", strerror(-err));
			break;
		}
		if (poll(&pfd, 1, 0) > 0)
			break; /* exited: its last samples are already in the ring buffer */
		now = mono_ns();
		if (deadline && now >= deadline)
			break;
		if (now >= next_refresh) {
			ldp_agent_prof_refresh(run.prof);
			next_refresh = now + REFRESH_NS;
		}
	}
	/* 9. stop the events, take what is left, write the profile */
	for (int i = 0; i < ncpus; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
	ring_buffer__consume(rb);
	ldp_agent_prof_refresh(run.prof); /* fails quietly once the process is gone */
	/* the counts are the window's: a shipment starts the next one at zero */
	samples = ldp_agent_prof_samples(run.prof);
	dropped = ldp_agent_prof_dropped(run.prof);
	err = write_profile(run.prof, o.dir);
	if (err < 0) {
		fprintf(stderr, "ldprof-agent: writing the profile into '%s': %s\n", o.dir, strerror(-err));
		goto out;
	}
	fprintf(stderr, "ldprof-agent: wrote a profile into %s: %llu samples, %llu dropped (ring buffer %llu, table %llu)\n",
		o.dir, (unsigned long long)samples,
		(unsigned long long)(skel->bss->dropped + dropped),
		(unsigned long long)skel->bss->dropped,
		(unsigned long long)dropped);
	status = 0;
out:
	/* 10. cleanup: every step above may have been left half done */
	for (int i = 0; links && i < ncpus; i++)
		bpf_link__destroy(links[i]);
	for (int i = 0; pfds && i < ncpus; i++)
		if (pfds[i] >= 0)
			close(pfds[i]);
	free(links);
	free(pfds);
	ring_buffer__free(rb);
	sampler__destroy(skel);
	ldp_agent_prof_free(run.prof);
	if (pidfd >= 0)
		close(pidfd);
	return status;
}
