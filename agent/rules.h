/* SPDX-License-Identifier: MIT
 *
 * rules.h — the [select] rules for the processes the agent marks on its own (static execs):
 * the same rules, the same order and the same facts as the shim's first stage (shim/select.c),
 * read from /proc/PID instead of the process's own view, so that a program excluded from
 * profiling is excluded whichever of the two would profile it.
 * It must never keep a process it could not check while rules exist.
 * One thread at a time.
 */
#ifndef LDP_AGENT_RULES_H
#define LDP_AGENT_RULES_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "select.h"

struct ldp_agent_rules {
	struct ldp_select_rules r;
	unsigned need; /* ldp_select_needs(): 0 when there is no rule */
};

/* The rules of c (which must outlive them: the globs are its strings). */
void ldp_agent_rules_init(struct ldp_agent_rules *ar, const struct ldp_config *c);

/* 1 when pid is excluded (why names the rule, or says its facts could not be read), else 0. */
int ldp_agent_rules_excluded(const struct ldp_agent_rules *ar, pid_t pid, char *why, size_t len);

#endif
