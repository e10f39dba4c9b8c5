# SPDX-License-Identifier: MIT
"""Choosing processes: the [select] rules of the config file and LDPROF_SELECT_*, decided by
the first stage before anything of ours starts (shim/select.c), and the first stage's other
refusals (ldprof's own tools, the host's init, an unsafe config file when running as root).

Each case runs a real program with the shim preloaded and looks at what really happened:
profiles written or not, the first stage's log line, and that the program's output is its own.
The rules are the first stage's whatever samples: the cases run under `ldprof run` (the ring
sampler, its collector), or preloaded by hand as installed (ldprof-agent collecting).
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agentlib import HZ, agent, wait_for_comm, world  # noqa: F401  (agent, world: fixtures)
from conftest import (LDPROF, SHIM, Stacks, as_host_init, clean_env, ldprof_for_all, ldprof_run, preload_env,
                      prog, profiles_for, read_log, run, same_as_without, shared_folder, status_of)


def run_burn(outdir, ms=300, exe=None, **knobs):
    """burn under `ldprof run -o outdir` (its log: outdir/ldprof.log), the knobs in its
    environment: the rules are the first stage's, whatever path samples."""
    p = ldprof_run([exe or prog("burn"), str(ms)], outdir=outdir, env=clean_env(LDPROF_LOG_LEVEL="info", **knobs))
    assert p.returncode == 0, p.stderr
    return p


def profiled(outdir):
    return bool(list(Path(outdir).glob("*.pb.gz")))


@pytest.mark.parametrize("knobs,expect", [
    ({}, True),
    ({"LDPROF_SELECT_EXCLUDE_COMM": "burn"}, False),
    ({"LDPROF_SELECT_EXCLUDE_COMM": "bu?n,other"}, False),
    ({"LDPROF_SELECT_EXCLUDE_EXE": "*/progs/*"}, False),
    ({"LDPROF_SELECT_INCLUDE_EXE": "/usr/*"}, False),                 # include rules, none matches
    ({"LDPROF_SELECT_INCLUDE_EXE": "/usr/*,*/burn"}, True),
    ({"LDPROF_SELECT_INCLUDE_COMM": "burn", "LDPROF_SELECT_EXCLUDE_USER": "0"}, False),  # exclude wins
    ({"LDPROF_SELECT_INCLUDE_USER": "root"}, True),                  # by name, through /etc/passwd
    ({"LDPROF_SELECT_INCLUDE_USER": "nobody,1234"}, False),
    ({"LDPROF_SELECT_EXCLUDE_CGROUP": "*"}, False),
    ({"LDPROF_SELECT_INCLUDE_CGROUP": "/no/such/cgroup*"}, False),
])
def test_env_rules(outdir, knobs, expect):
    run_burn(outdir, **knobs)
    assert profiled(outdir) == expect, read_log(outdir)
    if not expect:
        assert "staying off, excluded by" in read_log(outdir)


def test_config_rules_and_env_beats_file(tmp_path):
    cfg = tmp_path / "ldprof.ini"
    cfg.write_text("[select]\nexclude_comm = burn ; not this one\n")
    out = tmp_path / "a"
    out.mkdir()
    run_burn(out, LDPROF_CONFIG=cfg)
    assert not profiled(out)
    assert "excluded by: exclude_comm=burn" in read_log(out)
    # the environment overrides the file's key
    out = tmp_path / "b"
    out.mkdir()
    run_burn(out, LDPROF_CONFIG=cfg, LDPROF_SELECT_EXCLUDE_COMM="nothing")
    assert profiled(out), read_log(out)


def test_children_decide_for_themselves(outdir):
    """The rule is applied per process at exec: a shell excluded, the program it runs not."""
    p = ldprof_run(["/bin/sh", "-c", f"{prog('burn')} 300; echo done"], outdir=outdir,
                   env=clean_env(LDPROF_SELECT_EXCLUDE_COMM="sh,dash", LDPROF_LOG_LEVEL="info"))
    assert p.returncode == 0 and p.stdout.endswith(b"\ndone\n")
    assert profiles_for(outdir, comm="burn")
    assert not profiles_for(outdir, comm="sh") and not profiles_for(outdir, comm="dash")
    assert "staying off, excluded by: exclude_comm=sh" in read_log(outdir), read_log(outdir)


