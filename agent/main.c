/* SPDX-License-Identifier: MIT
 *
 * main.c — ldprof-agent: samples from the kernel the processes the shim cannot sample.
 *
 *   ldprof-agent [--config FILE] [-v]                      the host agent (a daemon)
 *   ldprof-agent --pid PID [--hz N] [--duration S] [-v] -o DIR   one process, one profile
 *
 * The host agent listens on the [agent] socket (server.c) for shims that register (their
 * static descendants are covered) or ask to be sampled (Go runtime, foreign SIGPROF handler);
 * the BPF programs (sampler.bpf.c) pass registrations on at fork and make a static exec a
 * target at exec, so it is sampled from its first instruction; cover.c keeps one profile per
 * target and ships it every flush interval and at its end, through the shim's delivery code
 * (endpoint, spool, retries) configured by the same INI file.
 * Sampling: one CPU-clock perf event per online CPU (pid -1), each running the BPF program
 * that records the user stack of targets into a ring buffer.
 * Exit status: 0 done, 1 failure (one line on stderr says what is missing), 2 usage.
 * It must never sample a process that neither asked nor was marked by the exec hook, never
 * change a target (no ptrace, no signals to it), and never print libbpf's own hints unless
 * -v asks for them (its "raise ulimit -l" is misleading on kernels that account BPF memory to
 * cgroups).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "collector.h"
#include "config.h"
#include "cover.h"
#include "deliver.h"
#include "fileio.h"
#include "sampler.h"
#include "sampler.skel.h"
#include "procmaps.h"
#include "ring.h"
#include "rules.h"
#include "server.h"
#include "shimstate.h"
#include "symcache.h"

#define MAX_CPUS 4096
#define TICK_NS 100000000LL
/* Processes one non-root user may have sampled on request at once. */
#define ASKED_PER_USER 64

static volatile sig_atomic_t stop;
static int verbose;
static int log_level = 2; /* 0 debug, 1 info, 2 warn, 3 error */

struct opts {
	pid_t pid;
	int hz;
	double duration; /* seconds, 0: until the process exits */
	const char *dir;
	const char *config;
	int bpf_stats;
};

