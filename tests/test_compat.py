# SPDX-License-Identifier: MIT
"""Compatibility: a profiled program's stdout, stderr and exit status are byte-for-byte what
they are without ldprof; Go (cgo, and a PIE with no libc), musl, setuid/setgid/file-capability
programs run exactly as without the shim and are not profiled; Debian's python3 is profiled
with its interpreter frames."""
import os
import re
import shutil
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agentlib import agent, wait_for_comm, world  # noqa: F401  (agent, world: fixtures)
from conftest import (LDPROF, SHIM, SIGPROF, Stacks, clean_env, inspect_running, ldprof_for_all, ldprof_run,
                      maps_text, preload_env, prog, profile_files, profiles_for, read_log, run,
                      same_as_without, sigcgt, status_of, thread_count)

STDIN = bytes(range(256)) * 64 + "naïve ☃\n".encode()

CASES = {
    "echo": (lambda: ["echo", "hello", "world"], b""),
    "cat-stdin": (lambda: ["cat"], STDIN),
    "exit-3": (lambda: ["sh", "-c", "exit 3"], b""),
    "sh-killed-by-sigterm": (lambda: ["sh", "-c", "kill -TERM $$"], b""),
    "stderr-and-stdout": (lambda: ["sh", "-c", "echo out; echo err >&2; echo out2; echo err2 >&2"], b""),
    "bash": (lambda: ["bash", "-c", "echo $((6*7)); for i in 1 2 3; do echo $i; done; exit 5"], b""),
    "output": (lambda: [prog("output")], STDIN),
    "output-exit-3": (lambda: [prog("output"), "exit", "3"], STDIN),
    "output-sigterm": (lambda: [prog("output"), "signal", "15"], b"x"),
    "output-sigkill": (lambda: [prog("output"), "signal", "9"], b""),
    "output-abort": (lambda: [prog("output"), "abort"], b""),
    "python3": (lambda: ["/usr/bin/python3", "-c",
                         "import sys; print(sum(range(10**6))); print('e', file=sys.stderr); sys.exit(4)"], b""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_identical_under_ldprof_run(outdir, case):
    mk, stdin = CASES[case]
    cmd = mk()
    base = run(cmd, input=stdin, timeout=30)
    r = ldprof_run(cmd, outdir=outdir, input=stdin, timeout=30)
    assert r.stdout == base.stdout
    assert r.stderr == base.stderr
    assert r.returncode == status_of(base), f"ldprof run exited {r.returncode}, program {status_of(base)}"


def with_agent(agent, outdir, **knobs):
    """Preloaded by hand from the process's start, as a host-wide install does it, the agent
    collecting the ring (the default path); the shim's log at level info in outdir/log.txt."""
    knobs = {"LDPROF_LOG_FILE": outdir / "log.txt", "LDPROF_LOG_LEVEL": "info", **knobs}
    return preload_env(outdir, LDPROF_AGENT_SOCKET=agent.sock, LDPROF_AGENT_RINGS="true", **knobs)


def no_collector(outdir, sock_dir, **knobs):
    """Preloaded by hand with the defaults and no agent listening on the socket named (in
    sock_dir: short enough for a socket's path)."""
    return preload_env(outdir, LDPROF_AGENT_SOCKET=sock_dir / "no-agent.sock", LDPROF_AGENT_RINGS="true",
                       LDPROF_LOG_FILE=outdir / "log.txt", LDPROF_LOG_LEVEL="info", **knobs)


ACTIVE = re.compile(r"\]: info: active pid=\d+ .*collector=")


@pytest.mark.parametrize("collector", ["agent", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_output_identical_with_preload_by_hand(outdir, tmp_path, request, case, collector):
    # with the agent taking the ring, each process of the command samples from its start; with
    # no collector the shim is there and stays off
    mk, stdin = CASES[case]
    cmd = mk()
    base = run(cmd, input=stdin, timeout=30)
    env = with_agent(request.getfixturevalue("agent"), outdir) if collector == "agent" else \
        no_collector(outdir, tmp_path)
    r = run(cmd, input=stdin, timeout=30, env=env)
    assert (r.stdout, r.stderr, r.returncode) == (base.stdout, base.stderr, base.returncode)
    log = read_log(outdir, outdir / "log.txt")
    if collector == "agent":
        assert ACTIVE.search(log), log
    else:
        assert "staying off: no collector: ldprof-agent none (" in log and not ACTIVE.search(log), log


def test_environment_not_edited(outdir, agent):
    # the program sees exactly the environment it was given (gperftools broke programs by
    # editing environ), invalid UTF-8 included; LD_PRELOAD stays so its children are profiled
    env = with_agent(agent, outdir)
    env[b"ODD_BYTES"] = b"caf\xe9 \xff"
    plain = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    base = run(["env", "-0"], env=plain, timeout=10)
    r = run(["env", "-0"], env=env, timeout=10)
    assert r.returncode == 0
    want = set(base.stdout.split(b"\0")) | {b"LD_PRELOAD=" + env["LD_PRELOAD"].encode()}
    assert set(r.stdout.split(b"\0")) == want
    assert ACTIVE.search(read_log(outdir, outdir / "log.txt"))


def test_privilege_drop_in_profiled_process(outdir, agent):
    # a root process that is profiled drops its privileges: glibc broadcasts
    # setgroups/setresgid/setresuid to every thread and aborts the process (setxid_error) if
    # any thread's call fails (a thread of ours did, once)
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/echo", "dropped"]
    base = run(cmd, timeout=30)
    assert (base.returncode, base.stdout) == (0, b"dropped\n")
    # The exec'd echo runs as nobody and its loader must still be able to open the preload:
    # the checkout may sit in a folder only root can enter (mktemp -d), so use a copy of the
    # shim in a world-readable folder.
    libdir = Path(tempfile.mkdtemp(prefix="ldprof-priv-"))
    try:
        libdir.chmod(0o755)
        shutil.copy2(SHIM, libdir / SHIM.name)
        r = run(cmd, env=with_agent(agent, outdir, shim=libdir / SHIM.name), timeout=30)
    finally:
        shutil.rmtree(libdir)
    assert (status_of(r), r.stdout, r.stderr) == (0, b"dropped\n", b""), \
        f"exit {status_of(r)} (134 = SIGABRT)"
    # and the shim really was sampling in setpriv when it dropped its privileges, and handed its
    # ring over before (as nobody the agent's socket might be out of its reach)
    log = read_log(outdir, outdir / "log.txt")
    assert ACTIVE.search(log), log
    assert int(agent.status()[0]["rings"]) >= 1


# --- namespaces: the kernel refuses these to a multi-threaded process --------------------------

@pytest.fixture
def ns_targets():
    """Two sleepers, one in a mount namespace and one in a user namespace of their own, for
    nsenter to enter."""
    procs = [subprocess.Popen(["unshare", "-m", "sleep", "60"]),
             subprocess.Popen(["unshare", "-U", "sleep", "60"])]
    try:
        for p in procs:
            for _ in range(200):
                if os.readlink(f"/proc/{p.pid}/exe").endswith("sleep"):
                    break
                time.sleep(0.01)
        yield {"mnt": procs[0].pid, "user": procs[1].pid}
    finally:
        for p in procs:
            p.kill()
            p.wait()


NS_TOOLS = {
    "unshare-U": lambda t: ["unshare", "-U", "true"],
    "unshare-Ur": lambda t: ["unshare", "-Ur", "id", "-u"],
    "nsenter-m": lambda t: ["nsenter", "-t", str(t["mnt"]), "-m", "true"],
    "nsenter-U": lambda t: ["nsenter", "-t", str(t["user"]), "-U", "--preserve-credentials", "true"],
}


@pytest.mark.parametrize("tool", sorted(NS_TOOLS))
def test_namespace_tools_run_unchanged(outdir, agent, ns_targets, tool):
    # with a thread of ours alive (the old in-process profiler's), unshare(CLONE_NEWUSER) and
    # setns() into a user or mount namespace failed with EINVAL ("unshare failed: Invalid
    # argument"); the ring sampler has none
    cmd = NS_TOOLS[tool](ns_targets)
    base = run(cmd, timeout=30)
    assert base.returncode == 0, base.stderr
    r = run(cmd, timeout=30, env=with_agent(agent, outdir))
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    text = read_log(outdir, outdir / "log.txt")
    assert ACTIVE.search(text), text
    # the ring went to the agent before the move at the latest (from there its socket may be
    # out of reach)
    assert int(agent.status()[0]["rings"]) >= 1, agent.log.read_bytes()


def _midway(outdir, name, *args):
    """tests/progs/NAME 400 ARGS (nsmove, selfseccomp), which moves or confines itself midway,
    under `ldprof run` at 200 Hz: its output as without ldprof; its stdout, the stacks of its
    profiles and the log."""
    r = same_as_without([prog(name), "400", *map(str, args)], clean_env(LDPROF_LOG_LEVEL="info"), timeout=30,
                        prefix=[LDPROF, "run", "--hz", "200", "-o", outdir, "--"])
    pid = int(re.search(rb"pid=(\d+)", r.stdout)[1])
    return r.stdout, Stacks(profiles_for(outdir, pid=pid)), read_log(outdir)


# The ring sampler goes on across a move to another namespace or root: it has no thread the
# kernel could refuse the call for, writes no file of its own, and its ring, handed over
# before the move at the latest, stays the collector's (80 samples expected per half at 200 Hz).

def test_unshare_user_midway_keeps_sampling(outdir):
    out, st, log = _midway(outdir, "nsmove", "user")
    assert b"unshare = 0" in out
    assert st.with_func("burn_before") >= 40 and st.with_func("burn_after") >= 40, st.dump()
    assert "stepping aside" not in log, log


def test_unshare_user_refused_for_the_programs_threads_keeps_sampling(outdir):
    # the program has a thread of its own: EINVAL, as without ldprof, and the whole run is
    # profiled
    out, st, log = _midway(outdir, "nsmove", "user-threaded")
    assert b"unshare = EINVAL" in out
    assert st.with_func("burn_before") >= 40 and st.with_func("burn_after") >= 40, st.dump()
    assert "stepping aside" not in log, log


def test_chroot_midway_keeps_sampling(outdir, tmp_path):
    # the new root has the output folder too, where the log and profiles would go if anything
    # in the process still wrote them by name
    root = tmp_path / "newroot"
    inside = root / str(outdir).lstrip("/")
    inside.mkdir(parents=True)
    out, st, log = _midway(outdir, "nsmove", "chroot", root)
    assert b"chroot = 0" in out
    assert st.with_func("burn_before") >= 40 and st.with_func("burn_after") >= 40, st.dump()
    assert not list(inside.iterdir()), "written under the new root"


def test_setns_mount_midway_keeps_sampling(outdir, ns_targets):
    out, st, log = _midway(outdir, "nsmove", "setns", f"/proc/{ns_targets['mnt']}/ns/mnt")
    assert b"setns = 0" in out
    assert st.with_func("burn_before") >= 40 and st.with_func("burn_after") >= 40, st.dump()


# --- a seccomp filter the program installs on itself ---------------------------------------------

@pytest.mark.parametrize("mode", ["prctl", "syscall"])
def test_program_installing_a_seccomp_filter_hands_the_profile_over(outdir, mode):
    # the filter kills the process for calls the sampler makes (timers, signal handlers, the
    # ring's hand-over; sshd's and libseccomp users' filters do): before, the program died with
    # SIGSYS. Sampling ends before the filter; what was sampled is the collector's.
    out, st, log = _midway(outdir, "selfseccomp", mode)
    assert f"{mode} = 0".encode() in out
    assert st.with_func("burn_before") >= 40, st.dump()
    assert st.with_func("burn_after") == 0, st.dump()
    assert "stepping aside: a seccomp filter" in log, log


def test_seccomp_probe_without_a_filter_changes_nothing(outdir):
    # libseccomp's probe (a NULL program: EFAULT) installs nothing: sampling goes on
    out, st, log = _midway(outdir, "selfseccomp", "probe")
    assert b"probe = EFAULT" in out
    assert st.with_func("burn_before") >= 40 and st.with_func("burn_after") >= 40, st.dump()
    assert "stepping aside" not in log, log


def test_syscall_function_behaves_as_glibcs(outdir, agent):
    # the first stage exports syscall() (to see seccomp's): results and errno as glibc's
    code = ("import ctypes, os; l = ctypes.CDLL(None, use_errno=True); "
            "print(l.syscall(39) == os.getpid(), l.syscall(2, b'/nonexistent', 0), ctypes.get_errno(), "
            "l.syscall(186) == ctypes.CDLL(None).gettid(), l.syscall(100000), ctypes.get_errno())")
    base = run(["/usr/bin/python3", "-c", code])
    r = run(["/usr/bin/python3", "-c", code], env=with_agent(agent, outdir))
    assert base.stdout == b"True -1 2 True -1 38\n", base.stdout
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    # a fork through syscall(SYS_clone, SIGCHLD): the child returns from the same instructions
    # as glibc's (bubblewrap clones this way)
    fork = ("import ctypes, os\nl = ctypes.CDLL(None, use_errno=True)\n"
            "p = l.syscall(56, 17, 0, 0, 0, 0)\nif p == 0:\n    os._exit(7)\n"
            "_, st = os.waitpid(p, 0)\nprint('child', os.WEXITSTATUS(st))")
    base = run(["/usr/bin/python3", "-c", fork])
    r = run(["/usr/bin/python3", "-c", fork], env=with_agent(agent, outdir))
    assert base.stdout == b"child 7\n", base
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    # both pythons were sampled
    assert len(ACTIVE.findall(read_log(outdir, outdir / "log.txt"))) == 2


def test_no_descriptor_leaks_across_exec(outdir, agent):
    # the shim keeps no descriptor (its log is opened per line, O_CLOEXEC; the ring's and the
    # socket's are closed once it is handed over): a program exec'd by a profiled process (here
    # without the preload) sees exactly the descriptors it would see anyway
    cmd = ["sh", "-c", f"{prog('burn')} 100 >/dev/null; exec env -u LD_PRELOAD ls -1 /proc/self/fd"]
    base = run(cmd, timeout=30)
    r = run(cmd, env=with_agent(agent, outdir, LDPROF_LOG_LEVEL="debug"), timeout=30)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout), r.stderr
    # sh and burn were sampled; burn's samples went to the agent through its ring
    assert len(ACTIVE.findall(read_log(outdir, outdir / "log.txt"))) >= 2
    assert wait_for_comm(agent.out, "burn"), agent.log.read_bytes()


# --- Go ---------------------------------------------------------------------------------------

def readelf(args, path):
    r = run(["readelf"] + args + [path], timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def test_go_nolibc_is_a_dynamic_pie_without_libc():
    p = prog("go_nolibc")
    dyn = readelf(["-d"], p)
    assert "NEEDED" not in dyn, f"go_nolibc needs libraries:\n{dyn}"
    assert "PIE" in dyn
    assert "Requesting program interpreter" in readelf(["-l"], p)


def test_go_cgo_is_dynamically_linked_with_glibc():
    dyn = readelf(["-d"], prog("go_cgo"))
    assert "libc.so.6" in dyn


GO = {"go_cgo": b"go-cgo: c_add=42 sum=21 own_profile=ok\n", "go_nolibc": b"go-nolibc: args=1 sum=42\n"}


@pytest.mark.parametrize("name", sorted(GO))
def test_go_program_runs_unchanged_and_is_not_profiled(outdir, name):
    base = run([prog(name)], timeout=30)
    assert (base.returncode, base.stdout) == (0, GO[name]), base.stderr
    r = ldprof_run([prog(name)], outdir=outdir, hz=997, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, GO[name], base.stderr), r.stderr
    assert not profiles_for(outdir, comm=name), f"ldprof profiled the Go program {name}"


@pytest.mark.parametrize("name", sorted(GO))
def test_go_program_with_preload_by_hand(outdir, agent, name):
    # a collector is there (the agent), and still the Go runtime keeps SIGPROF: no ring
    info, r = inspect_running([prog(name)], env=with_agent(agent, outdir, LDPROF_SAMPLING_HZ=997), delay=0.3)
    assert (r.returncode, r.stdout) == (0, GO[name]), r.stderr
    assert not profiles_for(outdir, comm=name)
    assert "ldprof-ring" not in info["maps"], "the ring sampler ran in a Go process"
    assert not ACTIVE.search(read_log(outdir, outdir / "log.txt"))
    assert int(agent.status()[0]["rings"]) == 0


def test_go_cgo_stepping_aside_is_logged(outdir, agent):
    env = with_agent(agent, outdir)
    r = run([prog("go_cgo")], env=env, timeout=30)
    assert r.returncode == 0
    log = read_log(outdir, outdir / "log.txt")
    lines = [l for l in log.splitlines() if re.search(r"\bgo\b", l, re.I)]
    assert len(lines) == 1, f"expected one log line about Go, log:\n{log}"


# --- musl -------------------------------------------------------------------------------------

def test_musl_program_is_musl():
    dyn = readelf(["-d"], prog("hello_musl"))
    assert "libc.so]" in dyn and "libc.so.6" not in dyn, dyn
    assert "ld-musl" in readelf(["-l"], prog("hello_musl"))


def test_musl_program_runs_unchanged(outdir, tmp_path):
    base = run([prog("hello_musl")], timeout=30)
    assert base.returncode == 0 and base.stdout.startswith(b"hello from musl")
    r = run([prog("hello_musl")], env=no_collector(outdir, tmp_path, LDPROF_SAMPLING_HZ=997), timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, base.stdout, base.stderr)
    # by hand, with no collector to take its samples: off, and the log says why
    assert not profile_files(outdir)
    log = read_log(outdir, outdir / "log.txt")
    assert "staying off: no collector: ldprof-agent none (" in log, log
    # under `ldprof run`: the ring sampler, whose collector writes the program's profile
    r2 = ldprof_run([prog("hello_musl")], outdir=outdir / "run", timeout=30)
    assert (r2.returncode, r2.stdout, r2.stderr) == (0, base.stdout, base.stderr)
    assert [c for c, _, _ in profile_files(outdir / "run").values()] == ["hello_musl"], read_log(outdir / "run")


# --- python3 ----------------------------------------------------------------------------------

PY_SCRIPT = """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
import time
t = time.process_time()
while time.process_time() - t < 1.0:
    fib(20)
print("fib", fib(20))
"""


def test_python3_cpu_bound_script_is_profiled(outdir):
    base = run(["/usr/bin/python3", "-c", PY_SCRIPT], timeout=60)
    r = ldprof_run(["/usr/bin/python3", "-c", PY_SCRIPT], outdir=outdir, hz=500, timeout=60)
    assert (r.returncode, r.stdout) == (base.returncode, base.stdout) == (0, b"fib 6765\n"), r.stderr
    files = [p for p, (c, _, _) in profile_files(outdir).items() if c.startswith("python3")]
    assert files, f"no python3 profile: {[p.name for p in profile_files(outdir)]}"
    st = Stacks(files)
    assert st.total() >= 0.8 * 500, f"{st.total()} samples for ~1 s CPU at 500 Hz"
    assert st.with_func("_PyEval_EvalFrameDefault") >= 0.8 * st.total(), st.dump()


# --- setuid, setgid, file capabilities (AT_SECURE) ----------------------------------------------

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
SECURE_SHIM = LIBDIR / "libldprof-secure-test.so"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def _file_caps_xattr():
    # struct vfs_cap_data, revision 2, effective: CAP_NET_BIND_SERVICE (10) permitted
    return struct.pack("<IIIII", 0x02000000 | 1, 1 << 10, 0, 0, 0)


@pytest.fixture(scope="module")
def secure_setup():
    """Copies of `burn` that run with AT_SECURE when started by an unprivileged user, and the
    shim installed where glibc accepts a preload for secure-execution programs: a name without
    '/', found in a system library folder, with the set-user-ID bit (see ld.so(8))."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-secure-", dir="/tmp"))
    os.chmod(d, 0o755)
    src = prog("burn")
    bins = {"ldprof": ldprof_for_all(d)}  # `ldprof run` for the unprivileged user
    for name, mode in (("burn-plain", 0o755), ("burn-suid", 0o4755), ("burn-sgid", 0o2755),
                       ("burn-fcap", 0o755)):
        p = d / name
        shutil.copy(src, p)
        os.chown(p, 0, 0)
        os.chmod(p, mode)
        bins[name] = p
    os.setxattr(bins["burn-fcap"], "security.capability", _file_caps_xattr())
    assert SHIM.exists(), f"{SHIM} missing"
    shutil.copy(SHIM, SECURE_SHIM)
    os.chmod(SECURE_SHIM, 0o4755)
    yield bins
    SECURE_SHIM.unlink(missing_ok=True)
    shutil.rmtree(d, ignore_errors=True)


def _secure_outdir(outdir):
    os.chmod(outdir, 0o1777)
    for p in outdir.parents:
        if p == Path("/"):
            break
        os.chmod(p, os.stat(p).st_mode | 0o005)
    return outdir


def _inspect_under_run(setup, d, kind):
    """burn's copy kind run for 1 s by nobody under `ldprof run -o d` (the collector, nobody's
    too), with only the copy of the shim glibc accepts for secure execution in its preload (set
    by `env`, after setpriv dropped privileges); burn looked at in /proc after 0.6 s. Returns
    (info, the run)."""
    cmd = NOBODY + [setup["ldprof"], "run", "-o", str(d), "--", "env", f"LD_PRELOAD={SECURE_SHIM.name}",
                    str(setup[kind]), "1000"]
    p = subprocess.Popen(cmd, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        time.sleep(0.6)
        # `ldprof run`'s child, env, has exec'd burn by now
        kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        assert len(kids) == 1, kids
        pid = int(kids[0])
        assert os.readlink(f"/proc/{pid}/exe") == str(setup[kind]), "burn is not running yet"
        info = {"sigcgt": sigcgt(pid), "maps": maps_text(pid), "threads": thread_count(pid)}
        out, err = p.communicate(timeout=30)
    except BaseException:
        p.kill()
        p.wait()
        raise
    return info, subprocess.CompletedProcess(cmd, p.returncode, out, err)


def test_secure_setup_positive_control(outdir, secure_setup):
    # the same preload arrangement in a normal process run by the same user is profiled
    d = _secure_outdir(outdir)
    info, r = _inspect_under_run(secure_setup, d, "burn-plain")
    assert r.returncode == 0, r.stderr
    assert SECURE_SHIM.name in info["maps"], "preload by name from the system folder did not load"
    assert SIGPROF in info["sigcgt"], "shim did not activate in the plain copy (control)"
    assert "ldprof-ring" in info["maps"], "the plain copy did not hand its ring to `ldprof run`"
    # the folder is shared (mode 1777, root's): the user's profiles go to a folder of its own
    assert not profiles_for(d), "a user's profile in the shared folder itself"
    assert profiles_for(d / "65534", comm="burn-plain"), f"control: no profile in {d}/65534"
    st = (d / "65534").stat()
    assert st.st_uid == 65534 and (st.st_mode & 0o777) == 0o700


@pytest.mark.parametrize("kind", ["burn-suid", "burn-sgid", "burn-fcap"])
def test_secure_execution_not_profiled(outdir, secure_setup, kind):
    d = _secure_outdir(outdir)
    base = run(NOBODY + [str(secure_setup[kind]), "300"], timeout=30)
    assert base.returncode == 0, base.stderr
    info, r = _inspect_under_run(secure_setup, d, kind)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rb"burn: done pid=\d+\n", r.stdout) and r.stderr == base.stderr
    assert SECURE_SHIM.name in info["maps"], "the shim was not preloaded: the test proves nothing"
    assert SIGPROF not in info["sigcgt"], f"{kind}: SIGPROF handler installed in an AT_SECURE process"
    assert info["threads"] == 1, f"{kind}: {info['threads']} threads in an AT_SECURE process"
    assert "ldprof-ring" not in info["maps"], f"{kind}: a ring in an AT_SECURE process"
    assert not profiles_for(d, comm=kind) and not profiles_for(d / "65534", comm=kind), f"{kind}: profiled"
