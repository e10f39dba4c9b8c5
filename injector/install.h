/* SPDX-License-Identifier: MIT
 *
 * install.h — `ldprof install` and `ldprof uninstall`: our line in ROOT/etc/ld.so.preload.
 */
#ifndef LDP_INSTALL_H
#define LDP_INSTALL_H

#include <stddef.h>

/* argv[0] is "install" or "uninstall". Returns the process exit code. */
int ldp_install_main(int argc, char **argv);

/* The edit itself, for tests: the new content of a preload file. `had` is the old content
 * (len bytes, may be NULL when the file does not exist). Returns the number of lines added
 * (install) or removed (uninstall), and a malloc()ed result in *ret (NULL when unchanged). */
int ldp_preload_edit(const char *had, size_t len, const char *lib, int uninstall, char **ret,
		     size_t *ret_len);

/* Whether one line of ld.so.preload (n bytes, without its '\n') is ours, as install and
 * uninstall recognise it: a path ending in /libldprof.so, alone on its line (blanks around).
 * For `ldprof status`. */
int ldp_preload_line_is_ours(const char *line, size_t n);

/* The shim next to this program: bin/../lib/libldprof.so (build tree) or
 * bin/../lib/ldprof/libldprof.so (installed under a PREFIX). buf gets the path (not resolved).
 * Returns 0 or -ENOENT. */
int ldp_shim_near_exe(char *buf, size_t len);

#endif
