# SPDX-License-Identifier: MIT
"""The SIGPROF sampler: accuracy, unwinding, sample counts, thread coverage, knobs.

hot2 (tests/progs/hot2.c) runs 5 threads that each spend CPU in hot_a and hot_b in the ratio
3:1 (by their own CPU clocks). Per-thread CPU timers must see that ratio, unwind through
-fomit-frame-pointer code to the thread's start function, and lose almost no samples
(process-wide ITIMER_PROF loses 10-25% with several busy threads).
"""
import re
import time

import pytest

from agentlib import AGENT_SAN, Agent, agent, wait_for_comm, world  # noqa: F401  (agent, world: fixtures)
from conftest import (LDPROF, SHIM, clean_env, SIGPROF, Stacks, inspect_running, ldprof_run, preload_env,
                      prog, profile_files, profiles_for, read_log, read_profile, run, stacks_in)

HOT2_HZ = 499


@pytest.fixture
def fast_agent(world):
    """An agent (ASan and UBSan) collecting at 997 Hz: a process preloaded by hand from its
    start samples at the rate the agent's answer gives."""
    base = world / "agent997"
    a = Agent(base, binary=AGENT_SAN, ini_text=(
        f"[sampling]\nhz = 997\nflush_interval = 1s\n[output]\nendpoint = file://{base / 'out'}\n"
        f"[agent]\nsocket = {base / 'agent.sock'}\ncover = registered\n[log]\nlevel = info\n"))
    yield a
    a.stop()


def hot2_cpu(stderr):
    m = re.search(rb"hot2: cpu_ns=(\d+) a_ns=(\d+) b_ns=(\d+)", stderr)
    assert m, f"hot2 did not report its CPU time: {stderr!r}"
    return tuple(int(x) for x in m.groups())


@pytest.fixture(scope="module")
def hot2_run(module_outdir):
    d = module_outdir("hot2")
    # 1.2 s per thread, ~3100 samples: run to run, the share of hot_a spreads by ~1.8 points
    # at 500 ms (signals carry ~2 periods at 499 Hz), too close to the +-5 tolerance
    r = ldprof_run([prog("hot2"), "1200"], outdir=d, hz=HOT2_HZ, timeout=60)
    return d, r


@pytest.fixture(scope="module")
def hot2_stacks(hot2_run):
    d, r = hot2_run
    assert r.returncode == 0, r.stderr
    files = profiles_for(d, comm="hot2")
    assert files, f"no hot2 profile in {d}: {sorted(p.name for p in d.iterdir())}"
    return Stacks(files)


def test_hot2_runs_unchanged_under_ldprof(hot2_run):
    d, r = hot2_run
    assert r.returncode == 0
    assert r.stdout == b"hot2: done threads=5 ratio=3:1\n"


def test_one_profile_per_flush_window_named_comm_pid_seq(hot2_run):
    d, r = hot2_run
    files = profile_files(d)
    assert files, "no profile written"
    comms = {c for c, _, _ in files.values()}
    assert comms == {"hot2"}, f"unexpected profile names: {[p.name for p in files]}"
    assert len({pid for _, pid, _ in files.values()}) == 1


def test_hot_function_shares_match_cpu_ratio(hot2_stacks):
    a = hot2_stacks.with_func("hot_a")
    b = hot2_stacks.with_func("hot_b")
    assert a + b > 0, "no sample in hot_a or hot_b:\n" + hot2_stacks.dump()
    share_a = 100.0 * a / (a + b)
    assert 70.0 <= share_a <= 80.0, (
        f"hot_a share {share_a:.1f}% (hot_a={a} hot_b={b}), expected 75 +-5\n" + hot2_stacks.dump())


def test_hot_functions_hold_nearly_all_samples(hot2_stacks):
    tot = hot2_stacks.total()
    ab = hot2_stacks.with_any(["hot_a", "hot_b"])
    assert ab >= 0.95 * tot, f"only {ab}/{tot} samples in hot_a/hot_b\n" + hot2_stacks.dump()


