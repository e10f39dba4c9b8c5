# SPDX-License-Identifier: MIT
"""fork and exec: every process gets its own profile; no livelock in fork; every exec entry
point (glibc's execvp & co. bypass a wrapper of execve only) disarms the timers first."""
import re

import pytest

from conftest import (Stacks, ldprof_run, prog, profile_files, profiles_for, read_log, run,
                      stacks_in)

HZ = 500
MS = 400


def pids_of(stdout):
    m = re.search(rb"forkexec: parent=(\d+) child=(\d+|sh)", stdout)
    assert m, stdout
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != b"sh" else None)


def burn_pid(stdout):
    m = re.search(rb"burn: done pid=(\d+)", stdout)
    assert m, stdout
    return int(m.group(1))


def names(d):
    return sorted(p.name for p in profile_files(d))


def test_sh_program_child_exec_chain_each_own_profile(outdir):
    # sh -c -> forkexec (parent_burn) -> fork: child (child_burn) -> exec burn (burn_loop)
    cmd = ["sh", "-c", f"{prog('forkexec')} execve {MS}; echo sh-done"]
    r = ldprof_run(cmd, outdir=outdir, hz=HZ, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(b"sh-done\n")
    parent, child = pids_of(r.stdout)
    assert burn_pid(r.stdout) == child
    expected = MS * HZ / 1000

    p = stacks_in(outdir, pid=parent, comm="forkexec")
    assert p.items, f"no profile for the parent forkexec.{parent}: {names(outdir)}"
    assert p.with_func("parent_burn") >= 0.8 * expected, p.dump()
    assert p.with_func("child_burn") == 0, "child's samples in the parent's profile"

    c = stacks_in(outdir, pid=child, comm="forkexec")
    assert c.items, f"no profile for the forked child forkexec.{child}: {names(outdir)}"
    assert c.with_func("child_burn") >= 0.8 * expected, c.dump()
    assert c.with_func("parent_burn") == 0, "parent's samples in the child's profile"

    b = stacks_in(outdir, pid=child, comm="burn")
    assert b.items, f"no profile for the exec'd burn.{child}: {names(outdir)}"
    assert b.with_func("burn_loop") >= 0.8 * expected, b.dump()
    assert b.with_func("child_burn") == 0, "pre-exec samples in the new image's profile"


@pytest.mark.parametrize("how", ["execv", "execvp", "execvpe", "execl", "execlp", "execle",
                                 "fexecve", "execveat"])
def test_every_exec_entry_point_at_1000hz(outdir, how):
    r = ldprof_run([prog("forkexec"), how, "150"], outdir=outdir, hz=1000, timeout=60)
    assert b"Profiling timer expired" not in r.stderr
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert b"child exited status=0" in r.stdout, r.stdout
    _, child = pids_of(r.stdout)
    # after fexecve/execveat the comm is the fd's name: take any image of that pid but forkexec
    after = [p for p, (c, pid, _) in profile_files(outdir).items() if pid == child and c != "forkexec"]
    assert after, f"no profile for the image exec'd with {how}: {names(outdir)}"
    st = Stacks(after)
    assert st.with_func("burn_loop") >= 0.8 * 150, st.dump()


@pytest.mark.parametrize("how", ["posix_spawn", "vfork", "system"])
def test_spawned_programs_profiled(outdir, how):
    r = ldprof_run([prog("forkexec"), how, "200"], outdir=outdir, hz=1000, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert b"child exited status=0" in r.stdout
    parent, _ = pids_of(r.stdout)
    bpid = burn_pid(r.stdout)
    b = stacks_in(outdir, pid=bpid, comm="burn")
    assert b.with_func("burn_loop") >= 0.8 * 200, f"{how}: {names(outdir)}\n" + b.dump()
    p = stacks_in(outdir, pid=parent, comm="forkexec")
    assert p.with_func("parent_burn") >= 0.8 * 200, p.dump()


def test_fork_child_starts_with_none_of_the_parents_samples(outdir):
    # At the fork, the parent has pre_fork_burn both in its window (drained) and in the
    # sampler's table (not yet): the child drops both without copying them (the table is
    # wiped on fork, the window's entries left behind), and the parent keeps both.
    r = ldprof_run([prog("forkexec"), "burnfork", "500"], outdir=outdir, hz=HZ, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    parent, child = pids_of(r.stdout)
    expected = 500 * HZ / 1000

    c = stacks_in(outdir, pid=child, comm="forkexec")
    assert c.with_func("child_burn") >= 0.8 * expected, c.dump()
    assert c.with_func("pre_fork_burn") == 0, "the parent's samples in the child's profile"
    assert c.with_func("parent_burn") == 0, c.dump()

    p = stacks_in(outdir, pid=parent, comm="forkexec")
    assert p.with_func("pre_fork_burn") >= 0.8 * 3 * expected, p.dump()
    assert p.with_func("parent_burn") >= 0.8 * expected, p.dump()
    assert p.with_func("child_burn") == 0, p.dump()


def test_fork_of_large_busy_process_does_not_livelock(outdir):
    # each fork copies 512 MiB worth of page tables (~10 ms of kernel CPU): with the forking
    # thread's timer at 1 ms it fires in every fork unless SIGPROF is held off around fork
    r = ldprof_run([prog("forkbig"), "512", "20"], outdir=outdir, hz=1000, timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"forkbig: forks=20 ok\n"


def test_children_inherit_settings(outdir):
    # the exec'd program samples at the same rate as its parent
    r = ldprof_run(["sh", "-c", f"{prog('burn')} 300; true"], outdir=outdir, hz=333, timeout=30)
    assert r.returncode == 0
    files = profiles_for(outdir, comm="burn")
    assert files, names(outdir)
    st = Stacks(files)
    assert abs(st.profiles[0].period - 1e9 / 333) < 2
    assert st.with_func("burn_loop") >= 0.8 * 0.3 * 333
