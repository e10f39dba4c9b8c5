# SPDX-License-Identifier: MIT
"""The host agent (`ldprof-agent --config FILE`): registrations over its unix socket, the kernel's
fork/exec/exit hooks, and profiles shipped per process through the shim's delivery code.

Each test starts its own agent on a socket of its own (the BPF programs are per agent, so this
never touches an agent the host may run) with file:// output, or the HTTP test receiver.
Processes reach the agent the way they would on a host: through the shim (`ldprof run`), or,
for the protocol tests, through a small client that speaks for itself (tests/agent_client.py).
"""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (BUILD, LDPROF, PYTHON, Stacks, clean_env, ldprof_run, prog, profile_files,
                      profiles_for, read_profile, run)

AGENT = BUILD / "sbin" / "ldprof-agent"
CLIENT = Path(__file__).resolve().parent / "agent_client.py"
HZ = 499
NOBODY = 65534


class Agent:
    """One ldprof-agent on its own socket and output folder; stop() returns its stderr."""

    def __init__(self, base, cover="registered", endpoint=None, extra_ini=""):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)  # the socket must be reachable by other users
        self.out = self.base / "out"
        self.out.mkdir(exist_ok=True)
        self.sock = str(self.base / "agent.sock")
        self.ini = self.base / "agent.ini"
        self.ini.write_text(
            "[sampling]\nhz = %d\nflush_interval = 1s\n"
            "[output]\nendpoint = %s\n"
            "[agent]\nsocket = %s\ncover = %s\n%s" %
            (HZ, endpoint or f"file://{self.out}", self.sock, cover, extra_ini))
        self.log = self.base / "agent.log"
        self.proc = None
        self.start()

    def start(self):
        assert AGENT.exists(), f"{AGENT} is missing: run `make all`"
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([str(AGENT), "--config", str(self.ini)],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, env=clean_env())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"ldprof-agent: ready" in self.log.read_bytes():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"the agent did not start: {self.log.read_bytes()!r}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("the agent did not stop within 30 s of SIGTERM")
        self.logf.close()
        return self.log.read_bytes()

    def env(self, **extra):
        """A profiled program's environment: this agent's socket, output beside the agent's."""
        return clean_env(LDPROF_AGENT_SOCKET=self.sock, **extra)

    def ask(self, msg, user=None):
        """One request from a fresh client process; returns its reply (b"" for none)."""
        return client(self.sock, msg, user=user).stdout

    def status(self):
        reply = self.ask("LDPA1 status")
        assert reply.startswith(b"LDPA1 ok\n"), reply
        lines = reply.decode().splitlines()[1:]
        head = lines[0].split()
        info = dict(zip(head[::2], head[1::2]))
        covered = {int(l.split()[0]): l.split() for l in lines[1:] if l.strip()}
        return info, covered


