# SPDX-License-Identifier: MIT
"""Delivery end to end: real programs under `ldprof run`, a config file naming a real HTTP(S)
receiver on 127.0.0.1 (tests/receiver.py), libcurl in `ldprof run`'s collector (never in the
profiled process), the spool, and `ldprof flush`.

What must hold whatever the endpoint does: the program's output, exit status and timing stay
its own, and every profile it made is either delivered or in the spool (never lost, never
delivered twice), except where the endpoint refused it (4xx), which is logged.
"""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import LDPROF, Profile, clean_env, ldprof_for_all, prog, run, shared_folder
from receiver import Receiver, decode_with_go, make_ca_and_cert

EXIT_LINE = re.compile(r"exit: (\d+) profiles")
DELIVERY = re.compile(r"delivery: (\d+) sent, (\d+) sent from the spool, (\d+) files, (\d+) spooled, "
                      r"(\d+) dropped from a full spool, (\d+) refused, (\d+) lost, (\d+) retries")


def write_config(path, endpoint, **sections):
    """An INI file: [output] endpoint plus the given {section: {key: value}}."""
    sections.setdefault("output", {})["endpoint"] = endpoint
    lines = []
    for sec, kv in sections.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {v}" for k, v in kv.items()]
    Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def base_config(tmp, endpoint, flush="1s", **extra):
    secs = {"sampling": {"hz": "199", "flush_interval": flush},
            "output": {"protocol": "pyroscope", "retries": "1", "backoff": "100ms",
                       "backoff_max": "200ms", "timeout": "2s", "connect_timeout": "1s"},
            "service": {"name": "shiptest", "labels": "env=test,team=perf"},
            "spool": {"dir": str(tmp / "spool"), "max_bytes": "64M"},
            "log": {"level": "info", "file": str(tmp / "ldprof.log")}}
    for k, v in extra.items():
        sec, key = k.split("__")
        secs.setdefault(sec, {})[key] = v
    return write_config(tmp / "ldprof.ini", endpoint, **secs)


def ldprof_cfg(cfg, args, timeout=60, env=None, input=None):
    return run([str(LDPROF), "run", "--config", cfg, "--"] + [str(a) for a in args],
               timeout=timeout, env=env, input=input)


def delivery(log_text):
    """Totals of every process's delivery line in the log: dict of counters."""
    keys = ("sent", "sent_spooled", "files", "spooled", "spool_dropped", "refused", "lost", "retries")
    tot = dict.fromkeys(keys, 0)
    made = sum(int(m[1]) for m in EXIT_LINE.finditer(log_text))
    for m in DELIVERY.finditer(log_text):
        for k, v in zip(keys, m.groups()):
            tot[k] += int(v)
    tot["made"] = made
    return tot


def spool_files(tmp):
    d = tmp / "spool"
    return sorted(p for p in d.iterdir() if p.name.endswith(".ldps")) if d.is_dir() else []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


# ------------------------------------------------------------------------------ arriving

def test_pyroscope_profiles_arrive_with_name_labels_window_and_content(tmp):
    with Receiver(tmp / "rx") as rx:
        cfg = base_config(tmp, rx.url)
        t0 = time.time()
        p = ldprof_cfg(cfg, [prog("burn"), "2500"])
        t1 = time.time()
        assert p.returncode == 0, p.stderr
        recs = rx.records()
    log = (tmp / "ldprof.log").read_text()
    d = delivery(log)
    assert d["made"] >= 2 and d["sent"] == d["made"] == len(recs), (d, log)
    assert d["spooled"] == d["lost"] == 0
    total = 0
    for r in recs:
        assert r["protocol"] == "pyroscope"
        assert r["service"] == "shiptest"
        lb = r["labels"]
        assert lb["env"] == "test" and lb["team"] == "perf"
        assert lb["hostname"] == socket.gethostname()
        assert lb["comm"] == "burn" and lb["exe"].endswith("/burn")
        assert re.fullmatch(r"[0-9a-f]{40}", lb["build_id"]), lb
        assert int(lb["pid"]) > 0
        assert t0 - 1 <= r["from"] <= r["until"] <= t1 + 1, (r, t0, t1)
        prof = Profile(Path(r["pb"]).read_bytes())
        total += prof.total()
        decode_with_go(r["pb"])
    # windows follow each other: each profile starts where the one before ended
    spans = sorted((r["from"], r["until"]) for r in recs)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 >= a1 - 1
    hits = sum(1 for r in recs for s in Profile(Path(r["pb"]).read_bytes()).samples
               if "burn_loop" in Profile(Path(r["pb"]).read_bytes()).frames(s))
    assert hits > 0 and total >= 2.5 * 199 * 0.8, total


