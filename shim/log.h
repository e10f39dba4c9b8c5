/* SPDX-License-Identifier: MIT
 *
 * log.h — the core's log: one line per event, appended to the log file ([log] file,
 * LDPROF_LOG_FILE) or sent to syslog (file = syslog). Never the program's stdout or stderr;
 * nothing at all when no file is set. Not for signal
 * handlers (it formats with vsnprintf).
 */
#ifndef LDP_LOG_H
#define LDP_LOG_H

enum { LDP_LOG_DEBUG = 0, LDP_LOG_INFO = 1, LDP_LOG_WARN = 2, LDP_LOG_ERROR = 3 };

void ldp_log_init(const char *path, int level);
void ldp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
