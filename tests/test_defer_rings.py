# SPDX-License-Identifier: MIT
"""Deferred activation with no thread (issue 16): with [agent] rings and start_after_cpu > 0, a
process the rules let in gets our SIGPROF handler and a timer on each thread's CPU clock, nothing
else; once it has used start_after_cpu of CPU a timer's signal activates the ring sampler from the
handler (shim/ringsamp.c's ldp_rs_defer): it reads its objects from /proc/self/maps, arms a
timer for every thread at the rate its config says ([sampling] hz), and at its first sample
hands its ring to the agent, which registers it then; nothing in the handler waits for the
agent. A rate faster than the agent's, or an agent with rings off, is refused in the ring.

Glibc and musl: a short program never activates nor asks the agent; a waiting one has no
thread or descriptor of ours; a busy one is profiled whole from start_after_cpu, threads started
before included; fork children wait for their own CPU time; exec, fork, sigaction, seccomp
filters (the program's, and one that refuses our calls), unshare and set*id while the
activation is pending behave as without ldprof."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agentlib import AGENT_SAN, Agent, wait_for_profiles
from conftest import (LDPROF, PROGS, SHIM, Stacks, clean_env, preload_env, prog, profile_files,
                      read_log, read_profile, run, same_as_without, sigcgt)
from test_select import _syscall_numbers, fstrim_filter

LIBCS = ["glibc", "musl"]
OWNPROF_OK = b"ownprof: got_signals=yes foreign=0 handler_intact=yes count_ok=yes\n"
HZ = 499  # the agent's rate (agentlib); the shim's config says the same (env_after)


def threads_of(pid):
    names = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            names.append(open(f"/proc/{pid}/task/{t}/comm").read().strip())
        except OSError:
            pass
    return names


# 300 forks, each after a little more CPU than the last: some race the activation
FORK_RACE = ("import os, time\n"
             "bad = 0\n"
             "for i in range(300):\n"
             "    t = time.process_time()\n"
             "    while time.process_time() - t < 0.0002 * (i % 7): pass\n"
             "    pid = os.fork()\n"
             "    if pid == 0:\n"
             "        os._exit(3)\n"
             "    bad += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 3\n"
             "print('bad', bad)\n")


def libc_prog(libc, name):
    return prog(name) if libc == "glibc" else str(PROGS / "musl" / name)


@pytest.fixture(scope="module")
def ring_agent():
    d = Path(tempfile.mkdtemp(prefix="ldprof-defer-rings-"))
    os.chmod(d, 0o755)
    a = Agent(d / "agent", binary=AGENT_SAN, extra_ini="[agent]\nrings = true\n")
    yield a
    a.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def logdir(tmp_path):
    d = tmp_path / "shim"
    d.mkdir()
    return d


def env_after(a, d, after, **knobs):
    """Preloaded as installed: [agent] rings, this agent's socket and rate, start_after_cpu =
    after (None: the default, 20 ms), a log at level info in d."""
    knobs.setdefault("LDPROF_SAMPLING_HZ", HZ)
    env = preload_env(d, LDPROF_AGENT_SOCKET=a.sock, LDPROF_AGENT_RINGS="true",
                      LDPROF_LOG_FILE=d / "log.txt", LDPROF_LOG_LEVEL="info", **knobs)
    if after is None:
        del env["LDPROF_SELECT_START_AFTER_CPU"]
    else:
        env["LDPROF_SELECT_START_AFTER_CPU"] = after
    return env


def log_of(d):
    return read_log(d, d / "log.txt")


def test_short_programs_never_activate_nor_ask_the_agent(ring_agent, logdir):
    same_as_without(["sh", "-c", "ls / | sort | head -3; echo x | cat; exit 3"],
                    env_after(ring_agent, logdir, None))
    log = log_of(logdir)
    assert "agent:" not in log and "active" not in log, log
    assert not profile_files(logdir)


def static_profiles(d):
    return {p for p, (c, _, _) in profile_files(d).items() if c == "static_fp"}


@pytest.mark.parametrize("how", ["fork", "exec", "path"])
def test_a_short_shell_registers_before_it_execs_a_static_program(ring_agent, logdir, how):
    """[agent] cover = registered covers a static program a registered process execs. A process
    still waiting for start_after_cpu has not registered: before it execs a file with no ELF
    interpreter it registers, so a short shell's static tool is covered (its dynamic execs ask
    nothing: the test above). fork: the shell's child execs it (dash: a vfork child); exec: the
    shell itself; path: env's execvp finds it through $PATH."""
    static = Path(prog("static_fp"))
    cmd = {"fork": ["sh", "-c", f"{static} 0.3 2>/dev/null; echo rc=$?"],
           "exec": ["sh", "-c", f"exec {static} 0.3 2>/dev/null"],
           "path": ["env", f"PATH={static.parent}:/usr/bin:/bin", "static_fp", "0.3"]}[how]
    before = static_profiles(ring_agent.out)
    base = run(cmd, timeout=60)
    r = run(cmd, env=env_after(ring_agent, logdir, None), timeout=60)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r
    assert b"static_fp: done" in r.stdout, r
    deadline = time.monotonic() + 10
    while not static_profiles(ring_agent.out) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert static_profiles(ring_agent.out) - before, log_of(logdir)
    log = log_of(logdir)
    assert len(re.findall(r"agent: registered before the exec of a static program", log)) == 1, log
    assert "active" not in log, log


