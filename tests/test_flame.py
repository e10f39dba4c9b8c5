# SPDX-License-Identifier: MIT
"""`ldprof report --svg` and `ldprof diff` (injector/flame.c, injector/report.c): flame graphs
of real workloads, read back as XML; a diff of two known-answer profiles (tests/pprof_write.py)
checked line by line; hostile names."""
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import LDPROF, ldprof_run, prog, profiles_for, run
from pprof_write import write_profile

SVG = "{http://www.w3.org/2000/svg}"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def ldprof(*args):
    return run([str(LDPROF)] + [str(a) for a in args], timeout=60)


def frames(path):
    """[(name, samples text, width, fill)] of every frame drawn in the SVG at path (which must
    parse as XML)."""
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    out = []
    for g in root.iter(SVG + "g"):
        title = g.find(SVG + "title").text
        m = re.fullmatch(r"(.*) \((.*)\)", title, re.S)
        assert m, title
        rect = g.find(SVG + "rect")
        out.append((m[1], m[2], float(rect.get("width")), rect.get("fill")))
    return out


def width_of(fr, name):
    return sum(w for n, _, w, _ in fr if n == name)


def rgb(fill):
    return tuple(int(x) for x in re.fullmatch(r"rgb\((\d+),(\d+),(\d+)\)", fill).groups())


@pytest.fixture(scope="module")
def hot2(module_outdir):
    """hot2: hot_a takes 3/4 of its CPU, hot_b 1/4."""
    d = module_outdir("flame-hot2")
    r = ldprof_run([prog("hot2"), "600"], outdir=d, hz=499, timeout=60)
    assert r.returncode == 0, r.stderr
    assert profiles_for(d, comm="hot2")
    return d


def test_svg_of_a_real_workload(hot2, tmp_path):
    svg = tmp_path / "flame.svg"
    r = ldprof("report", "--svg", svg, hot2)
    assert r.returncode == 0 and r.stderr == b"", r
    fr = frames(svg)
    root = [f for f in fr if f[0] == "all"]
    assert len(root) == 1
    total = int(re.match(r"(\d+) samples", root[0][1])[1])
    # the same samples as the table, and the hot functions drawn widest after their callers
    table = ldprof("report", "--top", "0", hot2).stdout.decode()
    assert f"Total: {total} samples" in table, table
    cum = {l.split()[-1]: int(l.split()[2]) for l in table.splitlines()[2:]}
    assert sum(int(s.split()[0]) for n, s, _, _ in fr if n == "hot_a") == cum["hot_a"]
    a, b, full = width_of(fr, "hot_a"), width_of(fr, "hot_b"), root[0][2]
    assert 0.65 * full <= a <= 0.85 * full and 0.15 * full <= b <= 0.35 * full, (a, b, full)
    leaves = sorted(((w, n) for n, _, w, _ in fr if n not in ("all",)), reverse=True)
    assert {"hot_a", "hot_b"} & {n for _, n in leaves[:8]}, leaves[:8]
    # colours by object: the program's functions one family, libc's another
    prog_fill = {rgb(f) for n, _, _, f in fr if n in ("hot_a", "hot_b", "run_work")}
    libc_fill = {rgb(f) for n, _, _, f in fr if n in ("__libc_start_main", "clock_gettime")}
    assert prog_fill and all(r == 230 and b_ == 40 for r, _, b_ in prog_fill), prog_fill
    assert libc_fill and all(r == 225 and b_ == 60 for r, _, b_ in libc_fill), libc_fill
    # to stdout with "-", and --svg with --folded is refused
    out = ldprof("report", "--svg", "-", hot2)
    assert out.returncode == 0 and out.stdout == svg.read_bytes()
    assert ldprof("report", "--svg", svg, "--folded", hot2).returncode == 2


