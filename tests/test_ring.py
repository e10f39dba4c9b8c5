# SPDX-License-Identifier: MIT
"""`ldprof run` (issue 15): the programs carry only the libc-free ring sampler
(shim/ringsamp.c), `ldprof run` collects (common/collector.c). The same checks on glibc
programs and on musl builds of the same sources (tests/progs/musl/, linked with
--eh-frame-hdr as a musl-native gcc links): known-answer shares, samples captured, stacks
unwound, thread names; nothing of ours a program can see (threads, descriptors, libraries);
pthread_exit() from main; fork and exec; a program's own SIGPROF handler; a program run with
the shim and no collector; a Go program with no libc untouched."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import (LDPROF, PROGS, SHIM, Stacks, clean_env, ldprof_run, preload_env, prog, profile_files, profiles_for,
                      read_log, read_profile, run, status_of)

HZ = 499
LIBCS = ["glibc", "musl"]


def libc_prog(libc, name):
    return prog(name) if libc == "glibc" else PROGS / "musl" / name


def ring_run(args, outdir, hz=HZ, timeout=60, env=None):
    """`ldprof run` (the ring sampler is its default), the log at level info."""
    return ldprof_run(args, outdir=outdir, hz=hz, timeout=timeout,
                      env=env or clean_env(LDPROF_LOG_LEVEL="info"))


def test_ring_option_still_accepted(outdir):
    """`--ring` asked for the sampler when it was not the default: a command line that names
    it runs as one that does not."""
    r = ldprof_run([prog("burn"), "200"], outdir=outdir, hz=HZ, extra=["--ring"],
                   env=clean_env(LDPROF_LOG_LEVEL="info"))
    assert r.returncode == 0 and r.stderr == b"", r
    assert re.search(r"\]: info: active pid=\d+ hz=499 threads=1 collector=/", read_log(outdir)), read_log(outdir)
    assert collector_line(outdir)["rings"] == 1 and profiles_for(outdir, comm="burn")


def collector_line(outdir):
    m = re.search(r"collector: (\d+) rings, (\d+) refused; (\d+) samples \((\d+) periods\), (\d+) dropped by full "
                  r"rings, (\d+) bad; stacks: (\d+) whole, (\d+) stopped at an unknown address, (\d+) at an "
                  r"unmodelled rule", read_log(outdir))
    assert m, "no collector line in the log:\n" + read_log(outdir)
    keys = ["rings", "refused", "samples", "periods", "dropped", "bad", "whole", "no_object", "no_rule"]
    return dict(zip(keys, (int(x) for x in m.groups())))


@pytest.fixture(scope="module", params=LIBCS)
def hot2(request, module_outdir):
    d = module_outdir(f"hot2-{request.param}")
    r = ring_run([libc_prog(request.param, "hot2"), "1200"], d)
    return request.param, d, r


def test_hot2_runs_unchanged(hot2):
    libc, d, r = hot2
    assert (r.returncode, r.stdout) == (0, b"hot2: done threads=5 ratio=3:1\n"), r


def test_one_profile_for_the_process(hot2):
    libc, d, r = hot2
    files = profile_files(d)
    assert {c for c, _, _ in files.values()} == {"hot2"}, [p.name for p in files]
    assert len({pid for _, pid, _ in files.values()}) == 1


def test_known_answer_shares(hot2):
    libc, d, r = hot2
    st = Stacks(profiles_for(d, comm="hot2"))
    a, b = st.with_func("hot_a"), st.with_func("hot_b")
    assert a + b > 0, st.dump()
    share = 100.0 * a / (a + b)
    assert 70.0 <= share <= 80.0, f"{libc}: hot_a {share:.1f}% (expected 75 +-5)\n" + st.dump()
    assert st.with_any(["hot_a", "hot_b"]) >= 0.95 * st.total(), st.dump()


def test_samples_captured(hot2):
    libc, d, r = hot2
    cpu_ns = int(re.search(rb"cpu_ns=(\d+)", r.stderr).group(1))
    expected = cpu_ns * HZ / 1e9
    got = Stacks(profiles_for(d, comm="hot2")).total()
    assert 0.95 * expected <= got <= 1.10 * expected, f"{libc}: {got} periods for {expected:.0f} expected"
    c = collector_line(d)
    assert (c["rings"], c["refused"], c["dropped"], c["bad"]) == (1, 0, 0, 0), c
    assert c["periods"] == got, c


def test_stacks_unwound_to_the_thread_start(hot2):
    libc, d, r = hot2
    st = Stacks(profiles_for(d, comm="hot2"))
    ok = st.with_any(["worker", "main"])
    # the samples in clock_gettime go through the vDSO (unwind tables) and, on musl, through
    # musl's clock_gettime (none: found by the scan for its return address)
    assert ok >= 0.99 * st.total(), f"{libc}: {ok}/{st.total()} reach worker or main\n" + st.dump()
    # glibc's thread start (clone3) and __libc_start_main end the walk with their own rule;
    # musl has none (no unwind tables): its main thread ends at the program's _start, reached
    # by tail calls no scan follows, its other threads at __clone's call through a register
    # in the last words of the thread's stack (shim/ringsamp.c, first_frame)
    c = collector_line(d)
    assert c["whole"] >= 0.99 * c["samples"], c


def test_status_says_ring_sampling(outdir):
    """`ldprof status` of a process under `ldprof run`: ring-sampling, the collector named, and not
    suspect for having no thread of ours."""
    p = subprocess.Popen([str(LDPROF), "run", "-o", str(outdir), "--", str(prog("hot2")), "3000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    try:
        pid = None
        for _ in range(100):
            time.sleep(0.05)
            kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
            if kids:
                pid = int(kids[0])
                if "hot2" in open(f"/proc/{pid}/comm").read():
                    break
        time.sleep(0.3)  # its constructor has run
        r = run([LDPROF, "status", str(pid)], timeout=30)
        line = [x for x in r.stdout.decode().splitlines() if x.split()[:1] == [str(pid)]]
        assert line and line[0].split()[3] == "ring-sampling", r.stdout.decode()
        assert "ring sampler, collector /" in line[0], line
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
        p.kill()
        p.wait()


def test_profiles_carry_the_names_of_debug_files(outdir):
    """The collector names frames as `ldprof report` would: hot2's threads start in libc
    functions only libc6-dbg's debug file names (test_debuginfo.py), and the profiles written
    under `ldprof run` already carry those names: a report that looks up no debug file leaves
    nothing unnamed."""
    r = ring_run([prog("hot2"), "400"], outdir)
    assert r.returncode == 0, r
    bare = run([LDPROF, "report", "--top", "0", "--debug-dir", "", outdir], timeout=60)
    assert bare.returncode == 0 and bare.stderr == b"", bare
    assert b"libc.so.6+0x" not in bare.stdout, bare.stdout.decode()
    assert b"start_thread" in bare.stdout, bare.stdout.decode()
    # the debug file's .symtab says "clock_gettime@@GLIBC_2.17": named without the version
    # (a sample in its PLT stub is "clock_gettime@plt", as perf and objdump name it)
    assert b"clock_gettime" in bare.stdout and not re.search(rb"@@?GLIBC", bare.stdout), bare.stdout.decode()


def test_threads_named(hot2):
    libc, d, r = hot2
    st = Stacks(profiles_for(d, comm="hot2"))
    names = st.by_label("thread_name")
    assert {"hot2-w0", "hot2-w1", "hot2-w2", "hot2-w3"} <= set(names), names
    assert len(st.by_label("thread_id")) == 5


PY_WORK = """
import decimal, hashlib, json, zlib
d = [{"k": i, "v": str(i) * 5} for i in range(20000)]
for _ in range(8):
    s = json.dumps(d).encode()
    json.loads(s)
    zlib.compress(s, 6)
    hashlib.sha256(s).hexdigest()
    x = decimal.Decimal(1)
    for i in range(20000):
        x = x * decimal.Decimal("1.0001")