def test_a_shell_loop_looks_at_each_program_once(ring_agent, logdir):
    """The check before an exec remembers the files that have an interpreter: a loop of a
    waiting shell (dash: vfork children, writing into its memory) opens /bin/true once, not at
    every exec; nothing registers."""
    cmd = ["strace", "-f", "-qq", "-e", "trace=openat", "sh", "-c",
           "for i in 1 2 3 4 5 6; do /bin/true; done"]
    r = run(cmd, env=env_after(ring_agent, logdir, None), timeout=60)
    assert r.returncode == 0, r
    assert r.stderr.count(b'openat(AT_FDCWD, "/bin/true"') == 1, r.stderr.decode()
    assert "agent:" not in log_of(logdir)


@pytest.mark.parametrize("libc", LIBCS)
def test_a_waiting_process_has_our_handler_and_nothing_else(libc, ring_agent, logdir):
    # glibc's sleep uses no CPU; musl's burn 30 s of it, far below the hour
    cmd = ["sleep", "30"] if libc == "glibc" else [libc_prog(libc, "burn"), "30000"]
    base = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env_after(ring_agent, logdir, "1h"))
    try:
        time.sleep(0.5)
        assert threads_of(p.pid) == threads_of(base.pid)
        assert sorted(os.listdir(f"/proc/{p.pid}/fd")) == sorted(os.listdir(f"/proc/{base.pid}/fd"))
        assert signal.SIGPROF in sigcgt(p.pid), "no handler of ours while waiting"
        maps = open(f"/proc/{p.pid}/maps").read()
        # of ours, only the shim the loader mapped: no ring yet, no other library
        ours = {l.split(None, 5)[5] for l in maps.splitlines() if "ldprof" in l and len(l.split(None, 5)) == 6}
        assert ours == {str(SHIM)} and "memfd:" not in maps, maps
        st = run([str(LDPROF), "status", str(p.pid)])
        assert re.search(rb"\n *%d +\S+ +\S+ +waiting +for the CPU time .*no thread" % p.pid, st.stdout), st.stdout
        assert b"1 waiting for start_after_cpu" in st.stdout, st.stdout
    finally:
        for q in (p, base):
            q.kill()
            q.wait()


