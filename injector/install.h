/* SPDX-License-Identifier: MIT
 *
 * install.h — `ldprof install` and `ldprof uninstall`: our line in ROOT/etc/ld.so.preload.
 */
#ifndef LDP_INSTALL_H
#define LDP_INSTALL_H

#include <stddef.h>
#include <sys/types.h>

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

/* The 32-bit $LIB expansions where the stub lives (packaging/layout.sh), NULL-terminated;
 * empty where there is no 32-bit ABI to serve. */
extern const char *const ldp_lib32_dirs[];

/* line with every $LIB (or ${LIB}) replaced by dir, into buf. Returns how many were replaced,
 * or -ENAMETOOLONG. */
int ldp_preload_subst(const char *line, const char *dir, char *buf, size_t len);

/* A preload line as the native (64-bit) loader would read it, into buf: the line itself when
 * it has no $LIB, else the first of this machine's 64-bit $LIB expansions whose file exists
 * under root ("" for /). Returns 0; -ENOENT when none exists (buf then holds the first
 * expansion); -ENAMETOOLONG. */
int ldp_preload_expand(const char *root, const char *line, char *buf, size_t len);

/* Who may own a file the loader maps into root's programs, or a folder above it: root; in a
 * --root tree (live = 0) also the user running the command (a tree being built). */
int ldp_install_owner_ok(uid_t uid, int live);

/* Every folder above hostpath, up to and including top ("" for /), can be changed by its
 * owner alone (or is sticky, as /tmp) and has an owner ldp_install_owner_ok() accepts; on the
 * host (live), along the real path, symbolic links resolved. For install and status. Returns
 * 0, or -1 with why. */
int ldp_install_folders_safe(const char *hostpath, const char *top, int live, char *why, size_t whylen);

/* The shim next to this program: bin/../lib/libldprof.so (build tree) or
 * bin/../lib/ldprof/libldprof.so (installed under a PREFIX). buf gets the path (not resolved).
 * Returns 0 or -ENOENT. */
int ldp_shim_near_exe(char *buf, size_t len);

#endif
