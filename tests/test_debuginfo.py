# SPDX-License-Identifier: MIT
"""Names from separate debug files (common/debuginfo.c, elfsym's debug mode) in `ldprof report`
and `diff`: libc's internal functions, which no .dynsym has, named from libc6-dbg (installed by
`make deps`) and checked against nm of the debug file; the one line that says which frames
stayed unnamed and which package would name them."""
import re
import subprocess

import pytest

from conftest import LDPROF, ldprof_run, prog, profiles_for, read_profile, run
from pprof_write import write_profile

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LIBZ = "/usr/lib/x86_64-linux-gnu/libz.so.1"


def ldprof(*args):
    return run([str(LDPROF)] + [str(a) for a in args], timeout=60)


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out)[1]


def debug_file(path):
    b = build_id(path)
    return f"/usr/lib/debug/.build-id/{b[:2]}/{b[2:]}.debug"


def loads(path):
    """[(offset, vaddr, filesz)] of the PT_LOADs of the file at path."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    return [(int(m[1], 16), int(m[2], 16), int(m[3], 16))
            for m in re.finditer(r"LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+)", out)]


def to_vaddr(path, off):
    for o, v, n in loads(path):
        if o <= off < o + n:
            return v + off - o
    raise AssertionError(f"offset {off:#x} is in no segment of {path}")


def to_offset(path, vaddr):
    for o, v, n in loads(path):
        if v <= vaddr < v + n:
            return o + vaddr - v
    raise AssertionError(f"address {vaddr:#x} is in no segment of {path}")


def functions(path):
    """[(start, size, name)] of the function symbols nm sees in the file at path."""
    out = subprocess.run(["nm", "-S", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    fns = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwWiI":
            # a versioned name, "clock_gettime@@GLIBC_2.17", is named without its version
            fns.append((int(f[0], 16), int(f[1], 16), f[3].split("@")[0]))
    return fns


def names_at(fns, vaddr):
    """The names of the function symbols (aliases) that hold vaddr."""
    return {n for s, z, n in fns if s <= vaddr < s + z}


def rows(out):
    """{function: cum} of a `report --top 0` table."""
    return {l.split()[-1]: int(l.split()[2]) for l in out.splitlines()[2:]}


def test_libc_frames_of_a_real_run_named_from_libc6_dbg(module_outdir):
    """A real run's libc frames, the internal functions no .dynsym has among them, named from
    libc6-dbg by `ldprof run`'s collector (its profile carries the names): each frame's name
    is the one nm finds at its address in the debug file."""
    d = module_outdir("debuginfo-hot2")
    r = ldprof_run([prog("hot2"), "400"], outdir=d, hz=499, timeout=60)
    files = profiles_for(d, comm="hot2")
    assert r.returncode == 0 and files, r.stderr
    fns = functions(debug_file(LIBC))
    dynsym = {n for _, _, n in functions_dynamic(LIBC)}
    seen = set()
    for f in files:
        prof = read_profile(f)
        for loc in prof.locations:
            m = prof.mapping_of(loc)
            if not m or prof.s(m["filename"]) != LIBC:
                continue
            names = {prof.s(prof._fn[fid]["name"]) for fid, _ in loc["lines"]}
            want = names_at(fns, to_vaddr(LIBC, loc["address"] - m["start"] + m["offset"]))
            assert want, f"nm finds no function at {loc['address']:#x} in {LIBC}"
            assert len(names) == 1 and names <= want, (hex(loc["address"]), names, want)
            seen |= names
    # hot2's threads start in libc functions no .dynsym names
    assert seen - dynsym, sorted(seen)
    assert {"start_thread", "__libc_start_call_main"} <= seen, sorted(seen)


def test_ldprof_run_profiles_carry_the_debug_names(module_outdir):
    """`ldprof run`'s collector names frames as `ldprof report` does (libc6-dbg by build ID):
    the profile carries the names, so a server that receives it needs no debug files."""
    d = module_outdir("debuginfo-hot2-run")
    r = ldprof_run([prog("hot2"), "400"], outdir=d, hz=499, timeout=60)
    assert r.returncode == 0 and profiles_for(d, comm="hot2"), r.stderr
    bare = ldprof("report", "--top", "0", "--debug-dir", "", d)
    assert bare.returncode == 0 and bare.stderr == b"", bare
    got = rows(bare.stdout.decode())
    assert not [k for k in got if "+0x" in k], bare.stdout.decode()
    assert {"start_thread", "worker", "main"} <= set(got), bare.stdout.decode()


def test_known_addresses_and_what_stays_unnamed(outdir):
    """A profile that leaves libc's start_thread and __libc_start_call_main (locals, in no
    .dynsym) and a libz function unnamed: the first two are named through the build ID, libz
    (no zlib1g-dbgsym here) stays unnamed and the line says which package would name it."""
    fns = functions(debug_file(LIBC))
    addr = {n: s for s, z, n in fns if n in ("start_thread", "__libc_start_call_main") and z > 8}
    assert set(addr) == {"start_thread", "__libc_start_call_main"}, addr
    bare = {n: to_offset(LIBC, a) + 4 for n, a in addr.items()}
    bare["zfunc"] = 0x2000
    stacks = {("main", "__libc_start_call_main", "start_thread"): 7, ("main", "zfunc"): 3}
    p = write_profile(outdir / "known.pb.gz", stacks, bare=bare,
                      libs={"start_thread": LIBC, "__libc_start_call_main": LIBC, "zfunc": LIBZ},
                      build_ids={LIBC: build_id(LIBC), LIBZ: build_id(LIBZ)})
    r = ldprof("report", "--folded", p)
    assert r.returncode == 0, r
    assert r.stdout.decode().splitlines() == ["main;__libc_start_call_main;start_thread 7",
                                              f"main;libz.so.1+{bare['zfunc']:#x} 3"], r.stdout
    assert r.stderr == (b"ldprof report: 1 frame in 1 object stayed unnamed (2 named from debug files "
                        b"in /usr/lib/debug): libz.so.1 (install zlib1g-dbgsym)\n"), r.stderr

    # another build of libc (a build ID no debug file has): the same addresses stay unnamed
    p = write_profile(outdir / "other.pb.gz", stacks, bare=bare,
                      libs={"start_thread": LIBC, "__libc_start_call_main": LIBC, "zfunc": LIBZ},
                      build_ids={LIBC: "00" * 20, LIBZ: build_id(LIBZ)})
    r = ldprof("report", "--folded", p)
    assert b"start_thread" not in r.stdout and b"libc.so.6+0x" in r.stdout, r.stdout
    assert b"libc.so.6 (install libc6-dbg)" in r.stderr, r.stderr

    # diff names them the same way
    r = ldprof("diff", outdir / "known.pb.gz", outdir / "known.pb.gz")
    assert r.returncode == 0 and b"start_thread" in r.stdout, r


def test_plt_stubs_named_beside_the_debug_files_names(outdir):
    """libc6-dbg's .plt holds no code (NOBITS): the stubs of libc's own PLT (an IFUNC's
    IRELATIVE slot, .plt.got's) are named from libc itself, NAME@plt as objdump names the
    .plt.got one; its functions keep the debug file's names. A sample lands there now and then
    (a libc function calling strnlen, free): it stayed "libc.so.6+0x..." before."""
    dis = subprocess.run(["objdump", "-d", "-j", ".plt.got", LIBC], capture_output=True, text=True).stdout
    got = re.search(r"^([0-9a-f]+) <(\w+)@plt>:", dis, re.M)
    dis = subprocess.run(["objdump", "-d", "-j", ".plt", LIBC], capture_output=True, text=True).stdout
    irel = re.search(r"^([0-9a-f]+) <\*ABS\*\+0x([0-9a-f]+)@plt>:", dis, re.M)
    assert got and irel, "libc has no .plt.got or IRELATIVE .plt stub to test with"
    ifunc = {n for s, z, n in functions(debug_file(LIBC)) if s == int(irel.group(2), 16)}
    bare = {"gotstub": to_offset(LIBC, int(got.group(1), 16)) + 2,
            "irelstub": to_offset(LIBC, int(irel.group(1), 16)) + 6,
            "start_thread": to_offset(LIBC, [s for s, z, n in functions(debug_file(LIBC)) if n == "start_thread"][0]) + 4}
    stacks = {("main", "gotstub"): 3, ("main", "irelstub"): 2, ("main", "start_thread"): 1}
    p = write_profile(outdir / "plt.pb.gz", stacks, bare=bare, libs={n: LIBC for n in bare},
                      build_ids={LIBC: build_id(LIBC)})
    r = ldprof("report", "--folded", p)
    assert r.returncode == 0 and r.stderr == b"", r
    lines = r.stdout.decode().splitlines()
    assert f"main;{got.group(2)}@plt 3" in lines, lines
    assert any(line in [f"main;{n}@plt 2" for n in ifunc] for line in lines), (ifunc, lines)
    assert "main;start_thread 1" in lines, lines


def test_debuglink_found_beside_the_object_and_checked(outdir):
    """An object without a build ID in the profile, whose .gnu_debuglink names a debug file in
    .debug/ beside it: found there, and refused once its CRC no longer matches the link."""
    src = outdir / "t.c"
    src.write_text("int f1(int x){return x*3;}\n"
                   "__attribute__((noinline)) static int f2(int x){return x*x+1;}\n"
                   "int f3(int x){return f2(x)*2;}\n")
    lib, dbg = outdir / "libt.so", outdir / ".debug" / "libt.so.debug"
    dbg.parent.mkdir()
    subprocess.run(["gcc", "-O1", "-g", "-shared", "-fPIC", "-o", outdir / "full.so", src], check=True)
    subprocess.run(["objcopy", "--only-keep-debug", outdir / "full.so", dbg], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--strip-unneeded", f"--add-gnu-debuglink={dbg}",
                    outdir / "full.so", lib], check=True)
    f2 = [s for s, z, n in functions(dbg) if n == "f2"]
    assert f2 and "f2" not in {n for _, _, n in functions(lib)}, "f2 must be only in the debug file"
    p = write_profile(outdir / "t.pb.gz", {("main", "f2"): 5}, libs={"f2": str(lib)},
                      bare={"f2": to_offset(str(lib), f2[0])})
    r = ldprof("report", "--folded", p)
    assert r.returncode == 0 and r.stdout == b"main;f2 5\n" and r.stderr == b"", r
    with open(dbg, "ab") as f:
        f.write(b"\0")
    r = ldprof("report", "--folded", p)
    assert r.stdout.startswith(b"main;libt.so+0x") and b"stayed unnamed: libt.so" in r.stderr, r


def minidebuginfo(full, out, work):
    """full, stripped into out, with MiniDebugInfo as Fedora's find-debuginfo makes it: the
    functions its .dynsym lacks, in an xz-compressed ELF in .gnu_debugdata."""
    dbg, mini = work / (full.name + ".debug"), work / (full.name + ".mini")
    subprocess.run(["objcopy", "--only-keep-debug", full, dbg], check=True)
    dyn = {n for _, _, n in functions_dynamic(full)}
    keep = work / (full.name + ".keep")
    keep.write_text("".join(f"{n}\n" for _, _, n in functions(dbg) if n not in dyn))
    subprocess.run(["objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment",
                    f"--keep-symbols={keep}", dbg, mini], check=True)
    subprocess.run(["xz", "-f", mini], check=True)
    subprocess.run(["strip", "--strip-all", "-R", ".comment", "-o", out, full], check=True)
    subprocess.run(["objcopy", f"--add-section=.gnu_debugdata={mini}.xz", out], check=True)
    assert b".symtab" not in subprocess.run(["readelf", "-S", out], capture_output=True).stdout


def make_minidebuginfo(outdir, lib):
    """A library of four functions, two of them static, as minidebuginfo() makes it."""
    src = outdir / "m.c"
    src.write_text("int g1(int x){return x*3;}\n"
                   "__attribute__((noinline)) static int g2(int x){return x*x+1;}\n"
                   "__attribute__((noinline)) static int g3(int x){return g2(x)-7;}\n"
                   "int g4(int x){return g3(x)*2;}\n")
    full = outdir / "mfull.so"
    subprocess.run(["gcc", "-O1", "-g", "-shared", "-fPIC", "-o", full, src], check=True)
    minidebuginfo(full, lib, outdir)
    return full


def functions_dynamic(path):
    out = subprocess.run(["nm", "-D", "-S", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    return [(int(f[0], 16), int(f[1], 16), f[3]) for f in (l.split() for l in out.splitlines())
            if len(f) == 4 and f[2] in "tTwWiI"]


def test_minidebuginfo_names_what_dynsym_leaves_out(outdir):
    """An object with MiniDebugInfo (.gnu_debugdata), no debug file anywhere: its static
    functions are named from that section, its exported ones still from .dynsym; without the
    section they stay unnamed; a corrupt section names nothing and breaks nothing."""
    lib = outdir / "libm1.so"
    full = make_minidebuginfo(outdir, lib)
    fns = {n: s for s, z, n in functions(full)}
    assert {"g2", "g3"} <= set(fns) and not {"g2", "g3"} & {n for _, _, n in functions_dynamic(lib)}
    bid = build_id(str(lib))
    stacks = {("main", "g4", "g3", "g2"): 6, ("main", "g1"): 2}
    bare = {n: to_offset(str(lib), fns[n]) + 2 for n in ("g1", "g2", "g3", "g4")}
    kw = dict(bare=bare, libs={n: str(lib) for n in bare}, build_ids={str(lib): bid})
    p = write_profile(outdir / "m.pb.gz", stacks, **kw)
    empty = outdir / "nodebug"
    empty.mkdir()
    r = ldprof("report", "--folded", "--debug-dir", empty, p)
    assert r.returncode == 0 and r.stderr == b"", r
    assert sorted(r.stdout.decode().splitlines()) == ["main;g1 2", "main;g4;g3;g2 6"], r.stdout
    # the same object without the section: g2 and g3 are in no table of it
    plain = outdir / "libm2.so"
    subprocess.run(["objcopy", "--remove-section=.gnu_debugdata", lib, plain], check=True)
    kw2 = dict(bare=bare, libs={n: str(plain) for n in bare}, build_ids={str(plain): bid})
    r = ldprof("report", "--folded", "--debug-dir", empty, write_profile(outdir / "m2.pb.gz", stacks, **kw2))
    assert b"g2" not in r.stdout and b"g3" not in r.stdout and b"stayed unnamed: libm2.so" in r.stderr, r
    # a corrupt section: nothing named from it, the report still made
    data = bytearray(lib.read_bytes())
    at = data.find(b"\xfd7zXZ\0")
    assert at > 0
    data[at + 64:at + 96] = b"\xa5" * 32
    bad = outdir / "libm3.so"
    bad.write_bytes(bytes(data))
    kw3 = dict(bare=bare, libs={n: str(bad) for n in bare}, build_ids={str(bad): bid})
    r = ldprof("report", "--folded", "--debug-dir", empty, write_profile(outdir / "m3.pb.gz", stacks, **kw3))
    assert r.returncode == 0 and b"g2" not in r.stdout and b"stayed unnamed: libm3.so" in r.stderr, r