@pytest.mark.parametrize("libc", LIBCS)
def test_a_busy_program_is_activated_from_the_handler(libc, ring_agent, logdir):
    # hot2 starts its workers at once: all five threads exist when the activation comes, 20 ms
    # of CPU in, and are adopted then; their stacks, known from the maps, unwind to the start
    exe = libc_prog(libc, "hot2")
    base = run([exe, "1000"], timeout=60)
    r = run([exe, "1000"], env=env_after(ring_agent, logdir, None), timeout=60)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r  # stderr: its timings
    log = log_of(logdir)
    # the handler asked the agent nothing: the ring's hand-over registered it
    assert "agent:" not in log and re.search(r"info: active pid=\d+ hz=499 threads=5 ", log), log
    files = wait_for_profiles(ring_agent.out, int(re.search(r"active pid=(\d+)", log)[1]))
    st = Stacks(files)
    a, b = st.with_func("hot_a"), st.with_func("hot_b")
    assert a + b > 0, st.dump()
    assert 70.0 <= 100.0 * a / (a + b) <= 80.0, st.dump()
    assert st.with_any(["worker", "main"]) >= 0.99 * st.total(), st.dump()
    # 5 threads x 1 s at 499 Hz, but the 20 ms before the activation
    assert 0.95 * 5 * HZ <= st.total() <= 1.05 * 5 * HZ, st.total()
    # each worker, named before the activation, under its own name
    names = st.by_label("thread_name")
    for w in range(4):
        assert names.get(f"hot2-w{w}", 0) >= 0.8 * HZ, names


@pytest.mark.parametrize("after,lost_ms", [("0", 0), ("200ms", 200), ("0.5s", 500)])
def test_a_busy_program_is_profiled_from_its_start_after_cpu(ring_agent, logdir, after, lost_ms):
    # burn uses 800 ms of CPU: the profile holds what came after start_after_cpu (with 0, the
    # whole run: the ring sampler from the start, registered with the agent as it starts)
    same_as_without([prog("burn"), "800"], env_after(ring_agent, logdir, after))
    log = log_of(logdir)
    st = Stacks(wait_for_profiles(ring_agent.out, int(re.search(r"active pid=(\d+)", log)[1])))
    want = (800 - lost_ms) / 1000 * HZ
    assert 0.75 * want <= st.total() <= 1.1 * want + 4, (want, st.dump())
    assert st.with_func("main") >= 0.75 * want, st.dump()


@pytest.mark.parametrize("libc", LIBCS)
def test_nothing_of_ours_after_a_deferred_activation(libc, ring_agent, logdir):
    # selfview burns 400 ms, then lists its threads, descriptors and mappings
    cmd = [libc_prog(libc, "selfview"), "400"]
    base = run(cmd, timeout=30)
    r = run(cmd, env=env_after(ring_agent, logdir, None), timeout=30)
    assert r.returncode == 0, r
    lines, want = r.stdout.decode().splitlines(), base.stdout.decode().splitlines()
    extra = sorted(x for x in lines if x not in want)
    assert extra == sorted(["map /memfd:ldprof-ring (deleted)", f"map {SHIM}"]), extra
    assert [x for x in lines if x not in extra] == want
    assert "active pid=" in log_of(logdir)


def test_a_fork_child_waits_for_its_own_cpu(ring_agent, logdir):
    # the parent uses little CPU and is never activated; its child burns 600 ms and is, from
    # its own 300 ms on
    code = ("import os, time\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    t = time.process_time()\n"
            "    while time.process_time() - t < 0.6: pass\n"
            "    os._exit(7)\n"
            "print(f'child pid={pid} status', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")
    r = same_as_without([sys.executable, "-c", code], env_after(ring_agent, logdir, "300ms"))
    child = int(re.search(rb"pid=(\d+)", r.stdout)[1])
    assert b"status 7" in r.stdout
    log = log_of(logdir)
    assert re.findall(r"active pid=(\d+)", log) == [str(child)], log
    st = Stacks(wait_for_profiles(ring_agent.out, child))
    want = (0.6 - 0.3) * HZ
    assert 0.8 * want <= st.total() <= 1.1 * want + 4, st.dump()


