# SPDX-License-Identifier: MIT
"""The eBPF agent, first increment: `ldprof-agent --pid PID -o DIR` samples one running process
from the kernel (per-CPU CPU-clock perf events + a BPF program reading user stacks by frame
pointers) and writes one pprof file when it exits.

static_fp (tests/progs/static_fp.c) is statically linked, so the shim can never load into it;
it waits on stdin (GATE=1) until the agent says it is sampling, then burns ~3 s of CPU in hot_a
and hot_b 70/30 and reports the split it measured itself with CLOCK_THREAD_CPUTIME_ID.
499 Hz gives ~1500 samples: a share's sampling error is ~1.2 points, so ±5 points is ~4 sigma.
"""
import os
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, Stacks, clean_env, prog, profile_files, read_profile, run
from receiver import decode_with_go

AGENT = BUILD / "sbin" / "ldprof-agent"
HZ = 499
SECONDS = 3


def agent():
    assert AGENT.exists(), f"{AGENT} is missing: run `make all`"
    return str(AGENT)


def wait_line(pipe, pattern, timeout):
    """Reads pipe line by line until a line matches pattern; returns everything read."""
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        line = pipe.readline()
        if not line:
            break
        got += line
        if re.search(pattern, line):
            return got
    pytest.fail(f"no line matching {pattern!r} within {timeout}s; got {got!r}")


