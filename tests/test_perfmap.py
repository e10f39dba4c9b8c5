# SPDX-License-Identifier: MIT
"""JIT code named from /tmp/perf-PID.map (common/perfmap.c), by `ldprof run`'s collector: a
Node program run with --perf-basic-prof shows its JavaScript functions; a small JIT of ours
that writes its own map shows its name. The collector is root and the file lies in /tmp: a
link planted there, a FIFO, or a file of another user's is never read (the planted file's
"name" never reaches a profile, the program runs as without ldprof)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import LDPROF, Stacks, clean_env, prog, profile_files, profiles_for

NODE = shutil.which("node")

JS = """
function hotInner(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) | 0; return x; }
function hotOuter(ms) { let s = 0; const end = Date.now() + ms; while (Date.now() < end) s += hotInner(100000); return s; }
console.log("hot: " + (hotOuter(1200) !== 0.5));
"""


def names(stacks):
    """Every function name in the samples, with the samples it is in."""
    out = {}
    for frames, count, _ in stacks.items:
        for f in set(frames):
            out[f] = out.get(f, 0) + count
    return out


def test_node_perf_basic_prof_shows_javascript_functions(tmp_path):
    assert NODE, "node is missing (make deps installs nodejs)"
    js = tmp_path / "hot.js"
    js.write_text(JS)
    out = tmp_path / "out"
    # in tmp_path: node writes isolate-*-v8.log files into its working folder
    base = subprocess.Popen([NODE, "--perf-basic-prof", str(js)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path)
    base.stdout, base.stderr = base.communicate(timeout=60)
    os.unlink(f"/tmp/perf-{base.pid}.map")
    r = subprocess.run([str(LDPROF), "run", "--hz", "499", "-o", str(out), "--", NODE, "--perf-basic-prof", str(js)],
                       capture_output=True, timeout=60, env=clean_env(LDPROF_LOG_LEVEL="info"), cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr) == (0, b"hot: true\n", b""), r
    files = profile_files(out)
    # node leaves its map behind: the suite does not
    for _, pid, _ in files.values():
        if os.path.exists(f"/tmp/perf-{pid}.map"):
            os.unlink(f"/tmp/perf-{pid}.map")
    st = Stacks(profiles_for(out, comm="node"))
    got = names(st)
    js_frames = {n: c for n, c in got.items() if re.match(r"(JS|LazyCompile):\S*hotInner ", n)}
    # most of the run is hotInner, compiled: named as V8 names it in the map
    assert sum(js_frames.values()) >= 0.5 * st.total(), st.dump()
    assert any(str(js) in n for n in js_frames), js_frames
    # ... and its stacks go on through V8's frame-pointer chain (JIT code, builtins) into node's
    # own C++ frames, down to the process's start
    hot = [(f, c) for f, c, _ in st.items if any(n in js_frames for n in f)]
    whole = sum(c for f, c in hot if "__libc_start_main" in f)
    assert whole >= 0.9 * sum(c for _, c in hot), st.dump()


def minijit(out, mode, plant=None):
    """`ldprof run` minijit MODE; plant(pid, addr) runs once the program waits, before its code
    does. Returns (the run, its profile's Stacks)."""
    p = subprocess.Popen([str(LDPROF), "run", "--hz", "499", "-o", str(out), "--", prog("minijit"), mode, "400"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    first = p.stdout.readline()
    m = re.match(rb"minijit: pid=(\d+) addr=0x([0-9a-f]+)\n", first)
    assert m, first
    pid, addr = int(m[1]), int(m[2], 16)
    if plant:
        plant(pid, addr)
    rest, err = p.communicate(b"go\n", timeout=60)
    assert p.returncode == 0 and rest == b"" and err == b"", (p.returncode, rest, err)
    return pid, Stacks(profiles_for(out, pid=pid, comm="minijit"))


def test_own_map_names_the_jit_code(tmp_path):
    pid, st = minijit(tmp_path / "out", "own")
    got = names(st)
    assert got.get("jit_hot_loop", 0) >= 0.8 * st.total() > 0, st.dump()


@pytest.mark.parametrize("how", ["symlink", "hardlink", "fifo", "other-user"])
def test_planted_map_is_never_read(tmp_path, how):
    """A root process with code in no file; someone else's file at /tmp/perf-PID.map, with a
    line naming that code: the name never reaches the profile, and the run goes on."""
    secret = tmp_path / "secret"
    planted = {}

    def plant(pid, addr):
        path = f"/tmp/perf-{pid}.map"
        planted["path"] = path
        secret.write_text(f"{addr:x} 100 SECRET_LINE\n")
        os.chmod(secret, 0o600)
        if how == "symlink":
            os.symlink(secret, path)
        elif how == "hardlink":
            os.link(secret, path)
        elif how == "fifo":
            os.mkfifo(path)
        else:
            shutil.copy(secret, path)
            os.chown(path, 65534, 65534)

    try:
        pid, st = minijit(tmp_path / "out", "none", plant)
    finally:
        if "path" in planted and os.path.lexists(planted["path"]):
            os.unlink(planted["path"])
    assert st.total() >= 0.5 * 0.4 * 499 * 0.5, st.dump()  # it was sampled...
    assert "SECRET_LINE" not in names(st), st.dump()       # ... and the planted name is not there