@pytest.fixture
def world():
    """A folder every user can reach (pytest's own are 0700), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-agent-test-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def agent(world):
    a = Agent(world / "agent")
    yield a
    a.stop()


def client(sock, *args, user=None, env=None):
    """tests/agent_client.py SOCK REQUEST [PROGRAM ARGS...]: asks for itself, then execs."""
    return subprocess.run([PYTHON, str(CLIENT), sock] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, env=env or clean_env(),
                          **({"user": user, "group": user} if user is not None else {}))


def wait_for_profiles(d, pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = profiles_for(d, pid=pid)
        if got:
            time.sleep(0.3)  # the window that may still be being written
            return profiles_for(d, pid=pid)
        time.sleep(0.1)
    return []


def pids_in(d):
    return {pid for _, pid, _ in profile_files(d).values()}


def own_split(stderr):
    m = re.search(rb"static_fp: hot_a_ns=(\d+) hot_b_ns=(\d+) cpu_ns=(\d+)", stderr)
    assert m, f"static_fp did not report its split: {stderr!r}"
    return tuple(int(x) for x in m.groups())


def shares(st, names):
    tot = st.total()
    assert tot > 0
    return {n: 100.0 * st.with_func(n) / tot for n in names}


# ---- the kernel hooks, driven by a client that registers itself -------------------------------

def test_registered_grandchild_static_exec_is_sampled_from_start(agent):
    """A registered process's grandchild execs a static program: sampled by the agent, the
    shares match what the program measured itself, and stacks reach main."""
    r = client(agent.sock, "LDPA1 register", "/bin/sh", "-c",
               f"/bin/sh -c '{prog('static_fp')} 2; echo child-pid=$$'; echo rc=$?")
    assert r.returncode == 0, r
    assert r.stderr.startswith(b"LDPA1 ok registered\n"), r.stderr
    m = re.search(rb"child-pid=(\d+)", r.stdout)
    assert m and b"rc=0" in r.stdout, r.stdout
    pid = int(m.group(1))  # `sh -c 'X; echo $$'`: X runs in a child of that sh... see below
    # The static program is exec'd by the inner sh's child, or replaces the inner sh (dash
    # execs the last command); either way it is the only static_fp with a profile.
    files = [p for p, (comm, _, _) in profile_files(agent.out).items() if comm == "static_fp"]
    deadline = time.monotonic() + 10
    while not files and time.monotonic() < deadline:
        time.sleep(0.2)
        files = [p for p, (comm, _, _) in profile_files(agent.out).items() if comm == "static_fp"]
    assert files, agent.log.read_bytes()
    st = Stacks(files)
    a_ns, b_ns, _ = own_split(r.stdout + r.stderr)
    want_a = 100.0 * a_ns / (a_ns + b_ns)
    got = shares(st, ["hot_a", "hot_b"])
    assert abs(got["hot_a"] - want_a) <= 5, (got, want_a, st.dump())
    assert st.with_func("main") >= 0.95 * st.total(), st.dump()
    assert st.by_label("source") == {"ebpf": st.total()}
    del pid


def test_unregistered_static_exec_is_not_sampled(agent):
    r = client(agent.sock, "LDPA1 status", prog("static_fp"), "0.5")
    assert r.returncode == 0 and r.stdout.startswith(b"static_fp: done"), r
    time.sleep(0.5)
    assert not profile_files(agent.out), sorted(p.name for p in profile_files(agent.out))


def test_dynamic_exec_of_registered_process_is_not_sampled(agent):
    """A dynamic image has an interpreter: the shim's business, never the agent's."""
    r = client(agent.sock, "LDPA1 register", prog("burn"), "0.5")
    assert r.returncode == 0, r
    time.sleep(0.5)
    assert not profile_files(agent.out), sorted(p.name for p in profile_files(agent.out))


@pytest.fixture
def static_copies(world):
    """static_fp three ways, in a folder nobody can reach: plain, execute-only, setuid root."""
    d = world / "static"
    d.mkdir()
    os.chmod(d, 0o755)
    plain, xonly, suid = d / "plain_fp", d / "xonly_fp", d / "suid_fp"
    for p in (plain, xonly, suid):
        shutil.copy(prog("static_fp"), p)
        os.chown(p, 0, 0)
    os.chmod(plain, 0o755)
    os.chmod(xonly, 0o711)
    os.chmod(suid, 0o4755)
    return plain, xonly, suid


def test_setuid_and_execute_only_static_programs_are_not_sampled(agent, static_copies):
    """As nobody, registered: the readable static copy is sampled (so the check can fail), the
    execute-only one (not dumpable) and the setuid one (secure execution) are not."""
    plain, xonly, suid = static_copies
    for p in (plain, xonly, suid):
        r = client(agent.sock, "LDPA1 register", p, "0.6", user=NOBODY)
        assert r.returncode == 0, (p, r)
        assert r.stderr.startswith(b"LDPA1 ok registered"), (p, r.stderr)
        assert b"static_fp: done" in r.stdout, (p, r)
    time.sleep(1.0)
    comms = {comm for comm, _, _ in profile_files(agent.out).values()}
    assert comms == {"plain_fp"}, (comms, agent.log.read_bytes())


def test_cover_static_covers_unregistered_processes(world):
    a = Agent(world / "agent", cover="static")
    try:
        r = run([prog("static_fp"), "0.6"], env=clean_env())
        assert r.returncode == 0 and r.stdout == b"static_fp: done\n", r
        assert wait_for_profiles(a.out, None), a.log.read_bytes()
        assert {c for c, _, _ in profile_files(a.out).values()} == {"static_fp"}
    finally:
        a.stop()


# ---- who may ask for what ---------------------------------------------------------------------

def test_a_client_cannot_name_another_process(agent):
    victim = subprocess.Popen([prog("static_fp"), "3"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        for msg in (f"LDPA1 sample go {victim.pid}", f"LDPA1 register {victim.pid}",
                    f"LDPA1 sample {victim.pid}"):
            assert agent.ask(msg) == b"LDPA1 no bad request", msg
        _, covered = agent.status()
        assert victim.pid not in covered, covered
    finally:
        victim.kill()
        victim.wait()
    assert b"garbage request refused" in agent.log.read_bytes()


def test_a_socket_handed_on_cannot_speak_for_its_dead_creator(agent):
    """The creator connects, forks, and exits; the child sends on the creator's connection.
    The peer credentials name the dead creator: refused, nothing covered, no reply."""
    r = run([PYTHON, str(CLIENT), "--handoff", agent.sock, "LDPA1 sample sigprof"],
            env=clean_env())
    assert r.returncode == 0, r
    assert r.stdout == b"handoff reply: b''\n", r.stdout
    info, covered = agent.status()
    assert covered == {}, covered


def test_garbage_is_refused_and_the_agent_lives_on(agent):
    r = run([PYTHON, str(CLIENT), "--garbage", agent.sock], env=clean_env(), timeout=60)
    assert r.returncode == 0, r
    assert r.stdout.count(b"LDPA1 no bad request") >= 3, r.stdout
    assert agent.proc.poll() is None, agent.log.read_bytes()
    info, _ = agent.status()
    assert int(info["agent"]) == agent.proc.pid
    assert b"garbage request refused" in agent.log.read_bytes()


def test_a_flood_of_registrations_is_capped(agent):
    """One user forks 800 processes that each register at once: past the burst the agent
    refuses (rate limit) and says so; it keeps answering."""
    r = subprocess.run([PYTHON, str(CLIENT), "--flood", "800", agent.sock, "LDPA1 register"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       user=NOBODY, group=NOBODY, env=clean_env())
    assert r.returncode == 0, r
    counts = dict(l.split(b"=") for l in r.stdout.split())
    ok, limited = int(counts[b"ok"]), int(counts[b"rate_limit"])
    assert ok + limited == 800, counts
    assert 150 <= ok < 800 and limited > 0, counts
    assert agent.proc.poll() is None
    assert b"too many requests" in agent.log.read_bytes()


def test_sampling_requests_are_capped_per_user(agent):
    r = subprocess.run([PYTHON, str(CLIENT), "--hold", "80", agent.sock, "LDPA1 sample sigprof"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       user=NOBODY, group=NOBODY, env=clean_env())
    assert r.returncode == 0, r
    counts = dict(l.split(b"=") for l in r.stdout.split())
    assert int(counts[b"ok"]) == 64, counts
    assert int(counts[b"cap"]) == 16, counts
