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
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "install.h"

#define DEFAULT_LIB "/usr/lib/ldprof/libldprof.so"
#define MAX_PRELOAD (1 << 20)

/* Is this line ours: our path, or any libldprof.so, alone on its line (blanks around)? */
static int our_line(const char *s, size_t n, const char *lib)
{
	size_t b = 0, e = n, liblen = strlen(lib);
	static const char base[] = "/libldprof.so";

	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
		e--;
	if (e - b == liblen && !memcmp(s + b, lib, liblen))
		return 1;
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
	return our_line(line, n, DEFAULT_LIB);
}

int ldp_preload_edit(const char *had, size_t len, const char *lib, int uninstall, char **ret,
		     size_t *ret_len)
{
	size_t liblen = strlen(lib), o = 0;
	char *out;
	int n = 0;

	*ret = NULL;
	*ret_len = 0;
	out = malloc(len + liblen + 2);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(had + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - had) : len, next = nl ? end + 1 : len;
		if (our_line(had + i, end - i, lib)) {
			if (!uninstall) {
				free(out);
				return 0; /* already there: nothing to add */
			}
			n++;
		} else {
			memcpy(out + o, had + i, next - i);
			o += next - i;
		}
		i = next;
	}
	if (!uninstall) {
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

/* The library must be safe to name in ld.so.preload: a regular file that only root can
 * change (a writable one would let its writer run code in every root process), and it must
 * load: /bin/true runs with it preloaded, exits 0 and prints nothing. */
static int check_lib(const char *hostpath, char *why, size_t whylen)
{
	struct stat st;
	int pipefd[2], status;
	char errbuf[512];
	ssize_t n, got = 0;
	pid_t pid;

	if (stat(hostpath, &st) < 0) {
		snprintf(why, whylen, "%s: %s", hostpath, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", hostpath);
		return -1;
	}
	if (st.st_mode & 022 || (geteuid() == 0 && st.st_uid != 0)) {
		snprintf(why, whylen, "%s can be changed by users other than root (mode %03o, owner %u)",
			 hostpath, st.st_mode & 0777, (unsigned)st.st_uid);
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(pipefd[1], 2);
		setenv("LD_PRELOAD", hostpath, 1);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], errbuf + got, sizeof(errbuf) - 1 - (size_t)got)) > 0 &&
	       got < (ssize_t)sizeof(errbuf) - 1)
		got += n;
	close(pipefd[0]);
	errbuf[got] = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got > 0) {
		char *nl = strchr(errbuf, '\n');
		if (nl)
			*nl = 0;
		snprintf(why, whylen, "/bin/true fails with %s preloaded: %s", hostpath,
			 got ? errbuf : "non-zero exit");
		return -1;
	}
	return 0;
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

/* The library to name: --lib, else the installed one, else the one next to this program. */
static int pick_lib(const char *root, const char *opt, char *lib, size_t len)
{
	char host[2 * PATH_MAX];

	if (opt) {
		snprintf(lib, len, "%s", opt);
		return lib[0] == '/' ? 0 : -EINVAL;
	}
	snprintf(host, sizeof(host), "%s%s", root, DEFAULT_LIB);
	if (access(host, R_OK) == 0 || strcmp(root, "")) {
		snprintf(lib, len, "%s", DEFAULT_LIB);
		return 0;
	}
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
	char marker[2 * PATH_MAX + 32], hostlib[2 * PATH_MAX], why[2 * PATH_MAX + 1024];
	char *had = NULL, *out = NULL;
	size_t hadlen = 0, outlen = 0;
	int exists;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run")) {
			dry = 1;
		} else if ((!strcmp(argv[i], "--root") || !strcmp(argv[i], "--lib")) && i + 1 < argc) {
			if (argv[i][2] == 'r')
				root = argv[++i];
			else
				libopt = argv[++i];
		} else {
			fprintf(stderr, "ldprof %s: unknown argument \"%s\" (ldprof %s [--root DIR] [--dry-run] [--lib PATH])\n",
				cmd, argv[i], cmd);
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
	snprintf(hostlib, sizeof(hostlib), "%s%s", rootbuf, lib);

	r = ldp_read_file(file, O_NOFOLLOW, MAX_PRELOAD, &had, &hadlen);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "ldprof %s: cannot read %s: %s\n", cmd, file, strerror(-r));
		return 1;
	}
	exists = r == 0;
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
	if (!uninstall && check_lib(hostlib, why, sizeof(why)) < 0) {
		fprintf(stderr, "ldprof install: refusing: %s\n", why);
		r = 1;
		goto out;
	}
	if (dry) {
		printf("%s: would %s the line \"%s\" (dry run: nothing changed)\n", file,
		       uninstall ? "remove" : "add", lib);
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
	printf("%s: %s \"%s\"%s%s\n", file, uninstall ? "removed" : "added", lib,
	       exists ? "; previous content kept in " : "", exists ? backup : "");
	r = 0;
out:
	free(had);
	free(out);
	return r;
}
