/* SPDX-License-Identifier: MIT
 *
 * test_peer.c — common/peer.c: the peer of a unix socket is the process that connected (or
 * made the pair); without SO_PEERPIDFD (a seccomp filter makes getsockopt fail for that
 * option, as kernels before 6.5 do) it is the process at that pid only while it holds the
 * other end. Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

#include "check.h"

/* getsockopt(..., SO_PEERPIDFD (77), ...) fails with ENOPROTOOPT from now on. */
static int no_peerpidfd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 77, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOPROTOOPT),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void checks(enum ldp_peer_how want)
{
	enum ldp_peer_how how = 99;
	int sv[2], pidfd = -1, r, status;
	pid_t pid = 0, child;
	uid_t uid = 99;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) {
		CHECK(0, "socketpair: %s", strerror(errno));
		return;
	}
	r = ldp_peer_get(sv[0], &pid, &uid, &pidfd, &how);
	CHECK(r == 0 && pid == getpid() && uid == getuid() && pidfd >= 0 && how == want,
	      "the pair's maker, holding the other end: r %d pid %d how %d", r, (int)pid, (int)how);
	if (pidfd >= 0)
		close(pidfd);

	/* The other end handed to a child and closed here: only the pidfd kernel still sees this
	 * process as the peer (it is alive and made the pair); without it, the process at the pid
	 * no longer holds the connection. */
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	close(sv[1]);
	r = ldp_peer_get(sv[0], &pid, &uid, &pidfd, &how);
	if (want == LDP_PEER_PIDFD)
		CHECK(r == 0 && pid == getpid(), "SO_PEERPIDFD: the maker, alive: r %d", r);
	else
		CHECK(r == -ESRCH, "no SO_PEERPIDFD: the maker no longer holds it: r %d", r);
	if (r == 0 && pidfd >= 0)
		close(pidfd);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	close(sv[0]);
}

int main(void)
{
	pid_t child;
	int status = -1;

	checks(LDP_PEER_PIDFD);
	fflush(stdout);
	child = fork();
	if (child == 0) {
		if (no_peerpidfd() < 0) {
			printf("FAIL seccomp: %s\n", strerror(errno));
			_exit(1);
		}
		checks(LDP_PEER_HOLDER);
		printf("(without SO_PEERPIDFD) %d passed, %d failed\n", passed, failed);
		fflush(stdout);
		_exit(failed != 0);
	}
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "without SO_PEERPIDFD: status %#x", status);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