struct agent {
	struct ldp_config cfg;
	struct sampler *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	int ncpus;
	struct ldp_deliver *d;
	struct ldp_cover *cv;
	struct ldp_symcache *sc;
	struct ldp_server *srv;
	struct ldp_collector *coll; /* [agent] rings: the rings of the processes the shim samples */
	char offer[32];             /* " rings hz=N": what a registration is answered with */
	struct ldp_agent_rules rules;
	int network;
	int no_output; /* file:// output with no folder of ours: profiles are only counted */
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void alog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void alog(int level, const char *fmt, ...)
{
	va_list ap;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	fputs("ldprof-agent: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
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

static void usage(FILE *f)
{
	fprintf(f, "usage: ldprof-agent [--config FILE] [--bpf-stats] [-v]\n"
		   "       ldprof-agent --pid PID [--hz N] [--duration SECONDS] [--bpf-stats] [-v] -o DIR\n"
		   "--bpf-stats: time the BPF programs (kernel.bpf_stats, host-wide while it runs) and\n"
		   "             print their run counts and mean run time at exit\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "hz", required_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "bpf-stats", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	char *end;
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "p:o:c:vh", lo, NULL)) != -1) {
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
		case 'c':
			o->config = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 's':
			o->bpf_stats = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->pid != !o->dir || (o->config && o->pid) ||
	    (o->duration > 0 && !o->pid)) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* ---- configuration ---- */

static void config_problem(void *ctx, const struct ldp_config_problem *p)
{
	int *errors = ctx;

	if (p->severity == LDP_CONFIG_ERROR)
		(*errors)++;
	fprintf(stderr, "ldprof-agent: %s: %s: %s%s%s%s\n", p->where,
		p->severity == LDP_CONFIG_ERROR ? "error" : "warning", p->what,
		p->hint ? " (hint: " : "", p->hint ? p->hint : "", p->hint ? ")" : "");
}

static void deliver_log(int level, const char *msg)
{
	alog(level, "%s", msg);
}

/* The host agent's settings: the shim's file (or --config FILE), then LDPROF_* variables.
 * Profiles go where the shim's go, into root's own folder of a shared base. */
static int read_config(struct agent *a, const struct opts *o)
{
	extern char **environ;
	char why[LDP_CONFIG_STR + 128];
	int errors = 0;

	ldp_config_defaults(&a->cfg);
	if (o->config) {
		ldp_config_load_file(&a->cfg, o->config, 0, config_problem, &errors);
		ldp_config_apply_env(&a->cfg, environ, config_problem, &errors);
	} else {
		ldp_config_load(&a->cfg, environ, config_problem, &errors);
	}
	if (errors) {
		fprintf(stderr, "ldprof-agent: the configuration has errors: not starting\n");
		return -EINVAL;
	}
	if (o->hz)
		a->cfg.hz = o->hz;
	/* [log] level counts error 0 .. debug 3; ours counts debug 0 .. error 3 */
	log_level = verbose ? 0 : 3 - a->cfg.log_level;
	a->network = strncmp(a->cfg.endpoint, "file://", 7) != 0;
	/* No output folder is not a reason to stop: what the agent does besides (registrations,
	 * the exec hook that covers static programs) goes on; its profiles are counted as lost. */
	if (ldp_deliver_own_dirs(&a->cfg, (unsigned)geteuid(), deliver_log, why, sizeof(why)) < 0) {
		alog(3, "profiles are not written, only counted as lost");
		a->no_output = 1;
	}
	return 0;
}

/* ---- delivery ---- */

/* Network delivery on deliver.c's sender thread, so that a slow endpoint never delays the
 * ring buffer; submit wakes it. */
static int deliver_start(struct agent *a)
{
	a->d = ldp_deliver_new(&a->cfg, deliver_log);
	if (!a->d)
		return -ENOMEM;
	return a->network ? ldp_deliver_sender_start(a->d) : 0;
}

static void deliver_stop(struct agent *a, int report)
{
	struct ldp_deliver_stats ds;

	if (!a->d)
		return;
	/* What is still queued gets the shim's exit budget, then goes to the spool. Before the
	 * sender stops: a send of its in flight gets the budget too (stopping it first aborted
	 * it, and a profile the server had taken was sent again). */
	ldp_deliver_finish(a->d, a->cfg.exit_timeout_ns);
	ldp_deliver_sender_stop(a->d);
	ldp_deliver_stats(a->d, &ds);
	if (report)
		fprintf(stderr, "ldprof-agent: done: %llu profiles written, %llu sent, %llu spooled, "
			"%llu lost; samples dropped: %llu (ring buffer)\n",
			(unsigned long long)ds.files, (unsigned long long)ds.sent,
			(unsigned long long)ds.spooled, (unsigned long long)ds.lost,
			a->skel ? (unsigned long long)a->skel->bss->dropped : 0ULL);
	ldp_deliver_free(a->d);
	a->d = NULL;
}

/* ---- the kernel side ---- */

static int on_event(void *ctx, void *data, size_t len)
{
	struct agent *a = ctx;
	const struct ldp_agent_hdr *h = data;

	if (len < sizeof(*h))
		return 0;
	switch (h->kind) {
	case LDP_AGENT_EV_SAMPLE:
		if (len >= sizeof(struct ldp_agent_event))
			ldp_cover_sample(a->cv, data);
		break;
	case LDP_AGENT_EV_EXEC: {
		char why[160];

		/* The kernel marked it at the exec; [select] is checked now, as the shim's first
		 * stage checks it: what an excluded program ran meanwhile is never shipped. */
		if (ldp_agent_rules_excluded(&a->rules, (pid_t)h->tgid, why, sizeof(why))) {
			ldp_cover_discard(a->cv, (pid_t)h->tgid);
			alog(0, "pid %u not covered: %s", h->tgid, why);
			break;
		}
		if (ldp_cover_start(a->cv, (pid_t)h->tgid, LDP_AGENT_TGT_STATIC) == -ENOSPC)
			alog(2, "pid %u not covered: %d processes are already", h->tgid,
			     LDP_AGENT_MAX_TARGETS);
		break;
	}
	case LDP_AGENT_EV_EXIT:
		ldp_cover_end(a->cv, (pid_t)h->tgid, 0);
		break;
	default: /* FORK: its profile starts with its first sample, if it has any */
		break;
	}
	return 0;
}

/* The effective capability set, from /proc/self/status (0 when it cannot be read). */
static unsigned long long cap_eff(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	fclose(f);
	return v;
}

#define CAP_SYS_PTRACE_ 19
#define CAP_SYS_ADMIN_ 21
#define CAP_PERFMON_ 38
#define CAP_BPF_ 39

/* What a failed load, perf_event_open or attach most likely lacks, in one phrase: on EPERM, the
 * capabilities of the minimum set that this process does not have (CAP_SYS_ADMIN stands in for
 * CAP_BPF and CAP_PERFMON, as it does on kernels before 5.8). */
static const char *missing(int err)
{
	static char why[256];
	unsigned long long eff;
	const char *names[3];
	int n = 0;

	if (err == ENOENT || err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP)
		return "the kernel lacks a needed BPF feature (perf_event or tp_btf programs, ring "
		       "buffer, BTF)";
	if (err != EPERM && err != EACCES)
		return strerror(err);
	eff = cap_eff();
	if (!(eff & (1ULL << CAP_BPF_)) && !(eff & (1ULL << CAP_SYS_ADMIN_)))
		names[n++] = "CAP_BPF";
	if (!(eff & (1ULL << CAP_PERFMON_)) && !(eff & (1ULL << CAP_SYS_ADMIN_)))
		names[n++] = "CAP_PERFMON";
	if (!(eff & (1ULL << CAP_SYS_PTRACE_)))
		names[n++] = "CAP_SYS_PTRACE";
	if (!n)
		return "permission denied although CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE are "
		       "there (kernel lockdown, a seccomp filter or an LSM policy?)";
	snprintf(why, sizeof(why), "missing %s%s%s%s%s (run as root, or grant CAP_BPF, CAP_PERFMON "
		 "and CAP_SYS_PTRACE)", names[0], n > 1 ? (n > 2 ? ", " : " and ") : "",
		 n > 1 ? names[1] : "", n > 2 ? " and " : "", n > 2 ? names[2] : "");
	return why;
}

/* One CPU-clock perf event per online CPU, the program attached to each. Offline CPUs
 * (ENODEV) are skipped. Returns the number attached or -errno. */
static int attach_cpus(struct agent *a, int hz)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = (unsigned long long)hz,
		.freq = 1,
	};
	int n = 0, err, fd;

