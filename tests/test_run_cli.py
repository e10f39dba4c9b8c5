# SPDX-License-Identifier: MIT
"""The `ldprof` command: `run` (options, default folder, file names, errors, exit codes, log
location) and `report` (table, folded stacks, errors)."""
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from agentlib import world  # noqa: F401  (a fixture)
from conftest import (LDPROF, SHIM, Stacks, clean_env, ldprof_for_all, ldprof_run, prog, profile_files,
                      profiles_for, read_log, read_profile, run)

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def ldprof(*args, timeout=30, **kw):
    assert LDPROF.exists(), f"{LDPROF} missing"
    return run([str(LDPROF)] + [str(a) for a in args], timeout=timeout, **kw)


def one_line(b):
    lines = b.decode(errors="replace").strip().splitlines()
    return len(lines) == 1 and lines[0].strip() != ""


# --- run ---------------------------------------------------------------------------------------

def test_run_writes_default_folder_in_cwd(outdir):
    r = ldprof_run([prog("burn"), "300"], cwd=outdir, env=clean_env(LDPROF_LOG_LEVEL="info"), timeout=30)
    assert r.returncode == 0, r.stderr
    d = outdir / "ldprof-profiles"
    assert d.is_dir(), "no ./ldprof-profiles"
    pid = int(re.search(rb"pid=(\d+)", r.stdout).group(1))
    files = profiles_for(d, pid=pid, comm="burn")
    assert files, f"no burn.{pid}.N.pb.gz in {sorted(os.listdir(d))}"
    assert "active" in read_log(d), "log (at level info) not in DIR/ldprof.log"


def test_run_output_folder_and_file_names(outdir):
    r = ldprof_run([prog("burn"), "300"], outdir=outdir / "new" / "sub", timeout=30)
    assert r.returncode == 0, r.stderr
    d = outdir / "new" / "sub"
    pid = int(re.search(rb"pid=(\d+)", r.stdout).group(1))
    names = sorted(os.listdir(d))
    prof = [n for n in names if n.endswith(".pb.gz")]
    assert prof and all(re.fullmatch(rf"burn\.{pid}\.\d+\.pb\.gz", n) for n in prof), names
    st = Stacks(profiles_for(d))
    assert st.with_func("burn_loop") >= 0.8 * 0.3 * 99, st.dump()


def test_run_hz_option(outdir):
    r = ldprof_run([prog("burn"), "400"], outdir=outdir, hz=1000, timeout=30)
    assert r.returncode == 0
    st = Stacks(profiles_for(outdir, comm="burn"))
    assert st.profiles[0].period == 1_000_000
    assert st.total() >= 0.95 * 400, f"{st.total()} samples for 0.4 s at 1000 Hz"


