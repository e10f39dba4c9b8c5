/* selfview.c — what a program can see of itself: its threads, descriptors and mapped files.
 *
 * Exercises: "nothing of ours in the process" (tests/test_ring.py). It burns MS ms of CPU
 * first, so that a sampler has taken samples (and made whatever it makes) by then, then prints
 * the number of its threads (/proc/self/task), its open descriptors (/proc/self/fd, less the
 * one reading it) with where they point, and the files mapped into it (/proc/self/maps,
 * sorted, unique), one per line.
 *
 * Usage: selfview [MS]   (default 300)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile uint64_t sink;

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 300;
	int64_t end = cpu_ns() + ms * 1000000LL;
	char *files[4096], line[4096], link[4096];
	int n = 0, threads = 0;
	struct dirent *de;
	DIR *d;
	FILE *f;

	while (cpu_ns() < end)
		for (int i = 0; i < 100000; i++)
			sink += (uint64_t)i * i;
	d = opendir("/proc/self/task");
	while (d && (de = readdir(d)))
		threads += de->d_name[0] != '.';
	if (d)
		closedir(d);
	printf("threads %d\n", threads);
	d = opendir("/proc/self/fd");
	while (d && (de = readdir(d))) {
		char path[300];
		ssize_t k;
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		link[k > 0 ? k : 0] = 0;
		/* a pipe or socket's inode differs run to run; its kind does not */
		if (strncmp(link, "pipe:", 5) == 0 || strncmp(link, "socket:", 7) == 0)
			*strchr(link, ':') = 0;
		printf("fd %s %s\n", de->d_name, link);
	}
	if (d)
		closedir(d);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f) && n < 4096) {
		char *p = strchr(line, '/');
		if (!p)
			continue;
		p[strcspn(p, "\n")] = 0;
		files[n++] = strdup(p);
	}
	if (f)
		fclose(f);
	qsort(files, (size_t)n, sizeof(files[0]), cmp);
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(files[i], files[i - 1]))
			printf("map %s\n", files[i]);
	return 0;
}