@pytest.mark.parametrize("burn_us", [600, 1500, 3000])
def test_exec_racing_the_activation(ring_agent, logdir, burn_us):
    # each image activates 500 us of CPU in and execs after burn_us: a SIGPROF pending across
    # exec would kill the next image ("Profiling timer expired", exit 155)
    r = run([prog("execloop"), "40", str(burn_us)], env=env_after(ring_agent, logdir, "500us"), timeout=120)
    assert (r.returncode, r.stdout) == (0, b"execloop: done N=40\n"), r.stderr


def test_fork_racing_the_activation(ring_agent, logdir):
    r = same_as_without([sys.executable, "-c", FORK_RACE], env_after(ring_agent, logdir, "1us"), timeout=120)
    assert r.stdout == b"bad 0\n"


def test_the_programs_own_sigprof_while_pending(ring_agent, logdir):
    # every thread of the program blocks SIGPROF and takes it with sigtimedwait, from its own
    # ITIMER_PROF: each one reaches it, our handler installed or not
    code = ("import signal, threading, time\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})\n"
            "def burn():\n"
            "    t = time.process_time()\n"
            "    while time.process_time() - t < 3: pass\n"
            "threading.Thread(target=burn, daemon=True).start()\n"
            "signal.setitimer(signal.ITIMER_PROF, 0.002, 0.002)\n"
            "n = 0\n"
            "for i in range(100):\n"
            "    if signal.sigtimedwait({signal.SIGPROF}, 5) is not None: n += 1\n"
            "    if i % 10 == 0: print(i, flush=True)\n"
            "print('got', n)\n")
    r = same_as_without([sys.executable, "-c", code], env_after(ring_agent, logdir, "1h"), timeout=120)
    assert b"got 100" in r.stdout


def test_sigprof_looks_untouched_while_pending(ring_agent, logdir):
    # the program asks what SIGPROF does (the default, as far as it can tell), then sends
    # itself one: it dies of it, as without ldprof
    code = ("import os, signal, sys\n"
            "print(signal.getsignal(signal.SIGPROF) == signal.SIG_DFL, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGPROF)\n"
            "print('survived')\n")
    r = same_as_without([sys.executable, "-c", code], env_after(ring_agent, logdir, "1h"))
    assert (r.returncode, r.stdout) == (-signal.SIGPROF, b"True\n"), r


@pytest.mark.parametrize("libc", LIBCS)
def test_a_sigprof_handler_installed_while_pending_keeps_the_sampler_off(libc, ring_agent, logdir):
    # ownprof takes SIGPROF with a handler and ITIMER_PROF of its own at its start: the
    # activation timer goes, the program's profiling works as without ldprof
    cmd = [libc_prog(libc, "ownprof")]
    base = run(cmd, timeout=30)
    r = run(cmd, env=env_after(ring_agent, logdir, None), timeout=30)
    # stderr counts its ticks, which vary by one from run to run: every one its own
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout) == (0, OWNPROF_OK), r
    assert b" foreign=0" in r.stderr, r
    log = log_of(logdir)
    assert "installs its own SIGPROF handler before the activation" in log and "active" not in log, log
    assert "agent:" not in log, log


@pytest.mark.parametrize("mode", ["prctl", "syscall"])
def test_seccomp_filter_while_pending(ring_agent, logdir, mode):
    # the filter goes in before the activation: the timer is deleted first, no call of ours
    # follows the filter
    r = same_as_without([prog("selfseccomp"), "200", mode], env_after(ring_agent, logdir, "5s"))
    assert f"{mode} = 0".encode() in r.stdout
    assert "a seccomp filter before the activation" in log_of(logdir)


@pytest.mark.parametrize("after", ["100ms", None])
def test_include_seccomp_under_a_systemd_kill_filter(ring_agent, logdir, after):
    # include_seccomp = yes under fstrim.service's own filter (any call outside it kills):
    # the calls that set the activation up, and the activation's own in the handler, fit it
    cmd = fstrim_filter([prog("burn"), "300"])
    same_as_without(cmd, env_after(ring_agent, logdir, after, LDPROF_SELECT_INCLUDE_SECCOMP="yes"))
    log = log_of(logdir)
    # seccomp_exec waited too, and gave its timer up before its filter: burn is what activated
    assert len(re.findall(r"active pid=", log)) == 1, log
    if after:
        pid = int(re.search(r"active pid=(\d+)", log)[1])
        assert Stacks(wait_for_profiles(ring_agent.out, pid)).with_func("burn_loop") >= 0.5 * 0.2 * HZ
    # (with 20 ms, a short program under the filter: its activation is what is checked)


