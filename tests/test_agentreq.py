# SPDX-License-Identifier: MIT
"""The shim's side of the ldprof-agent protocol (common/agentproto.h, shim/agentreq.c).

A real AF_UNIX SOCK_SEQPACKET server on a temporary path stands in for the agent: it records
every request with the peer's credentials (SO_PEERCRED) and answers as told (ok, an offer to
collect rings, no, nothing, garbage, or a close). Real programs run with the shim preloaded from
their start ([agent] rings, start_after_cpu = 0): the first stage registers as the process
starts, and a process offered the collector runs the ring sampler, hands its ring over at its
first sample and asks to be sampled from the kernel when it steps aside. The right question is
asked once, by the process itself, and only when it should be; whatever the server does, the
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
HZ = 99  # the rate the stand-in offers with its rings
OFFER = f"registered rings hz={HZ}"  # what ldprof-agent answers a registration with, rings on
RING = b"LDPA1 ring"  # a ring handed over (with its memfd): no reply, and no question


class Agent:
    """A stand-in for ldprof-agent: records (pid, request) and answers by `mode`. "rings":
    a registration is offered the collector (the process then hands its ring here; the ring
    is closed unread), other questions answered ok; "rings-silent": the same offer, and every
    other question accepted but never answered."""

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
                msg, fds, _, _ = socket.recv_fds(conn, 256, 4)
            except OSError:
                msg, fds = b"", []
            for fd in fds:
                os.close(fd)
            with self.lock:
                self.requests.append((pid, msg))
            try:
                if msg == RING:
                    pass  # a collector sends no reply
                elif self.mode in ("rings", "rings-silent") and msg == b"LDPA1 register":
                    conn.send(f"LDPA1 ok {OFFER}".encode())
                elif self.mode == "rings-silent":
                    self.held.append(conn)
                    continue
                elif self.mode in ("ok", "rings"):
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

    def asked(self, settle=0.2):
        """The questions: what got() has, rings handed over left out (whether a short program
        takes a sample, and so makes its ring, is up to the scheduler)."""
        return [(pid, m) for pid, m in self.got(settle) if m != RING]

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
    """The shim preloaded from the process's start, asking the agent at sock, logging at info
    into outdir/ldprof.log. (A deferred start asks nothing: its ring's hand-over registers it,
    test_defer_rings.py.)"""
    knobs.setdefault("LDPROF_AGENT_RINGS", "true")
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

@pytest.mark.parametrize("mode", ["ok", "rings"])
def test_program_registers_once_from_its_own_pid(outdir, agent, mode):
    """Registered once as it starts, whether the agent offers to collect its ring ("rings":
    the ring sampler starts, at the agent's rate) or not ("ok": an agent with rings off; the
    process stays off)."""
    a = agent(mode)
    base = baseline(["agentfds"])
    p = run_prog([prog("agentfds")], env_for(outdir, a.path))
    assert (p.returncode, p.stderr) == (0, base.stderr), p.stderr
    assert p.stdout.splitlines()[0] == base.stdout.splitlines()[0] == b"sigprof: none"
    # the program's own descriptor numbers are those it has without ldprof
    assert p.stdout.splitlines()[1] == base.stdout.splitlines()[1] == b"first free: 3"
    assert a.asked() == [(p.pid, b"LDPA1 register")]
    assert {pid for pid, _ in a.got()} == {p.pid}
    lines = agent_lines(outdir)
    said = "registered" if mode == "ok" else f"registered ({OFFER})"
    assert len(lines) == 1 and lines[0] == f"ldprof[{p.pid}]: agent: {said}", read_log(outdir)
    if mode == "rings":
        assert f"]: info: active pid={p.pid} hz={HZ} threads=1 collector={a.path}" in read_log(outdir)
    else:
        assert "staying off: no collector: ldprof-agent collects no rings" in read_log(outdir)


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
    p = run_prog([prog("go_cgo")], preload_env(outdir, LDPROF_CONFIG=cfg, LDPROF_AGENT_RINGS="true"))
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
    """The ring sampler steps aside when the program installs its own SIGPROF handler (from a
    handler of its own too), then asks the agent to sample the rest from the kernel."""
    a = agent("rings")
    base = baseline(["agentfds", mode])
    p = run_prog([prog("agentfds"), mode], env_for(outdir, a.path))
    assert (p.returncode, p.stderr) == (0, base.stderr)
    assert p.stdout.splitlines()[0] == base.stdout.splitlines()[0] == b"sigprof: installed"
    # the program's own descriptor numbers are those it has without ldprof
    assert p.stdout.splitlines()[1] == base.stdout.splitlines()[1] == b"first free: 3"
    assert a.asked() == [(p.pid, b"LDPA1 register"), (p.pid, b"LDPA1 sample sigprof")]
    log = read_log(outdir)
    assert (f"ldprof[{p.pid}]: stepping aside: the program installs its own SIGPROF handler\n"
            f"ldprof[{p.pid}]: agent: sampling it\n") in log, log


def test_program_taking_sigprof_with_no_collector_asks_nothing_more(outdir, agent):
    """An agent that collects no rings: the process stays off from its start, so its own
    SIGPROF handler meets nothing of ours, and nothing is asked after the registration."""
    a = agent("ok")
    p = run_prog([prog("agentfds"), "sigaction"], env_for(outdir, a.path))
    assert (p.returncode, p.stdout.splitlines()[0]) == (0, b"sigprof: installed"), p
    assert a.got() == [(p.pid, b"LDPA1 register")]
    assert "stepping aside" not in read_log(outdir), read_log(outdir)


@pytest.mark.parametrize("args,knobs", [
    (["agentfds"], {"LDPROF_SELECT_EXCLUDE_COMM": "agentfds"}),
    (["agentfds"], {"LDPROF_DISABLED": "1"}),
    # a config error the first stage finds (a rate of its own is read only for a deferred
    # start: from its start the agent's rate is taken): off, and its activation, which would
    # hand a ring over once burn has used 1 ms, never comes
    (["burn", "100"], {"LDPROF_SAMPLING_HZ": "abc", "LDPROF_SELECT_START_AFTER_CPU": "1ms"}),
])
def test_processes_the_shim_leaves_alone_ask_nothing(outdir, agent, args, knobs):
    a = agent("rings")
    p = run_prog([prog(args[0])] + args[1:], env_for(outdir, a.path, **knobs))
    assert p.returncode == 0, p.stderr
    assert a.got() == []


def test_empty_socket_means_never_ask(outdir, agent, tmp_path):
    a = agent("rings")
    for args in (["agentfds"], ["agentfds", "sigaction"], ["go_cgo"]):
        p = run_prog([prog(args[0])] + args[1:], env_for(outdir, ""))
        assert p.returncode == 0, p.stderr
    # ... also when the file says so and the environment does not
    cfg = tmp_path / "ldprof.ini"
    cfg.write_text(f"[output]\nendpoint = file://{outdir}\n[agent]\nsocket =\n")
    for args in (["agentfds"], ["go_cgo"]):
        p = run_prog([prog(args[0])], preload_env(outdir, LDPROF_CONFIG=cfg, LDPROF_AGENT_RINGS="true"))
        assert p.returncode == 0, p.stderr
    assert a.got() == []
    assert not agent_lines(outdir), read_log(outdir)
    assert "staying off: no collector: no [agent] socket" in read_log(outdir), read_log(outdir)


# ---- whatever the agent does, the program is unchanged ----

@pytest.mark.parametrize("mode", ["absent", "ok", "rings", "no", "garbage", "close", "silent"])
def test_program_unchanged_whatever_the_agent_does(outdir, agent, tmp_path, mode):
    sock = tmp_path / "absent.sock" if mode == "absent" else agent(mode).path
    for args in (["agentfds"], ["agentfds", "in-handler"]):
        never = run_prog([prog(args[0])] + args[1:], env_for(outdir, ""))
        p = run_prog([prog(args[0])] + args[1:], env_for(outdir, sock))
        # the same shim told never to ask: the same descriptors (none of ours left open, the
        # ring's memfd included); and the program's own numbers as without ldprof
        assert (p.returncode, p.stdout, p.stderr) == (0, never.stdout, never.stderr), \
            (p.stdout, never.stdout)
        assert p.stdout.splitlines()[:2] == baseline(args).stdout.splitlines()[:2]
    said = {"absent": "none (no socket)", "ok": "registered", "rings": f"registered ({OFFER})",
            "no": "refused (rate limit)", "garbage": "none (a reply that is not the protocol's)",
            "close": "none (closed without a reply)", "silent": "none (no reply in time)"}[mode]
    assert re.search(rf"^ldprof\[\d+\]: agent: {re.escape(said)}$", read_log(outdir), re.M), read_log(outdir)


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


@pytest.mark.parametrize("mode", ["silent", "rings-silent"])
def test_silent_agent_delays_start_by_the_deadline_at_most(outdir, agent, mode):
    # one question goes unanswered, bounded by the client's deadline: "silent", the
    # registration (no collector then: the process stays off, and its own SIGPROF handler
    # asks nothing); "rings-silent", the registration answered with the offer, then the
    # request to be sampled when the program takes SIGPROF
    a = agent(mode)
    never = timed([prog("agentfds"), "sigaction"], env_for(outdir, ""))
    silent = timed([prog("agentfds"), "sigaction"], env_for(outdir, a.path))
    assert silent - never >= REPLY_MS / 1000 * 0.9, (silent, never)
    assert silent - never < 0.5, (silent, never)
    want = [b"LDPA1 register"] + ([b"LDPA1 sample sigprof"] if mode == "rings-silent" else [])
    assert [m for _, m in a.asked()] == want * 5


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


@pytest.mark.parametrize("mode", ["silent", "rings"])
def test_no_socket_left_open_while_running(outdir, agent, mode):
    """Unanswered ("silent"), or answered and then handed the ring ("rings"): neither the
    question's socket nor the ring's memfd stays open in the process."""
    a = agent(mode)
    want = b"LDPA1 register" if mode == "silent" else RING
    with burning(outdir, a.path) as p:
        deadline = time.monotonic() + 10
        while want not in [m for _, m in a.got(settle=0.05)] and time.monotonic() < deadline:
            pass
        assert want in [m for _, m in a.got(settle=0)], a.got(settle=0)
        time.sleep(REPLY_MS / 1000 * 3)
        links = [os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")]
        assert not [l for l in links if l.startswith(("socket:", "/memfd:"))], links
        if mode == "rings":
            # the ring stays mapped: it is the collector's to drain
            assert "/memfd:ldprof-ring" in Path(f"/proc/{p.pid}/maps").read_text()


# ---- ldprof status ----

@pytest.mark.parametrize("mode", ["no", "rings"])
def test_status_shows_the_agent(outdir, agent, mode):
    a = agent(mode)
    want = {"no": r" no-collector +no collector: ldprof-agent refused \(rate limit\); ldprof run collects; "
                  r"agent: refused \(rate limit\)$",
            "rings": rf" ring-sampling +ring sampler, collector {re.escape(a.path)}; "
                     rf"agent: registered \({OFFER}\)$"}[mode]
    with burning(outdir, a.path) as p:
        deadline = time.monotonic() + 10
        while True:
            r = run([str(LDPROF), "status", str(p.pid)], timeout=30)
            line = [l for l in r.stdout.decode().splitlines() if l.split()[:1] == [str(p.pid)]]
            # settled: the shim has asked, and decided
            if line and "agent:" in line[0] and " undecided " not in line[0] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert line, r.stdout
        assert re.search(want, line[0]), line[0]
