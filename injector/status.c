/* SPDX-License-Identifier: MIT
 *
 * status.c — `ldprof status [--root DIR] [PID...]`: is the shim installed host-wide and safe
 * there, and what did it decide in each running process that carries it.
 *
 * What it must never do: write anything, signal a process, or ptrace-attach to one. It only
 * reads ROOT/etc/ld.so.preload, stats the files named there, and reads /proc: maps, status,
 * comm, task/TID/comm, and the shim's `struct ldp_state` (shim/state.h) through /proc/PID/mem,
 * which needs root (or the process's owner where ptrace rules allow) but stops nothing.
 * --root DIR only changes where ld.so.preload and the config are read; processes always come
 * from /proc.
 *
 * The host: our line is the one install and uninstall recognise (ldp_preload_line_is_ours()).
 * The library it names must exist (a missing one makes the loader print an error into every
 * program started on the host), be a regular file owned by root (in a --root tree: by root or
 * by the user running status, as install allows), not writable by group or others, in folders
 * that only their owner can change (or sticky ones): whoever can change it runs code in every
 * program, root's included. Anything else is an emergency: said loudly on stderr, exit 1.
 *
 * A process: libldprof.so in /proc/PID/maps means it carries the shim. The mapping at file
 * offset 0 is where the library's first PT_LOAD was mapped; `ldp_state`'s st_value from the
 * file's .dynsym, relative to that segment's p_vaddr, gives the struct's address, read with
 * pread() on /proc/PID/mem. The file is opened through /proc/PID/map_files (the very file
 * mapped, even if replaced since), else through /proc/PID/root with its inode checked against
 * the mapping's. The magic is checked and every string cleaned of control bytes: the struct
 * lives in the process, which may write anything there. What the struct says is then checked
 * against what the kernel shows: "ring-sampling" and the ring sampler's "waiting" (for
 * [select] start_after_cpu) need SIGPROF caught (SigCgt) and no thread of ours; a decision to
 * stay off comes with no thread of ours. Processes started before an upgrade may still carry
 * an older version's in-process core: its "sampling" needs a thread named "ldprof" and SIGPROF
 * caught, its "waiting" the thread "ldprof-wait". A state that does not match is shown with a
 * '?' (e.g. "ring-sampling?"), never hidden.
 *
 * Output (stdout), stable for scripts; the first word of each line says what it is:
 *   preload  FILE: installed | not installed (WHY) | BROKEN
 *   ours     line N: PATH: ok (regular file, owner U, mode M) | MISSING (ERR) | UNSAFE (WHY)
 *   other    line N names libldprof.so but is not a line install manages: TEXT
 *            (a line with $LIB: PATH is the file the 64-bit loader finds, docs/install.md)
 *   stub     PATH: ok (...; $LIB = DIR: 32-bit programs, stays off) | UNSAFE (WHY)
 *   warning  TEXT
 *   config   PATH [(unsafe: WHY)] | none: defaults
 *       PID USER         COMM             STATE              DETAIL        (header)
 *   then one line per process, columns separated by blanks:
 *     PID    decimal
 *     USER   effective user's name (or uid)
 *     COMM   /proc/PID/comm, blanks shown as '_', other bytes outside printable ASCII as '?'
 *     STATE  a decision name of state.h (LDP_DECISION_NAMES), the same with '?' appended when
 *            the kernel disagrees, "32-bit-stub" for a 32-bit program (its loader found the
 *            stub of a $LIB line: off), "unknown" when the state cannot be read (DETAIL "(run as
 *            root)" when /proc refuses), and, for PIDs given on the command line only,
 *            "no-shim" or "no-process"
 *     DETAIL the rest of the line: "(...)" notes of ours first, then the shim's detail, then,
 *            when the shim asked ldprof-agent, "; agent: " and its answer (registered, sampling
 *            it, refused (REASON), none (WHY)); "-" if none
 *   N processes carry the shim: X sampling, [W waiting for start_after_cpu, ]Y off (NAME COUNT,
 *            ...), Z unknown (NAME COUNT, ...)
 *            [; M processes not inspected (run as root)]
 * Exit status: 0; 1 when our line names a missing or unsafe library; 2 for a usage error.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentq.h"
#include "config.h"
#include "elfsym.h"
#include "fileio.h"
#include "install.h"
#include "procmaps.h"
#include "shimstate.h"
#include "state.h"
#include "status.h"

#define MAX_PRELOAD   (1 << 20)
#define MAX_STATUS    (64 << 10)
#define SHIM_NAME     "libldprof.so"
#define CONFIG_PATH   "/etc/ldprof/ldprof.ini"
#define THREAD_NAME   "ldprof"        /* an older version's in-process core's threads */
#define WAITER_NAME   "ldprof-wait"   /* an older version's first stage, while start_after_cpu runs */
#define STUB32_STATE  "32-bit-stub"   /* not a decision: the stub decides nothing */