"""


@pytest.mark.parametrize("cmd,comm", [
    (["/usr/bin/python3", "-c", PY_WORK], "python3"),
    (["/bin/sh", "-c", "head -c 40000000 /dev/zero | xz -4 -T1 | xz -d > /dev/null"], "xz"),
], ids=["python3-extension-modules", "xz"])
def test_debian_programs_unwound_to_libc_start_main(cmd, comm, outdir):
    """Debian's own stripped programs, built without frame pointers, and an interpreter
    running extension modules it imported a moment before: their main threads' samples reach
    __libc_start_main, from the first sample on (the fast path only: there is no libunwind in
    the process to fall back on)."""
    r = ring_run(cmd, outdir, hz=499)
    assert r.returncode == 0, r
    st = Stacks(profiles_for(outdir, comm=comm))
    assert st.total() > 50, st.dump()
    ok = st.with_any(["__libc_start_main", "__libc_start_call_main"])
    assert ok >= 0.97 * st.total(), f"{ok}/{st.total()} reach __libc_start_main\n" + st.dump()


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_no_frame_of_ours_in_the_profile(libc, outdir):
    """The shim's code a program passes through (the trampoline every thread it starts runs
    first, the pthread_create wrapper) is not the program's: the stacks read as without ldprof,
    the thread's function right under its libc's thread start (glibc's start_thread; musl's
    `start`, which stripped musl leaves unnamed), and no mapping of ours in the profile."""
    exe = prog("hot2") if libc == "glibc" else PROGS / "musl" / "hot2"
    r = ring_run([exe, "400"], outdir)
    assert r.returncode == 0, r
    seen = 0
    for path in profiles_for(outdir, comm="hot2"):
        p = read_profile(path)
        names = [p.s(m["filename"]) for m in p.mappings]
        assert not [n for n in names if n.endswith("/libldprof.so")], names
        for s in p.samples:
            f = p.frames(s)
            if "worker" not in f:
                continue
            seen += 1
            under = p.mapping_of(p._loc[s["locs"][f.index("worker") + 1]])
            assert under and re.search(r"/(libc\.so\.6|libc\.so|ld-musl-x86_64\.so\.1)$",
                                       p.s(under["filename"])), (f, under and p.s(under["filename"]))
            if libc == "glibc":
                assert f[f.index("worker") + 1] == "start_thread", f
    assert seen > 0


def test_musl_gcc_default_build_without_eh_frame_hdr(outdir):
    """Debian's musl-gcc links without .eh_frame_hdr: the sampler indexes the program's
    .eh_frame (found through its section headers) and unwinds it all the same."""
    exe = PROGS / "musl-plain" / "hot2"
    ph = run(["readelf", "-lW", exe], timeout=30).stdout
    assert b"GNU_EH_FRAME" not in ph and b"ld-musl" in ph, ph.decode()
    r = ring_run([exe, "400"], outdir)
    assert (r.returncode, r.stdout) == (0, b"hot2: done threads=5 ratio=3:1\n"), r
    st = Stacks(profiles_for(outdir, comm="hot2"))
    assert st.with_any(["worker", "main"]) >= 0.99 * st.total() > 0, st.dump()
    c = collector_line(outdir)
    assert c["no_object"] <= 0.05 * c["samples"], c


@pytest.mark.parametrize("libc", LIBCS)
def test_stacks_through_the_libc_unwound_to_main(libc, outdir):
    """A program that spends its CPU inside its libc: qsort calling the program's comparator
    back, memcpy, snprintf of doubles (a chain of libc-internal calls). musl's libc has no unwind
    tables: the sampler finds each of its frames' return addresses on the stack, checked against
    the call before them and the function's prologue. Every sample reaches main through the
    function that did the work."""
    r = ring_run([libc_prog(libc, "libcwork"), "1200"], outdir, hz=499)
    assert (r.returncode, r.stdout) == (0, b"libcwork: done sum=9\n"), r
    st = Stacks(profiles_for(outdir, comm="libcwork"))
    total = st.total()
    assert total > 300, st.dump()
    work = ["sort_work", "copy_work", "fmt_work"]
    ok = sum(c for f, c, _ in st.items if "main" in f and set(work) & set(f))
    assert ok >= 0.99 * total, f"{libc}: {ok}/{total} reach main through the work\n" + st.dump(30)
    for name in work:  # each a third of the CPU time
        assert st.with_func(name) >= 0.2 * total, f"{libc}: {name}\n" + st.dump(30)
    # the comparator's samples go back through qsort's frames to the function that sorted
    cmp = [(f, c) for f, c, _ in st.items if f and f[0] == "by_value"]
    assert sum(c for _, c in cmp) > 0, st.dump(30)
    assert all("sort_work" in f for f, _ in cmp), [";".join(reversed(f)) for f, _ in cmp]


@pytest.mark.parametrize("libc", LIBCS)
def test_nothing_of_ours_the_program_sees(libc, outdir):
    """Threads, descriptors and mapped libraries as without ldprof; the one mapping of ours
    is the ring (a memfd, no library)."""
    cmd = [libc_prog(libc, "selfview"), "400"]
    base = run(cmd, timeout=30)
    assert base.returncode == 0
    r = ring_run(cmd, outdir)
    assert r.returncode == 0, r
    lines, want = r.stdout.decode().splitlines(), base.stdout.decode().splitlines()
    # the preloaded object itself, and the ring: the only lines that differ
    extra = [x for x in lines if x not in want]
    assert sorted(extra) == sorted(["map /memfd:ldprof-ring (deleted)", f"map {SHIM}"]), extra
    assert [x for x in lines if x not in extra] == want
    assert "threads 1" in lines and not [x for x in lines if x.startswith("fd ") and "ldprof" in x]
    c = collector_line(outdir)
    # 400 ms at 499 Hz: ~200 periods (a loaded machine delivers fewer signals, each carrying
    # its overruns: count periods, not signals)
    assert c["rings"] == 1 and c["periods"] > 100, c


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("mode", ["main", "workers"])
def test_pthread_exit_from_main(libc, mode, outdir):
    cmd = [libc_prog(libc, "lastthread"), mode, "300"]
    base = run(cmd, timeout=30)
    r = ring_run(cmd, outdir, timeout=30)
    assert (status_of(r), r.stdout, r.stderr) == (status_of(base), base.stdout, base.stderr), r
    assert Stacks(profiles_for(outdir, comm="lastthread")).total() > 0


@pytest.mark.parametrize("libc", LIBCS)
def test_fork_and_exec(libc, outdir):
    """The child gets its own ring and profile; the image it execs (`burn`) another, the exec
    mark in the child's ring ending the first one with the mappings it was sampled with."""
    cmd = [libc_prog(libc, "forkexec"), "execve", "300"]
    r = ring_run(cmd, outdir)
    assert r.returncode == 0, r
    parent, child = (int(x) for x in re.search(rb"parent=(\d+) child=(\d+)", r.stdout).groups())
    files = profile_files(outdir)
    by = {(c, pid) for c, pid, _ in files.values()}
    assert ("forkexec", parent) in by and ("forkexec", child) in by and ("burn", child) in by, by
    funcs = {"parent_burn": ("forkexec", parent), "child_burn": ("forkexec", child), "burn_loop": ("burn", child)}
    # the burners read the clock as they go: on musl a sample inside clock_gettime (musl's,
    # without unwind tables, then the vDSO's) ends there, short of the burner
    need = 0.9 if libc == "glibc" else 0.8
    for fn, (comm, pid) in funcs.items():
        st = Stacks(profiles_for(outdir, comm=comm, pid=pid))
        assert st.with_func(fn) >= need * st.total() > 0, f"{fn} in {comm} {pid}:\n" + st.dump()
    # the parent's profile holds none of the child's samples, and the other way round
    assert Stacks(profiles_for(outdir, comm="forkexec", pid=parent)).with_func("child_burn") == 0
    assert Stacks(profiles_for(outdir, comm="forkexec", pid=child)).with_func("parent_burn") == 0


