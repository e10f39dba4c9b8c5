# SPDX-License-Identifier: MIT
"""The program's descriptors are its own: with the shim sampling, its first open() returns 3
and /proc/self/fd lists only what it opened, whatever its RLIMIT_NOFILE (issue 14: under
`prlimit --nofile=71` libunwind's pipe could not be moved out of the way and took 3 and 4).
The ring sampler holds no descriptor of its own: the ring's and the socket's are closed once
the ring is handed over."""
import re

import pytest

from agentlib import agent, world  # noqa: F401  (fixtures)
from conftest import LDPROF, clean_env, preload_env, prog, read_log, run

EXPECTED = b"sigprof: none\nfirst free: 3\nfds: 0 1 2\n"


@pytest.mark.parametrize("nofile", [71, 20, None])
@pytest.mark.parametrize("how", ["run", "by-hand-with-agent"])
def test_first_open_returns_3(outdir, request, how, nofile):
    limit = ["prlimit", f"--nofile={nofile}", "--"] if nofile else []
    if how == "run":
        cmd = limit + [str(LDPROF), "run", "-o", str(outdir), "--", prog("agentfds")]
        env = clean_env(LDPROF_LOG_LEVEL="info")
    else:
        a = request.getfixturevalue("agent")
        cmd = limit + [prog("agentfds")]
        env = preload_env(outdir, LDPROF_AGENT_SOCKET=a.sock, LDPROF_AGENT_RINGS="true",
                          LDPROF_LOG_FILE=outdir / "ldprof.log", LDPROF_LOG_LEVEL="info")
    base = run(limit + [prog("agentfds")])
    assert base.stdout == EXPECTED, base
    r = run(cmd, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, EXPECTED, b""), r
    # the ring sampler was there, set up, and sampling
    assert re.search(r"\]: info: active .*collector=", read_log(outdir)), read_log(outdir)
