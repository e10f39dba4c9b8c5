/* agentfds.c — a short program for the agent-registration tests (tests/test_agentreq.py).
 *
 * Exercises: the shim's questions to ldprof-agent leave nothing behind in the program: no
 * descriptor, no signal, no changed output. It optionally takes SIGPROF (so an active shim
 * steps aside and asks the agent to sample it), then lists the descriptors open in main(),
 * whose output must be the same with and without ldprof.
 *
 * Usage: agentfds [sigaction | signal | in-handler]
 *   sigaction   install a SIGPROF handler with sigaction() before listing
 *   signal      the same with signal()
 *   in-handler  install it from inside a SIGUSR1 handler (the hook then runs in a handler)
 * stdout: "sigprof: none|installed\nfirst free: 3\nfds: 0 1 2\n": the number open() gives it
 * first (ldprof must not shift it), then the descriptors open (the list's own directory
 * descriptor left out); exit status 0, or 1 when something failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t profs, installed;

static void on_prof(int sig)
{
	profs++;
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prof;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	installed = sigaction(SIGPROF, &sa, NULL) == 0;
}

static void on_usr1(int sig)
{
	install();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct dirent *de;
	DIR *d;
	int fd;

	if (!strcmp(mode, "sigaction"))
		install();
	else if (!strcmp(mode, "signal"))
		installed = signal(SIGPROF, on_prof) != SIG_ERR;
	else if (!strcmp(mode, "in-handler")) {
		signal(SIGUSR1, on_usr1);
		raise(SIGUSR1);
	}
	printf("sigprof: %s\n", installed ? "installed" : "none");
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	printf("first free: %d\n", fd);
	if (fd >= 0)
		close(fd);
	d = opendir("/proc/self/fd");
	if (!d)
		return 1;
	printf("fds:");
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			printf(" %s", de->d_name);
	printf("\n");
	closedir(d);
	return 0;
}
