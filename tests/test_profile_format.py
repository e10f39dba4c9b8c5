# SPDX-License-Identifier: MIT
"""The profile format: pprof profile.proto, gzip-compressed, as `go tool pprof`, Parca and
Pyroscope read it. Checked field by field with an independent decoder (conftest.Profile) on a
known program, and every profile the whole test session produced is parsed by Debian's
`go tool pprof` and decoded by the npm package pprof-format (tests/js/pprof_read.mjs) as
third-party checks (those tests run last)."""
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import (BUILD, PROFILES_BASE, PROFILE_NAME, Stacks, clean_env, ldprof_run, prog,
                      profiles_for, read_profile, run)

HZ = 400
SESSION_START_NS = time.time_ns()


@pytest.fixture(scope="module")
def hot2_profile(module_outdir):
    d = module_outdir("format-hot2")
    t0 = time.time_ns()
    r = ldprof_run([prog("hot2"), "200"], outdir=d, hz=HZ, timeout=60)
    t1 = time.time_ns()
    assert r.returncode == 0, r.stderr
    files = profiles_for(d, comm="hot2")
    assert len(files) == 1, f"a 1 s run with the default 10 s window gave {files}"
    return read_profile(files[0]), t0, t1


def test_gzip_and_string_table(hot2_profile):
    p, _, _ = hot2_profile
    assert p.strings and p.strings[0] == "", "string_table[0] must be \"\""
    assert len(set(p.strings)) == len(p.strings), "duplicate strings in the string table"


def test_sample_and_period_types(hot2_profile):
    p, _, _ = hot2_profile
    assert p.sample_types() == [("samples", "count"), ("cpu", "nanoseconds")]
    assert (p.s(p.period_type[0]), p.s(p.period_type[1])) == ("cpu", "nanoseconds")
    assert abs(p.period - 1e9 / HZ) < 2


def test_cpu_value_is_count_times_period(hot2_profile):
    p, _, _ = hot2_profile
    assert p.samples
    for s in p.samples:
        n, ns = s["values"]
        assert n >= 1 and ns == n * p.period, s["values"]


def test_ids_dense_from_one(hot2_profile):
    p, _, _ = hot2_profile
    for what, items in (("mapping", p.mappings), ("location", p.locations), ("function", p.functions)):
        ids = [x["id"] for x in items]
        assert ids == list(range(1, len(ids) + 1)), f"{what} ids not 1..N in order: {ids[:20]}"


def test_references_valid(hot2_profile):
    p, _, _ = hot2_profile
    nstr = len(p.strings)
    locs = {l["id"]: l for l in p.locations}
    funcs = {f["id"] for f in p.functions}
    maps = {m["id"]: m for m in p.mappings}
    for s in p.samples:
        assert s["locs"], "sample without locations"
        assert all(l in locs for l in s["locs"])
        for k, v, num in s["labels"]:
            assert 0 < k < nstr and 0 <= v < nstr
    for l in p.locations:
        assert l["mapping_id"] in maps, f"location {l['id']} without a valid mapping"
        m = maps[l["mapping_id"]]
        assert m["start"] <= l["address"] < m["limit"], f"address {l['address']:#x} outside its mapping"
        for fid, _ in l["lines"]:
            assert fid in funcs
    for f in p.functions:
        assert 0 < f["name"] < nstr and p.s(f["name"])


def test_labels_thread_id_and_name_on_every_sample(hot2_profile):
    p, _, _ = hot2_profile
    for s in p.samples:
        lab = p.labels(s)
        assert set(lab) >= {"thread_id", "thread_name"}, lab
        assert re.fullmatch(r"\d+", lab["thread_id"]) and lab["thread_name"]


def test_labels_kept_as_comments(hot2_profile):
    """A file holds what an HTTP receiver is told in the request: the labels, as comments."""
    p, _, _ = hot2_profile
    c = dict(x.split("=", 1) for x in p.comments())
    assert c["service_name"] == "hot2" and c["comm"] == "hot2", c
    assert re.fullmatch(r"\d+", c["pid"]) and c["hostname"] and c["exe"].endswith("/hot2"), c
    assert re.fullmatch(r"[0-9a-f]{40}", c["build_id"]), c


def test_mappings_with_build_ids_main_executable_first(hot2_profile):
    p, _, _ = hot2_profile
    files = [p.s(m["filename"]) for m in p.mappings]
    assert files and os.path.realpath(files[0]) == os.path.realpath(prog("hot2")), files
    hot2_bid = run(["readelf", "-n", prog("hot2")], timeout=10).stdout.decode()
    want = re.search(r"Build ID: ([0-9a-f]+)", hot2_bid).group(1)
    assert p.s(p.mappings[0]["build_id"]) == want, "main executable's build ID"
    libc = [m for m in p.mappings if "libc.so" in p.s(m["filename"])]
    assert libc and all(re.fullmatch(r"[0-9a-f]{40}", p.s(m["build_id"])) for m in libc), \
        "libc mapping with its build ID"
    for m in p.mappings:
        assert m["limit"] > m["start"]


