# SPDX-License-Identifier: MIT
"""The shim and the agent together, as a user runs them: `ldprof run` (the shim registers with
the agent, or asks it to sample what it cannot) with an agent of the test's own.

- a static C program and a static Go program started by a shell under `ldprof run` are
  profiled by the agent, and the profile reaches the endpoint (the HTTP test receiver); a
  static Go program stripped with -ldflags='-s -w' gets its names from .gopclntab;
- a cgo Go program, where the shim steps aside, is profiled by the agent instead, and so is a
  program that installs a seccomp filter on itself, once the shim has stepped aside;
- a dynamic program is profiled by the shim only, also when ld.so is run directly (a static
  image that then loads the shim): never twice;
- the agent absent, killed mid-run or restarted: the programs run unchanged.
"""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agentlib import Agent, agent, own_split, shares, wait_for_comm, world
from conftest import (LDPROF, SHIM, Stacks, as_host_init, clean_env, ldprof_run, prog, profile_files,
                      profiles_for, read_profile, root_config, run)
from receiver import Receiver, decode_with_go

LDSO = "/lib64/ld-linux-x86-64.so.2"


def under_shim(a, args, outdir, timeout=120, env=None):
    """`ldprof run -o OUTDIR -- ARGS` with this agent's socket."""
    return ldprof_run(args, outdir=outdir, env=env or a.env(), timeout=timeout)


def test_static_c_program_under_ldprof_run_reaches_the_receiver(world, tmp_path):
    with Receiver(tmp_path / "rx") as rx:
        a = Agent(world / "agent", endpoint=rx.url)
        try:
            r = under_shim(a, ["/bin/sh", "-c", f"{prog('static_fp')} 2; echo rc=$?"],
                           tmp_path / "shim")
        finally:
            log = a.stop()
        recs = [x for x in rx.records() if x["labels"].get("comm") == "static_fp"]
    assert r.returncode == 0 and r.stdout == b"static_fp: done\nrc=0\n", r
    assert recs, (rx.records(), log)
    for x in recs:
        assert x["labels"]["source"] == "ebpf", x["labels"]
        assert x["labels"]["exe"].endswith("/static_fp"), x["labels"]
        assert x["service"] == "static_fp", x
    for x in recs:
        decode_with_go(x["pb"])
    st = StacksRaw([x["pb"] for x in recs])
    a_ns, b_ns, _ = own_split(r.stderr)
    want_a = 100.0 * a_ns / (a_ns + b_ns)
    got = shares(st, ["hot_a", "hot_b"])
    assert abs(got["hot_a"] - want_a) <= 5, (got, want_a, st.dump())
    assert st.with_func("main") >= 0.95 * st.total(), st.dump()
    assert b"done:" in log and b" 0 lost" in log, log


class StacksRaw(Stacks):
    """Stacks of raw (not gzipped) pprof files, as the receiver stores them."""

    def __init__(self, paths):
        import gzip
        import tempfile
        self._tmp = tempfile.TemporaryDirectory()
        gz = []
        for i, p in enumerate(paths):
            q = Path(self._tmp.name) / f"{i}.pb.gz"
            q.write_bytes(gzip.compress(Path(p).read_bytes()))
            gz.append(q)
        super().__init__(gz)


@pytest.mark.parametrize("name, comm", [
    ("go_static_hot", "go_static_hot"),
    # -ldflags='-s -w': no .symtab, no .dynsym; the names come from .gopclntab
    ("go_static_hot_stripped", "go_static_hot_s"),  # comm: the first 15 bytes
])
def test_static_go_program_under_ldprof_run(agent, tmp_path, name, comm):
    r = under_shim(agent, ["/bin/sh", "-c", f"{prog(name)} 2"], tmp_path / "shim")
    assert r.returncode == 0 and r.stdout == b"hot-go: done\n", r
    files = wait_for_comm(agent.out, comm)
    assert files, agent.log.read_bytes()
    st = Stacks(files)
    got = shares(st, ["main.hotGo", "main.coldGo"])
    assert got["main.hotGo"] >= 70, (got, st.dump())
    split = 100 * got["main.hotGo"] / (got["main.hotGo"] + got["main.coldGo"])
    assert abs(split - 80) <= 5, (got, st.dump())


