# SPDX-License-Identifier: MIT
"""Shared fixtures and helpers for ldprof's tests (`make check`).

Everything here drives real processes: the `ldprof` command, the preloaded shim, the test
programs in build/tests/progs (built by `make test-bins`). Nothing is mocked and nothing is
skipped: a missing binary or tool is a failure.

Profiles are decoded by a small pprof (profile.proto) reader below, independent of ldprof's own
reader, and every profile any test produced is also handed to `go tool pprof` at the end of the
session (test_profile_format.py). All profiles are written under build/test-profiles/<test>/ so
they can be inspected after a run.
"""
import gzip
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rootenv import PLACE_VARS, root_config  # noqa: F401  (shared with the tests)

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
LDPROF = BUILD / "bin" / "ldprof"
SHIM = BUILD / "lib" / "libldprof.so"
STUB32 = BUILD / "lib" / "stub32" / "libldprof.so"  # what 32-bit loaders find ($LIB line)
PROGS = BUILD / "tests" / "progs"
PROFILES_BASE = BUILD / "test-profiles"
PYTHON = "/usr/bin/python3"

PROFILE_NAME = re.compile(r"^(?P<comm>.+)\.(?P<pid>\d+)\.(?P<seq>\d+)\.pb\.gz$")
SIGPROF = signal.SIGPROF.value

# Environment knobs of the shim that must not leak in from the caller's environment.
_SCRUB = ("LD_PRELOAD", "LDPROF_")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def prog(name):
    p = PROGS / name
    assert p.exists(), f"{p} is missing: run `make test-bins`"
    return str(p)


