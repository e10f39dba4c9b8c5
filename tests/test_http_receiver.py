# SPDX-License-Identifier: MIT
"""common/http.c against a real HTTP(S) receiver (tests/receiver.py): what arrives at Pyroscope's,
Parca's and a plain endpoint, TLS with a private CA and client certificates, bearer tokens, and
every kind of failure sorted as the delivery engine needs it (delivered, retry later, rejected).

The C side is the driver build/tests/tools/http_send (tests/tools/http_send.c), one
ldp_http_send() per run with every signal blocked, as on the shim's background thread. Its exit
status: 0 delivered, 2 retryable, 3 rejected, 4 no libcurl, 5 SIGPIPE left pending. The profile
sent is made by ldprof's own pprof writer (http_send --write-pprof), and what the receiver
stored is compared byte for byte and handed to `go tool pprof`.
"""
import gzip
import json
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import BUILD, PYTHON, ROOT, Profile, clean_env, run
from receiver import Receiver, decode_with_go, make_ca_and_cert

HTTP_SEND = BUILD / "tests" / "tools" / "http_send"
RESULT = re.compile(r"^rc=(-?\d+) status=(\d+) safe_at_exit=([01]) message=(.*)$")
WINDOW = (1700000000_200000000, 1700000010_700000000)


class Sent:
    def __init__(self, proc, elapsed):
        self.code = proc.returncode
        self.elapsed = elapsed
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.results = [RESULT.match(l) for l in self.stdout.splitlines()]
        assert self.results and all(self.results), f"unexpected output: {self.stdout!r}"
        m = self.results[0]
        self.rc, self.status, self.safe_at_exit, self.message = \
            int(m[1]), int(m[2]), int(m[3]), m[4]

    def __repr__(self):
        return f"exit {self.code}, {self.stdout!r}, stderr {self.stderr!r}"


def send(endpoint, protocol, pprof, *opts, compression="gzip", labels=None, timeout=30):
    """Runs the driver once; libcurl must never print anything."""
    assert HTTP_SEND.exists(), f"{HTTP_SEND} is missing: run `make test-bins`"
    labels = {"service_name": "svc", "env": "test"} if labels is None else labels
    cmd = [str(HTTP_SEND), *opts, "--window", f"{WINDOW[0]},{WINDOW[1]}", endpoint, protocol,
           compression, str(pprof)] + [f"{k}={v}" for k, v in labels.items()]
    t0 = time.monotonic()
    r = run(cmd, timeout=timeout, env=clean_env())
    s = Sent(r, time.monotonic() - t0)
    assert s.stderr == "", f"something printed on stderr: {s!r}"
    assert s.code != 5, f"a SIGPIPE was left pending: {s!r}"
    return s


@pytest.fixture(scope="module")
def pprof(module_outdir):
    """A real CPU profile made by ldprof's pprof writer: (path of the .pb.gz, raw bytes)."""
    assert HTTP_SEND.exists(), f"{HTTP_SEND} is missing: run `make test-bins`"
    d = module_outdir("input")
    path = d / "input.pb.gz"
    r = run([str(HTTP_SEND), "--write-pprof", str(path)])
    assert r.returncode == 0, r.stderr
    raw = gzip.decompress(path.read_bytes())
    assert Profile(raw).samples
    return path, raw


@pytest.fixture(scope="module")
def certs(module_outdir):
    return make_ca_and_cert(module_outdir("tls"))


@pytest.fixture
def receiver(outdir):
    """An HTTP receiver for one test; its folder is outdir/recv."""
    with Receiver(outdir / "recv") as r:
        yield r


def one_record(rec):
    recs = rec.records()
    assert len(recs) == 1, recs
    return recs[0]