def test_no_process_of_the_tree_sends_the_collector_sends_for_all(tmp):
    # No process of the tree starts a sender thread: the collector's sender sends for all of
    # them, the parent's windows while it runs (it is past a flush before it forks), and the
    # forked child's profile whole.
    with Receiver(tmp / "rx") as rx:
        cfg = base_config(tmp, rx.url, flush="1s", log__level="debug")
        p = ldprof_cfg(cfg, [prog("forkexec"), "burnfork", "400"])
        assert p.returncode == 0, p.stderr
        recs = rx.records()
    m = re.search(rb"forkexec: parent=(\d+) child=(\d+)", p.stdout)
    assert m, p.stdout
    parent, child = int(m.group(1)), int(m.group(2))
    log = (tmp / "ldprof.log").read_text()
    started = re.findall(r"ldprof\[(\d+)\]: debug: sender thread started", log)
    assert started == [], log
    assert re.search(r"\]: info: active pid=%d " % parent, log), log
    pids = [int(r["labels"]["pid"]) for r in recs]
    assert pids.count(child) >= 1 and pids.count(parent) >= 2, (pids, log)
    # the collector's windows follow the wall clock: a loaded host may stretch the child's 400 ms
    # of CPU over two; whole either way (199 Hz)
    got = sum(Profile(Path(r["pb"]).read_bytes()).total() for r in recs if int(r["labels"]["pid"]) == child)
    assert 0.8 * 0.4 * 199 <= got <= 1.1 * 0.4 * 199 + 2, (got, pids)
    d = delivery(log)
    assert d["sent"] == d["made"] == len(recs) and d["spooled"] == d["lost"] == 0, (d, log)


def test_parca_protocol(tmp):
    with Receiver(tmp / "rx") as rx:
        cfg = base_config(tmp, rx.url, output__protocol="parca")
        p = ldprof_cfg(cfg, [prog("burn"), "600"])
        assert p.returncode == 0
        recs = rx.records()
    assert recs and all(r["protocol"] == "parca" for r in recs)
    assert all(r["labels"]["__name__"] == "process_cpu" and r["labels"]["service_name"] == "shiptest"
               for r in recs), recs[0]["labels"]
    decode_with_go(recs[0]["pb"])


def test_https_with_private_ca(tmp):
    certs = make_ca_and_cert(tmp / "certs")
    with Receiver(tmp / "rx", tls=(certs["cert"], certs["key"])) as rx:
        cfg = base_config(tmp, rx.url, tls__ca_file=certs["ca"])
        p = ldprof_cfg(cfg, [prog("burn"), "600"])
        assert p.returncode == 0
        assert rx.records(), (tmp / "ldprof.log").read_text()
        # without the CA the server is not trusted: nothing is sent, nothing is lost
        cfg = base_config(tmp, rx.url)
        before = len(rx.records())
        p = ldprof_cfg(cfg, [prog("burn"), "300"])
        assert p.returncode == 0
        assert len(rx.records()) == before
    d = delivery((tmp / "ldprof.log").read_text().split("tls:", 1)[-1])
    assert len(spool_files(tmp)) >= 1
    assert "tls:" in (tmp / "ldprof.log").read_text()
    assert d["lost"] == 0


