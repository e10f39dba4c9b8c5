/* SPDX-License-Identifier: MIT
 *
 * main.c — the `ldprof` command: `run` a program under the shim, `report` or `diff` profiles, `flush`
 * the spool, `config check`, `install`/`uninstall`.
 *
 * `run` stays in between as a thin parent: it prepares the environment (LD_PRELOAD, config
 * file or output folder, rate), starts CMD, forwards the signals somebody sends to it, and exits with CMD's
 * status (128+N when CMD died of signal N, as shells report it). It reports a folder it cannot
 * write before CMD starts, and a command that cannot be run with 127 (not found) or 126, as
 * shells do. It never reads or writes CMD's stdin, stdout or stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "configcmd.h"
#include "deliver.h"
#include "fileio.h"
#include "install.h"
#include "spool.h"
#include "status.h"
#include "report.h"
#include "runcollect.h"
#include "runconf.h"

#define LDPROF_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ldprof run [--config FILE] [--hz N] [-o DIR] [--flush-interval DURATION]\n"
		"                  [--start-after-cpu DURATION] -- CMD [ARGS...]\n"
		"       ldprof report [--top N] [--folded | --svg FILE] [PROFILE_OR_DIR...]\n"
		"       ldprof diff [--top N] [--svg FILE] BASE NEW\n"
		"       ldprof config check [--show] [FILE]\n"
		"       ldprof flush [--config FILE]\n"
		"       ldprof install|uninstall [--root DIR] [--dry-run] [--lib PATH]\n"
		"       ldprof status [--root DIR] [PID...]\n"
		"       ldprof --version\n"
		"\n"
		"run     start CMD with the profiler preloaded; profiles go to DIR (./ldprof-profiles),\n"
		"        or to the endpoint of the config file given with --config; CMD and what it\n"
		"        starts are profiled from their start, or once they have used DURATION of CPU\n"
		"report  print the top functions of profiles, their stacks in folded format, or a\n"
		"        flame graph (SVG)\n"
		"diff    which functions take more or less of all samples in NEW than in BASE\n"
		"config  check a config file (file:line for each problem), --show the effective values\n"
		"flush   send the profiles waiting in the spool to the configured endpoint\n"
		"install add the shim to DIR/etc/ld.so.preload (DIR: /), after checking it loads\n"
		"uninstall  take it out again\n"
		"status  is it installed; what it decided in each process that carries it, and why\n"
		"\n"
		"`ldprof COMMAND --help` says more about each. example: ldprof run -- make -j8\n");
}

static void run_usage(FILE *f)
{
	fprintf(f,
		"usage: ldprof run [--config FILE] [--hz N] [-o DIR] [--flush-interval DURATION]\n"
		"                  [--start-after-cpu DURATION] [--] CMD [ARGS...]\n"
		"  Runs CMD with the profiler preloaded; CMD's input, output, signals and exit status\n"
		"  pass through. Every process it starts is profiled too, glibc and musl alike: each\n"
		"  carries only a small sampler, and this process collects, symbolizes and writes.\n"
		"  -o DIR      write profiles (and ldprof.log) to DIR (default ./ldprof-profiles, unless\n"
		"              --config names an endpoint)\n"
		"  --config FILE  the configuration to use (as root: root's own file only)\n"
		"  --hz N      samples per second of CPU time, 1 to 1000 (default 99)\n"
		"  --flush-interval DURATION  a profile file per process this often (default 10s)\n"
		"  --start-after-cpu DURATION  profile a process only once it has used this much CPU\n"
		"              (default 0: from its start); until then it carries only a signal\n"
		"              handler and a timer per thread\n"
		"  example: ldprof run -o prof -- ./server --port 8080; ldprof report prof\n");
}

static int parse_hz(const char *s, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 1000)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* mkdir -p, then check we can create files there. */
static int prepare_dir(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (access(path, W_OK | X_OK) < 0)
		return -errno;
	return 0;
}

/* The shim next to this binary (build tree: bin/../lib; installed: PREFIX/lib/ldprof). */
static int find_shim(char *buf, size_t len)
{
	if (ldp_shim_near_exe(buf, len) == 0)
		return 0;
	snprintf(buf, len, "/usr/lib/ldprof/libldprof.so");
	return access(buf, R_OK) == 0 ? 0 : -ENOENT;
}