def test_glibc_sh_then_musl_then_glibc(outdir):
    """A glibc shell starts a musl program, which execs a glibc one: each profiled."""
    script = f"{prog('burn')} 200 >/dev/null; exec {PROGS / 'musl' / 'forkexec'} execve 300"
    r = ring_run(["/bin/sh", "-c", script], outdir)
    assert r.returncode == 0, r
    comms = {c for c, _, _ in profile_files(outdir).values()}
    assert {"burn", "forkexec"} <= comms, comms
    assert Stacks(profiles_for(outdir, comm="forkexec")).with_func("parent_burn") > 0


@pytest.mark.parametrize("libc", LIBCS)
def test_dlopened_object_unwound_from_its_first_sample(libc, outdir):
    """dlfresh spends its first moments in a library it has just dlopen()ed by its bare name
    (found through its RUNPATH, $ORIGIN: glibc takes it from dlopen's caller, which the shim's
    dlopen must leave as it is). glibc: the handler finds the object through _dl_find_object;
    musl: the dlopen wrapper puts it into the table before returning."""
    cmd = [libc_prog(libc, "dlfresh"), "libfresh.so", "300"]
    r = ring_run(cmd, outdir)
    assert (r.returncode, r.stdout) == (0, b"dlfresh: done\n"), r
    st = Stacks(profiles_for(outdir, comm="dlfresh"))
    fresh = st.with_func("fresh_run")
    assert fresh >= 0.9 * st.total() > 0, st.dump()
    through = sum(c for f, c, _ in st.items if "fresh_run" in f and "main" in f)
    assert through == fresh, f"{fresh - through} samples in fresh_run stop short of main\n" + st.dump()
    # its hot loop calls through the library's PLT: those samples are the stub's, named as perf
    # names it, not the function before the PLT (_init)
    assert st.with_func("fresh_step@plt") > 0 and st.with_func("_init") == 0, st.dump()