@pytest.mark.parametrize("calls", [["rt_sigaction"], ["timer_create"], ["timer_settime"],
                                   ["process_vm_readv"], ["memfd_create"], ["sendmsg"]])
def test_a_filter_refusing_our_calls_changes_nothing(ring_agent, logdir, calls):
    # include_seccomp = yes under a filter answering EPERM to a call the pending activation or
    # the activation makes: the program runs as without us, and nothing spins (the run takes
    # its usual CPU time)
    nr = _syscall_numbers()
    cmd = [prog("seccomp_exec"), "eperm", "deny", ",".join(str(nr[c]) for c in calls), "--",
           prog("burn"), "300"]
    t0 = os.times()
    same_as_without(cmd, env_after(ring_agent, logdir, "50ms", LDPROF_SELECT_INCLUDE_SECCOMP="yes"))
    t1 = os.times()
    assert (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system) < 1.5


@pytest.mark.parametrize("cmd", [["unshare", "-Ur", "id", "-u"], ["unshare", "-U", "true"]])
def test_namespace_tools_while_pending(ring_agent, logdir, cmd):
    same_as_without(cmd, env_after(ring_agent, logdir, None))


def test_a_refused_unshare_keeps_the_activation_pending(ring_agent, logdir):
    # nsmove's own thread makes the kernel refuse unshare (EINVAL, as without ldprof): the
    # process went nowhere, so the activation still comes on time, at 600 ms of CPU
    r = same_as_without([prog("nsmove"), "400", "user-threaded"], env_after(ring_agent, logdir, "600ms"))
    assert b"unshare = EINVAL" in r.stdout
    log = log_of(logdir)
    assert "before the activation" not in log, log
    st = Stacks(wait_for_profiles(ring_agent.out, int(re.search(r"active pid=(\d+)", log)[1])))
    assert st.with_func("burn_before") == 0, st.dump()
    assert st.with_func("burn_after") >= 0.5 * 0.2 * HZ, st.dump()


def test_unshare_while_pending_stays_off_after(ring_agent, logdir):
    r = same_as_without([prog("nsmove"), "300", "user"], env_after(ring_agent, logdir, "400ms"))
    assert b"unshare = 0" in r.stdout
    log = log_of(logdir)
    assert "before the activation" in log and "active" not in log, log


@pytest.mark.parametrize("after", ["5s", "0"])
def test_credential_storm_while_pending(ring_agent, logdir, after):
    # four threads changing credentials at once, then an unshare the kernel refuses to a
    # process with one thread too many: pending (5 s) or sampling from the start (0), there is
    # no thread of ours to stop
    r = same_as_without([prog("solostorm"), "4", "150", "300"], env_after(ring_agent, logdir, after), timeout=120)
    assert b"failed=0" in r.stdout and b"unshare = 0" in r.stdout, r.stdout
    log = log_of(logdir)
    assert ("active pid=" in log) == (after == "0"), log


def test_credentials_dropped_while_pending(ring_agent):
    # the activation registers as the user the process is by then, and the agent takes its ring
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    logdir = ring_agent.base / "nobody"  # pytest's folders are root's alone
    logdir.mkdir(mode=0o1777)
    logdir.chmod(0o1777)
    r = same_as_without(drop + [prog("burn"), "400"], env_after(ring_agent, logdir, "100ms"))
    log = log_of(logdir)
    assert "active pid=" in log, log
    pid = int(re.search(r"active pid=(\d+)", log)[1])
    st = Stacks(wait_for_profiles(ring_agent.out, pid))
    assert st.with_func("burn_loop") >= 0.7 * 0.3 * HZ, st.dump()


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("mode", ["main", "workers"])
def test_the_last_thread_ends_the_process_while_pending_and_after(libc, ring_agent, logdir, mode):
    # pthread_exit() from main, the workers burning 300 ms: the activation comes in a worker
    cmd = [libc_prog(libc, "lastthread"), mode, "300"]
    base = run(cmd, timeout=30)
    r = run(cmd, env=env_after(ring_agent, logdir, None), timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr), r
    assert "active pid=" in log_of(logdir)