def test_ldprof_itself_is_never_profiled(outdir, tmp_path):
    """Host-wide, the ldprof command gets the preload too: it stays off. Here a shell under
    `ldprof run` (on) execs `ldprof status` of itself, which reads its own decision."""
    p = ldprof_run(["/bin/sh", "-c", f'exec {LDPROF} status $$'], outdir=outdir, env=clean_env())
    assert p.returncode in (0, 1), p
    line = [x.split() for x in p.stdout.decode().splitlines() if x.split()[2:3] == ["ldprof"]]
    assert len(line) == 1 and line[0][3:] == ["excluded", "ldprof's", "own", "tool"], p.stdout
    assert not profiles_for(outdir, comm="ldprof")


def test_a_containers_pid1_is_profiled(outdir):
    """PID 1 of a PID namespace of its own (a container's, often the application itself) is
    any process: its ring reaches `ldprof run`'s collector from another PID namespace."""
    p = ldprof_run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                    f'test $$ = 1 || exit 3; exec {prog("burn")} 300'], outdir=outdir, env=clean_env())
    assert p.returncode == 0, p.stderr
    assert profiles_for(outdir, comm="burn"), read_log(outdir)
    assert "host's init" not in read_log(outdir)


def test_the_hosts_init_is_never_sampled(outdir, tmp_path):
    """PID 1 of the first PID namespace (the host's init) stays off, and says so: a fault of
    ours there would be a kernel panic. (A PID 1 whose /proc says it is the host's: conftest.)"""
    env = preload_env(outdir, LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"), LDPROF_AGENT_SOCKET="",
                      LDPROF_AGENT_RINGS="true")
    argv, env = as_host_init(f'test $$ = 1 || exit 3; exec {prog("burn")} 300', env, tmp_path)
    p = run(argv, env=env)
    assert p.returncode == 0, p.stderr
    log = read_log(outdir)
    # the shell, then burn exec'd in its place
    assert log.count("staying off: the host's init (PID 1) is never sampled") == 2, log
    assert not list(Path(outdir).glob("*.pb.gz")), log
    assert os.stat(tmp_path / "init-ns").st_ino != 0xEFFFFFFC  # the bind went with its namespace


def test_root_ignores_a_config_file_others_can_write(tmp_path):
    """As root, a config file (or its folder) someone else can write is not used: `ldprof run`
    runs CMD without profiling, says so on its stderr, and writes nothing where that file
    says (its log included: a user could otherwise make root append to any file)."""
    assert os.geteuid() == 0, "the suite runs as root (make check)"
    out = tmp_path / "out"
    out.mkdir()
    cfg = tmp_path / "ldprof.ini"
    cfg.write_text(f"[sampling]\nhz = 99\n[output]\nendpoint = file://{out}\n[log]\nfile = {out}/ldprof.log\n"
                   "level = info\n")
    os.chmod(cfg, 0o666)
    ref = run([prog("output"), "exit", "4"], input=b"x")
    env = clean_env(LDPROF_CONFIG=cfg)
    p = run([str(LDPROF), "run", "--", prog("output"), "exit", "4"], env=env, input=b"x")
    assert (p.returncode, p.stdout) == (ref.returncode, ref.stdout)
    assert p.stderr.endswith(ref.stderr) and b"can be written by someone else than root" in p.stderr, p
    p = run([str(LDPROF), "run", "--", prog("burn"), "300"], env=env)
    assert p.returncode == 0 and not profiled(out)
    assert not (out / "ldprof.log").exists()
    # its folder writable by others: the same
    os.chmod(cfg, 0o644)
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o777)
    shutil.copy(cfg, d / "ldprof.ini")
    env["LDPROF_CONFIG"] = str(d / "ldprof.ini")
    p = run([str(LDPROF), "run", "--", prog("burn"), "300"], env=env)
    assert p.returncode == 0 and b"someone else than root" in p.stderr and not profiled(out)
    assert not (out / "ldprof.log").exists()
    # root's own file in root's own folder: profiled
    env["LDPROF_CONFIG"] = str(cfg)
    p = run([str(LDPROF), "run", "--", prog("burn"), "300"], env=env)
    assert p.returncode == 0 and p.stderr == b"", p
    assert profiled(out), read_log(out)