def test_cgo_go_program_is_sampled_by_the_agent_when_the_shim_steps_aside(agent, tmp_path):
    r = under_shim(agent, [prog("go_cgo_hot"), "2"], tmp_path / "shim")
    assert r.returncode == 0 and r.stdout == b"hot-go: done\n", r
    files = wait_for_comm(agent.out, "go_cgo_hot")
    assert files, agent.log.read_bytes()
    st = Stacks(files)
    got = shares(st, ["main.hotGo", "main.coldGo"])
    assert got["main.hotGo"] >= 65, (got, st.dump())
    # the shim stepped aside: no profile of its own
    assert not profile_files(tmp_path / "shim"), list(profile_files(tmp_path / "shim"))
    assert b"sampling it (Go runtime)" in agent.log.read_bytes()


def test_program_installing_a_seccomp_filter_is_taken_over_by_the_agent(agent, tmp_path):
    # the shim steps aside before the filter goes in (the filter would kill the process for
    # our calls) and asks the agent, which samples the rest of the run from the kernel
    shim = tmp_path / "shim"
    r = under_shim(agent, [prog("selfseccomp"), "800", "syscall"], shim)
    assert r.returncode == 0 and b"syscall = 0" in r.stdout, r
    mine = Stacks([p for p, (c, _, _) in profile_files(shim).items() if c == "selfseccomp"])
    assert mine.with_func("burn_before") >= 40 and mine.with_func("burn_after") == 0, mine.dump()
    files = wait_for_comm(agent.out, "selfseccomp")
    assert files, agent.log.read_bytes()
    theirs = Stacks(files)
    assert theirs.with_func("burn_after") >= 40, theirs.dump()
    assert theirs.with_func("burn_before") <= 3, theirs.dump()  # the ask races the last ticks
    assert b"sampling it (a seccomp filter)" in agent.log.read_bytes()


def test_a_dynamic_program_is_sampled_by_the_shim_only(agent, tmp_path):
    shim = tmp_path / "shim"
    r = under_shim(agent, [prog("burn"), "800"], shim)
    assert r.returncode == 0, r
    pids = {pid for comm, pid, _ in profile_files(shim).values() if comm == "burn"}
    assert len(pids) == 1, profile_files(shim)
    time.sleep(0.5)
    assert not profile_files(agent.out), list(profile_files(agent.out))


def test_ld_so_run_directly_is_sampled_once(agent, tmp_path):
    """ld.so as the program is a static image: a registered shell's exec of it makes it a
    target; the shim it then loads registers and the agent lets go."""
    shim = tmp_path / "shim"
    r = under_shim(agent, ["/bin/sh", "-c", f"{LDSO} {prog('burn')} 800; true"], shim)
    assert r.returncode == 0, r
    shim_pids = {pid for comm, pid, _ in profile_files(shim).values()}
    assert shim_pids, profile_files(shim)
    time.sleep(0.5)
    agent_samples = sum(read_profile(p).total() for p in profile_files(agent.out))
    assert agent_samples <= 5, (agent_samples, list(profile_files(agent.out)))


def plain(args, timeout=60):
    t = time.monotonic()
    r = run(args, env=clean_env(), timeout=timeout)
    return r, time.monotonic() - t


def test_agent_absent_programs_unchanged(world, tmp_path):
    env = root_config(clean_env(LDPROF_AGENT_SOCKET=str(world / "nobody-listens.sock")))
    for args in (["/bin/sh", "-c", f"{prog('static_fp')} 0.3"], [prog("burn"), "300"],
                 [prog("go_cgo_hot"), "0.3"]):
        base, t0 = plain(args)
        t = time.monotonic()
        r = ldprof_run(args, outdir=tmp_path / "shim", env=env)
        t1 = time.monotonic() - t
        # burn prints its own pid: the only byte allowed to differ
        same = [(x.returncode, re.sub(rb"pid=\d+", b"pid=N", x.stdout)) for x in (r, base)]
        assert same[0] == same[1], (args, r, base)
        assert t1 < t0 + 1.0, (args, t0, t1)


