# SPDX-License-Identifier: MIT
"""`ldprof status [--root DIR] [PID...]`: the install in DIR/etc/ld.so.preload (never the real
/etc: a missing library is an emergency, exit 1) and, for real running processes, what the shim
decided in each, read from its `ldp_state` and checked against /proc.

Process lines are "PID USER COMM STATE DETAIL..." (the first four never hold a blank).
"""
import os
import pwd
import shutil
import signal
import subprocess
import time

import pytest

from agentlib import agent, world  # noqa: F401  (fixtures)
from conftest import LDPROF, PROGS, SHIM, as_host_init, clean_env, preload_env, prog, run

LIB = "/usr/lib/ldprof/libldprof.so"


def status(*args):
    return run([str(LDPROF), "status"] + [str(a) for a in args], timeout=30)


def procs(stdout):
    """{pid: {"user", "comm", "state", "detail"}} of the process lines of a status output."""
    out = {}
    for line in stdout.decode().splitlines():
        f = line.split(None, 4)
        if len(f) >= 4 and f[0].isdigit():
            out[int(f[0])] = {"user": f[1], "comm": f[2], "state": f[3],
                              "detail": f[4] if len(f) > 4 else ""}
    return out


def summary(stdout):
    lines = [l for l in stdout.decode().splitlines() if " carr" in l and "the shim:" in l]
    assert len(lines) == 1, stdout
    return lines[0]


@pytest.fixture
def started():
    """Starts programs (killed at the end); returns the Popen."""
    procs_ = []

    def start(cmd, env):
        p = subprocess.Popen([str(c) for c in cmd], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs_.append(p)
        return p
    yield start
    for p in procs_:
        if p.poll() is None:
            p.kill()
        p.wait()


def wait_state(pid, want, timeout=10.0, args=None):
    """Polls `status PID` until the process's STATE is in want; returns the last (result, line)."""
    deadline = time.monotonic() + timeout
    while True:
        r = status(*(args if args is not None else [pid]))
        line = procs(r.stdout).get(pid)
        if line and line["state"] in want or time.monotonic() > deadline:
            return r, line
        time.sleep(0.1)


def ldprof_threads(pid):
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names.count("ldprof")


def test_shim_symbol_exported():
    out = run(["nm", "-D", str(SHIM)]).stdout.decode()
    assert any(l.split()[-1] == "ldp_state" for l in out.splitlines() if l.strip()), \
        f"{SHIM} does not export ldp_state (shim/state.h): status can only say 'symbol missing'"


def with_agent(agent, outdir, **knobs):
    """Preloaded by hand from the start, the agent taking the ring (the default path)."""
    return preload_env(outdir, LDPROF_AGENT_SOCKET=agent.sock, LDPROF_AGENT_RINGS="true", **knobs)


def by_hand(outdir, **knobs):
    """Preloaded by hand from the start with the defaults ([agent] rings)."""
    return preload_env(outdir, LDPROF_AGENT_RINGS="true", **knobs)


def test_sampling_process(outdir, started, agent):
    p = started([prog("burn"), 600000], with_agent(agent, outdir))
    r, line = wait_state(p.pid, {"ring-sampling"})
    assert r.returncode in (0, 1), r.stderr  # 1 only if this host's own ld.so.preload is broken
    assert line, r.stdout
    assert line["state"] == "ring-sampling" and agent.sock in line["detail"], r.stdout
    assert line["comm"] == "burn" and line["user"] == pwd.getpwuid(os.geteuid()).pw_name, r.stdout
    assert ldprof_threads(p.pid) == 0, "the ring sampler has no thread"
    assert p.poll() is None, "status must leave the process alone"
    # without PIDs: listed too, and counted in the summary
    r, line = wait_state(p.pid, {"ring-sampling"}, args=[])
    assert line and line["state"] == "ring-sampling", r.stdout
    s = summary(r.stdout)
    n = int(s.split()[0])
    assert n >= 1 and int(s.split(":")[1].split()[0]) >= 1, s


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_no_collector_by_hand(libc, outdir, started, tmp_path):
    """Preloaded by hand with the defaults ([agent] rings), no `ldprof run` and no agent
    listening: off from the start, glibc and musl alike, with what the agent answered; no
    thread, no library (but the preloaded one), no ring, no profile of ours."""
    exe = prog("burn") if libc == "glibc" else PROGS / "musl" / "burn"
    env = preload_env(outdir, LDPROF_AGENT_RINGS="true", LDPROF_AGENT_SOCKET=tmp_path / "nobody.sock",
                      LDPROF_LOG_FILE=outdir / "log.txt", LDPROF_LOG_LEVEL="info")
    p = started([exe, 600000], env)
    r, line = wait_state(p.pid, {"no-collector"})
    assert line and line["state"] == "no-collector", r.stdout
    assert line["detail"].startswith("no collector: ldprof-agent none (") and "ldprof run collects" in \
        line["detail"], line
    with open(f"/proc/{p.pid}/maps") as f:
        maps = f.read()
    ours = {l.split(None, 5)[5] for l in maps.splitlines() if len(l.split(None, 5)) == 6}
    assert {m for m in ours if "ldprof" in os.path.basename(m)} == {str(SHIM)}, maps
    assert ldprof_threads(p.pid) == 0 and len(os.listdir(f"/proc/{p.pid}/task")) == 1
    log = (outdir / "log.txt").read_text()
    assert "staying off: no collector: ldprof-agent none (" in log, log
    assert not list(outdir.glob("*.pb.gz"))


def test_disabled_process(outdir, started):
    p = started([prog("burn"), 600000], by_hand(outdir, LDPROF_DISABLED=1))
    r, line = wait_state(p.pid, {"disabled"})
    assert line and line["state"] == "disabled", r.stdout
    assert ldprof_threads(p.pid) == 0
    r, _ = wait_state(p.pid, {"disabled"}, args=[])
    assert "off (" in summary(r.stdout) and "disabled " in summary(r.stdout), r.stdout


def test_process_under_seccomp(outdir, started):
    from test_select import fstrim_filter
    p = started(fstrim_filter(["sleep", 600]), by_hand(outdir))
    r, line = wait_state(p.pid, {"seccomp"})
    assert line and line["state"] == "seccomp" and "include_seccomp" in line["detail"], r.stdout
    assert ldprof_threads(p.pid) == 0


def test_the_hosts_init(outdir, started, tmp_path):
    """PID 1 of the first PID namespace: off, by its own name. (A PID 1 whose /proc says it is
    the host's: conftest.)"""
    argv, env = as_host_init("exec sleep 600", by_hand(outdir, LDPROF_AGENT_SOCKET=""), tmp_path)
    p = started(argv, env)
    deadline = time.monotonic() + 10
    init = None
    while init is None and time.monotonic() < deadline:  # unshare --fork's child: PID 1 inside
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
            with open(f"/proc/{kids[0]}/comm") as f:
                init = int(kids[0]) if f.read().strip() == "sleep" else None
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    assert init, p.stderr
    r, line = wait_state(init, {"host-init"})
    assert line and line["state"] == "host-init", r.stdout
    assert "the host's init (PID 1) is never sampled" in line["detail"], r.stdout
    assert ldprof_threads(init) == 0


@pytest.mark.parametrize("mode", ["sigaction", "signal"])
def test_program_owning_sigprof(outdir, started, agent, mode):
    p = started([prog("ownprof"), mode], with_agent(agent, outdir))
    r, line = wait_state(p.pid, {"stepped-aside", "foreign-sigprof"}, timeout=0.8)
    if p.poll() is not None and not line:
        pytest.fail(f"ownprof ended before status saw it: {r.stdout!r}")
    assert line and line["state"] in ("stepped-aside", "foreign-sigprof"), r.stdout
    assert p.wait(timeout=30) == 0, p.stderr.read()


RAWFORK = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None)
pid = libc.syscall(57)  # SYS_fork on x86_64: no atfork handler runs in the child
if pid == 0:
    # SIGPROF back to the default behind our back (SYS_rt_sigaction, no wrapper sees it)
    libc.syscall(13, 27, ctypes.create_string_buffer(32), None, 8)
    time.sleep(600)
    os._exit(0)
