# SPDX-License-Identifier: MIT
"""Runs every C unit test (build/tests/unit/test_*, ASan/UBSan) and every fuzz target's replay
driver (build/tests/fuzz/*-replay) on its corpus tests/fuzz/corpus/<name>, one pytest test each."""
import os
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, run

UNIT_SRC = sorted((ROOT / "tests" / "unit").glob("test_*.c"))
FUZZ_SRC = sorted((ROOT / "tests" / "fuzz").glob("fuzz_*.c"))
SAN_ENV = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "LDPROF_"))}
    env.update(SAN_ENV)
    return env


# one test per source file, so a unit test that failed to build is a failing test, not a missing one
@pytest.mark.parametrize("src", UNIT_SRC, ids=[p.stem for p in UNIT_SRC])
def test_unit(src):
    binary = BUILD / "tests" / "unit" / src.stem
    assert binary.exists(), f"{binary} not built (make test-bins)"
    r = run([str(binary)], env=_env(), timeout=120, cwd=str(ROOT))
    assert r.returncode == 0, (r.stdout.decode(errors="replace")[-3000:] + "\n" +
                               r.stderr.decode(errors="replace")[-3000:])


@pytest.mark.parametrize("src", FUZZ_SRC, ids=[p.stem for p in FUZZ_SRC])
def test_fuzz_replay(src):
    binary = BUILD / "tests" / "fuzz" / f"{src.stem}-replay"
    corpus = ROOT / "tests" / "fuzz" / "corpus" / src.stem
    assert binary.exists(), f"{binary} not built (make test-bins)"
    assert corpus.is_dir() and any(corpus.iterdir()), f"no seed corpus in {corpus}"
    r = run([str(binary), str(corpus)], env=_env(), timeout=180, cwd=str(ROOT))
    assert r.returncode == 0, (r.stdout.decode(errors="replace")[-3000:] + "\n" +
                               r.stderr.decode(errors="replace")[-3000:])


def test_unit_and_fuzz_sources_exist():
    assert UNIT_SRC, "no tests/unit/test_*.c"
    assert FUZZ_SRC, "no tests/fuzz/fuzz_*.c"
