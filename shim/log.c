/* SPDX-License-Identifier: MIT
 *
 * log.c — append-only log lines for the core. Each line is written with one write() on a
 * descriptor opened O_APPEND for that line, so lines of several processes sharing a file do
 * not interleave and no descriptor of ours stays open in the program. The path "syslog" sends
 * each line as one datagram to /dev/log on a socket opened for it (syslog(3) would keep a
 * descriptor open in the program and take libc's syslog lock).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileio.h"
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
	static const int prio[] = { 7, 6, 4, 3 }; /* LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR */
	char msg[1024], line[1024], pri[16];
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	va_list ap;
	size_t n;
	int fd;

	if (level < log_level || !log_path[0])
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one line, whatever a path, a setting or a server's answer holds; a FIFO planted at the
	 * log's path must not hold the program (at exit, in open()) */
	if (strcmp(log_path, "syslog")) {
		ldp_log_line(log_path, names[level & 3], msg);
		return;
	}
	snprintf(pri, sizeof(pri), "<%d>", 8 + prio[level & 3]); /* facility user */
	n = ldp_log_format(line, sizeof(line), pri, names[level & 3], msg);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, line, n - 1, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* no syslog daemon: nothing sensible to do */
	}
	close(fd);
}