def test_unwound_through_a_signal_frame(outdir):
    """CPU spent in a signal handler of the program's own: the walk goes past the signal-return
    stub, through the registers the kernel saved, to the interrupted code and main. (On musl
    the interrupted code is musl's raise(), which has no unwind tables: the walk ends there.)"""
    r = ring_run([prog("sigburn"), "400"], outdir)
    assert (r.returncode, r.stdout) == (0, b"sigburn: done\n"), r
    st = Stacks(profiles_for(outdir, comm="sigburn"))
    burn = st.with_func("handler_burn")
    through = sum(c for f, c, _ in st.items if "handler_burn" in f and "outer" in f and "main" in f)
    assert burn > 50 and through >= 0.95 * burn, f"{through}/{burn}\n" + st.dump()


def test_thread_of_a_raw_clone_found(outdir):
    """A thread started with a raw clone() after the sampler is on (no pthread_create to see
    it), its parent asleep until it ends: the clone() wrapper gives it its timer at once (no
    sampled thread runs whose rescan could find it)."""
    r = ring_run([prog("rawthread"), "600"], outdir)
    assert (r.returncode, r.stdout) == (0, b"rawthread: done\n"), r
    cpu = int(re.search(rb"raw_cpu_ns=(\d+)", r.stderr).group(1))
    st = Stacks(profiles_for(outdir, comm="rawthread"))
    got, expected = st.with_func("raw_burn"), cpu * HZ / 1e9
    assert got >= 0.8 * expected, f"{got} samples in raw_burn, {expected:.0f} expected\n" + st.dump()
    assert sum(c for f, c, _ in st.items if "raw_burn" in f and "raw_main" in f) >= 0.95 * got, st.dump()


