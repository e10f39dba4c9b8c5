/* selfseccomp.c — a profiled program that installs a seccomp filter on itself midway, as sshd,
 * chronyd -F 1 and other libseccomp users do. The filter kills the process for the calls a
 * profiler would make from then on (files at exit, timers, signal handlers, its thread's
 * calls) and lets the program's own through.
 *
 * Usage: selfseccomp MS prctl|syscall|probe
 *   prctl    burn MS, prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ...), burn MS
 *   syscall  the same through syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, ...), as
 *            libseccomp does on today's kernels
 *   probe    libseccomp's probe, syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL): EFAULT,
 *            no filter; nothing changes
 * stdout: "selfseccomp: <mode> = <0 or errno name>", then "selfseccomp: done pid=PID".
 * The CPU is burnt in burn_before and burn_after.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpuburn.h"

__attribute__((noinline)) void burn_before(long ms) { burn(ms); }
__attribute__((noinline)) void burn_after(long ms) { burn(ms); }

static const long killed[] = {
	SYS_open, SYS_openat, SYS_mkdir, SYS_mkdirat, SYS_rename, SYS_renameat, SYS_renameat2,
	SYS_link, SYS_linkat, SYS_unlink, SYS_unlinkat, SYS_fsync, SYS_fdatasync, SYS_fchmod,
	SYS_timer_create, SYS_timer_settime, SYS_timer_delete, SYS_rt_sigaction, SYS_socket,
	SYS_connect, SYS_process_vm_readv, SYS_tgkill, SYS_getdents64, SYS_clone, SYS_clone3,
	SYS_nanosleep, SYS_futex, SYS_newfstatat, SYS_fstat, SYS_statx, SYS_mincore, SYS_pipe2,
};

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

static const char *result(long r)
{
	return r == 0 ? "0" : errno == EFAULT ? "EFAULT" : errno == EINVAL ? "EINVAL" : strerror(errno);
}

int main(int argc, char **argv)
{
	struct sock_filter f[2 * 64 + 8];
	struct sock_fprog prog;
	unsigned i = 0;
	long ms, r;

	if (argc < 3)
		return 2;
	ms = atol(argv[1]);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (size_t k = 0; k < sizeof(killed) / sizeof(killed[0]); k++) {
		f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)killed[k], 0, 1);
		f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)i;
	prog.filter = f;

	/* stdout set up (its fstat) before the filter */
	printf("selfseccomp: start\n");
	fflush(stdout);
	burn_before(ms);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return 2;
	if (!strcmp(argv[2], "prctl"))
		r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
	else if (!strcmp(argv[2], "syscall"))
		r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	else
		r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, NULL);
	printf("selfseccomp: %s = %s\n", argv[2], result(r));
	fflush(stdout);
	burn_after(ms);
	printf("selfseccomp: done pid=%d\n", (int)getpid());
	return 0;
}
