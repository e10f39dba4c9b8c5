# SPDX-License-Identifier: MIT
"""What one local user can make ldprof-agent spend (issue 18, findings 1 and 2): nothing that
delays or refuses another user.

An unprivileged user (nobody) attacks a private agent with tests/progs/agentbomb.c: it maps a
file of millions of symbols (mostly a hole) under several names and asks to be sampled and
registered in turn; it forks thousands of children after a request, whose marks the BPF fork
hook passes on; it starts and ends its own profile in a loop. Meanwhile root's requests are
answered within the shim's 50 ms, the agent's memory stays within its symbol budget, a file is
read once however often it is asked for, and the output gets at most profiles_per_user
profiles of ended processes a minute.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agentlib import AGENT, NOBODY, Agent, world  # noqa: F401  (world is a fixture)
from conftest import BUILD, clean_env, profiles_for

BOMB = BUILD / "tests" / "progs" / "agentbomb"
MIB = 1 << 20


def public(tmp_dir, path):
    """A copy of path that nobody can run (the checkout may be in a folder only root enters)."""
    dst = Path(tmp_dir) / path.name
    shutil.copy(path, dst)
    os.chmod(dst, 0o755)
    return dst


def as_nobody(args, **kw):
    return subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, user=NOBODY, group=NOBODY, extra_groups=[],
                            env=clean_env(), **kw)


def fields(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def vm_hwm(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_line(proc, prefix, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"no '{prefix}' line: {proc.stderr.read()!r}")


def test_a_symbol_bomb_delays_no_one_and_stays_in_budget(world):
    """Finding 1: before, each of these requests held the agent for seconds (a probe's answer
    came 2.8 s late), and the tables of every name stayed in memory as long as the process."""
    agent = Agent(world / "agent", binary=AGENT)
    try:
        bomb_dir = world / "bomb"
        bomb_dir.mkdir()
        os.chown(bomb_dir, NOBODY, NOBODY)
        prog = public(world, BOMB)
        bomb = bomb_dir / "bomb"
        # 4 M functions, 900 MiB of which all but ~130 MiB is a hole: about the parser's own
        # per-file caps, far over the default per-user budget of 256 MiB at its peak
        mk = subprocess.run([str(prog), "make", str(bomb), "4000000", "900"], user=NOBODY,
                            group=NOBODY, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=120)
        assert mk.returncode == 0, mk
        names = [bomb]
        for i in range(3):  # hard links: the same file under other names
            os.link(bomb, bomb_dir / f"link{i}")
            names.append(bomb_dir / f"link{i}")
        copy = bomb_dir / "copy"  # and another file (its own inode) with the same contents
        subprocess.run(["cp", "--sparse=always", str(bomb), str(copy)], check=True)
        os.chown(copy, NOBODY, NOBODY)
        names.append(copy)

        base_hwm = vm_hwm(agent.proc.pid)
        attack = as_nobody([prog, "attack", agent.sock, "12"] + names)
        time.sleep(1)
        probe = subprocess.run([str(prog), "probe", agent.sock, "100", "50"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120, env=clean_env())
        out, err = attack.communicate(timeout=60)
        assert attack.returncode == 0, err
        got = fields(probe.stdout.decode())
        rounds = int(fields(out.decode())["rounds"])
        info, _ = agent.status()
        hwm = vm_hwm(agent.proc.pid)
    finally:
        log = agent.stop()
    print(probe.stdout.decode(), out.decode(), info, f"VmHWM {base_hwm} -> {hwm}")
    # every registration of root's answered, and all but the odd one within the shim's deadline
    # (a shared machine may stall any process now and then; before, 8 in 100 came seconds late)
    assert int(got["answered"]) == 100, got
    assert int(got["late"]) <= 2 and int(got["max_us"]) < 1000000, got
    # the attack itself ran, round after round
    assert rounds >= 10, out
    # two files (the links are one), each read once: over the budget, refused, not retried
    assert int(info["sym_over_budget"]) >= 1, info
    assert int(info["sym_reads"]) <= 12, info  # the bomb, its copy, the attacker's libraries
    # memory: the per-user budget (256 MiB) is the most a read may take, at its peak
    assert hwm - base_hwm <= 256 * MIB + 32 * MIB, (base_hwm, hwm)
    assert b"Sanitizer" not in log


def test_forked_marks_count_against_their_user(world):
    """Finding 2: one request and 1,100 forks used to fill the targets map (1,024 entries), after
    which root's own requests were refused. Marks the fork hook gives a user's processes now
    count against that user (128 targets, 4,096 registrations), and come back at their exit."""
    agent = Agent(world / "agent")
    prog = public(world, BOMB)
    try:
        def flood():
            targets = as_nobody([prog, "forks", agent.sock, "LDPA1 sample sigprof", "1100", "60"])
            regs = as_nobody([prog, "forks", agent.sock, "LDPA1 register", "4300", "60"])
            for p in (targets, regs):
                assert "LDPA1 ok" in wait_line(p, "forks: reply="), p.args
                held = int(fields(wait_line(p, "forks: held="))["held"])
                assert held >= 1000, held
            return targets, regs

        targets, regs = flood()
        info, _ = agent.status()
        # root still gets its answer
        root = subprocess.run([str(prog), "forks", agent.sock, "LDPA1 sample sigprof", "0", "0"],
                              stdout=subprocess.PIPE, timeout=30, env=clean_env())
        assert b"reply=LDPA1 ok" in root.stdout, root.stdout
        assert int(info["map_full"]) == 0, info
        capped = int(info["uid_capped"])
        # 1100 - 128 targets; 1100 + 4300 - 4096 registrations (the sampled process is also
        # registered, so its children inherit both); two forks racing may pass one more each
        assert 972 + 1304 - 8 <= capped <= 972 + 1304, info
        assert int(info["registered"]) <= 4096 + 2 + 8, info
        for p in (targets, regs):
            p.kill()
            p.wait()
        # the children die with their parent (PR_SET_PDEATHSIG): the marks come back
        deadline = time.monotonic() + 30
        while int(agent.status()[0]["registered"]) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert int(agent.status()[0]["registered"]) == 0, agent.status()[0]
        # the same flood again meets the same limits, not lower ones: nothing was kept
        targets, regs = flood()
        again = int(agent.status()[0]["uid_capped"]) - capped
        assert 972 + 1304 - 8 <= again <= 972 + 1304, (capped, again)
        for p in (targets, regs):
            p.kill()
            p.wait()
    finally:
        agent.stop()


def test_ended_profiles_are_capped_per_user(world):
    """A user who starts and ends their own profile in a loop gets profiles_per_user profiles of
    ended processes written a minute; the rest are counted."""
    agent = Agent(world / "agent", extra_ini="[agent]\nprofiles_per_user = 5\n")
    prog = public(world, BOMB)
    try:
        churn = as_nobody([prog, "churn", agent.sock, "4"])
        out, err = churn.communicate(timeout=60)
        assert churn.returncode == 0, err
        got = fields(out.decode())
        time.sleep(1.5)  # a last window may still be being written
        info, _ = agent.status()
        written = profiles_for(agent.out, pid=churn.pid)
    finally:
        agent.stop()
    assert int(got["sampled"]) >= 20, got
    assert int(info["ended_dropped"]) >= 10, info
    # five ended profiles, plus at most one periodic window (flush_interval = 1 s) of a round
    # that happened to span a flush
    assert 1 <= len(written) <= 5 + 4, (len(written), info)


def test_a_user_with_65000_mappings_delays_no_one(world):
    """The agent reads a target's maps on its request thread, at each request. A process of
    65,000 mappings costs a full read of /proc/PID/maps some 30 ms of kernel time: a user who
    asks and registers in a loop kept root's answers at a median of 24 ms (max 47 ms, the
    shim's deadline is 50). The agent now asks the kernel for the executable mappings only
    (PROCMAP_QUERY), at most 2,048 of them: 0.7 ms median here."""
    agent = Agent(world / "agent", binary=AGENT)
    prog = public(world, BOMB)
    try:
        attack = as_nobody([prog, "maps", agent.sock, "8", "65000"])
        time.sleep(1)
        probe = subprocess.run([str(prog), "probe", agent.sock, "100", "30"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120, env=clean_env())
        out, err = attack.communicate(timeout=60)
    finally:
        agent.stop()
    print(probe.stdout.decode(), out.decode())
    assert attack.returncode == 0, err
    assert int(fields(out.decode())["rounds"]) >= 10, out
    got = fields(probe.stdout.decode())
    assert int(got["answered"]) == 100 and int(got["late"]) <= 2, got
    # a bound with room for a busy machine, and still less than half of what it was
    assert int(got["median_us"]) < 10000, got