@pytest.mark.parametrize("libc,after,mode", [
    ("glibc", "0", ""), ("glibc", "20ms", ""), ("glibc", "0", "block"), ("glibc", "20ms", "block"),
    ("glibc", "0", "worker"), ("glibc", "20ms", "worker"), ("musl", "20ms", "block"), ("musl", "20ms", "worker")])
def test_no_signal_of_ours_wakes_a_sleeping_thread(outdir, libc, after, mode):
    """Threads asleep in pause(), nanosleep(), epoll_wait() and sigtimedwait() while main
    burns 1 s at 1000 Hz (block: with SIGPROF blocked, as a worker that leaves signals to
    another thread; worker: a thread started after them burns, main sleeps in sigtimedwait()):
    none of their calls fails with EINTR, as without ldprof. A timer on the process's CPU
    clock signals the process, and the kernel hands that to a sleeper now and then: the first
    version's thread finder cost 1 to 18 EINTRs a run here (Linux 6.18), one every 50 ms of
    CPU on kernels before 6.4, which prefer the main thread; the deferred activation's one such
    timer cost one (20ms, block). Activation timers run on each thread's own CPU clock: with
    block, main never takes our signal, and the process never activates (nothing else runs);
    with worker, the worker's activates it and is sampled."""
    exe = libc_prog(libc, "sleepers")
    args = [exe, "1000"] + ([mode] if mode else [])
    assert run(args[:1] + ["200"] + args[2:]).stdout == b"sleepers: eintr=0\n"
    for i in range(3):
        d = outdir / str(i)
        r = ldprof_run(args, outdir=d, hz=1000, extra=["--start-after-cpu", after],
                       env=clean_env(LDPROF_LOG_LEVEL="info"))
        assert (r.returncode, r.stdout) == (0, b"sleepers: eintr=0\n"), r
        if mode == "block":  # main's samples wait until it exits; before an activation, nothing
            assert ("active pid=" in read_log(d)) == (after == "0"), read_log(d)
            continue
        assert "active pid=" in read_log(d), read_log(d)
        st = Stacks(profiles_for(d, comm="sleepers"))
        assert st.with_func("worker_burn" if mode == "worker" else "main") > 800, st.dump()