def test_bad_token_is_refused_once_per_profile_and_logged(tmp):
    (tmp / "token").write_text("wrong-token\n")
    with Receiver(tmp / "rx", token="right-token") as rx:
        cfg = base_config(tmp, rx.url, output__token_file=str(tmp / "token"), output__retries="5")
        ref = run([prog("output"), "exit", "3"])
        p = ldprof_cfg(cfg, [prog("output"), "exit", "3"])
        assert (p.returncode, p.stdout, p.stderr) == (ref.returncode, ref.stdout, ref.stderr)
        p = ldprof_cfg(cfg, [prog("burn"), "1500"])
        assert p.returncode == 0
        st = rx.stats()
    log = (tmp / "ldprof.log").read_text()
    d = delivery(log)
    # each profile was asked once: a 401 is not retried
    assert d["refused"] >= 1 and st["rejected"] == d["refused"] == st["requests"], (d, st)
    assert d["retries"] == 0 and not spool_files(tmp)
    refusals = re.findall(r"ldprof\[(\d+)\]: error: endpoint .* refused a profile with HTTP 401", log)
    assert refusals and len(refusals) == len(set(refusals)), log  # logged once per process
    assert "invalid token" in log

    # the right token goes through
    (tmp / "token").write_text("right-token\n")
    with Receiver(tmp / "rx2", token="right-token") as rx:
        cfg = base_config(tmp, rx.url, output__token_file=str(tmp / "token"))
        ldprof_cfg(cfg, [prog("burn"), "300"])
        assert rx.records()


# ------------------------------------------------------------------------------ failing

def test_endpoint_down_then_back_every_profile_once(tmp):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = base_config(tmp, url)
    for _ in range(2):
        p = ldprof_cfg(cfg, [prog("burn"), "1200"])
        assert p.returncode == 0
    d = delivery((tmp / "ldprof.log").read_text())
    files = spool_files(tmp)
    assert d["made"] >= 3 and d["spooled"] == d["made"] == len(files) and d["lost"] == 0, d
    with Receiver(tmp / "rx", port=port) as rx:
        f = run([str(LDPROF), "flush", "--config", cfg])
        assert f.returncode == 0, f.stdout + f.stderr
        assert f"sent {len(files)} spooled profile" in f.stdout.decode()
        recs = rx.records()
        again = run([str(LDPROF), "flush", "--config", cfg])
        assert again.returncode == 0 and len(rx.records()) == len(recs)
    assert len(recs) == len(files) and not spool_files(tmp)
    keys = {hashlib.sha256(Path(r["pb"]).read_bytes()).hexdigest() for r in recs}
    assert len(keys) == len(recs), "a profile arrived twice"
    for r in recs:
        decode_with_go(r["pb"])


def test_next_process_that_ships_drains_the_spool(tmp):
    port = free_port()
    cfg = base_config(tmp, f"http://127.0.0.1:{port}")
    ldprof_cfg(cfg, [prog("burn"), "800"])
    spooled = len(spool_files(tmp))
    assert spooled >= 1
    with Receiver(tmp / "rx", port=port) as rx:
        p = ldprof_cfg(cfg, [prog("burn"), "2500"])
        assert p.returncode == 0
        recs = rx.records()
    d = delivery((tmp / "ldprof.log").read_text())
    assert d["sent_spooled"] == spooled and not spool_files(tmp), d
    assert len(recs) == d["sent"] + d["sent_spooled"]


@pytest.mark.parametrize("mode", ["status=500", "status=429", "reset", "garbage"])
def test_failing_endpoint_program_unchanged_profiles_spooled(tmp, mode):
    with Receiver(tmp / "rx", mode=mode) as rx:
        cfg = base_config(tmp, rx.url)
        ref = run([prog("output"), "exit", "7"], input=b"some input\n")
        p = ldprof_cfg(cfg, [prog("output"), "exit", "7"], input=b"some input\n")
        assert (p.returncode, p.stdout, p.stderr) == (ref.returncode, ref.stdout, ref.stderr)
        p = ldprof_cfg(cfg, [prog("burn"), "1500"])
        assert p.returncode == 0
        st = rx.stats()
    d = delivery((tmp / "ldprof.log").read_text())
    assert st["received"] == 0
    assert d["sent"] == 0 and d["lost"] == 0 and d["spooled"] == d["made"] >= 1, d
    assert len(spool_files(tmp)) == d["spooled"]
    assert st["requests"] >= 1