@pytest.mark.parametrize("libc", LIBCS)
def test_a_library_dlopened_before_the_activation_is_unwound(libc, ring_agent, logdir):
    # dlfresh dlopens its library (no frame pointers) at once and burns in it: the activation,
    # 20 ms in, finds it in the maps
    r = same_as_without([libc_prog(libc, "dlfresh"), "libfresh.so", "400"], env_after(ring_agent, logdir, None))
    assert r.stdout == b"dlfresh: done\n"
    log = log_of(logdir)
    pid = int(re.search(r"active pid=(\d+)", log)[1])
    st = Stacks(wait_for_profiles(ring_agent.out, pid))
    lib = [(f, c) for f, c, _ in st.items if any(x.startswith("fresh_") for x in f)]
    in_lib = sum(c for _, c in lib)
    assert in_lib >= 0.7 * 0.38 * HZ, st.dump()
    assert sum(c for f, c in lib if "main" in f) >= 0.99 * in_lib, st.dump()


def test_a_dlopen_dlclose_churn_racing_the_activation(ring_agent, logdir):
    # its counts vary from run to run: the exit status and its own check of every call
    r = run([prog("dlchurn"), "1"], env=env_after(ring_agent, logdir, "1ms"), timeout=120)
    assert (r.returncode, r.stdout) == (0, b"dlchurn: done ok=yes\n") and b"failures=0" in r.stderr, r
    assert "active pid=" in log_of(logdir)


@pytest.mark.parametrize("ms", [30, 100])
def test_exec_from_a_dl_iterate_phdr_callback_while_pending(ring_agent, logdir, ms):
    # glibc holds the loader's lock across dl_iterate_phdr callbacks: the activation comes
    # while the callback burns its 30 or 100 ms, and must neither wait for that lock nor leave
    # the exec the callback makes waiting for it
    r = run([prog("phdrexec"), str(ms), "/bin/echo", "ok"], env=env_after(ring_agent, logdir, None), timeout=20)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"ok\n", b"")


def test_no_agent_when_it_activates_leaves_it_off(tmp_path, logdir):
    # the agent's socket names nothing by then: the process runs on, said in the log
    env = env_after(type("A", (), {"sock": str(tmp_path / "none.sock")})(), logdir, None)
    same_as_without([prog("burn"), "200"], env)
    log = log_of(logdir)
    assert "ldprof-agent takes no ring here" in log and "active" not in log, log


def test_ldprof_run_profiles_from_the_start(outdir):
    # `ldprof run` profiles all of CMD, short or not, unless told otherwise
    r = run([str(LDPROF), "run", "-o", str(outdir), "--", prog("burn"), "30"])
    assert r.returncode == 0, r.stderr
    assert profile_files(outdir)
    d2 = outdir / "later"
    r = run([str(LDPROF), "run", "-o", str(d2), "--start-after-cpu", "1s", "--", prog("burn"), "30"])
    assert r.returncode == 0, r.stderr
    assert not profile_files(d2)


