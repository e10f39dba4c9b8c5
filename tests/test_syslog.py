# SPDX-License-Identifier: MIT
"""The first stage's refusals reach syslog when there is no LDPROF_LOG_FILE (a host-wide
install has none): an unsafe config as root, a setting the first stage cannot use. One RFC
3164 datagram "<12>ldprof[PID]: ..." (facility user, severity warning) to /dev/log; routine
decisions (excluded by a rule) never go there, and a secure-execution process sends nothing.

For real: each case runs in a private mount namespace whose /dev is an overlay where /dev/log
is a symlink to a datagram socket this test listens on (tests/host/with_dev_log.sh); the real
/dev/log (absent here, a socket or a link into /run/systemd/journal elsewhere) is never touched.
Needs root (unshare -m, mount).
"""
import os
import re
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, SHIM, clean_env

HOST = ROOT / "tests" / "host"
LINE = re.compile(rb"^<12>ldprof\[(\d+)\]: (.*)$")


def real_dev_log():
    p = Path("/dev/log")
    return (os.path.lexists(p), os.readlink(p) if p.is_symlink() else None)


@pytest.fixture
def syslog(tmp_path):
    """(run, receive): run(cmd, env, preload=None) runs cmd with /dev/log leading to our socket
    (and, with preload, /etc/ld.so.preload holding it); receive() returns every datagram."""
    assert os.geteuid() == 0, "needs root (unshare -m, mount)"
    os.chmod(tmp_path, 0o755)
    before = real_dev_log()
    sock_path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    os.chmod(sock_path, 0o666)

    def run(cmd, env, preload=None):
        scratch = Path(tempfile.mkdtemp(dir=tmp_path))
        inner = ["sh", str(HOST / "with_dev_log.sh"), str(scratch), str(sock_path), *map(str, cmd)]
        if preload is not None:
            pre = scratch / "ld.so.preload"
            pre.write_text(preload)
            (scratch / "etc").mkdir()
            inner = ["sh", str(HOST / "run_in_ns.sh"), str(scratch / "etc"), str(pre), "-", *inner]
        r = subprocess.run(["unshare", "-m", "--propagation", "private", *inner], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        assert b"with_dev_log.sh:" not in r.stderr and b"run_in_ns.sh:" not in r.stderr, r.stderr
        return r

    def receive():
        got = []
        sock.settimeout(0.3)  # the datagram is sent before the program's main(): already queued
        try:
            while True:
                got.append(sock.recv(65536))
        except socket.timeout:
            pass
        return got

    try:
        yield run, receive
    finally:
        sock.close()
        assert real_dev_log() == before, "the real /dev/log changed"


def unsafe_config(tmp_path):
    cfg = tmp_path / "unsafe.ini"
    cfg.write_text("[output]\n")
    os.chmod(cfg, 0o666)  # anyone may write it: root's processes must not use it
    return cfg


def test_unsafe_config_as_root_is_said_in_syslog(syslog, tmp_path):
    run, receive = syslog
    cfg = unsafe_config(tmp_path)
    plain = subprocess.run(["/bin/echo", "hello"], capture_output=True)
    r = run(["/bin/echo", "hello"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=cfg))
    assert (r.returncode, r.stdout, r.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    got = receive()
    assert len(got) == 1, got
    m = LINE.match(got[0])
    assert m, got
    assert m[2] == (b"staying off: root, and the config file or its folder can be written by someone "
                    b"else than root: " + str(cfg).encode()), got
    assert not got[0].endswith(b"\n")


def safe_config(tmp_path, text):
    """root's config file (0644) in a folder only root can write."""
    d = tmp_path / "etc"
    d.mkdir(mode=0o755)
    cfg = d / "ldprof.ini"
    cfg.write_text(text)
    os.chmod(cfg, 0o644)
    return cfg


HZ_ERROR = b"staying off: [sampling] hz (or LDPROF_SAMPLING_HZ) is not a rate from 1 to 1000"


def test_a_rate_the_sampler_cannot_take_is_said_in_syslog(syslog, tmp_path):
    # the default start_after_cpu: the first stage arms the sampler's wait at the configured
    # rate itself, so it refuses one out of range (config check reports it too)
    run, receive = syslog
    cfg = safe_config(tmp_path, f"[output]\nendpoint = file://{tmp_path}\n[sampling]\nhz = 5000\n")
    r = run(["/bin/true"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=cfg))
    assert r.returncode == 0 and r.stderr == b""
    got = receive()
    assert len(got) == 1 and LINE.match(got[0])[2] == HZ_ERROR, got


def test_a_safe_config_sends_nothing(syslog, tmp_path):
    """Safe config (root's, 0644, in a folder only root can write): no refusal, and the routine
    decision (excluded by a rule) is no business of syslog's."""
    run, receive = syslog
    cfg = safe_config(tmp_path, f"[output]\nendpoint = file://{tmp_path}\n\n[select]\nexclude_comm = true\n")
    r = run(["/bin/true"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=cfg))
    assert r.returncode == 0 and r.stderr == b""
    assert receive() == []


def test_with_a_log_file_the_line_goes_there_only(syslog, tmp_path):
    """The config's [log] file takes the first stage's refusals, and its routine decisions
    unless [log] level says warn: none goes to syslog. As root, LDPROF_LOG_FILE is not taken
    (the environment may be a user's): the line goes to syslog, not to that file."""
    run, receive = syslog
    log = tmp_path / "ldprof.log"
    cfg = safe_config(tmp_path, f"[output]\nendpoint = file://{tmp_path}\n[sampling]\nhz = 5000\n"
                                f"[log]\nfile = {log}\n")
    r = run(["/bin/true"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=cfg))
    assert r.returncode == 0 and r.stderr == b""
    assert receive() == []
    assert HZ_ERROR.decode() in log.read_text(), log.read_text()
    log.unlink()

    cfg.write_text(f"[output]\nendpoint = file://{tmp_path}\n[select]\nexclude_comm = true\n"
                   f"[log]\nfile = {log}\n")
    r = run(["/bin/true"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=cfg))
    assert r.returncode == 0 and r.stderr == b""
    assert receive() == []
    assert "staying off, excluded by" in log.read_text(), log.read_text()
    log.unlink()
    cfg.write_text(f"[output]\nendpoint = file://{tmp_path}\n[select]\nexclude_comm = true\n"
                   f"[log]\nfile = {log}\nlevel = warn\n")
    run(["/bin/true"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=cfg))
    assert not log.exists() and receive() == []

    unsafe = unsafe_config(tmp_path)
    mine = tmp_path / "users.log"
    r = run(["/bin/true"], clean_env(LD_PRELOAD=SHIM, LDPROF_CONFIG=unsafe, LDPROF_LOG_FILE=mine))
    assert r.returncode == 0 and r.stderr == b""
    assert not mine.exists()
    got = receive()
    assert len(got) == 1 and str(unsafe).encode() in got[0], got


def test_secure_execution_sends_nothing(syslog, tmp_path):
    """A setuid-root program run by nobody loads the shim from /etc/ld.so.preload and, with
    euid 0, would find the config unsafe; it is AT_SECURE, so it says nothing at all.

    Every root process in the namespace sees the same unsafe config and says so, and the
    program shares its pid with the sh and setpriv that exec it: so datagrams are counted for
    that pid. The control (the same program without the setuid bit, run by root through the
    same chain) gives three, one per image; the secure run two, none from the program."""
    run, receive = syslog
    prog = tmp_path / "secure"
    r = subprocess.run(["gcc", "-O2", "-o", str(prog), str(HOST / "secure.c")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env = clean_env(LDPROF_CONFIG=unsafe_config(tmp_path))

    def datagrams_of_chain(*setpriv_args):
        r = run(["sh", "-c", 'echo $$; exec "$@"', "sh", "setpriv", *setpriv_args, "--clear-groups", prog],
                env, preload=f"{SHIM}\n")
        assert r.returncode == 0, r
        pid, out = r.stdout.split(b"\n", 1)
        return out, [g for g in receive() if g.startswith(b"<12>ldprof[%s]: " % pid)]

    out, got = datagrams_of_chain()
    assert out.startswith(b"secure: at_secure=0 ruid=0 euid=0 ") and len(got) == 3, (out, got)
    os.chown(prog, 0, 0)
    os.chmod(prog, 0o4755)
    out, got = datagrams_of_chain("--reuid=65534", "--regid=65534")
    assert out.startswith(b"secure: at_secure=1 ruid=65534 euid=0 "), out
    assert len(got) == 2, got
