/* abi32.c — a 32-bit program for the tests of the $LIB line (tests/test_host.py,
 * tests/test_packaging.py), built there with gcc -m32 (Debian's gcc-multilib; runs with
 * libc6-i386's /lib/ld-linux.so.2).
 *
 * Exercises: a 32-bit program on a host where /etc/ld.so.preload names ldprof behaves as
 * without it: its loader finds the 32-bit stub, so it prints nothing of its own.
 * stdout: "abi32: pointer=4 at_secure=N ruid=R euid=E"; stderr: "abi32: a line on stderr";
 * exit status 3 (so a changed status shows). With the argument "wait", it first reads stdin
 * to its end (tests/test_status.py looks at it meanwhile).
 */
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "wait"))
		while (getchar() != EOF)
			;
	printf("abi32: pointer=%zu at_secure=%lu ruid=%u euid=%u\n", sizeof(void *), getauxval(AT_SECURE),
	       (unsigned)getuid(), (unsigned)geteuid());
	fflush(stdout);
	fprintf(stderr, "abi32: a line on stderr\n");
	return 3;
}