@pytest.mark.parametrize("libc", LIBCS)
def test_ldprof_run_with_start_after_cpu_waits_with_no_thread(libc, tmp_path):
    """`ldprof run --start-after-cpu`: the tree waits as installed (our handler and a timer per thread,
    no thread), and an activated process hands its ring to `ldprof run`'s own collector, no
    agent needed: burn's 800 ms of CPU profiled from its 200th, glibc and musl alike; a
    process that never gets there is `waiting` and carries nothing else of ours."""
    out = tmp_path / "out"
    r = run([str(LDPROF), "run", "--hz", "200", "-o", str(out), "--start-after-cpu", "200ms", "--",
             libc_prog(libc, "burn"), "800"], env=clean_env())
    assert r.returncode == 0 and r.stdout.startswith(b"burn: done"), r
    st = Stacks(list(profile_files(out)))
    want = 0.6 * 200
    assert 0.75 * want <= st.total() <= 1.1 * want + 4, st.dump()
    assert st.with_func("main") >= 0.95 * st.total(), st.dump()
    cmd = ["sleep", "30"] if libc == "glibc" else [libc_prog(libc, "burn"), "30000"]
    base = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    p = subprocess.Popen([str(LDPROF), "run", "-o", str(tmp_path / "idle"), "--start-after-cpu", "1h",
                          "--"] + cmd, stdout=subprocess.DEVNULL, env=clean_env())
    try:
        deadline = time.monotonic() + 10
        kids = []
        while not kids and time.monotonic() < deadline:
            time.sleep(0.1)
            kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
        child = int(kids[0])
        time.sleep(0.5)
        assert threads_of(child) == threads_of(base.pid)
        assert sorted(os.listdir(f"/proc/{child}/fd")) == sorted(os.listdir(f"/proc/{base.pid}/fd"))
        assert signal.SIGPROF in sigcgt(child), "no handler of ours while waiting"
        st = run([str(LDPROF), "status", str(child)])
        assert re.search(rb"\n *%d +\S+ +\S+ +waiting +for the CPU time .*no thread" % child, st.stdout), st.stdout
    finally:
        p.terminate()
        base.kill()
        p.wait()
        base.wait()


@pytest.mark.parametrize("libc", LIBCS)
def test_a_raw_clone_thread_activates_while_its_parent_sleeps(libc, tmp_path):
    """rawthread's thread, started with a raw clone() while the activation is pending, burns
    600 ms while main sleeps on a futex: the clone() wrapper gave it an activation timer on
    its own CPU clock, so the activation comes from it at 20 ms, and it is sampled from there."""
    out = tmp_path / "out"
    r = run([str(LDPROF), "run", "--hz", str(HZ), "-o", str(out), "--start-after-cpu", "20ms", "--",
             libc_prog(libc, "rawthread"), "600"], env=clean_env())
    assert (r.returncode, r.stdout) == (0, b"rawthread: done\n"), r
    cpu = int(re.search(rb"raw_cpu_ns=(\d+)", r.stderr).group(1))
    st = Stacks(list(profile_files(out)))
    want = (cpu / 1e9 - 0.02) * HZ
    assert 0.8 * want <= st.with_func("raw_burn") <= 1.1 * want + 4, st.dump()


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("after", ["1h", "20ms"])
def test_threads_ended_while_pending_leave_no_timers(libc, tmp_path, after):
    """3,000 threads one after the other, each ending with pthread_exit() (its activation timer
    is not dropped on the way out): the process holds no more than 33 POSIX timers at its end
    (/proc/self/timers), the timers of ended threads given back; with 20ms the activation
    comes during the churn and the last threads' 40 ms each are sampled."""
    out = tmp_path / "out"
    base = run([libc_prog(libc, "threadchurn"), "3000", "40"], timeout=60)
    assert b" timers=0\n" in base.stderr, base
    r = run([str(LDPROF), "run", "--hz", str(HZ), "-o", str(out), "--start-after-cpu", after, "--",
             libc_prog(libc, "threadchurn"), "3000", "40"], env=clean_env(), timeout=60)
    assert (r.returncode, r.stdout) == (0, b"threadchurn: done\n"), r
    m = re.search(rb"late_cpu_ns=(\d+) timers=(\d+)", r.stderr)
    assert m and int(m.group(2)) <= 33, r.stderr
    if after == "20ms":
        got, want = Stacks(list(profile_files(out))).with_func("late_burn"), int(m.group(1)) * HZ / 1e9
        assert got >= 0.8 * want, f"{got} samples in late_burn, {want:.0f} expected"
    else:
        assert not profile_files(out)