extern char **environ;

static struct ldp_config run_cfg;   /* the configuration CMD would see */
static char run_first_error[256];   /* its first error, "WHERE: WHAT" */

/* The environment's warnings (a variable ignored as root, a misspelt name) are said before
 * CMD starts; errors are counted and said in one line, the first one in the log. */
static void count_problem(void *ctx, const struct ldp_config_problem *p)
{
	(void)ctx;
	if (p->severity == LDP_CONFIG_WARNING && !strncmp(p->where, "LDPROF_", 7))
		fprintf(stderr, "ldprof run: %s: warning: %s%s%s%s\n", p->where, p->what,
			p->hint ? " (hint: " : "", p->hint ? p->hint : "", p->hint ? ")" : "");
	if (p->severity == LDP_CONFIG_ERROR && !run_first_error[0])
		snprintf(run_first_error, sizeof(run_first_error), "%s: %s", p->where, p->what);
}

/* Errors in the configuration CMD will see (file and environment), 0 if none. */
static int run_config_ok(void)
{
	int r = ldp_config_load(&run_cfg, environ, count_problem, NULL);

	return r < 0 ? 1 : r;
}

/* CMD runs without profiling (why): said in the log the configuration names, where the shim
 * would have said it, since CMD gets no shim to say it. */
static void run_off_logged(const char *why)
{
	char msg[512];

	if (!run_cfg.log_file[0] || !strcmp(run_cfg.log_file, "syslog"))
		return;
	snprintf(msg, sizeof(msg), "staying off, ldprof run does not profile: %s", why);
	ldp_log_line(run_cfg.log_file, "warn", msg);
}

static void flush_log(int level, const char *msg)
{
	if (level >= 1)
		fprintf(stderr, "ldprof flush: %s\n", msg);
}

static void flush_problem(void *ctx, const struct ldp_config_problem *p)
{
	(void)ctx;
	fprintf(stderr, "%s: %s: %s%s%s%s\n", p->where, p->severity == LDP_CONFIG_ERROR ? "error" : "warning",
		p->what, p->hint ? " (hint: " : "", p->hint ? p->hint : "", p->hint ? ")" : "");
}

/* `ldprof flush [--config FILE]`: deliver what waits in the spool, now. Exit 0 when the spool
 * is empty afterwards, 1 when profiles are left (endpoint failing) or on errors. */
/* Drains one spool folder. Returns 0, or 1 on errors; adds what is left to *left. */
/* Drains one spool folder. owner: (unsigned)-1 for the caller's own folder, else the uid whose
 * folder root drains: its profiles are sent without root's credentials and with labels of
 * origin that come from the folder's owner (deliver.h: ldp_deliver_set_spool_owner). */
static int flush_dir(struct ldp_config *c, const char *dir, unsigned owner, unsigned *left)
{
	struct ldp_deliver *d;
	struct ldp_deliver_stats st;
	unsigned files = 0;
	uint64_t bytes = 0;
	int n;

	snprintf(c->spool_dir, sizeof(c->spool_dir), "%s", dir);
	if (owner != (unsigned)-1 && c->token_file[0]) {
		/* root's token is root's: a user's spool file sent with it would speak for root
		 * (and a receiver's 401 would drop it): left for that user's own flush */
		ldp_spool_count(dir, &files, &bytes);
		printf("not sending the %u profile%s of uid %u in %s: [output] token_file is root's; "
		       "that user's own `ldprof flush` (with a token it may read) sends them\n", files,
		       files == 1 ? "" : "s", owner, dir);
		*left += files;
		return 0;
	}
	d = ldp_deliver_new(c, flush_log);
	if (!d) {
		fprintf(stderr, "ldprof flush: out of memory\n");
		return 1;
	}
	if (owner != (unsigned)-1)
		ldp_deliver_set_spool_owner(d, owner);
	n = ldp_deliver_drain_spool(d, 600 * 1000000000LL);
	ldp_deliver_stats(d, &st);
	ldp_deliver_free(d);
	ldp_spool_count(dir, &files, &bytes);
	printf("sent %d spooled profile%s to %s; %u left in %s (%llu bytes)%s\n", n < 0 ? 0 : n,
	       n == 1 ? "" : "s", c->endpoint, files, dir, (unsigned long long)bytes,
	       st.rejected ? "; some were refused by the endpoint and dropped" : "");
	*left += files;
	return n < 0;
}

