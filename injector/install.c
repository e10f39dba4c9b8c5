/* SPDX-License-Identifier: MIT
 *
 * install.c — put the shim into ROOT/etc/ld.so.preload, or take it out, without ever leaving
 * a broken file behind.
 *
 * A bad line in /etc/ld.so.preload breaks every program on the host, so: the library is
 * checked first (it exists, is a regular file that only root can change, and a trivial program
 * runs with it preloaded, with nothing on stderr); the file is rewritten through a temporary
 * file in the same folder (write, fsync, rename, fsync of the folder), so a reader sees the old
 * file or the new one, never half of one; every other line, comment and blank line is kept
 * byte for byte; our line is never added twice; the old content is kept in
 * ld.so.preload.ldprof-backup; and a file we created is removed again by uninstall when our
 * line was all it held. --dry-run prints the change and touches nothing. --root DIR works on
 * DIR/etc/ld.so.preload (packaging, tests); the line written is the path as seen inside DIR.
 *
 * The line names DIR/$LIB/libldprof.so when that layout is there (packaging/layout.sh): each
 * glibc loader replaces $LIB with its own library folder, so a 32-bit loader finds a 32-bit
 * stub where a 64-bit one finds the shim, and neither prints "wrong ELF class". Without it
 * (an older tree), the plain path, as before. A line of ours that names another path (older
 * versions wrote /usr/lib/ldprof/libldprof.so) is replaced by install, never kept beside ours.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "agentq.h"
#include "fileio.h"
#include "install.h"
#include "runcollect.h"
#include "runconf.h"
#include "state.h"

#define LIB_DIR "/usr/lib/ldprof"
#define LIB_LINE LIB_DIR "/$LIB/libldprof.so"      /* what install writes when it can */
#define LEGACY_LIB LIB_DIR "/libldprof.so"         /* what older versions wrote */
#define MAX_PRELOAD (1 << 20)

/* What the loaders of this machine put in place of $LIB (glibc's DL_DST_LIB, measured: see
 * docs/install.md), the native ABI's first: Debian's multiarch folder, then lib64 (Fedora,
 * SUSE). The 32-bit ones are where layout.sh puts the stub: Debian's libc6-i386, Debian's
 * multiarch libc6:i386, and the i686 glibc of rpm distributions. */
#if defined(__x86_64__)
static const char *const lib64_dirs[] = { "lib/x86_64-linux-gnu", "lib64", NULL };
const char *const ldp_lib32_dirs[] = { "lib32", "lib/i386-linux-gnu", "lib", NULL };
#elif defined(__aarch64__)
static const char *const lib64_dirs[] = { "lib/aarch64-linux-gnu", "lib64", NULL };
const char *const ldp_lib32_dirs[] = { NULL };
#else
#error "ldprof supports x86_64 and aarch64"
#endif

int ldp_preload_subst(const char *line, const char *dir, char *buf, size_t len)
{
	size_t o = 0, dl = strlen(dir);
	int n = 0;

	for (const char *s = line; *s;) {
		/* As glibc reads a DST: "$LIB" not followed by a name character, or "${LIB}". */
		size_t tl = !strncmp(s, "${LIB}", 6) ? 6 :
			    !strncmp(s, "$LIB", 4) && !(isalnum((unsigned char)s[4]) || s[4] == '_') ? 4 : 0;

		if (tl) {
			if (o + dl >= len)
				return -ENAMETOOLONG;
			memcpy(buf + o, dir, dl);
			o += dl;
			s += tl;
			n++;
			continue;
		}
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		buf[o++] = *s++;
	}
	buf[o] = 0;
	return n;
}

int ldp_preload_expand(const char *root, const char *line, char *buf, size_t len)
{
	char host[2 * PATH_MAX];
	int r;

	for (size_t i = 0; lib64_dirs[i]; i++) {
		r = ldp_preload_subst(line, lib64_dirs[i], buf, len);
		if (r <= 0)
			return r; /* no $LIB: the line is the path; or too long */
		snprintf(host, sizeof(host), "%s%s", root, buf);
		if (access(host, F_OK) == 0)
			return 0;
	}
	r = ldp_preload_subst(line, lib64_dirs[0], buf, len);
	return r < 0 ? r : -ENOENT;
}

