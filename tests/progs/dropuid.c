/* dropuid.c — a daemon's start: it gives up root (setresuid/setresgid to nobody) before it has
 * used any CPU to speak of, then works. Under `ldprof run` as root its samples must still
 * reach the collector, whose socket lies in a folder only root can enter.
 *
 * Usage: dropuid MS   (run as root; MS of process CPU time burnt after the drop)
 * stdout: "dropuid: uid=U pid=PID". Exit 0, or 1 when a call failed. */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpuburn.h"

__attribute__((noinline)) void after_drop(long ms)
{
	burn(ms);
}

int main(int argc, char **argv)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
		perror("dropuid");
		return 1;
	}
	after_drop(argc > 1 ? atol(argv[1]) : 300);
	printf("dropuid: uid=%d pid=%d\n", (int)getuid(), (int)getpid());
	return 0;
}
