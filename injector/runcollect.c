/* SPDX-License-Identifier: MIT
 *
 * runcollect.c — `ldprof run`'s collector (see runcollect.h).
 *
 * The socket lives in a folder of its own, mode 0700, under $XDG_RUNTIME_DIR or /tmp; only
 * the tree's user (and root) can connect. The loop polls the socket and the child's pidfd,
 * and ticks the collector as often as it asks; a network endpoint is served by
 * deliver.c's sender thread, so a slow endpoint never delays the drains. Log lines go where
 * the tree's go ([log] file, LDPROF_LOG_FILE), never to our stdio, which is the program's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "deliver.h"
#include "fileio.h"
#include "runcollect.h"
#include "symcache.h"

extern char **environ;

struct ldp_runcollect {
	struct ldp_config cfg;
	struct ldp_deliver *d;
	struct ldp_symcache *sc;
	struct ldp_collector *c;
	char dir[128], sock[160];
};

static struct ldp_config *log_cfg;

/* level: 0 debug .. 3 error (deliver.h); the config's level: 0 error .. 3 debug. The shim's
 * line, appended as the shim appends (a FIFO at the path holds nobody). */
static void run_log(int level, const char *msg)
{
	const char *names[] = { "debug", "info", "warn", "error" };

	if (!log_cfg || !log_cfg->log_file[0] || !strcmp(log_cfg->log_file, "syslog") ||
	    level < 0 || level > 3 || 3 - level > log_cfg->log_level)
		return;
	ldp_log_line(log_cfg->log_file, names[level], msg);
}

static void no_problem(void *ctx, const struct ldp_config_problem *p)
{
	(void)ctx;
	(void)p; /* `ldprof run` has said already (run_config_ok) */
}

/* As root, a program of the tree may switch user before an exec (setpriv, a service
 * dropping its privileges): its ring comes from that user. The folder becomes 0711 (entered,
 * not listed) and the socket 0666, and the collector takes other users' rings from this
 * process's descendants only (ldp_collector_tree). The chmod() by path is safe here: the
 * folder is still 0700 and ours alone, nobody can put anything else at that name. */
static int open_to_the_tree(struct ldp_runcollect *rc)
{
	int dfd, r = 0;

	/* the rule before the door: no connection of another user is taken without it */
	ldp_collector_tree(rc->c, getpid());
	if (chmod(rc->sock, 0666) < 0)
		return -errno;
	dfd = open(rc->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fchmod(dfd, 0711) < 0)
		r = -errno;
	close(dfd);
	return r;
}