static const char *const decision_names[] = LDP_DECISION_NAMES;
static const char *const agent_names[] = LDP_AGENT_OUTCOME_NAMES;
_Static_assert(sizeof(agent_names) / sizeof(agent_names[0]) == LDP_AG_COUNT,
	       "LDP_AGENT_OUTCOME_NAMES must name every enum ldp_agent_outcome");
_Static_assert(sizeof(decision_names) / sizeof(decision_names[0]) == LDP_ST_COUNT,
	       "LDP_DECISION_NAMES must name every enum ldp_decision");

/* Tallies for the summary line. unknown[]: 0 unreadable, 1 undecided, 2.. "NAME?" by decision. */
struct tally {
	unsigned carriers, sampling, waiting, off, unknown, not_inspected;
	unsigned off_by[LDP_ST_COUNT];
	unsigned suspect_by[LDP_ST_COUNT];
	unsigned unreadable, undecided, stub32;
};

/* What one process shows. */
struct proc {
	pid_t pid;
	char comm[32];
	char user[64];
	char state[40];
	char detail[512];
};

/* Copies at most n bytes of s (stopping at NUL) into out (size outlen), with blanks as '_' when
 * `blanks` is set and every other byte outside printable ASCII as '?'. */
static void clean(char *out, size_t outlen, const char *s, size_t n, int blanks)
{
	size_t o = 0;

	for (size_t i = 0; i < n && s[i] && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' && blanks)
			c = '_';
		else if (c < 0x20 || c > 0x7e)
			c = '?';
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* Appends printf-style text to a fixed buffer, cutting what does not fit. */
__attribute__((format(printf, 3, 4)))
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t o = strnlen(buf, len);
	va_list ap;

	if (o + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
}

/* Reads up to len - 1 bytes of a small file (a /proc comm) into buf, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r = -errno;
		n = 0;
	}
	buf[n] = '\0';
	close(fd);
	return r;
}

/* ---- the host: ld.so.preload, the library, the config ---- */

/* Checks a library the loader would map. Returns 0 (ok, `what` describes it), -ENOENT or
 * another -errno when it cannot be found (`why` says so), or 1 when it is unsafe (`why`). */
static int lib_check(const char *hostpath, const char *top, int live, char *what, size_t whatlen,
		     char *why, size_t whylen)
{
	struct stat st, lst;
	struct passwd pw, *res = NULL;
	char pwbuf[1024], owner[32], target[PATH_MAX];
	ssize_t n;

	if (stat(hostpath, &st) < 0) {
		int r = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return 1;
	}
	if (st.st_mode & 022) {
		snprintf(why, whylen, "writable by users other than its owner (mode %04o)", st.st_mode & 07777);
		return 1;
	}
	if (!ldp_install_owner_ok(st.st_uid, live)) {
		snprintf(why, whylen, "owned by uid %u, not root", (unsigned)st.st_uid);
		return 1;
	}
	if (ldp_install_folders_safe(hostpath, top, live, why, whylen) < 0)
		return 1;
	if (getpwuid_r(st.st_uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		clean(owner, sizeof(owner), res->pw_name, strlen(res->pw_name), 1);
	else
		snprintf(owner, sizeof(owner), "%u", (unsigned)st.st_uid);
	snprintf(what, whatlen, "regular file, owner %s, mode %04o", owner, st.st_mode & 07777);
	if (lstat(hostpath, &lst) == 0 && S_ISLNK(lst.st_mode) &&
	    (n = readlink(hostpath, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		clean(target, sizeof(target), target, (size_t)n, 0);
		append(what, whatlen, ", through the symlink to %s", target);
	}
	return 0;
}

/* Checks our line (text, already trimmed and cleaned) and the library it names; writes "ours"
 * lines to out and alarms to stderr. Returns 0, or 1 when the
 * install is broken. */
static int check_our_line(FILE *out, const char *root, const char *file, size_t lineno,
			  const char *text)
{
	char hostlib[2 * PATH_MAX], what[PATH_MAX + 128], why[2 * PATH_MAX + 128];
	char exp[PATH_MAX];
	int live = root[0] == '\0', r;
	const char *shown;

	if (text[0] != '/') {
		fprintf(out, "ours     line %zu: %s: UNSAFE (not an absolute path: the loader looks for "
			"it from each program's working folder)\n", lineno, text);
		fprintf(stderr, "ldprof status: DANGER: %s line %zu names \"%s\", a relative path: whoever "
			"controls a program's working folder runs code in it. Fix it now: `ldprof uninstall%s%s`.\n",
			file, lineno, text, live ? "" : " --root ", root);
		return 1;
	}
	/* A line with $LIB: the file the 64-bit loader finds (the 32-bit stubs come last). */
	if (ldp_preload_expand(root, text, exp, sizeof(exp)) == -ENAMETOOLONG)
		snprintf(exp, sizeof(exp), "%s", text);
	snprintf(hostlib, sizeof(hostlib), "%s%s", root, exp);
	shown = live ? exp : hostlib;
	r = lib_check(hostlib, root, live, what, sizeof(what), why, sizeof(why));
	if (r < 0) {
		fprintf(out, "ours     line %zu: %s: MISSING (%s)\n", lineno, shown, why);
		fprintf(stderr,
			"ldprof status: EMERGENCY: %s line %zu names %s, which %s.\n"
			"  Every program started with this file gets an error from the loader on its stderr.\n"
			"  Fix it now: `ldprof uninstall%s%s`, or delete that line by hand (from a rescue shell if need be).\n",
			file, lineno, shown, r == -ENOENT ? "does not exist" : "cannot be found",
			live ? "" : " --root ", root);
		return 1;
	}
	if (r > 0) {
		fprintf(out, "ours     line %zu: %s: UNSAFE (%s)\n", lineno, shown, why);
		fprintf(stderr,
			"ldprof status: DANGER: %s line %zu names %s, which is unsafe: %s.\n"
			"  Whoever can change it runs code in every program started with this file, root's included.\n"
			"  Fix it now: make it and its folders owned and writable by root alone, or `ldprof uninstall%s%s`.\n",
			file, lineno, shown, why, live ? "" : " --root ", root);
		return 1;
	}
	fprintf(out, "ours     line %zu: %s: ok (%s)\n", lineno, shown, what);

	/* The 32-bit stubs a $LIB line leads 32-bit loaders to: mapped into 32-bit programs,
	 * root's included, so they must be as safe as the shim. A missing one only makes its
	 * loader print an error, as the 64-bit shim would. */
	for (size_t i = 0; ldp_lib32_dirs[i] && ldp_preload_subst(text, ldp_lib32_dirs[i], exp, sizeof(exp)) > 0; i++) {
		snprintf(hostlib, sizeof(hostlib), "%s%s", root, exp);
		shown = live ? exp : hostlib;
		r = lib_check(hostlib, root, live, what, sizeof(what), why, sizeof(why));
		if (r < 0)
			continue;
		if (r > 0) {
			fprintf(out, "stub     %s: UNSAFE (%s)\n", shown, why);
			fprintf(stderr,
				"ldprof status: DANGER: %s line %zu leads 32-bit programs to %s, which is unsafe: %s.\n"
				"  Fix its owner and mode, or `ldprof uninstall%s%s`.\n",
				file, lineno, shown, why, live ? "" : " --root ", root);
			return 1;
		}
		fprintf(out, "stub     %s: ok (%s; $LIB = %s: 32-bit programs, stays off)\n", shown, what,
			ldp_lib32_dirs[i]);
	}
	return 0;
}

static void config_status(const char *root)
{
	char cfg[PATH_MAX + 32];
	struct stat st;

	snprintf(cfg, sizeof(cfg), "%s%s", root, CONFIG_PATH);
	if (stat(cfg, &st) < 0) {
		if (errno == ENOENT)
			printf("config   none: defaults\n");
		else
			printf("config   %s: cannot stat (%s)\n", cfg, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		printf("config   %s (unsafe: not a regular file)\n", cfg);
	} else if (!ldp_root_only(&st)) {
		printf("config   %s (unsafe: can be changed by users other than root: mode %04o, owner uid %u)\n",
		       cfg, st.st_mode & 07777, (unsigned)st.st_uid);
	} else {
		printf("config   %s\n", cfg);
	}
}

/* One line on the agent, then one per process it covers:
 *   agent    /run/ldprof/agent.sock: up (pid 812, 99 Hz, cover registered): covering 2, 40 registered[, collecting 5 rings]
 *            covering 1234 uid 0 static, 17 samples in this window */
static void agent_status(const char *root)
{
	static char reply[64 << 10];
	char sock[PATH_MAX + 32], *line, *save = NULL;
	/* with [agent] rings the agent collects: without it nothing is profiled */
	const char *none = "; [agent] rings: no process is profiled until it runs "
			   "(systemctl enable --now ldprof-agent)";
	int r, rings;

	ldp_agentq_host_socket(root, sock, sizeof(sock), &rings);
	if (!sock[0]) {
		printf("agent    off: [agent] socket is empty, the shim never asks an agent\n");
		return;
	}
	r = ldp_agentq_status(sock, reply, sizeof(reply));
	if (r == -ENOENT) {
		printf("agent    %s: not running (no such socket)%s\n", sock, rings ? none : "");
		return;
	}
	if (r == -ECONNREFUSED) {
		printf("agent    %s: not running (nobody serves the socket)%s\n", sock, rings ? none : "");
		return;
	}
	if (r < 0) {
		printf("agent    %s: no answer (%s)\n", sock, strerror(-r));
		return;
	}
	line = strtok_r(reply, "\n", &save);
	{
		int pid = 0, hz = 0;
		unsigned covering = 0;
		unsigned long reg = 0;
		char cover[32] = "?";

		if (!line || sscanf(line, "agent %d hz %d cover %31s covering %u registered %lu", &pid,
				    &hz, cover, &covering, &reg) != 5) {
			printf("agent    %s: up, but its status is not understood\n", sock);
			return;
		}
		printf("agent    %s: up (pid %d, %d Hz, cover %s): covering %u, %lu registered", sock,
		       pid, hz, cover, covering, reg);
		/* [agent] rings: the rings it collects */
		const char *rk = strstr(line, " rings ");
		unsigned long long rings, limited;
		if (rk && sscanf(rk, " rings %llu", &rings) == 1) {
			const char *lk = strstr(line, " rings_limited ");
			printf(", collecting %llu rings", rings);
			if (lk && sscanf(lk, " rings_limited %llu", &limited) == 1 && limited)
				printf(" (%llu refused past a limit)", limited);
		}
		if (strstr(line, " ebpf 0"))
			printf("; no eBPF: static and Go programs are not sampled");
		putchar('\n');
	}
	while ((line = strtok_r(NULL, "\n", &save))) {
		int pid, uid;
		unsigned long long n;
		char why[16];
		char comm[64] = "?", path[64];

		if (sscanf(line, "%d %d %15s %llu", &pid, &uid, why, &n) != 4)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (read_small(path, comm, sizeof(comm)) < 0)
			snprintf(comm, sizeof(comm), "?");
		comm[strcspn(comm, "\n")] = 0;
		printf("         covering %d (%s, uid %d, %s), %llu samples in this window\n", pid, comm,
		       uid, strcmp(why, "asked") ? "static exec" : "asked by the shim", n);
	}
}

/* Prints the host part: the headline first, then what was found line by line. Returns 1 when
 * the install is broken (our line names a missing or unsafe library), else 0. */
static int host_status(const char *root)
{
	char file[PATH_MAX + 32], text[PATH_MAX], *had = NULL, *body = NULL;
	size_t len = 0, bodylen = 0, lineno = 0;
	int broken = 0, ours = 0, r;
	FILE *out = NULL;
	struct stat st;

	snprintf(file, sizeof(file), "%s/etc/ld.so.preload", root);
	r = ldp_read_file(file, 0, MAX_PRELOAD, &had, &len); /* as the loader: through a symlink */
	if (r == -ENOENT) {
		printf("preload  %s: not installed (no such file)\n", file);
		goto config;
	}
	if (r < 0) {
		printf("preload  %s: unknown (cannot read: %s)\n", file, strerror(-r));
		fprintf(stderr, "ldprof status: cannot read %s: %s\n", file, strerror(-r));
		goto config;
	}
	out = open_memstream(&body, &bodylen);
	if (!out) {
		fprintf(stderr, "ldprof status: %s\n", strerror(errno));
		broken = 1;
		goto config;
	}
	for (size_t i = 0; i < len; lineno++) {
		const char *nl = memchr(had + i, '\n', len - i), *s = had + i;
		size_t end = nl ? (size_t)(nl - had) : len, n = end - i, b = 0, e = n;

		i = nl ? end + 1 : len;
		while (b < e && (s[b] == ' ' || s[b] == '\t'))
			b++;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
			e--;
		clean(text, sizeof(text), s + b, e - b, 0);
		if (ldp_preload_line_is_ours(s, n)) {
			ours++;
			broken |= check_our_line(out, root, file, lineno + 1, text);
		} else if (memmem(s, n, SHIM_NAME, sizeof(SHIM_NAME) - 1)) {
			fprintf(out, "other    line %zu names %s but is not a line install manages: %s\n",
				lineno + 1, SHIM_NAME, text);
		}
	}
	if (ours > 1)
		fprintf(out, "warning  %d lines are ours: each different path loads one more copy of the shim\n",
			ours);
	if (root[0] == '\0' && stat(file, &st) == 0 && !ldp_root_only(&st))
		fprintf(out, "warning  %s can be changed by users other than root (mode %04o, owner uid %u): "
			"whoever can runs code in every program\n", file, st.st_mode & 07777, (unsigned)st.st_uid);
	if (fclose(out) != 0) {
		fprintf(stderr, "ldprof status: %s\n", strerror(errno));
		broken = 1;
	}
	out = NULL;
	if (!ours)
		printf("preload  %s: not installed (no line names %s)\n", file, SHIM_NAME);
	else
		printf("preload  %s: %s\n", file, broken ? "BROKEN" : "installed");
	if (body)
		fwrite(body, 1, bodylen, stdout);
config:
	config_status(root);
	free(body);
	free(had);
	return broken;
}

/* ---- processes ---- */

/* The note for a process we may not look into: as root that is a refusal of its own (another
 * user namespace, a sandbox), not something sudo fixes. */
static const char *denied(void)
{
	return geteuid() == 0 ? "(permission denied, even as root)" : "(run as root)";
}

/* Effective uid, SigCgt and the innermost NSpid of /proc/PID/status. */
struct pstatus {
	unsigned long long sigcgt;
	long euid;
	long nspid;
};

static int read_pstatus(pid_t pid, struct pstatus *ret)
{
	char path[64], *buf = NULL, *line, *save = NULL;
	size_t len;
	int r;

	*ret = (struct pstatus){ 0, -1, pid };
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = ldp_read_file(path, O_NOCTTY, MAX_STATUS, &buf, &len);
	if (r < 0)
		return r;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "Uid:", 4)) {
			long real, eff;
			if (sscanf(line + 4, "%ld %ld", &real, &eff) == 2)
				ret->euid = eff;
		} else if (!strncmp(line, "SigCgt:", 7)) {
			ret->sigcgt = strtoull(line + 7, NULL, 16);
		} else if (!strncmp(line, "NSpid:", 6)) {
			char *last = strrchr(line, '\t');
			if (last)
				ret->nspid = strtol(last + 1, NULL, 10);
		}
	}
	free(buf);
	return 0;
}

/* 1 when a thread of pid other than its main thread is named name, 0 when none is, -errno.
 * Ours are never the main thread; a main thread named so is a program's (ldprof's own CLI). */
static int has_thread(pid_t pid, const char *name)
{
	char path[96], comm[32];
	struct dirent *de;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || strtol(de->d_name, NULL, 10) == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/comm", (int)pid, de->d_name);
		if (read_small(path, comm, sizeof(comm)) < 0)
			continue;
		comm[strcspn(comm, "\n")] = '\0';
		found = !strcmp(comm, name);
	}
	closedir(d);
	return found;
}

/* Waiting on the ring sampler's deferred start (state.h), rather than in the waiter thread. */
static int ring_waiting(const struct ldp_state *st)
{
	size_t n = strlen(LDP_STATE_RING_WAITING_DETAIL);

	return strnlen(st->detail, sizeof(st->detail)) >= n && !memcmp(st->detail, LDP_STATE_RING_WAITING_DETAIL, n);
}

/* Decisions to stay off, taken before any sampler starts: no "ldprof" thread can exist, in
 * this version or an older one with a core. (output-not-writable, tasks-limit and musl are
 * older versions' decisions, kept so that their processes still read right.) */
static int before_core(int decision)
{
	switch (decision) {
	case LDP_ST_DISABLED:
	case LDP_ST_SECURE:
	case LDP_ST_NO_LIBC:
	case LDP_ST_MUSL:
	case LDP_ST_GO:
	case LDP_ST_EXCLUDED:
	case LDP_ST_UNSAFE_CONFIG:
	case LDP_ST_SECCOMP:
	case LDP_ST_TASKS_LIMIT:
	case LDP_ST_HOST_INIT:
	case LDP_ST_NO_COLLECTOR:
		return 1;
	default:
		return 0;
	}
}

static void print_proc(const struct proc *p)
{
	printf("%7d %-12s %-16s %-18s %s\n", (int)p->pid, p->user[0] ? p->user : "-",
	       p->comm[0] ? p->comm : "-", p->state, p->detail[0] ? p->detail : "-");
}

/* Looks at one process. Prints its line when it carries the shim, or when `given` (named on
 * the command line) whatever it is. Counts into t. */
static void proc_status(pid_t pid, int given, struct tally *t)
{
	struct proc p = { .pid = pid };
	struct ldp_maps maps = { 0 };
	const struct ldp_map *first = NULL;
	struct ldp_state st;
	struct pstatus ps;
	struct passwd pw, *res = NULL;
	char path[64], raw[64], pwbuf[1024], note[256] = "";
	unsigned copies = 0;
	uint64_t other_inode = 0;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_small(path, raw, sizeof(raw)) == 0) {
		raw[strcspn(raw, "\n")] = '\0';
		clean(p.comm, sizeof(p.comm), raw, strlen(raw), 1);
	}
	r = read_pstatus(pid, &ps);
	if (r == 0 && ps.euid >= 0) {
		if (getpwuid_r((uid_t)ps.euid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
			clean(p.user, sizeof(p.user), res->pw_name, strlen(res->pw_name), 1);
		else
			snprintf(p.user, sizeof(p.user), "%ld", ps.euid);
	}
	r = ldp_maps_read(pid, &maps);
	if (r == -ENOENT || r == -ESRCH || (r < 0 && r != -EACCES && r != -EPERM && !p.comm[0])) {
		if (given) {
			snprintf(p.state, sizeof(p.state), "no-process");
			print_proc(&p);
		}
		goto out;
	}
	if (r < 0) {
		t->not_inspected++;
		if (!given)
			goto out;
		snprintf(p.state, sizeof(p.state), "unknown");
		snprintf(p.detail, sizeof(p.detail), "%s", r == -EACCES || r == -EPERM ? denied() :
			 "(cannot read maps)");
		print_proc(&p);
		goto out;
	}
	for (size_t i = 0; i < maps.n; i++) {
		const struct ldp_map *m = &maps.maps[i];

		if (!ldp_shimstate_is_shim_path(m->path))
			continue;
		if (!first) {
			first = m;
			copies = 1;
		} else if (m->inode != first->inode && m->inode != other_inode) {
			other_inode = m->inode;
			copies++;
		}
	}
	if (!first) {
		if (given) {
			snprintf(p.state, sizeof(p.state), "no-shim");
			print_proc(&p);
		}
		goto out;
	}

	t->carriers++;
	r = ldp_shimstate_read(pid, &maps, first, &st, note, sizeof(note));
	if (r == 1) {
		/* A 32-bit program: its loader found the stub at its $LIB, which does nothing. */
		snprintf(p.state, sizeof(p.state), "%s", STUB32_STATE);
		snprintf(p.detail, sizeof(p.detail), "(32-bit program: ldprof profiles 64-bit programs only)");
		t->off++;
		t->stub32++;
	} else if (r < 0) {
		snprintf(p.state, sizeof(p.state), "unknown");
		snprintf(p.detail, sizeof(p.detail), "%s", note);
		t->unknown++;
		t->unreadable++;
	} else if (st.decision < 0 || st.decision >= LDP_ST_COUNT) {
		snprintf(p.state, sizeof(p.state), "unknown");
		snprintf(p.detail, sizeof(p.detail), "(decision %d is not one this ldprof knows)",
			 (int)st.decision);
		t->unknown++;
		t->unreadable++;
	} else {
		int d, thread, suspect = 0, caught;

		/* what the kernel shows, read again after the state: read before it, a process that
		 * was deciding meanwhile (handler installed, then the state published) looked
		 * suspect */
		if (read_pstatus(pid, &ps) < 0)
			ps.sigcgt = 0;
		d = st.decision;
		thread = has_thread(pid, THREAD_NAME);
		caught = !!(ps.sigcgt & (1ull << (SIGPROF - 1)));

		if (d == LDP_ST_RING && (thread > 0 || !caught)) {
			/* the ring sampler has no thread: one of ours there is an older core's */
			suspect = 1;
			append(p.detail, sizeof(p.detail), "(%s%s%s) ", thread > 0 ? "an ldprof thread runs" : "",
			       thread > 0 && !caught ? ", " : "", caught ? "" : "SIGPROF not caught");
		} else if (d == LDP_ST_SAMPLING && (thread == 0 || !caught)) {
			suspect = 1;
			append(p.detail, sizeof(p.detail), "(%s%s%s) ", thread == 0 ? "no ldprof thread" : "",
			       thread == 0 && !caught ? ", " : "", caught ? "" : "SIGPROF not caught");
		} else if (before_core(d) && thread > 0) {
			suspect = 1;
			append(p.detail, sizeof(p.detail), "(but an ldprof thread runs) ");
		} else if (d == LDP_ST_WAITING && st.pid == ps.nspid && ring_waiting(&st)) {
			/* the ring sampler's deferred start: our handler and a timer, no thread */
			if (!caught || has_thread(pid, WAITER_NAME) > 0) {
				suspect = 1;
				append(p.detail, sizeof(p.detail), "(%s) ", caught ? "an " WAITER_NAME " thread runs" : "SIGPROF not caught");
			}
		} else if (d == LDP_ST_WAITING && st.pid == ps.nspid && has_thread(pid, WAITER_NAME) == 0) {
			suspect = 1;
			append(p.detail, sizeof(p.detail), "(no " WAITER_NAME " thread) ");
		}
		if (st.pid != ps.nspid)
			append(p.detail, sizeof(p.detail), "(state written by pid %d: inherited at fork) ",
			       (int)st.pid);
		if (copies > 1)
			append(p.detail, sizeof(p.detail), "(%u different %s files mapped: this is the first) ",
			       copies, SHIM_NAME);
		{
			char detail[sizeof(st.detail)];

			clean(detail, sizeof(detail), st.detail, sizeof(st.detail), 0);
			append(p.detail, sizeof(p.detail), "%s", detail);
		}
		if (st.agent > LDP_AG_NOT_ASKED && st.agent < LDP_AG_COUNT) {
			char detail[sizeof(st.agent_detail)];

			clean(detail, sizeof(detail), st.agent_detail, sizeof(st.agent_detail), 0);
			append(p.detail, sizeof(p.detail), "%sagent: %s%s%s%s",
			       p.detail[0] && p.detail[strlen(p.detail) - 1] != ' ' ? "; " : "",
			       agent_names[st.agent], detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
		}
		/* strip a trailing blank left by our notes when the shim gave no detail */
		if (p.detail[0] && p.detail[strlen(p.detail) - 1] == ' ')
			p.detail[strlen(p.detail) - 1] = '\0';
		snprintf(p.state, sizeof(p.state), "%s%s", decision_names[d], suspect ? "?" : "");
		if (suspect) {
			t->unknown++;
			t->suspect_by[d]++;
		} else if (d == LDP_ST_SAMPLING || d == LDP_ST_RING) {
			t->sampling++;
		} else if (d == LDP_ST_WAITING) {
			t->waiting++;
		} else if (d == LDP_ST_UNDECIDED) {
			t->unknown++;
			t->undecided++;
		} else {
			t->off++;
			t->off_by[d]++;
		}
	}
	print_proc(&p);
out:
	ldp_maps_free(&maps);
}

static void print_summary(const struct tally *t)
{
	const char *sep;

	printf("%u process%s carr%s the shim: %u sampling, ", t->carriers,
	       t->carriers == 1 ? "" : "es", t->carriers == 1 ? "ies" : "y", t->sampling);
	if (t->waiting)
		printf("%u waiting for start_after_cpu, ", t->waiting);
	printf("%u off", t->off);
	sep = " (";
	for (int d = 0; d < LDP_ST_COUNT; d++) {
		if (t->off_by[d]) {
			printf("%s%s %u", sep, decision_names[d], t->off_by[d]);
			sep = ", ";
		}
	}
	if (t->stub32)
		printf("%s%s %u", sep, STUB32_STATE, t->stub32);
	printf("%s, %u unknown", t->off ? ")" : "", t->unknown);
	sep = " (";
	for (int d = 0; d < LDP_ST_COUNT; d++) {
		if (t->suspect_by[d]) {
			printf("%s%s? %u", sep, decision_names[d], t->suspect_by[d]);
			sep = ", ";
		}
	}
	if (t->undecided) {
		printf("%sundecided %u", sep, t->undecided);
		sep = ", ";
	}
	if (t->unreadable) {
		printf("%sunreadable %u", sep, t->unreadable);
		sep = ", ";
	}
	printf("%s", t->unknown ? ")" : "");
	if (t->not_inspected)
		printf("; %u process%s not inspected %s", t->not_inspected,
		       t->not_inspected == 1 ? "" : "es", denied());
	printf("\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ldprof status [--root DIR] [PID...]\n"
		   "  is the shim in DIR/etc/ld.so.preload (DIR defaults to /) and safe there; which\n"
		   "  processes carry it (all, or the PIDs given) and what it decided in each\n"
		   "  example: ldprof status $(pidof nginx)\n");
}

static int parse_pid(const char *s, pid_t *ret)
{
	char *end;
	long v;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*ret = (pid_t)v;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Appends pid to a growing array. Returns 0 or -ENOMEM. */
static int push_pid(pid_t **pids, size_t *n, size_t *cap, pid_t pid)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		pid_t *np = realloc(*pids, ncap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		*pids = np;
		*cap = ncap;
	}
	(*pids)[(*n)++] = pid;
	return 0;
}

int ldp_status_main(int argc, char **argv)
{
	const char *root = "/";
	char rootbuf[PATH_MAX];
	pid_t *pids = NULL;
	size_t npids = 0, cap = 0;
	struct tally t = { 0 };
	int r = 2, broken, opts = 1;
	DIR *d = NULL;

	for (int i = 1; i < argc; i++) {
		pid_t pid;

		if (opts && !strcmp(argv[i], "--")) {
			opts = 0;
		} else if (opts && !strcmp(argv[i], "--root")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "ldprof status: --root needs a folder\n");
				goto out;
			}
			root = argv[++i];
		} else if (opts && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
			usage(stdout);
			r = 0;
			goto out;
		} else if (parse_pid(argv[i], &pid) == 0) {
			if (push_pid(&pids, &npids, &cap, pid) < 0) {
				fprintf(stderr, "ldprof status: out of memory\n");
				r = 1;
				goto out;
			}
		} else {
			fprintf(stderr, "ldprof status: \"%s\" is neither an option nor a process id\n", argv[i]);
			usage(stderr);
			goto out;
		}
	}
	if (!realpath(root, rootbuf)) {
		fprintf(stderr, "ldprof status: --root \"%s\": %s\n", root, strerror(errno));
		goto out;
	}
	if (!strcmp(rootbuf, "/"))
		rootbuf[0] = '\0';

	broken = host_status(rootbuf);
	agent_status(rootbuf);
	fflush(stdout);

	printf("%7s %-12s %-16s %-18s %s\n", "PID", "USER", "COMM", "STATE", "DETAIL");
	if (npids) {
		for (size_t i = 0; i < npids; i++)
			proc_status(pids[i], 1, &t);
	} else {
		struct dirent *de;

		d = opendir("/proc");
		if (!d) {
			fprintf(stderr, "ldprof status: /proc: %s\n", strerror(errno));
			r = 1;
			goto out;
		}
		/* In pid order, so two runs compare line by line. */
		while ((de = readdir(d))) {
			pid_t pid;

			if (parse_pid(de->d_name, &pid) < 0)
				continue;
			if (push_pid(&pids, &npids, &cap, pid) < 0) {
				fprintf(stderr, "ldprof status: out of memory\n");
				r = 1;
				goto out;
			}
		}
		qsort(pids, npids, sizeof(*pids), cmp_pid);
		for (size_t i = 0; i < npids; i++)
			proc_status(pids[i], 0, &t);
	}
	print_summary(&t);
	r = broken ? 1 : 0;
out:
	if (d)
		closedir(d);
	free(pids);
	fflush(stdout);
	return r;
}