def test_functions_named_from_symbols(hot2_profile):
    p, _, _ = hot2_profile
    names = {p.s(f["name"]) for f in p.functions}
    assert {"hot_a", "hot_b", "worker", "main"} <= names, sorted(names)[:50]


def test_time_and_duration_of_window(hot2_profile):
    p, t0, t1 = hot2_profile
    assert t0 - 1_000_000_000 <= p.time_nanos <= t1, (p.time_nanos, t0, t1)
    assert 0 < p.duration_nanos <= (t1 - t0) + 1_000_000_000, p.duration_nanos


def _go_pprof(path, home):
    env = clean_env(HOME=str(home), PPROF_TMPDIR=str(home), GOCACHE=str(home / "gocache"),
                    GOFLAGS="", GOTOOLCHAIN="local")
    try:
        r = subprocess.run(["go", "tool", "pprof", "-symbolize=none", "-raw", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    except subprocess.TimeoutExpired:
        return path, f"timed out"
    if r.returncode != 0:
        return path, f"exit {r.returncode}: {r.stderr.decode(errors='replace')[:300]}"
    out = r.stdout.decode(errors="replace")
    if "PeriodType: cpu nanoseconds" not in out or "samples/count cpu/nanoseconds" not in out:
        return path, "unexpected -raw output: " + out[:300]
    return path, None


@pytest.mark.session_last
def test_go_tool_pprof_parses_every_profile_of_the_session(tmp_path):
    files = sorted(p for p in PROFILES_BASE.rglob("*.pb.gz") if PROFILE_NAME.match(p.name)
                   and p.stat().st_mtime_ns >= SESSION_START_NS - 10**9)
    assert files, "no profile was produced in this session"
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
        results = list(ex.map(lambda f: _go_pprof(f, tmp_path), files))
    bad = [(str(f.relative_to(PROFILES_BASE)), e) for f, e in results if e]
    assert not bad, f"{len(bad)} of {len(files)} profiles rejected by go tool pprof:\n" + \
        "\n".join(f"{f}: {e}" for f, e in bad[:20])
    # the independent decoder agrees on every file as well
    for f in files:
        p = read_profile(f)
        assert p.strings[0] == ""


def _session_profiles():
    return sorted(p for p in PROFILES_BASE.rglob("*.pb.gz") if PROFILE_NAME.match(p.name)
                  and p.stat().st_mtime_ns >= SESSION_START_NS - 10**9)


def _summary(path):
    """What tests/js/pprof_read.mjs reports of a profile, from the suite's own decoder."""
    p = read_profile(path)
    stacks = {}
    for smp in p.samples:
        key = ";".join(reversed(p.frames(smp)))
        stacks[key] = stacks.get(key, 0) + (smp["values"][0] if smp["values"] else 0)
    return {
        "sample_types": [list(t) for t in p.sample_types()],
        "period_type": [p.s(p.period_type[0]), p.s(p.period_type[1])] if p.period_type else None,
        "period": p.period,
        "samples": len(p.samples),
        "sums": [sum(smp["values"][i] for smp in p.samples if i < len(smp["values"]))
                 for i in range(len(p.sample_type))],
        "mappings": [p.s(m["filename"]) for m in p.mappings],
        "comments": p.comments(),
        "stacks": stacks,
    }


@pytest.mark.session_last
def test_pprof_format_decodes_every_profile_of_the_session():
    """A second reader that shares no code with ldprof, the suite or Go: pprof-format (npm),
    under Node.js. It must decode every profile and agree with the suite's decoder on every
    sample's stack and values."""
    files = _session_profiles()
    assert files, "no profile was produced in this session"
    r = subprocess.run(["node", str(BUILD / "js" / "pprof_read.mjs")],
                       input="\n".join(str(f) for f in files).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    got = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [g["path"] for g in got] == [str(f) for f in files]
    bad = []
    for g in got:
        rel = str(Path(g["path"]).relative_to(PROFILES_BASE))
        if "error" in g:
            bad.append(f"{rel}: pprof-format: {g['error']}")
            continue
        want = _summary(g["path"])
        for k, v in want.items():
            if g[k] != v:
                bad.append(f"{rel}: {k} differs: pprof-format {str(g[k])[:200]}, suite {str(v)[:200]}")
    assert not bad, f"{len(bad)} of {len(files)} profiles:\n" + "\n".join(bad[:20])
