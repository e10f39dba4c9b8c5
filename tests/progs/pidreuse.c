/* pidreuse.c — a client of ldprof-agent that asks on behalf of a process that has exited and
 * whose pid now belongs to another: what a kernel without SO_PEERPIDFD must not let through.
 *
 * P connects to SOCK and hands the connection to its child C; P exits and is reaped; a victim
 * V (VICTIM ARGS..., e.g. /bin/sleep 60) is made with P's pid (clone3 with set_tid: root in
 * the host's PID namespace); then C sends REQUEST on P's connection. Prints
 *   victim PID
 *   reply: TEXT            (what the agent answered; empty when nothing)
 * then waits for its stdin to close, and kills V. Tries again (up to 20 times) when another
 * process took P's pid first.
 *
 * Usage: pidreuse SOCK REQUEST VICTIM [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* C: waits for the go byte on in, sends req on s, writes the reply (or nothing) to out. */
static void child(int s, int in, int out, const char *req)
{
	char buf[256], go;
	struct pollfd p = { .fd = s, .events = POLLIN };
	ssize_t n = 0;

	if (read(in, &go, 1) != 1)
		_exit(1);
	if (send(s, req, strlen(req), MSG_NOSIGNAL) >= 0 && poll(&p, 1, 1000) == 1)
		n = recv(s, buf, sizeof(buf), 0);
	if (write(out, buf, n > 0 ? (size_t)n : 0) < 0)
		_exit(1);
	_exit(0);
}

static int attempt(const char *sock, const char *req, char **victim)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int go[2], back[2], s, status;
	pid_t p, v;
	struct clone_args ca;
	char reply[256] = "";
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (pipe(go) < 0 || pipe(back) < 0)
		return -1;
	p = fork();
	if (p == 0) {
		s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(2);
		if (fork() == 0)
			child(s, go[0], back[1], req);
		_exit(0); /* P dies; C keeps its connection */
	}
	if (p < 0 || waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	close(go[0]);
	close(back[1]);
	/* V gets P's pid */
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&p;
	ca.set_tid_size = 1;
	v = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (v == 0) {
		execvp(victim[0], victim);
		_exit(127);
	}
	if (v < 0) {
		int e = errno;
		close(go[1]);
		close(back[0]);
		return e == EEXIST ? 1 : -1;
	}
	usleep(100 * 1000); /* V has exec'd: the agent sees the victim program */
	if (write(go[1], "g", 1) != 1)
		return -1;
	n = read(back[0], reply, sizeof(reply) - 1);
	reply[n > 0 ? n : 0] = 0;
	printf("victim %d\nreply: %s\n", (int)v, reply);
	fflush(stdout);
	while (read(0, reply, sizeof(reply)) > 0)
		;
	kill(v, SIGKILL);
	waitpid(v, &status, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: pidreuse SOCK REQUEST VICTIM [ARGS...]\n");
		return 2;
	}
	for (int i = 0; i < 20; i++) {
		int r = attempt(argv[1], argv[2], argv + 3);
		if (r == 0)
			return 0;
		if (r < 0) {
			fprintf(stderr, "pidreuse: %s\n", strerror(errno));
			return 1;
		}
	}
	fprintf(stderr, "pidreuse: the pid was taken by another process 20 times\n");
	return 1;
}