def test_thread_churn_past_the_table(outdir):
    """3,000 threads one after the other, each ending with pthread_exit() (unseen by the
    trampoline): their slots and timers come back, and the last ones, after more threads than
    the table holds, are sampled."""
    r = ring_run([prog("threadchurn"), "3000", "40"], outdir)
    assert (r.returncode, r.stdout) == (0, b"threadchurn: done\n"), r
    cpu = int(re.search(rb"late_cpu_ns=(\d+)", r.stderr).group(1))
    got = Stacks(profiles_for(outdir, comm="threadchurn")).with_func("late_burn")
    assert got >= 0.8 * cpu * HZ / 1e9, f"{got} samples in late_burn for {cpu / 1e6:.0f} ms"


def test_dlopen_dlclose_churn_at_1000hz(outdir):
    """Two threads dlopen, run and dlclose a library in a loop, one walks dl_iterate_phdr, two
    burn: the handler never unwinds through a library being unmapped (dlclose fences it out,
    then the table is rebuilt), never waits for the loader."""
    r = ring_run([prog("dlchurn"), "3"], outdir, hz=1000)
    assert (r.returncode, r.stdout) == (0, b"dlchurn: done ok=yes\n"), r
    st = Stacks(profiles_for(outdir, comm="dlchurn"))
    assert st.total() > 1000, st.dump()
    assert st.with_func("churn_burn") > 0, st.dump()


@pytest.mark.parametrize("libc", LIBCS)
def test_program_with_its_own_sigprof_handler(libc, outdir):
    cmd = [libc_prog(libc, "ownprof")]
    base = run(cmd, timeout=30)
    r = ring_run(cmd, outdir, hz=997)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r
    assert b"foreign=0" in r.stdout and b"handler_intact=yes" in r.stdout, r.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_no_collector_reachable(libc, outdir):
    """Preloaded by hand with a collector socket nobody listens on: the program runs as
    without ldprof (its samples have nowhere to go)."""
    cmd = [libc_prog(libc, "hot2"), "200"]
    base = run(cmd, timeout=30)
    env = preload_env(outdir, LDPROF_COLLECTOR=outdir / "nobody.sock", LDPROF_SAMPLING_HZ="997",
                      LDPROF_LOG_FILE=outdir / "ldprof.log")
    r = run(cmd, env=env, timeout=30)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r
    # said once, by the first sample, which ended sampling for good
    lines = [x for x in read_log(outdir).splitlines() if "no collector took the ring" in x]
    assert len(lines) == 1 and "stepping aside: no collector took the ring: no socket" in lines[0], \
        read_log(outdir)


@pytest.mark.parametrize("libc", LIBCS)
def test_daemon_dropping_root_at_its_start_is_profiled(libc, outdir):
    """A root tree's socket lies in a folder only root enters: a process that gives up root
    before its first sample could not hand its ring over after. It is handed over before the
    set*id call instead, and every sample after the drop reaches the profile."""
    assert os.geteuid() == 0, "the suite runs as root (make check)"
    r = ring_run([libc_prog(libc, "dropuid"), "400"], outdir, hz=997)
    assert r.returncode == 0 and r.stderr == b"", r
    m = re.match(rb"dropuid: uid=65534 pid=(\d+)\n$", r.stdout)
    assert m, r.stdout
    st = Stacks(profiles_for(outdir, pid=int(m[1]), comm="dropuid"))
    # 400 ms at 997 Hz; a thread's CPU clock fires at most at the tick (250 Hz): the samples'
    # periods (overruns counted in) stand for all of it
    assert st.with_func("after_drop") >= 0.9 * 400 * 997 / 1000, st.dump()
    c = collector_line(outdir)
    assert c["rings"] == 1 and c["refused"] == 0, c