static void trim(const char *s, size_t n, size_t *ret_b, size_t *ret_e)
{
	size_t b = 0, e = n;

	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
		e--;
	*ret_b = b;
	*ret_e = e;
}

/* Is this line exactly lib (blanks around)? */
static int exact_line(const char *s, size_t n, const char *lib)
{
	size_t b, e, liblen = strlen(lib);

	trim(s, n, &b, &e);
	return e - b == liblen && !memcmp(s + b, lib, liblen);
}

/* Is this line ours: our path, or any libldprof.so, alone on its line (blanks around)? */
static int our_line(const char *s, size_t n, const char *lib)
{
	static const char base[] = "/libldprof.so";
	size_t b, e;

	if (exact_line(s, n, lib))
		return 1;
	trim(s, n, &b, &e);
	if (e - b >= sizeof(base) - 1 && !memcmp(s + e - (sizeof(base) - 1), base, sizeof(base) - 1)) {
		for (size_t i = b; i < e; i++)
			if (s[i] == ' ' || s[i] == '\t' || s[i] == ':' || s[i] == '#')
				return 0;
		return 1;
	}
	return 0;
}

int ldp_preload_line_is_ours(const char *line, size_t n)
{
	return our_line(line, n, LIB_LINE);
}

int ldp_preload_edit(const char *had, size_t len, const char *lib, int uninstall, char **ret,
		     size_t *ret_len)
{
	size_t liblen = strlen(lib), o = 0;
	int n = 0, same = 0, placed = 0;
	char *out;

	*ret = NULL;
	*ret_len = 0;
	/* Install with our very line there, alone of ours: nothing to do. */
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(had + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - had) : len;
		if (our_line(had + i, end - i, lib)) {
			n++;
			same += exact_line(had + i, end - i, lib);
		}
		i = nl ? end + 1 : len;
	}
	if (!uninstall && n == 1 && same == 1)
		return 0;
	out = malloc(len + liblen + 2);
	if (!out)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(had + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - had) : len, next = nl ? end + 1 : len;
		if (!our_line(had + i, end - i, lib)) {
			memcpy(out + o, had + i, next - i);
			o += next - i;
		} else if (uninstall || placed) {
			n++;
		} else {
			/* An older line of ours: ours takes its place (its position among the others). */
			memcpy(out + o, lib, liblen);
			o += liblen;
			out[o++] = '\n';
			placed = 1;
			n++;
		}
		i = next;
	}
	if (!uninstall && !placed) {
		if (o && out[o - 1] != '\n')
			out[o++] = '\n';
		memcpy(out + o, lib, liblen);
		o += liblen;
		out[o++] = '\n';
		n = 1;
	}
	if (!n) {
		free(out);
		return 0;
	}
	*ret = out;
	*ret_len = o;
	return n;
}