def known(d):
    """BASE: 100 samples, a 60%, b 30%, c 10% (c in libc); NEW: 200 samples in two files, a 30%,
    b 60%, d 10%."""
    (d / "base").mkdir()
    (d / "new").mkdir()
    write_profile(d / "base" / "one.pb.gz", {("main", "a"): 60, ("main", "b"): 30, ("main", "c"): 10},
                  libs={"c": LIBC})
    write_profile(d / "new" / "one.pb.gz", {("main", "a"): 60, ("main", "b"): 60})
    write_profile(d / "new" / "two.pb.gz", {("main", "b"): 60, ("main", "d"): 20})
    return d / "base", d / "new"


GOLDEN = """\
Base: 100 samples in 1 profile; new: 200 samples in 2 profiles (shares of each side's total)
 flat%  flat%  change    cum%   cum%  change  function
  base    new            base    new        
 60.0%  30.0%  -30.0%   60.0%  30.0%  -30.0%  a
 30.0%  60.0%  +30.0%   30.0%  60.0%  +30.0%  b
 10.0%   0.0%  -10.0%   10.0%   0.0%  -10.0%  c
  0.0%  10.0%  +10.0%    0.0%  10.0%  +10.0%  d
  0.0%   0.0%   +0.0%  100.0% 100.0%   +0.0%  main
"""


def test_diff_of_known_profiles(outdir):
    base, new = known(outdir)
    r = ldprof("diff", base, new)
    assert r.returncode == 0 and r.stderr == b"", r
    assert r.stdout.decode() == GOLDEN
    # several files a side, "--" between the sides, options anywhere: the same
    files = sorted(str(p) for p in new.iterdir())
    r2 = ldprof("diff", "--top", "0", base / "one.pb.gz", "--", *files)
    assert r2.stdout.decode() == GOLDEN, r2
    r3 = ldprof("diff", base, new, "--top", "2")
    assert r3.stdout.decode().splitlines() == GOLDEN.splitlines()[:5], r3


def test_diff_svg(outdir):
    base, new = known(outdir)
    svg = outdir / "diff.svg"
    r = ldprof("diff", "--svg", svg, base, new)
    assert r.returncode == 0, r
    fr = {n: (s, w, rgb(f)) for n, s, w, f in frames(svg)}
    assert "c" not in fr, "only in the base: no width in the new profiles"
    assert fr["b"][1] > fr["a"][1] > fr["d"][1] > 0, fr        # widths from NEW: 120, 60, 20
    assert fr["b"][2][0] == 255 and fr["b"][2][2] < 255, fr["b"]  # more: red
    assert fr["a"][2][2] == 255 and fr["a"][2][0] < 255, fr["a"]  # less: blue
    assert fr["main"][2] == (255, 255, 255), fr["main"]         # the same share: white
    assert "30.00% -> 60.00%, +30.00 points; 30 -> 120 samples" in fr["b"][0], fr["b"]


@pytest.mark.parametrize("args", [[], ["one"], ["a", "--", "b", "--", "c"], ["--", "a"]])
def test_diff_usage(outdir, args):
    r = ldprof("diff", *args)
    assert r.returncode == 2 and b"BASE NEW" in r.stderr, r


def test_hostile_names_make_valid_xml(outdir):
    """Names come from profiles anyone could have written: markup, bytes that are not UTF-8,
    control characters and very long names must all leave a file that parses."""
    names = ["<script>alert(1)</script>", "a&b\"c'd", b"\xff\xfe\xc3(invalid", "\x01\x1b[2Jctrl",
             "é ü 漢字", "x" * 5000]
    p = write_profile(outdir / "hostile.pb.gz", {("main", n): i + 1 for i, n in enumerate(names)})
    svg = outdir / "hostile.svg"
    r = ldprof("report", "--svg", svg, p)
    assert r.returncode == 0, r
    got = {n for n, *_ in frames(svg)}
    assert "<script>alert(1)</script>" in got and "a&b\"c'd" in got and "é ü 漢字" in got, got
    assert "???(invalid" in got and "??[2Jctrl" in got, got
    assert b"<script>" not in svg.read_bytes()