@pytest.mark.skipif(os.geteuid() != 0, reason="a root process and a socket of another user's")
def test_root_process_never_hands_its_ring_to_another_user(outdir):
    """A root process finds LDPROF_COLLECTOR in its environment: the socket must be root's,
    or a user listening there would learn root's stack addresses."""
    import tempfile
    d = tempfile.mkdtemp(prefix="ldp-ring-")  # sun_path is short
    path = os.path.join(d, "user.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.listen(8)
    os.chown(path, 65534, 65534)
    s.setblocking(False)
    try:
        cmd = [prog("hot2"), "200"]
        env = preload_env(outdir, LDPROF_COLLECTOR=path, LDPROF_SAMPLING_HZ="997",
                          LDPROF_LOG_FILE=outdir / "ldprof.log")
        r = run(cmd, env=env, timeout=30)
        assert r.returncode == 0, r
        with pytest.raises(BlockingIOError):
            s.accept()
        assert "no collector took the ring: the collector's socket is not root's" in read_log(outdir)
    finally:
        s.close()
        os.unlink(path)
        os.rmdir(d)


def test_config_with_errors_profiles_nothing(outdir):
    """As with the core: a configuration with an error keeps the tree unprofiled, said once."""
    cfg = outdir / "bad.ini"
    cfg.write_text("[sampling]\nhz = 5000\n")
    out = outdir / "profiles"
    r = ldprof_run([prog("burn"), "200"], outdir=out, extra=["--config", str(cfg)],
                   env=clean_env(LDPROF_LOG_LEVEL="info"))
    assert r.returncode == 0 and r.stdout.startswith(b"burn: done"), r
    assert b"the configuration has 1 error" in r.stderr, r.stderr
    assert not profile_files(out)


def test_go_without_libc_untouched(outdir):
    cmd = [prog("go_nolibc")]
    base = run(cmd, timeout=30)
    r = ring_run(cmd, outdir)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r
    assert not profile_files(outdir)


HOSTILE = r'''
import fcntl, mmap, os, random, socket, struct, subprocess, sys, time

path = os.environ["LDPROF_COLLECTOR"]
F_ADD_SEALS, F_SEAL_SHRINK, F_SEAL_GROW = 1033, 2, 4
SIZE = 4096 + 64 * 1024

def send(fd, msg=b"LDPA1 ring"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    socket.send_fds(s, [msg], [fd])
    s.close()

def memfd(seal=True):
    fd = os.memfd_create("hostile", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, SIZE)
    if seal:
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)
    return fd

burn = subprocess.Popen([sys.argv[1], "1500"], stdout=subprocess.DEVNULL)
send(memfd(seal=False))                      # unsealed: could shrink under the reader
fd = memfd()
os.pwrite(fd, os.urandom(4096), 0)           # sealed, but no ring in it
send(fd)
send(memfd(), b"LDPA1 nope")                 # not the protocol's words
silent = []
for _ in range(100):                         # connect and never send: more than it keeps waiting
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    silent.append(s)
fd = memfd()                                 # a ring, then scribbled over while drained
m = mmap.mmap(fd, SIZE)
struct.pack_into("<QIIII", m, 0, 0x31474e4952504c44, 1, 1024, 64, os.getpid())
for i in range(64):
    struct.pack_into("<Q", m, 4096 + i * 1024, i)
send(fd)
end = time.monotonic() + 1.5
while time.monotonic() < end:
    off = random.randrange(0, SIZE - 8)
    m[off:off + 8] = os.urandom(8)
    if random.random() < 0.01:
        struct.pack_into("<Q", m, 64, random.getrandbits(64))   # the head
burn.wait()
print("hostile: done", flush=True)
'''


def test_hostile_rings_cost_the_others_nothing(outdir):
    """A process under the same collector hands over an unsealed memfd, a sealed one with no
    ring, a ring with the wrong words, 100 connections with no message, and a ring it
    scribbles over (a second ring of its own pid: its real one ends) while a plain program
    runs: the collector refuses what is not a ring, is not held up by the silent ones,
    survives the scribbles, and the plain program's profile is whole."""
    r = ring_run(["/usr/bin/python3", "-c", HOSTILE, prog("burn")], outdir, hz=199, timeout=60)
    assert (r.returncode, r.stdout) == (0, b"hostile: done\n"), r
    c = collector_line(outdir)
    assert c["refused"] >= 103, c
    burn = [(pid, p) for p, (comm, pid, _) in profile_files(outdir).items() if comm == "burn"]
    assert burn, [p.name for p in profile_files(outdir)]
    st = Stacks([p for _, p in burn])
    # 1.5 s of CPU at 199 Hz
    assert 0.9 * 1.5 * 199 <= st.total() <= 1.1 * 1.5 * 199, st.total()
    assert st.with_func("burn_loop") >= 0.95 * st.total(), st.dump()