	for (int cpu = 0; cpu < a->ncpus; cpu++) {
		fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			err = errno;
			if (err == ENODEV)
				continue;
			fprintf(stderr, "ldprof-agent: perf_event_open on cpu %d: %s\n", cpu, missing(err));
			return -err;
		}
		a->links[cpu] = bpf_program__attach_perf_event(a->skel->progs.on_cpu_clock, fd);
		if (!a->links[cpu]) {
			err = errno;
			close(fd);
			fprintf(stderr, "ldprof-agent: attaching to cpu %d: %s\n", cpu, missing(err));
			return -err;
		}
		n++; /* the link owns the perf event now and closes it */
	}
	return n;
}

/* What the kernel must have for the programs and maps to load: checked up front where no
 * privilege is needed (BTF, the three tracepoints as BTF-typed targets), so that the message
 * names what is missing. Returns 0 or -errno (after one line on stderr). */
static int probe_btf(void)
{
	static const char *const tps[] = { "btf_trace_sched_process_fork",
					   "btf_trace_sched_process_exec",
					   "btf_trace_sched_process_exit" };
	struct btf *vmlinux;

	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		fprintf(stderr, "ldprof-agent: missing kernel BTF (/sys/kernel/btf/vmlinux: %s): "
			"the kernel needs CONFIG_DEBUG_INFO_BTF=y\n", strerror(errno));
		return -ENOENT;
	}
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		fprintf(stderr, "ldprof-agent: cannot read the kernel's BTF: %s\n", strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++)
		if (btf__find_by_name_kind(vmlinux, tps[i], BTF_KIND_TYPEDEF) < 0) {
			fprintf(stderr, "ldprof-agent: the kernel has no BTF-typed tracepoint %s "
				"(tp_btf, Linux 5.5 or later)\n", tps[i] + 10);
			btf__free(vmlinux);
			return -EOPNOTSUPP;
		}
	btf__free(vmlinux);
	return 0;
}

/* Why a load failed with err, in one phrase: a missing capability, or the program or map type
 * the kernel lacks (probed only now: without the capabilities the probes fail alike). */
static const char *load_failure(int err)
{
	if (err == EPERM || err == EACCES)
		return missing(err);
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, NULL) == 0)
		return "the kernel cannot run BPF programs on perf events";
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 0)
		return "the kernel has no BPF ring buffer (Linux 5.8 or later)";
	return missing(err);
}

/* Feature probe, load (the verifier runs here), the hooks, the ring buffer, the perf events.
 * Every failure says what is missing. Returns 0 or -errno. */
