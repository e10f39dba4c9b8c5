# SPDX-License-Identifier: MIT
"""A small, real HTTP(S) receiver of profiles for the tests: Pyroscope's /ingest, Parca's
/api/profiles/writeraw and a plain pprof POST to any other path.

What arrives is checked the way the real servers would (query parameters, the name syntax, the
protojson shape, gzip/zstd) and stored in OUT: <n>.pb (the raw, decompressed pprof) and
<n>.json (protocol, service, labels, window, headers, sizes). Every request except the control
ones (/_stats, /_control) is appended to OUT/requests.log, one JSON line each.

Behaviour can be changed while it runs (POST /_control?mode=MODE, or .mode):
  ok            store and answer 200
  slow=SECONDS  sleep, then as ok
  reset         read the request, then close with a TCP RST (SO_LINGER 0), no answer
  status=NNN    answer NNN with the body "boom"
  garbage       answer bytes that are not HTTP and close
With a token, a request without "Authorization: Bearer TOKEN" gets 401 "invalid token", whatever
the mode. GET /_stats answers {"received", "rejected", "requests", "tls_failed"}.

As a program: python3 tests/receiver.py --port 0 --dir OUT [--tls CERT KEY] [--client-ca CA]
[--token T] [--mode MODE]; its first line on stdout is "listening on PORT".
As a module: Receiver(outdir, ...).start() ... .stop(); helpers make_ca_and_cert(dir) (openssl
CLI) and decode_with_go(path) (`go tool pprof -raw`, about a second: call it from tests, it is
not done while answering). Python 3.11 standard library only, plus the zstd, openssl and go
commands.
"""
import argparse
import base64
import binascii
import gzip
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 128 << 20
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONTROL_PATHS = ("/_stats", "/_control")


class BadRequest(Exception):
    """What a real server would refuse with 400; the text is the answer's body."""


def _gunzip_if_gzip(data):
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data), True
        except (OSError, EOFError) as e:
            raise BadRequest(f"bad gzip: {e}")
    return data, False


