# SPDX-License-Identifier: MIT
"""The whole host, as a user runs it: the shim in /etc/ld.so.preload, a config in
/etc/ldprof/ldprof.ini, and a corpus of real programs (tests/host/corpus.sh: sh and bash
scripts, coreutils pipelines, python3, perl, make + gcc, git, tar + xz, a multi-threaded
program, Go, a setuid-root and a file-capability program, a 32-bit program and its setuid-root
copy, and `unshare -U`, `nsenter -m`, a chroot and seccomp filters).

Without harming the real host: each pass runs in a private mount namespace where /etc is an
overlay (tests/host/run_in_ns.sh), so the test ld.so.preload and config exist only there; the
real /etc/ld.so.preload is checked to be byte-for-byte what it was (or still absent).

Four passes of the same corpus, one after the other:
  plain   no /etc/ld.so.preload at all: the reference
  shim    our line in /etc/ld.so.preload (the $LIB line `ldprof install` writes from the build
          tree: 32-bit loaders find the stub) and ldprof-agent running on the same config, as
          installed: the host's collector, profiles to file://TMP/shim/profiles; the default
          start_after_cpu (20ms): a process carries our handler and a timer per thread, and activates
          (asks the agent, samples into a ring) only once it has used that much CPU
  eager   the same with start_after_cpu = 0: every program the shim lets in asks the agent and
          samples into a ring from its start
  select  the same as shim plus [select] rules: include_exe = /usr/*,ROOT/build/* and
          exclude_comm = sort,perl
Every item's stdout, stderr and exit status must be the same bytes in every pass. Profiles must
appear for the programs that burn enough CPU to be sampled at 99 Hz, and never for the setuid
and file-capability copies (AT_SECURE); Go programs only from the agent's eBPF sampler (the
shim asks it to), never from a ring; with the rules, never for perl (under /usr, so included,
but excluded by comm: excludes win) nor for a copy of hot2 outside /usr and ROOT/build (not
included), and still for python3, hot2 and cc1. The agent runs under ASan and UBSan and must
stop cleanly after each pass.

Needs root (unshare -m, mount, chown, setcap from Debian's libcap2-bin). Takes ~25 s.
"""
import difflib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agentlib import AGENT_SAN, Agent
from conftest import BUILD, LDPROF, PROFILES_BASE, ROOT, SHIM, Stacks, profile_files, prog, read_profile

HOST = ROOT / "tests" / "host"
REAL_ETC_FILES = ("/etc/ld.so.preload", "/etc/ldprof/ldprof.ini")
NOBODY = 65534
# The line `ldprof install` writes from the build tree: each loader reads $LIB as its own folder.
LIB_LINE = f"{BUILD}/lib/ldprof/$LIB/libldprof.so"
PASS_TIMEOUT = 120  # seconds for one pass of the corpus (~8 s when the machine is free)

# Programs whose work is long enough to be sampled at 99 Hz (0.3-1 s of CPU), by comm.
# coreutils sort is not among them although it sorts for ~0.6 s: it catches SIGPROF (to remove
# its temporary files when killed), and ldprof steps aside in a program that handles SIGPROF.
SAMPLED = ("hot2", "hot2copy", "python3", "perl", "cc1")
# Programs in which the shim must stay off whatever the rules say, by comm (the file's name).
NEVER = ("suidprog", "capprog")
# Go programs: profiled, if at all, by the agent's eBPF sampler only (source=ebpf).
GO = ("go_cgo", "go_nolibc")
SELECT_RULES = f"include_exe = /usr/*,{ROOT}/build/*\nexclude_comm = sort,perl\n"  # ROOT: where the clone is
SELECT_EXCLUDED = ("perl", "sort", "hot2copy")  # excluded by comm (excludes win), not included
SELECT_INCLUDED = ("hot2", "python3", "cc1")


def etc_state():
    out = {}
    for f in REAL_ETC_FILES:
        try:
            out[f] = Path(f).read_bytes()
        except FileNotFoundError:
            out[f] = None
    return out