static int bpf_start(struct agent *a, int hz)
{
	int err;

	err = probe_btf();
	if (err < 0)
		return err;
	a->skel = sampler__open();
	if (!a->skel) {
		fprintf(stderr, "ldprof-agent: opening the BPF object: %s\n", strerror(errno));
		return -errno;
	}
	err = sampler__load(a->skel);
	if (err) {
		fprintf(stderr, "ldprof-agent: loading the BPF programs: %s\n", load_failure(-err));
		return err;
	}
	a->skel->bss->cover_static = a->cfg.agent_cover == LDP_AGENT_COVER_STATIC;
	/* the fork, exec and exit hooks (tp_btf: no kprobe, no tracefs) */
	err = sampler__attach(a->skel);
	if (err) {
		fprintf(stderr, "ldprof-agent: attaching to the fork/exec/exit tracepoints: %s\n",
			missing(-err));
		return err;
	}
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.events), on_event, a, NULL);
	if (!a->rb) {
		fprintf(stderr, "ldprof-agent: ring buffer: %s\n", strerror(errno));
		return -errno;
	}
	a->ncpus = libbpf_num_possible_cpus();
	if (a->ncpus <= 0 || a->ncpus > MAX_CPUS) {
		fprintf(stderr, "ldprof-agent: cannot count the CPUs\n");
		return -EINVAL;
	}
	a->links = calloc((size_t)a->ncpus, sizeof(*a->links));
	if (!a->links)
		return -ENOMEM;
	err = attach_cpus(a, hz);
	if (err == 0)
		fprintf(stderr, "ldprof-agent: no online CPU to sample\n");
	return err <= 0 ? (err ? err : -ENODEV) : 0;
}

/* What the kernel counted for each program while --bpf-stats was on. */
static void bpf_report(struct agent *a)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, a->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) < 0)
			continue;
		fprintf(stderr, "ldprof-agent: bpf %s: %llu runs, %.0f ns mean\n",
			bpf_program__name(prog), (unsigned long long)info.run_cnt,
			info.run_cnt ? (double)info.run_time_ns / (double)info.run_cnt : 0.0);
	}
}

static void bpf_stop_sampling(struct agent *a)
{
	for (int i = 0; a->links && i < a->ncpus; i++) {
		bpf_link__destroy(a->links[i]);
		a->links[i] = NULL;
	}
}

static void bpf_free(struct agent *a)
{
	bpf_stop_sampling(a);
	free(a->links);
	a->links = NULL;
	ring_buffer__free(a->rb);
	a->rb = NULL;
	sampler__destroy(a->skel); /* detaches the hooks */
	a->skel = NULL;
}

/* The BPF programs see host pids (bpf_get_current_pid_tgid), while pids from the socket and
 * /proc are those of our own PID namespace: the two agree only in the initial one, whose
 * /proc/self/ns/pid has a fixed inode (PROC_PID_INIT_INO). */
#define PROC_PID_INIT_INO 0xEFFFFFFCu

static int host_pid_namespace(void)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		return -errno;
	return st.st_ino == PROC_PID_INIT_INO ? 0 : -EXDEV;
}

/* ---- requests from shims (server.c) ---- */

static int req_known(void *ctx, pid_t pid, const char *what)
{
	struct agent *a = ctx;
	__u32 key = (__u32)pid;
	__u8 v;

	if (!a->skel)
		return 0;
	if (strcmp(what, "register"))
		return bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.targets), &key, &v) == 0 &&
		       v == LDP_AGENT_TGT_ASKED;
	return bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.registered), &key, &v) == 0;
}

static void req_forget(void *ctx, pid_t pid)
{
	struct agent *a = ctx;
	__u32 key = (__u32)pid;

	if (!a->skel)
		return;
	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.registered), &key);
	ldp_cover_end(a->cv, pid, 1);
}

static int mark(struct agent *a, pid_t pid, __u8 v)
{
	__u32 key = (__u32)pid;

	if (!a->skel)
		return 0; /* no eBPF: nothing to cover, nothing to keep from sampling twice */
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.registered), &key, &v, BPF_ANY) < 0)
		return -errno;
	return 0;
}

/* The shim samples pid: cover its static descendants; never sample it ourselves (it may be
 * a target already: ld.so run directly is a static image, then loads the shim). */
static int req_register(void *ctx, pid_t pid, uid_t uid, const char **why)
{
	struct agent *a = ctx;
	int r = mark(a, pid, LDP_AGENT_REG_SHIM);

	(void)uid;
	if (r < 0) {
		*why = "registrations are full";
		return r;
	}
	if (a->cv)
		ldp_cover_end(a->cv, pid, 1);
	alog(0, "pid %d registered", (int)pid);
	return 0;
}

/* 1 when pid is dumpable by its owner: /proc/PID/mem belongs to root otherwise. */
static int dumpable_by(pid_t pid, uid_t uid)
{
	char path[96];
	struct stat st;

	/* through a live thread: a main thread gone (pthread_exit) leaves /proc/PID/mem root's */
	ldp_proc_path(pid, "mem", path, sizeof(path));
	return stat(path, &st) == 0 && st.st_uid == uid;
}