def test_a_non_root_user_may_use_its_own_config():
    """The ownership rule is for root: a user's process reads the user's file (here a user's
    `ldprof run`, whose collector writes as that user)."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-user-"))  # pytest's own folders are root's alone
    os.chmod(d, 0o755)
    cli = ldprof_for_all(d, ["burn"])
    (d / "ldprof.ini").write_text(f"[sampling]\nhz = 99\n[output]\nendpoint = file://{d}/out\n"
                                  f"[log]\nfile = {d}/out/ldprof.log\nlevel = info\n")
    (d / "out").mkdir()
    for p in (d / "ldprof.ini", d / "out"):
        os.chown(p, 65534, 65534)
    os.chmod(d / "ldprof.ini", 0o666)  # anyone may write it: no matter, it is not root's
    try:
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cli, "run",
                            "--config", str(d / "ldprof.ini"), "--", str(d / "bin" / "burn"), "300"],
                           env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert (p.returncode, p.stderr) == (0, b""), p
        assert profiled(d / "out"), read_log(d / "out")
        assert all(f.stat().st_uid == 65534 for f in (d / "out").glob("*.pb.gz"))
    finally:
        shutil.rmtree(d)


# ------------------------------------------------------------------------------ folders per user

def shared_base():
    """A folder like /var/lib/ldprof/profiles as packaged: root's, mode 1733."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-shared-"))
    os.chmod(d, 0o755)
    return d, shared_folder(d, "profiles")


def test_each_user_writes_into_a_folder_of_its_own():
    """A config naming a shared folder as packaged: each user's `ldprof run` writes into
    base/<uid> (0700, the user's; files 0600), never into the shared folder itself."""
    d, base = shared_base()
    try:
        cli = ldprof_for_all(d, ["burn"])
        cfg = d / "ldprof.ini"
        cfg.write_text(f"[output]\nendpoint = file://{base}\n[log]\nfile = {d}/ldprof.log\nlevel = info\n")
        (d / "ldprof.log").touch()
        os.chmod(d / "ldprof.log", 0o666)  # the log file is shared by both users here
        for user in ([], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]):
            p = run(user + [cli, "run", "--config", str(cfg), "--", str(d / "bin" / "burn"), "300"],
                    env=clean_env())
            assert (p.returncode, p.stderr) == (0, b""), p
        log = (d / "ldprof.log").read_text()
        for uid in (0, 65534):
            ud = base / str(uid)
            st = ud.stat()
            assert st.st_uid == uid and (st.st_mode & 0o777) == 0o700, (uid, oct(st.st_mode), log)
            files = list(ud.glob("*.pb.gz"))
            assert files, (uid, log)
            assert all(f.stat().st_uid == uid and (f.stat().st_mode & 0o777) == 0o600 for f in files)
        assert not list(base.glob("*.pb.gz")), "nothing is written into the shared folder itself"
    finally:
        shutil.rmtree(d)


def test_root_never_follows_a_planted_symlink():
    """A user who plants base/0 -> /some/where must not make root's processes write there, nor
    turn them off: root's folder is taken back (the link kept aside) and used."""
    d, base = shared_base()
    target = d / "target"
    target.mkdir()
    try:
        os.symlink(target, base / "0")
        os.lchown(base / "0", 65534, 65534)
        cfg = d / "ldprof.ini"
        cfg.write_text(f"[output]\nendpoint = file://{base}\n[log]\nfile = {d}/ldprof.log\nlevel = info\n")
        env = clean_env(LDPROF_CONFIG=cfg)
        ref = run([prog("output"), "exit", "2"], input=b"x")
        p = run([str(LDPROF), "run", "--", prog("output"), "exit", "2"], env=env, input=b"x")
        assert (p.returncode, p.stdout, p.stderr) == (ref.returncode, ref.stdout, ref.stderr)
        run([str(LDPROF), "run", "--", prog("burn"), "300"], env=env)
        assert not list(target.iterdir()), "root wrote through a symlink"
        log = (d / "ldprof.log").read_text()
        assert "was not root's own: moved aside to .squatted-0-uid65534-" in log, log
        assert (base / "0").is_dir() and not (base / "0").is_symlink()
        assert (base / "0").stat().st_uid == 0 and list((base / "0").glob("burn.*.pb.gz")), log
        (aside,) = base.glob(".squatted-0-uid65534-*")
        assert aside.is_symlink(), "the user's link is kept for the admin to look at"
    finally:
        shutil.rmtree(d)


# --- seccomp: a filter may kill the process for a call the profiler makes -----------------------

def _syscall_numbers():
    text = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+) (\d+)", text)}


