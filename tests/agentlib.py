# SPDX-License-Identifier: MIT
"""What the agent's tests share: an ldprof-agent of the test's own (socket, output folder,
config), a client that speaks for itself (tests/agent_client.py), and the checks on profiles."""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, PYTHON, clean_env, profile_files, profiles_for, root_config

AGENT = BUILD / "sbin" / "ldprof-agent"
AGENT_SAN = BUILD / "tests" / "san" / "ldprof-agent"  # the same, under ASan and UBSan
CLIENT = Path(__file__).resolve().parent / "agent_client.py"
HZ = 499
NOBODY = 65534


class Agent:
    """One ldprof-agent on its own socket and output folder; stop() returns its stderr."""

    def __init__(self, base, cover="registered", endpoint=None, extra_ini="", binary=AGENT, wrapper=(),
                 ini_text=None):
        self.binary = Path(binary)
        self.wrapper = [str(w) for w in wrapper]  # a command that execs the agent last
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)  # the socket must be reachable by other users
        self.out = self.base / "out"
        self.out.mkdir(exist_ok=True)
        self.sock = str(self.base / "agent.sock")
        self.ini = self.base / "agent.ini"
        # ini_text: the whole config, as installed (it names the socket, base/agent.sock)
        self.ini.write_text(ini_text if ini_text is not None else
            "[sampling]\nhz = %d\nflush_interval = 1s\n"
            "[output]\nendpoint = %s\n"
            "[agent]\nsocket = %s\ncover = %s\n[log]\nlevel = info\n%s" %
            (HZ, endpoint or f"file://{self.out}", self.sock, cover, extra_ini))
        self.log = self.base / "agent.log"
        self.proc = None
        self.start()

    def start(self):
        assert self.binary.exists(), f"{self.binary} is missing: run `make test-bins`"
        seen = self.log.stat().st_size if self.log.exists() else 0
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.wrapper + [str(self.binary), "--config", str(self.ini)],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, env=clean_env())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"ldprof-agent: ready" in self.log.read_bytes()[seen:]:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"the agent did not start: {self.log.read_bytes()!r}")

    def stop(self, sig=signal.SIGTERM):
        """Stops it; a sanitizer report or an exit status other than 0 after SIGTERM fails."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("the agent did not stop within 30 s of SIGTERM")
            assert self.proc.returncode == 0, (self.proc.returncode, self.log.read_bytes())
        self.logf.close()
        log = self.log.read_bytes()
        assert b"Sanitizer" not in log and b"runtime error" not in log, log
        return log

    def env(self, **extra):
        """A profiled program's environment: this agent's socket, output beside the agent's."""
        return root_config(clean_env(LDPROF_AGENT_SOCKET=self.sock, **extra))

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
    """An agent built with ASan and UBSan (what the shipped one runs, checked harder)."""
    a = Agent(world / "agent", binary=AGENT_SAN)
    yield a
    a.stop()


_public_client = []


def client_path(user=None):
    """agent_client.py where user can read it: the checkout may sit in a folder only root can
    enter (a clean clone in a mktemp -d folder), so other users get a copy of their own."""
    if user is None:
        return CLIENT
    if not _public_client:
        d = Path(tempfile.mkdtemp(prefix="ldprof-agent-client-"))
        atexit.register(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        shutil.copy(CLIENT, d / CLIENT.name)
        os.chmod(d / CLIENT.name, 0o644)
        _public_client.append(d / CLIENT.name)
    return _public_client[0]


def client(sock, *args, user=None, env=None):
    """tests/agent_client.py SOCK REQUEST [PROGRAM ARGS...]: asks for itself, then execs."""
    return subprocess.run([PYTHON, str(client_path(user)), sock] + [str(a) for a in args],
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


def wait_for_comm(d, comm, timeout=10):
    """The profiles of comm in d, once the last of them is written (the agent writes a
    process's last window when it sees the exit)."""
    deadline = time.monotonic() + timeout
    files = []
    while time.monotonic() < deadline:
        files = sorted(p for p, (c, _, _) in profile_files(d).items() if c == comm)
        if files:
            time.sleep(0.5)
            return sorted(p for p, (c, _, _) in profile_files(d).items() if c == comm)
        time.sleep(0.1)
    return files


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
