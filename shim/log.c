/* SPDX-License-Identifier: MIT
 *
 * log.c — append-only log lines for the core. Each line is written with one write() on a
 * descriptor opened O_APPEND for that line, so lines of several processes sharing a file do
 * not interleave and no descriptor of ours stays open in the program.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static char log_path[4096];
static int log_level = LDP_LOG_WARN;

void ldp_log_init(const char *path, int level)
{
	log_level = level;
	snprintf(log_path, sizeof(log_path), "%s", path ? path : "");
}

void ldp_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char line[1024];
	va_list ap;
	int n, fd;

	if (level < log_level || !log_path[0])
		return;
	n = snprintf(line, sizeof(line), "ldprof[%d]: %s: ", getpid(), names[level & 3]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* nothing sensible to do */
	}
	close(fd);
}