static int cmd_flush(int argc, char **argv)
{
	static struct ldp_config c;
	char base[sizeof(c.spool_dir)], dir[sizeof(c.spool_dir) - 16], note[384];
	unsigned left = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: ldprof flush [--config FILE]\n"
			       "  Sends the profiles waiting in the spool ([spool] dir of the configuration:\n"
			       "  FILE, $LDPROF_CONFIG or /etc/ldprof/ldprof.ini) to its endpoint, now. As\n"
			       "  root, every user's spool folder too (without root's token). Exit status 0\n"
			       "  when the spool is empty afterwards, 1 when profiles are left.\n"
			       "  example: ldprof flush --config /etc/ldprof/ldprof.ini\n");
			return 0;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			setenv("LDPROF_CONFIG", argv[++i], 1);
		} else {
			fprintf(stderr, "usage: ldprof flush [--config FILE] (see ldprof flush --help)\n");
			return 2;
		}
	}
	r = ldp_config_load(&c, environ, flush_problem, NULL);
	if (r != 0) {
		fprintf(stderr, "ldprof flush: the configuration has errors, nothing sent\n");
		return 1;
	}
	if (!strncmp(c.endpoint, "file://", 7)) {
		printf("endpoint is %s: profiles are written directly, nothing is spooled\n", c.endpoint);
		return 0;
	}
	/* The caller's own spool folder (as the shim finds it); root drains every user's. A
	 * folder that is not safely what it should be is skipped with a line, never the rest. */
	snprintf(base, sizeof(base), "%s", c.spool_dir);
	r = ldp_private_dir(base, (unsigned)geteuid(), dir, sizeof(dir), note, sizeof(note));
	if (r < 0) {
		fprintf(stderr, "ldprof flush: no spool folder of uid %u in %s: %s\n", (unsigned)geteuid(),
			base, note[0] ? note : strerror(-r));
		if (geteuid() != 0)
			return 1;
	} else {
		if (note[0])
			fprintf(stderr, "ldprof flush: %s: %s\n", base, note);
		r = flush_dir(&c, dir, (unsigned)-1, &left);
	}
	r = r < 0;
	if (geteuid() == 0) {
		/* the base as the kernel has it: the users' folders are then opened with no link
		 * followed on the way (spool.c) */
		char *real = realpath(base, NULL);
		DIR *dd = real ? opendir(real) : NULL;
		struct dirent *de;

		while (dd && (de = readdir(dd))) {
			struct stat st;
			int fd;

			if (strspn(de->d_name, "0123456789") != strlen(de->d_name) || !strcmp(de->d_name, "0") ||
			    (size_t)snprintf(dir, sizeof(dir), "%s/%s", real, de->d_name) >= sizeof(dir))
				continue;
			/* who owns it, from the folder itself (no link followed), not from its name;
			 * the spool opens it the same way at each step */
			fd = ldp_dir_open(dir, O_PATH);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) < 0 || st.st_uid == 0 ||
			    strtoul(de->d_name, NULL, 10) != (unsigned long)st.st_uid) {
				close(fd);
				continue;
			}
			close(fd);
			r |= flush_dir(&c, dir, (unsigned)st.st_uid, &left);
		}
		if (dd)
			closedir(dd);
		free(real);
	}
	return r || left ? 1 : 0;
}

static volatile pid_t child_pid;

static void forward(int sig, siginfo_t *si, void *ctx)
{
	/* A signal the terminal sent to the whole foreground group reached the child already;
	 * forward only what was sent to us alone. */
	if (si->si_code == SI_KERNEL || (si->si_code == SI_USER && si->si_pid == child_pid))
		return;
	if (child_pid > 0)
		kill(child_pid, sig);
}