def test_stacks_unwound_to_thread_start_function(hot2_stacks):
    tot = hot2_stacks.total()
    ok = hot2_stacks.with_any(["worker", "main"])
    assert tot > 0
    assert ok >= 0.95 * tot, (
        f"only {ok}/{tot} = {100.0 * ok / tot:.1f}% of samples reach worker/main (need 95%)\n"
        + hot2_stacks.dump())


def test_sample_count_matches_cpu_time(hot2_run, hot2_stacks):
    d, r = hot2_run
    cpu_ns, _, _ = hot2_cpu(r.stderr)
    expected = cpu_ns * HOT2_HZ / 1e9
    got = hot2_stacks.total()
    assert got >= 0.95 * expected, (
        f"{got} samples for {cpu_ns / 1e9:.3f} s CPU at {HOT2_HZ} Hz: expected >= 95% of "
        f"{expected:.0f} ({100.0 * got / expected:.1f}%)")
    assert got <= 1.10 * expected, f"{got} samples, more than CPU time allows ({expected:.0f})"


def test_samples_labelled_with_thread_id_and_name(hot2_stacks):
    ids = hot2_stacks.by_label("thread_id")
    names = hot2_stacks.by_label("thread_name")
    assert None not in ids, "samples without a thread_id label"
    assert None not in names, "samples without a thread_name label"
    assert all(re.fullmatch(r"\d+", t) for t in ids), f"thread ids: {list(ids)}"
    assert len(ids) == 5, f"expected 5 threads, got {ids}"
    assert {"hot2-w0", "hot2-w1", "hot2-w2", "hot2-w3"} <= set(names), f"thread names: {names}"


def test_every_thread_gets_its_fair_share(hot2_stacks):
    # all 5 threads burn the same CPU time: per-thread timers give each ~20%
    ids = hot2_stacks.by_label("thread_id")
    tot = sum(ids.values())
    shares = {t: 100.0 * c / tot for t, c in ids.items()}
    assert all(12.0 <= s <= 28.0 for s in shares.values()), f"per-thread shares: {shares}"


