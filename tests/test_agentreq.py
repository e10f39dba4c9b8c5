# SPDX-License-Identifier: MIT
"""The shim's side of the ldprof-agent protocol (common/agentproto.h, shim/agentreq.c).

A real AF_UNIX SOCK_SEQPACKET server on a temporary path stands in for the agent: it records
every request with the peer's credentials (SO_PEERCRED) and answers as told (ok, no, nothing,
garbage, or a close). Real programs run with the shim preloaded: the right question is asked
once, by the process itself, and only when it should be; whatever the server does, the
program's output and exit status stay its own, its start is never held up past the client's
deadline, and no descriptor of ours stays open in it.
"""
import contextlib
import os
import re
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import LDPROF, preload_env, prog, read_log, run

REPLY_MS = 50  # LDP_AGENT_REPLY_MS


class Agent:
    """A stand-in for ldprof-agent: records (pid, request) and answers by `mode`."""

    def __init__(self, path, mode="ok"):
        self.path = str(path)
        self.mode = mode
        self.requests = []
        self.held = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(self.path)
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            pid, _, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i")))
            conn.settimeout(1.0)
            try:
                msg = conn.recv(256)
            except OSError:
                msg = b""
            with self.lock:
                self.requests.append((pid, msg))
            try:
                if self.mode == "ok":
                    conn.send(b"LDPA1 ok")
                elif self.mode == "no":
                    conn.send(b"LDPA1 no rate limit")
                elif self.mode == "garbage":
                    conn.send(b"\x00\xffHTTP/1.1 200 OK\r\n")
                elif self.mode == "silent":
                    self.held.append(conn)  # accepted, never answered, never closed
                    continue
            except OSError:
                pass
            conn.close()

    def got(self, settle=0.2):
        time.sleep(settle)
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture
def agent(tmp_path):
    started = []

    def start(mode="ok"):
        a = Agent(tmp_path / f"agent-{len(started)}.sock", mode)
        started.append(a)
        return a
    yield start
    for a in started:
        a.stop()