@pytest.fixture(scope="module")
def agent_run(module_outdir):
    """static_fp sampled by the agent from its first instruction after the gate to its exit."""
    d = module_outdir("static_fp")
    target = subprocess.Popen([prog("static_fp"), str(SECONDS)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(GATE=1))
    ag = subprocess.Popen([agent(), "--pid", str(target.pid), "--hz", str(HZ), "-o", str(d)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=clean_env())
    try:
        ready = wait_line(ag.stderr, rb"^ldprof-agent: sampling pid", 30)
        t_out, t_err = target.communicate(input=b"go\n", timeout=60)
        a_out, a_err = ag.communicate(timeout=30)
    finally:
        for p in (target, ag):
            if p.poll() is None:
                p.kill()
                p.wait()
    return {"dir": d, "pid": target.pid, "rc": target.returncode, "out": t_out, "err": t_err,
            "agent_rc": ag.returncode, "agent_err": ready + a_err}


def own_split(stderr):
    m = re.search(rb"static_fp: hot_a_ns=(\d+) hot_b_ns=(\d+) cpu_ns=(\d+)", stderr)
    assert m, f"static_fp did not report its split: {stderr!r}"
    return tuple(int(x) for x in m.groups())


def test_target_unchanged(agent_run):
    assert agent_run["rc"] == 0, agent_run["err"]
    assert agent_run["out"] == b"static_fp: done\n"
    plain = run([prog("static_fp"), "0.2"], env=clean_env())
    assert plain.returncode == 0 and plain.stdout == b"static_fp: done\n"


def test_one_profile_written(agent_run):
    assert agent_run["agent_rc"] == 0, agent_run["agent_err"]
    files = profile_files(agent_run["dir"])
    assert list(files.values()) == [("static_fp", agent_run["pid"], 0)], \
        f"{sorted(p.name for p in files)}; agent said {agent_run['agent_err']!r}"


def test_profile_parses_with_go(agent_run):
    (path,) = profile_files(agent_run["dir"])
    out = decode_with_go(path)
    assert "hot_a" in out and "hot_b" in out and "main" in out, out[:2000]
    prof = read_profile(path)
    assert prof.sample_types() == [("samples", "count"), ("cpu", "nanoseconds")]
    assert prof.period == 1_000_000_000 // HZ


def test_labels_and_sample_count(agent_run):
    (path,) = profile_files(agent_run["dir"])
    st = Stacks([path])
    assert st.by_label("source") == {"ebpf": st.total()}, st.by_label("source")
    assert set(st.by_label("thread_id")) == {str(agent_run["pid"])}
    _, _, cpu_ns = own_split(agent_run["err"])
    expected = cpu_ns / 1e9 * HZ
    # Every tick of a CPU's clock samples whatever runs there: a busy process gets one sample
    # per period of its CPU time. 80 % leaves room for ticks around start and exit.
    assert st.total() >= 0.8 * expected, (st.total(), expected, agent_run["agent_err"])
    assert st.total() <= 1.2 * expected, (st.total(), expected, agent_run["agent_err"])


def test_shares_match_own_split(agent_run):
    (path,) = profile_files(agent_run["dir"])
    st = Stacks([path])
    a_ns, b_ns, cpu_ns = own_split(agent_run["err"])
    total = st.total()
    got_a, got_b = st.with_func("hot_a") / total, st.with_func("hot_b") / total
    want_a, want_b = a_ns / cpu_ns, b_ns / cpu_ns
    msg = f"hot_a {got_a:.3f} vs {want_a:.3f}, hot_b {got_b:.3f} vs {want_b:.3f}\n{st.dump()}"
    assert abs(got_a - want_a) <= 0.05, msg
    assert abs(got_b - want_b) <= 0.05, msg


def test_stacks_reach_main(agent_run):
    (path,) = profile_files(agent_run["dir"])
    st = Stacks([path])
    # A tick on hot_a's or hot_b's first instruction, before its `push rbp`, finds main's frame
    # pointer still in rbp: the kernel's frame-pointer walk then goes from the leaf straight to
    # main's caller. That is the walk's nature, and rare (a few such ticks in thousands).
    leaf = sum(c for f, c, _ in st.items if f and f[0] in ("hot_a", "hot_b"))
    skipped = sum(c for f, c, _ in st.items if f and f[0] in ("hot_a", "hot_b") and f[1] != "main")
    assert leaf > 0 and skipped <= max(2, leaf // 200), st.dump()
    # samples in hot_a/hot_b are nearly all; each goes leaf -> main
    assert st.with_func("main") >= 0.95 * st.total(), st.dump()


def test_missing_pid(outdir):
    # a pid above pid_max cannot exist
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    r = run([agent(), "--pid", str(pid_max + 1), "-o", str(outdir)], timeout=30)
    assert r.returncode == 1, r
    assert r.stderr == f"ldprof-agent: no process with pid {pid_max + 1}\n".encode(), r.stderr
    assert not profile_files(outdir)


def test_usage_error(outdir):
    r = run([agent(), "-o", str(outdir)], timeout=30)
    assert r.returncode == 2 and b"usage: ldprof-agent" in r.stderr, r


def test_duration_ends_sampling(outdir):
    """--duration stops the agent while the process keeps running; the process is untouched."""
    target = subprocess.Popen([prog("static_fp"), "5"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=clean_env())
    try:
        t0 = time.monotonic()
        r = run([agent(), "--pid", str(target.pid), "--duration", "1", "-o", str(outdir)], timeout=30)
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert took < 4, took
        assert target.poll() is None, "the agent must not stop its target"
        out, _ = target.communicate(timeout=60)
        assert target.returncode == 0 and out == b"static_fp: done\n"
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
    (path,) = profile_files(outdir)
    assert Stacks([path]).with_func("hot_a") > 0


def agent_without(caps, outdir, target_too):
    """`ldprof-agent --pid` run under setpriv with caps (its options) taken away; the target
    as well when target_too (so that its /proc/PID/maps stays readable without the caps)."""
    drop = ["setpriv"] + caps + ["--"]
    target = subprocess.Popen((drop if target_too else []) + [prog("static_fp"), "5"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    try:
        return run(drop + [agent(), "--pid", str(target.pid), "-o", str(outdir)], timeout=30)
    finally:
        target.kill()
        target.wait()


def test_missing_capabilities(outdir):
    """Without CAP_BPF/CAP_PERFMON (every capability dropped, target too, so that /proc/PID/maps
    is still readable) the agent says what is missing in one line, not libbpf's ulimit hint."""
    r = agent_without(["--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"], outdir,
                      target_too=True)
    assert r.returncode == 1, r
    assert r.stderr == (b"ldprof-agent: loading the BPF programs: missing CAP_BPF, CAP_PERFMON "
                        b"and CAP_SYS_PTRACE (run as root, or grant CAP_BPF, CAP_PERFMON and "
                        b"CAP_SYS_PTRACE)\n"), r.stderr
    assert not profile_files(outdir)


def test_the_missing_capability_is_named(outdir):
    """Root without CAP_PERFMON (and without CAP_SYS_ADMIN, which stands in for it): the load
    of the perf_event program fails, and the message names CAP_PERFMON alone."""
    r = agent_without(["--bounding-set=-perfmon,-sys_admin", "--inh-caps=-perfmon,-sys_admin"],
                      outdir, target_too=False)
    assert r.returncode == 1, r
    assert r.stderr.endswith(b": missing CAP_PERFMON (run as root, or grant CAP_BPF, CAP_PERFMON "
                             b"and CAP_SYS_PTRACE)\n"), r.stderr
    assert not profile_files(outdir)


def perf_shares(data):
    """hot_a's and hot_b's self shares in a `perf record` file, from `perf report`."""
    r = run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "sym",
             "-g", "none"], timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode(errors="replace")
    shares = {m[2]: float(m[1]) / 100 for m in re.finditer(r"^\s+([\d.]+)%\s+\[\.\]\s+(hot_[ab])$", out, re.M)}
    assert set(shares) == {"hot_a", "hot_b"}, out[-2000:]
    n = re.search(r"# Samples: (\d+)(K?)", out)  # perf writes 1K for 1000 and more
    return shares["hot_a"], shares["hot_b"], int(n[1]) * (1000 if n[2] else 1) if n else 0


def test_side_by_side_with_perf(outdir):
    """The same run sampled by the agent and by `perf record -g` (Debian linux-perf) at the same
    rate: the two profiles give the same shares within 5 points. (499 Hz rather than the issue's
    99: ~1500 samples each, so the difference of two sampling errors is ~1.7 points.)"""
    data = outdir / "perf.data"
    target = subprocess.Popen([prog("static_fp"), str(SECONDS)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(GATE=1))
    ag = subprocess.Popen([agent(), "--pid", str(target.pid), "--hz", str(HZ), "-o", str(outdir)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=clean_env())
    pf = subprocess.Popen(["perf", "record", "-q", "-F", str(HZ), "-g", "-p", str(target.pid),
                           "-o", str(data)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=clean_env())
    try:
        wait_line(ag.stderr, rb"^ldprof-agent: sampling pid", 30)
        time.sleep(0.5)  # perf prints nothing when it is attached: give it time
        assert pf.poll() is None, pf.stderr.read()
        t_out, _ = target.communicate(input=b"go\n", timeout=60)
        ag.communicate(timeout=30)
        pf.communicate(timeout=60)
    finally:
        for p in (target, ag, pf):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert target.returncode == 0 and t_out == b"static_fp: done\n"
    assert ag.returncode == 0 and pf.returncode == 0
    (path,) = profile_files(outdir)
    st = Stacks([path])
    got_a, got_b = st.with_func("hot_a") / st.total(), st.with_func("hot_b") / st.total()
    perf_a, perf_b, n = perf_shares(data)
    assert n >= 0.5 * SECONDS * HZ, f"perf recorded only {n} samples"
    msg = f"agent hot_a {got_a:.3f} hot_b {got_b:.3f}; perf hot_a {perf_a:.3f} hot_b {perf_b:.3f}"
    assert abs(got_a - perf_a) <= 0.05 and abs(got_b - perf_b) <= 0.05, msg


def sampled_by_pid(argv, outdir):
    """Runs argv, samples it with `ldprof-agent --pid` for 2 s; returns (its stdout, the one
    profile's Stacks). It must exit 0."""
    target = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        r = run([agent(), "--pid", str(target.pid), "--duration", "2", "-o", str(outdir)], timeout=30)
        assert r.returncode == 0, r.stderr
        out, _ = target.communicate(timeout=60)
        assert target.returncode == 0, out
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
    (path,) = profile_files(outdir)
    return out, Stacks([path])


def test_names_come_from_the_hosts_debug_files(outdir):
    """A dynamically linked program whose CPU goes to libc's internal msort_with_tmp (qsort):
    libc's .dynsym has no such name (its address would have been given to an exported function
    before it); the agent names it from libc6-dbg's file, found by build ID, so the profile
    leaves the host named."""
    libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    dyn = subprocess.run(["nm", "-D", "--defined-only", libc], capture_output=True, text=True).stdout
    assert "msort_with_tmp" not in dyn
    out, st = sampled_by_pid([prog("qsortburn"), "4"], outdir)
    assert out == b"qsortburn: done\n"
    assert st.with_func("msort_with_tmp.part.0") > 0.3 * st.total(), st.dump()
    assert st.with_func("cmp") > 0, st.dump()


def test_names_from_minidebuginfo(outdir, tmp_path):
    """A stripped program whose only names for its static functions are its MiniDebugInfo
    (.gnu_debugdata, xz): the agent's profile names them."""
    from test_debuginfo import minidebuginfo
    src = tmp_path / "mdi.c"
    src.write_text(r"""
#include <stdio.h>
#include <time.h>
__attribute__((noinline)) static unsigned spin_inner(unsigned x)
{ for (int i = 0; i < 2000; i++) x = x * 1103515245u + 12345u; return x; }
__attribute__((noinline)) static unsigned spin_outer(unsigned x)
{ return spin_inner(x) ^ spin_inner(x + 1); }
int main(void)
{
	struct timespec t0, t;
	unsigned x = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++)
			x = spin_outer(x);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 3);
	printf("done %u\n", x & 1);
	return 0;
}
""")
    full, exe = tmp_path / "mdi-full", tmp_path / "mdi"
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", full, src], check=True)
    minidebuginfo(full, exe, tmp_path)
    dyn = subprocess.run(["nm", "-D", exe], capture_output=True, text=True).stdout
    assert " main" not in dyn and "spin_inner" not in dyn, dyn
    out, st = sampled_by_pid([str(exe)], outdir)
    assert out.startswith(b"done "), out
    # (spin_inner is a leaf without a frame of its own: the frame-pointer walk goes from it to
    # main, past spin_outer)
    assert st.with_func("spin_inner") > 0.5 * st.total(), st.dump()
    assert st.with_func("main") > 0.9 * st.total(), st.dump()
