/* SPDX-License-Identifier: MIT
 *
 * runconf.c — the config file `ldprof run` writes for a CMD that runs as root (runconf.h).
 * The shim trusts a config file in a root process only when the file and its folder are
 * root's and nobody else may write them: mkdtemp() gives a folder nobody else can have made or
 * swapped, and the file is made with O_EXCL inside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "runconf.h"

#define RUNCONF_NAME "ldprof.ini"

extern char **environ;

static void ignore_problem(void *ctx, const struct ldp_config_problem *p)
{
	(void)ctx;
	(void)p;
}

/* What ldp_config_load() does, but the file is read once, by descriptor, and only when it and
 * its folder are root's alone, as the shim requires of a root process's config file: copied
 * into a file root trusts, a file a user could write would speak for root. Returns 0, the
 * number of errors, -EPERM for a file root must not trust, or another -errno. c NULL: only
 * whether the file may be trusted (0 or -EPERM, or -errno), nothing read. */
static int load_trusted(struct ldp_config *c)
{
	const char *file = getenv("LDPROF_CONFIG");
	char folder[PATH_MAX], *buf = NULL, *slash;
	struct stat st, dst;
	ssize_t n = 0, k;
	int fd, r, named = file && *file;

	if (c)
		ldp_config_defaults(c);
	if (!named)
		file = LDP_CONFIG_DEFAULT_PATH;
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = errno == ENOENT && !named ? 0 : -errno;
		goto env;
	}
	snprintf(folder, sizeof(folder), "%s", file);
	slash = strrchr(folder, '/');
	if (slash)
		slash[slash == folder] = 0; /* "/x.ini" is in "/" */
	if (fstat(fd, &st) < 0 || stat(slash ? folder : ".", &dst) < 0) {
		r = -errno;
		goto out;
	}
	r = -EPERM;
	if (!S_ISREG(st.st_mode) || !ldp_root_only(&st) || !ldp_root_only(&dst))
		goto out;
	r = 0;
	if (!c)
		goto out;
	r = -EFBIG;
	if (st.st_size > (1 << 20) || !(buf = malloc((size_t)st.st_size + 1)))
		goto out;
	while (n < st.st_size && (k = read(fd, buf + n, (size_t)(st.st_size - n))) > 0)
		n += k;
	r = ldp_config_load_buffer(c, file, buf, (size_t)n, ignore_problem, NULL);
out:
	free(buf);
	close(fd);
	if (r != 0 || !c)
		return r;
env:
	return r || !c ? r : ldp_config_apply_env(c, environ, ignore_problem, NULL);
}

int ldp_runconf_write(const char *endpoint, const char *log_file, char *path, size_t len)
{
	static struct ldp_config c, back; /* ~60 KiB each: not on the stack */
	char dir[] = "/tmp/ldprof-run.XXXXXX";
	FILE *f = NULL;
	int fd = -1, r;

	r = load_trusted(&c);
	if (r != 0)
		return r == -EPERM ? 2 : r < 0 ? r : 1;
	if ((size_t)snprintf(c.endpoint, sizeof(c.endpoint), "%s", endpoint) >= sizeof(c.endpoint) ||
	    (size_t)snprintf(c.log_file, sizeof(c.log_file), "%s", log_file) >= sizeof(c.log_file) ||
	    (size_t)snprintf(path, len, "%s/%s", dir, RUNCONF_NAME) >= len)
		return -ENAMETOOLONG;
	if (!mkdtemp(dir))
		return -errno;
	snprintf(path, len, "%s/%s", dir, RUNCONF_NAME);
	/* CMD may drop root and still read its settings; headers may be secrets */
	if (chmod(dir, 0755) < 0)
		goto fail;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, c.nheaders ? 0600 : 0644);
	if (fd < 0)
		goto fail;
	f = fdopen(fd, "w");
	if (!f)
		goto fail;
	fd = -1;
	ldp_config_print(&c, f, 1);
	if (fflush(f) != 0 || ferror(f))
		goto fail;
	fclose(f);
	f = NULL;
	/* What a line of a file cannot hold (over 199 bytes: a long folder name) would make CMD's
	 * configuration differ from ours, or fail: read it back as the shim will. */
	ldp_config_defaults(&back);
	if (ldp_config_load_file(&back, path, 0, ignore_problem, NULL) != 0 ||
	    strcmp(back.endpoint, c.endpoint) || strcmp(back.log_file, c.log_file)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	return 0;
fail:
	r = -errno;
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	ldp_runconf_remove(path);
	return r;
}

int ldp_runconf_untrusted(void)
{
	/* the file's owner and mode say it, before any of it is read: not parsed again */
	return load_trusted(NULL) == -EPERM;
}

void ldp_runconf_remove(const char *path)
{
	char dir[PATH_MAX];
	size_t n = strlen(path), k = sizeof(RUNCONF_NAME);

	if (n <= k || n >= sizeof(dir) || strcmp(path + n - k + 1, RUNCONF_NAME))
		return;
	unlink(path);
	memcpy(dir, path, n - k);
	dir[n - k] = 0;
	rmdir(dir);
}