/* Write path atomically: a temporary file next to it, fsync, rename, fsync of the folder. */
static int write_atomic(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *slash;
	int fd = -1, dfd = -1, r;

	if (snprintf(tmp, sizeof(tmp), "%s.ldprof-tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = ldp_write_all(fd, buf, len);
	if (r < 0)
		goto fail;
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int ldp_install_owner_ok(uid_t uid, int live)
{
	return uid == 0 || (!live && uid == geteuid());
}

int ldp_install_folders_safe(const char *hostpath, const char *top, int live, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	size_t toplen = strlen(top);
	struct stat st;

	/* On the host, along the real path: a symbolic link on the way must not lead through a
	 * folder someone else can change. In a --root tree, as given (its absolute links point
	 * into the host). */
	if (live ? !realpath(hostpath, dir) : snprintf(dir, sizeof(dir), "%s", hostpath) >= (int)sizeof(dir)) {
		snprintf(why, whylen, "%s: %s", hostpath, live ? strerror(errno) : "path too long");
		return -1;
	}
	for (;;) {
		char *slash = strrchr(dir, '/');

		if (!slash)
			return 0;
		if (slash == dir)
			slash[1] = '\0'; /* "/" */
		else
			*slash = '\0';
		if (stat(dir, &st) < 0) {
			snprintf(why, whylen, "folder %s: %s", dir, strerror(errno));
			return -1;
		}
		if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
			snprintf(why, whylen, "folder %s can be changed by users other than its owner (mode %04o)",
				 dir, st.st_mode & 07777);
			return -1;
		}
		if (!ldp_install_owner_ok(st.st_uid, live)) {
			snprintf(why, whylen, "folder %s is owned by uid %u, not root", dir, (unsigned)st.st_uid);
			return -1;
		}
		if (!strcmp(dir, "/") || strlen(dir) <= toplen)
			return 0;
	}
}

/* A file the loader maps into every program must be a regular file that only root can change,
 * in folders only root can change, all the way up (a writable file or folder would let its
 * writer run code in every root process). In a --root tree, the user running install may own
 * them too (a tree being built). */
static int check_file(const char *root, const char *hostpath, char *why, size_t whylen)
{
	int live = root[0] == '\0';
	struct stat st;

	if (stat(hostpath, &st) < 0) {
		snprintf(why, whylen, "%s: %s", hostpath, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", hostpath);
		return -1;
	}
	if ((st.st_mode & 022) || !ldp_install_owner_ok(st.st_uid, live)) {
		snprintf(why, whylen, "%s can be changed by users other than root (mode %03o, owner %u)",
			 hostpath, st.st_mode & 0777, (unsigned)st.st_uid);
		return -1;
	}
	if (ldp_install_folders_safe(hostpath, root, live, why, whylen) < 0) {
		size_t n = strlen(why);

		snprintf(why + n, whylen - n, ": %s is unsafe there", hostpath);
		return -1;
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Did the shim's log at path say it started sampling (LDP_STATE_ACTIVE_LINE)? If not, its first line
 * into said (or "nothing"). */
static int log_says_active(const char *path, char *said, size_t saidlen)
{
	char buf[4096], *nl;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
	if (strstr(buf, LDP_STATE_ACTIVE_LINE))
		return 1;
	nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
	if (!buf[0])
		snprintf(buf, sizeof(buf), "nothing");
	snprintf(said, saidlen, "%.*s", (int)(saidlen - 1), buf);
	return 0;
}

/* The check's environment, in place of ours while it runs: ours without a single LDPROF_
 * variable (a kill switch or a [select] rule in an admin's shell would keep the shim off, and
 * ldp_runconf_write would copy them into the check's settings), then the check's own: the
 * collector reads them here, the child inherits them. NULL: no memory. */
static char **check_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LDPROF_", 7))
			env[k++] = environ[i];
	return env;
}

/* The library must be safe to name in ld.so.preload: the file the native loader finds (with
 * $LIB, the 64-bit expansion) and every 32-bit stub there is pass check_file(); and it must
 * load and sample: /bin/true runs with the line itself preloaded (the loader expands $LIB as
 * it will for ld.so.preload), start_after_cpu = 0, under a collector of the check's own as
 * `ldprof run` would run it; it exits 0, prints nothing, and its log says the sampler
 * started. */
static int check_lib(const char *root, const char *lib, char *why, size_t whylen)
{
	char line[2 * PATH_MAX], exp[PATH_MAX], host[2 * PATH_MAX + 8], errbuf[512], rcerr[256];
	char outdir[] = "/tmp/ldprof-check.XXXXXX", endpoint[64], cfg[PATH_MAX] = "";
	char logpath[64], errpath[64], said[256], **caller_env = environ, **env = NULL;
	struct ldp_runcollect *rc = NULL;
	int errfd = -1, status = 0, r = -1, c;
	ssize_t got = 0;
	pid_t pid;

	snprintf(line, sizeof(line), "%s%s", root, lib);
	if (ldp_preload_expand(root, lib, exp, sizeof(exp)) == -ENAMETOOLONG) {
		snprintf(why, whylen, "%s: %s", line, strerror(ENAMETOOLONG));
		goto out;
	}
	snprintf(host, sizeof(host), "%s%s", root, exp);
	if (check_file(root, host, why, whylen) < 0)
		goto out;
	for (size_t i = 0; ldp_lib32_dirs[i] && ldp_preload_subst(lib, ldp_lib32_dirs[i], exp, sizeof(exp)) > 0; i++) {
		snprintf(host, sizeof(host), "%s%s", root, exp);
		if (access(host, F_OK) == 0 && check_file(root, host, why, whylen) < 0)
			goto out;
	}
	/* The host's settings, but profiles and the log into a folder of the check's own: the
	 * check writes nothing of the host's. */
	if (!mkdtemp(outdir)) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		outdir[0] = 0;
		goto out;
	}
	env = check_env();
	if (!env) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		goto out;
	}
	environ = env;
	snprintf(endpoint, sizeof(endpoint), "file://%s", outdir);
	snprintf(logpath, sizeof(logpath), "%s/ldprof.log", outdir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", outdir);
	c = ldp_runconf_write(endpoint, logpath, cfg, sizeof(cfg));
	if (c < 0) {
		snprintf(why, whylen, "cannot write the check's settings: %s", strerror(-c));
		goto out;
	}
	if (c > 0)
		cfg[0] = 0; /* the host's config keeps every process off: the check's too */
	errfd = open(errpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (errfd < 0) {
		snprintf(why, whylen, "%s: %s", errpath, strerror(errno));
		goto out;
	}
	if ((cfg[0] && setenv("LDPROF_CONFIG", cfg, 1)) || setenv("LDPROF_SELECT_START_AFTER_CPU", "0", 1) ||
	    setenv("LDPROF_LOG_LEVEL", "info", 1)) {
		snprintf(why, whylen, "setenv: %s", strerror(errno));
		goto out;
	}
	if (ldp_runcollect_new(NULL, &rc, rcerr, sizeof(rcerr)) < 0) {
		snprintf(why, whylen, "%s", rcerr);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		dup2(errfd, 2);
		setenv("LD_PRELOAD", line, 1);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (ldp_runcollect_wait(rc, pid, &status) < 0) {
		snprintf(why, whylen, "waitpid: %s", strerror(errno));
		goto out;
	}
	got = pread(errfd, errbuf, sizeof(errbuf) - 1, 0);
	errbuf[got > 0 ? got : 0] = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got > 0) {
		char *nl = strchr(errbuf, '\n');
		if (nl)
			*nl = 0;
		snprintf(why, whylen, "/bin/true fails with %s preloaded: %s", line,
			 got > 0 ? errbuf : "non-zero exit");
		goto out;
	}
	if (cfg[0] && !log_says_active(logpath, said, sizeof(said))) {
		snprintf(why, whylen, "the sampler does not start in /bin/true with %s preloaded; its log says %s",
			 line, said);
		goto out;
	}
	r = 0;
out:
	ldp_runcollect_free(rc);
	environ = caller_env; /* a copy glibc made of env for setenv is glibc's */
	free(env);
	if (errfd >= 0)
		close(errfd);
	if (cfg[0])
		ldp_runconf_remove(cfg);
	if (outdir[0] == '/')
		nftw(outdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	return r;
}

/* With [agent] rings (the default) the agent is the host's collector: a line without it
 * profiles nothing, which an admin who just installed would not guess. */
static void say_agent(const char *root)
{
	static char reply[64 << 10];
	char sock[PATH_MAX + 32];
	int rings;

	ldp_agentq_host_socket(root, sock, sizeof(sock), &rings);
	if (!rings || !sock[0] || ldp_agentq_status(sock, reply, sizeof(reply)) == 0)
		return;
	printf("ldprof-agent is not running on %s: with [agent] rings (the default) no process is "
	       "profiled until it runs (systemctl enable --now ldprof-agent)\n", sock);
}

/* How many lines of ours the content holds (an install then replaces them). */
static int count_ours(const char *had, size_t len, const char *lib)
{
	int n = 0;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(had + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - had) : len;
		n += our_line(had + i, end - i, lib);
		i = nl ? end + 1 : len;
	}
	return n;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

int ldp_shim_near_exe(char *buf, size_t len)
{
	static const char *const rel[] = { "/../lib/libldprof.so", "/../lib/ldprof/libldprof.so" };
	char exe[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -ENOENT;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(buf, len, "%s%s", exe, rel[i]);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* bin/../lib/ldprof/$LIB/libldprof.so next to this program (a build tree, a PREFIX), resolved,
 * when its 64-bit expansion is there. Returns 0 or -ENOENT. */
static int layout_near_exe(char *lib, size_t len)
{
	static const char rel[] = "/../lib/ldprof";
	char dir[PATH_MAX], real[PATH_MAX], exp[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - sizeof(rel));

	if (n <= 0)
		return -ENOENT;
	dir[n] = 0;
	slash = strrchr(dir, '/');
	if (!slash)
		return -ENOENT;
	memcpy(slash, rel, sizeof(rel)); /* fits: readlink left sizeof(rel) bytes */
	if (!realpath(dir, real) || snprintf(lib, len, "%s/$LIB/libldprof.so", real) >= (int)len)
		return -ENOENT;
	return ldp_preload_expand("", lib, exp, sizeof(exp)) == 0 ? 0 : -ENOENT;
}

/* The library to name: --lib; else the installed layout (LIB_LINE), else the plain installed
 * path (an older tree); else the layout next to this program (bin/../lib/ldprof, a build tree
 * or a PREFIX), else the plain shim there. */
static int pick_lib(const char *root, const char *opt, char *lib, size_t len)
{
	char host[2 * PATH_MAX], exp[PATH_MAX];

	if (opt) {
		snprintf(lib, len, "%s", opt);
		return lib[0] == '/' ? 0 : -EINVAL;
	}
	if (ldp_preload_expand(root, LIB_LINE, exp, sizeof(exp)) == 0) {
		snprintf(lib, len, "%s", LIB_LINE);
		return 0;
	}
	snprintf(host, sizeof(host), "%s%s", root, LEGACY_LIB);
	if (access(host, R_OK) == 0 || strcmp(root, "")) {
		snprintf(lib, len, "%s", LEGACY_LIB);
		return 0;
	}
	if (layout_near_exe(lib, len) == 0)
		return 0;
	if (ldp_shim_near_exe(host, sizeof(host)) < 0)
		return -ENOENT;
	if (!realpath(host, lib))
		return -errno;
	return 0;
}

int ldp_install_main(int argc, char **argv)
{
	int uninstall = !strcmp(argv[0], "uninstall"), dry = 0, r, n;
	const char *root = "/", *libopt = NULL, *cmd = argv[0];
	char rootbuf[PATH_MAX], lib[PATH_MAX], file[2 * PATH_MAX], backup[2 * PATH_MAX + 32];
	char marker[2 * PATH_MAX + 32], why[4 * PATH_MAX + 1024];
	char *had = NULL, *out = NULL;
	size_t hadlen = 0, outlen = 0;
	const char *verb;
	int exists;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: ldprof %s [--root DIR] [--dry-run] [--lib PATH]\n"
			       "  %s the shim %s DIR/etc/ld.so.preload (DIR: /), so that every dynamically\n"
			       "  linked program %s it; %s\n"
			       "  --root DIR  work on the system image under DIR (a container, a chroot)\n"
			       "  --dry-run   print the change, touch nothing\n"
			       "  --lib PATH  the library's path as ld.so.preload names it (default:\n"
			       "              /usr/lib/ldprof/$LIB/libldprof.so)\n"
			       "  example: ldprof %s --dry-run\n", cmd, uninstall ? "Takes" : "Adds",
			       uninstall ? "out of" : "to", uninstall ? "no longer loads" : "loads",
			       uninstall ? "keeps what else the file holds." :
			       "checks first that the library and its folders are root's alone and that\n"
			       "  /bin/true runs with it and samples. Needs root.", cmd);
			return 0;
		}
		if (!strcmp(argv[i], "--dry-run")) {
			dry = 1;
		} else if ((!strcmp(argv[i], "--root") || !strcmp(argv[i], "--lib")) && i + 1 < argc) {
			if (argv[i][2] == 'r')
				root = argv[++i];
			else
				libopt = argv[++i];
		} else {
			fprintf(stderr, "ldprof %s: unknown argument \"%s\" (ldprof %s [--root DIR] [--dry-run] "
				"[--lib PATH]; see ldprof %s --help)\n", cmd, argv[i], cmd, cmd);
			return 2;
		}
	}
	if (!realpath(root, rootbuf)) {
		fprintf(stderr, "ldprof %s: --root \"%s\": %s\n", cmd, root, strerror(errno));
		return 2;
	}
	if (!strcmp(rootbuf, "/"))
		rootbuf[0] = 0;
	r = pick_lib(rootbuf, libopt, lib, sizeof(lib));
	if (r < 0) {
		fprintf(stderr, "ldprof %s: cannot find libldprof.so (give an absolute --lib PATH): %s\n", cmd,
			strerror(-r));
		return 1;
	}
	snprintf(file, sizeof(file), "%s/etc/ld.so.preload", rootbuf);
	snprintf(backup, sizeof(backup), "%s.ldprof-backup", file);
	snprintf(marker, sizeof(marker), "%s.ldprof-created", file);

	r = ldp_read_file(file, O_NOFOLLOW, MAX_PRELOAD, &had, &hadlen);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "ldprof %s: cannot read %s: %s\n", cmd, file, strerror(-r));
		return 1;
	}
	exists = r == 0;
	verb = uninstall ? "remove" : count_ours(had, hadlen, lib) ? "replace our older line with" : "add";
	n = ldp_preload_edit(had, hadlen, lib, uninstall, &out, &outlen);
	if (n < 0) {
		fprintf(stderr, "ldprof %s: %s\n", cmd, strerror(-n));
		r = 1;
		goto out;
	}
	if (n == 0) {
		printf("%s: %s %s, nothing to do\n", file, lib, uninstall ? "is not there" : "is already there");
		r = 0;
		goto out;
	}
	if (!uninstall && check_lib(rootbuf, lib, why, sizeof(why)) < 0) {
		fprintf(stderr, "ldprof install: refusing: %s\n", why);
		r = 1;
		goto out;
	}
	if (dry) {
		printf("%s: would %s the line \"%s\" (dry run: nothing changed)\n", file, verb, lib);
		r = 0;
		goto out;
	}
	/* The backup first: whatever happens next, the previous content is on disk. */
	if (exists && (r = write_atomic(backup, had, hadlen)) < 0) {
		fprintf(stderr, "ldprof %s: cannot write %s: %s\n", cmd, backup, strerror(-r));
		r = 1;
		goto out;
	}
	if (!exists) {
		int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0)
			close(fd);
	}
	if (uninstall && access(marker, F_OK) == 0 && blank(out, outlen)) {
		/* We created the file and our line was all it held: leave no file behind. */
		if (unlink(file) < 0) {
			fprintf(stderr, "ldprof uninstall: cannot remove %s: %s\n", file, strerror(errno));
			r = 1;
			goto out;
		}
		unlink(marker);
		printf("%s: removed \"%s\"; the file held nothing else and ldprof had created it: removed\n",
		       file, lib);
		r = 0;
		goto out;
	}
	r = write_atomic(file, out, outlen);
	if (r < 0) {
		fprintf(stderr, "ldprof %s: cannot write %s: %s\n", cmd, file, strerror(-r));
		r = 1;
		goto out;
	}
	printf("%s: %s \"%s\"%s%s\n", file,
	       uninstall ? "removed" : strcmp(verb, "add") ? "replaced our older line with" : "added", lib,
	       exists ? "; previous content kept in " : "", exists ? backup : "");
	if (!uninstall)
		say_agent(rootbuf);
	r = 0;
out:
	free(had);
	free(out);
	return r;
}