def run(cmd, timeout=60, env=None, input=None, cwd=None, check_timeout=True):
    """Runs cmd (a list) with a timeout; returns CompletedProcess with bytes stdout/stderr."""
    try:
        return subprocess.run(cmd, input=input if input is not None else b"", stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout,
                              env=env if env is not None else clean_env(), cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {timeout}s (hang?): {cmd}\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def ldprof_run(args, outdir=None, hz=None, timeout=60, env=None, input=None, cwd=None, extra=()):
    """`ldprof run [--hz N] [-o DIR] EXTRA -- ARGS`."""
    assert LDPROF.exists(), f"{LDPROF} is missing: run `make all`"
    cmd = [str(LDPROF), "run"]
    if hz is not None:
        cmd += ["--hz", str(hz)]
    if outdir is not None:
        cmd += ["-o", str(outdir)]
    cmd += list(extra) + ["--"] + [str(a) for a in args]
    return run(cmd, timeout=timeout, env=env, input=input, cwd=cwd)


def ldprof_for_all(d, progs=()):
    """ldprof (d/bin), its shim (d/lib, where ldprof looks: bin/../lib) and the test programs
    named copied where every user can run them: the checkout may be root's alone (CI clones
    into a folder of mode 0700). Returns the copied ldprof's path, and the programs' in d/bin."""
    for sub in ("bin", "lib"):
        (d / sub).mkdir(mode=0o755, exist_ok=True)
        os.chmod(d / sub, 0o755)
    for f, sub in [(LDPROF, "bin"), (SHIM, "lib")] + [(Path(prog(n)), "bin") for n in progs]:
        shutil.copy(f, d / sub / f.name)
        os.chmod(d / sub / f.name, 0o755)
    return str(d / "bin" / LDPROF.name)


def preload_env(outdir, shim=None, **knobs):
    """Environment for running a program with the shim preloaded by hand: active from the
    process's start (as `ldprof run`), unless a knob sets LDPROF_SELECT_START_AFTER_CPU.
    Places (output folder, log file...) go through a config file (root_config). With no
    collector it stays off (no-collector): give it one with LDPROF_AGENT_SOCKET=agent.sock
    (agentlib's Agent) or LDPROF_COLLECTOR."""
    assert SHIM.exists(), f"{SHIM} is missing: run `make all`"
    env = clean_env(LD_PRELOAD=str(shim or SHIM), LDPROF_OUTPUT_ENDPOINT=f"file://{outdir}",
                    LDPROF_SELECT_START_AFTER_CPU="0")
    env.update({k: str(v) for k, v in knobs.items()})
    return root_config(env)


def shared_folder(parent, name):
    """parent/name made like /var/lib/ldprof/profiles and spool as packaged: root's, mode 1733
    (anyone may make a folder of their own in it, nobody may list or touch another's)."""
    base = Path(parent) / name
    base.mkdir()
    os.chmod(base, 0o1733)
    return base


def as_host_init(script, env, workdir):
    """argv and environment that run the shell script as a PID 1 whose /proc says it is the
    host's init (the suite cannot be the real one): in a mount namespace of its own, a PID
    namespace of its own, and a /proc holding only self/ns/pid, bound to the file of the first
    PID namespace, and a self/status that shows no seccomp filter. The script (sh, with env's
    LD_PRELOAD) is PID 1; the commands that set this up run without the preload; workdir holds
    their files. Killing the returned command kills the PID 1 too (--kill-child). Needs root."""
    d = Path(workdir)
    (d / "proc" / "self" / "ns").mkdir(parents=True)
    (d / "proc" / "self" / "ns" / "pid").touch()
    (d / "proc" / "self" / "status").write_text("Name:\tinit\nSeccomp:\t0\n")
    (d / "init-ns").touch()
    inner = (f"mount --bind {d}/init-ns {d}/proc/self/ns/pid && mount --rbind {d}/proc /proc && "
             f"exec env LD_PRELOAD={shlex.quote(env['LD_PRELOAD'])} /bin/sh -c {shlex.quote(script)}")
    outer = (f"mount --make-rprivate / && mount --bind /proc/self/ns/pid {d}/init-ns && "
             f"exec unshare --pid --fork --kill-child /bin/sh -c {shlex.quote(inner)}")
    return ["unshare", "-m", "/bin/sh", "-c", outer], {k: v for k, v in env.items() if k != "LD_PRELOAD"}


def status_of(proc):
    """Exit status as a shell reports it: 128+N for death by signal N."""
    return 128 - proc.returncode if proc.returncode < 0 else proc.returncode


def same_as_without(cmd, env, timeout=60, prefix=()):
    """Runs cmd without ldprof, then with env (and prefix before it: `ldprof run ... --`);
    asserts the exit status, stdout (pid=N numbers aside) and stderr are the same. Returns the
    run with env."""
    base = run(cmd, timeout=timeout)
    r = run([str(a) for a in prefix] + list(cmd), env=env, timeout=timeout)
    strip = lambda b: re.sub(rb"pid=\d+", b"pid=", b)
    assert (status_of(r), strip(r.stdout), r.stderr) == (status_of(base), strip(base.stdout), base.stderr), \
        f"exit {status_of(r)} against {status_of(base)} (159 = SIGSYS: a seccomp filter killed it)"
    return r


# ---------------------------------------------------------------------------------------------
# profile files

def profile_files(d):
    """{path: (comm, pid, seq)} for every profile in folder d."""
    out = {}
    d = Path(d)
    if not d.is_dir():
        return out
    for p in sorted(d.iterdir()):
        m = PROFILE_NAME.match(p.name)
        if m:
            out[p] = (m["comm"], int(m["pid"]), int(m["seq"]))
    return out


def profiles_for(d, pid=None, comm=None):
    return [p for p, (c, pi, _) in profile_files(d).items()
            if (pid is None or pi == pid) and (comm is None or c == comm)]


def read_log(outdir, log_file=None):
    p = Path(log_file) if log_file else Path(outdir) / "ldprof.log"
    return p.read_text(errors="replace") if p.exists() else ""


# ---------------------------------------------------------------------------------------------
# a minimal, independent reader of pprof's profile.proto

def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf):
    """Yields (field number, wire type, value) of one message; value is int or bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            ln, i = _varint(buf, i)
            if i + ln > len(buf):
                raise ValueError("truncated field")
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 1:
            v = int.from_bytes(buf[i:i + 8], "little")
            i += 8
        elif wt == 5:
            v = int.from_bytes(buf[i:i + 4], "little")
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        yield fn, wt, v


def _ints(wt, v):
    """Repeated integer field: packed (bytes) or one value."""
    if wt == 2:
        out, i = [], 0
        while i < len(v):
            x, i = _varint(v, i)
            out.append(x)
        return out
    return [v]


def _signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


class Profile:
    """Decoded profile.proto. Ids and string indexes are kept raw and resolved by helpers."""

    def __init__(self, data, path=None):
        self.path = path
        self.raw = data
        self.sample_type = []   # [(type index, unit index)]
        self.samples = []       # [{"locs": [...], "values": [...], "labels": [(k, str, num)]}]
        self.mappings = []      # dicts in file order
        self.locations = []
        self.functions = []
        self.strings = []
        self.period_type = None
        self.period = 0
        self.time_nanos = 0
        self.duration_nanos = 0
        self.default_sample_type = 0
        self.comment_ids = []     # string indices
        for fn, wt, v in _fields(data):
            if fn == 1:
                vt = dict((f, x) for f, _, x in _fields(v))
                self.sample_type.append((vt.get(1, 0), vt.get(2, 0)))
            elif fn == 2:
                s = {"locs": [], "values": [], "labels": []}
                for f, w, x in _fields(v):
                    if f == 1:
                        s["locs"] += _ints(w, x)
                    elif f == 2:
                        s["values"] += [_signed(y) for y in _ints(w, x)]
                    elif f == 3:
                        lab = dict((g, y) for g, _, y in _fields(x))
                        s["labels"].append((lab.get(1, 0), lab.get(2, 0), lab.get(3)))
                self.samples.append(s)
            elif fn == 3:
                m = dict((f, x) for f, _, x in _fields(v))
                self.mappings.append({"id": m.get(1, 0), "start": m.get(2, 0), "limit": m.get(3, 0),
                                      "offset": m.get(4, 0), "filename": m.get(5, 0),
                                      "build_id": m.get(6, 0)})
            elif fn == 4:
                loc = {"id": 0, "mapping_id": 0, "address": 0, "lines": []}
                for f, w, x in _fields(v):
                    if f == 1:
                        loc["id"] = x
                    elif f == 2:
                        loc["mapping_id"] = x
                    elif f == 3:
                        loc["address"] = x
                    elif f == 4:
                        ln = dict((g, y) for g, _, y in _fields(x))
                        loc["lines"].append((ln.get(1, 0), ln.get(2, 0)))
                self.locations.append(loc)
            elif fn == 5:
                f_ = dict((f, x) for f, _, x in _fields(v))
                self.functions.append({"id": f_.get(1, 0), "name": f_.get(2, 0),
                                       "system_name": f_.get(3, 0), "filename": f_.get(4, 0)})
            elif fn == 6:
                self.strings.append(v.decode("utf-8", errors="strict"))
            elif fn == 9:
                self.time_nanos = _signed(v)
            elif fn == 10:
                self.duration_nanos = _signed(v)
            elif fn == 11:
                pt = dict((f, x) for f, _, x in _fields(v))
                self.period_type = (pt.get(1, 0), pt.get(2, 0))
            elif fn == 12:
                self.period = _signed(v)
            elif fn == 13:
                self.comment_ids += _ints(wt, v)
            elif fn == 14:
                self.default_sample_type = v
        self._loc = {l["id"]: l for l in self.locations}
        self._fn = {f["id"]: f for f in self.functions}
        self._map = {m["id"]: m for m in self.mappings}

    def s(self, idx):
        return self.strings[idx]

    def comments(self):
        return [self.s(i) for i in self.comment_ids]

    def sample_types(self):
        return [(self.s(t), self.s(u)) for t, u in self.sample_type]

    def value_index(self, typ):
        return [t for t, _ in self.sample_types()].index(typ)

    def frames(self, sample):
        """Function names of one sample, leaf first ("0x<addr>" when unsymbolized)."""
        out = []
        for lid in sample["locs"]:
            loc = self._loc[lid]
            if not loc["lines"]:
                out.append(f"0x{loc['address']:x}")
            for fid, _ in loc["lines"]:
                out.append(self.s(self._fn[fid]["name"]) if fid in self._fn else "?")
        return out

    def labels(self, sample):
        return {self.s(k): (self.s(v) if v else None) for k, v, _ in sample["labels"]}

    def count(self, sample):
        return sample["values"][self.value_index("samples")]

    def total(self):
        i = self.value_index("samples")
        return sum(s["values"][i] for s in self.samples)

    def mapping_of(self, loc):
        return self._map.get(loc["mapping_id"])


def read_profile(path):
    data = Path(path).read_bytes()
    assert data[:2] == b"\x1f\x8b", f"{path} is not gzip-compressed"
    return Profile(gzip.decompress(data), path=str(path))


class Stacks:
    """All samples of one or more profiles as (frames leaf-first, count, labels)."""

    def __init__(self, paths):
        self.items = []
        self.profiles = []
        for p in paths:
            prof = read_profile(p)
            self.profiles.append(prof)
            for s in prof.samples:
                self.items.append((prof.frames(s), prof.count(s), prof.labels(s)))

    def total(self):
        return sum(c for _, c, _ in self.items)

    def with_any(self, names):
        names = set(names)
        return sum(c for f, c, _ in self.items if names & set(f))

    def with_func(self, name):
        return self.with_any([name])

    def by_label(self, key):
        out = {}
        for _, c, lab in self.items:
            out[lab.get(key)] = out.get(lab.get(key), 0) + c
        return out

    def dump(self, n=15):
        agg = {}
        for f, c, _ in self.items:
            k = ";".join(reversed(f))
            agg[k] = agg.get(k, 0) + c
        top = sorted(agg.items(), key=lambda kv: -kv[1])[:n]
        return "\n".join(f"{c:6d} {k}" for k, c in top)


def stacks_in(d, pid=None, comm=None):
    paths = profiles_for(d, pid=pid, comm=comm)
    return Stacks(paths)


# ---------------------------------------------------------------------------------------------
# /proc inspection of a running process

def sigcgt(pid):
    """Set of signals the process catches (from /proc/PID/status SigCgt)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask & (1 << (n - 1))}
    return set()