def fstrim_filter(cmd):
    """cmd under the seccomp filter systemd 252 gives fstrim.service (tests/data): any call
    outside it kills the process, mincore() among them."""
    nr = _syscall_numbers()
    names = [l.strip() for l in (Path(__file__).parent / "data" / "fstrim-syscalls.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    allow = sorted({nr[n] for n in names if n in nr})
    assert len(allow) > 250 and nr["mincore"] not in allow and nr["openat"] in allow
    return [prog("seccomp_exec"), "kill", "allow", ",".join(map(str, allow)), "--", *map(str, cmd)]


def _same_run(cmd, env, outdir):
    """cmd under `ldprof run -o outdir`, as without it."""
    r = same_as_without(cmd, env, prefix=[LDPROF, "run", "-o", outdir, "--"])
    assert status_of(r) == 0, r.stderr
    return r


@pytest.mark.parametrize("how,expect", [
    ("default", False),
    ("env yes", True),
    ("env off", False),
    ("file yes", True),
])
def test_seccomp_filter(outdir, tmp_path, how, expect):
    # Before: the active shim made fstrim.service's filter kill every program with SIGSYS
    # (libunwind probes mincore() at set-up). Now such a process is left alone unless
    # include_seccomp says otherwise, and then the ring sampler's calls (its timers, the
    # ring's memfd, the hand-over to `ldprof run`'s collector, reads of its own memory) fit
    # systemd's @system-service set.
    knobs = {"LDPROF_LOG_LEVEL": "info"}
    if how.startswith("env"):
        knobs["LDPROF_SELECT_INCLUDE_SECCOMP"] = how.split()[1]
    if how == "file yes":
        cfg = tmp_path / "ldprof.ini"
        cfg.write_text("[select]\ninclude_seccomp = Yes\n")
        knobs["LDPROF_CONFIG"] = cfg
    _same_run(fstrim_filter([prog("burn"), 400]), clean_env(**knobs), outdir)
    files = profiles_for(outdir, comm="burn")
    assert bool(files) == expect, read_log(outdir)
    if expect:
        st = Stacks(files)
        assert st.with_func("burn_loop") >= 20, st.dump()
    else:
        assert "staying off: a seccomp filter is on" in read_log(outdir)


@pytest.mark.parametrize("calls,said", [
    (["timer_create"], "staying off, the ring sampler cannot start: cannot create or arm a CPU timer"),
    (["timer_settime"], "staying off, the ring sampler cannot start: cannot create or arm a CPU timer"),
    (["rt_sigaction"], "staying off, the ring sampler cannot start: cannot read the SIGPROF disposition"),
    (["memfd_create"], "stepping aside: no collector took the ring: cannot make the ring (memfd)"),
    (["socket"], "stepping aside: no collector took the ring: not allowed to connect"),
    (["connect"], "stepping aside: no collector took the ring: not allowed to connect"),
    (["sendmsg"], "stepping aside: no collector took the ring"),
    (["process_vm_readv"], None),
    (["madvise"], None),
])
def test_seccomp_refusing_the_samplers_calls_changes_nothing(outdir, calls, said):
    # include_seccomp = yes under a filter that answers EPERM (systemd's SystemCallErrorNumber=,
    # Docker's default profile) to a call the ring sampler makes: the program runs as without
    # us, and the shim in it says why it stopped, or samples (None: a call it can do without)
    nr = _syscall_numbers()
    cmd = [prog("seccomp_exec"), "eperm", "deny", ",".join(str(nr[c]) for c in calls), "--",
           prog("burn"), "300"]
    same_as_without(cmd, clean_env(LDPROF_SELECT_INCLUDE_SECCOMP="yes", LDPROF_LOG_LEVEL="info"),
                    prefix=[LDPROF, "run", "-o", outdir, "--"])
    log = read_log(outdir)
    # seccomp_exec was sampled until it set the filter: burn is what follows its line
    after = log.split("stepping aside: a seccomp filter", 1)[1]
    if said:
        assert said in after and not profiles_for(outdir, comm="burn"), log
    else:
        assert "info: active" in after and profiles_for(outdir, comm="burn"), log


# --- task limits: a thread of ours per process counted against the cgroup's pids.max ----------
#
# The old in-process profiler started a thread in every process it sampled, and stayed off where
# the limit left no room for one. The ring sampler starts none: a process at its limit is sampled,
# and nothing of ours takes a task. Its collector here is the agent, outside the cgroup.

@pytest.fixture
def pids_cgroup(tmp_path):
    """run(limit, cmd, env): runs cmd in a cgroup of its own whose pids.max is limit (cgroup v1's
    pids hierarchy, or v2's with the pids controller), as systemd's TasksMax= and
    `docker --pids-limit` do; the cgroup is removed after."""
    if Path("/sys/fs/cgroup/pids/cgroup.procs").exists():
        base = Path("/sys/fs/cgroup/pids")
    elif "pids" in Path("/sys/fs/cgroup/cgroup.subtree_control").read_text().split():
        base = Path("/sys/fs/cgroup")
    else:
        pytest.fail("no pids cgroup controller on this machine to test task limits with")
    made = []

    def run_in(limit, cmd, env):
        d = base / f"ldprof-test-{os.getpid()}-{len(made)}"
        d.mkdir()
        made.append(d)
        (d / "pids.max").write_text(f"{limit}\n")
        procs = str(d / "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return subprocess.run([str(c) for c in cmd], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                              preexec_fn=enter)
    yield run_in
    for d in made:
        for _ in range(100):
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.05)


def with_agent(agent, outdir, **knobs):
    """Preloaded from the start, the agent taking the ring, a log at level info in outdir."""
    return preload_env(outdir, LDPROF_AGENT_SOCKET=agent.sock, LDPROF_AGENT_RINGS="true",
                       LDPROF_LOG_FILE=Path(outdir) / "ldprof.log", LDPROF_LOG_LEVEL="info", **knobs)


def active_pids(outdir):
    return [int(x) for x in re.findall(r"\]: info: active pid=(\d+) ", read_log(outdir))]


PIPELINE = ["sh", "-c", "sleep 0.2 | sleep 0.2 | cat; echo done"]

FORKER = ["/usr/bin/python3", "-c",
          "import os, time\n"
          "kids = []\n"
          "for i in range(40):\n"
          "    p = os.fork()\n"
          "    if p == 0:\n"
          "        time.sleep(1)\n"
          "        os._exit(0)\n"
          "    kids.append(p)\n"
          "for p in kids:\n"
          "    os.waitpid(p, 0)\n"
          "print('forked', len(kids))\n"]


def test_tight_task_limit_is_profiled_and_takes_no_task(outdir, pids_cgroup, agent):
    # pids.max = 4: sh and its three children, no task to spare. Before, each had a thread of
    # ours and sh failed with "Cannot fork"; then the shim stayed off there. Now each of the
    # four samples, and the pipeline runs as without ldprof.
    base = pids_cgroup(4, PIPELINE, clean_env())
    assert (base.returncode, base.stdout) == (0, b"done\n"), base.stderr
    r = pids_cgroup(4, PIPELINE, with_agent(agent, outdir))
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    assert len(set(active_pids(outdir))) == 4, read_log(outdir)
    assert "task limit" not in read_log(outdir), read_log(outdir)


def test_forking_parent_leaves_its_children_room(outdir, pids_cgroup, agent):
    # pids.max = 41: a sampled parent and the 40 children it forks, which live a while. Before,
    # each child took a thread of ours, and the fork of the 32nd failed (at 64); then a child
    # the limit had no room for stepped aside. Now the children, sampled too, take nothing.
    base = pids_cgroup(41, FORKER, clean_env())
    assert (base.returncode, base.stdout) == (0, b"forked 40\n"), base.stderr
    r = pids_cgroup(41, FORKER, with_agent(agent, outdir))
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    log = read_log(outdir)
    assert len(active_pids(outdir)) == 1, log  # the parent, from its start
    assert "stepping aside" not in log and "task limit" not in log, log


def test_a_process_at_its_task_limit_is_profiled(outdir, pids_cgroup, agent):
    """pids.max = 1: burn alone in its cgroup, profiled whole by the agent."""
    r = pids_cgroup(1, [prog("burn"), 500], with_agent(agent, outdir))
    assert r.returncode == 0, r.stderr
    files = wait_for_comm(agent.out, "burn")
    assert files, (read_log(outdir), agent.log.read_bytes())
    st = Stacks(files)
    assert 0.9 * 0.5 * HZ <= st.total() <= 1.1 * 0.5 * HZ, st.total()
    assert st.with_func("burn_loop") >= 0.95 * st.total(), st.dump()