static int req_sample(void *ctx, pid_t pid, uid_t uid, const char *what, const char **why)
{
	struct agent *a = ctx;
	__u32 key = (__u32)pid;
	__u8 v = LDP_AGENT_TGT_ASKED;
	int r;

	if (!a->skel) {
		*why = "no eBPF here: the agent collects rings only";
		return -EOPNOTSUPP;
	}
	if (req_known(a, pid, what))
		return 0; /* asked twice: it is sampled already */
	if (uid != 0 && ldp_cover_count(a->cv, uid) >= ASKED_PER_USER) {
		*why = "too many processes of this user are sampled";
		return -EDQUOT;
	}
	if (!dumpable_by(pid, uid)) {
		*why = "not dumpable";
		return -EPERM;
	}
	r = ldp_cover_start(a->cv, pid, LDP_AGENT_TGT_ASKED);
	if (r < 0) {
		*why = r == -ENOSPC ? "the agent covers all it can" : NULL;
		return r;
	}
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.targets), &key, &v, BPF_ANY) < 0) {
		r = -errno;
		ldp_cover_end(a->cv, pid, 0);
		*why = "targets are full";
		return r;
	}
	mark(a, pid, LDP_AGENT_REG_SHIM);
	alog(1, "pid %d uid %u: sampling it (%s)", (int)pid, (unsigned)uid,
	     !strcmp(what, "go") ? "Go runtime" : !strcmp(what, "seccomp") ? "a seccomp filter" :
	     "its own SIGPROF handler");
	return 0;
}

static size_t req_status(void *ctx, uid_t uid, char *buf, size_t len)
{
	struct agent *a = ctx;
	int fd = a->skel ? bpf_map__fd(a->skel->maps.registered) : -1;
	__u32 key, next, *prev = NULL;
	struct ldp_symcache_stats ss;
	unsigned long reg = 0;
	int n, m;

	while (fd >= 0 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		reg++;
		key = next;
		prev = &key;
	}
	ldp_symcache_stats(a->sc, &ss);
	n = snprintf(buf, len, "agent %d hz %d cover %s covering %u registered %lu dropped %llu "
		     "ctl_dropped %llu map_full %llu uid_capped %llu sym_files %u sym_bytes %llu sym_queued %u "
		     "sym_reads %llu sym_hits %llu sym_over_budget %llu sym_throttled %llu ending %u ended_dropped %llu "
		     "unwritten %llu ebpf %d",
		     (int)getpid(), a->cfg.hz,
		     a->cfg.agent_cover == LDP_AGENT_COVER_STATIC ? "static" : "registered",
		     a->cv ? ldp_cover_count(a->cv, (uid_t)-1) : 0, reg,
		     a->skel ? (unsigned long long)a->skel->bss->dropped : 0ULL,
		     a->skel ? (unsigned long long)a->skel->bss->ctl_dropped : 0ULL,
		     a->skel ? (unsigned long long)a->skel->bss->map_full : 0ULL,
		     a->skel ? (unsigned long long)a->skel->bss->uid_capped : 0ULL,
		     ss.files, (unsigned long long)ss.bytes, ss.queued,
		     (unsigned long long)ss.reads, (unsigned long long)ss.hits,
		     (unsigned long long)ss.over_budget, (unsigned long long)ss.throttled,
		     a->cv ? ldp_cover_ending(a->cv) : 0,
		     a->cv ? (unsigned long long)ldp_cover_ended_dropped(a->cv) : 0ULL,
		     a->cv ? (unsigned long long)ldp_cover_unwritten(a->cv) : 0ULL, a->skel != NULL);
	if (n < 0 || (size_t)n >= len)
		return 0;
	if (a->coll) {
		struct ldp_collector_stats cs;

		ldp_collector_stats(a->coll, &cs);
		m = snprintf(buf + n, len - (size_t)n, " rings %llu rings_refused %llu rings_limited %llu "
			     "ring_bytes %llu ring_samples %llu", (unsigned long long)cs.rings,
			     (unsigned long long)cs.refused, (unsigned long long)cs.limited,
			     (unsigned long long)cs.ring_bytes, (unsigned long long)cs.weight);
		if (m < 0 || (size_t)m >= len - (size_t)n)
			return 0;
		n += m;
	}
	if ((size_t)n + 1 >= len)
		return 0;
	buf[n++] = '\n';
	buf[n] = 0;
	return (size_t)n + (a->cv ? ldp_cover_describe(a->cv, uid, buf + n, len - (size_t)n) : 0);
}

static void req_log(void *ctx, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	alog(level, "%s", line);
}

/* A process the shim samples hands its ring over (ldp_collector_take: the peer checked
 * again, the ring checked, the limits of [agent] rings_per_user and ring_memory*). Taking it
 * registers the process, as its register request would have: a deferred activation hands
 * its ring over without asking first, so as not to wait for an answer in its handler. With
 * [agent] rings off the ring is marked refused: its sampler stops. */
