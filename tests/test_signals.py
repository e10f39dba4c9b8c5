# SPDX-License-Identifier: MIT
"""Signals: programs that own SIGPROF, exec in a loop at 1000 Hz, EINTR and errno, and signal
pass-through of `ldprof run`."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agentlib import world  # noqa: F401  (a fixture)
from conftest import (LDPROF, SHIM, clean_env, ldprof_run, preload_env, prog, profile_files, read_log,
                      run, status_of)
from test_dlopen import agent_at

LIBPROFILER = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"


@pytest.mark.parametrize("mode", ["sigaction", "signal"])
def test_program_with_own_sigprof_handler_unchanged(outdir, mode):
    base = run([prog("ownprof"), mode], timeout=30)
    assert base.returncode == 0
    assert base.stdout == b"ownprof: got_signals=yes foreign=0 handler_intact=yes count_ok=yes\n"
    r = ldprof_run([prog("ownprof"), mode], outdir=outdir, hz=997, timeout=30)
    assert r.returncode == base.returncode
    assert r.stdout == base.stdout, f"with ldprof: {r.stdout!r} stderr {r.stderr!r}"
    assert not profiles_of(outdir, "ownprof"), "ldprof wrote a profile for a program owning SIGPROF"


@pytest.mark.parametrize("mode", ["sigaction", "signal"])
def test_program_with_own_sigprof_handler_by_hand(outdir, world, mode):
    base = run([prog("ownprof"), mode], timeout=30)
    # preloaded by hand, the agent collecting rings (at the rate asked): the sampler, started
    # as the process starts, steps aside when the program takes SIGPROF
    a = agent_at(world, 997)
    try:
        env = preload_env(outdir, LDPROF_SAMPLING_HZ=997, LDPROF_AGENT_SOCKET=a.sock,
                          LDPROF_AGENT_RINGS="true", LDPROF_LOG_FILE=outdir / "log.txt", LDPROF_LOG_LEVEL="info")
        r = run([prog("ownprof"), mode], env=env, timeout=30)
    finally:
        a.stop()
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r.stderr
    assert not profiles_of(outdir, "ownprof")
    log = read_log(outdir, outdir / "log.txt")
    assert "collector=" in log, f"the ring sampler never started: the test proves nothing\n{log}"
    assert "stepping aside: the program installs its own SIGPROF handler" in log, \
        f"stepping aside not logged:\n{log}"


def profiles_of(d, comm):
    return [p for p, (c, _, _) in profile_files(d).items() if c == comm]


@pytest.mark.parametrize("order", ["gperftools-first", "ldprof-first"])
def test_gperftools_cpu_profiler_keeps_working(outdir, order):
    assert Path(LIBPROFILER).exists(), "google-perftools' libprofiler missing (make deps)"
    libs = [LIBPROFILER, str(SHIM)] if order == "gperftools-first" else [str(SHIM), LIBPROFILER]
    cpuprofile = outdir / "gperf.prof"
    # under `ldprof run`, with the preloads in the order asked (env sets them for burn)
    r = ldprof_run(["env", f"LD_PRELOAD={' '.join(libs)}", prog("burn"), "800"], outdir=outdir,
                   env=clean_env(CPUPROFILE=cpuprofile, CPUPROFILE_FREQUENCY="200"), timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"burn: done")
    assert cpuprofile.exists() and cpuprofile.stat().st_size > 200, "gperftools wrote no profile"
    # gperftools got its ~160 samples (0.8 s at 200 Hz), not many more and not far fewer
    pprof = run(["google-pprof", "--text", prog("burn"), str(cpuprofile)], timeout=60)
    m = re.search(rb"Total: (\d+) samples", pprof.stdout + pprof.stderr)
    assert m, pprof.stdout + pprof.stderr
    assert 110 <= int(m.group(1)) <= 200, f"gperftools counted {m.group(1)} samples for 0.8 s at 200 Hz"
    assert not profiles_of(outdir, "burn"), "ldprof sampled a process that gperftools profiles"
    # the shim was there, and said why it left SIGPROF to gperftools (staying off, or stepping
    # aside when its constructor ran first)
    assert re.search(r"(staying off|stepping aside): the program (has|installs) its own SIGPROF handler|"
                     r"staying off: the program has a SIGPROF handler of its own", read_log(outdir)), \
        read_log(outdir)


def test_exec_loop_at_1000hz_never_dies_of_sigprof(outdir):
    r = ldprof_run([prog("execloop"), "200", "3000"], outdir=outdir, hz=1000, timeout=120)
    assert b"Profiling timer expired" not in r.stderr, r.stderr[-500:]
    assert r.returncode == 0, f"exit {status_of(r)}: {r.stderr[-500:]!r}"
    assert r.stdout == b"execloop: done N=200\n"


def test_exec_loop_by_hand_at_1000hz(outdir, world):
    # each image registers with the agent as it starts and hands it a ring of its own
    a = agent_at(world, 1000)
    try:
        env = preload_env(outdir, LDPROF_SAMPLING_HZ=1000, LDPROF_AGENT_SOCKET=a.sock,
                          LDPROF_AGENT_RINGS="true", LDPROF_LOG_FILE=outdir / "log.txt", LDPROF_LOG_LEVEL="info")
        r = run([prog("execloop"), "100", "10000"], env=env, timeout=120)
        rings = int(a.status()[0]["rings"])
    finally:
        a.stop()
    assert r.returncode == 0, f"exit {status_of(r)} (27 = SIGPROF): {r.stderr[-500:]!r}"
    assert r.stdout == b"execloop: done N=100\n"
    log = read_log(outdir, outdir / "log.txt")
    # every image sampled (the first and the 100 it execs), each made a ring in its 10 ms: a
    # CPU timer fires at the kernel's tick (250 a second here), which an image of 2 ms missed
    # now and then (25 rings of 101 once, under load)
    assert log.count("hz=1000 threads=1 collector=") == 101, log[-2000:]
    assert rings >= 98, f"{rings} rings for 101 images sampled at 1000 Hz for 10 ms each"


def test_restartable_calls_never_fail_with_eintr_and_errno_preserved(outdir):
    r = ldprof_run([prog("eintr"), "2"], outdir=outdir, hz=1000, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (b"eintr: read_eintr=0 write_eintr=0 waitpid_eintr=0 errno_clobbered=0 "
                        b"ops_ok=yes\n"), r.stderr
    assert profiles_of(outdir, "eintr"), "eintr was not profiled"


def _start_and_signal(cmd, sig, outdir):
    p = subprocess.Popen([str(LDPROF), "run", "-o", str(outdir), "--"] + cmd, env=clean_env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.7)
        p.send_signal(sig)
        out, err = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"`ldprof run` did not end within 15 s of {sig!r}")
    return p, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_to_ldprof_run_reaches_command(outdir, sig):
    p, out, err = _start_and_signal(["sleep", "30"], sig, outdir)
    assert status_of(p) == 128 + sig.value, f"exit {p.returncode}, stderr {err!r}"


def test_signal_handled_by_command_passes_exit_status(outdir):
    script = "import signal,sys,time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\ntime.sleep(30)\n"
    p, out, err = _start_and_signal(["/usr/bin/python3", "-c", script], signal.SIGTERM, outdir)
    assert p.returncode == 7, err


@pytest.mark.parametrize("mode", ["ign", "dfl"])
def test_program_setting_sigprof_to_default_or_ignore_is_still_profiled(outdir, mode):
    """SIG_DFL or SIG_IGN through sigaction() is not a handler of the program's own: ldprof
    keeps sampling, the program's query sees what it set, and a SIGPROF from outside does what
    the program asked for (ignored, or death by SIGPROF)."""
    base = run([prog("sigreset"), mode], timeout=30)
    # (a process killed by a signal writes no profile at exit: flush while it works)
    r = ldprof_run([prog("sigreset"), mode], outdir=outdir, hz=199, timeout=30,
                   extra=("--flush-interval", "200ms"))
    assert (r.returncode, r.stdout, r.stderr) == (status_of(base), base.stdout, base.stderr)
    assert base.stdout.startswith(b"sigreset: query=ok\n")
    if mode == "ign":
        assert base.returncode == 0 and base.stdout.endswith(b"survived\n")
    else:
        assert r.returncode == 128 + signal.SIGPROF
    assert profiles_of(outdir, "sigreset"), "stepped aside on SIG_DFL/SIG_IGN"
