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

from conftest import CORE, LDPROF, SHIM, run

LIB = "/usr/lib/ldprof/libldprof.so"
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
