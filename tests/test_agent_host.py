# SPDX-License-Identifier: MIT
"""The host agent (`ldprof-agent --config FILE`): registrations over its unix socket, the kernel's
fork/exec/exit hooks, and profiles shipped per process through the shim's delivery code.

Each test starts its own agent on a socket of its own (the BPF programs are per agent, so this
never touches an agent the host may run) with file:// output, or the HTTP test receiver.
Processes reach the agent the way they would on a host: through the shim (`ldprof run`), or,
for the protocol tests, through a small client that speaks for itself (tests/agent_client.py).
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from agentlib import (AGENT, AGENT_SAN, CLIENT, HZ, NOBODY, Agent, agent, client, client_path, own_split, shares,
                      wait_for_comm,
                      wait_for_profiles, world)
from conftest import LDPROF, PYTHON, Stacks, clean_env, prog, profile_files, root_config, run


# ---- the kernel hooks, driven by a client that registers itself -------------------------------

def test_registered_grandchild_static_exec_is_sampled_from_start(agent):
    """A registered process's grandchild execs a static program: sampled by the agent, the
    shares match what the program measured itself, and stacks reach main."""
    r = client(agent.sock, "LDPA1 register", "/bin/sh", "-c",
               f"/bin/sh -c '{prog('static_fp')} 2; true'; echo rc=$?")
    assert r.returncode == 0 and b"rc=0" in r.stdout, r
    assert r.stderr.startswith(b"LDPA1 ok registered rings hz=499\n"), r.stderr  # rings: the default
    files = wait_for_comm(agent.out, "static_fp")
    assert len(files) >= 2, (files, agent.log.read_bytes())  # 1 s windows of a 2 s run
    st = Stacks(files)
    a_ns, b_ns, _ = own_split(r.stdout + r.stderr)
    want_a = 100.0 * a_ns / (a_ns + b_ns)
    got = shares(st, ["hot_a", "hot_b"])
    assert abs(got["hot_a"] - want_a) <= 5, (got, want_a, st.dump())
    assert st.with_func("main") >= 0.95 * st.total(), st.dump()
    assert st.by_label("source") == {"ebpf": st.total()}


def test_unregistered_static_exec_is_not_sampled(agent):
    r = client(agent.sock, "LDPA1 status", prog("static_fp"), "0.5")
    assert r.returncode == 0 and r.stdout.startswith(b"static_fp: done"), r
    time.sleep(0.5)
    assert not profile_files(agent.out), sorted(p.name for p in profile_files(agent.out))


def test_dynamic_exec_of_registered_process_is_not_sampled(agent):
    """A dynamic image has an interpreter: the shim's business, never the agent's."""
    r = client(agent.sock, "LDPA1 register", prog("burn"), "0.5")
    assert r.returncode == 0, r
    time.sleep(0.5)
    assert not profile_files(agent.out), sorted(p.name for p in profile_files(agent.out))


@pytest.fixture
def static_copies(world):
    """static_fp three ways, in a folder nobody can reach: plain, execute-only, setuid root."""
    d = world / "static"
    d.mkdir()
    os.chmod(d, 0o755)
    plain, xonly, suid = d / "plain_fp", d / "xonly_fp", d / "suid_fp"
    for p in (plain, xonly, suid):
        shutil.copy(prog("static_fp"), p)
        os.chown(p, 0, 0)
    os.chmod(plain, 0o755)
    os.chmod(xonly, 0o711)
    os.chmod(suid, 0o4755)
    return plain, xonly, suid


def test_setuid_and_execute_only_static_programs_are_not_sampled(agent, static_copies):
    """As nobody, registered: the readable static copy is sampled (so the check can fail), the
    execute-only one (not dumpable) and the setuid one (secure execution) are not."""
    plain, xonly, suid = static_copies
    for p in (plain, xonly, suid):
        r = client(agent.sock, "LDPA1 register", p, "0.6", user=NOBODY)
        assert r.returncode == 0, (p, r)
        assert r.stderr.startswith(b"LDPA1 ok registered"), (p, r.stderr)
        assert b"static_fp: done" in r.stdout, (p, r)
    time.sleep(1.0)
    comms = {comm for comm, _, _ in profile_files(agent.out).values()}
    assert comms == {"plain_fp"}, (comms, agent.log.read_bytes())


def test_cover_static_covers_unregistered_processes(world):
    a = Agent(world / "agent", cover="static")
    try:
        r = run([prog("static_fp"), "0.6"], env=clean_env())
        assert r.returncode == 0 and r.stdout == b"static_fp: done\n", r
        assert wait_for_profiles(a.out, None), a.log.read_bytes()
        assert {c for c, _, _ in profile_files(a.out).values()} == {"static_fp"}
    finally:
        a.stop()


def test_select_rules_apply_to_static_programs_too(world):
    """[select] decides for the agent's own targets as for the shim: an excluded static program
    is not profiled (not even its first milliseconds), the others are."""
    a = Agent(world / "agent", binary=AGENT_SAN,
              extra_ini="[select]\nexclude_comm = static_fp\nexclude_exe = */nothing-here\n")
    try:
        r = client(a.sock, "LDPA1 register", "/bin/sh", "-c",
                   f"{prog('static_fp')} 0.6; {prog('go_static_hot')} 0.6")
        assert r.returncode == 0 and r.stdout == b"static_fp: done\nhot-go: done\n", r
        assert wait_for_comm(a.out, "go_static_hot"), a.log.read_bytes()
        time.sleep(0.5)
        assert {c for c, _, _ in profile_files(a.out).values()} == {"go_static_hot"}
    finally:
        a.stop()


# ---- who may ask for what ---------------------------------------------------------------------

def test_a_client_cannot_name_another_process(agent):
    victim = subprocess.Popen([prog("static_fp"), "3"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        for msg in (f"LDPA1 sample go {victim.pid}", f"LDPA1 register {victim.pid}",
                    f"LDPA1 sample {victim.pid}"):
            assert agent.ask(msg) == b"LDPA1 no bad request", msg
        _, covered = agent.status()
        assert victim.pid not in covered, covered
    finally:
        victim.kill()
        victim.wait()
    assert b"garbage request refused" in agent.log.read_bytes()


def test_a_socket_handed_on_cannot_speak_for_its_dead_creator(agent):
    """The creator connects, forks, and exits; the child sends on the creator's connection.
    The peer credentials name the dead creator: refused, nothing covered, no reply."""
    r = run([PYTHON, str(CLIENT), "--handoff", agent.sock, "LDPA1 sample sigprof"],
            env=clean_env())
    assert r.returncode == 0, r
    assert r.stdout == b"handoff reply: b''\n", r.stdout
    info, covered = agent.status()
    assert covered == {}, covered


@pytest.mark.parametrize("kernel", ["6.5+", "before 6.5"])
def test_a_reused_pid_is_not_spoken_for(world, kernel):
    """P connects, hands the connection to its child and exits; a victim is made with P's pid;
    the child asks on P's connection. SO_PEERCRED names the pid, now the victim's. With
    SO_PEERPIDFD (Linux 6.5) the pidfd is P's, which has exited; without it (Debian 12's 6.1:
    tests/progs/nopeerpidfd makes the agent's getsockopt fail as there) the agent took the pid
    as it was and covered the victim. Now it takes the process at that pid only if it holds
    the connection. A live client is still answered, on both."""
    wrapper = [prog("nopeerpidfd")] if kernel == "before 6.5" else []
    a = Agent(world / "agent", binary=AGENT_SAN, wrapper=wrapper)
    try:
        p = subprocess.Popen([prog("pidreuse"), a.sock, "LDPA1 sample sigprof", "/bin/sleep", "60"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            victim = int(p.stdout.readline().split()[1])
            reply = p.stdout.readline()
            _, covered = a.status()
        finally:
            p.stdin.close()
            err = p.stderr.read()
            p.wait(timeout=30)
        assert p.returncode == 0, err
        assert reply == b"reply: \n", reply
        assert victim not in covered, covered
        assert a.ask("LDPA1 register").startswith(b"LDPA1 ok"), "a live client is answered"
    finally:
        log = a.stop()
    said = b"this kernel has no SO_PEERPIDFD: a requester is the process at the peer's pid only if it holds"
    assert (said in log) == (kernel == "before 6.5"), log
    assert b"has exited (or does not hold the connection)" in log, log


def test_garbage_is_refused_and_the_agent_lives_on(agent):
    r = run([PYTHON, str(CLIENT), "--garbage", agent.sock], env=clean_env(), timeout=60)
    assert r.returncode == 0, r
    assert r.stdout.count(b"LDPA1 no bad request") >= 3, r.stdout
    assert agent.proc.poll() is None, agent.log.read_bytes()
    info, _ = agent.status()
    assert int(info["agent"]) == agent.proc.pid
    assert b"garbage request refused" in agent.log.read_bytes()


def test_a_flood_of_registrations_is_capped(agent):
    """One user forks 800 processes that each register at once: past the burst the agent
    refuses (rate limit) and says so; it keeps answering."""
    r = subprocess.run([PYTHON, str(client_path(NOBODY)), "--flood", "800", agent.sock, "LDPA1 register"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       user=NOBODY, group=NOBODY, env=clean_env())
    assert r.returncode == 0, r
    counts = dict(l.split(b"=") for l in r.stdout.split())
    ok, limited = int(counts[b"ok"]), int(counts[b"rate_limit"])
    assert ok + limited == 800, counts
    assert 150 <= ok < 800 and limited > 0, counts
    assert agent.proc.poll() is None
    assert b"too many requests" in agent.log.read_bytes()


def test_sampling_requests_are_capped_per_user(agent):
    r = subprocess.run([PYTHON, str(client_path(NOBODY)), "--hold", "80", agent.sock, "LDPA1 sample sigprof"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       user=NOBODY, group=NOBODY, env=clean_env())
    assert r.returncode == 0, r
    counts = dict(l.split(b"=") for l in r.stdout.split())
    assert int(counts[b"ok"]) == 64, counts
    assert int(counts[b"cap"]) == 16, counts


# ---- ldprof status ------------------------------------------------------------------------------

def test_status_shows_the_agent_and_what_it_covers(agent):
    target = subprocess.Popen([PYTHON, str(CLIENT), agent.sock, "LDPA1 register",
                               prog("static_fp"), "3"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        deadline = time.monotonic() + 10
        while target.pid not in agent.status()[1] and time.monotonic() < deadline:
            time.sleep(0.1)
        r = run([str(LDPROF), "status", "1"], env=agent.env())
        out = r.stdout.decode()
        assert f"agent    {agent.sock}: up (pid {agent.proc.pid}, {HZ} Hz, cover registered): covering 1," in out, out
        assert f"covering {target.pid} (static_fp, uid 0, static exec)" in out, out
    finally:
        target.kill()
        target.wait()
    agent.stop()
    out = run([str(LDPROF), "status", "1"], env=agent.env()).stdout.decode()
    assert f"agent    {agent.sock}: not running (no such socket); [agent] rings: no process is profiled until it runs" in out, out
    out = run([str(LDPROF), "status", "1"], env=root_config(clean_env(LDPROF_AGENT_SOCKET=""))).stdout.decode()
    assert "agent    off: [agent] socket is empty" in out, out


def test_refuses_to_run_outside_the_host_pid_namespace(world):
    """BPF sees host pids, the socket and /proc the agent's own: in a PID namespace of its own
    they would name different processes. It says so and stops before loading anything."""
    ini = world / "agent.ini"
    ini.write_text(f"[agent]\nsocket = {world}/agent.sock\n")
    r = run(["unshare", "--pid", "--fork", "--mount-proc", str(AGENT), "--config", str(ini)],
            env=clean_env())
    assert r.returncode == 1, r
    assert r.stderr == (b"ldprof-agent: not in the host's PID namespace: run it in the host's "
                        b"PID namespace (docker run --pid=host, hostPID: true)\n"), r.stderr
    assert not (world / "agent.sock").exists()