def test_run_as_root_collects_a_program_that_switches_user_and_no_stranger(world):
    """As root, `ldprof run` collects a program of its tree that switches user before an exec
    (setpriv): the collector's socket is open to every user for it (folder 0711, socket 0666),
    and another user's ring is taken only from the run's descendants. A process of that user
    outside the tree that finds the socket is refused, said in its ring so that it stops
    sampling; both run as they would without ldprof."""
    ldp = ldprof_for_all(world, progs=("burn",))
    burn, shim, out = world / "bin" / "burn", world / "lib" / SHIM.name, world / "out"
    sockfile, gate = world / "sock.txt", world / "gate"
    script = (f'echo "$LDPROF_COLLECTOR" > {sockfile}; {" ".join(NOBODY)} {burn} 300; '
              f'while [ ! -e {gate} ]; do sleep 0.05; done')
    tree = subprocess.Popen([ldp, "run", "-o", str(out), "--", "sh", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=clean_env(LDPROF_LOG_LEVEL="info"))
    try:
        deadline = time.monotonic() + 20
        while not (sockfile.exists() and sockfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        sock = sockfile.read_text().strip()
        assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o711
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o666
        stranger = run(NOBODY + ["env", f"LD_PRELOAD={shim}", f"LDPROF_COLLECTOR={sock}",
                                 "LDPROF_SELECT_START_AFTER_CPU=0", str(burn), "300"], timeout=60)
        base = run(NOBODY + [str(burn), "300"], timeout=60)
        assert (stranger.returncode, stranger.stderr) == (base.returncode, base.stderr), stranger
        assert re.fullmatch(rb"burn: done pid=\d+\n", stranger.stdout), stranger
        gate.touch()
        stdout, stderr = tree.communicate(timeout=60)
    finally:
        if tree.poll() is None:
            tree.kill()
            tree.wait()
    assert tree.returncode == 0 and re.fullmatch(rb"burn: done pid=\d+\n", stdout), (stdout, stderr)
    mine, theirs = (int(re.search(rb"pid=(\d+)", b)[1]) for b in (stdout, stranger.stdout))
    pids = {pid for c, pid, _ in profile_files(out).values() if c == "burn"}
    assert pids == {mine}, (pids, mine, theirs)
    st = Stacks(sorted(p for p, (c, _, _) in profile_files(out).items() if c == "burn"))
    assert st.with_func("burn_loop") >= 0.9 * st.total() and st.total() >= 20, st.dump()
    log = read_log(out)
    assert "a ring of uid 65534 refused: not of this tree" in log, log


def test_run_log_goes_to_log_file_env(world):
    """A user's LDPROF_LOG_FILE is honoured; as root (where it may be a user's, kept by sudo)
    it is ignored, `run` says so, and the log stays in -o DIR. The command and the shim are
    copied where nobody can read them (the checkout may be root's alone)."""
    for sub in ("bin", "lib"):
        (world / sub).mkdir()
    for f in (LDPROF, SHIM):
        dst = world / ("bin" if f == LDPROF else "lib") / f.name
        shutil.copy(f, dst)
        os.chmod(dst, 0o755)
    cli = str(world / "bin" / LDPROF.name)
    for who in ("root", "nobody"):
        d = world / who
        d.mkdir()
        shutil.chown(d, who)
        log = d / "elsewhere.log"
        env = clean_env(LDPROF_LOG_FILE=log, LDPROF_LOG_LEVEL="info")
        user = NOBODY if who == "nobody" else []
        r = run(user + [cli, "run", "-o", str(d / "p"), "--", prog_copy(world, "burn"), "100"],
                env=env, cwd=d)
        assert r.returncode == 0, r
        said = b"LDPROF_LOG_FILE is ignored when running as root" in r.stderr
        if who == "root":
            assert said and not log.exists(), r.stderr
            assert "active" in read_log(d / "p"), read_log(d / "p")
        else:
            assert not said and r.stderr == b"", r.stderr
            assert log.exists() and "active" in log.read_text(), "LDPROF_LOG_FILE not honoured"
            assert "active" not in read_log(d / "p")


def prog_copy(world, name):
    """A test program copied where every user can run it."""
    dst = world / "bin" / name
    if not dst.exists():
        shutil.copy(prog(name), dst)
        os.chmod(dst, 0o755)
    return str(dst)


def test_run_log_level_error_is_quiet(outdir):
    env = clean_env(LDPROF_LOG_LEVEL="error")
    r = ldprof_run([prog("burn"), "100"], outdir=outdir, env=env, timeout=30)
    assert r.returncode == 0
    assert "active" not in read_log(outdir), "info line logged at level error"


def test_run_does_not_write_to_program_stdout_stderr(outdir):
    r = ldprof_run(["true"], outdir=outdir, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


USAGE_ERRORS = {
    "no-args": [],
    "unknown-subcommand": ["frobnicate"],
    "run-no-command": ["run"],
    "run-dashdash-no-command": ["run", "--"],
    "run-unknown-option": ["run", "--bogus", "--", "true"],
    "run-hz-0": ["run", "--hz", "0", "--", "true"],
    "run-hz-1001": ["run", "--hz", "1001", "--", "true"],
    "run-hz-not-a-number": ["run", "--hz", "fast", "--", "true"],
    "run-hz-missing-value": ["run", "--hz"],
    "run-o-missing-value": ["run", "-o"],
    "report-top-not-a-number": ["report", "--top", "x"],
    "report-unknown-option": ["report", "--bogus"],
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2(outdir, case):
    marker = outdir / "ran"
    r = ldprof(*USAGE_ERRORS[case], cwd=outdir)
    assert r.returncode == 2, f"exit {r.returncode}, stderr {r.stderr!r}"
    assert r.stderr.strip(), "usage error without a message on stderr"
    assert not marker.exists()


def test_command_not_found_exits_127(outdir):
    r = ldprof_run(["/nonexistent/ldprof-no-such-cmd"], outdir=outdir, timeout=30)
    assert r.returncode == 127, r.stderr
    assert one_line(r.stderr) and b"ldprof-no-such-cmd" in r.stderr, r.stderr
    r = ldprof_run(["ldprof-no-such-cmd-in-path"], outdir=outdir, timeout=30)
    assert r.returncode == 127 and b"ldprof-no-such-cmd-in-path" in r.stderr, r.stderr


def test_command_not_executable_is_an_error(outdir):
    f = outdir / "notexec"
    f.write_text("#!/bin/sh\necho hi\n")
    os.chmod(f, 0o644)
    r = ldprof_run([f], outdir=outdir / "p", timeout=30)
    assert r.returncode != 0 and r.stdout == b""
    assert one_line(r.stderr) and b"notexec" in r.stderr, r.stderr


def _unwritable(outdir, kind):
    if kind == "parent-is-a-file":
        f = outdir / "file"
        f.write_text("x")
        return f / "sub"
    if kind == "proc":
        return Path("/proc/ldprof-test-no-such-dir")
    if kind == "read-only-fs":
        return Path("/sys/ldprof-test")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["parent-is-a-file", "proc", "read-only-fs"])
def test_unwritable_output_folder_reported_before_command_starts(outdir, kind):
    d = _unwritable(outdir, kind)
    marker = outdir / "command-ran"
    r = ldprof_run(["sh", "-c", f"touch {marker}"], outdir=d, timeout=30)
    assert r.returncode != 0
    assert not marker.exists(), "the command ran although the output folder is unwritable"
    assert one_line(r.stderr), f"expected one line on stderr, got {r.stderr!r}"
    assert str(d).encode() in r.stderr or d.name.encode() in r.stderr, r.stderr


def test_exit_status_of_signalled_command_is_128_plus_n(outdir):
    r = ldprof_run([prog("output"), "signal", "15"], outdir=outdir, timeout=30)
    assert r.returncode == 143
    r = ldprof_run([prog("output"), "signal", "9"], outdir=outdir, timeout=30)
    assert r.returncode == 137


def test_exit_code_passed_through(outdir):
    for code in (0, 1, 3, 42, 255):
        r = ldprof_run(["sh", "-c", f"exit {code}"], outdir=outdir, timeout=30)
        assert r.returncode == code


def test_stdin_passed_through(outdir):
    data = os.urandom(200_000)
    r = ldprof_run(["cat"], outdir=outdir, input=data, timeout=30)
    assert r.returncode == 0 and r.stdout == data


# --- report ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hot2_profiles(module_outdir):
    d = module_outdir("report-hot2")
    r = ldprof_run([prog("hot2"), "300"], outdir=d, hz=500, timeout=60)
    assert r.returncode == 0, r.stderr
    files = profiles_for(d, comm="hot2")
    assert files
    return d, files


def test_report_top_table(hot2_profiles):
    d, files = hot2_profiles
    r = ldprof("report", "--top", "10", d)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    lines = out.splitlines()
    la = [l for l in lines if re.search(r"\bhot_a\b", l)]
    lb = [l for l in lines if re.search(r"\bhot_b\b", l)]
    assert la and lb, out
    # hot_a is listed above hot_b (3x the CPU) and its line shows a percentage near 75
    assert lines.index(la[0]) < lines.index(lb[0]), out
    pcts = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)\s*%", la[0])]
    assert any(68 <= p <= 82 for p in pcts), f"hot_a line without a ~75% share: {la[0]!r}"


def test_report_top_n_limits_rows(hot2_profiles):
    d, files = hot2_profiles
    r1 = ldprof("report", "--top", "1", d)
    r10 = ldprof("report", "--top", "10", d)
    assert r1.returncode == 0 and r10.returncode == 0
    out1 = r1.stdout.decode()
    assert re.search(r"\bhot_a\b", out1), out1
    assert not re.search(r"\bhot_b\b", out1), f"--top 1 lists hot_b:\n{out1}"
    assert len(out1.splitlines()) < len(r10.stdout.decode().splitlines())


def test_report_folded(hot2_profiles):
    d, files = hot2_profiles
    r = ldprof("report", "--folded", *files)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines
    total = 0
    for l in lines:
        m = re.fullmatch(r"(\S(?:.*\S)?) (\d+)", l)
        assert m, f"not a folded line: {l!r}"
        total += int(m.group(2))
    assert total == Stacks(files).total(), "folded counts do not add up to the profiles' samples"
    a = [l for l in lines if ";hot_a" in l or l.startswith("hot_a")]
    assert a, "no stack with hot_a"
    # root first: the thread's start function comes before the hot function
    assert any(re.search(r"(worker|main);(.*;)?hot_a( |;)", l) for l in a), "\n".join(a[:5])


def test_report_folder_equals_files(hot2_profiles):
    d, files = hot2_profiles
    a = ldprof("report", "--folded", d)
    b = ldprof("report", "--folded", *files)
    assert a.returncode == b.returncode == 0
    assert sorted(a.stdout.splitlines()) == sorted(b.stdout.splitlines())


def test_report_missing_file(outdir):
    r = ldprof("report", outdir / "nope.pb.gz")
    assert r.returncode != 0
    assert one_line(r.stderr) and b"nope.pb.gz" in r.stderr, r.stderr


@pytest.mark.parametrize("content", [b"", b"not a profile at all", b"\x1f\x8b\x08\x00garbage",
                                     b"\x0a\xff\xff\xff\xff\x0f"])
def test_report_bad_input(outdir, content):
    f = outdir / "bad.pb.gz"
    f.write_bytes(content)
    r = ldprof("report", f)
    assert r.returncode != 0, r.stdout
    assert one_line(r.stderr) and b"bad.pb.gz" in r.stderr, r.stderr


# --- help --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [["run"], ["report"], ["diff"], ["config", "check"], ["flush"],
                                 ["install"], ["uninstall"], ["status"]])
def test_every_command_answers_help(cmd):
    """At once, on stdout, exit 0: usage first, then what it does, and one example."""
    r = ldprof(*cmd, "--help", timeout=5)
    out = r.stdout.decode()
    assert r.returncode == 0 and r.stderr == b"", r
    assert out.startswith(f"usage: ldprof {' '.join(cmd)}"), out
    assert len(out.splitlines()) >= 3, out
    assert re.search(rf"example: ldprof {cmd[0]} ", out), out


def test_ldprof_alone_lists_the_commands():
    r = ldprof(timeout=5)
    err = r.stderr.decode()
    assert r.returncode == 2 and r.stdout == b"", r
    for c in ("run", "report", "diff", "config", "flush", "install", "uninstall", "status"):
        assert re.search(rf"^{c} ", err, re.M), (c, err)
    assert "--help" in err


def test_usage_errors_say_where_to_look():
    for args in (["run", "--bogus", "--", "true"], ["report", "--bogus"], ["diff", "--bogus"],
                 ["install", "--bogus"], ["flush", "--bogus"]):
        r = ldprof(*args, timeout=5)
        assert r.returncode == 2 and b"--help" in r.stderr, (args, r)
