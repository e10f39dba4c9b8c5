/* SPDX-License-Identifier: MIT
 *
 * status.h — `ldprof status [--root DIR] [PID...]`: is the shim in ROOT/etc/ld.so.preload and
 * safe there, and which running processes carry it, with what each decided. Only reads.
 */
#ifndef LDP_STATUS_H
#define LDP_STATUS_H

/* argv[0] is "status". Returns the process exit code: 0, 1 when our line in ld.so.preload names
 * a missing or unsafe library, 2 for a usage error. */
int ldp_status_main(int argc, char **argv);

#endif