def set_mode(rec, mode):
    """Changes the running receiver's behaviour the way an outside test would: over HTTP."""
    req = urllib.request.Request(f"{rec.url}/_control?mode={mode}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# delivered: what each protocol's server receives

def test_pyroscope(receiver, pprof):
    s = send(receiver.url + "/", "pyroscope", pprof[0],
             labels={"service_name": "my-svc", "env": "prod", "pid": "4242", "my.key": "a b/c"})
    assert s.code == 0 and s.rc == 0 and s.status == 200, s
    r = one_record(receiver)
    assert r["protocol"] == "pyroscope" and r["path"] == "/ingest"
    assert r["service"] == "my-svc"
    assert r["labels"] == {"env": "prod", "pid": "4242", "my_key": "a b/c"}
    assert (r["from"], r["until"]) == (1700000000, 1700000011)  # floor, ceiling: covers it
    assert r["sample_rate"] == 99 and r["spy_name"] == "ldprof"
    assert r["headers"]["content-type"] == "application/octet-stream"
    assert r["headers"]["user-agent"] == "ldprof/0.1"
    assert "content-encoding" not in r["headers"] and "expect" not in r["headers"]
    assert r["pprof_gzip"], "Pyroscope gets the .pb.gz form by default"
    pb = open(r["pb"], "rb").read()
    assert pb == pprof[1]
    out = decode_with_go(r["pb"])
    assert "hot_loop" in out and "samples/count cpu/nanoseconds" in out


def test_parca(receiver, pprof):
    s = send(receiver.url, "parca", pprof[0],
             labels={"service_name": "svc", "comm": 'we"ird\\name', "host": "h1"})
    assert s.code == 0, s
    r = one_record(receiver)
    assert r["protocol"] == "parca" and r["path"] == "/api/profiles/writeraw"
    assert r["labels"] == {"__name__": "process_cpu", "service_name": "svc",
                           "comm": 'we"ird\\name', "host": "h1"}
    assert r["headers"]["content-type"] == "application/json"
    assert r["pprof_gzip"]
    assert open(r["pb"], "rb").read() == pprof[1]
    decode_with_go(r["pb"])


def test_plain_pprof_endpoint(receiver, pprof):
    s = send(receiver.url + "/upload/here", "pprof", pprof[0],
             labels={"service_name": "svc", "exe": "/usr/bin/a b,c=d"})
    assert s.code == 0, s
    r = one_record(receiver)
    assert r["protocol"] == "pprof" and r["path"] == "/upload/here"
    assert r["labels"] == {"service_name": "svc", "exe": "/usr/bin/a b,c=d"}
    assert r["headers"]["x-ldprof-labels"] == "service_name=svc,exe=%2Fusr%2Fbin%2Fa%20b%2Cc%3Dd"
    assert open(r["pb"], "rb").read() == pprof[1]
    decode_with_go(r["pb"])


@pytest.mark.parametrize("protocol", ["pyroscope", "parca", "pprof"])
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_every_compression(receiver, pprof, protocol, compression):
    s = send(receiver.url, protocol, pprof[0], compression=compression)
    assert s.code == 0, s
    r = one_record(receiver)
    assert r["content_encoding"] == ("zstd" if compression == "zstd" else None)
    # zstd and none: the profile inside is raw, except that Parca keeps nothing but its JSON
    assert r["pprof_gzip"] == (compression == "gzip")
    assert open(r["pb"], "rb").read() == pprof[1]


def test_configured_headers_are_sent(receiver, pprof):
    s = send(receiver.url, "pyroscope", pprof[0], "--header", "X-Scope-OrgID: tenant-1",
             "--header", "User-Agent: custom/1")
    assert s.code == 0, s
    h = one_record(receiver)["headers"]
    assert h["x-scope-orgid"] == "tenant-1"
    assert h["user-agent"] == "custom/1", "a configured header replaces ours, not doubles it"


# ---------------------------------------------------------------------------------------------
# TLS

@pytest.fixture
def tls_receiver(outdir, certs):
    with Receiver(outdir / "recv", tls=(certs["cert"], certs["key"])) as r:
        yield r


def test_https_with_private_ca(tls_receiver, certs, pprof):
    assert tls_receiver.url.startswith("https://")
    s = send(tls_receiver.url, "pyroscope", pprof[0], "--ca", certs["ca"])
    assert s.code == 0, s
    assert open(one_record(tls_receiver)["pb"], "rb").read() == pprof[1]


def test_https_unknown_ca_is_retryable_and_says_tls(tls_receiver, pprof):
    s = send(tls_receiver.url, "pyroscope", pprof[0])
    assert s.code == 2 and s.status == 0, s
    assert s.message.startswith("tls:") and "certificate" in s.message, s
    assert tls_receiver.records() == []


def test_https_without_verification(tls_receiver, pprof):
    s = send(tls_receiver.url, "parca", pprof[0], "--no-verify")
    assert s.code == 0, s


def test_https_bad_ca_file_is_retryable(tls_receiver, outdir, pprof):
    s = send(tls_receiver.url, "pyroscope", pprof[0], "--ca", str(outdir / "missing.pem"))
    assert s.code == 2 and s.message.startswith("tls:"), s


def test_mutual_tls(outdir, certs, pprof):
    with Receiver(outdir / "recv", tls=(certs["cert"], certs["key"]),
                  client_ca=certs["ca"]) as rec:
        s = send(rec.url, "pyroscope", pprof[0], "--ca", certs["ca"],
                 "--cert", certs["client_cert"], "--key", certs["client_key"])
        assert s.code == 0, s
        assert one_record(rec)["client_cn"] == "ldprof-client"
        s = send(rec.url, "pyroscope", pprof[0], "--ca", certs["ca"])
        assert s.code == 2, s  # no client certificate: refused in the handshake
        assert len(rec.records()) == 1


def test_tls_send_from_atexit_after_openssl_loaded(tls_receiver, certs, pprof):
    # The shim's exit flush is an atexit() handler registered before OpenSSL is loaded; had
    # OpenSSL registered its own cleanup, it would run first and this second send would crash.
    s = send(tls_receiver.url, "pyroscope", pprof[0], "--ca", certs["ca"], "--at-exit")
    assert s.code == 0 and len(s.results) == 2, s
    assert s.safe_at_exit == 1, s
    assert len(tls_receiver.records()) == 2


def test_program_with_its_own_openssl_is_not_safe_at_exit(tls_receiver, certs, pprof):
    s = send(tls_receiver.url, "pyroscope", pprof[0], "--ca", certs["ca"], "--own-tls")
    assert s.code == 0 and s.safe_at_exit == 0, s


# ---------------------------------------------------------------------------------------------
# tokens

def test_bearer_token(outdir, pprof):
    tok = outdir / "token"
    tok.write_text("  s3cret-token \nsecond line ignored\n")
    with Receiver(outdir / "recv", token="s3cret-token") as rec:
        s = send(rec.url, "pyroscope", pprof[0], "--token-file", str(tok))
        assert s.code == 0, s
        assert one_record(rec)["headers"]["authorization"] == "Bearer s3cret-token"
        # read at every send (tokens are rotated under running processes), and it wins over
        # a configured Authorization header: exactly one is sent
        tok.write_text("rotated\n")
        rec.token = "rotated"
        s = send(rec.url, "pyroscope", pprof[0], "--token-file", str(tok),
                 "--header", "Authorization: Basic b2xkOm9sZA==")
        assert s.code == 0, s
        assert rec.records()[1]["headers"]["authorization"] == "Bearer rotated"


def test_bad_token_is_rejected_once(outdir, pprof):
    tok = outdir / "token"
    tok.write_text("wrong\n")
    with Receiver(outdir / "recv", token="s3cret-token") as rec:
        s = send(rec.url, "pyroscope", pprof[0], "--token-file", str(tok))
        assert s.code == 3 and s.rc == -1 and s.status == 401, s  # -EPERM
        assert "invalid token" in s.message, s
        assert len(rec.requests()) == 1, rec.requests()
        assert rec.stats()["rejected"] == 1 and rec.records() == []


def test_unreadable_token_file_is_retryable_and_sends_nothing(receiver, outdir, pprof):
    s = send(receiver.url, "pyroscope", pprof[0], "--token-file", str(outdir / "no-such-token"))
    assert s.code == 2, s
    assert "token file" in s.message, s
    assert receiver.requests() == []


# ---------------------------------------------------------------------------------------------
# failures: retry later, or give up

@pytest.mark.parametrize("status, code", [(500, 2), (503, 2), (429, 2), (400, 3), (404, 3),
                                          (413, 3), (301, 3)])
def test_status_codes(receiver, pprof, status, code):
    receiver.mode = f"status={status}"
    s = send(receiver.url, "pyroscope", pprof[0])
    assert s.code == code and s.status == status, s
    assert s.message == f"http {status}: boom", s


def test_connection_reset_is_retryable(receiver, pprof):
    receiver.mode = "reset"
    s = send(receiver.url, "parca", pprof[0])
    assert s.code == 2 and s.status == 0, s


def test_garbage_answer_is_retryable(receiver, pprof):
    receiver.mode = "garbage"
    s = send(receiver.url, "pyroscope", pprof[0])
    assert s.code == 2 and s.status == 0, s


def test_timeout_is_retryable_and_bounded(receiver, pprof):
    receiver.mode = "slow=5"
    s = send(receiver.url, "pyroscope", pprof[0], "--timeout-ms", "500")
    assert s.code == 2, s
    assert s.elapsed < 1.5, f"took {s.elapsed:.2f} s with a 500 ms timeout"
    assert "timed out" in s.message.lower() or "timeout" in s.message.lower(), s


def test_connection_refused_is_retryable_and_quick(pprof):
    s = send(f"http://127.0.0.1:{closed_port()}", "pyroscope", pprof[0])
    assert s.code == 2 and s.status == 0, s
    assert s.elapsed < 1.0, f"took {s.elapsed:.2f} s"


def test_unresolvable_host_is_retryable(pprof):
    s = send("http://ldprof-test.invalid:4040", "pyroscope", pprof[0], "--timeout-ms", "3000")
    assert s.code == 2, s


def test_not_http_is_refused_before_any_network(pprof):
    s = send("file:///tmp/x", "pyroscope", pprof[0])
    assert s.code == 1 and s.rc == -22, s  # -EINVAL


def test_mode_changes_while_running(receiver, pprof):
    set_mode(receiver, "status=503")
    assert send(receiver.url, "pyroscope", pprof[0]).code == 2
    set_mode(receiver, "ok")
    assert send(receiver.url, "pyroscope", pprof[0]).code == 0
    st = receiver.stats()
    assert st["requests"] == 2 and st["received"] == 1, st
    assert [e["status"] for e in receiver.requests()] == [503, 200]


# ---------------------------------------------------------------------------------------------
# the receiver as a program

def test_receiver_runs_as_a_program(outdir, pprof):
    p = subprocess.Popen([PYTHON, str(ROOT / "tests" / "receiver.py"), "--port", "0", "--dir",
                          str(outdir / "recv"), "--mode", "status=500"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    try:
        line = p.stdout.readline().decode()
        m = re.fullmatch(r"listening on (\d+)\n", line)
        assert m, line
        url = f"http://127.0.0.1:{m[1]}"
        assert send(url, "pprof", pprof[0]).code == 2
        req = urllib.request.Request(url + "/_control?mode=ok", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        assert send(url, "pprof", pprof[0]).code == 0
        with urllib.request.urlopen(url + "/_stats", timeout=5) as r:
            st = json.load(r)
        assert st == {"received": 1, "rejected": 0, "requests": 2, "tls_failed": 0}, st
    finally:
        p.terminate()
        p.wait(timeout=10)
    assert p.returncode == 0, p.stderr.read()
