# SPDX-License-Identifier: MIT
"""Choosing processes: the [select] rules of the config file and LDPROF_SELECT_*, decided by
the first stage before the core is loaded (shim/select.c), and the first stage's other
refusals (ldprof's own tools, the host's init, an unsafe config file when running as root).

Each case runs a real program with the shim preloaded and looks at what really happened:
profiles written or not, the first stage's log line, and that the program's output is its own.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (LDPROF, SHIM, Stacks, as_host_init, clean_env, preload_env, prog, profiles_for,
                      read_log, run, same_as_without, shared_folder, status_of)


def run_burn(outdir, ms=300, exe=None, **knobs):
    env = preload_env(outdir, LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"), **knobs)
    p = run([exe or prog("burn"), str(ms)], env=env)
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
    env = preload_env(outdir, LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"),
                      LDPROF_SELECT_EXCLUDE_COMM="sh,dash")
    p = run(["/bin/sh", "-c", f"{prog('burn')} 300; echo done"], env=env)
    assert p.returncode == 0 and p.stdout.endswith(b"\ndone\n")
    assert profiles_for(outdir, comm="burn")
    assert not profiles_for(outdir, comm="sh") and not profiles_for(outdir, comm="dash")


def test_ldprof_itself_is_never_profiled(outdir, tmp_path):
    """Host-wide, the ldprof command gets the preload too: it stays off."""
    env = preload_env(outdir, LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"))
    p = run([str(LDPROF), "report", "--top", "3", str(outdir)], env=env)
    assert p.returncode in (0, 1)
    assert not profiles_for(outdir, comm="ldprof")


def test_a_containers_pid1_is_profiled(outdir):
    """PID 1 of a PID namespace of its own (a container's, often the application itself) is
    any process."""
    env = preload_env(outdir, LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"))
    p = run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
             f'test $$ = 1 || exit 3; exec {prog("burn")} 300'], env=env)
    assert p.returncode == 0, p.stderr
    assert profiles_for(outdir, comm="burn"), read_log(outdir)
    assert "host's init" not in read_log(outdir)


def test_the_hosts_init_is_never_sampled(outdir, tmp_path):
    """PID 1 of the first PID namespace (the host's init) stays off, and says so: a fault of
    ours there would be a kernel panic. (A PID 1 whose /proc says it is the host's: conftest.)"""
    env = preload_env(outdir, LDPROF_LOG_FILE=str(Path(outdir) / "ldprof.log"), LDPROF_AGENT_SOCKET="")
    argv, env = as_host_init(f'test $$ = 1 || exit 3; exec {prog("burn")} 300', env, tmp_path)
    p = run(argv, env=env)
    assert p.returncode == 0, p.stderr
    log = read_log(outdir)
    # the shell, then burn exec'd in its place
    assert log.count("staying off: the host's init (PID 1) is never sampled") == 2, log
    assert not list(Path(outdir).glob("*.pb.gz")), log
    assert os.stat(tmp_path / "init-ns").st_ino != 0xEFFFFFFC  # the bind went with its namespace


def test_root_ignores_a_config_file_others_can_write(tmp_path):
    assert os.geteuid() == 0, "the suite runs as root (make check)"
    out = tmp_path / "out"
    out.mkdir()
    cfg = tmp_path / "ldprof.ini"
    cfg.write_text(f"[sampling]\nhz = 99\n[output]\nendpoint = file://{out}\n[log]\nfile = {out}/ldprof.log\n")
    os.chmod(cfg, 0o666)
    ref = run([prog("output"), "exit", "4"], input=b"x")
    # (not preload_env: the config alone names root's places; the line saying why goes to
    # syslog, as the log file is named in the file not trusted: test_syslog.py checks it)
    # (the control, root's own file, is profiled by the core: the old path, rings off)
    env = clean_env(LD_PRELOAD=str(SHIM), LDPROF_SELECT_START_AFTER_CPU="0", LDPROF_CONFIG=cfg,
                    LDPROF_AGENT_RINGS="false")
    p = run([prog("output"), "exit", "4"], env=env, input=b"x")
    assert (p.returncode, p.stdout, p.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    p = run([prog("burn"), "300"], env=env)
    assert not profiled(out)
    assert not read_log(out)
    # its folder writable by others: the same
    os.chmod(cfg, 0o644)
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o777)
    shutil.copy(cfg, d / "ldprof.ini")
    env["LDPROF_CONFIG"] = str(d / "ldprof.ini")
    run([prog("burn"), "300"], env=env)
    assert not profiled(out)
    # root's own file in root's own folder: profiled
    env["LDPROF_CONFIG"] = str(cfg)
    run([prog("burn"), "300"], env=env)
    assert profiled(out), read_log(out)


def test_a_non_root_user_may_use_its_own_config():
    """The ownership rule is for root: a user's process reads the user's file."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-user-"))  # pytest's own folders are root's alone
    os.chmod(d, 0o755)
    (d / "ldprof.ini").write_text("[sampling]\nhz = 99\n")
    (d / "out").mkdir()
    for p in (d, d / "ldprof.ini", d / "out"):
        os.chown(p, 65534, 65534)
    try:
        # setpriv runs as root before it drops to the user: only burn gets the preload
        env = preload_env(d / "out", LDPROF_LOG_FILE=str(d / "out" / "ldprof.log"),
                          LDPROF_CONFIG=str(d / "ldprof.ini"))
        pre = env.pop("LD_PRELOAD")
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                            f"LD_PRELOAD={pre}", prog("burn"), "300"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr
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
    d, base = shared_base()
    try:
        env = preload_env(base, LDPROF_LOG_FILE=str(d / "ldprof.log"))
        os.chmod(d, 0o777)  # the log file is shared by both users here
        run([prog("burn"), "300"], env=env)
        pre = env.pop("LD_PRELOAD")
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                            f"LD_PRELOAD={pre}", prog("burn"), "300"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0
        log = (d / "ldprof.log").read_text() if (d / "ldprof.log").exists() else ""
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
        env = preload_env(base, LDPROF_LOG_FILE=str(d / "ldprof.log"))
        ref = run([prog("output"), "exit", "2"], input=b"x")
        p = run([prog("output"), "exit", "2"], env=env, input=b"x")
        assert (p.returncode, p.stdout, p.stderr) == (ref.returncode, ref.stdout, ref.stderr)
        run([prog("burn"), "300"], env=env)
        assert not list(target.iterdir()), "root wrote through a symlink"
        log = (d / "ldprof.log").read_text()
        assert "was not root's own: moved aside to .squatted-0-uid65534-" in log, log
        assert (base / "0").is_dir() and not (base / "0").is_symlink()
        assert (base / "0").stat().st_uid == 0 and list((base / "0").glob("burn.*.pb.gz")), log
        (aside,) = base.glob(".squatted-0-uid65534-*")
        assert aside.is_symlink(), "the user's link is kept for the admin to look at"
    finally:
        shutil.rmtree(d)


# --- seccomp: a filter may kill the process for a call the core makes ---------------------------

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


def _same_run(cmd, env):
    r = same_as_without(cmd, env)
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
    # include_seccomp says otherwise, and then the core's calls fit systemd's
    # @system-service set.
    knobs = {"LDPROF_LOG_FILE": outdir / "ldprof.log"}
    if how.startswith("env"):
        knobs["LDPROF_SELECT_INCLUDE_SECCOMP"] = how.split()[1]
    if how == "file yes":
        cfg = tmp_path / "ldprof.ini"
        cfg.write_text(f"[output]\nendpoint = file://{outdir}\n[select]\ninclude_seccomp = Yes\n")
        knobs["LDPROF_CONFIG"] = cfg
    _same_run(fstrim_filter([prog("burn"), 400]), preload_env(outdir, **knobs))
    files = profiles_for(outdir, comm="burn")
    assert bool(files) == expect, read_log(outdir)
    if expect:
        st = Stacks(files)
        assert st.with_func("burn_loop") >= 20, st.dump()
    else:
        assert "staying off: a seccomp filter is on" in read_log(outdir)


@pytest.mark.parametrize("calls", [["timer_create"], ["process_vm_readv"], ["clone3", "clone"],
                                   ["socket"], ["mincore", "pipe2"], ["rt_sigaction"], ["rt_sigprocmask"]])
def test_seccomp_refusing_the_cores_calls_changes_nothing(outdir, calls):
    # include_seccomp = yes under a filter that answers EPERM (systemd's SystemCallErrorNumber=,
    # Docker's default profile) to a call only the core makes: the program runs as without us
    nr = _syscall_numbers()
    cmd = [prog("seccomp_exec"), "eperm", "deny", ",".join(str(nr[c]) for c in calls), "--",
           prog("burn"), "300"]
    _same_run(cmd, preload_env(outdir, LDPROF_SELECT_INCLUDE_SECCOMP="yes",
                               LDPROF_LOG_FILE=outdir / "ldprof.log", LDPROF_LOG_LEVEL="info"))
    assert re.search(r"\[\d+\]: info: active", read_log(outdir)), read_log(outdir)


# --- task limits: a thread of ours per process counts against the cgroup's pids.max -----------

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


def test_tight_task_limit_leaves_the_shim_off(outdir, pids_cgroup):
    # pids.max = 4: sh and its three children. Before, each had a thread of ours and sh failed
    # with "Cannot fork".
    base = pids_cgroup(4, PIPELINE, clean_env())
    assert (base.returncode, base.stdout) == (0, b"done\n"), base.stderr
    r = pids_cgroup(4, PIPELINE, preload_env(outdir, LDPROF_LOG_FILE=outdir / "ldprof.log"))
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    assert "staying off: no room for a thread of ours in the task limit of" in read_log(outdir)
    assert not profiled(outdir)


def test_forking_parent_leaves_its_children_room(outdir, pids_cgroup):
    # pids.max = 64 and a profiled parent that forks 40 children which live a while: each
    # child took a thread of ours, and the fork of the 32nd failed. Now a child the limit has
    # no room for steps aside before starting one.
    base = pids_cgroup(64, FORKER, clean_env())
    assert (base.returncode, base.stdout) == (0, b"forked 40\n"), base.stderr
    env = preload_env(outdir, LDPROF_LOG_FILE=outdir / "ldprof.log", LDPROF_LOG_LEVEL="info")
    r = pids_cgroup(64, FORKER, env)
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    log = read_log(outdir)
    assert re.search(r"\[\d+\]: info: active", log), log
    assert "stepping aside: no room for a thread of ours in its cgroup's task limit" in log, log


def test_roomy_task_limit_is_profiled(outdir, pids_cgroup):
    r = pids_cgroup(10000, [prog("burn"), 300], preload_env(outdir, LDPROF_LOG_FILE=outdir / "ldprof.log"))
    assert r.returncode == 0, r.stderr
    assert profiles_for(outdir, comm="burn"), read_log(outdir)
