# SPDX-License-Identifier: MIT
"""ldprof-agent as the host's collector ([agent] rings = true; issue 16's first step).

A process the shim samples from its start (start_after_cpu = 0: preloaded by hand here, through
/etc/ld.so.preload on a host) registers with the agent; an agent that collects rings says so in
its answer, and the process then runs the libc-free ring sampler and hands its ring to the agent
on the agent's own socket, as a process under `ldprof run` hands it to run's collector. The agent
drains it, names the frames and ships the profile through its endpoint:

- glibc and musl programs are profiled by the agent, with the same fidelity as under `ldprof
  run`, and carry no thread, descriptor or library of ours; the shim writes nothing itself;
- the agent's eBPF side never samples them too;
- an agent with rings off offers no collector: a process asking as it starts stays off;
- a user past [agent] rings_per_user is not offered the collector, and rings handed over past
  it (or garbage) are refused and counted while another user's process is profiled whole;
- `ldprof status` shows the rings the agent collects;
- an agent killed and started again takes back the rings of the processes still running, also
  with only the capabilities its systemd unit gives it;
- an agent without the capabilities eBPF needs still collects rings.
"""
import re
import subprocess
import time

import pytest

from agentlib import AGENT_SAN, NOBODY, Agent, wait_for_comm, wait_for_profiles, world
from conftest import (LDPROF, PROGS, PYTHON, ROOT, SHIM, Stacks, preload_env, prog, profile_files,
                      profiles_for, read_log, read_profile, run)
from test_security import copy_shim

LIBCS = ["glibc", "musl"]
RINGS_INI = "[agent]\nrings = true\n"
# every agent here is built with ASan and UBSan: the collector runs in it now


def libc_prog(libc, name):
    return prog(name) if libc == "glibc" else str(PROGS / "musl" / name)


def read_profile_total(path):
    return read_profile(path).total()


def preloaded(a, outdir, **knobs):
    """The shim preloaded from the process's start, this agent's socket, [agent] rings on, a log
    at level info."""
    outdir.mkdir(parents=True, exist_ok=True)
    return preload_env(outdir, LDPROF_AGENT_SOCKET=a.sock, LDPROF_AGENT_RINGS="true",
                       LDPROF_LOG_FILE=outdir / "log.txt", LDPROF_LOG_LEVEL="info", **knobs)


@pytest.fixture
def ring_agent(world):
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini=RINGS_INI)
    yield a
    a.stop()


@pytest.mark.parametrize("libc", LIBCS)
def test_the_agent_collects_a_preloaded_programs_ring(libc, ring_agent, tmp_path):
    exe = libc_prog(libc, "hot2")
    base = run([exe, "1000"], timeout=60)
    r = run([exe, "1000"], env=preloaded(ring_agent, tmp_path / "shim"), timeout=60)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r
    log = read_log(tmp_path / "shim", tmp_path / "shim" / "log.txt")
    assert f"collector={ring_agent.sock}" in log, log
    assert "registered rings hz=499" in log, log
    # the shim wrote nothing itself: the agent did
    assert not profile_files(tmp_path / "shim")
    files = wait_for_comm(ring_agent.out, "hot2")
    assert files, ring_agent.log.read_bytes()
    st = Stacks(files)
    a, b = st.with_func("hot_a"), st.with_func("hot_b")
    assert a + b > 0, st.dump()
    share = 100.0 * a / (a + b)
    assert 70.0 <= share <= 80.0, f"{libc}: hot_a {share:.1f}%\n" + st.dump()
    assert st.with_any(["worker", "main"]) >= 0.99 * st.total(), st.dump()
    # once: the agent's eBPF side did not sample it too (5 threads x 1 s at 499 Hz)
    assert st.total() <= 1.10 * 5 * 499, st.total()
    info, _ = ring_agent.status()
    assert int(info["rings"]) >= 1 and int(info["ring_samples"]) == st.total(), info


@pytest.mark.parametrize("libc", LIBCS)
def test_nothing_of_ours_in_a_program_the_agent_collects(libc, ring_agent, tmp_path):
    """Threads, descriptors and libraries as without ldprof: the preloaded object and the ring
    (a memfd) are the only mappings of ours."""
    cmd = [libc_prog(libc, "selfview"), "400"]
    base = run(cmd, timeout=30)
    r = run(cmd, env=preloaded(ring_agent, tmp_path / "shim"), timeout=30)
    assert r.returncode == 0, r
    lines, want = r.stdout.decode().splitlines(), base.stdout.decode().splitlines()
    extra = sorted(x for x in lines if x not in want)
    assert extra == sorted(["map /memfd:ldprof-ring (deleted)", f"map {SHIM}"]), extra
    assert [x for x in lines if x not in extra] == want
    assert wait_for_comm(ring_agent.out, "selfview"), ring_agent.log.read_bytes()


