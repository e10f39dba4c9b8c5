# SPDX-License-Identifier: MIT
"""CPython's own test suite under the shim: a peer's suite that nobody here wrote (Debian's
libpython3.11-testsuite, `python3 -m test`), on the modules that found issue 14's crash and
hangs: threads that outlive main, fork from threads, subprocesses, signals, multiprocessing's
fresh interpreters, descriptors, asyncio's child watchers.

Two ways, as users run ldprof: under `ldprof run --hz 997` (every process of the suite sampled
from its start, at the highest rate), and installed host-wide as the defaults make it (a test
/etc/ld.so.preload in a private mount namespace, 99 Hz, start_after_cpu 20 ms, an
ldprof-agent of the test's own collecting the rings: each process activates from its SIGPROF
handler, with no thread, once it has used 20 ms).

Verdict, against a run without ldprof: any crash (a worker or a child dying of a signal,
"Fatal Python error") or hang (regrtest's --timeout) fails, always. A test case that fails under
the shim fails the check if it also fails when its module runs under the shim again, and does
not when it runs without it: a new failure. (CPython has timing-sensitive cases that fail now
and then on a loaded 2-core machine with or without ldprof; one that passes on its second run
under the shim is printed, not hidden, and is not ldprof's.)
"""
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agentlib import AGENT_SAN, Agent, world  # noqa: F401 (world: a fixture)
from conftest import LDPROF, PYTHON, ROOT, SHIM, clean_env, profiles_for, read_log

SUITE = ["test_threading", "test_subprocess", "test_multiprocessing_main_handling", "test_sys",
         "test_signal", "test_os", "test_cmd_line_script", "test_asyncio.test_base_events",
         "test_asyncio.test_subprocess", "test_asyncio.test_events", "test_asyncio.test_unix_events"]
TIMEOUT = 300   # regrtest's limit per test file: past it, a hang
CRASH = re.compile(r"crashed \(Exit code|Fatal Python error|Segmentation fault|Timeout \(\d|"
                   r"timed out|Profiling timer expired|core dumped")


class Result:
    def __init__(self, rc, out, junit):
        self.rc, self.out = rc, out
        self.failed = set()   # test cases, "test.test_os.X.test_y"
        self.ran = 0
        if junit.exists():
            for case in ET.parse(junit).iter("testcase"):
                self.ran += 1
                if case.find("failure") is not None or case.find("error") is not None:
                    self.failed.add(case.get("name"))
        self.failed_modules = set()
        m = re.search(r"^\d+ tests? failed:\n((?:    .*\n)+)", out, re.M)
        if m:
            self.failed_modules = set(m.group(1).split())
        self.crashes = sorted(set(CRASH.findall(out)))


def regrtest(tests, junit, prefix=(), env=None):
    cmd = [*map(str, prefix), PYTHON, "-m", "test", "--timeout", str(TIMEOUT), "-j2", "-W",
           "--junit-xml", str(junit), *tests]
    try:
        r = subprocess.run(cmd, env=env if env is not None else clean_env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=3 * TIMEOUT * len(tests), cwd=junit.parent)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"regrtest itself hung: {cmd}\n{(e.stdout or b'')[-3000:]!r}")
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    return Result(r.returncode, out, junit)


def module_of(case, modules):
    """The SUITE entry a test case belongs to."""
    name = case.removeprefix("test.")
    return max((m for m in modules if name == m or name.startswith(m + ".")), key=len, default=None)


def ldprof_way(how, outdir, work, agent=None):
    """(prefix, env) that run a command the way `how` says."""
    if how == "run":
        return [LDPROF, "run", "--hz", "997", "-o", outdir, "--"], clean_env(LDPROF_LOG_LEVEL="info")
    preload, cfg = work / "ld.so.preload", work / "ldprof.ini"
    preload.write_text(f"{SHIM}\n")
    cfg.write_text(f"[output]\nendpoint = file://{outdir}\n\n[log]\nfile = {outdir}/ldprof.log\n"
                   f"level = info\n\n[agent]\nsocket = {agent.sock}\n")
    scratch = work / "ns"
    scratch.mkdir()
    return ["unshare", "-m", "--propagation", "private", "sh", ROOT / "tests" / "host" / "run_in_ns.sh",
            scratch, preload, cfg], clean_env()


@pytest.mark.parametrize("how", ["run", "installed"])
def test_cpython_suite_under_the_shim(outdir, tmp_path, how, world):
    assert Path("/usr/lib/python3.11/test/test_threading.py").exists(), \
        "libpython3.11-testsuite is missing (make deps installs it)"
    os.chmod(tmp_path, 0o755)
    agent = Agent(world / "agent", binary=AGENT_SAN) if how == "installed" else None
    try:
        check_suite(outdir, tmp_path, how, agent)
    finally:
        if agent:
            agent.stop()


def check_suite(outdir, tmp_path, how, agent):
    prefix, env = ldprof_way(how, outdir, tmp_path, agent)
    r = regrtest(SUITE, tmp_path / "ldprof.xml", prefix, env)
    report = f"regrtest under the shim ({how}), exit {r.rc}:\n{r.out[-6000:]}"
    assert not r.crashes, f"crash or hang: {r.crashes}\n{report}"
    assert r.rc in (0, 2) and r.ran > 1000, report
    new = set()
    if r.failed or r.failed_modules:
        modules = sorted({module_of(c, SUITE) for c in r.failed} | r.failed_modules)
        again = regrtest(modules, tmp_path / "again.xml", prefix, env)
        assert not again.crashes, f"crash or hang on the second run: {again.crashes}\n{again.out[-6000:]}"
        base = regrtest(modules, tmp_path / "base.xml")
        new = (r.failed & again.failed) - base.failed
        new |= (r.failed_modules & again.failed_modules) - base.failed_modules
        print(f"failed under the shim: {sorted(r.failed | r.failed_modules)}; again: "
              f"{sorted(again.failed | again.failed_modules)}; without: "
              f"{sorted(base.failed | base.failed_modules)}")
    assert not new, f"new failures under the shim: {sorted(new)}\n{report}"
    # the suite really ran sampled: its interpreters' profiles were written (by the agent, when
    # installed), and ldprof complained of nothing
    shipped = agent.out if agent else outdir
    assert len(profiles_for(shipped, comm="python3")) >= 20, sorted(os.listdir(shipped))[:20]
    log = read_log(outdir)
    assert re.search(r"\]: info: active", log), log[-2000:]
    if agent:
        assert "collector=" + agent.sock in log and "activation_us=" in log, log[-2000:]
    assert not re.search(r"\]: (warn|error):", log), log[-3000:]
