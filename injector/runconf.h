/* SPDX-License-Identifier: MIT
 *
 * runconf.h — the settings `ldprof run` gives a CMD that runs as root. A root process takes no
 * place (endpoint, log file, sockets, credentials) from its environment, which may be a user's
 * (common/config.h), so `run -o DIR` as root writes the effective configuration with its
 * output folder into a config file of root's and names it in LDPROF_CONFIG. Never writes
 * anywhere but a fresh folder of its own under /tmp.
 */
#ifndef LDP_RUNCONF_H
#define LDP_RUNCONF_H

#include <stddef.h>

/* The configuration CMD would read (LDPROF_CONFIG or the default file, then the environment)
 * with [output] endpoint and [log] file replaced, written to a new root-owned file (mode 0644,
 * 0600 when it holds headers) in a new root-owned folder (0755); its path into path. Returns 0,
 * 1 when the configuration has errors, 2 when its file or folder may be written by others than
 * root (for both, nothing is written: CMD reports it and stays off), or -errno. */
int ldp_runconf_write(const char *endpoint, const char *log_file, char *path, size_t len);

/* 1 when the config file a root CMD would read (LDPROF_CONFIG, else the default) exists and
 * it or its folder may be written by others than root: the shim then keeps CMD off. */
int ldp_runconf_untrusted(void);

/* Removes the file and its folder (after CMD has exited). */
void ldp_runconf_remove(const char *path);

#endif
