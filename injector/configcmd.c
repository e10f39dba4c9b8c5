/* SPDX-License-Identifier: MIT
 *
 * configcmd.c — `ldprof config check [--show] [FILE]`.
 *
 * Reads FILE (default: $LDPROF_CONFIG, else /etc/ldprof/ldprof.ini) and then the LDPROF_*
 * environment exactly as the shim does at start-up, prints every problem with its place and a
 * hint, and with --show the effective configuration as an INI file (header values masked).
 * The shim stays off on any error; this command is how an operator finds out why, before
 * installing. It never changes anything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "configcmd.h"

extern char **environ;

struct counts {
	int errors, warnings;
};

static void print_problem(void *ctx, const struct ldp_config_problem *p)
{
	struct counts *n = ctx;
	int err = p->severity == LDP_CONFIG_ERROR;

	if (err)
		n->errors++;
	else
		n->warnings++;
	if (p->hint)
		fprintf(stderr, "%s: %s: %s (hint: %s)\n", p->where, err ? "error" : "warning",
			p->what, p->hint);
	else
		fprintf(stderr, "%s: %s: %s\n", p->where, err ? "error" : "warning", p->what);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ldprof config check [--show] [FILE]\n"
		"\n"
		"Reads FILE (default: $LDPROF_CONFIG, else " LDP_CONFIG_DEFAULT_PATH ") and the\n"
		"LDPROF_* environment as the profiler does, and prints every problem found.\n"
		"--show  also print the effective configuration (header values masked)\n"
		"Exit status: 0 no error, 1 errors found, 2 bad usage.\n"
		"example: ldprof config check --show /etc/ldprof/ldprof.ini\n");
}

/* Says which variables are applied on top of the file, as the shim would. */
static void note_environment(void)
{
	const char *disabled = getenv("LDPROF_DISABLED");
	int n = 0;

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strncmp(*e, "LDPROF_", 7) || !eq || !strncmp(*e, "LDPROF_CONFIG=", 14) ||
		    !strncmp(*e, "LDPROF_DISABLED=", 16))
			continue;
		fprintf(stderr, "%s %.*s", n++ ? "," : "environment: applying", (int)(eq - *e), *e);
	}
	if (n)
		fprintf(stderr, " (as the profiler does)\n");
	if (disabled && *disabled)
		fprintf(stderr, "environment: LDPROF_DISABLED=%s: the profiler stays off whatever "
			"this configuration says\n", disabled);
}

int ldp_cmd_config(int argc, char **argv)
{
	struct counts n = { 0, 0 };
	struct ldp_config *c = NULL;
	const char *path = NULL, *env;
	int show = 0, explicit = 1, dashdash = 0, r, i, rc;
	struct stat st;

	if (argc < 2 || strcmp(argv[1], "check")) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
				  !strcmp(argv[1], "help"))) {
			usage(stdout);
			return 0;
		}
		if (argc >= 2)
			fprintf(stderr, "ldprof config: unknown command \"%s\"\n", argv[1]);
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!dashdash && !strcmp(a, "--show")) {
			show = 1;
		} else if (!dashdash && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			usage(stdout);
			return 0;
		} else if (!dashdash && !strcmp(a, "--")) {
			dashdash = 1;
		} else if (!dashdash && a[0] == '-') {
			fprintf(stderr, "ldprof config check: unknown option \"%s\"\n", a);
			usage(stderr);
			return 2;
		} else if (!path) {
			path = a;
		} else {
			fprintf(stderr, "ldprof config check: one FILE at most\n");
			usage(stderr);
			return 2;
		}
	}
	/* as the shim: $LDPROF_CONFIG must exist when set; the default file may be absent */
	env = getenv("LDPROF_CONFIG");
	if (!path && env && *env) {
		path = env;
	} else if (!path) {
		path = LDP_CONFIG_DEFAULT_PATH;
		explicit = 0;
	}

	c = malloc(sizeof(*c)); /* ~30 KiB */
	if (!c) {
		fprintf(stderr, "ldprof config check: out of memory\n");
		return 1;
	}
	ldp_config_defaults(c);
	if (!explicit && stat(path, &st) < 0 && errno == ENOENT) {
		fprintf(stderr, "no config file at %s, defaults apply\n", path);
		r = 0;
	} else {
		r = ldp_config_load_file(c, path, !explicit, print_problem, &n);
	}
	note_environment();
	ldp_config_apply_env(c, environ, print_problem, &n);
	if (show) {
		ldp_config_print(c, stdout, 0);
		fflush(stdout);
	}
	if (n.errors || r < 0) {
		fprintf(stderr, "ldprof config check: %d error%s, %d warning%s\n", n.errors,
			n.errors == 1 ? "" : "s", n.warnings, n.warnings == 1 ? "" : "s");
		rc = 1;
	} else {
		fprintf(stderr, "ldprof config check: %s: ok%s\n", path,
			n.warnings ? " (with warnings)" : "");
		rc = 0;
	}
	free(c);
	return rc;
}
