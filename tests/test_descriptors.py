# SPDX-License-Identifier: MIT
"""The program's descriptors are its own: with the core running, its first open() returns 3
and /proc/self/fd lists only what it opened, whatever its RLIMIT_NOFILE (issue 14: under
`prlimit --nofile=71` libunwind's pipe could not be moved out of the way and took 3 and 4).
The core holds no descriptor at all: libunwind's pipe is refused at its set-up."""
import re

import pytest

from conftest import LDPROF, clean_env, preload_env, prog, read_log, run

EXPECTED = b"sigprof: none\nfirst free: 3\nfds: 0 1 2\n"


@pytest.mark.parametrize("nofile", [71, 20, None])
@pytest.mark.parametrize("how", ["run", "preloaded"])
def test_first_open_returns_3(outdir, how, nofile):
    limit = ["prlimit", f"--nofile={nofile}", "--"] if nofile else []
    if how == "run":
        cmd = limit + [str(LDPROF), "run", "-o", str(outdir), "--", prog("agentfds")]
        env = clean_env(LDPROF_LOG_LEVEL="info")
    else:
        cmd = limit + [prog("agentfds")]
        env = preload_env(outdir, LDPROF_LOG_FILE=outdir / "ldprof.log", LDPROF_LOG_LEVEL="info")
    base = run(limit + [prog("agentfds")])
    assert base.stdout == EXPECTED, base
    r = run(cmd, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, EXPECTED, b""), r
    # the core was there, set up, and sampling
    assert re.search(r"\]: info: active", read_log(outdir)), read_log(outdir)
