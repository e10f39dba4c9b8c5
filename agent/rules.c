/* SPDX-License-Identifier: MIT
 *
 * rules.c — [select] for the agent's own targets (see rules.h).
 *
 * The facts, as the first stage gathers them for itself: exe is /proc/PID/exe; comm is the
 * kernel's name (/proc/PID/comm, which is AT_EXECFN's base name right after exec) and argv0 the
 * base name of the first string of /proc/PID/cmdline; the user is the real uid and its name in
 * /etc/passwd; cgroup is the text of /proc/PID/cgroup. Only what a rule needs is read.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "procmaps.h"
#include "rules.h"

static void set(struct ldp_sel_str *s, const char *v)
{
	s->p = v[0] ? v : NULL;
	s->n = strlen(v);
}

void ldp_agent_rules_init(struct ldp_agent_rules *ar, const struct ldp_config *c)
{
	memset(ar, 0, sizeof(*ar));
	set(&ar->r.include[LDP_SEL_EXE], c->include_exe);
	set(&ar->r.exclude[LDP_SEL_EXE], c->exclude_exe);
	set(&ar->r.include[LDP_SEL_COMM], c->include_comm);
	set(&ar->r.exclude[LDP_SEL_COMM], c->exclude_comm);
	set(&ar->r.include[LDP_SEL_USER], c->include_user);
	set(&ar->r.exclude[LDP_SEL_USER], c->exclude_user);
	set(&ar->r.include[LDP_SEL_CGROUP], c->include_cgroup);
	set(&ar->r.exclude[LDP_SEL_CGROUP], c->exclude_cgroup);
	ar->need = ldp_select_needs(&ar->r);
}

/* /proc/PID/NAME into buf, NUL-terminated, at most len - 1 bytes. Returns the length or -errno. */
static ssize_t proc_text(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64], *t = NULL;
	size_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	r = ldp_read_file(path, 0, len - 1, &t, &n);
	if (r < 0)
		return r;
	memcpy(buf, t, n);
	buf[n] = 0;
	free(t);
	return (ssize_t)n;
}

int ldp_agent_rules_excluded(const struct ldp_agent_rules *ar, pid_t pid, char *why, size_t len)
{
	static char cgroup[64 * 1024];
	struct ldp_select_facts f = { "", "", "", 0, NULL, NULL };
	char exe[PATH_MAX], comm[32], argv0[PATH_MAX], user[64], path[64], *s;
	char *pw = NULL;
	size_t pwlen;
	ssize_t n;

	if (!ar->need)
		return 0;
	if (ar->need & (1u << LDP_SEL_EXE)) {
		/* through a live thread: /proc/PID/exe is gone once the main thread is */
		ldp_proc_path(pid, "exe", path, sizeof(path));
		n = readlink(path, exe, sizeof(exe) - 1);
		if (n <= 0)
			goto unknown;
		exe[n] = 0;
		f.exe = exe;
	}
	if (ar->need & (1u << LDP_SEL_COMM)) {
		char *cmd = NULL;
		size_t cmdlen;

		if (proc_text(pid, "comm", comm, sizeof(comm)) <= 0)
			goto unknown;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if (ldp_read_file(path, 0, 4 << 20, &cmd, &cmdlen) < 0)
			goto unknown;
		snprintf(argv0, sizeof(argv0), "%s", cmd); /* the first string: NUL-separated */
		free(cmd);
		comm[strcspn(comm, "\n")] = 0;
		s = strrchr(argv0, '/');
		f.comm = comm;
		f.argv0 = s ? s + 1 : argv0;
	}
	if (ar->need & (1u << LDP_SEL_USER)) {
		uid_t uid, euid;

		if (ldp_proc_uids(pid, &uid, &euid) < 0)
			goto unknown;
		f.uid = (unsigned)uid;
		if ((ar->need & LDP_SEL_NEED_USERNAME) &&
		    ldp_read_file("/etc/passwd", 0, 1 << 20, &pw, &pwlen) == 0) {
			if (ldp_select_passwd_name(pw, pwlen, f.uid, user, sizeof(user)) == 0)
				f.user = user;
			free(pw);
		}
	}
	if (ar->need & (1u << LDP_SEL_CGROUP)) {
		if (proc_text(pid, "cgroup", cgroup, sizeof(cgroup)) < 0)
			goto unknown;
		f.cgroup = cgroup;
	}
	return ldp_select_decide(&ar->r, &f, why, len);
unknown:
	/* Gone already, or unreadable: a profile that might be excluded is not shipped. */
	snprintf(why, len, "its [select] facts could not be read");
	return 1;
}