def build_bin(tmp):
    """TMP/bin: the setuid-root and file-capability copies of tests/host/secure.c, and hot2
    copied outside /usr and ROOT/build (for include_exe)."""
    b = tmp / "bin"
    b.mkdir(mode=0o755)
    r = subprocess.run(["gcc", "-O2", "-o", str(b / "suidprog"), str(HOST / "secure.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build tests/host/secure.c: {r.stderr}"
    shutil.copy2(b / "suidprog", b / "capprog")
    os.chown(b / "suidprog", 0, 0)
    os.chmod(b / "suidprog", 0o4755)
    os.chmod(b / "capprog", 0o755)
    setcap = shutil.which("setcap", path="/usr/sbin:/sbin:/usr/bin:/bin")
    assert setcap, "setcap is missing: Debian package libcap2-bin (the Makefile's DEB_PKGS)"
    r = subprocess.run([setcap, "cap_net_bind_service+ep", str(b / "capprog")], capture_output=True, text=True)
    assert r.returncode == 0, f"setcap failed: {r.stderr}"
    shutil.copy2(prog("hot2"), b / "hot2copy")
    r = subprocess.run(["gcc", "-m32", "-O2", "-o", str(b / "abi32"), str(HOST / "abi32.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build tests/host/abi32.c with -m32 (gcc-multilib): {r.stderr}"
    shutil.copy2(b / "abi32", b / "suid32")
    os.chown(b / "suid32", 0, 0)
    os.chmod(b / "suid32", 0o4755)
    return b


def run_pass(tmp, name, preload, config):
    """One pass of the corpus in its own mount namespace; with the shim, an agent (ASan) on the
    same config collects, stopped after the pass so that it has written every profile. Returns
    a dict with the items' results, the profile folder, the logs and the exact command."""
    d = tmp / name
    scratch, profiles = d / "ns", d / "profiles"
    scratch.mkdir(parents=True)
    profiles.mkdir()
    os.chmod(d, 0o755)
    os.chmod(profiles, 0o1777)  # the copies that run as nobody could write here if not stopped
    pre = cfg = "-"
    agent = None
    if preload:
        pre = d / "ld.so.preload"
        pre.write_text(f"{preload}\n")
    if config is not None:
        cfg = d / "ldprof.ini"
        text = (f"[output]\nendpoint = file://{profiles}\n\n[log]\nfile = {d}/ldprof.log\n"
                f"level = info\n\n[spool]\ndir = {d}/spool\n\n[agent]\nsocket = {d}/agent/agent.sock\n"
                + config)
        cfg.write_text(text)
        if preload:
            agent = Agent(d / "agent", binary=AGENT_SAN, ini_text=text)
    out = d / "out"
    cmd = ["unshare", "-m", "--propagation", "private", "sh", str(HOST / "run_in_ns.sh"),
           str(scratch), str(pre), str(cfg),
           "bash", str(HOST / "corpus.sh"), str(out), str(tmp / "work"), str(tmp / "bin")]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp), "LC_ALL": "C", "TZ": "UTC"}
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=PASS_TIMEOUT, cwd=ROOT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"pass {name}: timed out after {PASS_TIMEOUT}s (hang?): {' '.join(cmd)}\n"
                    f"stderr: {e.stderr!r}")
    finally:
        agent_log = agent.stop().decode(errors="replace") if agent else ""
    took = time.monotonic() - t0
    assert r.returncode == 0, f"pass {name} failed (status {r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()}"
    items = {}
    for it in (out / "items").read_text().split():
        items[it] = {"out": (out / f"{it}.out").read_bytes(), "err": (out / f"{it}.err").read_bytes(),
                     "rc": int((out / f"{it}.rc").read_text()), "ms": int((out / f"{it}.ms").read_text())}
    log = d / "ldprof.log"
    return {"name": name, "items": items, "profiles": profiles, "took": took, "cmd": cmd,
            "log": log.read_text(errors="replace") if log.exists() else "", "agent_log": agent_log}


@pytest.fixture(scope="module")
def host():
    assert os.geteuid() == 0, "the whole-host test needs root (unshare -m, mount, chown, setcap)"
    before = etc_state()
    tmp = Path(tempfile.mkdtemp(prefix="ldprof-host-"))
    os.chmod(tmp, 0o755)  # nobody runs the setuid and capability copies from tmp/bin
    res = {"etc_before": before, "tmp": tmp}
    try:
        build_bin(tmp)
        res["plain"] = run_pass(tmp, "plain", preload=False, config="")
        res["shim"] = run_pass(tmp, "shim", preload=LIB_LINE, config="")
        res["eager"] = run_pass(tmp, "eager", preload=LIB_LINE, config="\n[select]\nstart_after_cpu = 0\n")
        res["select"] = run_pass(tmp, "select", preload=LIB_LINE, config="\n[select]\n" + SELECT_RULES)
        res["etc_after"] = etc_state()
        yield res
    finally:
        # Keep what there is to look at (not the setuid copy) under build/test-profiles/.
        keep = PROFILES_BASE / "test_host"
        shutil.rmtree(keep, ignore_errors=True)
        for name in ("plain", "shim", "eager", "select"):
            for sub in ("out", "profiles"):
                if (tmp / name / sub).is_dir():
                    shutil.copytree(tmp / name / sub, keep / name / sub)
            for f in ("ldprof.log", "ldprof.ini", "ld.so.preload", "agent/agent.log"):
                if (tmp / name / f).exists():
                    (keep / name / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(tmp / name / f, keep / name / f)
        shutil.rmtree(tmp, ignore_errors=True)


def profiles_by_comm(d):
    """{comm: [(path, samples, mapping file names)]} of every profile under d (recursively:
    profiles may go to a folder per user)."""
    out = {}
    for sub in [Path(d)] + [p for p in Path(d).rglob("*") if p.is_dir()]:
        for path, (comm, _, _) in profile_files(sub).items():
            prof = read_profile(path)
            files = {prof.s(m["filename"]) for m in prof.mappings}
            out.setdefault(comm, []).append((path, prof.total(), files))
    return out


def diff_text(a, b, what):
    return "".join(difflib.unified_diff(a.decode(errors="replace").splitlines(True),
                                        b.decode(errors="replace").splitlines(True),
                                        f"{what} without the shim", f"{what} with the shim"))


def compare(ref, other):
    problems = []
    assert list(other["items"]) == list(ref["items"])
    for it, a in ref["items"].items():
        b = other["items"][it]
        kept = PROFILES_BASE / "test_host" / other["name"]
        how = (f"item {it} of tests/host/corpus.sh (repeat it: unshare -m --propagation private sh "
               f"tests/host/run_in_ns.sh $(mktemp -d) {kept}/ld.so.preload {kept}/ldprof.ini "
               f"bash tests/host/corpus.sh OUT WORK BIN {it})")
        if a["rc"] != b["rc"]:
            problems.append(f"{how}: exit status {b['rc']}, without the shim {a['rc']}")
        for s in ("out", "err"):
            if a[s] != b[s]:
                problems.append(f"{how}: std{s} differs:\n{diff_text(a[s], b[s], 'std' + s)}")
    return problems


def test_real_etc_untouched(host):
    assert host["etc_after"] == host["etc_before"]
    assert not Path(f"{host['tmp']}/plain/ns/upper/ld.so.preload").exists()  # pass "plain": none
    assert Path(f"{host['tmp']}/shim/ns/upper/ld.so.preload").read_text() == f"{LIB_LINE}\n"


def test_reference_run_is_what_the_corpus_means(host):
    """The reference pass did what each item is there for: otherwise the comparison proves
    nothing (e.g. a nosuid /tmp would make the setuid copy an ordinary program)."""
    items = host["plain"]["items"]
    for it, r in items.items():
        assert r["rc"] == (3 if it in ("bash_script", "abi32", "abi32_setuid") else 0), f"{it}: {r}"
    assert items["setuid"]["out"].startswith(b"secure: at_secure=1 ruid=65534 euid=0 ")
    assert items["abi32"]["out"] == b"abi32: pointer=4 at_secure=0 ruid=0 euid=0\n"
    assert items["abi32_setuid"]["out"] == b"abi32: pointer=4 at_secure=1 ruid=65534 euid=0\n"
    assert items["abi32"]["rc"] == 3 and items["abi32"]["err"] == b"abi32: a line on stderr\n"
    assert items["filecaps"]["out"].startswith(b"secure: at_secure=1 ruid=65534 euid=65534 cap_eff=0000000000000400 ")
    assert items["go_cgo"]["out"].endswith(b"own_profile=ok\n")
    assert b"extracted: same checksums" in items["tar_xz"]["out"]
    assert b"cproj: work(7) = " in items["make_gcc"]["out"]
    assert not any(Path(host["plain"]["profiles"]).iterdir())
    print("pass times: " + ", ".join(f"{p} {host[p]['took']:.1f} s" for p in ("plain", "shim", "eager", "select")))
    print("items (ms, plain pass): " + ", ".join(f"{k} {v['ms']}" for k, v in items.items()))


@pytest.mark.parametrize("pass_", ["shim", "eager"])
def test_same_output_with_the_shim_in_ld_so_preload(host, pass_):
    problems = compare(host["plain"], host[pass_])
    assert not problems, "\n\n".join(problems)


def test_same_output_with_select_rules(host):
    problems = compare(host["plain"], host["select"])
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("pass_", ["shim", "eager"])
def test_profiles_for_the_sampled_programs(host, pass_):
    got = profiles_by_comm(host[pass_]["profiles"])
    missing = [c for c in SAMPLED if not any(n > 0 for _, n, _ in got.get(c, []))]
    assert not missing, (f"no profile with samples for {missing}; profiles by comm: "
                         f"{ {c: len(v) for c, v in got.items()} }\nlog:\n{host[pass_]['log'][-3000:]}")
    # the main executable is among each one's mappings
    assert any(prog("hot2") in files for _, _, files in got["hot2"])
    assert any(f"{host['tmp']}/bin/hot2copy" in files for _, _, files in got["hot2copy"])


def test_short_programs_never_activate_by_default(host):
    # with start_after_cpu = 0 every program the shim lets in samples into a ring (~170 here);
    # with the default only those that use 20 ms of CPU (the sampled ones, a few more)
    active = {p: len(re.findall(r"ldprof\[\d+\]: info: active", host[p]["log"])) for p in ("shim", "eager")}
    assert active["eager"] >= 100, active
    assert len(SAMPLED) <= active["shim"] <= active["eager"] / 5, active
    # and every activation handed its ring to the agent: none stayed off for want of it
    for p in ("shim", "eager"):
        assert "collector=" in host[p]["log"] and "takes no ring" not in host[p]["log"], host[p]["log"][-3000:]


@pytest.mark.parametrize("pass_", ["shim", "eager", "select"])
def test_never_a_profile_for_secure_execution_nor_a_ring_for_go(host, pass_):
    got = profiles_by_comm(host[pass_]["profiles"])
    assert not [c for c in NEVER if c in got], sorted(got)
    exes = {f"{host['tmp']}/bin/suidprog", f"{host['tmp']}/bin/capprog"}
    hits = [(str(p), sorted(exes & files)) for v in got.values() for p, _, files in v if exes & files]
    assert not hits
    # Go owns SIGPROF: the shim stays off in it and asks the agent, which samples it from the
    # kernel (source=ebpf); a sample of a Go program from a ring (no source) would mean the
    # shim ran in it
    gos = {prog(g) for g in GO}
    from_ring = [str(p) for v in got.values() for p, _, files in v
                 if gos & files and set(Stacks([p]).by_label("source")) != {"ebpf"}]
    assert not from_ring, from_ring


def test_select_rules_exclude_and_include(host):
    """Waits for the [select] rules in the preload stage (issue 4): until then the shim ignores
    them and profiles perl and hot2copy like any other program."""
    got = profiles_by_comm(host["select"]["profiles"])
    excluded = [c for c in SELECT_EXCLUDED if c in got]
    assert not excluded, (f"profiles for programs the rules exclude ({SELECT_RULES!r}): "
                          f"{ {c: [p.name for p, _, _ in got[c]] for c in excluded} }")
    hits = [str(p) for v in got.values() for p, _, files in v if f"{host['tmp']}/bin/hot2copy" in files]
    assert not hits, f"profiles of a program outside include_exe: {hits}"
    missing = [c for c in SELECT_INCLUDED if not any(n > 0 for _, n, _ in got.get(c, []))]
    assert not missing, f"no profile for {missing}, which the rules include; got {sorted(got)}"


# ---------------------------------------------------------------------------------------------
# 32-bit programs and the line `ldprof install` writes

def in_ns(tmp, preload_text, *cmd):
    """cmd in a private mount namespace whose /etc/ld.so.preload holds preload_text (None: no
    file); returns the CompletedProcess."""
    scratch = Path(tempfile.mkdtemp(dir=tmp))
    pre = "-"
    if preload_text is not None:
        pre = Path(tempfile.mkdtemp(dir=tmp)) / "ld.so.preload"
        pre.write_text(preload_text)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", str(HOST / "run_in_ns.sh"),
                           str(scratch), str(pre), "-", *map(str, cmd)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def abi32(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("abi32")
    os.chmod(tmp, 0o755)
    r = subprocess.run(["gcc", "-m32", "-O2", "-o", str(tmp / "abi32"), str(HOST / "abi32.c")],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build tests/host/abi32.c with -m32 (gcc-multilib): {r.stderr}"
    return tmp


def test_the_plain_line_makes_32_bit_loaders_complain(abi32):
    """Why the line has $LIB: naming the 64-bit shim alone, a 32-bit program gets a line of its
    loader's on stderr (what ldprof install wrote before)."""
    before = etc_state()
    plain = in_ns(abi32, None, abi32 / "abi32")
    assert (plain.returncode, plain.stderr) == (3, b"abi32: a line on stderr\n"), plain
    r = in_ns(abi32, f"{SHIM}\n", abi32 / "abi32")
    assert b"cannot be preloaded (wrong ELF class: ELFCLASS64): ignored." in r.stderr, r
    r = in_ns(abi32, f"{LIB_LINE}\n", abi32 / "abi32")
    assert (r.returncode, r.stdout, r.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert etc_state() == before


def test_ldprof_install_from_the_build_tree_writes_the_lib_line(abi32):
    """`ldprof install` run from the build tree (on the namespace's /etc) names
    build/lib/ldprof/$LIB/libldprof.so, checks it, and a 32-bit program then runs as without it."""
    before = etc_state()
    script = (f"{LDPROF} install >&2 && cat /etc/ld.so.preload && {abi32}/abi32; echo rc=$? && "
              f"{LDPROF} status | grep -E '^(ours|core|stub) ' >&2 && {LDPROF} uninstall >&2")
    r = in_ns(abi32, None, "sh", "-c", script)
    assert r.returncode == 0, r
    assert r.stdout == f"{LIB_LINE}\nabi32: pointer=4 at_secure=0 ruid=0 euid=0\nrc=3\n".encode(), r
    err = r.stderr.decode()
    assert f'added "{LIB_LINE}"' in err and "abi32: a line on stderr" in err and "ELFCLASS" not in err, err
    assert f"ours     line 1: {BUILD}/lib/ldprof/lib/x86_64-linux-gnu/libldprof.so: ok" in err, err
    assert f"stub     {BUILD}/lib/ldprof/lib32/libldprof.so: ok" in err, err
    assert etc_state() == before
