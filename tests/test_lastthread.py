# SPDX-License-Identifier: MIT
"""A process ends when its last thread does (glibc's exit(0) once its count of threads reaches
zero): nothing of ldprof's may keep it alive or deaf to signals (issue 14 found a thread of
ours doing both). Under `ldprof run` and preloaded as installed (start_after_cpu 20 ms, an
ldprof-agent collecting the rings), once the ring sampler has activated, and while its
activation is still pending: the same output and exit status as without ldprof (the program's
atexit handler ran, its stdio buffer was flushed), within a second of the last thread's end,
with the profile written; `ldprof status` still sees such a process."""
import os
import re
import signal
import subprocess
import time

import pytest

from agentlib import agent, wait_for_comm, world  # noqa: F401  (agent, world: fixtures)
from conftest import (LDPROF, Stacks, clean_env, ldprof_run, preload_env, prog, profiles_for,
                      read_log, run, status_of)

BURN_MS = 300


def lastthread(mode, ms):
    return [prog("lastthread"), mode, str(ms)]


def timed(cmd, env=None, ldprof=None):
    t = time.monotonic()
    r = ldprof_run(cmd, **ldprof, timeout=30) if ldprof is not None else run(cmd, env=env, timeout=30)
    return r, time.monotonic() - t


def installed_env(outdir, agent):
    """Preloaded as `ldprof install` leaves it, the agent collecting: our handler and one
    timer, the ring sampler activated from it after 20 ms of CPU, at the config's 99 Hz, its
    ring the agent's. (test_defer_rings.py has the pthread_exit cases under musl too.)"""
    env = preload_env(outdir, LDPROF_AGENT_SOCKET=agent.sock, LDPROF_AGENT_RINGS="true",
                      LDPROF_LOG_FILE=outdir / "ldprof.log", LDPROF_LOG_LEVEL="info")
    del env["LDPROF_SELECT_START_AFTER_CPU"]
    return env


def expected(mode):
    if mode == "forked":
        # the child's copy of the buffer is flushed by the child's exit, then the parent's
        return b"lastthread: forked\natexit\nlastthread: forked\nchild: exit 0\natexit\n"
    return f"lastthread: {mode}\natexit\n".encode()


def check(outdir, mode, agent=None):
    cmd = lastthread(mode, BURN_MS)
    base, t_base = timed(cmd)
    assert (base.returncode, base.stdout) == (0, expected(mode)), base
    if agent is None:
        r, t = timed(cmd, ldprof={"outdir": outdir, "hz": 997, "env": clean_env(LDPROF_LOG_LEVEL="info")})
    else:
        r, t = timed(cmd, env=installed_env(outdir, agent))
    assert (status_of(r), r.stdout, r.stderr) == (0, base.stdout, base.stderr), r
    # "within a second of its last thread's end": the same work, at most a second longer
    assert t - t_base < 1.0, f"{t:.2f}s with ldprof against {t_base:.2f}s without"
    log = read_log(outdir)
    # the sampler had activated (in the forked child: its own, after its own 20 ms when installed)
    assert re.search(r"\]: info: active", log), log
    # installed: the agent writes the profiles, at the config's 99 Hz from 20 ms of CPU on
    files = profiles_for(outdir, comm="lastthread") if agent is None else wait_for_comm(agent.out, "lastthread")
    st = Stacks(files)
    assert st.with_func("last_burn") >= BURN_MS * (99 if agent is None else 50) // 1000 // 2, st.dump()


@pytest.mark.parametrize("mode", ["main", "workers", "forked"])
def test_last_thread_ends_the_process_under_run(outdir, mode):
    check(outdir, mode)


@pytest.mark.parametrize("mode", ["main", "workers", "forked"])
def test_last_thread_ends_the_process_as_installed(outdir, agent, mode):
    check(outdir, mode, agent)


@pytest.mark.parametrize("mode", ["main", "workers"])
def test_last_thread_ends_the_process_while_pending(outdir, agent, mode):
    # main leaves before the process has used 20 ms of CPU: only our handler and its timer are
    # there, waiting for CPU time that never comes
    r, t = timed(lastthread(mode, 0), env=installed_env(outdir, agent))
    assert (status_of(r), r.stdout) == (0, expected(mode)), r
    assert t < 1.0, f"{t:.2f}s"
    assert "active" not in read_log(outdir)


def test_main_pthread_exit_alone_under_run(outdir):
    # int main(){ pthread_exit(NULL); }: the smallest program that hung
    r, t = timed(lastthread("main", 0), ldprof={"outdir": outdir})
    assert (status_of(r), r.stdout) == (0, expected("main")), r
    assert t < 1.0, f"{t:.2f}s"


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("how", ["run", "installed"])
def test_signal_ends_a_process_whose_main_thread_left(request, outdir, how, sig):
    # main has left, the program's only thread waits in pause(): the signal must end the
    # process as without ldprof (death by that signal), not stay pending behind anything of ours
    cmd = lastthread("sleeper", 100)
    if how == "run":
        argv, env = [str(LDPROF), "run", "-o", str(outdir), "--"] + cmd, clean_env(LDPROF_LOG_LEVEL="info")
    else:
        argv, env = cmd, installed_env(outdir, request.getfixturevalue("agent"))
    # the signal's default action, whatever the suite inherited: a run started by nohup, or in
    # the background of a shell without job control, ignores SIGHUP or SIGINT (and so would the
    # program, with or without ldprof)
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        assert wait_for(lambda: "info: active" in read_log(outdir)), read_log(outdir)
        # ... and the sleeper waits in pause(), main gone
        time.sleep(0.3)
        target = p.pid
        if how == "run":
            kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
            assert len(kids) == 1, kids
            target = int(kids[0])
        # ldprof status reads it through its live thread (/proc/PID shows an empty process)
        st = run([str(LDPROF), "status", str(target)])
        assert re.search(rf"^ *{target} .* ring-sampling ", st.stdout.decode(), re.M), st.stdout.decode()
        t = time.monotonic()
        os.kill(target, sig)
        p.wait(timeout=5)
        assert time.monotonic() - t < 1.0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
            pytest.fail("the process did not end on the signal")
    assert status_of(p) == 128 + sig, (p.returncode, p.stderr.read())
