/* forkexec.c — fork and exec chains.
 *
 * Exercises: profiling across fork (the child gets its own timers and its own profile file)
 * and exec (the new image is profiled in its own file; no SIGPROF pending across exec).
 * The parent forks a child and burns CPU in parent_burn; the child burns CPU in child_burn,
 * then execs `burn` (next to this binary) which burns in burn_loop.
 *
 * Usage: forkexec [HOW] [MS]
 *   HOW = how the child starts `burn`: execve (default), execv, execvp, execvpe, execl, execlp,
 *         execle, fexecve, execveat (raw syscall), posix_spawn, vfork, system
 *         (posix_spawn/vfork/system: the child never runs our code; the spawned `burn` must
 *         still be profiled on its own), or burnfork: the parent burns 3 * MS in
 *         pre_fork_burn before it forks, and the child exits after child_burn
 *   MS  = CPU ms for each of the three burners (default 400)
 * stdout: "forkexec: parent=P child=C how=HOW" then burn's own line, then
 *         "forkexec: child exited status=0". Exit 0 when everything succeeded.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* always inlined, so each burner has its own frame (a plain call would be a tail call,
 * leaving no frame of the burner on the stack) and its own constant (so identical-code
 * folding cannot merge the burners into one symbol) */
static inline __attribute__((always_inline)) void spin(long ms, uint64_t salt)
{
	int64_t end = thread_cpu_ns() + ms * 1000000;
	uint64_t x = sink | 1;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ull + salt;
	sink = x;
}

__attribute__((noinline)) void parent_burn(long ms) { spin(ms, 1442695040888963407ull); }
__attribute__((noinline)) void child_burn(long ms) { spin(ms, 3037000493ull); }
__attribute__((noinline)) void pre_fork_burn(long ms) { spin(ms, 6364136223846793005ull); }

static char burn_path[PATH_MAX], burn_dir[PATH_MAX], ms_arg[32];

static int start_burn(const char *how)
{
	char *argv[] = { "burn", ms_arg, NULL };
	if (!strcmp(how, "execve"))
		execve(burn_path, argv, environ);
	else if (!strcmp(how, "execv"))
		execv(burn_path, argv);
	else if (!strcmp(how, "execvp") || !strcmp(how, "execvpe") || !strcmp(how, "execlp")) {
		/* PATH search: put our own folder first */
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s:/usr/bin:/bin", burn_dir);
		setenv("PATH", path, 1);
		if (!strcmp(how, "execvp"))
			execvp("burn", argv);
		else if (!strcmp(how, "execvpe"))
			execvpe("burn", argv, environ);
		else
			execlp("burn", "burn", ms_arg, (char *)NULL);
	} else if (!strcmp(how, "execl"))
		execl(burn_path, "burn", ms_arg, (char *)NULL);
	else if (!strcmp(how, "execle"))
		execle(burn_path, "burn", ms_arg, (char *)NULL, environ);
	else if (!strcmp(how, "fexecve")) {
		int fd = open(burn_path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			fexecve(fd, argv, environ);
	} else if (!strcmp(how, "execveat"))
		syscall(SYS_execveat, AT_FDCWD, burn_path, argv, environ, 0);
	else {
		fprintf(stderr, "forkexec: unknown HOW %s\n", how);
		_exit(2);
	}
	perror("forkexec: exec");
	_exit(127);
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "execve";
	long ms = argc > 2 ? atol(argv[2]) : 400;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	snprintf(burn_dir, sizeof(burn_dir), "%s", dirname(self));
	snprintf(burn_path, sizeof(burn_path), "%s/burn", burn_dir);
	snprintf(ms_arg, sizeof(ms_arg), "%ld", ms);
	fflush(stdout);

	pid_t child;
	int status;
	if (!strcmp(how, "posix_spawn") || !strcmp(how, "vfork") || !strcmp(how, "system")) {
		/* the spawning process burns first so it has samples of its own */
		child_burn(ms);
		char *av[] = { "burn", ms_arg, NULL };
		if (!strcmp(how, "posix_spawn")) {
			if (posix_spawn(&child, burn_path, NULL, NULL, av, environ) != 0)
				return 1;
		} else if (!strcmp(how, "vfork")) {
			child = vfork();
			if (child == 0) {
				execve(burn_path, av, environ);
				_exit(127);
			}
		} else {
			char cmd[PATH_MAX + 64];
			snprintf(cmd, sizeof(cmd), "exec '%s' %s", burn_path, ms_arg);
			printf("forkexec: parent=%d child=sh how=%s\n", (int)getpid(), how);
			fflush(stdout);
			parent_burn(ms);
			status = system(cmd);
			printf("forkexec: child exited status=%d\n", status);
			return status != 0;
		}
		printf("forkexec: parent=%d child=%d how=%s\n", (int)getpid(), (int)child, how);
		fflush(stdout);
		parent_burn(ms);
	} else if (!strcmp(how, "burnfork")) {
		/* Long enough before the fork that the parent has samples both drained into its
		 * window and still in the sampler's table; the child does not exec. */
		pre_fork_burn(3 * ms);
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0) {
			child_burn(ms);
			exit(0);
		}
		printf("forkexec: parent=%d child=%d how=%s\n", (int)getpid(), (int)child, how);
		fflush(stdout);
		parent_burn(ms);
	} else {
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0) {
			child_burn(ms);
			start_burn(how);
		}
		printf("forkexec: parent=%d child=%d how=%s\n", (int)getpid(), (int)child, how);
		fflush(stdout);
		parent_burn(ms);
	}
	if (waitpid(child, &status, 0) != child)
		return 1;
	printf("forkexec: child exited status=%d\n", status);
	return status != 0;
}
