# SPDX-License-Identifier: MIT
"""`ldprof config check [--show] [FILE]` through the real binary: the broken INI files of
tests/configs/ (each must fail with its problem on the right line), the valid ones, the
documented default file config/ldprof.ini, the environment on top, and --show."""
import os
import re
import shutil
from pathlib import Path

import pytest

from agentlib import world  # noqa: F401  (a fixture)
from conftest import LDPROF, ROOT, clean_env, run

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]

CONFIGS = ROOT / "tests" / "configs"
DEFAULT_INI = ROOT / "config" / "ldprof.ini"


def check(*args, env=None, **extra_env):
    assert LDPROF.exists(), f"{LDPROF} is missing: run `make all`"
    e = env if env is not None else clean_env(**extra_env)
    r = run([str(LDPROF), "config", "check", *[str(a) for a in args]], env=e, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


# file -> [(line, text expected in that line's error)]
BROKEN = {
    "no_section.ini": [(3, 'key "hz" comes before any [section]')],
    "unknown_section.ini": [(4, "unknown section")],
    "unknown_key.ini": [(3, 'did you mean "endpoint"?')],
    "hz_abc.ini": [(2, 'hz = "abc" is not a whole number')],
    "hz_zero.ini": [(3, 'hz = "0" is out of range')],
    "hz_5000.ini": [(4, 'hz = "5000" is out of range')],
    "flush_10x.ini": [(3, 'flush_interval = "10x" is not a duration')],
    "max_bytes_negative.ini": [(3, 'max_bytes = "-1"')],
    "protocol_grpc.ini": [(3, 'protocol = "grpc" is not a protocol')],
    "endpoint_ftp.ini": [(2, "is not a file://, http:// or https:// URL")],
    "endpoint_empty.ini": [(3, 'endpoint = "" is empty')],
    "endpoint_relative.ini": [(2, "does not name an absolute folder")],
    "long_line.ini": [(2, "line is longer than 199 bytes")],
    "nul_bytes.ini": [(2, "NUL byte")],
    "random_bytes.ini": [(1, "cannot parse")],
    "unterminated_section.ini": [(3, "has no closing ']'")],
    "bad_labels.ini": [(3, "has an empty entry")],
    "agent_socket_relative.ini": [(3, 'socket = "run/ldprof/agent.sock" is not an absolute path')],
    "agent_cover_bad.ini": [(3, 'cover = "everything" is not registered or static')],
}

VALID = ["empty.ini", "comments_only.ini", "full.ini", "bom.ini", "duplicate_key.ini"]


def test_corpus_is_complete():
    on_disk = {p.name for p in CONFIGS.glob("*.ini")}
    assert on_disk == set(BROKEN) | set(VALID), "every file in tests/configs is checked here"


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file(name):
    rc, out, err = check(CONFIGS / name)
    assert rc == 1, err
    for line, text in BROKEN[name]:
        hits = [l for l in err.splitlines() if f"{name}:{line}: error: " in l]
        assert hits, f"no error on line {line}:\n{err}"
        assert any(text in h for h in hits), f"{text!r} not in line {line}'s errors:\n{err}"
    # every problem line has the documented shape
    for l in err.splitlines():
        if l.startswith(str(CONFIGS)):
            assert re.match(r"^.+:\d+: (error|warning): .+", l), l
    assert out == ""


def test_broken_file_hint():
    rc, _, err = check(CONFIGS / "flush_10x.ini")
    assert rc == 1
    assert "(hint: write a number with ms, s, m or h, from 100ms to 24h)" in err


def test_random_bytes_never_crash_and_are_bounded():
    rc, _, err = check(CONFIGS / "random_bytes.ini")
    assert rc == 1
    assert len(err.splitlines()) <= 53  # at most 50 problems, the "more than 50" line, summary


@pytest.mark.parametrize("name", VALID)
def test_valid_file(name):
    rc, out, err = check(CONFIGS / name)
    assert rc == 0, err
    assert "error" not in err
    assert out == ""


def test_duplicate_key_warns_and_the_later_wins():
    rc, out, err = check("--show", CONFIGS / "duplicate_key.ini")
    assert rc == 0, err
    assert "duplicate_key.ini:4: warning: hz is set again (first on line 2)" in err
    assert "\nhz = 250\n" in out


def test_bom_file_applies():
    rc, out, err = check("--show", CONFIGS / "bom.ini")
    assert rc == 0, err
    assert "\nhz = 49\n" in out


def test_documented_default_file(tmp_path):
    """config/ldprof.ini is valid, and uncommenting every key gives the defaults back."""
    rc, out, err = check("--show", DEFAULT_INI)
    assert rc == 0 and "warning" not in err, err
    _, defaults, _ = check("--show", CONFIGS / "empty.ini")
    assert out == defaults

    text = DEFAULT_INI.read_text()
    keys = re.findall(r"^#([a-z_]+) =", text, re.M)
    assert len(keys) == 43, keys  # every key of config.c's table (header shown as an example)
    uncommented = re.sub(r"^#([a-z_]+ =)", r"\1", text, flags=re.M)
    tmp = tmp_path / "uncommented.ini"
    tmp.write_text(uncommented)
    rc, out, err = check("--show", tmp)
    assert rc == 0 and "warning" not in err, err
    assert out.replace("header = X-Scope-OrgID: ***", "# header = (none)") == defaults


def test_show_round_trip(tmp_path):
    rc, out, err = check("--show", CONFIGS / "full.ini")
    assert rc == 0, err
    assert "endpoint = https://pyroscope.example:4040" in out
    assert "labels = env=prod,region=eu-west-1" in out
    p = tmp_path / "shown.ini"
    p.write_text(out)
    rc, out2, err = check("--show", p)
    assert rc == 0 and "warning" not in err, err
    assert out2 == out


def test_show_masks_headers():
    rc, out, err = check("--show", CONFIGS / "full.ini")
    assert rc == 0, err
    assert "header = X-Scope-OrgID: ***" in out
    assert "header = Authorization: ***" in out
    assert "tenant1" not in out and "c2VjcmV0" not in out
    assert "token_file = /etc/ldprof/token" in out


def check_as_nobody(world, name, env):
    """`ldprof config check --show` of CONFIGS/name as nobody, ldprof and the file copied where
    nobody can read them (the checkout may be root's alone)."""
    for src, mode in ((LDPROF, 0o755), (CONFIGS / name, 0o644)):
        shutil.copy(src, world / src.name)
        os.chmod(world / src.name, mode)
    r = run(NOBODY + [str(world / LDPROF.name), "config", "check", "--show", str(world / name)], env=env)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def test_env_overrides_shown(world):
    # a user's process takes every setting from its environment
    env = clean_env(LDPROF_OUTPUT_ENDPOINT="http://127.0.0.1:4040", LDPROF_OUTPUT_PROTOCOL="pyroscope",
                    LDPROF_LOG_FILE="/tmp/x.log")
    rc, out, err = check_as_nobody(world, "empty.ini", env)
    assert rc == 0, err
    assert "\nendpoint = http://127.0.0.1:4040\n" in out and "\nfile = /tmp/x.log\n" in out, out
    assert "\nprotocol = pyroscope\n" in out
    assert "LDPROF_OUTPUT_ENDPOINT" in err and "LDPROF_OUTPUT_PROTOCOL" in err  # says so
    assert "ignored" not in err, err

    # root's takes how, not where (issue 18, finding 8): the endpoint and log stay the file's
    rc, out, err = check("--show", CONFIGS / "empty.ini", env=env)
    assert rc == 0, err
    assert "\nendpoint = file:///var/lib/ldprof/profiles\n" in out and "\nfile =\n" in out, out
    assert "\nprotocol = pyroscope\n" in out
    assert "LDPROF_OUTPUT_ENDPOINT: warning: LDPROF_OUTPUT_ENDPOINT is ignored when running as root" in err, err
    assert "LDPROF_LOG_FILE: warning: LDPROF_LOG_FILE is ignored when running as root" in err, err

    # a header: a user's replaces the file's; root's keeps the file's
    env = clean_env(LDPROF_OUTPUT_PROTOCOL="pprof", LDPROF_SAMPLING_HZ="7",
                    LDPROF_OUTPUT_HEADER="X-Env: secret")
    rc, out, err = check_as_nobody(world, "full.ini", env)
    assert rc == 0, err
    assert "\nprotocol = pprof\n" in out and "\nhz = 7\n" in out
    assert "header = X-Env: ***" in out and "X-Scope-OrgID" not in out  # replaces the file's
    rc, out, err = check("--show", CONFIGS / "full.ini", env=env)
    assert rc == 0, err
    assert "\nprotocol = pprof\n" in out and "\nhz = 7\n" in out
    assert "header = X-Scope-OrgID: ***" in out and "X-Env" not in out, out
    assert "LDPROF_OUTPUT_HEADER is ignored when running as root" in err, err


def test_env_errors_and_warnings():
    rc, _, err = check(CONFIGS / "empty.ini", LDPROF_SAMPLING_HZ="abc")
    assert rc == 1
    assert 'LDPROF_SAMPLING_HZ: error: hz = "abc" is not a whole number' in err

    rc, _, err = check(CONFIGS / "empty.ini", LDPROF_OUTPUT_ENDPIONT="http://x")
    assert rc == 0, err
    assert "LDPROF_OUTPUT_ENDPIONT: warning:" in err and "LDPROF_OUTPUT_ENDPOINT?" in err

    rc, _, err = check(CONFIGS / "empty.ini", LDPROF_DISABLED="1")
    assert rc == 0 and "LDPROF_DISABLED" in err, err


def test_ldprof_config_variable(tmp_path):
    rc, out, err = check("--show", LDPROF_CONFIG=str(CONFIGS / "bom.ini"))
    assert rc == 0, err
    assert "\nhz = 49\n" in out
    rc, _, err = check(LDPROF_CONFIG=str(CONFIGS / "hz_abc.ini"))
    assert rc == 1 and "hz_abc.ini:2: error:" in err
    missing = tmp_path / "missing.ini"
    rc, _, err = check(LDPROF_CONFIG=str(missing))
    assert rc == 1 and f"{missing}: error: cannot read" in err


def test_missing_files(tmp_path):
    missing = tmp_path / "nope.ini"
    rc, _, err = check(missing)
    assert rc == 1 and f"{missing}: error:" in err
    rc, _, err = check(tmp_path)
    assert rc == 1 and "not a regular file" in err

    rc, out, err = check("--show")
    if Path("/etc/ldprof/ldprof.ini").exists():
        assert "/etc/ldprof/ldprof.ini" in err or rc == 0, err
    else:
        assert rc == 0, err
        assert "no config file at /etc/ldprof/ldprof.ini, defaults apply" in err
        assert "\nhz = 99\n" in out


def test_usage():
    assert check("--bogus")[0] == 2
    assert check("a.ini", "b.ini")[0] == 2
    r = run([str(LDPROF), "config"], env=clean_env(), timeout=30)
    assert r.returncode == 2
    r = run([str(LDPROF), "config", "frobnicate"], env=clean_env(), timeout=30)
    assert r.returncode == 2
    rc, out, _ = check("--help")
    assert rc == 0 and "config check" in out