def test_without_rings_the_agent_leaves_the_process_off(world, tmp_path):
    """[agent] rings = false in the agent's config: its answer offers nothing, and a process
    asking as it starts stays off, glibc and musl alike, saying so, registered once (its static
    children are covered)."""
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini="[agent]\nrings = false\n")
    try:
        for libc in LIBCS:
            d = tmp_path / libc
            r = run([libc_prog(libc, "burn"), "300"], env=preloaded(a, d), timeout=30)
            assert r.returncode == 0, r
            log = read_log(d, d / "log.txt")
            assert "registered rings" not in log and "collector=" not in log, log
            assert len([l for l in log.splitlines() if "agent: registered" in l]) == 1, log
            assert "staying off: no collector: ldprof-agent collects no rings" in log, log
            assert not profile_files(d)
    finally:
        a.stop()
    assert not [p for p, (c, _, _) in profile_files(a.out).items() if c == "burn"]


FLOOD = r'''
import fcntl, mmap, os, socket, struct, sys

path = sys.argv[1]
F_ADD_SEALS, F_SEAL_SHRINK, F_SEAL_GROW = 1033, 2, 4
SIZE = 4096 + 64 * 1024

def ring():
    fd = os.memfd_create("flood", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, SIZE)
    m = mmap.mmap(fd, SIZE)
    struct.pack_into("<QIIII", m, 0, 0x31474e4952504c44, 1, 1024, 64, os.getpid())
    for i in range(64):
        struct.pack_into("<Q", m, 4096 + i * 1024, i)
    fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)
    return fd

# each from a process of its own: a ring is one process's (a second from a pid replaces its
# first), so the flood is many processes of one user
kids = []
for i in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        socket.send_fds(s, [b"LDPA1 ring"], [ring()])
        s.close()
        os.read(0, 1)        # live until the parent ends: its ring stays taken
        os._exit(0)
    kids.append(pid)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
socket.send_fds(s, [b"LDPA1 ring"], [os.open("/dev/null", os.O_RDONLY)])  # no ring in it
s.close()
print("flood: sent", flush=True)
sys.stdin.read()
'''


