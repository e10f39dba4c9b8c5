# SPDX-License-Identifier: MIT
"""sshd with the shim preloaded, as `ldprof install` makes it on a host: logins work and say
exactly what they say without ldprof.

sshd is the daemon a host-wide install must never break: it re-executes itself for every
connection (so every login loads the shim afresh), and its privilege-separated child chroots
into /run/sshd, drops to the sshd user and installs a seccomp sandbox that kills the process
for any call outside its list. Before the shim stepped aside ahead of that sandbox, the child
was killed (SIGSYS, for our timer_settime at exit) and the login hung after "Accepted
publickey". A real sshd on loopback, real keys, the real ssh client. Two ways, an
ldprof-agent collecting: every sshd sampled from its start (start_after_cpu = 0), and as
installed (the default: each sshd waits with our handler and a timer per thread, through its chroot,
setuid and sandbox).
"""
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from agentlib import Agent
from conftest import SHIM, read_log, root_config, run

SSHD = Path("/usr/sbin/sshd")
LOGIN_CMD = "echo hello from $(id -un); printf 'out\\n'; printf 'err\\n' >&2; exit 3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd_setup(tmp_path):
    assert SSHD.exists(), "sshd is missing (Debian package openssh-server, in `make deps`)"
    for key in ("host", "client"):
        r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / key)])
        assert r.returncode == 0, r.stderr
    (tmp_path / "authorized_keys").write_bytes((tmp_path / "client.pub").read_bytes())
    # sshd's privilege-separation folder (the package's unit creates it at boot)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    return tmp_path


def start_sshd(d, env):
    port = free_port()
    cfg = d / f"sshd_config.{port}"
    cfg.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile none\n"
                   f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\n"
                   "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                   "KbdInteractiveAuthentication no\nUsePAM no\nLogLevel VERBOSE\n")
    err = open(d / f"sshd.{port}.err", "wb")
    p = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return p, port
        assert p.poll() is None, (d / f"sshd.{port}.err").read_text()
        time.sleep(0.05)
    p.kill()
    pytest.fail("sshd did not listen within 10 s")


def login(d, port):
    return run(["ssh", "-q", "-i", str(d / "client"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-p", str(port),
                "root@127.0.0.1", LOGIN_CMD], timeout=30)


def logins(d, env, n=3):
    p, port = start_sshd(d, env)
    try:
        return [login(d, port) for _ in range(n)]
    finally:
        p.terminate()
        p.wait(timeout=10)


@pytest.mark.parametrize("start_after", ["0", "default"])
def test_ssh_logins_unchanged_with_the_shim_in_sshd(sshd_setup, outdir, tmp_path, start_after):
    # start_after 0: the ring sampler runs in every sshd from its start, its ring the agent's
    # (asked as it starts: the agent's answer gives the rate); default ([select] start_after_cpu = 20ms):
    # no sshd here uses that much, so each only has our handler and timer, which the
    # privilege-separated child gives up at its chroot, before its setuid and seccomp sandbox
    d = sshd_setup
    plain = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    base = logins(d, plain)
    for r in base:
        assert (r.returncode, r.stdout, r.stderr) == (3, b"hello from root\nout\n", b"err\n"), r
    log = outdir / "ldprof.log"
    env = dict(plain, LD_PRELOAD=str(SHIM), LDPROF_OUTPUT_ENDPOINT=f"file://{outdir}",
               LDPROF_LOG_FILE=str(log), LDPROF_LOG_LEVEL="info")
    if start_after == "0":
        env["LDPROF_SELECT_START_AFTER_CPU"] = start_after
    world = tmp_path / "world"
    world.mkdir(mode=0o755)
    agent = Agent(world / "agent")
    env["LDPROF_AGENT_SOCKET"] = agent.sock
    env = root_config(env)
    try:
        for r, b in zip(logins(d, env), base):
            assert (r.returncode, r.stdout, r.stderr) == (b.returncode, b.stdout, b.stderr), \
                "a login through sshd with the shim differs (255 with no output: it hung or was cut)"
    finally:
        agent.stop()
    text = read_log(outdir, log)
    if start_after == "default":
        # nothing activated, nothing asked the agent: the sshds ran with our handler and timer
        # only (the agent is there as installed, and stopped cleanly). Each privilege-separated
        # child gives its timer up once its chroot succeeded: the line that says so is written
        # from inside the new root, where the log's path is not, so it is not checked here
        # (test_defer_rings.py's nsmove checks that step where the log stays reachable).
        assert "agent:" not in text and "active" not in text, text
        return
    # start_after 0: active in the listener and in each per-connection sshd; each privilege-
    # separated child handed its ring to the agent before its chroot (it may sample too little
    # to have made one by then), so the agent took one per login at least
    assert len(set(re.findall(r"ldprof\[(\d+)\]: info: active", text))) >= 4, text
    alog = agent.log.read_text()
    m = re.search(r"collector: (\d+) rings", alog)
    assert m and int(m.group(1)) >= 3, alog