def test_agent_killed_mid_run_and_restarted(world, tmp_path):
    a = Agent(world / "agent")
    procs = [subprocess.Popen([str(LDPROF), "run", "-o", str(tmp_path / "shim"), "--"] + args,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=a.env())
             for args in (["/bin/sh", "-c", f"{prog('static_fp')} 2"], [prog("burn"), "2000"],
                          [prog("go_cgo_hot"), "2"])]
    time.sleep(0.7)
    a.proc.kill()  # no clean-up: the socket file stays behind
    a.proc.wait()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert outs[0][0] == b"static_fp: done\n" and outs[2][0] == b"hot-go: done\n", outs
    # a new agent takes the stale socket over and covers new programs
    before = set(profile_files(a.out))
    a.start()
    try:
        r = under_shim(a, ["/bin/sh", "-c", f"{prog('static_fp')} 0.5"], tmp_path / "shim2")
        assert r.returncode == 0 and r.stdout == b"static_fp: done\n", r
        deadline = time.monotonic() + 10
        while not set(profile_files(a.out)) - before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(profile_files(a.out)) - before, a.log.read_bytes()
    finally:
        a.stop()


@pytest.mark.parametrize("agent_first", [True, False])
def test_the_hosts_init_has_its_static_services_covered(world, tmp_path, agent_first):
    """The host's init is never sampled by the shim, but it registers (or, started before the
    agent, the agent registers it from its state), so a static service it starts is covered
    (cover = registered). (A PID 1 whose /proc says it is the host's: conftest.)"""
    base = world / "agent"
    shim = tmp_path / "shim"
    shim.mkdir()
    a = Agent(base) if agent_first else None
    env = root_config(clean_env(LDPROF_AGENT_SOCKET=str(base / "agent.sock"), LD_PRELOAD=str(SHIM),
                                LDPROF_OUTPUT_ENDPOINT=f"file://{shim}",
                                LDPROF_LOG_FILE=str(shim / "ldprof.log"), LDPROF_LOG_LEVEL="info"))
    argv, env = as_host_init(f"test $$ = 1 || exit 3; read go; {prog('static_fp')} 0.6", env, tmp_path)
    init = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        if not agent_first:
            time.sleep(0.5)  # init's shim is up, and found no agent
            a = Agent(base)
        out, err = init.communicate(input=b"go\n", timeout=60)
        assert init.returncode == 0 and out == b"static_fp: done\n", (out, err)
        assert wait_for_comm(a.out, "static_fp"), a.log.read_bytes()
    finally:
        if init.poll() is None:
            init.kill()
            init.wait()
        log = a.stop() if a else b""
    if not agent_first:
        assert re.search(rb"processes running before the agent: [1-9]\d* registered", log), log
    said = (shim / "ldprof.log").read_text()
    assert "staying off: the host's init (PID 1) is never sampled" in said, said
    assert ("agent: registered" if agent_first else "agent: none") in said, said
    assert not profile_files(shim), list(profile_files(shim))


@pytest.mark.parametrize("start_after", ["0", "1h"])
def test_processes_started_before_the_agent_are_adopted(world, tmp_path, start_after):
    """A shell whose shim found no agent (started before it, or before a restart) is registered
    by the agent at its start, from the state the shim publishes (sampling, or waiting for
    start_after_cpu): its static child is covered."""
    base = world / "agent"
    env = root_config(clean_env(LDPROF_AGENT_SOCKET=str(base / "agent.sock")))
    sh = subprocess.Popen([str(LDPROF), "run", "-o", str(tmp_path / "shim"), "--start-after-cpu",
                           start_after, "--", "/bin/sh", "-c",
                           f"read go; {prog('static_fp')} 0.6"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env)
    try:
        time.sleep(0.5)  # the shell's shim is up, and has asked nobody
        a = Agent(base)
        try:
            out, err = sh.communicate(input=b"go\n", timeout=60)
            assert sh.returncode == 0 and out == b"static_fp: done\n", (out, err)
            assert wait_for_comm(a.out, "static_fp"), a.log.read_bytes()
        finally:
            log = a.stop()
        assert re.search(rb"processes running before the agent: [1-9]\d* registered", log), log
    finally:
        if sh.poll() is None:
            sh.kill()
            sh.wait()