def env_for(outdir, sock, **knobs):
    """The shim preloaded, asking the agent at sock, logging at info into outdir/ldprof.log.
    [agent] rings = false: the glibc core asks (its requests are what this file checks; with
    rings the first stage registers instead and the handler asks: test_defer_rings.py,
    test_agent_rings.py)."""
    knobs.setdefault("LDPROF_AGENT_RINGS", "false")
    return preload_env(outdir, LDPROF_AGENT_SOCKET=str(sock), LDPROF_LOG_LEVEL="info",
                       LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"), **knobs)


def run_prog(args, env):
    """Runs args to the end; returns a CompletedProcess with .pid, the program's own pid."""
    p = subprocess.Popen([str(a) for a in args], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise
    r = subprocess.CompletedProcess(args, p.returncode, out, err)
    r.pid = p.pid
    return r


def agent_lines(outdir):
    """The log lines that say what the agent answered."""
    return [l for l in read_log(outdir).splitlines() if "agent: " in l]


def baseline(args):
    p = run([prog(args[0])] + list(args[1:]))
    assert p.returncode == 0, p.stderr
    return p


# ---- what is asked, by whom ----

def test_activated_program_registers_once_from_its_own_pid(outdir, agent):
    a = agent("ok")
    base = baseline(["agentfds"])
    p = run_prog([prog("agentfds")], env_for(outdir, a.path))
    assert (p.returncode, p.stderr) == (0, base.stderr), p.stderr
    assert p.stdout.splitlines()[0] == base.stdout.splitlines()[0] == b"sigprof: none"
    # the program's own descriptor numbers are those it has without ldprof
    assert p.stdout.splitlines()[1] == base.stdout.splitlines()[1] == b"first free: 3"
    assert a.got() == [(p.pid, b"LDPA1 register")]
    lines = agent_lines(outdir)
    assert len(lines) == 1 and lines[0].endswith("info: agent: registered"), read_log(outdir)


def test_go_program_asks_to_be_sampled(outdir, agent):
    a = agent("ok")
    base = baseline(["go_cgo"])
    p = run_prog([prog("go_cgo")], env_for(outdir, a.path))
    assert (p.returncode, p.stdout, p.stderr) == (0, base.stdout, base.stderr)
    assert a.got() == [(p.pid, b"LDPA1 sample go")]
    assert "agent: sampling it" in read_log(outdir)


def test_go_program_finds_the_socket_in_the_config_file(outdir, agent, tmp_path):
    """The first stage reads [agent] socket itself (shim/select.c's scan)."""
    a = agent("ok")
    cfg = tmp_path / "ldprof.ini"
    cfg.write_text(f"[output]\nendpoint = file://{outdir}\n[agent]\nsocket = {a.path} ; ours\n")
    p = run_prog([prog("go_cgo")], preload_env(outdir, LDPROF_CONFIG=cfg))
    assert p.returncode == 0, p.stderr
    assert [m for _, m in a.got()] == [b"LDPA1 sample go"]


def test_go_program_excluded_by_select_asks_nothing(outdir, agent):
    a = agent("ok")
    p = run_prog([prog("go_cgo")], env_for(outdir, a.path, LDPROF_SELECT_EXCLUDE_COMM="go_cgo"))
    assert p.returncode == 0, p.stderr
    assert a.got() == []
    assert "agent not asked: exclude_comm=go_cgo" in read_log(outdir)


@pytest.mark.parametrize("mode", ["sigaction", "signal", "in-handler"])
def test_program_taking_sigprof_asks_to_be_sampled(outdir, agent, mode):
    a = agent("ok")
    base = baseline(["agentfds", mode])
    p = run_prog([prog("agentfds"), mode], env_for(outdir, a.path))
    assert (p.returncode, p.stderr) == (0, base.stderr)
    assert p.stdout.splitlines()[0] == base.stdout.splitlines()[0] == b"sigprof: installed"
    # the program's own descriptor numbers are those it has without ldprof
    assert p.stdout.splitlines()[1] == base.stdout.splitlines()[1] == b"first free: 3"
    assert a.got() == [(p.pid, b"LDPA1 register"), (p.pid, b"LDPA1 sample sigprof")]
    assert "stepping aside: the program installs its own SIGPROF handler; agent: sampling it" \
        in read_log(outdir)


@pytest.mark.parametrize("knobs", [
    {"LDPROF_SELECT_EXCLUDE_COMM": "agentfds"},
    {"LDPROF_DISABLED": "1"},
    {"LDPROF_SAMPLING_HZ": "abc"},          # a config error: the core stays off
])
def test_processes_the_shim_leaves_alone_ask_nothing(outdir, agent, knobs):
    a = agent("ok")
    p = run_prog([prog("agentfds")], env_for(outdir, a.path, **knobs))
    assert p.returncode == 0, p.stderr
    assert a.got() == []


def test_empty_socket_means_never_ask(outdir, agent, tmp_path):
    a = agent("ok")
    for args in (["agentfds"], ["agentfds", "sigaction"], ["go_cgo"]):
        p = run_prog([prog(args[0])] + args[1:], env_for(outdir, ""))
        assert p.returncode == 0, p.stderr
    # ... also when the file says so and the environment does not
    cfg = tmp_path / "ldprof.ini"
    cfg.write_text(f"[output]\nendpoint = file://{outdir}\n[agent]\nsocket =\n")
    for args in (["agentfds"], ["go_cgo"]):
        p = run_prog([prog(args[0])], preload_env(outdir, LDPROF_CONFIG=cfg))
        assert p.returncode == 0, p.stderr
    assert a.got() == []
    assert not agent_lines(outdir), read_log(outdir)


# ---- whatever the agent does, the program is unchanged ----

@pytest.mark.parametrize("mode", ["absent", "ok", "no", "garbage", "close", "silent"])
def test_program_unchanged_whatever_the_agent_does(outdir, agent, tmp_path, mode):
    sock = tmp_path / "absent.sock" if mode == "absent" else agent(mode).path
    for args in (["agentfds"], ["agentfds", "in-handler"]):
        never = run_prog([prog(args[0])] + args[1:], env_for(outdir, ""))
        p = run_prog([prog(args[0])] + args[1:], env_for(outdir, sock))
        # the same shim told never to ask: the same descriptors (none of ours left open); and
        # the program's own numbers as without ldprof (libunwind's pipe is moved out of them)
        assert (p.returncode, p.stdout, p.stderr) == (0, never.stdout, never.stderr), \
            (p.stdout, never.stdout)
        assert p.stdout.splitlines()[:2] == baseline(args).stdout.splitlines()[:2]
    said = {"absent": "none (no socket)", "ok": "registered", "no": "refused (rate limit)",
            "garbage": "none (a reply that is not the protocol's)",
            "close": "none (closed without a reply)", "silent": "none (no reply in time)"}[mode]
    assert f"info: agent: {said}" in read_log(outdir), read_log(outdir)


def timed(args, env, n=5):
    """Fastest wall time of n runs, in seconds."""
    best = None
    for _ in range(n):
        t = time.monotonic()
        p = run_prog(args, env)
        d = time.monotonic() - t
        assert p.returncode == 0, p.stderr
        best = d if best is None else min(best, d)
    return best


def test_silent_agent_delays_start_by_the_deadline_at_most(outdir, agent):
    a = agent("silent")
    never = timed([prog("agentfds"), "sigaction"], env_for(outdir, ""))
    silent = timed([prog("agentfds"), "sigaction"], env_for(outdir, a.path))
    # two questions (register, sample sigprof), each bounded by the client's deadline
    assert silent - never >= 2 * REPLY_MS / 1000 * 0.9, (silent, never)
    assert silent - never < 0.5, (silent, never)


@contextlib.contextmanager
def burning(outdir, sock):
    """A long CPU-bound program with the shim, killed at the end."""
    p = subprocess.Popen([prog("burn"), "600000"], env=env_for(outdir, sock),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def test_no_socket_left_open_while_running(outdir, agent):
    a = agent("silent")
    with burning(outdir, a.path) as p:
        deadline = time.monotonic() + 10
        while not a.got(settle=0.05) and time.monotonic() < deadline:
            pass
        time.sleep(REPLY_MS / 1000 * 3)
        links = [os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")]
        assert not [l for l in links if l.startswith("socket:")], links


# ---- ldprof status ----

def test_status_shows_the_agent(outdir, agent):
    a = agent("no")
    with burning(outdir, a.path) as p:
        deadline = time.monotonic() + 10
        while True:
            r = run([str(LDPROF), "status", str(p.pid)], timeout=30)
            line = [l for l in r.stdout.decode().splitlines() if l.split()[:1] == [str(p.pid)]]
            # settled: the shim has asked, the core has finished starting (until then the
            # state is "starting"), and its background thread has named itself
            # (a status taken in between says "sampling?", which is what it sees then)
            if line and "agent:" in line[0] and "sampling?" not in line[0] \
                    and " starting " not in line[0] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert line, r.stdout
        assert re.search(r" sampling +file://\S+; agent: refused \(rate limit\)$", line[0]), line[0]
