# SPDX-License-Identifier: MIT
"""ldprof install / uninstall on DIR/etc/ld.so.preload (--root), never on the real /etc.

A broken line in ld.so.preload breaks every program on a host: install checks the library
before it writes, writes atomically, keeps every other byte, never adds our line twice, keeps a
backup, and uninstall takes out only our line.
"""
import os
import shutil
import stat

import pytest

from conftest import LDPROF, SHIM, clean_env, run

LIB = "/usr/lib/ldprof/libldprof.so"  # the plain line: a root without the $LIB layout
LINE = "/usr/lib/ldprof/$LIB/libldprof.so"  # with it (packaging/layout.sh)
OTHER = b"# site preloads\n/usr/lib/x86_64-linux-gnu/libother.so\n\n   # an indented comment\n"


@pytest.fixture
def root(fake_root):
    return fake_root


def ldprof(*args):
    return run([str(LDPROF)] + [str(a) for a in args], timeout=30)


def preload(root):
    return (root / "etc/ld.so.preload").read_bytes()


def test_install_appends_our_line_and_keeps_everything_else(root):
    (root / "etc/ld.so.preload").write_bytes(OTHER)
    r = ldprof("install", "--root", root)
    assert r.returncode == 0, r.stderr
    assert preload(root) == OTHER + LIB.encode() + b"\n"
    assert (root / "etc/ld.so.preload.ldprof-backup").read_bytes() == OTHER
    assert b"added" in r.stdout and LIB.encode() in r.stdout
    assert stat.S_IMODE(os.stat(root / "etc/ld.so.preload").st_mode) == 0o644
    # no temporary file left behind
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["ld.so.preload", "ld.so.preload.ldprof-backup"]


def test_install_is_idempotent(root):
    assert ldprof("install", "--root", root).returncode == 0
    first = preload(root)
    r = ldprof("install", "--root", root)
    assert r.returncode == 0 and b"already there" in r.stdout
    assert preload(root) == first
    assert first.count(LIB.encode()) == 1


def test_dry_run_touches_nothing(root):
    (root / "etc/ld.so.preload").write_bytes(OTHER)
    before = os.stat(root / "etc/ld.so.preload")
    r = ldprof("install", "--root", root, "--dry-run")
    assert r.returncode == 0 and b"would add" in r.stdout and LIB.encode() in r.stdout
    assert preload(root) == OTHER
    assert os.stat(root / "etc/ld.so.preload").st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["ld.so.preload"]
    assert ldprof("install", "--root", root).returncode == 0
    r = ldprof("uninstall", "--root", root, "--dry-run")
    assert r.returncode == 0 and b"would remove" in r.stdout
    assert LIB.encode() in preload(root)


def test_uninstall_removes_only_our_lines(root):
    # ours from an older location too; a line that merely mentions libldprof.so among others is not ours
    mixed = b"/opt/old/libldprof.so\n" + OTHER + b"/usr/lib/a.so /usr/lib/libldprof.so\n" + LIB.encode() + b"\n"
    (root / "etc/ld.so.preload").write_bytes(mixed)
    r = ldprof("uninstall", "--root", root)
    assert r.returncode == 0, r.stderr
    assert preload(root) == OTHER + b"/usr/lib/a.so /usr/lib/libldprof.so\n"
    r = ldprof("uninstall", "--root", root)
    assert r.returncode == 0 and b"not there" in r.stdout


def test_uninstall_removes_a_file_it_created(root):
    assert ldprof("install", "--root", root).returncode == 0
    assert preload(root) == LIB.encode() + b"\n"
    assert ldprof("uninstall", "--root", root).returncode == 0
    assert not (root / "etc/ld.so.preload").exists()
    assert not (root / "etc/ld.so.preload.ldprof-created").exists()


def test_uninstall_keeps_a_file_it_did_not_create(root):
    (root / "etc/ld.so.preload").write_bytes(b"")
    assert ldprof("install", "--root", root).returncode == 0
    assert ldprof("uninstall", "--root", root).returncode == 0
    assert preload(root) == b""


def test_refuses_a_library_that_does_not_load(root):
    (root / "etc/ld.so.preload").write_bytes(OTHER)
    (root / "usr/lib/ldprof/libldprof.so").write_bytes(b"not an ELF file\n")
    r = ldprof("install", "--root", root)
    assert r.returncode == 1
    assert r.stderr.startswith(b"ldprof install: refusing:") and b"/bin/true fails" in r.stderr
    assert preload(root) == OTHER


def test_the_check_sees_the_sampler_start(root, tmp_path):
    """The check runs /bin/true with start_after_cpu = 0 under a collector of its own: a library
    that loads cleanly and exits 0 but never samples (not ldprof's shim) is refused, as is one
    whose sampler is kept off by the caller's environment... which the check does not take."""
    good = run([str(LDPROF), "install", "--dry-run", "--root", root],
               env=clean_env(LDPROF_DISABLED="1", LDPROF_SELECT_EXCLUDE_COMM="true"))
    assert good.returncode == 0, good.stderr
    shutil.copy("/usr/lib/x86_64-linux-gnu/libz.so.1", root / "usr/lib/ldprof/libldprof.so")
    r = run([str(LDPROF), "install", "--root", root])
    assert r.returncode == 1 and b"the sampler does not start in /bin/true" in r.stderr, r
    assert not (root / "etc/ld.so.preload").exists()


