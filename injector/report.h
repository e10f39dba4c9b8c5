/* SPDX-License-Identifier: MIT
 *
 * report.h — `ldprof report` and `ldprof diff`: summarize pprof profiles, or compare two sets.
 *
 * Reads every profile named (a folder means its *.pb.gz and *.pb files, sorted by name; the
 * default is ./ldprof-profiles), merges them and prints either the top functions by flat
 * samples, Brendan Gregg's folded stacks, or an SVG flame graph (flame.h). `diff` merges a
 * base set and a new set and prints which functions' shares of all samples changed most.
 * Profiles are untrusted input (see pprof.h).
 */
#ifndef LDP_REPORT_H
#define LDP_REPORT_H

/* argv[0] is "report". Prints to stdout, errors to stderr; returns the process exit code:
 * 0 done, 1 a path or profile could not be read (or none was found), 2 bad usage. */
int ldp_report_main(int argc, char **argv);

/* argv[0] is "diff". The same exit codes. */
int ldp_diff_main(int argc, char **argv);

#endif