def test_a_rate_faster_than_the_agents_is_refused(ring_agent, logdir):
    """The process's config says 997 Hz, the agent collects at 499: its ring is refused in its
    header, and the sampler stops at the next sample; the program runs on as without it."""
    same_as_without([prog("burn"), "400"], env_after(ring_agent, logdir, None, LDPROF_SAMPLING_HZ="997"))
    log = log_of(logdir)
    assert "refused: it samples faster than the collector" in log, log
    pid = int(re.search(r"active pid=(\d+)", log)[1])
    assert not wait_for_profiles(ring_agent.out, pid, timeout=2)
    assert b"samples faster than 499 Hz" in ring_agent.log.read_bytes()


def test_a_slower_rate_is_weighed_by_its_own_period(ring_agent, logdir):
    """The process's config says 99 Hz: the agent takes the ring and its profile says 99 Hz,
    so the CPU time it shows is the program's."""
    same_as_without([prog("burn"), "800"], env_after(ring_agent, logdir, None, LDPROF_SAMPLING_HZ="99"))
    log = log_of(logdir)
    pid = int(re.search(r"active pid=(\d+) hz=99 ", log)[1])
    files = wait_for_profiles(ring_agent.out, pid)
    st = Stacks(files)
    assert 0.75 * 0.78 * 99 <= st.total() <= 1.1 * 0.78 * 99 + 2, st.dump()
    assert {read_profile(f).period for f in files} == {1000000000 // 99}


def test_a_bad_rate_keeps_it_off(ring_agent, logdir):
    same_as_without([prog("burn"), "100"], env_after(ring_agent, logdir, None, LDPROF_SAMPLING_HZ="fast"))
    log = log_of(logdir)
    assert "staying off: [sampling] hz (or LDPROF_SAMPLING_HZ) is not a rate" in log and "active" not in log, log


def test_an_agent_with_rings_off_refuses_the_ring(tmp_path, logdir):
    """[agent] rings = false in the agent's config, on in the process's: the activation hands
    its ring over, the agent marks it refused, and the sampler stops."""
    world = tmp_path / "world"
    world.mkdir(mode=0o755)
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini="[agent]\nrings = false\n")
    try:
        same_as_without([prog("burn"), "300"], env_after(a, logdir, None))
    finally:
        a.stop()
    log = log_of(logdir)
    assert "refused: the agent collects no rings" in log, log


BURN_THEN_STATIC = """
import subprocess, sys, time
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
sys.exit(subprocess.run([sys.argv[1], "0.6"], stdout=subprocess.DEVNULL).returncode)
"""


@pytest.mark.parametrize("after", ["default", "1h"])
def test_the_rings_hand_over_registers_so_static_children_are_covered(ring_agent, logdir, after):
    """The agent registers a process when it takes its ring (the activation asks nothing): a
    program that has activated then starts a static one, which the agent samples from the
    kernel (`cover = registered`: the child inherits the mark at fork). One that never
    activates registers in the child (Python's vfork child) before its exec of the static
    program, and only then (docs/agent.md)."""
    env = env_after(ring_agent, logdir, None if after == "default" else after)
    before = set(profile_files(ring_agent.out))
    r = run([sys.executable, "-c", BURN_THEN_STATIC, prog("static_fp")], env=env, timeout=60)
    assert r.returncode == 0, r
    log = log_of(logdir)
    if after == "1h":
        assert "active" not in log and log.count("agent: registered before the exec of a static program") == 1, log
    else:
        assert "before the exec" not in log and re.search(r"info: active pid=\d+ ", log), log
    deadline = time.monotonic() + 10
    got = []
    while not got and time.monotonic() < deadline:
        time.sleep(0.2)
        got = [p for p, (c, _, _) in profile_files(ring_agent.out).items() if c == "static_fp" and p not in before]
    assert got, (log_of(logdir), ring_agent.log.read_bytes()[-2000:])
    st = Stacks(got)
    assert st.by_label("source") == {"ebpf": st.total()}, st.by_label("source")