def _unzstd(data):
    r = subprocess.run(["zstd", "-d", "-c", "-q"], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise BadRequest("bad zstd body: " + r.stderr.decode(errors="replace").strip())
    return r.stdout


def parse_pyroscope_name(name):
    """"svc{k=v,k2=v2}" -> ("svc", {"k": "v", "k2": "v2"}), as Pyroscope's key parser reads it."""
    m = re.fullmatch(r"([^{}]*)\{([^{}]*)\}", name)
    if not m:
        raise BadRequest(f"name {name!r} is not SERVICE{{k=v,...}}")
    service, inner = m.group(1), m.group(2)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", service):
        raise BadRequest(f"bad application name {service!r}")
    labels = {}
    for part in inner.split(",") if inner else []:
        k, eq, v = part.partition("=")
        if not eq or not LABEL_NAME.match(k) or k.startswith("__"):
            raise BadRequest(f"bad label {part!r}")
        labels[k] = v
    return service, labels


def parse_parca(body):
    """Parca's WriteRawRequest in protojson -> (labels incl. __name__, raw profile bytes)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"bad json: {e}")
    try:
        (series,) = doc["series"]
        assert set(doc) == {"series"} and set(series) == {"labels", "samples"}
        pairs = series["labels"]["labels"]
        labels = {}
        for p in pairs:
            assert set(p) == {"name", "value"} and isinstance(p["value"], str)
            if not LABEL_NAME.match(p["name"]) or p["name"] in labels:
                raise BadRequest(f"bad label name {p['name']!r}")
            labels[p["name"]] = p["value"]
        (sample,) = series["samples"]
        raw = base64.b64decode(sample["rawProfile"], validate=True)
    except (KeyError, TypeError, ValueError, AssertionError, binascii.Error) as e:
        raise BadRequest(f"not a WriteRawRequest: {e!r}")
    if labels.get("__name__") != "process_cpu":
        raise BadRequest("labels have no __name__ process_cpu")
    return labels, raw


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ldprof-test-receiver"

    def log_message(self, fmt, *args):  # quiet: requests.log is the record
        pass

    def setup(self):
        # TLS handshake here, in the request's own thread, so a slow or failing client does
        # not hold up the accept loop
        self.tls_ok = True
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.settimeout(10)
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.tls_ok = False
                self.server.receiver._count("tls_failed")
        super().setup()

    def handle(self):
        if self.tls_ok:
            try:
                super().handle()
            except (ConnectionError, socket.timeout, ssl.SSLError):
                pass

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    # -- answers --

    def _answer(self, status, body=b"", ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (a timeout test): nothing to tell it
        self.close_connection = True

    def _reset(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # the reader and writer hold the descriptor open too: the RST goes out with the last
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
        except OSError:
            pass

    def _garbage(self):
        self.close_connection = True
        try:
            self.wfile.write(b"\x00\xff\x13this is not HTTP at all\r\n\r\n\x01\x02")
            self.wfile.flush()
        except OSError:
            pass

    # -- methods --

    def do_GET(self):
        rec = self.server.receiver
        if urlsplit(self.path).path == "/_stats":
            self._answer(200, json.dumps(rec.stats()), "application/json")
        else:
            self._answer(404, "not found")

    def do_POST(self):
        rec = self.server.receiver
        url = urlsplit(self.path)
        if url.path == "/_control":
            mode = parse_qs(url.query).get("mode", [""])[0]
            self._read_body()
            try:
                rec.mode = mode
            except ValueError as e:
                self._answer(400, str(e))
                return
            self._answer(200, "mode " + mode)
            return

        body = self._read_body()
        rec._count("requests")
        headers = {}
        for k, v in self.headers.items():  # a repeated header shows as "a, b", as HTTP folds it
            headers[k.lower()] = headers[k.lower()] + ", " + v if k.lower() in headers else v
        entry = {"method": "POST", "path": url.path, "query": url.query, "headers": headers,
                 "body_length": len(body) if body is not None else None}
        if body is None:
            rec._count("rejected")
            # logged before the answer, as every outcome: a client that has its answer finds
            # the request in requests.log
            rec._log(entry, status=411)
            self._answer(411, "a Content-Length up to 128 MiB is needed")
            return
        if rec.token is not None and headers.get("authorization") != f"Bearer {rec.token}":
            rec._count("rejected")
            rec._log(entry, status=401)
            self._answer(401, "invalid token")
            return

        mode = rec.mode
        if mode == "reset":
            rec._log(entry, status=None, outcome="reset")
            self._reset()
            return
        if mode == "garbage":
            rec._log(entry, status=None, outcome="garbage")
            self._garbage()
            return
        if mode.startswith("status="):
            status = int(mode.split("=", 1)[1])
            rec._log(entry, status=status)
            self._answer(status, "boom")
            return
        if mode.startswith("slow="):
            time.sleep(float(mode.split("=", 1)[1]))

        try:
            record = self._decode(url, headers, body)
        except BadRequest as e:
            rec._count("rejected")
            rec._log(entry, status=400, error=str(e))
            self._answer(400, str(e))
            return
        n = rec._store(record)
        rec._log(entry, status=200, stored=n)
        self._answer(200, "ok")

    def _read_body(self):
        try:
            n = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def _decode(self, url, headers, body):
        enc = headers.get("content-encoding", "").strip().lower()
        if enc == "zstd":
            body = _unzstd(body)
        elif enc not in ("", "identity"):
            raise BadRequest(f"unsupported Content-Encoding {enc!r}")
        record = {"path": url.path, "headers": headers, "body_length": len(body),
                  "content_encoding": enc or None}
        if url.path == "/ingest":
            q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            for key in ("name", "from", "until", "format", "sampleRate", "spyName"):
                if key not in q:
                    raise BadRequest(f"missing query parameter {key}")
            if q["format"] != "pprof":
                raise BadRequest(f"format {q['format']!r}")
            try:
                frm, until, rate = int(q["from"]), int(q["until"]), int(q["sampleRate"])
            except ValueError:
                raise BadRequest("from, until and sampleRate must be integers")
            if not frm < until or rate <= 0:
                raise BadRequest("bad window or sampleRate")
            service, labels = parse_pyroscope_name(q["name"])
            pprof, was_gzip = _gunzip_if_gzip(body)
            record.update(protocol="pyroscope", service=service, labels=labels, name=q["name"],
                          spy_name=q["spyName"], sample_rate=rate, **{"from": frm, "until": until})
        elif url.path == "/api/profiles/writeraw":
            labels, raw = parse_parca(body)
            pprof, was_gzip = _gunzip_if_gzip(raw)
            record.update(protocol="parca", service=labels.get("service_name"), labels=labels)
        else:
            labels = {}
            for part in filter(None, headers.get("x-ldprof-labels", "").split(",")):
                k, _, v = part.partition("=")
                labels[k] = unquote(v)
            pprof, was_gzip = _gunzip_if_gzip(body)
            record.update(protocol="pprof", service=labels.get("service_name"), labels=labels)
        if not pprof:
            raise BadRequest("empty profile")
        if isinstance(self.request, ssl.SSLSocket):
            cert = self.request.getpeercert()
            record["client_cn"] = dict(x[0] for x in cert["subject"]).get("commonName") if cert else None
        record.update(pprof_gzip=was_gzip, pprof_length=len(pprof), pprof=pprof)
        return record


class Receiver:
    """The receiver in a background thread: Receiver(outdir).start(); r.url; r.stop()."""

    def __init__(self, outdir, port=0, tls=None, token=None, mode="ok", client_ca=None):
        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self._lock = threading.Lock()
        self._counts = {"received": 0, "rejected": 0, "requests": 0, "tls_failed": 0}
        self._mode = "ok"
        self.mode = mode
        self._n = 0
        self._port = port
        self._tls = tls
        self._client_ca = client_ca
        self._server = None
        self._thread = None

    @property
    def mode(self):
        return self._mode

    @mode.setter
    def mode(self, mode):
        if not (mode in ("ok", "reset", "garbage") or re.fullmatch(r"status=\d{3}", mode)
                or re.fullmatch(r"slow=\d+(\.\d+)?", mode)):
            raise ValueError(f"unknown mode {mode!r}")
        self._mode = mode

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._server.daemon_threads = True
        self._server.receiver = self
        self._server.handle_error = lambda request, client_address: None  # quiet
        if self._tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self._tls)
            if self._client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(self._client_ca)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stats(self):
        with self._lock:
            return dict(self._counts)

    def records(self):
        """Every stored profile's record, in arrival order (the .pb is at record["pb"])."""
        out = []
        for p in sorted(self.outdir.glob("*.json"), key=lambda p: int(p.stem)):
            out.append(json.loads(p.read_text()))
        return out

    def requests(self):
        log = self.outdir / "requests.log"
        return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []

    def _count(self, key):
        with self._lock:
            self._counts[key] += 1

    def _log(self, entry, **more):
        line = json.dumps(dict(entry, time=time.time(), **more), sort_keys=True)
        with self._lock:
            with open(self.outdir / "requests.log", "a") as f:
                f.write(line + "\n")

    def _store(self, record):
        pprof = record.pop("pprof")
        with self._lock:
            self._n += 1
            n = self._n
            self._counts["received"] += 1
        pb = self.outdir / f"{n}.pb"
        pb.write_bytes(pprof)
        record.update(n=n, pb=str(pb))
        tmp = self.outdir / f".{n}.json.tmp"
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        tmp.rename(self.outdir / f"{n}.json")  # a reader never sees half a record
        return n


def decode_with_go(path):
    """`go tool pprof -raw PATH`: its output, or AssertionError with what go said."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_PRELOAD", "LDPROF_"))}
        env.update(HOME=home, PPROF_TMPDIR=home, GOCACHE=os.path.join(home, "gocache"),
                   GOFLAGS="", GOTOOLCHAIN="local")
        r = subprocess.run(["go", "tool", "pprof", "-symbolize=none", "-raw", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, f"go tool pprof failed on {path}: {r.stderr.decode(errors='replace')[:500]}"
    assert "PeriodType:" in out and "Samples:" in out, f"unexpected -raw output: {out[:300]}"
    return out


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')}")


def make_ca_and_cert(d):
    """A self-signed CA, a server certificate for 127.0.0.1 (and localhost) and a client
    certificate, both signed by it, in folder d. Returns {"ca", "cert", "key", "client_cert",
    "client_key"} (paths, PEM)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=ldprof test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, cn, ext in (("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                                  "extendedKeyUsage=serverAuth\n"),
                          ("client", "ldprof-client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n"
                                       "keyUsage=critical,digitalSignature,keyEncipherment\n" + ext)
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                 cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
                 cwd=d)
    return {"ca": str(d / "ca.pem"), "cert": str(d / "server.pem"), "key": str(d / "server.key"),
            "client_cert": str(d / "client.pem"), "client_key": str(d / "client.key")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca", help="require a client certificate signed by this CA")
    ap.add_argument("--token")
    ap.add_argument("--mode", default="ok")
    a = ap.parse_args()
    rec = Receiver(a.dir, port=a.port, tls=a.tls, token=a.token, mode=a.mode,
                   client_ca=a.client_ca).start()
    print(f"listening on {rec.port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    rec.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