def test_slow_endpoint_does_not_slow_the_program(tmp):
    """A receiver that takes 5 s per answer: the program's run time is its own plus at most
    the exit bound (200 ms) and the abort of the send in flight."""
    t = time.monotonic()
    run([prog("burn"), "1500"])
    base = time.monotonic() - t
    with Receiver(tmp / "rx", mode="slow=5") as rx:
        cfg = base_config(tmp, rx.url, output__timeout="10s")
        t = time.monotonic()
        p = ldprof_cfg(cfg, [prog("burn"), "1500"])
        took = time.monotonic() - t
        assert p.returncode == 0
    d = delivery((tmp / "ldprof.log").read_text())
    assert took < base + 1.0, (took, base)
    # nothing lost: what the receiver did not answer in time is in the spool
    assert d["lost"] == 0 and d["spooled"] >= 1, d


def test_exit_is_bounded_with_an_endpoint_that_never_answers(tmp):
    """A listening socket nobody accepts on: connect succeeds, no answer ever comes."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        cfg = base_config(tmp, f"http://127.0.0.1:{s.getsockname()[1]}", sampling__flush_interval="10s",
                          output__timeout="30s")
        t = time.monotonic()
        run([prog("burn"), "300"])
        base = time.monotonic() - t
        t = time.monotonic()
        p = ldprof_cfg(cfg, [prog("burn"), "300"])
        took = time.monotonic() - t
    finally:
        s.close()
    assert p.returncode == 0
    d = delivery((tmp / "ldprof.log").read_text())
    assert d["made"] == 1 and d["spooled"] == 1, d
    assert took < base + 0.2 + 0.3, (took, base)  # exit_timeout plus scheduling slack


# ------------------------------------------------------------------------------ the spool

def test_two_processes_drain_one_spool_each_profile_once(tmp):
    port = free_port()
    cfg = base_config(tmp, f"http://127.0.0.1:{port}", sampling__flush_interval="200ms")
    ldprof_cfg(cfg, [prog("hot2"), "1500"])
    n = len(spool_files(tmp))
    assert n >= 10, n
    with Receiver(tmp / "rx", port=port) as rx:
        env = clean_env()
        procs = [subprocess.Popen([str(LDPROF), "flush", "--config", cfg], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        recs = rx.records()
    sent = [int(re.search(rb"sent (\d+) spooled", o[0])[1]) for o in outs]
    assert sum(sent) == n == len(recs), (sent, n, len(recs), outs)
    keys = {hashlib.sha256(Path(r["pb"]).read_bytes()).hexdigest() for r in recs}
    assert len(keys) == n, "a profile arrived twice"
    assert not spool_files(tmp)


def test_spool_full_drops_oldest_and_counts(tmp):
    port = free_port()
    cfg = base_config(tmp, f"http://127.0.0.1:{port}", sampling__flush_interval="200ms",
                      spool__max_bytes="8K")
    ldprof_cfg(cfg, [prog("hot2"), "2000"])
    files = spool_files(tmp)
    size = sum(f.stat().st_size for f in files)
    d = delivery((tmp / "ldprof.log").read_text())
    assert size <= 8 * 1024, size
    assert d["spool_dropped"] >= 1 and d["spooled"] == d["made"], d
    assert d["spooled"] - d["spool_dropped"] == len(files), (d, len(files))
    assert "spool" in (tmp / "ldprof.log").read_text() and "full" in (tmp / "ldprof.log").read_text()


# ------------------------------------------------------------------------------ configuration

BROKEN = {
    "unknown_key.ini": "[output]\nendpiont = http://127.0.0.1:1\n",
    "bad_hz.ini": "[sampling]\nhz = lots\n",
    "no_section.ini": "hz = 99\n",
    "binary.ini": "[sampling]\nhz = 9\x00\xff\n",
    "huge_line.ini": "[service]\nname = " + "x" * 5000 + "\n",
    "bad_protocol.ini": "[output]\nendpoint = http://127.0.0.1:1\nprotocol = grpc\n",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_config_program_unchanged_shim_off_one_line(tmp, name):
    cfg = tmp / name
    log = tmp / "ldprof.log"
    # as root, places come from the (here broken) file only, never from the environment: -o
    # cannot reach CMD through a config with errors, so the file names the folder and the log
    (tmp / "out").mkdir()
    cfg.write_bytes((BROKEN[name] + f"\n[output]\nendpoint = file://{tmp}/out\n[log]\nfile = {log}\n")
                    .encode("latin-1"))
    env = clean_env()
    ref = run([prog("output"), "exit", "5"], input=b"abc")
    p = run([str(LDPROF), "run", "--config", str(cfg), "-o", str(tmp / "out"), "--",
             prog("output"), "exit", "5"], input=b"abc", env=env)
    assert (p.returncode, p.stdout) == (ref.returncode, ref.stdout)
    # the program's own stderr is unchanged; ldprof run itself says why it did not profile
    assert p.stderr.endswith(ref.stderr)
    assert b"ldprof run: the configuration has" in p.stderr
    lines = [l for l in log.read_text().splitlines() if "staying off" in l]
    assert len(lines) == 1 and name in lines[0], log.read_text()
    assert not list((tmp / "out").glob("*.pb.gz"))


def test_env_overrides_point_one_process_at_a_receiver(tmp):
    """The environment chooses the protocol and the name; the endpoint, as root, only the file."""
    with Receiver(tmp / "rx") as rx:
        env = clean_env(LDPROF_OUTPUT_PROTOCOL="pyroscope", LDPROF_SERVICE_NAME="from-env",
                        LDPROF_CONFIG=str(tmp / "none.ini"))
        (tmp / "none.ini").write_text(f"[output]\nendpoint = {rx.url}\nprotocol = pprof\n")
        p = run([str(LDPROF), "run", "--", prog("burn"), "300"], env=env)
        assert p.returncode == 0
        recs = rx.records()
    assert recs and recs[0]["service"] == "from-env"


def test_memory_bound_sends_the_oldest_to_the_spool_while_running(tmp):
    """An endpoint that never answers and a queue of 64 KiB: profiles pile up in memory only to
    the bound, the rest reach the spool while the program still runs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    try:
        cfg = base_config(tmp, f"http://127.0.0.1:{s.getsockname()[1]}", sampling__flush_interval="100ms",
                          output__timeout="60s", output__queue_max_bytes="64K", output__retries="0")
        env = clean_env()
        p = subprocess.Popen([str(LDPROF), "run", "--config", cfg, "--", prog("hot2"), "4000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        seen_running = 0
        while p.poll() is None:
            seen_running = max(seen_running, len(spool_files(tmp)))
            time.sleep(0.05)
        p.communicate(timeout=60)
    finally:
        s.close()
    assert p.returncode == 0
    d = delivery((tmp / "ldprof.log").read_text())
    assert seen_running >= 1, "nothing was spooled before exit: the queue is not bounded"
    assert d["lost"] == 0 and d["spooled"] == d["made"] == len(spool_files(tmp)), d


def test_users_spool_into_their_own_folders_and_root_flush_drains_them():
    """A shared spool (root's, mode 1733, as packaged): a user's process spools into a folder of
    its own; root's `ldprof flush` (the packaged timer) sends every user's profiles."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-spool-"))
    try:
        os.chmod(d, 0o755)
        base = shared_folder(d, "spool")
        port = free_port()
        cfg = write_config(d / "ldprof.ini", f"http://127.0.0.1:{port}",
                           sampling={"hz": "199", "flush_interval": "1s"},
                           output={"protocol": "pyroscope", "retries": "0", "timeout": "1s"},
                           spool={"dir": str(base)})
        os.chmod(cfg, 0o644)
        # the user's `ldprof run`: its collector spools as the user
        cli = ldprof_for_all(d, ["burn"])
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cli, "run",
                            "--config", cfg, "--", str(d / "bin" / "burn"), "600"],
                           env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert (p.returncode, p.stderr) == (0, b""), p
        ud = base / "65534"
        files = sorted(ud.glob("*.ldps"))
        assert files and ud.stat().st_uid == 65534 and (ud.stat().st_mode & 0o777) == 0o700
        assert all(f.stat().st_uid == 65534 and (f.stat().st_mode & 0o777) == 0o600 for f in files)
        assert not list(base.glob("*.ldps")), "a user's profile in the shared folder itself"
        # and a file of the user's own making that claims to come from elsewhere (issue 18,
        # finding 5): root's flush sends it as the user's, with this host's name
        planted = plant_spool_file(files[0], ud, {"hostname": "db-prod-1", "uid": "0",
                                                  "exe": "/usr/sbin/sshd"})
        with Receiver(d / "rx", port=port) as rx:
            f = run([str(LDPROF), "flush", "--config", cfg])
            assert f.returncode == 0, f.stdout + f.stderr
            recs = rx.records()
        assert len(recs) == len(files) + 1 and not list(ud.glob("*.ldps"))
        assert all(r["labels"]["comm"] == "burn" for r in recs)
        host = socket.gethostname()
        assert all(r["labels"]["hostname"] == host and r["labels"]["uid"] == "65534" for r in recs), \
            [r["labels"] for r in recs]
        assert sum(r["labels"].get("exe") == "/usr/sbin/sshd" for r in recs) == 1, planted
    finally:
        shutil.rmtree(d)


def plant_spool_file(model, folder, labels):
    """A spool file made by hand from model (zstd, then the LDPSPOOL1 header) with some labels
    changed, put into folder as its owner would; returns its path."""
    raw = subprocess.run(["zstd", "-dc", str(model)], stdout=subprocess.PIPE, check=True).stdout
    head, body = raw.split(b"\n\n", 1)
    lines = [l for l in head.split(b"\n") if not any(l.startswith(f"label={k}=".encode()) for k in labels)]
    lines += [f"label={k}={v}".encode() for k, v in labels.items()]
    st = folder.stat()
    path = folder / ("9" + model.name[1:])
    plain = folder.parent / "plain.tmp"
    plain.write_bytes(b"\n".join(lines) + b"\n\n" + body)
    # from a file, so that the frame carries its content size (spool.c requires it)
    packed = subprocess.run(["zstd", "-c", "-q", str(plain)], stdout=subprocess.PIPE, check=True).stdout
    plain.unlink()
    path.write_bytes(packed)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, 0o600)
    return path


def test_root_flush_never_lends_its_token_to_a_users_spool():
    """Issue 18, finding 5: root's flush sent the profiles a user had spooled (or made by hand)
    with root's bearer token. With a token_file, a user's folder is now left for that user's
    own flush; root's own profiles still go, with the token."""
    d = Path(tempfile.mkdtemp(prefix="ldprof-spool-"))
    try:
        os.chmod(d, 0o755)
        base = shared_folder(d, "spool")
        token = d / "token"
        token.write_text("s3cret\n")
        os.chmod(token, 0o600)
        port = free_port()
        cfg = write_config(d / "ldprof.ini", f"http://127.0.0.1:{port}",
                           sampling={"hz": "199", "flush_interval": "1s"},
                           output={"protocol": "pyroscope", "retries": "0", "timeout": "1s",
                                   "token_file": str(token)},
                           spool={"dir": str(base)})
        os.chmod(cfg, 0o644)
        # each user's `ldprof run`: its collector spools as that user
        cli = ldprof_for_all(d, ["burn"])
        for who in (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], []):
            p = subprocess.run(who + [cli, "run", "--config", cfg, "--", str(d / "bin" / "burn"), "300"],
                               env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            assert (p.returncode, p.stderr) == (0, b""), p
        users, roots = sorted((base / "65534").glob("*.ldps")), sorted((base / "0").glob("*.ldps"))
        assert users and roots
        with Receiver(d / "rx", port=port, token="s3cret") as rx:
            f = run([str(LDPROF), "flush", "--config", cfg])
            recs = rx.records()
        out = f.stdout.decode()
        assert f"not sending the {len(users)} profile" in out and "of uid 65534" in out, out
        assert f.returncode == 1, out  # profiles are left: the timer's run says so
        assert len(recs) == len(roots), recs
        assert sorted((base / "65534").glob("*.ldps")) == users, "the user's files stay"
        assert not list((base / "0").glob("*.ldps"))
    finally:
        shutil.rmtree(d)
