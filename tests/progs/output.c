/* output.c — stdout, stderr, stdin and exit status pass-through.
 *
 * Exercises: a profiled program's observable behaviour must be byte-for-byte what it is
 * without ldprof. Writes interleaved lines to stdout and stderr (with a NUL byte and invalid
 * UTF-8), 64 KiB more to stdout, copies stdin to stdout with its byte count, then ends as
 * asked.
 *
 * Usage: output [exit CODE | signal SIGNO | abort]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static const char bin[] = "bytes: \x00\xff\xfe\xc3\x28 end\n";
	for (int i = 0; i < 5; i++) {
		printf("out line %d\n", i);
		fflush(stdout);
		fprintf(stderr, "err line %d\n", i);
	}
	fwrite(bin, 1, sizeof(bin) - 1, stdout);
	for (int i = 0; i < 1024; i++)
		printf("%063d\n", i);
	char buf[4096];
	size_t n, total = 0;
	unsigned sum = 0;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		fwrite(buf, 1, n, stdout);
		for (size_t i = 0; i < n; i++)
			sum = sum * 31 + (unsigned char)buf[i];
		total += n;
	}
	printf("stdin: %zu bytes sum=%u\n", total, sum);
	fflush(stdout);
	if (argc > 2 && !strcmp(argv[1], "exit"))
		return atoi(argv[2]);
	if (argc > 2 && !strcmp(argv[1], "signal")) {
		signal(atoi(argv[2]), SIG_DFL);
		raise(atoi(argv[2]));
		return 99;
	}
	if (argc > 1 && !strcmp(argv[1], "abort"))
		abort();
	return 0;
}