def test_a_users_ring_flood_is_capped_and_costs_others_nothing(world, tmp_path):
    """User nobody hands over 12 rings from 12 processes, and a descriptor that is no ring,
    with rings_per_user = 4: 4 are taken, the rest refused and counted; a registration of
    nobody's is then not offered the collector; root's program is profiled whole meanwhile."""
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini=RINGS_INI + "rings_per_user = 4\n")
    try:
        flood = subprocess.Popen([PYTHON, "-c", FLOOD, a.sock, "12"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 user=NOBODY, group=NOBODY)
        assert flood.stdout.readline() == b"flood: sent\n", flood.stderr.read()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info, _ = a.status()
            if int(info["rings_refused"]) >= 9:
                break
            time.sleep(0.1)
        assert int(info["rings"]) == 4 and int(info["rings_limited"]) == 8, info
        assert int(info["rings_refused"]) == 9, info
        # nobody's next process registers, but is not offered the collector
        reply = a.ask("LDPA1 register", user=NOBODY)
        assert reply.startswith(b"LDPA1 ok registered") and b"rings" not in reply, reply
        # root's is, and is profiled whole
        r = run([prog("burn"), "1000"], env=preloaded(a, tmp_path / "shim"), timeout=60)
        assert r.returncode == 0, r
        files = wait_for_comm(a.out, "burn")
        st = Stacks(files)
        assert 0.9 * 499 <= st.total() <= 1.1 * 499, st.total()
        assert st.with_func("burn_loop") >= 0.95 * st.total(), st.dump()
        out = run([str(LDPROF), "status", "1"], env=a.env()).stdout
        assert b"collecting" in out and b"refused past a limit" in out, out
        flood.stdin.close()
        flood.wait(timeout=30)
    finally:
        log = a.stop()
    assert b"past the limit on rings" in log, log


LATE_BURNER = r'''
import time
time.sleep(1.5)  # registered (and offered the collector) at the start; no sample yet
t = time.process_time()
while time.process_time() - t < 1.0:
    pass
caught = int(next(l for l in open("/proc/self/status") if l.startswith("SigCgt:")).split()[1], 16)
print("sigprof caught", bool(caught >> 26 & 1))
'''


def test_a_ring_refused_past_a_limit_stops_its_sampler(world):
    """nobody's process is offered the collector as it starts, but by its first sample another
    ring of nobody's has taken the one rings_per_user allows: the collector refuses its ring and
    says so in the ring's header, and the process stops sampling there (its SIGPROF back to the
    default, said in its log), instead of sampling on into a ring nobody reads."""
    # at 10 Hz (a sample per 100 ms of CPU) Python's start takes no sample before its sleep
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini=RINGS_INI + "rings_per_user = 1\n[sampling]\nhz = 10\n")
    shim = world / "shim"
    shim.mkdir(mode=0o1777)
    shim.chmod(0o1777)
    try:
        base = run([PYTHON, "-c", LATE_BURNER], timeout=30)
        assert base.stdout == b"sigprof caught False\n", base
        # the build tree may be a folder nobody cannot enter (a clean clone in mktemp -d)
        lib = copy_shim(world / "lib")
        p = subprocess.Popen([PYTHON, "-c", LATE_BURNER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=preloaded(a, shim, shim=lib / SHIM.name), user=NOBODY, group=NOBODY,
                             extra_groups=[])  # root's groups dropped, as a real nobody's
        time.sleep(0.5)
        flood = subprocess.Popen([PYTHON, "-c", FLOOD, a.sock, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, user=NOBODY, group=NOBODY)
        assert flood.stdout.readline() == b"flood: sent\n", flood.stderr.read()
        out, err = p.communicate(timeout=60)
        assert (p.returncode, out, err) == (0, base.stdout, base.stderr)
        info, _ = a.status()
        assert int(info["rings_limited"]) >= 1, info
        flood.stdin.close()
        flood.wait(timeout=30)
    finally:
        log = a.stop()
    said = read_log(shim, shim / "log.txt")
    assert "registered rings hz=10" in said and "refused past its limits" in said, said
    assert b"past the limit on rings" in log, log


def unit_capabilities():
    """setpriv's arguments that leave an agent the capabilities ldprof-agent.service gives it
    (its CapabilityBoundingSet), and no others."""
    unit = (ROOT / "packaging" / "systemd" / "ldprof-agent.service").read_text()
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1).split()
    keep = ",".join(["-all"] + ["+" + c[4:].lower() for c in caps])
    return ["setpriv", f"--bounding-set={keep}", "--inh-caps=-all", "--"]


@pytest.mark.parametrize("caps", ["root", "unit"])
def test_a_restarted_agent_takes_back_the_rings_of_running_processes(world, tmp_path, caps):
    """The agent killed mid-run (no clean-up) and started again: the process it collected goes
    on unharmed, and the new agent opens its ring again (/proc/PID/map_files) and drains it
    from where the old one stopped, so the run loses at most the samples of the gap. "unit":
    with only the capabilities ldprof-agent.service leaves it (map_files wants
    CAP_CHECKPOINT_RESTORE, or CAP_SYS_ADMIN, which the unit does not give)."""
    wrapper = unit_capabilities() if caps == "unit" else ()
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini=RINGS_INI, wrapper=wrapper)
    try:
        p = subprocess.Popen([prog("burn"), "4000"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=preloaded(a, tmp_path / "shim"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and int(a.status()[0]["rings"]) < 1:
            time.sleep(0.05)
        time.sleep(1.0)
        a.proc.kill()
        a.proc.wait()
        before = {f: read_profile_total(f) for f in profiles_for(a.out, pid=p.pid)}
        a.start()
        assert b"1 rings taken back" in a.log.read_bytes(), a.log.read_bytes()
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.startswith(b"burn: done"), (out, err)
        after = wait_for_profiles(a.out, p.pid)
    finally:
        a.stop()
    new = sum(read_profile_total(f) for f in profiles_for(a.out, pid=p.pid) if f not in before)
    # about 2.8 s of CPU after the restart at 499 Hz (the ring holds what the gap took, up to
    # a quarter of a second); the old agent's unshipped window is lost with it
    assert new >= 0.8 * 2.5 * 499, (new, before, after)


def test_an_agent_without_ebpf_still_collects_rings(world, tmp_path):
    """Without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (an agent in an unprivileged container)
    the BPF side cannot load; with [agent] rings the agent starts all the same and collects
    rings only. Its log and `ldprof status` say so, and a request to be sampled from the
    kernel is refused with the reason."""
    drop = ["setpriv", "--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-bpf,-perfmon,-sys_admin", "--"]
    a = Agent(world / "agent", binary=AGENT_SAN, extra_ini=RINGS_INI, wrapper=drop)
    try:
        assert b"collecting rings only (no eBPF)" in a.log.read_bytes(), a.log.read_bytes()
        r = run([prog("hot2"), "600"], env=preloaded(a, tmp_path / "shim"), timeout=60)
        assert (r.returncode, r.stdout) == (0, b"hot2: done threads=5 ratio=3:1\n"), r
        st = Stacks(wait_for_comm(a.out, "hot2"))
        assert 0.9 * 5 * 0.6 * 499 <= st.total() <= 1.1 * 5 * 0.6 * 499, st.total()
        assert st.with_any(["worker", "main"]) >= 0.99 * st.total(), st.dump()
        info, _ = a.status()
        assert info["ebpf"] == "0" and int(info["rings"]) >= 1, info
        out = run([str(LDPROF), "status", "1"], env=a.env()).stdout
        assert b"collecting" in out and b"no eBPF" in out, out
        reply = a.ask("LDPA1 sample sigprof")
        assert reply.startswith(b"LDPA1 no") and b"no eBPF" in reply, reply
    finally:
        a.stop()