print(pid, flush=True)
time.sleep(600)
"""


def test_state_that_lies_is_shown_with_a_question_mark(outdir, started, tmp_path, agent):
    """A raw fork() child inherits its parent's state ("ring-sampling"); with SIGPROF no longer
    caught (the ring sampler has no thread: its handler is what status can check), it lies."""
    script = tmp_path / "rawfork.py"
    script.write_text(RAWFORK)
    p = subprocess.Popen(["/usr/bin/python3", str(script)], env=with_agent(agent, outdir),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        child = int(p.stdout.readline())
        try:
            r, line = wait_state(p.pid, {"ring-sampling"})
            assert line and line["state"] == "ring-sampling", r.stdout
            r, line = wait_state(child, {"ring-sampling?"})
            assert line and line["state"] == "ring-sampling?", r.stdout
            assert line["detail"].startswith("(SIGPROF not caught)"), r.stdout
            assert f"(state written by pid {p.pid}: inherited at fork)" in line["detail"], r.stdout
            assert "unknown (ring-sampling? 1)" in summary(r.stdout), r.stdout
        finally:
            os.kill(child, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()


def test_32_bit_process_carries_the_stub(tmp_path):
    """A 32-bit program that got the $LIB line finds the 32-bit stub (here through LD_PRELOAD,
    which the loader expands as it does /etc/ld.so.preload): off, never "unknown"."""
    from conftest import BUILD, ROOT
    abi32 = tmp_path / "abi32"
    r = run(["gcc", "-m32", "-O2", "-o", str(abi32), str(ROOT / "tests/host/abi32.c")])
    assert r.returncode == 0, r.stderr
    env = clean_env(LD_PRELOAD=f"{BUILD}/lib/ldprof/$LIB/libldprof.so")
    p = subprocess.Popen([str(abi32), "wait"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        r, line = wait_state(p.pid, {"32-bit-stub"})
        assert line and line["state"] == "32-bit-stub", r.stdout
        assert "32-bit program" in line["detail"], line
        r, _ = wait_state(p.pid, {"32-bit-stub"}, args=[])
        assert "32-bit-stub " in summary(r.stdout), r.stdout
    finally:
        out, err = p.communicate(b"", timeout=10)
    assert (p.returncode, err) == (3, b"abi32: a line on stderr\n")
    assert out.startswith(b"abi32: pointer=4 ")


def test_process_without_shim(started):
    p = started([prog("burn"), 600000], clean_env())
    time.sleep(0.2)
    r = status()
    assert p.pid not in procs(r.stdout), r.stdout
    r = status(p.pid)
    assert procs(r.stdout)[p.pid]["state"] == "no-shim", r.stdout
    assert procs(r.stdout)[p.pid]["comm"] == "burn"


def test_process_that_does_not_exist():
    pid = int(open("/proc/sys/kernel/pid_max").read()) - 1
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    r = status(pid)
    assert r.returncode in (0, 1)
    assert procs(r.stdout)[pid]["state"] == "no-process", r.stdout


def test_comm_with_blanks_and_escapes_stays_one_column(outdir, started, agent):
    exe = outdir / "a b\x1b[31m"
    shutil.copy(prog("burn"), exe)
    p = started([exe, 600000], with_agent(agent, outdir))
    r, line = wait_state(p.pid, {"ring-sampling"})
    assert line and line["comm"] == "a_b?[31m", r.stdout
    assert b"\x1b" not in r.stdout


# ---- the install, in a fake root ----

@pytest.fixture
def root(fake_root):
    return fake_root


def snapshot(d):
    return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_mode) for p in d.rglob("*"))


def test_root_installed(root):
    (root / "etc/ld.so.preload").write_text("# site\n/usr/lib/other.so\n" + LIB + "\n")
    before = snapshot(root)
    r = status("--root", root, os.getpid())
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.decode()
    assert f"preload  {root}/etc/ld.so.preload: installed" in out, out
    assert f"ours     line 3: {root}{LIB}: ok (regular file" in out, out
    assert "config   none: defaults" in out
    assert snapshot(root) == before, "status must write nothing"


def test_root_with_config(root):
    (root / "etc/ldprof").mkdir()
    (root / "etc/ldprof/ldprof.ini").write_text("[sampling]\nhz = 99\n")
    os.chmod(root / "etc/ldprof/ldprof.ini", 0o644)
    r = status("--root", root, os.getpid())
    assert f"config   {root}/etc/ldprof/ldprof.ini\n".encode() in r.stdout, r.stdout
    os.chmod(root / "etc/ldprof/ldprof.ini", 0o666)
    r = status("--root", root, os.getpid())
    assert b"(unsafe: can be changed by users other than root" in r.stdout, r.stdout


def test_root_not_installed(root):
    r = status("--root", root, os.getpid())
    assert r.returncode == 0, r.stderr
    assert f"preload  {root}/etc/ld.so.preload: not installed (no such file)".encode() in r.stdout
    (root / "etc/ld.so.preload").write_text("/usr/lib/other.so\n")
    r = status("--root", root, os.getpid())
    assert r.returncode == 0
    assert b"not installed (no line names libldprof.so)" in r.stdout, r.stdout


def test_root_missing_library_is_an_emergency(root):
    (root / "etc/ld.so.preload").write_text("/opt/gone/libldprof.so\n")
    before = snapshot(root)
    r = status("--root", root, os.getpid())
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"ours     line 1: {root}/opt/gone/libldprof.so: MISSING".encode() in r.stdout, r.stdout
    assert b": BROKEN" in r.stdout
    assert b"EMERGENCY" in r.stderr and b"ldprof uninstall --root" in r.stderr, r.stderr
    # the processes are still listed after the alarm
    assert os.getpid() in procs(r.stdout)
    assert snapshot(root) == before


@pytest.mark.parametrize("how", ["lib-writable", "folder-writable"])
def test_root_unsafe_library(root, how):
    (root / "etc/ld.so.preload").write_text(LIB + "\n")
    target = {"lib-writable": root / "usr/lib/ldprof/libldprof.so",
              "folder-writable": root / "usr/lib/ldprof"}[how]
    os.chmod(target, 0o777 if target.is_dir() else 0o766)
    r = status("--root", root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert b"UNSAFE (" in r.stdout and b"DANGER" in r.stderr, r.stdout + r.stderr


def test_root_line_not_ours_is_named(root):
    (root / "etc/ld.so.preload").write_text("/a.so /usr/lib/ldprof/libldprof.so\n")
    r = status("--root", root, os.getpid())
    assert b"other    line 1 names libldprof.so" in r.stdout, r.stdout
    assert b"not installed" in r.stdout


def test_usage_errors(root):
    assert status("--bogus").returncode == 2
    assert status("12x").returncode == 2
    assert status("--root").returncode == 2
    assert status("--root", root / "nope").returncode == 2
    r = status("--help")
    assert r.returncode == 0 and b"usage: ldprof status" in r.stdout