static int cmd_run(int argc, char **argv)
{
	const char *dir = NULL, *flush = NULL, *config = NULL, *start_after = NULL;
	char absdir[PATH_MAX], shim[PATH_MAX], preload[2 * PATH_MAX], endpoint[PATH_MAX + 8];
	char hzbuf[16], logpath[PATH_MAX + 16], abscfg[PATH_MAX], runconf[PATH_MAX] = "";
	static const int fwd[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH };
	struct sigaction sa;
	long hz = 0;
	int i, r, status, root = geteuid() == 0, ring = 1, untrusted;
	struct ldp_runcollect *rc = NULL;
	char rcerr[256];
	pid_t pid;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if ((!strcmp(a, "--hz") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
		     !strcmp(a, "--flush-interval") || !strcmp(a, "--config") ||
		     !strcmp(a, "--start-after-cpu")) && i + 1 >= argc) {
			fprintf(stderr, "ldprof run: %s needs a value (see ldprof run --help)\n", a);
			return 2;
		}
		if (!strcmp(a, "--hz")) {
			if (parse_hz(argv[++i], &hz) < 0) {
				fprintf(stderr, "ldprof run: --hz \"%s\": need a whole number from 1 to 1000\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			dir = argv[++i];
		} else if (!strcmp(a, "--flush-interval")) {
			flush = argv[++i];
		} else if (!strcmp(a, "--start-after-cpu")) {
			start_after = argv[++i];
		} else if (!strcmp(a, "--config")) {
			config = argv[++i];
		} else if (!strcmp(a, "--ring")) {
			/* the default now; kept for the command lines that name it */
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			run_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "ldprof run: unknown option \"%s\" (see ldprof run --help)\n", a);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "ldprof run: no command given (ldprof run [--hz N] [-o DIR] -- CMD [ARGS...])\n");
		return 2;
	}
	/* Where profiles go: -o DIR; else the config file's endpoint when a config or an endpoint
	 * is named (--config, LDPROF_CONFIG, LDPROF_OUTPUT_ENDPOINT); else ./ldprof-profiles. */
	if (config) {
		if (!realpath(config, abscfg)) {
			fprintf(stderr, "ldprof run: config \"%s\": %s\n", config, strerror(errno));
			return 1;
		}
		if (setenv("LDPROF_CONFIG", abscfg, 1)) {
			fprintf(stderr, "ldprof run: %s\n", strerror(errno));
			return 1;
		}
	}
	/* A root CMD takes no endpoint from its environment (config.h): as root, only -o and the
	 * config file say where profiles go. */
	if (!dir && !getenv("LDPROF_CONFIG") && (root || !getenv("LDPROF_OUTPUT_ENDPOINT")))
		dir = "ldprof-profiles";
	if (dir) {
		r = prepare_dir(dir);
		if (r < 0) {
			fprintf(stderr, "ldprof run: cannot write profiles to \"%s\": %s\n", dir, strerror(-r));
			return 1;
		}
		if (!realpath(dir, absdir)) {
			fprintf(stderr, "ldprof run: \"%s\": %s\n", dir, strerror(errno));
			return 1;
		}
		snprintf(endpoint, sizeof(endpoint), "file://%s", absdir);
		snprintf(logpath, sizeof(logpath), "%s/ldprof.log", absdir);
		if (root) {
			/* through a config file of root's, which a root process trusts */
			r = ldp_runconf_write(endpoint, logpath, runconf, sizeof(runconf));
			if (r < 0) {
				fprintf(stderr, "ldprof run: cannot write the settings for %s: %s\n", argv[i],
					strerror(-r));
				return 1;
			}
			if (r == 0 && setenv("LDPROF_CONFIG", runconf, 1)) {
				fprintf(stderr, "ldprof run: %s\n", strerror(errno));
				ldp_runconf_remove(runconf);
				return 1;
			}
			if (r > 0)
				runconf[0] = 0; /* its errors keep CMD off: said below */
		} else if (setenv("LDPROF_OUTPUT_ENDPOINT", endpoint, 1) ||
			   setenv("LDPROF_LOG_FILE", logpath, 0)) {
			fprintf(stderr, "ldprof run: %s\n", strerror(errno));
			return 1;
		}
	}
	if (find_shim(shim, sizeof(shim)) < 0) {
		fprintf(stderr, "ldprof run: cannot find libldprof.so (looked next to this program and in /usr/lib/ldprof)\n");
		return 1;
	}
	/* Ours goes first; a preload the user already has stays. */
	if (getenv("LD_PRELOAD") && *getenv("LD_PRELOAD"))
		snprintf(preload, sizeof(preload), "%s:%s", shim, getenv("LD_PRELOAD"));
	else
		snprintf(preload, sizeof(preload), "%s", shim);
	snprintf(hzbuf, sizeof(hzbuf), "%ld", hz);
	/* A host-wide install waits for [select] start_after_cpu before it loads the profiler into
	 * a process (most are short); someone who runs CMD under ldprof wants all of it, unless
	 * the option or the environment says otherwise. */
	if ((hz && setenv("LDPROF_SAMPLING_HZ", hzbuf, 1)) ||
	    (flush && setenv("LDPROF_SAMPLING_FLUSH_INTERVAL", flush, 1)) ||
	    setenv("LDPROF_SELECT_START_AFTER_CPU", start_after ? start_after : "0", !!start_after)) {
		fprintf(stderr, "ldprof run: %s\n", strerror(errno));
		return 1;
	}
	/* A config with errors keeps the profiler off in CMD; say so here, where someone reads. */
	r = run_config_ok();
	untrusted = root && ldp_runconf_untrusted();
	if (r > 0) {
		fprintf(stderr, "ldprof run: the configuration has %d error%s: %s runs without profiling "
			"(`ldprof config check` lists them)\n", r, r > 1 ? "s" : "", argv[i]);
		/* never as root into a log a file others can write names */
		if (!untrusted)
			run_off_logged(run_first_error[0] ? run_first_error : "the configuration has errors");
	}
	if (untrusted)
		fprintf(stderr, "ldprof run: %s runs without profiling: it runs as root, and the config "
			"file or its folder can be written by someone else than root\n", argv[i]);
	/* Without profiling, as said: CMD runs without the shim, as it would without ldprof (a
	 * shim with no collector of ours could still hand its ring to a running agent). */
	if (r > 0 || untrusted)
		ring = 0;
	else if (setenv("LD_PRELOAD", preload, 1)) {
		fprintf(stderr, "ldprof run: %s\n", strerror(errno));
		return 1;
	}
	/* The tree carries only the ring sampler, and this process collects, with the settings
	 * just read from the environment the tree gets (LD_PRELOAD set since is none of them). */
	if (ring && ldp_runcollect_new(&run_cfg, &rc, rcerr, sizeof(rcerr)) < 0) {
		fprintf(stderr, "ldprof run: cannot collect: %s\n", rcerr);
		if (runconf[0])
			ldp_runconf_remove(runconf);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < sizeof(fwd) / sizeof(fwd[0]); k++)
		sigaction(fwd[k], &sa, NULL);

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ldprof run: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		/* The child gets the dispositions CMD would have had from our own parent. */
		sa.sa_handler = SIG_DFL;
		sa.sa_flags = 0;
		for (size_t k = 0; k < sizeof(fwd) / sizeof(fwd[0]); k++)
			sigaction(fwd[k], &sa, NULL);
		execvp(argv[i], argv + i);
		r = errno;
		fprintf(stderr, "ldprof run: %s: %s\n", argv[i],
			r == ENOENT ? "command not found" : strerror(r));
		_exit(r == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	if (rc) {
		r = ldp_runcollect_wait(rc, pid, &status);
		ldp_runcollect_free(rc);
		if (r < 0) {
			fprintf(stderr, "ldprof run: waitpid: %s\n", strerror(-r));
			return 1;
		}
	} else {
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				fprintf(stderr, "ldprof run: waitpid: %s\n", strerror(errno));
				return 1;
			}
	}
	/* A process CMD left running and execs later finds no settings, and stays off. */
	if (runconf[0])
		ldp_runconf_remove(runconf);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return ldp_report_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "diff"))
		return ldp_diff_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "config"))
		return ldp_cmd_config(argc - 1, argv + 1);
	if (!strcmp(argv[1], "flush"))
		return cmd_flush(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return ldp_status_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "install") || !strcmp(argv[1], "uninstall"))
		return ldp_install_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("ldprof %s\n", LDPROF_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ldprof: unknown command \"%s\" (see ldprof --help)\n", argv[1]);
	return 2;
}
