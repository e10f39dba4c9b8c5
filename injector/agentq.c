/* SPDX-License-Identifier: MIT
 *
 * agentq.c — the CLI's status question to ldprof-agent (see agentq.h).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "agentq.h"
#include "config.h"

#define WAIT_MS 1000

int ldp_agentq_status(const char *path, char *buf, size_t len)
{
	static const char ok[] = LDP_AGENT_REPLY_OK "\n";
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct pollfd p;
	ssize_t n;
	int fd, r;

	if (len < sizeof(ok) || strlen(path) >= sizeof(a.sun_path))
		return -EINVAL;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		r = -errno;
		goto out;
	}
	if (send(fd, LDP_AGENT_REQ_STATUS, strlen(LDP_AGENT_REQ_STATUS), MSG_NOSIGNAL) < 0) {
		r = -errno;
		goto out;
	}
	p.fd = fd;
	p.events = POLLIN;
	r = poll(&p, 1, WAIT_MS);
	if (r <= 0) {
		r = r < 0 ? -errno : -ETIMEDOUT;
		goto out;
	}
	n = recv(fd, buf, len - 1, 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	buf[n] = 0;
	if ((size_t)n < sizeof(ok) - 1 || memcmp(buf, ok, sizeof(ok) - 1)) {
		r = -EPROTO;
		goto out;
	}
	memmove(buf, buf + sizeof(ok) - 1, (size_t)n - (sizeof(ok) - 1) + 1);
	r = 0;
out:
	close(fd);
	return r;
}

void ldp_agentq_host_socket(const char *root, char *out, size_t len, int *rings)
{
	extern char **environ;
	static struct ldp_config c;
	char cfg[PATH_MAX + 32];

	ldp_config_defaults(&c);
	if (!root[0]) {
		ldp_config_load(&c, environ, NULL, NULL);
	} else {
		snprintf(cfg, sizeof(cfg), "%s%s", root, LDP_CONFIG_DEFAULT_PATH);
		ldp_config_load_file(&c, cfg, 1, NULL, NULL);
	}
	if ((size_t)snprintf(out, len, "%s%s", c.agent_socket[0] ? root : "", c.agent_socket) >= len)
		snprintf(out, len, "(too long)");
	*rings = c.agent_rings;
}