def test_preload_by_hand_at_997hz(outdir, fast_agent):
    # The kernel checks CPU timers at scheduler ticks (CONFIG_HZ=250 here): at 997 Hz one signal
    # carries ~4 periods, so 300 ms per thread gave only ~375 independent signals and the 3:1
    # share wandered past +-5 points about once in 20 runs (68.5% seen). 1500 ms per thread gives
    # ~1900 signals: the same tolerance, enough samples to hold it (spread seen: 72-77%).
    # Preloaded by hand from the start, the ring the agent's (at the rate its answer gives).
    env = by_hand_with_agent(fast_agent, outdir, LDPROF_SAMPLING_HZ=997)
    r = run([prog("hot2"), "1500"], env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hot2: done threads=5 ratio=3:1\n"
    cpu_ns, _, _ = hot2_cpu(r.stderr)
    files = wait_for_comm(fast_agent.out, "hot2")
    assert files, f"no profile from LD_PRELOAD by hand; log: {read_log(outdir, outdir / 'log.txt')}"
    st = Stacks(files)
    expected = cpu_ns * 997 / 1e9
    assert st.total() >= 0.95 * expected, f"{st.total()} samples, expected >= 95% of {expected:.0f}"
    prof = read_profile(files[0])
    assert prof.period == 1_000_000_000 // 997 or abs(prof.period - 1e9 / 997) < 2, prof.period
    a, b = st.with_func("hot_a"), st.with_func("hot_b")
    assert 70.0 <= 100.0 * a / max(1, a + b) <= 80.0, f"hot_a={a} hot_b={b}"


def test_default_rate_is_99hz(outdir):
    r = ldprof_run([prog("burn"), "300"], outdir=outdir, timeout=30)
    assert r.returncode == 0, r.stderr
    files = profiles_for(outdir, comm="burn")
    assert files
    prof = read_profile(files[0])
    assert abs(prof.period - 1e9 / 99) < 2, f"period {prof.period} ns, expected 1e9/99"
    pt = (prof.s(prof.period_type[0]), prof.s(prof.period_type[1]))
    assert pt == ("cpu", "nanoseconds")


def test_activation_logged_once(outdir):
    env = clean_env(LDPROF_LOG_LEVEL="info")
    r = ldprof_run([prog("burn"), "200"], outdir=outdir, hz=123, env=env, timeout=30)
    assert r.returncode == 0
    log = read_log(outdir)
    active = [l for l in log.splitlines() if re.search(r"\bactive\b", l)]
    assert len(active) == 1, f"expected one activation line, log:\n{log}"
    assert "123" in active[0], f"activation line does not show hz=123: {active[0]}"


def test_flush_interval_writes_one_file_per_window(outdir):
    r = ldprof_run([prog("burn"), "2500"], outdir=outdir, hz=200, extra=["--flush-interval", "500ms"],
                   env=clean_env())
    assert r.returncode == 0, r.stderr
    pid = int(re.search(rb"pid=(\d+)", r.stdout).group(1))
    files = profile_files(outdir)
    mine = sorted((seq, p) for p, (c, pi, seq) in files.items() if pi == pid)
    assert len(mine) >= 4, f"2.5 s with 500 ms windows gave {len(mine)} files: {list(files)}"
    seqs = [s for s, _ in mine]
    assert len(set(seqs)) == len(seqs)
    st = Stacks([p for _, p in mine])
    assert st.total() >= 0.95 * 2.5 * 200, f"{st.total()} samples over all windows (expected ~500)"
    times = [read_profile(p).time_nanos for _, p in mine]
    assert times == sorted(times) and len(set(times)) == len(times), f"window start times {times}"


def test_rlimit_sigpending_exhausted(outdir):
    # POSIX timers count against RLIMIT_SIGPENDING: timer_create fails with EAGAIN for some
    # threads; the program must run exactly as without ldprof
    base = run(["prlimit", "--sigpending=2", "--", prog("hot2"), "100"], timeout=60)
    assert base.returncode == 0
    r = run(["prlimit", "--sigpending=2", "--", str(LDPROF), "run", "-o", str(outdir), "--",
             prog("hot2"), "100"], timeout=60)
    assert (r.returncode, r.stdout) == (0, base.stdout), r.stderr


def by_hand_with_agent(agent, outdir, **knobs):
    """Preloaded by hand from the start, an agent running (it offers its ring as the process
    starts): the default path."""
    return preload_env(outdir, LDPROF_AGENT_SOCKET=agent.sock, LDPROF_AGENT_RINGS="true",
                       LDPROF_LOG_FILE=outdir / "log.txt", **knobs)


def ours_mapped(maps):
    """The files of ours mapped, from /proc/PID/maps's text."""
    return {l.split(None, 5)[5] for l in maps.splitlines() if "ldprof" in l and len(l.split(None, 5)) == 6}


def test_kill_switch_disables_everything(outdir, agent):
    env = by_hand_with_agent(agent, outdir, LDPROF_DISABLED=1)
    info, r = inspect_running([prog("burn"), "1200"], env=env, delay=0.6)
    assert r.returncode == 0 and r.stdout.startswith(b"burn: done")
    assert SIGPROF not in info["sigcgt"], "SIGPROF handler installed although LDPROF_DISABLED=1"
    assert info["threads"] == 1, f"{info['threads']} threads although LDPROF_DISABLED=1"
    # nothing of ours mapped but the shim the loader put there
    assert ours_mapped(info["maps"]) == {str(SHIM)}, info["maps"]
    assert not wait_for_comm(agent.out, "burn", timeout=1) and not profile_files(outdir)


def test_active_shim_positive_control(outdir, agent):
    # the same observation points as the kill-switch test, with the shim active: our handler
    # and the ring, no thread of ours, the profile the agent's
    env = by_hand_with_agent(agent, outdir)
    info, r = inspect_running([prog("burn"), "1200"], env=env, delay=0.6)
    assert r.returncode == 0
    assert SIGPROF in info["sigcgt"], "no SIGPROF handler in an active process"
    assert ours_mapped(info["maps"]) == {str(SHIM), "/memfd:ldprof-ring (deleted)"}, info["maps"]
    assert info["threads"] == 1, f"{info['threads']} threads in an active process"
    assert wait_for_comm(agent.out, "burn")


# --- threads that existed before the shim activated, and threads created after ---

@pytest.fixture(scope="module")
def early_run(module_outdir):
    d = module_outdir("early")
    env = clean_env(LDPROF_LOG_LEVEL="info")
    r = ldprof_run([prog("early")], outdir=d, hz=500, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"early: done ctor_threads=2 pre_threads=1 late_threads=1\n"
    m = re.search(rb" pre_cpu_ns=(\d+) ctor_cpu_ns=(\d+) late_cpu_ns=(\d+)", r.stderr)
    assert m, r.stderr
    info = dict(zip(("pre", "ctor", "late"), (int(x) for x in m.groups())))
    return d, info, stacks_in(d, comm="early")


def test_thread_started_in_preinit_before_shim_is_adopted(early_run):
    # DT_PREINIT_ARRAY of the executable runs before every shared object's constructor, so this
    # thread exists before the shim activates: only a /proc/self/task walk can find it.
    d, info, st = early_run
    got = st.with_func("pre_burn")
    expected = info["pre"] * 500 / 1e9
    assert got >= 0.8 * expected, (
        f"pre-existing thread: {got} samples in pre_burn, expected >= 80% of {expected:.0f}\n"
        f"log: {read_log(d)}\n" + st.dump())


def test_threads_started_in_library_constructor(early_run):
    d, info, st = early_run
    got = st.with_func("early_burn")
    expected = info["ctor"] * 500 / 1e9
    assert got >= 0.8 * expected, f"{got} samples in early_burn, expected >= 80% of {expected:.0f}\n" + st.dump()


def test_thread_started_after_activation(early_run):
    d, info, st = early_run
    got = st.with_func("late_burn")
    expected = info["late"] * 500 / 1e9
    assert got >= 0.95 * expected, f"{got} samples in late_burn, expected >= 95% of {expected:.0f}"


def test_adopted_threads_reported_in_log(early_run):
    d, info, st = early_run
    log = read_log(d)
    m = re.search(r"active.*?threads=(\d+)", log)
    assert m, f"no activation line with threads=N in the log:\n{log}"
    assert int(m.group(1)) >= 2, f"shim adopted {m.group(1)} threads; main + early-pre existed:\n{log}"


@pytest.mark.parametrize("leaf,start", [("pre_burn", "pre_thread"), ("early_burn", "early_ctor_thread"),
                                        ("late_burn", "late_thread")])
def test_early_and_late_threads_unwound_to_start_function(early_run, leaf, start):
    d, info, st = early_run
    tot = st.with_func(leaf)
    ok = sum(c for f, c, _ in st.items if leaf in f and start in f)
    assert tot > 0 and ok >= 0.95 * tot, f"{ok}/{tot} samples in {leaf} reach {start}\n" + st.dump()


def test_pre_existing_thread_names(early_run):
    d, info, st = early_run
    names = st.by_label("thread_name")
    assert {"early-pre", "early-ctor0", "early-ctor1", "late"} <= set(names), names


@pytest.mark.parametrize("how", ["run", "preloaded"])
def test_code_without_unwind_info_and_rbp_minus_one(request, outdir, how):
    # jitspin burns CPU in generated code (no object, no .eh_frame) with RBP = -1: the handler
    # crosses code in no file by its frame-pointer chain, and the word at RBP is the last of
    # the address space. It must end the stack there, not fault (issue 14: it died of SIGSEGV
    # at the first sample). Under `ldprof run`, and preloaded by hand with an agent collecting.
    args = [prog("jitspin"), "300"]
    if how == "run":
        r = ldprof_run(args, outdir=outdir, hz=997)
        files = profiles_for(outdir, comm="jitspin")
    else:
        a = request.getfixturevalue("fast_agent")
        r = run(args, env=by_hand_with_agent(a, outdir, LDPROF_SAMPLING_HZ=997))
        files = wait_for_comm(a.out, "jitspin")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"jitspin: done\n", b""), r
    st = Stacks(files)
    assert st.total() >= 100, st.dump()
