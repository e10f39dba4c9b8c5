/* secure.c — corpus item for tests/test_host.py: the program the test installs setuid-root and
 * with file capabilities (copies in the test's temporary folder, run as nobody).
 *
 * Exercises: ldprof stays off in secure-execution processes (AT_SECURE) even when it is loaded
 * from /etc/ld.so.preload, which ld.so honours for them. It burns about 0.4 s of CPU, enough
 * for ~40 samples at 99 Hz, so a profile would appear if the shim were active.
 * stdout: "secure: at_secure=1 ruid=65534 euid=E cap_eff=HEX sum=N" (deterministic for one
 * copy: euid 0 for the setuid copy, 65534 for the file-capability one).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static const char *cap_eff(void)
{
	static char buf[64];
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	snprintf(buf, sizeof(buf), "?");
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %63s", buf) == 1)
			break;
	fclose(f);
	return buf;
}

__attribute__((noinline)) static uint64_t burn(uint64_t rounds)
{
	volatile uint64_t x = 1;

	for (uint64_t i = 0; i < rounds; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull + (x >> 29);
	return x;
}

int main(void)
{
	uint64_t sum = burn(200000000ull);

	printf("secure: at_secure=%lu ruid=%u euid=%u cap_eff=%s sum=%llu\n", getauxval(AT_SECURE),
	       (unsigned)getuid(), (unsigned)geteuid(), cap_eff(), (unsigned long long)(sum % 1000003));
	return 0;
}