static int req_ring(void *ctx, int fd)
{
	struct agent *a = ctx;
	const char *why = NULL;
	pid_t pid = 0;
	int r;

	if (!a->coll)
		return ldp_collector_refuse(fd, LDP_RING_REFUSED_OFF) == -EAGAIN ? -EAGAIN : -EOPNOTSUPP;
	r = ldp_collector_take(a->coll, fd, &pid);
	if (r == 0 && req_register(a, pid, 0, &why) < 0)
		alog(1, "pid %d: a ring taken, but not registered: %s", (int)pid, why);
	return r;
}

/* A registering process is offered the ring collector while its user has room for one more
 * ring ([agent] rings_per_user, ring_memory*); past that it starts as without it. */
static const char *req_offer(void *ctx, uid_t uid)
{
	struct agent *a = ctx;

	if (!a->coll || !ldp_collector_room(a->coll, uid))
		return NULL;
	return a->offer;
}

static void coll_log(int level, const char *msg)
{
	alog(level, "%s", msg);
}

static const struct ldp_server_ops server_ops = {
	.reg = req_register,
	.sample = req_sample,
	.status = req_status,
	.known = req_known,
	.forget = req_forget,
	.ring = req_ring,
	.offer = req_offer,
	.log = req_log,
};

/* A process that handed its ring to this socket, to an agent before this one: its ring is
 * still mapped in it (a memfd, shared), so it is opened again through /proc/PID/map_files
 * (root's, CAP_SYS_ADMIN) and drained from where the last reader stopped. Rings handed to
 * another collector (`ldprof run`'s) are not ours to take. */
static int adopt_ring(struct agent *a, pid_t pid, const struct ldp_maps *maps, const struct ldp_state *st)
{
	const size_t hl = sizeof(LDP_STATE_RING_DETAIL) - 1;
	char path[96];
	int fd, r = -ENOENT;

	if (!a->coll)
		return -EOPNOTSUPP;
	if (strncmp(st->detail, LDP_STATE_RING_DETAIL, hl) ||
	    strncmp(st->detail + hl, a->cfg.agent_socket, sizeof(st->detail) - hl))
		return -EXDEV;
	for (size_t i = 0; i < maps->n; i++) {
		const struct ldp_map *m = &maps->maps[i];

		if (strcmp(m->path, "/memfd:" LDP_RING_MEMFD_NAME " (deleted)") || strcmp(m->perms, "rw-s"))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)m->start, (unsigned long long)m->end);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		r = ldp_collector_adopt(a->coll, pid, fd);
		close(fd);
		break;
	}
	return r;
}

/* Processes whose shim spoke to no agent, or to an agent that has gone since (started before
 * this one, or before it restarted: the maps died with the old agent), are known again by the
 * state their shim publishes (shim/state.h, read as `ldprof status` reads it): one that samples
 * is registered, one the agent sampled on request is sampled again. So a static program that a
 * long-running shell, service manager or build starts later is still covered. */
static void adopt_running(struct agent *a)
{
	unsigned reg = 0, asked = 0, rings = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d) {
		alog(2, "cannot list /proc (%s): processes started before the agent are not covered",
		     strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		const struct ldp_map *first;
		struct ldp_maps maps;
		struct ldp_state st;
		const char *why = NULL;
		char note[160];
		char *end;
		long v = strtol(de->d_name, &end, 10);
		pid_t pid = (pid_t)v;

		if (*end || v <= 0 || pid == getpid() || ldp_maps_read(pid, &maps) < 0)
			continue;
		first = ldp_shimstate_find(&maps);
		if (first && ldp_shimstate_read(pid, &maps, first, &st, note, sizeof(note)) == 0) {
			uid_t ruid, euid;

			/* waiting (start_after_cpu): the shim registered as the process started;
			 * the host's init: for the static services it starts */
			if (st.decision == LDP_ST_SAMPLING || st.decision == LDP_ST_RING ||
			    st.decision == LDP_ST_WAITING ||
			    st.decision == LDP_ST_STARTING || st.decision == LDP_ST_HOST_INIT) {
				reg += mark(a, pid, LDP_AGENT_REG_SHIM) == 0;
				if (st.decision == LDP_ST_RING)
					rings += adopt_ring(a, pid, &maps, &st) == 0;
			} else if (st.agent == LDP_AG_SAMPLING && ldp_proc_uids(pid, &ruid, &euid) == 0) {
				asked += req_sample(a, pid, euid,
						    st.decision == LDP_ST_GO ? "go" : "sigprof", &why) == 0;
			}
		}
		ldp_maps_free(&maps);
	}
	closedir(d);
	alog(1, "processes running before the agent: %u registered, %u sampled again on their "
	     "earlier request, %u rings taken back", reg, asked, rings);
}