int ldp_runcollect_new(const struct ldp_config *cfg, struct ldp_runcollect **ret, char *err,
		       size_t errlen)
{
	struct ldp_runcollect *rc = calloc(1, sizeof(*rc));
	const char *base = getenv("XDG_RUNTIME_DIR");
	char hz[16];
	int r;

	if (!rc)
		return -ENOMEM;
	/* a parse of the file and the environment, again, when the caller has made one */
	if (cfg)
		rc->cfg = *cfg;
	else
		ldp_config_load(&rc->cfg, environ, no_problem, NULL);
	log_cfg = &rc->cfg;
	if (!base || base[0] != '/' || strlen(base) > 64 || access(base, W_OK) != 0)
		base = "/tmp";
	snprintf(rc->dir, sizeof(rc->dir), "%s/ldprof-run.XXXXXX", base);
	if (!mkdtemp(rc->dir)) {
		r = -errno;
		snprintf(err, errlen, "cannot make a folder for the collector's socket in %s: %s", base,
			 strerror(errno));
		rc->dir[0] = 0;
		goto fail;
	}
	snprintf(rc->sock, sizeof(rc->sock), "%s/collector.sock", rc->dir);
	/* the files are this user's, as the agent's are root's: in a shared base as packaged
	 * (root's, 1733), a folder of this user's own */
	r = ldp_deliver_own_dirs(&rc->cfg, (unsigned)geteuid(), run_log, err, errlen);
	if (r < 0)
		goto fail;
	rc->d = ldp_deliver_new(&rc->cfg, run_log);
	if (!rc->d) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = ldp_symcache_new(&ldp_symcache_defaults, &rc->sc);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the symbol tables' thread: %s", strerror(-r));
		goto fail;
	}
	r = ldp_collector_new(rc->sock, rc->d, rc->sc, 1000000000LL / rc->cfg.hz, rc->cfg.flush_ns, run_log,
			      &rc->c);
	if (r < 0) {
		snprintf(err, errlen, "cannot listen at %s: %s", rc->sock, strerror(-r));
		goto fail;
	}
	if (geteuid() == 0) {
		r = open_to_the_tree(rc);
		if (r < 0) {
			snprintf(err, errlen, "cannot open %s to the tree's other users: %s", rc->sock,
				 strerror(-r));
			goto fail;
		}
	}
	r = ldp_deliver_sender_start(rc->d);
	if (r < 0) {
		snprintf(err, errlen, "cannot start the sender thread: %s", strerror(-r));
		goto fail;
	}
	snprintf(hz, sizeof(hz), "%d", rc->cfg.hz);
	if (setenv("LDPROF_COLLECTOR", rc->sock, 1) || setenv("LDPROF_SAMPLING_HZ", hz, 1)) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	*ret = rc;
	return 0;
fail:
	ldp_runcollect_free(rc);
	return r;
}

int ldp_runcollect_wait(struct ldp_runcollect *rc, pid_t child, int *status)
{
	int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	pid_t w;

	for (;;) {
		struct pollfd p[2] = { { ldp_collector_fd(rc->c), POLLIN, 0 }, { pidfd, POLLIN, 0 } };

		if (!ldp_collector_wait_ms(rc->c))
			ldp_collector_tick(rc->c);
		/* without a pidfd (an old kernel), the wait below is tried every tick */
		poll(p, pidfd >= 0 ? 2 : 1, ldp_collector_wait_ms(rc->c));
		if (p[0].revents & POLLIN)
			ldp_collector_accept(rc->c);
		if (pidfd >= 0 && !(p[1].revents & POLLIN))
			continue;
		w = waitpid(child, status, pidfd >= 0 ? 0 : WNOHANG);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR) {
			if (pidfd >= 0)
				close(pidfd);
			return -errno;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

void ldp_runcollect_free(struct ldp_runcollect *rc)
{
	struct ldp_collector_stats st = { 0 };
	struct ldp_deliver_stats ds;
	char msg[320];

	if (!rc)
		return;
	if (rc->c) {
		ldp_collector_finish(rc->c); /* the last drain, the last profiles submitted */
		ldp_collector_stats(rc->c, &st);
		ldp_collector_free(rc->c);
		run_log(1, ldp_collector_summary(&st, msg, sizeof(msg)));
	}
	ldp_symcache_free(rc->sc);
	if (rc->d) {
		/* finish first: a send of the sender's in flight gets the exit budget (stopped
		 * first, it was aborted and a profile the server had taken was sent again) */
		ldp_deliver_finish(rc->d, rc->cfg.exit_timeout_ns);
		ldp_deliver_sender_stop(rc->d);
		/* the tree's totals */
		snprintf(msg, sizeof(msg), "exit: %llu profiles, %llu samples, %llu dropped",
			 (unsigned long long)st.profiles, (unsigned long long)st.weight,
			 (unsigned long long)st.dropped);
		run_log(1, msg);
		ldp_deliver_stats(rc->d, &ds);
		run_log(1, ldp_deliver_summary(&ds, msg, sizeof(msg)));
		ldp_deliver_free(rc->d);
	}
	if (rc->dir[0])
		rmdir(rc->dir);
	log_cfg = NULL;
	free(rc);
}
