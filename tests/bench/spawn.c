/* spawn.c — process driver of `make bench` (tests/bench.sh, tests/bench/bench.py).
 *
 * Usage: spawn -r RESULT_FILE TIMEOUT_S ENVSET PROG [ARGS...]
 *   Runs PROG once (fork + execve; stdin/stdout/stderr inherited) with the environment below
 *   and writes "WALL_NS CPU_US MAXRSS_KIB WAIT_STATUS HUNG" to RESULT_FILE, where CPU is the
 *   child's user+sys and MAXRSS its ru_maxrss from wait4. fork, not vfork: the kernel counts
 *   the RSS of the memory a child had before execve into its ru_maxrss, and a vfork child
 *   shares its parent's (a Python parent adds ~12 MiB); a fork child of this small program
 *   starts with almost none. A run still going after TIMEOUT_S is killed and HUNG is 1.
 *   Exit status 0 when the result was written.
 *
 * Usage: spawn ROUNDS PROG ENVSET [ENVSET...]
 *   Each ENVSET is a space-separated list of NAME=VALUE added to the environment ("" = none).
 *   The inherited environment is used without LD_PRELOAD and without any LDPROF_* variable,
 *   unless the ENVSET's first word is "+inherit" (spawn runs under `ldprof run`, which set them).
 *   Each round runs PROG once per ENVSET (paired, interleaved: A C B, B A C, ...: the order is
 *   shuffled each round, with a fixed seed, so that no set always runs first or always after
 *   the same other set — running after an active profiler's exit costs a little),
 *   with posix_spawn + waitpid, timed with clock_gettime(CLOCK_MONOTONIC) around both.
 * stdout: one line per round, the nanoseconds of each ENVSET's run separated by spaces, in the
 * order of the arguments.
 * Exit status 1 (with a message on stderr) if a run fails to start or exits non-zero: the
 * benchmark must not time a program that misbehaves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAXSETS 12

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* environ minus LD_PRELOAD and LDPROF_* (unless set starts with "+inherit"), plus the words of
 * set (which is modified). */
static char **make_env(char *set)
{
	size_t n = 0;
	int inherit = strncmp(set, "+inherit", 8) == 0 && (set[8] == ' ' || !set[8]);
	while (environ[n])
		n++;
	char **env = calloc(n + strlen(set) / 2 + 2, sizeof(char *));
	size_t k = 0;
	if (!env)
		exit(1);
	if (inherit)
		set += set[8] ? 9 : 8;
	for (size_t i = 0; i < n; i++)
		if (inherit || (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 && strncmp(environ[i], "LDPROF_", 7) != 0))
			env[k++] = environ[i];
	for (char *save = NULL, *w = strtok_r(set, " ", &save); w; w = strtok_r(NULL, " ", &save))
		env[k++] = w;
	env[k] = NULL;
	return env;
}

static volatile sig_atomic_t alarmed;
static void on_alarm(int sig) { (void)sig; alarmed = 1; }

static int run_once(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: spawn -r RESULT_FILE TIMEOUT_S ENVSET PROG [ARGS...]\n");
		return 2;
	}
	const char *result = argv[2];
	unsigned timeout = (unsigned)atoi(argv[3]);
	char **env = make_env(argv[4]);
	char **pargv = argv + 5;
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: wait4 returns EINTR */
	sigaction(SIGALRM, &sa, NULL);

	int64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("spawn: fork");
		return 1;
	}
	if (pid == 0) {
		execve(pargv[0], pargv, env);
		fprintf(stderr, "spawn: cannot run %s: %s\n", pargv[0], strerror(errno));
		_exit(127);
	}
	alarm(timeout);
	int st, hung = 0;
	struct rusage ru;
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("spawn: wait4");
			return 1;
		}
		if (alarmed && !hung) {
			hung = 1;
			kill(pid, SIGKILL);
		}
	}
	int64_t t1 = now_ns();
	alarm(0);
	FILE *f = fopen(result, "w");
	if (!f) {
		perror("spawn: result file");
		return 1;
	}
	fprintf(f, "%lld %lld %ld %d %d\n", (long long)(t1 - t0),
		(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
			(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
		ru.ru_maxrss, st, hung);
	return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-r") == 0)
		return run_once(argc, argv);
	if (argc < 4 || argc - 3 > MAXSETS) {
		fprintf(stderr, "usage: spawn ROUNDS PROG ENVSET [ENVSET...] (at most %d sets)\n", MAXSETS);
		return 2;
	}
	long rounds = atol(argv[1]);
	char *prog = argv[2];
	int nsets = argc - 3;
	char **envs[MAXSETS];
	for (int s = 0; s < nsets; s++)
		envs[s] = make_env(argv[3 + s]);
	char *pargv[] = {prog, NULL};
	int64_t ns[MAXSETS];
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (long r = 0; r < rounds; r++) {
		int order[MAXSETS];
		for (int j = 0; j < nsets; j++)
			order[j] = j;
		for (int j = nsets - 1; j > 0; j--) { /* Fisher-Yates, fixed seed: reproducible */
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			int k = (int)(rng % (uint64_t)(j + 1)), tmp = order[j];
			order[j] = order[k];
			order[k] = tmp;
		}
		for (int j = 0; j < nsets; j++) {
			int s = order[j];
			pid_t pid;
			int st;
			int64_t t0 = now_ns();
			int e = posix_spawn(&pid, prog, NULL, NULL, pargv, envs[s]);
			if (e != 0) {
				fprintf(stderr, "spawn: cannot start %s: %s\n", prog, strerror(e));
				return 1;
			}
			while (waitpid(pid, &st, 0) < 0)
				if (errno != EINTR) {
					perror("spawn: waitpid");
					return 1;
				}
			int64_t t1 = now_ns();
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "spawn: %s with env set %d (\"%s\") ended with status 0x%x\n",
					prog, s, argv[3 + s], st);
				return 1;
			}
			ns[s] = t1 - t0;
		}
		for (int s = 0; s < nsets; s++)
			printf("%s%lld", s ? " " : "", (long long)ns[s]);
		printf("\n");
	}
	return 0;
}