/* ---- the loop ---- */

/* Polls the ring buffer and the socket until a signal (or, for --pid, the target's end or the
 * duration). */
static void loop(struct agent *a, int one_shot, double duration)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int64_t deadline = duration > 0 ? mono_ns() + (int64_t)(duration * 1e9) : 0;
	int64_t next_tick = mono_ns() + TICK_NS;
	int efd = epoll_create1(EPOLL_CLOEXEC);

	if (efd >= 0) {
		ev.data.u32 = 0;
		if (a->rb)
			epoll_ctl(efd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(a->rb), &ev);
		if (a->srv) {
			ev.data.u32 = 1;
			epoll_ctl(efd, EPOLL_CTL_ADD, ldp_server_fd(a->srv), &ev);
		}
	}
	while (!stop) {
		struct epoll_event evs[4];
		int64_t now = mono_ns();
		int wait_ms = next_tick > now ? (int)((next_tick - now + 999999) / 1000000) : 0;

		/* the rings are drained as often as the collector asks, as `ldprof run` drains them */
		if (a->coll) {
			int drain_ms = ldp_collector_wait_ms(a->coll);

			if (drain_ms < wait_ms)
				wait_ms = drain_ms;
		}

		if (efd >= 0)
			epoll_wait(efd, evs, 4, wait_ms);
		else
			poll(NULL, 0, wait_ms);
		if (a->rb)
			ring_buffer__consume(a->rb);
		if (a->srv)
			ldp_server_handle(a->srv);
		if (a->coll && !ldp_collector_wait_ms(a->coll))
			ldp_collector_tick(a->coll);
		now = mono_ns();
		if (now >= next_tick) {
			if (a->cv)
				ldp_cover_tick(a->cv);
			next_tick = now + TICK_NS;
			if (one_shot && !ldp_cover_count(a->cv, (uid_t)-1))
				break; /* the process has exited: its profile is written */
		}
		if (deadline && now >= deadline)
			break;
	}
	if (efd >= 0)
		close(efd);
}

/* What both modes run on, once a->cfg is set: delivery, the BPF side, the profiles.
 * rings_only: without the BPF side (no CAP_BPF or CAP_PERFMON: an unprivileged container),
 * go on collecting rings only. */
static int start_sampling(struct agent *a, int rings_only)
{
	struct ldp_symcache_limits lim;
	int r;

	r = deliver_start(a);
	if (r < 0) {
		fprintf(stderr, "ldprof-agent: delivery: %s\n", strerror(-r));
		return r;
	}
	r = bpf_start(a, a->cfg.hz);
	if (r < 0 && !rings_only)
		return r;
	if (r < 0) {
		bpf_free(a);
		fprintf(stderr, "ldprof-agent: no eBPF: collecting rings only (static and Go programs "
			"and the requests to sample are not served)\n");
	}
	/* Symbol tables are read on a thread of their own, under budgets per user: nothing a user
	 * maps may hold up the socket or the ring buffer (common/symcache.h). */
	lim = ldp_symcache_defaults;
	lim.max_bytes = a->cfg.agent_symbol_memory;
	lim.uid_bytes = a->cfg.agent_symbol_memory_per_user;
	r = ldp_symcache_new(&lim, &a->sc);
	if (r < 0) {
		fprintf(stderr, "ldprof-agent: symbol reader: %s\n", strerror(-r));
		return r;
	}
	if (!a->skel)
		return 0;
	a->cv = ldp_cover_new(a->no_output ? NULL : a->d, a->sc, bpf_map__fd(a->skel->maps.targets),
			      1000000000LL / a->cfg.hz, a->cfg.flush_ns,
			      (unsigned)a->cfg.agent_profiles_per_user);
	return a->cv ? 0 : -ENOMEM;
}

/* --pid: the process is asked for, as a shim would; its profile goes to DIR. */
static int one_shot(struct agent *a, const struct opts *o)
{
	__u32 key = (__u32)o->pid;
	__u8 v = LDP_AGENT_TGT_ASKED;
	int r;

	ldp_config_defaults(&a->cfg);
	a->cfg.hz = o->hz ? o->hz : 99;
	a->cfg.flush_ns = 24 * 3600 * 1000000000LL; /* one profile, at the end */
	if ((size_t)snprintf(a->cfg.endpoint, sizeof(a->cfg.endpoint), "file://%s", o->dir) >=
	    sizeof(a->cfg.endpoint))
		return -ENAMETOOLONG;
	if (mkdir(o->dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "ldprof-agent: cannot create '%s': %s\n", o->dir, strerror(errno));
		return -errno;
	}
	r = start_sampling(a, 0);
	if (r < 0)
		return r;
	r = ldp_cover_start(a->cv, o->pid, LDP_AGENT_TGT_ASKED);
	if (r < 0) {
		if (r == -ESRCH)
			fprintf(stderr, "ldprof-agent: no process with pid %d\n", (int)o->pid);
		else
			fprintf(stderr, "ldprof-agent: cannot read /proc/%d: %s\n", (int)o->pid,
				r == -EACCES || r == -EPERM ? "missing CAP_SYS_PTRACE" : strerror(-r));
		return r;
	}
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.targets), &key, &v, BPF_ANY) < 0) {
		fprintf(stderr, "ldprof-agent: updating the targets map: %s\n", strerror(errno));
		return -errno;
	}
	fprintf(stderr, "ldprof-agent: sampling pid %d at %d Hz\n", (int)o->pid, a->cfg.hz);
	loop(a, 1, o->duration);
	return 0;
}

