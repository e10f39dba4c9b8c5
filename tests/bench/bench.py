#!/usr/bin/python3
"""bench.py — the measurements and the table of `make bench` (started by tests/bench.sh).

Usage: /usr/bin/python3 tests/bench/bench.py [--quick] [--only N[,N...]]
Run from the repository root after `make test-bins`. Prints one markdown table (and writes it to
build/bench.md). --quick runs every part with fewer repetitions (a smoke test of the script).

What is measured (see the notes printed under the table for the method of each row). ldprof has
one path: the shim (libldprof.so) runs the ring sampler in the process and hands its ring to a
collector outside it, `ldprof run`'s own for the tree it starts, or ldprof-agent host-wide
([agent] rings). With no collector the shim stays off, so every profiled configuration here has
one: `ldprof run` (sections 1, 2, 3, 9), or an ldprof-agent of the bench's own (class BenchAgent)
with the shim preloaded as installed (sections 4, 5, 10).
 1. build/tests/progs/bench_work (4 threads, fixed work): wall and CPU time (user+sys of the child
    from wait4) with no profiler, `ldprof run` at 99/999 Hz (also delivering to a network
    endpoint: working, refusing, never answering), gperftools at 99/999 Hz, and no profiler again
    (an A/A row: the noise floor); and the CPU of everything (the program, `ldprof run` and its
    collector: RUSAGE_CHILDREN around the whole command). Runs are interleaved, one of each per
    round; overhead is the median over rounds of (run / no-profiler run of the same round).
    Samples recorded vs expected (CPU seconds x rate): ldprof from `ldprof report --folded`,
    gperftools from its profile file (a sequence of 64-bit words: header, then count, depth,
    pcs... records).
 2. build/tests/progs/bench_deep at 16 and 64 frames under `ldprof run` at 999 Hz: cost per sample
    = (CPU of everything with ldprof - CPU without, same pair) / samples recorded, and the same
    per handler call (the collector's exit log counts them and gives the handler's own time).
    End to end: signal delivery, handler, unwinding in the process and in the collector, the
    collector's symbols and profile writes, `ldprof run` itself, all included.
 3. Extra RSS: ru_maxrss of bench_work under `ldprof run` at 99 Hz minus without, same round
    (the program's own; the collector's memory is outside it).
 4. Start-up of /bin/true and of tests/bench/small.c (libc + libz + libm), timed by
    build/tests/bench/spawn (posix_spawn + waitpid, monotonic clock), paired and interleaved:
    without preload, an empty preloaded library, shim inactive (LDPROF_DISABLED=1), shim excluded
    by [select] rules (from a config file, and from the environment), shim active from the start
    (start_after_cpu = 0: it registers with the bench's ldprof-agent, which takes its ring),
    without again, shim let in and waiting as installed (the default start_after_cpu: our handler
    and a timer per thread), and two reference floors: a preload that only starts a sleeping
    thread, and one that only makes a kernel thread which ends at once.
 5. A fork+exec storm: one sh loop starting 2,000 short programs, with no shim, with the shim
    preloaded (LD_PRELOAD, inherited) but excluded by a rule, with it in every process as
    installed (default start_after_cpu) and active in every process from its start, the bench's
    ldprof-agent collecting; and three reference floors: an empty preload, one that only starts a
    sleeping thread (tests/bench/waiter.c), and one that only makes a raw kernel thread which
    ends at once (tests/bench/thread0.c, the least any thread costs); interleaved rounds, ratios
    against the no-shim run of the same round. Then what one fork() costs a program that carries
    the shim, waiting or sampling into a ring the agent collects (tests/bench/forker.c), against
    no shim, an empty preload and waiter.c.
 6. The eBPF agent (root only; skipped with a warning otherwise): build/tests/progs/bench_work_static
    (bench_work, static, frame pointers) under a ldprof-agent of our own at 99 Hz with
    --bpf-stats, covered (registered through the agent's socket) or not (A/A too), interleaved:
    slowdown, samples recorded, the agent's own CPU and its host-wide cost (its CPU + its BPF
    programs' run time), the BPF program's cost per tick and per sample, and the fork/exec/exit
    hooks' cost per process started.
 7. The agent under a local user's attack (root only): root's registrations, one new process
    each (tests/progs/agentbomb probe), timed from connect to answer while no one attacks and
    while nobody maps a file of 4 M symbols under five names (four of them hard links, one a
    copy) and asks to be sampled and registered in a loop (agentbomb attack); the agent's peak
    memory growth over the section.
 8. The HTML report (`ldprof report --html`) of a profile of 100,000 distinct stacks
    (tests/bench/bigprofile.py, a fixed seed), opened in Debian's Chromium, headless, through
    tests/js/page.mjs: time from navigation to the first paint of the flame graph, and from a
    click on a frame to the zoomed graph painted; and the time `ldprof report --html` takes.
 9. Issue 15's targets for `ldprof run`, against no profiler, interleaved: bench_work at 99 Hz
    (the program's CPU, everything's CPU, samples, extra max RSS), one fork() of a running
    program (tests/bench/forker.c), and 64-frame samples at 999 Hz (end to end, and the handler
    alone by its own clock).
10. Issue 16's targets host-wide: the shim preloaded as installed, the bench's ldprof-agent
    collecting: the activation once per process, and the agent's CPU draining many processes.
Every measured process of 1, 2, 3, 5, 6 and 9 is started by `build/tests/bench/spawn -r` (fork +
execve + wait4; under `ldprof run`, spawn is its child and the program spawn's). --only N[,N] runs
only those sections (e.g. --only 6); the default runs them all.

A profiled run that exits non-zero, dies, hangs or prints something different from the same
program without a profiler is not worked around: it is reported after the table with its exact
command, and the script exits 1.
"""
import contextlib
import gzip
import json
import math
import os
import platform
import shlex
import socket
import struct
import subprocess
import sys
import random
import resource
import re
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rootenv import root_config  # noqa: E402  (tests/rootenv.py)

ROOT = os.getcwd()
B = os.path.join(ROOT, "build")
TMP = os.path.join(B, "bench-tmp")
SHIM = os.path.join(B, "lib", "libldprof.so")
CLI = os.path.join(B, "bin", "ldprof")
WORK = os.path.join(B, "tests", "progs", "bench_work")
DEEP = os.path.join(B, "tests", "progs", "bench_deep")
SPAWN = os.path.join(B, "tests", "bench", "spawn")
EMPTY = os.path.join(B, "tests", "bench", "libempty.so")
WAITER = os.path.join(B, "tests", "bench", "libwaiter.so")
THREAD0 = os.path.join(B, "tests", "bench", "libthread0.so")
FORKER = os.path.join(B, "tests", "bench", "forker")
BURN = os.path.join(B, "tests", "progs", "burn")
GPERF = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"
AGENT = os.path.join(B, "sbin", "ldprof-agent")
WORK_STATIC = os.path.join(B, "tests", "progs", "bench_work_static")
CLIENT = os.path.join(ROOT, "tests", "agent_client.py")
PYTHON = "/usr/bin/python3"
TIMEOUT = 120  # seconds for one run; a run that takes longer is reported as a hang

QUICK = "--quick" in sys.argv[1:]
# --only N[,N...]: run only these sections (1 and 3 are one run: either number runs both); the
# default runs every section. E.g. `python3 tests/bench/bench.py --only 6`.
ONLY = set()
for _i, _a in enumerate(sys.argv[1:]):
    if _a.startswith("--only="):
        ONLY.update(_a[7:].split(","))
    elif _a == "--only" and _i + 2 < len(sys.argv):
        ONLY.update(sys.argv[_i + 2].split(","))
if ONLY & {"1", "3"}:
    ONLY |= {"1", "3"}
WORK_ROUNDS = 3 if QUICK else 13
DEEP_ROUNDS = 3 if QUICK else 21
DEEP_FRAMES = (16, 64)
START_ROUNDS = 50 if QUICK else 600

problems = []  # misbehaviour of a profiled program: listed, and the exit status is 1
warnings = []  # results that may be unsound (e.g. ldprof rebuilt during the run): listed only
SHUFFLE = random.Random(20240601)
PAR = [0.0]  # CPU ÷ wall of bench_work without a profiler: how many CPUs it really had


