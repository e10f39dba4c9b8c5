/* SPDX-License-Identifier: MIT
 *
 * configcmd.h — `ldprof config check [--show] [FILE]`: read a configuration the way the shim
 * does and say what is wrong with it, line by line.
 */
#ifndef LDP_CONFIGCMD_H
#define LDP_CONFIGCMD_H

/* argv[0] is "config". Problems go to stderr as "WHERE: error: WHAT (hint: HINT)", the
 * effective configuration (--show) to stdout. Returns the process exit code: 0 no error
 * (warnings allowed), 1 an error in the file or the environment, 2 bad usage. */
int ldp_cmd_config(int argc, char **argv);

#endif
