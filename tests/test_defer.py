"""Deferred activation ([select] start_after_cpu, shim/preload.c) on the old path
([agent] rings = false): once the rules let a process in, the first stage starts only a waiter
thread; the core is loaded once the process has used that much CPU time, so a short process
never loads it. Real programs, real timers. The default path (rings, no thread) is
test_defer_rings.py's; this file goes with the core."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import (LDPROF, Stacks, preload_env, prog, profile_files, profiles_for, read_log,
                      run, same_as_without, sigcgt, stacks_in)
from test_select import _syscall_numbers, fstrim_filter

HZ = 200


def env_after(outdir, after, **knobs):
    """The shim preloaded by hand with start_after_cpu = after (None: the default, 20ms)."""
    knobs.setdefault("LDPROF_AGENT_RINGS", "false")
    env = preload_env(outdir, LDPROF_LOG_FILE=outdir / "log.txt", LDPROF_LOG_LEVEL="info",
                      LDPROF_SAMPLING_HZ=HZ, **knobs)
    if after is None:
        del env["LDPROF_SELECT_START_AFTER_CPU"]
    else:
        env["LDPROF_SELECT_START_AFTER_CPU"] = after
    return env


def threads_of(pid):
    names = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            names.append(open(f"/proc/{pid}/task/{t}/comm").read().strip())
        except OSError:
            pass
    return names


def test_short_programs_never_load_the_core(outdir):
    # the default: a pipeline of short programs runs as without ldprof, loads no core and
    # writes nothing
    same_as_without(["sh", "-c", "ls / | sort | head -3; echo x | cat; exit 3"], env_after(outdir, None))
    r = run(["cat", "/proc/self/maps"], env=env_after(outdir, None))
    assert r.returncode == 0 and b"/libldprof.so" in r.stdout, r
    assert b"libldprof-core" not in r.stdout, "the core was loaded into a short process"
    assert not profile_files(outdir)
    assert "active" not in read_log(outdir, outdir / "log.txt")


def test_a_waiting_process_has_only_the_waiter(outdir):
    p = subprocess.Popen(["sleep", "30"], env=env_after(outdir, None))
    try:
        for _ in range(200):
            if "ldprof-wait" in threads_of(p.pid):
                break
            time.sleep(0.01)
        assert sorted(threads_of(p.pid)) == ["ldprof-wait", "sleep"]
        assert signal.SIGPROF not in sigcgt(p.pid), "a SIGPROF handler before the core started"
        assert "libldprof-core" not in open(f"/proc/{p.pid}/maps").read()
        st = run([str(LDPROF), "status", str(p.pid)])
        assert re.search(rb"\n *%d +\S+ +sleep +waiting " % p.pid, st.stdout), st.stdout
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("after,lost_ms", [("0", 0), ("200ms", 200), ("0.5s", 500)])
def test_busy_process_is_profiled_from_its_start_after_cpu(outdir, after, lost_ms):
    # burn uses 800 ms of CPU: the profile holds what came after start_after_cpu
    same_as_without([prog("burn"), "800"], env_after(outdir, after))
    st = stacks_in(outdir)
    want = (800 - lost_ms) / 1000 * HZ
    assert 0.75 * want <= st.total() <= 1.1 * want + 4, (want, st.dump())
    assert st.with_func("main") >= 0.75 * want, st.dump()


def test_threads_started_before_the_core_are_sampled(outdir):
    # hot2 starts its four workers at once: the core, started 50 ms later, adopts them, and
    # learns where their stacks are from their first samples (read directly from then on)
    r = run([prog("hot2"), "1200"], env=env_after(outdir, "50ms"))
    assert r.returncode == 0, r.stderr
    st = stacks_in(outdir)
    names = st.by_label("thread_name")
    for w in range(4):
        assert names.get(f"hot2-w{w}", 0) >= 0.5 * 1.2 * HZ, names
    # whole stacks, whether read through process_vm_readv or directly: down to the start
    workers = [f for f, _, lab in st.items if (lab.get("thread_name") or "").startswith("hot2-w")]
    assert sum("worker" in f for f in workers) >= 0.9 * len(workers), st.dump()
    log = read_log(outdir, outdir / "log.txt")
    assert re.search(r"adopted=\d+", log), log
    assert re.search(r"[4-9] adopted stacks learnt", log), log


def test_fork_child_counts_its_own_cpu(outdir):
    # the parent uses little CPU and is never profiled; its forked child burns and is, from
    # its own start_after_cpu on (a normal exit: at _exit() no profile is written)
    code = ("import os, time\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    t = time.process_time()\n"
            "    while time.process_time() - t < 0.6: pass\n"
            "    raise SystemExit(7)\n"
            "print(f'child pid={pid} status', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n")
    r = same_as_without([sys.executable, "-c", code], env_after(outdir, "300ms"))
    child = int(re.search(rb"pid=(\d+)", r.stdout)[1])
    assert b"status 7" in r.stdout
    assert {pid for _, pid, _ in profile_files(outdir).values()} == {child}, profile_files(outdir)
    st = Stacks(profiles_for(outdir, pid=child))
    want = (0.6 - 0.3) * HZ
    assert 0.6 * want <= st.total() <= 1.2 * want + 4, st.dump()


@pytest.mark.parametrize("mode", ["prctl", "syscall"])
def test_seccomp_filter_while_waiting(outdir, mode):
    # the filter goes in before the core would start: the waiter is stopped first (a thread
    # of ours making a call outside the filter would get the process killed); no core after
    r = same_as_without([prog("selfseccomp"), "200", mode], env_after(outdir, "5s"))
    assert f"{mode} = 0".encode() in r.stdout
    assert not profile_files(outdir)


@pytest.mark.parametrize("after", ["100ms", None])
def test_waiter_under_a_systemd_kill_filter(outdir, after):
    # include_seccomp = yes under fstrim.service's own filter (any call outside it kills):
    # the waiter's calls, and the core's when it starts, fit it
    cmd = fstrim_filter([prog("burn"), "300"])
    same_as_without(cmd, env_after(outdir, after, LDPROF_SELECT_INCLUDE_SECCOMP="yes"))
    if after:
        assert stacks_in(outdir).with_func("burn_loop") >= 0.5 * 0.2 * HZ
    else:  # 20 ms: a short program under the filter
        assert "active" in read_log(outdir, outdir / "log.txt")


@pytest.mark.parametrize("calls", [["rt_sigtimedwait"], ["timer_create"], ["clone3", "clone"],
                                   ["prctl"], ["rt_sigprocmask"]])
def test_waiter_refused_its_calls_changes_nothing(outdir, calls):
    # include_seccomp = yes under a filter answering EPERM to a call the waiter makes: the
    # program runs as without us, and nothing spins (the run takes its usual CPU time)
    nr = _syscall_numbers()
    cmd = [prog("seccomp_exec"), "eperm", "deny", ",".join(str(nr[c]) for c in calls), "--",
           prog("burn"), "300"]
    t0 = os.times()
    same_as_without(cmd, env_after(outdir, "50ms", LDPROF_SELECT_INCLUDE_SECCOMP="yes"))
    t1 = os.times()
    assert (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system) < 1.5


@pytest.mark.parametrize("cmd", [["unshare", "-Ur", "id", "-u"], ["unshare", "-U", "true"]])
def test_namespace_tools_while_waiting(outdir, cmd):
    # unshare(CLONE_NEWUSER) is refused to a multi-threaded process: the waiter goes first
    base = run(cmd, timeout=30)
    assert base.returncode == 0, base.stderr
    r = run(cmd, timeout=30, env=env_after(outdir, None))
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)


def test_a_refused_unshare_starts_a_new_waiter(outdir):
    # nsmove's own thread makes the kernel refuse unshare (EINVAL, as without ldprof); the
    # waiter stopped for it comes back and the core starts on time, at 600 ms of CPU
    r = same_as_without([prog("nsmove"), "400", "user-threaded"], env_after(outdir, "600ms"))
    assert b"unshare = EINVAL" in r.stdout
    st = stacks_in(outdir)
    assert st.with_func("burn_before") == 0, st.dump()
    assert st.with_func("burn_after") >= 0.5 * 0.2 * HZ, st.dump()


@pytest.mark.parametrize("after", ["5s", "0"])
def test_credential_storm_from_many_threads(outdir, after):
    # four threads changing credentials at once: each call stops our thread (the waiter, or
    # the core's with 0) and starts a new one; one thread too many and the unshare that
    # follows fails with EINVAL
    r = same_as_without([prog("solostorm"), "4", "150", "300"], env_after(outdir, after), timeout=120)
    assert b"failed=0" in r.stdout and b"unshare = 0" in r.stdout, r.stdout
    log = read_log(outdir, outdir / "log.txt")
    if after == "0":  # the core hands over before the move to the new namespace
        assert "moves into another user or mount namespace" in log, log
    else:
        assert "active" not in log and not profile_files(outdir), log


def test_unshare_while_waiting_stays_off_after(outdir):
    r = same_as_without([prog("nsmove"), "300", "user"], env_after(outdir, "400ms"))
    assert b"unshare = 0" in r.stdout
    assert not profile_files(outdir)


def test_credentials_dropped_while_waiting(outdir):
    # glibc repeats setuid on every thread and aborts if one fails; the waiter is stopped
    # around it and starts again, as the user now; the core starts after 100 ms of CPU
    base = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                prog("burn"), "400"])
    assert base.returncode == 0, base.stderr
    outdir.chmod(0o1777)  # shared with nobody, so sticky
    r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", prog("burn"), "400"],
            env=env_after(outdir, "100ms"))
    strip = lambda b: re.sub(rb"pid=\d+", b"pid=", b)
    assert (r.returncode, strip(r.stdout), r.stderr) == (base.returncode, strip(base.stdout), base.stderr)


def test_the_programs_own_sigprof_while_waiting(outdir):
    # every thread of the program blocks SIGPROF and takes it with sigtimedwait, from its own
    # ITIMER_PROF: the waiter, which also waits for a SIGPROF, must not keep one
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
    r = same_as_without([sys.executable, "-c", code], env_after(outdir, "1h"), timeout=120)
    assert b"got 100" in r.stdout


def test_a_sigprof_handler_installed_while_waiting_keeps_the_core_off(outdir):
    # the program takes SIGPROF before the core starts: when it would start, it finds the
    # handler and stays off; the program's own profiling timer works as without ldprof
    code = ("import signal, time\n"
            "n = 0\n"
            "def on_prof(sig, frame):\n"
            "    global n\n"
            "    n += 1\n"
            "signal.signal(signal.SIGPROF, on_prof)\n"
            "signal.setitimer(signal.ITIMER_PROF, 0.005, 0.005)\n"
            "t = time.process_time()\n"
            "while time.process_time() - t < 0.5: pass\n"
            "signal.setitimer(signal.ITIMER_PROF, 0, 0)\n"
            "print('ticks', 'many' if n >= 40 else n)\n")
    r = same_as_without([sys.executable, "-c", code], env_after(outdir, "100ms"))
    assert r.stdout == b"ticks many\n"
    assert not profile_files(outdir)
    assert "the program already has a SIGPROF handler" in read_log(outdir, outdir / "log.txt")


@pytest.mark.parametrize("burn_us", [600, 1500, 3000])
def test_exec_racing_the_cores_start(outdir, burn_us):
    # each image starts the core 500 us of CPU in and execs after burn_us: a SIGPROF pending
    # across exec would kill the next image ("Profiling timer expired", exit 155)
    r = run([prog("execloop"), "40", str(burn_us)], env=env_after(outdir, "500us"), timeout=120)
    assert (r.returncode, r.stdout) == (0, b"execloop: done N=40\n"), r.stderr


@pytest.mark.parametrize("ms", [30, 100])
def test_exec_from_a_dl_iterate_phdr_callback(outdir, ms):
    # glibc holds the loader's write lock across dl_iterate_phdr callbacks, and the waiter's
    # dlopen waits for it; the exec wrapper's first call looked its function up with dlsym,
    # which waited for the dlopen: both hung for good
    r = run([prog("phdrexec"), str(ms), "/bin/echo", "ok"], env=env_after(outdir, None), timeout=20)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"ok\n", b"")


# 300 forks, each after a little more CPU than the last: some race the start (test_defer_rings)
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


def test_fork_racing_the_cores_start(outdir):
    # forks while the core starts in the parent: a child never inherits a core half started
    r = same_as_without([sys.executable, "-c", FORK_RACE], env_after(outdir, "1us"), timeout=120)
    assert r.stdout == b"bad 0\n"


def test_ldprof_run_profiles_from_the_start(outdir):
    # `ldprof run` profiles all of CMD, short or not, unless told otherwise
    r = run([str(LDPROF), "run", "-o", str(outdir), "--", prog("burn"), "30"])
    assert r.returncode == 0, r.stderr
    assert profile_files(outdir)
    d2 = outdir / "later"
    r = run([str(LDPROF), "run", "-o", str(d2), "--start-after-cpu", "1s", "--", prog("burn"), "30"])
    assert r.returncode == 0, r.stderr
    assert not profile_files(d2)