# ---------------------------------------------------------------- statistics
def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def pct(xs, p):
    """Nearest-rank percentile (p99 of fewer than 100 values is the largest)."""
    s = sorted(xs)
    k = max(1, -(-len(s) * p // 100))  # ceil
    return s[int(k) - 1]


def median_ci95(xs):
    """Distribution-free confidence interval of the median, coverage >= 95%: the k-th smallest
    and k-th largest values, k the largest with 2 * P(Binomial(n, 1/2) <= k - 1) <= 0.05. With
    fewer than 6 values no such k exists and (min, max) is returned (coverage below 95%)."""
    s = sorted(xs)
    n = len(s)
    k, cdf = 1, 0.0
    for j in range(1, n // 2 + 1):
        cdf += math.comb(n, j - 1) / 2 ** n  # P(Binomial <= j - 1)
        if 2 * cdf <= 0.05:
            k = j
    return s[k - 1], s[n - k]


# ---------------------------------------------------------------- running one program
def root_envset(envset):
    """An envset ("K=V K=V", as spawn takes it) with its places moved into a config file."""
    env = root_config(dict(w.split("=", 1) for w in envset.split()))
    return " ".join(f"{k}={v}" for k, v in env.items())


def clean_env():
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith(("LDPROF_", "CPUPROFILE"))}


def run(argv, extra_env, label, prefix=(), prefix_reply=True):
    """Run argv once with extra_env (through `spawn -r`: fork + execve + wait4 in a small C
    program, so ru_maxrss is the program's own); returns dict(wall, cpu, rss_kib, out, err,
    status, hung, cmd, whole_wall, tree_cpu): wall, cpu and rss_kib are the program's own;
    whole_wall and tree_cpu are those of the whole command (prefix, spawn, the program and all
    they waited for: RUSAGE_CHILDREN around it). prefix: a command that runs `spawn -r ...` as
    its last step: `ldprof run` (ldprof_run(); prefix_reply=False: spawn keeps the environment it
    set), or tests/agent_client.py (section 6), which asks the agent and writes the reply line to
    stderr first; that line is taken off err and returned as reply."""
    out_path = os.path.join(TMP, "stdout")
    err_path = os.path.join(TMP, "stderr")
    res_path = os.path.join(TMP, "result")
    extra_env = root_config(extra_env)  # places through a config file: root takes none from env
    envset = " ".join(f"{k}={v}" for k, v in extra_env.items())
    if prefix and not prefix_reply:  # spawn runs under `ldprof run`: keep what it set
        envset = ("+inherit " + envset).strip()
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        ru0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        p = subprocess.run(list(prefix) + [SPAWN, "-r", res_path, str(TIMEOUT), envset] + argv,
                           stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=clean_env())
        t1, ru1 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out_path, "rb") as f:
        out = f.read()
    with open(err_path, "rb") as f:
        err = f.read()
    reply = b""
    if prefix and prefix_reply:  # the client wrote the reply and a newline; a status reply is several lines
        reply, _, err = err.partition(b"\n\n" if err.startswith(b"LDPA1 ok\n") else b"\n")
    if p.returncode != 0:
        sys.exit(f"bench: the driver failed for {label}: {err[-300:]!r}")
    with open(res_path) as f:
        wall_ns, cpu_us, rss, status, hung = (int(x) for x in f.read().split())
    r = dict(wall=wall_ns / 1e9, cpu=cpu_us / 1e6, rss_kib=rss, out=out, err=err,
             status=status, hung=bool(hung), reply=reply, whole_wall=t1 - t0,
             tree_cpu=(ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime))
    cmd = " ".join(f"{k}={shlex.quote(v)}" for k, v in extra_env.items())
    cmd = (cmd + " " if cmd else "") + " ".join(shlex.quote(a) for a in list(prefix[:4] if prefix_reply else prefix) + argv)
    r["cmd"] = cmd
    if hung:
        problems.append(f"{label}: HANG (killed after {TIMEOUT} s): `{cmd}`")
    elif not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        problems.append(f"{label}: {how}: `{cmd}`; stderr: {err[-300:]!r}")
    return r


def check_same(r, ref, label, check_err=True):
    """The profiled run must print what the unprofiled one printed."""
    if r["hung"] or ref["hung"]:
        return
    if r["out"] != ref["out"]:
        problems.append(f"{label}: stdout differs: `{r['cmd']}` printed {r['out'][:200]!r}, "
                        f"without a profiler {ref['out'][:200]!r}")
    if check_err and r["err"] != ref["err"]:
        problems.append(f"{label}: stderr differs: `{r['cmd']}` wrote {r['err'][:300]!r}, "
                        f"without a profiler {ref['err'][:300]!r}")


def fresh_dir(name):
    d = os.path.join(TMP, name)
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    return d


def ldprof_run(d, hz, settings=None):
    """The prefix of run() for a program profiled by `ldprof run` at hz Hz: its collector takes
    the rings of the tree it starts (spawn, and the program, which carries only the ring
    sampler, active from its start); profiles and ldprof.log in d (-o d), unless settings name
    an endpoint (then the log where LDPROF_LOG_FILE says). The log at level info: the collector's
    totals at exit (collector_log). settings: more LDPROF_* for `ldprof run` and the tree (as
    root, the places through a config file of root's, as root takes them)."""
    env = root_config(dict(settings or {}))
    pre = ["env", "LDPROF_LOG_LEVEL=info"] + [f"{k}={v}" for k, v in env.items()] + [CLI, "run", "--hz", str(hz)]
    if "LDPROF_OUTPUT_ENDPOINT" not in (settings or {}):
        pre += ["-o", d]
    return pre + ["--"]


def collector_log(path):
    """What the collector's last lines in ldprof.log say (`ldprof run`, LDPROF_LOG_LEVEL=info):
    calls = samples the handlers put into the rings (one per handler call that recorded), periods
    = what they stand for (1 + overrun each), dropped = samples lost to full rings, handler_us =
    the handler's mean time per sample by its own clock (TSC; the collector measured its rate).
    {} when absent."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return {}
    lines = [l for l in text.splitlines() if "collector: " in l and " rings, " in l]
    if not lines:
        return {}
    out = {}
    m = re.search(r"(\d+) samples \((\d+) periods\), (\d+) dropped", lines[-1])
    if m:
        out.update(calls=int(m.group(1)), periods=int(m.group(2)), dropped=int(m.group(3)))
    m = re.search(r"handler: ([0-9.]+) us per sample", lines[-1])
    if m:
        out["handler_us"] = float(m.group(1))
    return out


def ldprof_samples(d):
    """Total samples and the deepest stack (frames) in the profiles under d."""
    p = subprocess.run([CLI, "report", "--folded", d], capture_output=True, text=True)
    if p.returncode != 0:
        problems.append(f"`ldprof report --folded {d}` failed: {p.stderr.strip()}")
        return 0, {}
    total, depth_hist = 0, {}
    for line in p.stdout.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        n = int(n)
        total += n
        depth = stack.count(";") + 1
        depth_hist[depth] = depth_hist.get(depth, 0) + n
    return total, depth_hist


def gperf_samples(path):
    """Sum of the sample counts in a gperftools CPU profile (None if absent or unreadable)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    nwords = len(data) // 8
    w = struct.unpack_from(f"<{nwords}Q", data)
    if nwords < 5 or w[0] != 0 or w[1] != 3:
        return None
    i, total = 2 + w[1], 0
    while i + 1 < nwords:
        count, depth = w[i], w[i + 1]
        if count == 0 and depth == 1 and i + 2 < nwords and w[i + 2] == 0:
            return total
        total += count
        i += 2 + depth
    return None


# ---------------------------------------------------------------- formatting
def fs(x, unit="s", nd=3):
    return f"{x:.{nd}f} {unit}".strip()


def rng(xs, fmt):
    return f"{fmt(min(xs))} – {fmt(max(xs))}"


def ratio_txt(rs):
    lo, hi = median_ci95(rs)
    return f"×{median(rs):.4f} ({(median(rs) - 1) * 100:+.2f}%)", \
        f"×{min(rs):.3f} – ×{max(rs):.3f}; 95% CI of the median ×{lo:.4f} – ×{hi:.4f}"


rows = []  # (measurement, median, min–max, derived, target, met)
notes = []


def row(*cells):
    rows.append(tuple(str(c) for c in cells))


def verdict(ok):
    return "yes" if ok else "**no**"


def verdict_ci(lo, hi, limit):
    """Target 'value <= limit' judged on the 95% CI of the median."""
    if hi <= limit:
        return "yes"
    if lo > limit:
        return "**no**"
    return "unclear (95% CI spans the target)"


# ---------------------------------------------------------------- 1 and 3: bench_work
def net_settings(d, endpoint):
    """`ldprof run`'s collector delivering to endpoint every 250 ms (so its sender works while the
    program runs), spooling under d, its log in d."""
    return {"LDPROF_OUTPUT_ENDPOINT": endpoint, "LDPROF_OUTPUT_PROTOCOL": "pyroscope",
            "LDPROF_SAMPLING_FLUSH_INTERVAL": "250ms", "LDPROF_SPOOL_DIR": os.path.join(d, "spool"),
            "LDPROF_LOG_FILE": os.path.join(d, "ldprof.log")}


def bench_work():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from receiver import Receiver
    rx = Receiver(os.path.join(TMP, "receiver")).start()
    closed = socket.socket()  # bound, never listening: connections are refused
    closed.bind(("127.0.0.1", 0))
    hole = socket.socket()    # listening, never accepting: connections hang unanswered
    hole.bind(("127.0.0.1", 0))
    hole.listen(1024)
    dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    hole_url = f"http://127.0.0.1:{hole.getsockname()[1]}"
    no_env = lambda d: {}  # noqa: E731
    no_prefix = lambda d: ()  # noqa: E731
    # (key, label, environment, prefix, rate whose samples are counted)
    configs = [
        ("none", "no profiler", no_env, no_prefix, None),
        ("ld99", "ldprof run 99 Hz", no_env, lambda d: ldprof_run(d, 99), 99),
        ("net99", "ldprof run 99 Hz, sent to a receiver on loopback every 250 ms", no_env,
         lambda d: ldprof_run(d, 99, net_settings(d, rx.url)), None),
        ("dead99", "ldprof run 99 Hz, endpoint refusing connections", no_env,
         lambda d: ldprof_run(d, 99, net_settings(d, dead_url)), None),
        ("hole99", "ldprof run 99 Hz, endpoint that never answers", no_env,
         lambda d: ldprof_run(d, 99, net_settings(d, hole_url)), None),
        ("ld999", "ldprof run 999 Hz", no_env, lambda d: ldprof_run(d, 999), 999),
        ("gp99", "gperftools 99 Hz", lambda d: {
            "LD_PRELOAD": GPERF, "CPUPROFILE": os.path.join(d, "gperf.prof"),
            "CPUPROFILE_FREQUENCY": "99"}, no_prefix, 99),
        ("gp999", "gperftools 999 Hz", lambda d: {
            "LD_PRELOAD": GPERF, "CPUPROFILE": os.path.join(d, "gperf.prof"),
            "CPUPROFILE_FREQUENCY": "999"}, no_prefix, 999),
        ("none2", "no profiler again (A/A: noise floor)", no_env, no_prefix, None),
    ]
    res = {k: [] for k, *_ in configs}
    ref = run([WORK], {}, "bench_work warm-up")  # warm-up, and the reference output
    for rnd in range(-1, WORK_ROUNDS):  # round -1: warm-up of every configuration, discarded
        # interleaved, one run of each per round, in an order shuffled each round (fixed seed)
        # so that no configuration always runs first or always after the same other one
        order = list(configs)
        SHUFFLE.shuffle(order)
        for key, label, envf, prefixf, hz in order:
            d = fresh_dir("work")
            r = run([WORK], envf(d), f"bench_work, {label}", prefix=prefixf(d), prefix_reply=False)
            check_same(r, ref, f"bench_work, {label}", check_err=not key.startswith("gp"))
            if key.startswith("ld"):
                r["samples"], _ = ldprof_samples(d)
                r["log"] = collector_log(os.path.join(d, "ldprof.log"))
            elif key in ("net99", "dead99", "hole99"):
                r["delivery"] = delivery_log(os.path.join(d, "ldprof.log"))
            elif key.startswith("gp"):
                r["samples"] = gperf_samples(os.path.join(d, "gperf.prof"))
            if rnd >= 0:
                res[key].append(r)
        sys.stderr.write(f"  bench_work round {rnd + 1}/{WORK_ROUNDS} done\n")

    rx.stop()
    closed.close()
    hole.close()
    base = res["none"]
    PAR[0] = median([b["cpu"] / b["wall"] for b in base])
    for key, label, _, _, hz in configs:
        rs = res[key]
        walls = [r["wall"] for r in rs]
        cpus = [r["cpu"] for r in rs]
        if key == "none":
            row(f"1. bench_work, {label}: wall", fs(median(walls)), rng(walls, fs), "baseline", "", "")
            row(f"1. bench_work, {label}: CPU (user+sys)", fs(median(cpus)), rng(cpus, fs),
                "baseline", "", "")
            trees = [r["tree_cpu"] for r in rs]
            row(f"1. bench_work, {label}: CPU of everything (the program and spawn)", fs(median(trees)),
                rng(trees, fs), "baseline of the rows 'CPU of everything'", "", "")
            continue
        wr = [r["wall"] / b["wall"] for r, b in zip(rs, base)]
        cr = [r["cpu"] / b["cpu"] for r, b in zip(rs, base)]
        target_w = target_c = ok_w = ok_c = ""
        if key == "ld99":
            target_w = target_c = "≤ 1% (aim 0.3%)"
            ok_w = verdict_ci(*median_ci95(wr), 1.01)
            ok_c = verdict_ci(*median_ci95(cr), 1.01)
        # (dead99's target is on its paired row below: a failing endpoint against a working
        # one, since what delivery costs anyway is not the failure's doing)
        rt, rr = ratio_txt(wr)
        row(f"1. bench_work, {label}: wall", fs(median(walls)), rng(walls, fs),
            f"{rt}; ratios {rr}", target_w, ok_w)
        rt, rr = ratio_txt(cr)
        row(f"1. bench_work, {label}: CPU (user+sys)", fs(median(cpus)), rng(cpus, fs),
            f"{rt}; ratios {rr}", target_c, ok_c)
        if key.startswith(("ld", "net", "dead", "hole")):
            # the collector is outside the program: its CPU, and `ldprof run`'s, only here
            trees = [r["tree_cpu"] for r in rs]
            tr = [r["tree_cpu"] / b["tree_cpu"] for r, b in zip(rs, base)]
            rt, rr = ratio_txt(tr)
            row(f"1. bench_work, {label}: CPU of everything (program, collector, ldprof run)",
                fs(median(trees)), rng(trees, fs), f"{rt}; ratios {rr}", target_c,
                verdict_ci(*median_ci95(tr), 1.01) if target_c else "")
        if key == "hole99":
            # The contract: at exit, at most exit_timeout (200 ms) of network, then the rest is
            # spooled (a few ms of zstd and fsync). Nothing is owed while the program runs. The
            # collector delivers, so `ldprof run` is what ends later: judged against the same
            # `ldprof run` with a working endpoint (its own start and last drain are not the
            # endpoint's doing), beside the program without a profiler.
            ww = [r["whole_wall"] for r in rs]
            dw = [r["whole_wall"] - n["whole_wall"] for r, n in zip(rs, res["net99"])]
            dn = [r["whole_wall"] - b["whole_wall"] for r, b in zip(rs, base)]
            row(f"1. bench_work, {label}: wall of the whole `ldprof run`", fs(median(ww)), rng(ww, fs),
                f"{median(dw) * 1000:+.0f} ms vs `ldprof run` with the working endpoint (median of paired "
                f"differences; range {min(dw) * 1000:+.0f} … {max(dw) * 1000:+.0f} ms); "
                f"{median(dn) * 1000:+.0f} ms vs the program without a profiler",
                "≤ +225 ms, once, at exit", verdict(median(dw) <= 0.225))
        if hz:
            samples = [r["samples"] for r in rs]
            if any(s is None for s in samples):
                row(f"1. bench_work, {label}: samples recorded", "n/a", "", "profile missing or unreadable", "", "")
            else:
                share = [s / (r["cpu"] * hz) * 100 for s, r in zip(samples, rs)]
                how = "`ldprof report --folded`" if key.startswith("ld") else "profile file counts"
                row(f"1. bench_work, {label}: samples recorded", f"{median(samples):.0f}",
                    rng(samples, lambda x: f"{x:.0f}"),
                    f"{median(share):.1f}% of CPU s × {hz} (range {min(share):.1f}–{max(share):.1f}%); {how}",
                    "≥ 95% (ldprof tests)" if key.startswith("ld") else "",
                    verdict(median(share) >= 95) if key.startswith("ld") else "")
            logs = [r.get("log", {}) for r in rs]
            if key.startswith("ld") and all("handler_us" in l and l.get("calls") for l in logs):
                sh = [l["calls"] * l["handler_us"] / 1e6 / r["cpu"] * 100 for l, r in zip(logs, rs)]
                row(f"1. bench_work, {label}: time inside the handler", f"{median(sh):.3f}% of CPU",
                    rng(sh, lambda x: f"{x:.3f}%"),
                    f"samples put × the handler's mean time per sample, from the collector's last "
                    f"log line: {median([l['calls'] for l in logs]):.0f} × "
                    f"{median([l['handler_us'] for l in logs]):.2f} µs; a lower bound of the overhead "
                    "(no signal delivery, no collector), precise where the ratios above are not", "", "")

        if "delivery" in rs[0]:
            dl = [r["delivery"] for r in rs]
            row(f"1. bench_work, {label}: what happened to the profiles", "",
                "", "; ".join(f"{k} {median([x.get(k, 0) for x in dl]):.0f}" for k in
                              ("sent", "spooled", "lost", "retries")) + " (medians per run, from the collector's exit log)",
                "lost 0", verdict(all(x.get("lost", 1) == 0 for x in dl)))

    # What a failing endpoint adds to what delivery costs anyway: same round, paired. The
    # collector delivers, so the whole `ldprof run` is what may pay.
    for key, what in (("dead99", "refusing connections"), ("hole99", "that never answers")):
        for m, unit in (("whole_wall", "wall of the whole `ldprof run`"), ("tree_cpu", "CPU of everything")):
            rs = [r[m] / n[m] for r, n in zip(res[key], res["net99"])]
            lo, hi = median_ci95(rs)
            rt, rr = ratio_txt(rs)
            tgt = ok = ""
            if key == "dead99":
                tgt, ok = "not above noise (≤ 1%)", verdict_ci(lo, hi, 1.01)
            row(f"1. bench_work, endpoint {what} ÷ endpoint working: {unit}", "", "",
                f"{rt}; ratios {rr}", tgt, ok)

    # 3. extra RSS, same rounds
    for key, label in (("ld99", "ldprof run 99 Hz"), ("ld999", "ldprof run 999 Hz"), ("gp99", "gperftools 99 Hz"),
                       ("net99", "ldprof run 99 Hz, network endpoint (the collector sends)")):
        d = [(r["rss_kib"] - b["rss_kib"]) / 1024 for r, b in zip(res[key], base)]
        rss = [r["rss_kib"] / 1024 for r in res[key]]
        tgt = "≤ 4 MiB" if key == "ld99" else ""
        row(f"3. extra max RSS, bench_work {label} − no profiler", f"{median(d):+.2f} MiB",
            rng(d, lambda x: f"{x:+.2f}"),
            f"max RSS {median(rss):.2f} MiB vs {median([b['rss_kib'] / 1024 for b in base]):.2f} MiB "
            "(the program's own)", tgt, verdict(median(d) <= 4) if tgt else "")
    return res


def delivery_log(path):
    """The delivery counters of the collector's exit log: {sent, spooled, lost, retries, ...}."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return {}
    m = re.search(r"delivery: (\d+) sent, (\d+) sent from the spool, (\d+) files, (\d+) spooled, "
                  r"(\d+) dropped from a full spool, (\d+) refused, (\d+) lost, (\d+) retries", text)
    if not m:
        return {}
    return dict(zip(("sent", "sent_spooled", "files", "spooled", "spool_dropped", "refused", "lost",
                     "retries"), (int(x) for x in m.groups())))


# ---------------------------------------------------------------- 2: bench_deep
def bench_deep():
    for frames in DEEP_FRAMES:
        depth = frames - 4  # + deep_leaf, deep_worker, start_thread, clone3
        argv = [DEEP, str(depth)]
        ref = run(argv, {}, f"bench_deep {depth} warm-up")
        costs, per_call, handler, samples, calls, dropped, hist = [], [], [], [], [], [], {}
        cpu_on, cpu_off, own = [], [], []
        for rnd in range(-1, DEEP_ROUNDS):
            d = fresh_dir("deep")
            pre = ldprof_run(d, 999)
            if rnd % 2:  # alternate which of the pair runs first
                off = run(argv, {}, f"bench_deep {depth}, no profiler")
                on = run(argv, {}, f"bench_deep {depth}, ldprof run 999 Hz", prefix=pre, prefix_reply=False)
            else:
                on = run(argv, {}, f"bench_deep {depth}, ldprof run 999 Hz", prefix=pre, prefix_reply=False)
                off = run(argv, {}, f"bench_deep {depth}, no profiler")
            check_same(on, ref, f"bench_deep {depth}, ldprof run 999 Hz")
            check_same(off, ref, f"bench_deep {depth}, no profiler")
            n, h = ldprof_samples(d)
            log = collector_log(os.path.join(d, "ldprof.log"))
            if rnd < 0:
                continue
            for k, v in h.items():
                hist[k] = hist.get(k, 0) + v
            samples.append(n)
            cpu_on.append(on["tree_cpu"])
            cpu_off.append(off["tree_cpu"])
            if n > 0:
                costs.append((on["tree_cpu"] - off["tree_cpu"]) / n * 1e6)
                own.append((on["cpu"] - off["cpu"]) / n * 1e6)
            if log.get("calls"):
                calls.append(log["calls"])
                per_call.append((on["tree_cpu"] - off["tree_cpu"]) / log["calls"] * 1e6)
            if "handler_us" in log:
                handler.append(log["handler_us"])
            if "dropped" in log:
                dropped.append(log["dropped"])
        sys.stderr.write(f"  bench_deep {frames} frames done\n")
        if not costs:
            problems.append(f"2. bench_deep {depth} under `ldprof run`: no samples recorded in any run")
            continue
        top_depth = max(hist, key=hist.get) if hist else 0
        share = hist.get(top_depth, 0) / max(1, sum(hist.values())) * 100
        name = f"{frames}-frame stacks (bench_deep {depth}, ldprof run 999 Hz)"
        lo, hi = median_ci95(costs)
        row(f"2. cost per sample recorded, end to end, {name}",
            f"{median(costs):.2f} µs", rng(costs, lambda x: f"{x:.2f}"),
            f"**p99 {pct(costs, 99):.2f} µs** (n={len(costs)} pairs, so p99 = max); 95% CI of the median "
            f"{lo:.2f} – {hi:.2f} µs; of which in the program {median(own):.2f} µs (its own CPU); "
            f"{share:.0f}% of samples had {top_depth} frames; "
            f"{median(samples):.0f} samples/run (weighted by 1 + overrun); CPU of everything "
            f"{median(cpu_on):.3f} s vs {median(cpu_off):.3f} s without",
            "≤ 5 µs" if frames == 64 else "", verdict_ci(lo, hi, 5) if frames == 64 else "")
        if per_call:
            lo, hi = median_ci95(per_call)
            hnd = (f"; the handler alone, by its own clock (the collector's log): mean {median(handler):.2f} µs "
                   f"(range {min(handler):.2f} – {max(handler):.2f} over runs)" if handler else "")
            drp = f"; {sum(dropped)} dropped by full rings in all runs" if dropped else ""
            row(f"2. cost per SIGPROF handled, end to end, {name}",
                f"{median(per_call):.2f} µs", rng(per_call, lambda x: f"{x:.2f}"),
                f"**p99 {pct(per_call, 99):.2f} µs**; 95% CI of the median {lo:.2f} – {hi:.2f} µs; "
                f"{median(calls):.0f} samples put/run (the collector's log) for {median(samples):.0f} "
                f"periods{hnd}{drp}",
                "≤ 5 µs" if frames == 64 else "", verdict_ci(lo, hi, 5) if frames == 64 else "")


# ---------------------------------------------------------------- 4: start-up, 5: fork+exec storm
def small_prog():
    """tests/bench/small.c: build/tests/bench/small when the Makefile built it, else built here."""
    built = os.path.join(B, "tests", "bench", "small")
    if os.access(built, os.X_OK):
        return built
    out = os.path.join(TMP, "small")
    p = subprocess.run(["gcc", "-O2", "-o", out, os.path.join(ROOT, "tests", "bench", "small.c"), "-lz", "-lm"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench: cannot build tests/bench/small.c: {p.stderr.strip()}")
    return out


def probe_log(envset, argv):
    """What the shim's log (level info) says when argv runs with envset (as spawn takes it)."""
    log = os.path.join(TMP, "probe.log")
    env = clean_env()
    env.update(w.split("=", 1) for w in envset.split())
    env.update(LDPROF_LOG_FILE=log, LDPROF_LOG_LEVEL="info")
    env = root_config(env)
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    try:
        with open(log) as f:
            said = f.read()
        os.unlink(log)
    except OSError:
        said = ""
    return said


def check_active(envset, label, section):
    """A configuration that is meant to profile must: tests/progs/burn 60 (past the default
    start_after_cpu) carrying envset has to say `active` in its log. Else the rows would time a
    shim that stays off (no collector), and the problem is listed."""
    said = probe_log(envset, [BURN, "60"])
    if "active pid=" not in said:
        problems.append(f"{section}. {label}: the shim did not start sampling in a probe (burn 60), so these "
                        f"rows time a shim that stays off: its log said {said[-300:]!r}")


def exclusion_sets(d, sock):
    """The environment sets that keep a preloaded shim off by [select] rules, on a host whose
    agent (its socket sock) takes rings: a config file (LDPROF_CONFIG, as /etc/ldprof/ldprof.ini
    would be on a host) and the environment. Checked first: when this build does not apply
    [select], LDPROF_DISABLED=1 stands in, and the labels say so. Returns [(envset, label)]."""
    cfg = os.path.join(d, "exclude.ini")
    with open(cfg, "w") as f:
        f.write(f"[agent]\nsocket = {sock}\n\n[select]\nexclude_comm = *\n")
    sets = [(f"LD_PRELOAD={SHIM} LDPROF_CONFIG={cfg}",
             "shim excluded by a config file ([select] exclude_comm = *, LDPROF_CONFIG)"),
            (f"LD_PRELOAD={SHIM} LDPROF_SELECT_EXCLUDE_COMM=* LDPROF_AGENT_SOCKET={sock}",
             "shim excluded by LDPROF_SELECT_EXCLUDE_COMM=*")]
    out = []
    for envset, label in sets:
        said = probe_log(envset, ["/bin/true"])
        if "excluded" not in said:
            warnings.append(f"[select] is not applied by this build ({label}: no 'excluded' in its log): "
                            f"LDPROF_DISABLED=1 stands in for it")
            envset, label = f"LD_PRELOAD={SHIM} LDPROF_DISABLED=1", label + " — STAND-IN: LDPROF_DISABLED=1"
        out.append((root_envset(envset), label))
    return out


@contextlib.contextmanager
def ring_agent(name):
    """(folder, agent): a fresh folder and the bench's own ldprof-agent taking rings there, as
    a host's does (sections 4, 5, 10); the agent stopped and the folder removed after, whatever
    the section did."""
    d = fresh_dir(name)
    ag = BenchAgent(d, extra="rings = true\nrings_per_user = 1000\n")
    try:
        yield d, ag
    finally:
        ag.stop()
        subprocess.run(["rm", "-rf", d])


def bench_startup():
    with ring_agent("startup") as (d, ag):
        startup_rounds(d, ag)


def startup_rounds(d, ag):
    (cfg_set, cfg_label), (env_set, env_label) = exclusion_sets(d, ag.sock)
    on0 = root_envset(f"LD_PRELOAD={SHIM} LDPROF_AGENT_SOCKET={ag.sock} LDPROF_SELECT_START_AFTER_CPU=0")
    installed = root_envset(f"LD_PRELOAD={SHIM} LDPROF_AGENT_SOCKET={ag.sock}")
    # (key, envset, label); the first is the baseline, "empty" the floor of the targets
    sets = [("none", "", "no preload"),
            ("empty", f"LD_PRELOAD={EMPTY}", "reference floor: an empty .so preloaded (the least any preload costs)"),
            ("disabled", f"LD_PRELOAD={SHIM} LDPROF_DISABLED=1", "shim inactive (LDPROF_DISABLED=1)"),
            ("cfg", cfg_set, cfg_label),
            ("env", env_set, env_label),
            ("on0", on0, "shim active from the start, the agent collecting (start_after_cpu = 0: it "
             "registers with ldprof-agent, which takes its ring)"),
            ("none2", "", "no preload again (A/A: noise floor)"),
            ("waiter", f"LD_PRELOAD={WAITER}", "reference floor: a preload that only starts one sleeping "
             "thread (tests/bench/waiter.c: the least a deferral by a thread costs; ldprof has none)"),
            ("thread0", f"LD_PRELOAD={THREAD0}", "reference floor: a preload that only makes one kernel "
             "thread, which ends at once (tests/bench/thread0.c: the least any thread costs)"),
            ("installed", installed, "shim let in, waiting, as installed ([agent] rings, default "
             "start_after_cpu = 20ms: our handler and a timer per thread, no thread)")]
    check_active(on0, "start-up, shim active from the start", 4)
    check_active(installed, "start-up, shim as installed", 4)
    col = {k: i for i, (k, _, _) in enumerate(sets)}
    off = {"disabled": "shim inactive", "cfg": "shim excluded by a config file",
           "env": "shim excluded by the environment"}
    for path, name in (("/bin/true", "/bin/true"), (small_prog(), "small (libc + libz + libm)")):
        for _ in range(2):  # the first pass warms the page cache and is discarded
            p = subprocess.run([SPAWN, str(START_ROUNDS), path] + [e for _, e, _ in sets],
                               capture_output=True, text=True, env=clean_env())
            if p.returncode != 0:
                problems.append(f"start-up driver failed for {name}: {p.stderr.strip()}")
                return
        t = [[int(x) / 1000 for x in line.split()] for line in p.stdout.splitlines()]
        base = [x[0] for x in t]
        row(f"4. start-up of {name}, no preload", f"{median(base):.0f} µs", rng(base, lambda x: f"{x:.0f}"),
            f"baseline; {len(t)} paired rounds", "", "")
        for key, _, label in sets[1:]:
            i = col[key]
            diff = [x[i] - x[0] for x in t]
            lo, hi = median_ci95(diff)
            tgt = ok = ""
            if key in off:
                de = [x[i] - x[col["empty"]] for x in t]
                dlo, dhi = median_ci95(de)
                row(f"4. start-up of {name}, {off[key]} − empty preload", f"{median(de):+.1f} µs", "",
                    f"median of paired differences; 95% CI {dlo:+.1f} – {dhi:+.1f}: what the shim's "
                    "own code costs beyond loading a library", "≤ 20 µs", verdict_ci(dlo, dhi, 20))
            if key == "on0":
                tgt, ok = "≤ 1 ms extra", verdict_ci(lo, hi, 1000)
            if key == "installed":
                de = [x[i] - x[col["empty"]] for x in t]
                dlo, dhi = median_ci95(de)
                row(f"4. start-up of {name}, {label} − empty preload", f"{median(de):+.1f} µs", "",
                    f"median of paired differences; 95% CI {dlo:+.1f} – {dhi:+.1f} (issue 16: a process "
                    "that never reaches start_after_cpu)", "≤ 10 µs", verdict_ci(dlo, dhi, 10))
            row(f"4. start-up of {name}, {label}", f"{median([x[i] for x in t]):.0f} µs",
                rng([x[i] for x in t], lambda x: f"{x:.0f}"),
                f"{median(diff):+.1f} µs vs no preload (median of paired differences; 95% CI {lo:+.1f} – {hi:+.1f})",
                tgt, ok)


def shuffled_rounds(configs, nrounds, what):
    """(round, key, label, env function) for every configuration of every round, in an order
    shuffled each round; round -1 is a warm-up, to be discarded."""
    for rnd in range(-1, nrounds):
        order = list(configs)
        SHUFFLE.shuffle(order)
        yield from ((rnd, *c) for c in order)
        sys.stderr.write(f"  {what} round {rnd + 1}/{nrounds} done\n")


STORM_PROGRAMS = 200 if QUICK else 2000  # programs started by one storm (half /bin/true, half cat)
STORM_ROUNDS = 2 if QUICK else 7


def bench_storm():
    with ring_agent("storm-agent") as (_, ag):
        storm_rounds(ag)


def storm_rounds(ag):
    """A shell loop that starts STORM_PROGRAMS short programs (/bin/true, and `echo | cat` in a
    pipeline), as a host with the shim in /etc/ld.so.preload runs them. LD_PRELOAD in the
    environment stands in for /etc/ld.so.preload: every child inherits it; the bench's
    ldprof-agent (ag) takes the rings. Seven configurations per round, shuffled, compared with
    the no-shim run of the same round. Three reference floors run alongside: an empty preload;
    one that only starts a sleeping thread (tests/bench/waiter.c), the least a design that
    defers activation past a short process's life with a thread would cost (ldprof's deferral
    has no thread); and one that only makes a raw kernel thread which ends at once
    (tests/bench/thread0.c): the least any thread costs."""
    n = STORM_PROGRAMS // 2
    script = (f'i=0; while [ $i -lt {n} ]; do /bin/true; echo $i | /bin/cat >/dev/null; i=$((i + 1)); done; '
              f'echo "storm: $i rounds"')
    argv = ["/bin/sh", "-c", script]
    d = fresh_dir("storm-cfg")
    _, (env_set, env_label) = exclusion_sets(d, ag.sock)
    on0 = {"LD_PRELOAD": SHIM, "LDPROF_AGENT_SOCKET": ag.sock, "LDPROF_SELECT_START_AFTER_CPU": "0"}
    installed = {"LD_PRELOAD": SHIM, "LDPROF_AGENT_SOCKET": ag.sock}
    configs = [("none", "no shim", lambda: {}),
               ("empty", "reference floor: empty preload (the least any preload costs)", lambda: {"LD_PRELOAD": EMPTY}),
               ("waiter", "reference floor: a preload that only starts one thread sleeping on the process's "
                "CPU clock (the least an activation deferred by a thread costs; ldprof's has none)",
                lambda: {"LD_PRELOAD": WAITER}),
               ("thread0", "reference floor: a preload that only makes one raw kernel thread, which ends at "
                "once (the least any thread costs)", lambda: {"LD_PRELOAD": THREAD0}),
               ("off", env_label, lambda: dict(w.split("=", 1) for w in env_set.split())),
               ("on0", "shim active in every process from its start, the agent collecting "
                "(start_after_cpu = 0: each registers, its ring handed to ldprof-agent)", lambda: dict(on0)),
               ("rings", "shim in every process, as installed ([agent] rings, default "
                "start_after_cpu = 20ms: handler and timer, no thread; the agent collects)",
                lambda: dict(installed))]
    for key, label, envf in configs:
        if key in ("on0", "rings"):
            check_active(" ".join(f"{k}={v}" for k, v in envf().items()), f"fork+exec storm, {label}", 5)
    res = {k: [] for k, *_ in configs}
    ref = run(argv, {}, "storm warm-up")
    for rnd, key, label, envf in shuffled_rounds(configs, STORM_ROUNDS, "storm"):
        r = run(argv, envf(), f"fork+exec storm, {label}")
        check_same(r, ref, f"fork+exec storm, {label}")
        if rnd >= 0:
            res[key].append(r)
    base = res["none"]
    name = f"5. fork+exec storm ({STORM_PROGRAMS} programs from one sh loop)"
    for key, label, _ in configs:
        rs = res[key]
        walls, cpus = [r["wall"] for r in rs], [r["cpu"] for r in rs]
        if key == "none":
            row(f"{name}, {label}: wall", fs(median(walls)), rng(walls, fs),
                f"baseline; {median(walls) / STORM_PROGRAMS * 1e6:.0f} µs per program", "", "")
            row(f"{name}, {label}: CPU (user+sys, whole tree)", fs(median(cpus)), rng(cpus, fs), "baseline", "", "")
            continue
        for m, unit in (("wall", "wall"), ("cpu", "CPU (user+sys, whole tree)")):
            rr = [r[m] / b[m] for r, b in zip(rs, base)]
            per = median([(r[m] - b[m]) / STORM_PROGRAMS * 1e6 for r, b in zip(rs, base)])
            lo, hi = median_ci95(rr)
            rt, rtxt = ratio_txt(rr)
            tgt = ok = ""
            if key == "rings" and m == "wall":
                tgt, ok = "≤ 5% slower", verdict_ci(lo, hi, 1.05)
            row(f"{name}, {label}: {unit}", fs(median([r[m] for r in rs])), rng([r[m] for r in rs], fs),
                f"{rt}; {per:+.0f} µs per program; ratios {rtxt}", tgt, ok)
    subprocess.run(["rm", "-rf", d])


FORKS = 200 if QUICK else 2000  # fork()s timed by one forker run
FORK_ROUNDS = 2 if QUICK else 7


def bench_forks():
    """What one fork() costs a program that carries the shim as installed, the bench's
    ldprof-agent collecting: tests/bench/forker times FORKS rounds of fork + _exit + waitpid
    after 60 ms of CPU and 1.2 s of sleep, so that the shim has activated at 20 ms of CPU and
    handed its ring to the agent (or is still waiting, with start_after_cpu = 1h: our handler
    and a timer per thread). The floors: an empty preload, and tests/bench/waiter.c, whose
    thread has ended by then (glibc takes a process that has ever started a thread through its
    multi-threaded fork path for good). `ldprof run`'s fork is section 9's."""
    with ring_agent("forks-agent") as (_, ag):
        fork_rounds(ag)


def fork_rounds(ag):
    wait = {"LD_PRELOAD": SHIM, "LDPROF_AGENT_SOCKET": ag.sock, "LDPROF_SELECT_START_AFTER_CPU": "1h"}
    on = {"LD_PRELOAD": SHIM, "LDPROF_AGENT_SOCKET": ag.sock}
    configs = [("none", "no shim", lambda: {}),
               ("empty", "reference floor: empty preload", lambda: {"LD_PRELOAD": EMPTY}),
               ("waiter", "reference floor: a preload whose one thread has come and gone (tests/bench/waiter.c)",
                lambda: {"LD_PRELOAD": WAITER}),
               ("wait", "shim waiting (start_after_cpu = 1h: our handler and a timer per thread, no thread)",
                lambda: dict(wait)),
               ("on", "shim sampling as installed (activated at 20 ms of CPU, its ring handed to ldprof-agent)",
                lambda: dict(on))]
    check_active(" ".join(f"{k}={v}" for k, v in on.items()), "one fork(), shim sampling as installed", 5)
    res = {k: [] for k, *_ in configs}
    argv = [FORKER, str(FORKS)]
    for rnd, key, label, envf in shuffled_rounds(configs, FORK_ROUNDS, "fork"):
        r = run(argv, envf(), f"fork of a running program, {label}")
        m = re.search(rb"forker: (\d+) ns per fork", r["out"])
        if not m:
            problems.append(f"5. forker, {label}: no result in {r['out'][-200:]!r}")
            return
        if rnd >= 0:
            res[key].append(int(m.group(1)) / 1000)
    name = "5. one fork() of a running program (fork + _exit + waitpid, tests/bench/forker.c)"
    base = res["none"]
    for key, label, _ in configs:
        us = res[key]
        if key == "none":
            row(f"{name}, {label}", f"{median(us):.0f} µs", rng(us, lambda x: f"{x:.0f}"), "baseline", "", "")
            continue
        diff = [a - b for a, b in zip(us, base)]
        lo, hi = median_ci95(diff)
        rt, _ = ratio_txt([a / b for a, b in zip(us, base)])
        row(f"{name}, {label}", f"{median(us):.0f} µs", rng(us, lambda x: f"{x:.0f}"),
            f"{median(diff):+.0f} µs per fork (95% CI {lo:+.0f} … {hi:+.0f}); {rt}", "", "")


# ---------------------------------------------------------------- 9: the ring sampler
RING_ROUNDS = 3 if QUICK else 13


ACTIVATIONS = 10 if QUICK else 40  # processes timed, each activating once
DRAIN_PROCS = 20 if QUICK else 100  # sampled at once while the agent drains their rings
DRAIN_ROUNDS = 1 if QUICK else 3


def bench_hostwide():
    """Issue 16's targets for the ring sampler as installed ([agent] rings, start_after_cpu
    20 ms: our handler and a timer per thread until then) with ldprof-agent collecting: the activation,
    once per process, by the shim's own clock (its log's activation_us, from the handler's
    entry to the sampler set up: the agent is not asked, the ring's hand-over registers); and the
    agent's own CPU while DRAIN_PROCS busy processes are sampled at AGENT_HZ, against the
    same agent idle for as long."""
    with ring_agent("hostwide") as (d, ag):
        took = []
        for i in range(ACTIVATIONS):
            log = os.path.join(d, f"act{i}.log")
            run([BURN, "60"], {"LD_PRELOAD": SHIM, "LDPROF_AGENT_SOCKET": ag.sock,
                               "LDPROF_SAMPLING_HZ": str(AGENT_HZ),
                               "LDPROF_LOG_FILE": log, "LDPROF_LOG_LEVEL": "info"}, "activation")
            try:
                with open(log) as f:
                    m = re.search(r"active pid=\d+ .* activation_us=(\d+)", f.read())
            except OSError:
                m = None
            if not m:
                problems.append(f"10. burn did not activate on the ring sampler (log {log})")
                return
            took.append(int(m[1]))
        lo, hi = median_ci95(took)
        row("10. activation on the ring sampler, once per process (in the handler; the agent not asked)",
            f"{median(took)} µs", rng(took, lambda x: f"{x}"),
            f"{ACTIVATIONS} processes (burn 60 ms); 95% CI {lo} – {hi} µs", "≤ 0.2 ms", verdict_ci(lo, hi, 200))
        busy, idle, samples = [], [], []
        for rnd in range(DRAIN_ROUNDS):
            s0 = ag.snap()
            procs = [subprocess.Popen([BURN, "200"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL,
                                      env=root_config(dict(clean_env(), LD_PRELOAD=SHIM,
                                                           LDPROF_SAMPLING_HZ=str(AGENT_HZ),
                                                           LDPROF_AGENT_SOCKET=ag.sock)))
                     for _ in range(DRAIN_PROCS)]
            bad = [p.wait() for p in procs]
            if any(bad):
                problems.append(f"10. {sum(1 for b in bad if b)} of {DRAIN_PROCS} burn processes failed: {bad[:5]}")
            time.sleep(1.0)  # the last drains and profiles
            s1 = ag.snap()
            busy.append((s1["cpu"] - s0["cpu"]) / 1e9 / (s1["t"] - s0["t"]) * 100)
            time.sleep(0.1)
            s2 = ag.snap()
            time.sleep(s1["t"] - s0["t"])
            s3 = ag.snap()
            idle.append((s3["cpu"] - s2["cpu"]) / 1e9 / (s3["t"] - s2["t"]) * 100)
            sys.stderr.write(f"  drain round {rnd + 1}/{DRAIN_ROUNDS} done\n")
        st = ag.status()
        delta = [b - i for b, i in zip(busy, idle)]
        row(f"10. ldprof-agent's own CPU draining {DRAIN_PROCS} sampled processes at {AGENT_HZ} Hz (2 CPUs busy)",
            f"{median(busy):.2f}% of a CPU", rng(busy, lambda x: f"{x:.2f}%"),
            f"idle the same time: {median(idle):.2f}%; the difference {median(delta):+.2f}% (median of "
            f"{DRAIN_ROUNDS} rounds); rings collected {st.get('rings', '?')} at the end, samples "
            f"{st.get('ring_samples', '?')}", "≤ 1% of a CPU", verdict(median(busy) <= 1.0))


def bench_ring():
    """Issue 15's targets for `ldprof run` (the program carries only the ring sampler; the
    collector is in `ldprof run`), against no profiler, in interleaved rounds: bench_work at
    99 Hz (the program's CPU, and the program's and the collector's together, from
    RUSAGE_CHILDREN around the whole `ldprof run`), its extra max RSS, one fork()
    (tests/bench/forker), and the cost per sample of 64-frame stacks (bench_deep at 999 Hz: CPU
    of everything with minus without, over the samples recorded; and the handler alone by its
    own clock)."""
    deep_argv = [DEEP, str(64 - 4)]
    configs = [("none", "no profiler"), ("ring", "ldprof run")]
    res = {k: {"work": [], "fork": [], "deep": [], "deep_own": [], "deep_n": [], "handler": []} for k, _ in configs}
    ref = run([WORK], {}, "bench_work warm-up (9)")
    ref_deep = run(deep_argv, {}, "bench_deep warm-up (9)")
    for rnd, key, label in shuffled_rounds(configs, RING_ROUNDS, "ldprof run"):
        def prefix(d, hz):
            return ldprof_run(d, hz) if key == "ring" else ()
        d = fresh_dir("ring")
        r = run([WORK], {}, f"bench_work, {label}", prefix=prefix(d, 99), prefix_reply=False)
        check_same(r, ref, f"bench_work, {label}")
        samples = ldprof_samples(d)[0] if key != "none" else 0
        df = fresh_dir("ring-fork")
        f = run([FORKER, str(FORKS)], {}, f"forker, {label}", prefix=prefix(df, 99), prefix_reply=False)
        m = re.search(rb"forker: (\d+) ns per fork", f["out"])
        if not m:
            problems.append(f"9. forker, {label}: no result in {f['out'][-200:]!r}")
        d2 = fresh_dir("ring-deep")
        dp = run(deep_argv, {}, f"bench_deep 60, {label}", prefix=prefix(d2, 999), prefix_reply=False)
        check_same(dp, ref_deep, f"bench_deep 60, {label}")
        if rnd < 0:
            continue
        x = res[key]
        hw = collector_log(os.path.join(d, "ldprof.log")).get("handler_us") if key == "ring" else None
        x["work"].append(dict(r, samples=samples, handler_us=hw))
        if m:
            x["fork"].append(int(m.group(1)) / 1000)
        x["deep"].append(dp["tree_cpu"])
        x["deep_own"].append(dp["cpu"])
        x["deep_n"].append(ldprof_samples(d2)[0] if key != "none" else 0)
        h = collector_log(os.path.join(d2, "ldprof.log")).get("handler_us")
        if key == "ring" and h is not None:
            x["handler"].append(h)
    base, x = res["none"], res["ring"]
    name = "9. ldprof run (ring sampler; the collector in ldprof run)"
    for k, what in (("cpu", "the program's CPU"), ("tree_cpu", "CPU of everything (the program and spawn)")):
        b0 = [b[k] for b in base["work"]]
        row(f"9. no profiler: bench_work, {what}", fs(median(b0)), rng(b0, fs), "baseline", "", "")
    cr = [r["cpu"] / b["cpu"] for r, b in zip(x["work"], base["work"])]
    rt, rr = ratio_txt(cr)
    row(f"{name}: bench_work 99 Hz, the program's CPU", fs(median([r["cpu"] for r in x["work"]])),
        rng([r["cpu"] for r in x["work"]], fs), f"{rt}; ratios {rr}", "", "")
    tree = [r["tree_cpu"] for r in x["work"]]
    tr = [r["tree_cpu"] / b["tree_cpu"] for r, b in zip(x["work"], base["work"])]
    rt, rr = ratio_txt(tr)
    lo, hi = median_ci95(tr)
    row(f"{name}: bench_work 99 Hz, CPU of everything (program, collector, ldprof run)",
        fs(median(tree)), rng(tree, fs), f"{rt}; ratios {rr}", "≤ +0.3 %", verdict_ci(lo, hi, 1.003))
    # The same by accounting, within each run instead of against the other arm's: what
    # `ldprof run` and its collector used (everything − the program − spawn's own, the last
    # from the baseline run of the round) and the handlers' own time (samples × the mean the
    # rings say), over the program's CPU. Signal delivery is not in it; the program's own CPU
    # row above bounds it.
    acc, coll = [], []
    for r, b in zip(x["work"], base["work"]):
        c = (r["tree_cpu"] - r["cpu"]) - (b["tree_cpu"] - b["cpu"])
        coll.append(c)
        if r.get("handler_us") is not None:
            acc.append((c + r["samples"] * r["handler_us"] / 1e6) / r["cpu"] * 100)
    if acc:
        lo, hi = median_ci95(acc)
        row(f"{name}: bench_work 99 Hz, by accounting: `ldprof run` with its collector, and the handlers",
            f"+{median(acc):.3f} %", rng(acc, lambda v: f"{v:+.3f}"),
            f"of the program's CPU; the collector and `ldprof run` {median(coll) * 1e3:.2f} ms a run "
            f"(+{median([c / r['cpu'] * 100 for c, r in zip(coll, x['work'])]):.3f} %), the handlers "
            f"{median([r['handler_us'] for r in x['work'] if r.get('handler_us') is not None]):.2f} µs a sample; "
            f"95% CI +{lo:.3f} … +{hi:.3f} %; signal delivery not counted",
            "≤ +0.3 %", verdict_ci(lo, hi, 0.3))
    share = [r["samples"] / (r["cpu"] * 99) * 100 for r in x["work"]]
    row(f"{name}: bench_work 99 Hz, samples recorded", f"{median([r['samples'] for r in x['work']]):.0f}",
        rng([r["samples"] for r in x["work"]], lambda v: f"{v:.0f}"),
        f"{median(share):.1f}% of CPU s × 99", "≥ 95%", verdict(median(share) >= 95))
    dr = [(r["rss_kib"] - b["rss_kib"]) for r, b in zip(x["work"], base["work"])]
    row(f"{name}: bench_work, extra max RSS of the program", f"{median(dr):+.0f} KiB",
        rng(dr, lambda v: f"{v:+.0f}"), "max RSS with − without, same round", "≤ 512 KiB", verdict(median(dr) <= 512))
    if x["fork"] and len(base["fork"]) == len(x["fork"]):
        row("9. no profiler: one fork() of a running program", f"{median(base['fork']):.0f} µs",
            rng(base["fork"], lambda v: f"{v:.0f}"), "baseline", "", "")
        df = [a - b for a, b in zip(x["fork"], base["fork"])]
        lo, hi = median_ci95(df)
        row(f"{name}: one fork() of a running program", f"{median(x['fork']):.0f} µs",
            rng(x["fork"], lambda v: f"{v:.0f}"), f"{median(df):+.0f} µs per fork (95% CI {lo:+.0f} … {hi:+.0f})",
            "≤ +25 µs", verdict_ci(lo, hi, 25))
    per = [(a - b) / n * 1e6 for a, b, n in zip(x["deep"], base["deep"], x["deep_n"]) if n]
    own = [(a - b) / n * 1e6 for a, b, n in zip(x["deep_own"], base["deep_own"], x["deep_n"]) if n]
    if per:
        lo, hi = median_ci95(per)
        row(f"{name}: CPU per sample recorded, 64-frame stacks (bench_deep 60, 999 Hz), end to end",
            f"{median(per):.2f} µs", rng(per, lambda v: f"{v:.2f}"),
            f"(CPU of everything with − without) ÷ samples; 95% CI {lo:.2f} – {hi:.2f} µs; of which in the "
            f"program {median(own):.2f} µs (its own CPU); {median(x['deep_n']):.0f} samples/run", "", "")
    if x["handler"]:
        h = x["handler"]
        lo, hi = median_ci95(h)
        row(f"{name}: the handler alone, 64-frame stacks (bench_deep 60, 999 Hz)",
            f"{median(h):.2f} µs", rng(h, lambda v: f"{v:.2f}"),
            f"by the handler's own clock (TSC, entry to sample put; its rate measured by the "
            f"collector), mean per sample per run; 95% CI {lo:.2f} – {hi:.2f} µs",
            "≤ 5 µs", verdict_ci(lo, hi, 5))
    else:
        problems.append("9. the collector's log gave no handler time in any run of bench_deep 60 under `ldprof run`")


# ---------------------------------------------------------------- 6: the eBPF agent
AGENT_ROUNDS = 3 if QUICK else 13
AGENT_STORM = 100 if QUICK else 500  # programs per fork+exec storm (hook costs)
AGENT_HZ = 99
PROFILE_NAME = re.compile(r"^(?P<comm>.+)\.(?P<pid>\d+)\.(?P<seq>\d+)\.pb\.gz$")


class BenchAgent:
    """One ldprof-agent of our own (its own socket, output folder and BPF programs) with
    --bpf-stats: cover = registered at 99 Hz, so only what registers through its socket is
    sampled from the kernel; with [agent] rings (the default) it also takes the rings of the
    shim preloaded with its socket (sections 4, 5, 10), as a host's agent does. Its BPF programs' run counters are read from /proc/PID/fdinfo of their fds while it
    runs (kernel.bpf_stats is on as long as it holds the stats fd), its own CPU from
    /proc/PID/task/*/schedstat (ns on CPU, every thread)."""

    def __init__(self, d, extra=""):
        self.d = d
        self.out = os.path.join(d, "out")
        os.makedirs(self.out)
        self.sock = os.path.join(d, "agent.sock")
        self.ini = os.path.join(d, "agent.ini")
        with open(self.ini, "w") as f:
            f.write(f"[sampling]\nhz = {AGENT_HZ}\n[output]\nendpoint = file://{self.out}\n"
                    f"[agent]\nsocket = {self.sock}\ncover = registered\n{extra}")
        self.log = os.path.join(d, "agent.log")
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen([AGENT, "--config", self.ini, "--bpf-stats"], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf, env=clean_env())
        self.fds = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"ldprof-agent: ready" in self.read_log() or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if b"ldprof-agent: ready" not in self.read_log():
            self.stop()
            raise RuntimeError(f"ldprof-agent did not start: {self.read_log()[-500:]!r}")
        self.fds = self.prog_fds()

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read()

    def prog_fds(self):
        """{program name: fdinfo path} of the agent's BPF programs. fdinfo has the id, not the
        name: bpftool names the ids (the skeleton loads them in source order, the fallback)."""
        ids = {}
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:bpf-prog":
                    continue
                with open(f"/proc/{self.proc.pid}/fdinfo/{fd}") as f:
                    info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            except OSError:
                continue
            ids[int(info["prog_id"])] = f"/proc/{self.proc.pid}/fdinfo/{fd}"
        names = {}
        try:
            import json
            p = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
            names = {x["id"]: x["name"] for x in json.loads(p.stdout) if x.get("id") in ids}
        except (OSError, ValueError):
            pass
        if len(set(names.values())) != len(ids):
            names = dict(zip(sorted(ids), ("on_cpu_clock", "on_fork", "on_exec", "on_exit")))
        return {names[i]: path for i, path in ids.items() if i in names}

    def bpf(self):
        """{name: (runs, ns)} so far."""
        out = {}
        for name, path in self.fds.items():
            with open(path) as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            out[name] = (int(info.get("run_cnt", 0)), int(info.get("run_time_ns", 0)))
        return out

    def cpu_ns(self):
        tot = 0
        task = f"/proc/{self.proc.pid}/task"
        for t in os.listdir(task):
            try:
                with open(os.path.join(task, t, "schedstat")) as f:
                    tot += int(f.read().split()[0])
            except OSError:
                pass
        return tot

    def snap(self):
        return dict(t=time.monotonic(), cpu=self.cpu_ns(), bpf=self.bpf())

    def status(self):
        """The agent's status line as a dict (covering, registered, dropped...)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.settimeout(5)
            s.connect(self.sock)
            s.send(b"LDPA1 status")
            reply = s.recv(65536).decode(errors="replace")
        except OSError:
            return {}
        finally:
            s.close()
        lines = reply.splitlines()
        if len(lines) < 2 or not lines[0].startswith("LDPA1 ok"):
            return {}
        w = lines[1].split()
        return dict(zip(w[::2], w[1::2]))

    def profiles(self):
        """Profile files under the output folder (the agent writes into a folder of its own
        below it when the base is not safely its own)."""
        got = []
        for dirpath, _, files in os.walk(self.out):
            got += [os.path.join(dirpath, f) for f in files if PROFILE_NAME.match(f)]
        return got

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                problems.append("ldprof-agent did not stop within 30 s of SIGTERM")
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        if self.proc.returncode not in (0, None):
            problems.append(f"ldprof-agent exited with status {self.proc.returncode}: "
                            f"{self.read_log()[-300:]!r}")
        return self.read_log().decode(errors="replace")


def delta(a, b):
    """What happened between snapshots a and b: wall, agent CPU (ns), BPF {name: (runs, ns)}."""
    return dict(t=b["t"] - a["t"], cpu=b["cpu"] - a["cpu"],
                bpf={k: (b["bpf"][k][0] - a["bpf"][k][0], b["bpf"][k][1] - a["bpf"][k][1]) for k in b["bpf"]})


def bench_agent():
    """Section 6: bench_work_static (4 threads of fixed work, static, frame pointers) under our
    own ldprof-agent at 99 Hz. Three arms per round, shuffled: covered (the driver registers
    through the agent's socket, then execs `spawn -r` which forks the program: a registered
    process's static exec, sampled from its first instruction), not covered (the same driver
    asks only for the agent's status), and not covered again (A/A). The agent runs in all."""
    if os.geteuid() != 0:
        warnings.append("section 6 (the eBPF agent) skipped: it needs root (CAP_BPF, CAP_PERFMON)")
        return
    d = fresh_dir("agent")
    os.chmod(d, 0o755)
    try:
        ag = BenchAgent(d)
    except RuntimeError as e:
        problems.append(f"6. {e}")
        return
    argv = [WORK_STATIC]
    ref = run(argv, {}, "bench_work_static warm-up, no agent involved")
    configs = [("off", "agent running, program not covered", "LDPA1 status"),
               ("on", f"covered by the agent at {AGENT_HZ} Hz", "LDPA1 register"),
               ("off2", "not covered again (A/A: noise floor)", "LDPA1 status")]
    res = {k: [] for k, *_ in configs}
    for pf in ag.profiles():
        os.unlink(pf)
    first = ag.snap()
    for rnd in range(-1, AGENT_ROUNDS):  # round -1: warm-up, discarded
        order = list(configs)
        SHUFFLE.shuffle(order)
        for key, label, req in order:
            label = f"bench_work_static, {label}"
            if ag.proc.poll() is not None:
                problems.append(f"6. ldprof-agent died (status {ag.proc.returncode}) during the section: "
                                f"{ag.read_log()[-300:]!r}")
                ag.stop()
                return
            s0 = ag.snap()
            r = run(argv, {}, label, prefix=(PYTHON, CLIENT, ag.sock, req))
            want = b"LDPA1 ok registered" if key == "on" else b"LDPA1 ok"
            if not r["reply"].startswith(want):
                problems.append(f"6. {label}: the agent answered {r['reply'][:200]!r} to {req!r}")
            check_same(r, ref, label)
            s1 = ag.snap()
            # the last profile is written when the agent has seen the exit: wait for a file, then
            # for `covering 0` (status is asked only then: each request is work for the agent),
            # so that the agent's work for this run is inside the window
            deadline = time.monotonic() + 10
            files, st = [], {}
            while key == "on" and time.monotonic() < deadline:
                files = ag.profiles()
                if files:
                    st = ag.status()
                    if st.get("covering") == "0":
                        files = ag.profiles()  # the last one may have come after the listing
                        break
                time.sleep(0.02)
            r["d_run"] = delta(s0, s1)
            r["d"] = delta(s0, ag.snap())
            if key != "on":
                st = ag.status()
                if st.get("covering") != "0":
                    problems.append(f"6. {label}: the agent covers something: {st}")
                files = ag.profiles()
            r["dropped"] = int(st.get("dropped", 0))
            if key == "on":
                if not files:
                    problems.append(f"6. {label}: no profile written within 10 s of its exit: `{r['cmd']}`")
                    r["samples"] = None
                else:
                    sd = fresh_dir("agent-prof")
                    for pf in files:
                        os.rename(pf, os.path.join(sd, os.path.basename(pf)))
                    r["samples"], r["depths"] = ldprof_samples(sd)
                    r["files"] = len(files)
            elif files:
                problems.append(f"6. {label}: sampled although it never registered "
                                f"({len(files)} profiles): `{r['cmd']}`")
                for pf in files:
                    os.unlink(pf)
            if rnd >= 0:
                res[key].append(r)
        sys.stderr.write(f"  agent round {rnd + 1}/{AGENT_ROUNDS} done\n")
    whole = delta(first, ag.snap())

    # hooks: one sh loop of AGENT_STORM /bin/true, started unregistered and registered
    # (registered: every child inherits the mark at fork and its exec reads the auxv)
    storm = {}
    script = f'i=0; while [ $i -lt {AGENT_STORM} ]; do /bin/true; i=$((i + 1)); done'
    for rep in range(2):
        for key, req in (("unreg", "LDPA1 status"), ("reg", "LDPA1 register")):
            s0 = ag.snap()
            p = subprocess.run([PYTHON, CLIENT, ag.sock, req, "/bin/sh", "-c", script],
                               stdin=subprocess.DEVNULL, capture_output=True, env=clean_env(), timeout=TIMEOUT)
            if p.returncode != 0:
                problems.append(f"6. storm of {AGENT_STORM} /bin/true ({key}): exit {p.returncode}: {p.stderr[-300:]!r}")
            storm.setdefault(key, []).append(delta(s0, ag.snap()))
    log = ag.stop()
    if ag.profiles():
        problems.append(f"6. the storms of /bin/true left {len(ag.profiles())} profiles: a dynamic exec was sampled")
    exitstats = {m.group(1): (int(m.group(2)), float(m.group(3)))
                 for m in re.finditer(r"bpf (\w+): (\d+) runs, ([0-9.]+) ns mean", log)}
    if "on_cpu_clock" not in exitstats:
        problems.append(f"6. ldprof-agent --bpf-stats printed no BPF statistics at exit: {log[-300:]!r}")
    agent_rows(res, whole, storm, exitstats, log)
    subprocess.run(["rm", "-rf", d])


def depth_txt(rs):
    """How deep the recorded stacks were (frames, as `ldprof report --folded` shows them)."""
    hist = {}
    for r in rs:
        for k, v in (r.get("depths") or {}).items():
            hist[k] = hist.get(k, 0) + v
    if not hist:
        return "no stacks"
    top = max(hist, key=hist.get)
    return (f"{hist[top] / sum(hist.values()) * 100:.0f}% of samples had {top} frames "
            f"(range {min(hist)}–{max(hist)})")


def agent_rows(res, whole, storm, exitstats, log):
    base = res["off"]
    name = "6. bench_work_static (static, 4 threads, fixed work)"
    walls, cpus = [r["wall"] for r in base], [r["cpu"] for r in base]
    row(f"{name}, agent running, not covered: wall", fs(median(walls)), rng(walls, fs),
        f"baseline; CPU÷wall {median([r['cpu'] / r['wall'] for r in base]):.2f}", "", "")
    row(f"{name}, agent running, not covered: CPU (user+sys)", fs(median(cpus)), rng(cpus, fs), "baseline", "", "")
    for key, label in (("on", f"covered by the agent at {AGENT_HZ} Hz"), ("off2", "not covered again (A/A: noise floor)")):
        rs = res[key]
        for m, unit in (("wall", "wall"), ("cpu", "CPU (user+sys)")):
            rr = [r[m] / b[m] for r, b in zip(rs, base)]
            lo, hi = median_ci95(rr)
            rt, rtxt = ratio_txt(rr)
            tgt = ok = ""
            if key == "on":
                tgt = "no measurable slowdown (≤ 1%)"
                ok = verdict_ci(lo, hi, 1.01) + ("; CI includes ×1" if lo <= 1 <= hi else "")
            row(f"{name}, {label}: {unit}", fs(median([r[m] for r in rs])), rng([r[m] for r in rs], fs),
                f"{rt}; ratios {rtxt}", tgt, ok)
    on = res["on"]

    # d. samples recorded vs expected
    good = [r for r in on if r.get("samples") is not None]
    if good:
        share = [r["samples"] / (r["cpu"] * AGENT_HZ) * 100 for r in good]
        row(f"{name}, covered: samples recorded", f"{median([r['samples'] for r in good]):.0f}",
            rng([r["samples"] for r in good], lambda x: f"{x:.0f}"),
            f"{median(share):.1f}% of CPU s × {AGENT_HZ} (range {min(share):.1f}–{max(share):.1f}%); "
            f"`ldprof report --folded` of the agent's profiles, {median([r['files'] for r in good]):.0f} "
            f"file(s) per run; {depth_txt(good)}; ring buffer drops in the whole section: {on[-1]['dropped']}",
            "≥ 95%", verdict(median(share) >= 95))

    # b. the agent's own CPU, and everything the agent costs the host
    for key, label in (("on", "covering the run"), ("off", "running, covering nothing")):
        rs = res[key]
        own = [r["d"]["cpu"] / 1e9 / r["wall"] * 100 for r in rs]
        lo, hi = median_ci95(own)
        tgt, ok = ("≤ 1% of a CPU", verdict_ci(lo, hi, 1.0)) if key == "on" else ("", "")
        split = ""
        if key == "on":
            during = [r["d_run"]["cpu"] / 1e6 for r in rs]
            after = [(r["d"]["cpu"] - r["d_run"]["cpu"]) / 1e6 for r in rs]
            per = [r["d_run"]["cpu"] / 1e3 / r["samples"] for r in rs if r.get("samples")]
            split = (f": {median(during):.2f} ms until the program's exit (start, symbol tables, "
                     f"{median(per):.1f} µs per sample received) + {median(after):.2f} ms after it "
                     f"(the profile written)")
        row(f"6. ldprof-agent's own CPU, {label} (2 CPUs busy)", f"{median(own):.3f}% of a CPU",
            rng(own, lambda x: f"{x:.3f}%"),
            f"95% CI of the median {lo:.3f} – {hi:.3f}%; {median([r['d']['cpu'] for r in rs]) / 1e6:.2f} ms "
            f"per run{split} (all its threads, /proc/PID/task/*/schedstat) ÷ the run's wall", tgt, ok)
    host = [(r["d"]["cpu"] + sum(ns for _, ns in r["d"]["bpf"].values())) / 1e9 / r["wall"] * 100 for r in on]
    lo, hi = median_ci95(host)
    row("6. the agent host-wide while covering the run: its CPU + all its BPF programs on every CPU",
        f"{median(host):.3f}% of a CPU", rng(host, lambda x: f"{x:.3f}%"),
        f"95% CI of the median {lo:.3f} – {hi:.3f}%; BPF run time from kernel.bpf_stats (fdinfo of the "
        "agent's program fds), including the ticks of every other task and the idle CPUs",
        "≤ 1% of a CPU", verdict_ci(lo, hi, 1.0))

    # c. cost per sample in the BPF program
    lookup, target, tick_share = [], [], []
    for r, b in zip(on, base):
        bc, bn = b["d"]["bpf"].get("on_cpu_clock", (0, 0))
        oc, on_ns = r["d"]["bpf"].get("on_cpu_clock", (0, 0))
        if bc:
            lookup.append(bn / bc)
        n_t = r.get("samples")
        if bc and n_t and oc > n_t:
            t = (on_ns - bn / bc * (oc - n_t)) / n_t
            target.append(t)
            tick_share.append(t * n_t / 1e9 / r["cpu"] * 100)
    for key, label in (("off", "not covered"), ("on", "covered")):
        m = [r["d"]["bpf"]["on_cpu_clock"][1] / max(1, r["d"]["bpf"]["on_cpu_clock"][0]) for r in res[key]]
        runs = [r["d"]["bpf"]["on_cpu_clock"][0] / r["d"]["t"] for r in res[key]]
        what = ("every tick is a map lookup that misses (other tasks, idle CPUs): the cost of a tick "
                "on a host where nothing is covered" if key == "off" else
                "a mix: lookups that miss, and the program's ticks, which walk the stack into the ring buffer")
        row(f"6. BPF on_cpu_clock, mean time per tick, program {label}", f"{median(m):.0f} ns",
            rng(m, lambda x: f"{x:.0f}"),
            f"{median(runs):.0f} ticks/s (2 CPUs × {AGENT_HZ} Hz = {2 * AGENT_HZ}); {what}", "", "")
    if target:
        lo, hi = median_ci95(target)
        row("6. BPF on_cpu_clock, cost per sample of the covered program (stack walk + ring buffer)",
            f"{median(target) / 1000:.2f} µs", rng(target, lambda x: f"{x / 1000:.2f}"),
            f"95% CI of the median {lo / 1000:.2f} – {hi / 1000:.2f} µs; (run time of the covered run − the "
            f"lookup mean of the same round × the ticks that were not samples) ÷ samples; = "
            f"{median(tick_share):.3f}% of the program's CPU", "", "")
    if exitstats.get("on_cpu_clock"):
        n, mean = exitstats["on_cpu_clock"]
        row("6. BPF on_cpu_clock over the agent's life (--bpf-stats exit line)", f"{mean:.0f} ns",
            "", f"{n} runs: covered ticks and misses together", "", "")

    # c. the hooks: they run for every process on the host
    for key, label in (("unreg", "not registered (every process on a host)"),
                       ("reg", "registered (a covered tree; dynamic programs, so none becomes a target)")):
        per = []
        for d in storm.get(key, []):
            ns = sum(d["bpf"][h][1] for h in ("on_fork", "on_exec", "on_exit"))
            per.append(ns / AGENT_STORM)
        if per:
            means = {h: sum(d["bpf"][h][1] for d in storm[key]) / max(1, sum(d["bpf"][h][0] for d in storm[key]))
                     for h in ("on_fork", "on_exec", "on_exit")}
            row(f"6. BPF fork+exec+exit hooks per process started, {label}", f"{median(per):.0f} ns",
                rng(per, lambda x: f"{x:.0f}"),
                f"sh loop of {AGENT_STORM} /bin/true, ×{len(per)}; run time of the three hooks in the storm "
                f"÷ {AGENT_STORM}; means per run: " + ", ".join(f"{h} {v:.0f} ns" for h, v in means.items()),
                "", "")
    if exitstats:
        hooks = "; ".join(f"{h} {exitstats[h][1]:.0f} ns × {exitstats[h][0]}" for h in
                          ("on_fork", "on_exec", "on_exit") if h in exitstats)
        row("6. BPF hooks over the agent's life (--bpf-stats exit line)", "", "",
            f"mean × runs: {hooks} (every process of the host while the section ran)", "", "")
    row("6. the section's window, for the record", fs(whole["t"], "s", 1), "",
        f"agent CPU {whole['cpu'] / 1e6:.1f} ms in all; BPF runs " +
        ", ".join(f"{k} {v[0]}" for k, v in sorted(whole["bpf"].items())), "", "")


# ---------------------------------------------------------------- main
def config_hz():
    for path in (f"/boot/config-{platform.release()}", "/proc/config.gz"):
        try:
            with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
                for line in f:
                    if line.startswith("CONFIG_HZ="):
                        return line.strip().split("=")[1]
        except OSError:
            pass
    return "unknown"


def cpu_stat():
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return sum(v) - idle, steal, sum(v)


def git_version():
    """The commit measured, and whether the profiler's sources differ from it (others edit them)."""
    try:
        h = subprocess.run(["git", "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "shim", "common", "injector", "agent"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return f"ldprof {h or 'unknown'}" + (" + uncommitted changes in shim/common/injector/agent" if dirty else "")


def shim_id():
    """Size and mtime of the built shim and of the collectors (`ldprof run` in the ldprof command,
    ldprof-agent): other people rebuild them while we measure."""
    out = []
    for f in sorted(os.listdir(os.path.join(B, "lib"))):
        if f.endswith(".so"):
            st = os.stat(os.path.join(B, "lib", f))
            out.append((f, st.st_size, st.st_mtime_ns))
    for f in (CLI, AGENT):
        try:
            st = os.stat(f)
            out.append((f, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((f, None, None))
    return out


# ---------------------------------------------------------------- 7: the agent under attack
BOMB = os.path.join(B, "tests", "progs", "agentbomb")
ATTACK_ROUNDS = 2 if QUICK else 5
PROBES = 40 if QUICK else 100
NOBODY = 65534


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_attack():
    """Section 7: root's registrations answered while a user attacks the agent's symbol reading
    (issue 18, finding 1), against the same probes with no attack, rounds interleaved."""
    if os.geteuid() != 0:
        warnings.append("section 7 (the agent under attack) skipped: it needs root")
        return
    d = fresh_dir("attack")
    os.chmod(d, 0o755)
    bomb_dir = os.path.join(d, "bomb")
    os.mkdir(bomb_dir)
    os.chown(bomb_dir, NOBODY, NOBODY)
    prog = os.path.join(d, "agentbomb")
    subprocess.run(["cp", BOMB, prog], check=True)
    os.chmod(prog, 0o755)
    nobody = dict(user=NOBODY, group=NOBODY, extra_groups=[], env=clean_env())
    bomb = os.path.join(bomb_dir, "bomb")
    subprocess.run([prog, "make", bomb, "4000000", "900"], check=True, **nobody)
    names = [bomb]
    for i in range(3):
        os.link(bomb, os.path.join(bomb_dir, f"link{i}"))
        names.append(os.path.join(bomb_dir, f"link{i}"))
    subprocess.run(["cp", "--sparse=always", bomb, bomb + "-copy"], check=True)
    os.chown(bomb + "-copy", NOBODY, NOBODY)
    names.append(bomb + "-copy")
    try:
        ag = BenchAgent(d)
    except RuntimeError as e:
        problems.append(f"7. {e}")
        return
    hwm0 = vm_hwm(ag.proc.pid)
    res = {"quiet": [], "attack": []}
    rounds = []
    res["maps"] = []
    for rnd in range(ATTACK_ROUNDS):
        order = ["quiet", "attack", "maps"]
        SHUFFLE.shuffle(order)
        for key in order:
            attack = None
            if key == "maps":
                attack = subprocess.Popen([prog, "maps", ag.sock, str(PROBES * 0.04 + 2), "65000"],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **nobody)
                time.sleep(1)
            if key == "attack":
                # long enough to outlast the probe (PROBES × (20 ms + a fork))
                attack = subprocess.Popen([prog, "attack", ag.sock, str(PROBES * 0.04 + 2)] + names,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **nobody)
                time.sleep(1)
            p = subprocess.run([BOMB, "probe", ag.sock, str(PROBES), "20"], capture_output=True,
                               env=clean_env(), timeout=TIMEOUT)
            if attack:
                out, _ = attack.communicate(timeout=TIMEOUT)
                if key == "attack":
                    rounds.append(out.decode())
            m = dict(re.findall(r"(\w+)=(\d+)", p.stdout.decode()))
            if p.returncode != 0 or "answered" not in m:
                problems.append(f"7. probe failed: {p.stderr[-300:]!r}")
                continue
            res[key].append({k: int(v) for k, v in m.items()})
        sys.stderr.write(f"  attack round {rnd + 1}/{ATTACK_ROUNDS} done\n")
    st = ag.status()
    hwm = vm_hwm(ag.proc.pid)
    ag.stop()
    subprocess.run(["rm", "-rf", d])
    attack_rounds = [m.group(1) for m in (re.search(r"rounds=(\d+)", r) for r in rounds) if m]
    for key, label in (("quiet", "no attack"), ("attack", "while nobody maps a 4 M-symbol file under 5 names and asks in a loop"),
                       ("maps", "while a process of nobody's with 65,000 mappings asks in a loop")):
        rs = res[key]
        if not rs:
            continue
        med = [r["median_us"] for r in rs]
        mx = [r["max_us"] for r in rs]
        late = sum(r["late"] for r in rs)
        unanswered = sum(r["n"] - r["answered"] for r in rs)
        tgt = ok = ""
        if key != "quiet":
            tgt = "every answer within the shim's 50 ms"
            ok = verdict(late == 0 and unanswered == 0)
        row(f"7. root's registration with the agent, {label}: answer time",
            f"{median(med) / 1000:.2f} ms", rng(med, lambda x: f"{x / 1000:.2f}"),
            f"median of each round's median; slowest {max(mx) / 1000:.1f} ms; {late} of "
            f"{sum(r['n'] for r in rs)} over 50 ms, {unanswered} unanswered", tgt, ok)
    row("7. the agent's peak memory growth over the attack rounds (VmHWM)",
        f"{(hwm - hwm0) / (1 << 20):.0f} MiB", "",
        f"symbol tables read {st.get('sym_reads', '?')}, refused over budget {st.get('sym_over_budget', '?')}; "
        f"the attacker's rounds (sample + register): {', '.join(attack_rounds) or '?'}",
        "≤ symbol_memory_per_user (256 MiB)", verdict(hwm - hwm0 <= 256 << 20))


# ---------------------------------------------------------------- 8: the HTML report
HTML_ROUNDS = 3 if QUICK else 9
HTML_STACKS = 100_000
JS = os.path.join(B, "js")


def bench_html():
    d = fresh_dir("html")
    prof, page = os.path.join(d, "big.pb.gz"), os.path.join(d, "big.html")
    subprocess.run([PYTHON, os.path.join(ROOT, "tests", "bench", "bigprofile.py"), prof, str(HTML_STACKS)],
                   check=True)
    writes = []
    for _ in range(3):
        t = time.monotonic()
        r = subprocess.run([CLI, "report", "--html", page, prof], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        writes.append(time.monotonic() - t)
        if r.returncode != 0:
            problems.append(f"ldprof report --html {prof}: exit {r.returncode}: {r.stderr.decode()[:300]}")
            return
    with open(page) as f:
        text = f.read()
    nodes = int(re.search(r'"nnodes":(\d+)', text).group(1))
    size = len(text.encode())
    steps = [{"do": "observe"}, {"do": "click", "name": "worker_main"}, {"do": "button", "id": "back"},
             {"do": "click", "name": "main"}, {"do": "button", "id": "back"}, {"do": "click", "name": "io_loop"}]
    first, zooms, parts = [], [], []
    for _ in range(HTML_ROUNDS):
        r = subprocess.run(["node", os.path.join(JS, "page.mjs"), page, ""], input=json.dumps(steps).encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        try:
            out = json.loads(r.stdout)
        except ValueError:
            out = {"error": r.stderr.decode()[:300]}
        if out.get("error") or out.get("page_errors") or out.get("requests"):
            problems.append(f"the HTML report in Chromium: {out.get('error') or out.get('page_errors') or out.get('requests')}")
            return
        t = out["steps"][0]["timing"]
        first.append(t["firstPaint"])
        parts.append((t["start"], t["tree"] - t["parsed"], t["firstPaint"] - t["tree"]))
        zooms += [s["timing"]["zoom"] for s in out["steps"] if s["step"]["do"] == "click"]
    lo, hi = median_ci95(first)
    start, tree, rest = (median([p[i] for p in parts]) for i in range(3))
    row(f"8. HTML report of {HTML_STACKS:,} distinct stacks ({nodes / 1e6:.2f} M tree nodes, "
        f"{size / 2**20:.1f} MiB): navigation to first paint", fs(median(first), "ms", 0),
        rng(first, lambda x: fs(x, "ms", 0)),
        f"page loaded and script started {start:.0f} ms, tree decoded {tree:.0f} ms, "
        f"filters, graph drawn and painted {rest:.0f} ms", "< 1000 ms", verdict_ci(lo, hi, 1000))
    lo, hi = median_ci95(zooms)
    row("8. HTML report: click on a frame to the zoomed graph painted", fs(median(zooms), "ms", 0),
        rng(zooms, lambda x: fs(x, "ms", 0)), f"{len(zooms)} clicks, 3 frames × {HTML_ROUNDS} page loads",
        "< 100 ms", verdict_ci(lo, hi, 100))
    row("8. `ldprof report --html` writing that page", fs(median(writes), "s", 2),
        rng(writes, lambda x: fs(x, "s", 2)), "read, merge, write", "—", "—")


def main():
    for f in (SHIM, CLI, WORK, DEEP, SPAWN, EMPTY, WAITER, THREAD0, AGENT, WORK_STATIC, FORKER, BURN):
        if not os.access(f, os.X_OK if f != SHIM else os.R_OK):
            sys.exit(f"bench: {f} is missing: run `make test-bins` first")
    gperf_ok = os.access(GPERF, os.R_OK)
    if not gperf_ok:
        sys.exit(f"bench: {GPERF} is missing (Debian package libgoogle-perftools4)")
    os.makedirs(TMP, exist_ok=True)
    t0 = time.monotonic()
    st0 = cpu_stat()
    lib0 = shim_id()
    version = git_version()
    for num, what, fn in (("1", "1+3. bench_work (interleaved rounds)", bench_work),
                          ("2", "2. bench_deep", bench_deep),
                          ("4", "4. start-up of /bin/true and of a small program", bench_startup),
                          ("5", "5. fork+exec storm (interleaved rounds)", bench_storm),
                          ("5", "5. one fork() of a running program (interleaved rounds)", bench_forks),
                          ("6", "6. the eBPF agent (interleaved rounds)", bench_agent),
                          ("7", "7. the agent under a user's attack", bench_attack),
                          ("8", "8. the HTML report in Chromium", bench_html),
                          ("9", "9. `ldprof run` against no profiler (interleaved rounds)", bench_ring),
                          ("10", "10. host-wide on the ring sampler: activation, the agent draining", bench_hostwide)):
        if ONLY and num not in ONLY:
            continue
        sys.stderr.write(f"bench: {what}\n")
        fn()
    took = time.monotonic() - t0
    st1 = cpu_stat()
    if shim_id() != lib0:
        warnings.append("build/lib/*.so, build/bin/ldprof or build/sbin/ldprof-agent changed while the "
                        "benchmark ran (rebuilt by someone else?): "
                        "the rows mix two versions of ldprof; run it again")
    steal = (st1[1] - st0[1]) / max(1, st1[2] - st0[2]) * 100
    subprocess.run(["rm", "-rf", TMP])

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    out = []
    out.append(f"ldprof benchmark — {version}, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs ({cpu}), "
               f"Linux {platform.release()} (CONFIG_HZ={config_hz()}), {took:.0f} s, "
               f"steal time {steal:.1f}%, "
               + (f"bench_work CPU÷wall without profiler {PAR[0]:.2f} (≈{os.cpu_count()} when the CPUs are free)"
                  if PAR[0] else f"sections {','.join(sorted(ONLY))} only")
               + (" — QUICK MODE, too few runs to quote" if QUICK else ""))
    out.append("")
    out.append("| measurement | median | min – max | derived (vs baseline of the same round) | target | met |")
    out.append("|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: int(r[0].split(".")[0])):  # by section number, stable within one
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    out.append("")
    out.append("Method (medians; 'met' is judged on the distribution-free 95% CI of the median where there is one):")
    out.append(
        "- ldprof has one path: the shim runs the ring sampler in the process and hands its ring to a collector "
        "outside it (`ldprof run`'s own, or ldprof-agent with [agent] rings); with no collector it stays off. "
        "So every profiled row has one: `ldprof run` (1, 2, 3, 9), or an ldprof-agent of the bench's own that "
        "takes the rings of the shim preloaded as installed (4, 5, 10; a probe first checks that such a "
        "configuration samples, else the rows are listed as a problem). 'Reference floor' rows are not "
        "ldprof: an empty preload, a preload that only starts a sleeping thread (tests/bench/waiter.c) and "
        "one that only makes a kernel thread (tests/bench/thread0.c).")
    out.append(
        f"- 1: bench_work = 4 threads × fixed work (int/float/mix kernels). {WORK_ROUNDS} rounds after one "
        "discarded warm-up round; each round runs every configuration once, interleaved (not batched), in an "
        "order shuffled each round with a fixed seed. Wall = fork to wait4 of the program; CPU = the "
        "program's ru_utime + ru_stime (under `ldprof run` the program is spawn's child, spawn `ldprof "
        "run`'s). CPU of everything = RUSAGE_CHILDREN of the bench around the whole command: the program, "
        "spawn, and for ldprof `ldprof run` with its collector (symbols, profiles, delivery). Ratio = median "
        "over rounds of (row ÷ the no-profiler run of the same round); the A/A row is what a ratio looks like "
        "when nothing differs. Network endpoints: the collector sends (pyroscope, every 250 ms), so a failing "
        "endpoint is judged on the whole `ldprof run` (its wall, everything's CPU) against a working one. "
        "Wall is only meaningful when CPU÷wall without profiler (header) is close to the CPU count: 4 "
        "threads share the CPUs with whatever else runs.")
    out.append(
        "- 1, samples: expected = CPU s × rate. gperftools uses one process-wide ITIMER_PROF, ldprof one "
        "CPU-time timer per thread; the kernel checks both at each scheduler tick (CONFIG_HZ), so above that "
        "rate one signal stands for several periods: ldprof weights its sample by 1 + overrun, an itimer "
        "loses them.")
    out.append(
        f"- 2: end-to-end cost, NOT the handler alone: (CPU of everything under `ldprof run` at 999 Hz − CPU "
        f"of everything without, same pair) ÷ samples recorded (weighted by 1 + overrun). {DEEP_ROUNDS} pairs "
        "per depth (+1 discarded), which of the pair runs first alternates. Includes signal delivery, the "
        "handler and its unwinding in the process, the collector's drains, symbols and profile written, "
        "and `ldprof run`'s own start and end (spread over the run's samples); the program's share "
        "(its own CPU) is given beside it. p99 of so few pairs is the largest value. Per SIGPROF handled: "
        "the same CPU difference ÷ the samples the handlers put into the rings, from the collector's last "
        "log line (LDPROF_LOG_LEVEL=info; at 999 Hz > CONFIG_HZ each stands for ~4 periods), next to the "
        "handler's own mean time from that line. Run-to-run CPU noise (A/A row of 1) is ±tens of µs per "
        "sample at ~1000 samples per CPU second, hence the wide min–max.")
    out.append("- 3: ru_maxrss (the program's own: it is started by fork + exec from a small C driver), "
               "paired by round; the collector's memory (in `ldprof run`) is not in it.")
    out.append(
        f"- 4: build/tests/bench/spawn: {START_ROUNDS} rounds of (no preload, empty preload, inactive, "
        "excluded by a config file, excluded by the environment, active from the start, no preload again, "
        "waiter.c's sleeping thread, thread0.c's kernel thread, waiting as installed) per program, "
        "order shuffled each round with a fixed seed, after a discarded pass of the same size; posix_spawn + "
        "waitpid timed with CLOCK_MONOTONIC; differences paired within a round. 'small' is tests/bench/small.c "
        "(needs libz and libm). An ldprof-agent of the bench's own with [agent] rings runs through the "
        "section; the shim's sets name its socket (as root, through a config file, as /etc/ldprof/ldprof.ini "
        "does on a host). Active from the start = start_after_cpu 0: the process registers with the agent "
        "and starts the ring sampler at once. Waiting as installed = the default start_after_cpu (20 ms): "
        "these programs end before it. Excluded = [select] exclude_comm = * in the file LDPROF_CONFIG names "
        "(read by every process, as /etc/ldprof/ldprof.ini is on a host), or LDPROF_SELECT_EXCLUDE_COMM=*; "
        "checked first (else LDPROF_DISABLED=1 stands in, and the row says so).")
    out.append(
        f"- 5: one /bin/sh loop starting {STORM_PROGRAMS} programs (/bin/true, and `echo $i | /bin/cat` in a "
        "pipeline) with LD_PRELOAD in the environment, inherited by every child as /etc/ld.so.preload would "
        f"apply to it: no shim, the three reference floors (empty preload, waiter.c, thread0.c), shim "
        f"excluded by the environment, shim as installed (start_after_cpu 20 ms) and shim active from the "
        f"start (start_after_cpu 0), an ldprof-agent of the bench's own taking the rings. {STORM_ROUNDS} "
        "rounds after one discarded warm-up round, the seven shuffled in each; wall = fork to wait4 of the "
        "shell, CPU = the whole tree's user+sys (wait4 counts the children the shell waited for); ratio = "
        "median over rounds of (run ÷ no-shim run of the same round); per program = that difference ÷ "
        f"{STORM_PROGRAMS}. One fork(): tests/bench/forker burns 60 ms of CPU, sleeps 1.2 s, then times "
        f"{FORKS} rounds of fork + _exit in the child + waitpid (the median of 20 batches); {FORK_ROUNDS} "
        "rounds of the five, shuffled (another agent of the bench's own takes the rings); differences "
        "paired with the no-shim run of the same round. `ldprof run`'s fork is in 9.")
    out.append(
        f"- 6: the eBPF agent: one ldprof-agent of the bench's own (own socket, file:// output, "
        f"`[agent] cover = registered`, {AGENT_HZ} Hz, --bpf-stats) runs through the whole section. "
        "build/tests/progs/bench_work_static = bench_work (4 threads, fixed work) static with frame pointers "
        f"(clang, like static_fp). {AGENT_ROUNDS} rounds after one discarded warm-up round, three arms shuffled "
        "in each, all started the same way: tests/agent_client.py asks the agent, then execs `spawn -r`, which "
        "forks and execs the program; covered = the client asked `register` (spawn's child inherits the mark "
        "at fork, its static exec makes it a target: sampled from its first instruction), not covered = it "
        "asked `status` only (twice: the second is the A/A row). Ratios = median over rounds of (arm ÷ the "
        "not-covered run of the same round). Samples = `ldprof report --folded` of the run's profiles vs CPU s "
        f"× {AGENT_HZ}. Agent CPU = Σ /proc/AGENT/task/*/schedstat from before the run until its last profile "
        "is written (the bench asks `status` once, after the file appears), ÷ the run's wall. BPF times = "
        "run_time_ns/run_cnt in /proc/AGENT/fdinfo of the agent's program fds (kernel.bpf_stats, on while the "
        "agent holds its stats fd; the timing itself adds a few tens of ns per run), as deltas over each run: "
        "in a not-covered run every on_cpu_clock tick is a lookup that misses; the cost per sample of the "
        "covered program = (on_cpu_clock time of the covered run − that round's miss mean × the ticks that "
        "were not samples) ÷ samples. The hooks: one sh loop starting "
        f"{AGENT_STORM} /bin/true, unregistered and registered, twice each; (fork + exec + exit hook time) ÷ "
        f"{AGENT_STORM}. Host-wide = agent CPU + every BPF program's run time on every CPU, ÷ wall. "
        "Wall rows are only meaningful when the program's CPU÷wall (first row) is close to 2.")
    out.append(
        f"- 7: a second agent of the bench's own; {ATTACK_ROUNDS} rounds of two arms, shuffled: {PROBES} "
        "registrations by root, each from a new process (tests/progs/agentbomb probe, 20 ms apart, timed "
        "from connect to the answer), with no attack, and while the user nobody runs `agentbomb attack`: a "
        "900 MiB file (a hole but for 4 M function symbols) mapped executable under four hard-linked names "
        "and one copy, asking `sample go` and `register` in turn as fast as the agent answers; and while a "
        "process of nobody's with 65,000 one-page mappings (every other one executable) does the same. "
        "The shim waits 50 ms for an answer. Memory: VmHWM of the agent at the end minus at its start.")
    out.append(
        f"- 8: tests/bench/bigprofile.py draws {HTML_STACKS:,} distinct stacks (random walks 6–48 deep in a "
        "call graph of 3,000 functions: they share little, so the tree is larger than a real profile's); "
        f"`ldprof report --html` writes the page (3 runs). {HTML_ROUNDS} times: a new headless Chromium "
        "(Debian's, through tests/js/page.mjs and playwright-core) opens it from disk; first paint = "
        "performance.now() in the second requestAnimationFrame after the graph is drawn (so the frame that "
        "showed it was painted), from navigation start; zoom = from the click event's timeStamp to the same "
        "point after the zoomed graph is drawn, for clicks on worker_main, main and io_loop (Back between).")
    out.append(
        f"- 9: {RING_ROUNDS} rounds after one discarded warm-up round, two arms shuffled in each: no profiler, "
        "and `ldprof run` (the program carries the ring sampler; the collector is in ldprof run). The program "
        "runs under `spawn -r` (inside ldprof run: its own CPU and max RSS); CPU of everything = "
        "RUSAGE_CHILDREN around the whole command. By accounting = within each run: (CPU of everything − "
        "the program's − spawn's own, the last from the round's baseline) + samples × the handler's mean "
        "time from ldprof.log, over the program's CPU; free of the ±3 % the program's own CPU varies "
        "between runs, but without the kernel's signal delivery. Fork = tests/bench/forker as in 5, under `ldprof run`. "
        "Per sample: bench_deep 60 (64-frame stacks) at 999 Hz, (CPU of everything with − without) ÷ samples "
        "recorded, and the handler alone by its own clock: TSC cycles from its entry to the sample put, "
        "summed in the ring's header, converted at the rate the collector measures against CLOCK_MONOTONIC "
        "over its life (from ldprof.log).")
    out.append(
        f"- 10: one ldprof-agent of the bench's own with [agent] rings (its socket, file:// output, {AGENT_HZ} Hz); "
        f"the shim preloaded as installed with [agent] rings (start_after_cpu 20 ms). Activation: {ACTIVATIONS} runs "
        "of tests/progs/burn 60, each one's activation_us from its log (CLOCK_MONOTONIC from the handler's entry to "
        f"the sampler set up; since f632e2d the agent is not asked there: the ring's hand-over registers). "
        f"The processes sample at the agent's rate ({AGENT_HZ} Hz, LDPROF_SAMPLING_HZ). Draining: {DRAIN_PROCS} burn 200 processes "
        f"started at once ({DRAIN_ROUNDS} rounds), the agent's CPU (Σ /proc/AGENT/task/*/schedstat) from before "
        "the first starts until 1 s after the last ends, over that wall time; then the same agent idle for as long.")
    if warnings:
        out.append("")
        out.append("**Warnings:**")
        out.extend(f"- {w}" for w in dict.fromkeys(warnings))
    if problems:
        out.append("")
        out.append("**Problems seen (not worked around):**")
        seen = set()
        for p in problems:
            if p not in seen:
                seen.add(p)
                out.append(f"- {p}")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(B, "bench.md"), "w") as f:
        f.write(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