def maps_text(pid):
    return Path(f"/proc/{pid}/maps").read_text()


def thread_count(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def inspect_running(cmd, env, delay=0.5, timeout=30):
    """Starts cmd, looks at it in /proc after `delay` s, waits for it; returns (info, proc)."""
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        time.sleep(delay)
        info = {"sigcgt": sigcgt(p.pid), "maps": maps_text(p.pid), "threads": thread_count(p.pid)}
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        p.kill()
        p.wait()
        raise
    return info, subprocess.CompletedProcess(cmd, p.returncode, out, err)


# ---------------------------------------------------------------------------------------------
# fixtures

def pytest_sessionstart(session):
    shutil.rmtree(PROFILES_BASE, ignore_errors=True)
    PROFILES_BASE.mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(session, config, items):
    # The check that `go tool pprof` parses every profile of the session runs last.
    last = [i for i in items if i.get_closest_marker("session_last")]
    rest = [i for i in items if not i.get_closest_marker("session_last")]
    items[:] = rest + last


def pytest_configure(config):
    config.addinivalue_line("markers", "session_last: run after every other test")


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


@pytest.fixture
def outdir(request):
    """A fresh, empty profile folder for one test, kept under build/test-profiles/."""
    d = PROFILES_BASE / _safe(request.node.nodeid.replace("tests/", ""))
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


@pytest.fixture(scope="module")
def module_outdir(request):
    def make(name):
        d = PROFILES_BASE / _safe(f"{request.module.__name__}.{name}")
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d
    return make


@pytest.fixture
def fake_root(tmp_path):
    """A fake root with the shim installed where a package puts it (files owned by the test's
    user), and an empty etc/: for install, uninstall and status with --root."""
    libdir = tmp_path / "usr/lib/ldprof"
    libdir.mkdir(parents=True)
    shutil.copy2(SHIM, libdir / SHIM.name)
    os.chmod(libdir / SHIM.name, 0o755)
    (tmp_path / "etc").mkdir()
    return tmp_path


@pytest.fixture
def layout_root(tmp_path):
    """A fake root with the layout the packages install (packaging/layout.sh): the shim at
    usr/lib/ldprof/lib/x86_64-linux-gnu, the 32-bit stub at the 32-bit $LIB expansions."""
    assert STUB32.exists(), f"{STUB32} is missing: run `make all` (needs gcc-multilib)"
    r = subprocess.run(["sh", str(ROOT / "packaging/layout.sh"), str(tmp_path / "usr/lib/ldprof"),
                        "x86_64-linux-gnu", str(SHIM), str(STUB32), "i386-linux-gnu"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (tmp_path / "etc").mkdir()
    return tmp_path
