/* seccomp_exec.c — runs a program under a seccomp filter, as systemd's SystemCallFilter= and
 * container runtimes do: the filter is installed before execve, so the program (and every
 * library loaded into it) starts under it.
 *
 * Usage: seccomp_exec kill|eperm deny|allow NR[,NR...] -- PROG [ARGS...]
 *   deny: each listed system call kills the process (SECCOMP_RET_KILL_PROCESS) or fails with
 *   EPERM, every other call is allowed; allow: the listed calls are allowed, every other one
 *   kills or fails. x86_64 and aarch64 (the filter checks the arch: any other arch is allowed
 *   through).
 * Exit status 126 if the filter cannot be installed or PROG cannot be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

int main(int argc, char **argv)
{
	static struct sock_filter f[2 * 1024 + 8];
	static long nrs[1024];
	struct sock_fprog prog;
	unsigned action, listed, other, n = 0, i = 0;
	char *s, *end;
	int k = 0;

	if (argc < 6 || strcmp(argv[4], "--") != 0)
		return 126;
	action = !strcmp(argv[1], "kill") ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ERRNO | EPERM;
	listed = !strcmp(argv[2], "allow") ? SECCOMP_RET_ALLOW : action;
	other = !strcmp(argv[2], "allow") ? action : SECCOMP_RET_ALLOW;
	for (s = argv[3]; *s && k < 1024; s = *end ? end + 1 : end) {
		nrs[k++] = strtol(s, &end, 10);
		if (end == s)
			return 126;
	}
	f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (n = 0; n < (unsigned)k; n++) {
		f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[n], 0, 1);
		f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, listed);
	}
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, other);
	prog.len = (unsigned short)i;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("seccomp_exec: seccomp");
		return 126;
	}
	execvp(argv[5], argv + 5);
	perror("seccomp_exec: exec");
	return 126;
}