def test_refuses_a_missing_library(root):
    os.unlink(root / "usr/lib/ldprof/libldprof.so")
    r = ldprof("install", "--root", root)
    assert r.returncode == 1 and b"refusing" in r.stderr
    assert not (root / "etc/ld.so.preload").exists()


def test_refuses_a_library_others_can_write(root):
    os.chmod(root / "usr/lib/ldprof/libldprof.so", 0o757)
    r = ldprof("install", "--root", root)
    assert r.returncode == 1 and b"other than root" in r.stderr
    assert not (root / "etc/ld.so.preload").exists()


def test_usage_errors_exit_2(root):
    assert ldprof("install", "--bogus").returncode == 2
    assert ldprof("uninstall", "--root", root / "does-not-exist").returncode == 2


# ---------------------------------------------------------------------------------------------
# the $LIB line: each loader finds an object of its own class (packaging/layout.sh)

def test_install_writes_the_lib_line_when_the_layout_is_there(layout_root):
    root = layout_root
    (root / "etc/ld.so.preload").write_bytes(OTHER)
    r = ldprof("install", "--root", root)
    assert r.returncode == 0, r.stderr
    assert preload(root) == OTHER + LINE.encode() + b"\n"
    r = ldprof("status", "--root", root)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    lib = root / "usr/lib/ldprof"
    assert f"ours     line 5: {lib}/lib/x86_64-linux-gnu/libldprof.so: ok" in out, out
    assert "core" not in out, out
    for d in ("lib32", "lib/i386-linux-gnu", "lib"):
        assert f"stub     {lib}/{d}/libldprof.so: ok (" in out and f"$LIB = {d}: 32-bit" in out, out
    assert ldprof("install", "--root", root).stdout.endswith(b"is already there, nothing to do\n")
    r = ldprof("uninstall", "--root", root)
    assert r.returncode == 0 and preload(root) == OTHER


@pytest.mark.parametrize("before,after", [
    (OTHER + LIB.encode() + b"\n", OTHER + LINE.encode() + b"\n"),
    (b"/opt/old/libldprof.so\n" + OTHER + LIB.encode() + b"\n", LINE.encode() + b"\n" + OTHER),
    (OTHER + LINE.encode() + b"\n" + LIB.encode() + b"\n", OTHER + LINE.encode() + b"\n"),
])
def test_install_replaces_older_lines_of_ours(layout_root, before, after):
    """Older versions wrote the plain path: install puts the $LIB line in its place, and never
    leaves two lines of ours (each would load one more copy of the shim)."""
    (layout_root / "etc/ld.so.preload").write_bytes(before)
    r = ldprof("install", "--root", layout_root)
    assert r.returncode == 0, r.stderr
    assert b"replaced our older line with" in r.stdout, r.stdout
    assert preload(layout_root) == after
    assert (layout_root / "etc/ld.so.preload.ldprof-backup").read_bytes() == before


def test_uninstall_removes_the_lib_line_and_older_ones_only(layout_root):
    theirs = b"/usr/lib/a.so /usr/lib/ldprof/$LIB/libldprof.so\n"  # not a line install writes
    (layout_root / "etc/ld.so.preload").write_bytes(
        LIB.encode() + b"\n" + OTHER + theirs + b"  " + LINE.encode() + b"\t\n/usr/${LIB}/libldprof.so\n")
    r = ldprof("uninstall", "--root", layout_root)
    assert r.returncode == 0, r.stderr
    assert preload(layout_root) == OTHER + theirs


@pytest.mark.parametrize("stub", ["lib32", "lib/i386-linux-gnu", "lib"])
def test_refuses_a_stub_others_can_write(layout_root, stub):
    """32-bit root programs map the stub: it must be as safe as the shim."""
    os.chmod(layout_root / "usr/lib/ldprof" / stub / "libldprof.so", 0o666)
    r = ldprof("install", "--root", layout_root)
    assert r.returncode == 1 and b"other than root" in r.stderr and stub.encode() in r.stderr
    assert not (layout_root / "etc/ld.so.preload").exists()
    (layout_root / "etc/ld.so.preload").write_text(LINE + "\n")
    r = ldprof("status", "--root", layout_root)
    assert r.returncode == 1 and b"stub     " in r.stdout and b"UNSAFE" in r.stdout, r.stdout


def test_a_missing_stub_is_no_refusal(layout_root):
    """No stub for an ABI: its programs get one error line from their loader, as with the
    plain line (no worse than before); the 64-bit shim is what must be sound."""
    os.unlink(layout_root / "usr/lib/ldprof/lib32/libldprof.so")
    assert ldprof("install", "--root", layout_root).returncode == 0
    assert preload(layout_root) == LINE.encode() + b"\n"


def test_status_of_a_lib_line_without_the_64_bit_shim(layout_root):
    shutil.rmtree(layout_root / "usr/lib/ldprof/lib/x86_64-linux-gnu")
    (layout_root / "etc/ld.so.preload").write_text(LINE + "\n")
    r = ldprof("status", "--root", layout_root)
    assert r.returncode == 1
    assert (f"ours     line 1: {layout_root}/usr/lib/ldprof/lib/x86_64-linux-gnu/libldprof.so: MISSING"
            .encode() in r.stdout), r.stdout
    r = ldprof("install", "--root", layout_root)  # no 64-bit expansion: the plain path, which is a dangling link
    assert r.returncode == 1 and b"refusing" in r.stderr