static int host_agent(struct agent *a, const struct opts *o)
{
	int r;

	r = read_config(a, o);
	if (r < 0)
		return r;
	ldp_agent_rules_init(&a->rules, &a->cfg);
	r = start_sampling(a, a->cfg.agent_rings && a->cfg.agent_socket[0]);
	if (r < 0)
		return r;
	if (a->cfg.agent_rings && a->cfg.agent_socket[0]) {
		struct ldp_collector_limits lim = {
			.rings_per_uid = (unsigned)a->cfg.agent_rings_per_user,
			.bytes_per_uid = a->cfg.agent_ring_memory_per_user,
			.bytes = a->cfg.agent_ring_memory,
		};

		r = ldp_collector_new(NULL, a->no_output ? NULL : a->d, a->sc, 1000000000LL / a->cfg.hz,
				      a->cfg.flush_ns, coll_log, &a->coll);
		if (r < 0) {
			fprintf(stderr, "ldprof-agent: the ring collector: %s\n", strerror(-r));
			return r;
		}
		ldp_collector_limit(a->coll, &lim);
		snprintf(a->offer, sizeof(a->offer), " rings hz=%d", a->cfg.hz);
	}
	if (a->cfg.agent_socket[0]) {
		r = ldp_server_open(a->cfg.agent_socket, &server_ops, a, &a->srv);
		if (r < 0) {
			fprintf(stderr, "ldprof-agent: cannot listen on %s: %s\n", a->cfg.agent_socket,
				r == -EADDRINUSE ? "another agent is listening there" :
				r == -EPERM ? "its folder must be a folder of root's that nobody else can write" :
				strerror(-r));
			return r;
		}
	}
	adopt_running(a);
	fprintf(stderr, "ldprof-agent: ready: %d Hz, cover %s, socket %s, output %s%s\n", a->cfg.hz,
		a->cfg.agent_cover == LDP_AGENT_COVER_STATIC ? "static" : "registered",
		a->cfg.agent_socket[0] ? a->cfg.agent_socket : "(none)", a->cfg.endpoint,
		a->coll ? (a->skel ? ", collecting rings" : ", collecting rings only (no eBPF)") : "");
	loop(a, 0, 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct agent a = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	int stats_fd = -1, r;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	libbpf_set_print(libbpf_log);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	r = host_pid_namespace();
	if (r < 0) {
		fprintf(stderr, "ldprof-agent: %s: run it in the host's PID namespace (docker run "
			"--pid=host, hostPID: true)\n", r == -EXDEV ? "not in the host's PID namespace"
			: "cannot read /proc/self/ns/pid");
		return 1;
	}
	/* Each file queued for its symbol table holds a descriptor (symcache.h: max_queued). */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (o.bpf_stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			fprintf(stderr, "ldprof-agent: --bpf-stats: %s\n", strerror(-stats_fd));
	}
	r = o.pid ? one_shot(&a, &o) : host_agent(&a, &o);

	/* Stop sampling, take what is left in the ring buffer, ship every profile. */
	if (a.skel) {
		bpf_stop_sampling(&a);
		if (stats_fd >= 0)
			bpf_report(&a);
		if (a.rb)
			ring_buffer__consume(a.rb);
	}
	ldp_server_close(a.srv);
	if (a.coll) {
		struct ldp_collector_stats cs;
		char msg[400];

		ldp_collector_finish(a.coll); /* the last drain, the last profiles submitted */
		ldp_collector_stats(a.coll, &cs);
		alog(1, "%s", ldp_collector_summary(&cs, msg, sizeof(msg)));
		ldp_collector_free(a.coll);
	}
	ldp_cover_free(a.cv);
	ldp_symcache_free(a.sc);
	deliver_stop(&a, r == 0);
	bpf_free(&a);
	if (stats_fd >= 0)
		close(stats_fd);
	return r < 0 ? 1 : 0;
}
