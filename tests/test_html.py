# SPDX-License-Identifier: MIT
"""`ldprof report --html` and `ldprof diff --html` (injector/htmlview.c, injector/report.html),
checked in a real browser: Debian's Chromium, headless, driven through the page itself by
tests/js/page.mjs (playwright-core) with real clicks, typing and choices. What the page shows is
compared with what the profiles hold, read by the suite's own decoder. Screenshots of each state
are kept under build/html-screens/<test>/ for a person to look at."""
import base64
import http.server
import json
import re
import shutil
import subprocess
import threading

import pytest

from conftest import (BUILD, LDPROF, Stacks, clean_env, ldprof_run, prog, profiles_for, read_profile,
                      run)
from pprof_write import write_profile
from test_flame import known

SHOTS = BUILD / "html-screens"
PAGE = BUILD / "js" / "page.mjs"


def ldprof(*args):
    return run([str(LDPROF)] + [str(a) for a in args], timeout=120)


def browse(html, steps, shots=None, allow_errors=False):
    """Opens html in Chromium, runs steps; returns the observations (tests/js/page.mjs). The page
    must load, raise no error and request nothing."""
    if shots:
        d = SHOTS / shots
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    r = subprocess.run(["node", str(PAGE), str(html), str(SHOTS / shots) if shots else ""],
                       input=json.dumps(steps).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    out = json.loads(r.stdout)
    assert "error" not in out, out["error"]
    assert out["requests"] == [], f"the page made requests: {out['requests']}"
    if not allow_errors:
        assert out["page_errors"] == [] and out["console_errors"] == [], out
    for o in out["steps"]:
        assert o["resources"] == 0, o
    return out["steps"]


def self_and_cum(st):
    """Per function: samples where it is the leaf, and samples with it anywhere on the stack."""
    flat, cum = {}, {}
    for frames, c, _ in st.items:
        if frames:
            flat[frames[0]] = flat.get(frames[0], 0) + c
        for f in set(frames):
            cum[f] = cum.get(f, 0) + c
    return flat, cum


def rgb(fill):
    return tuple(int(x) for x in re.fullmatch(r"rgb\((\d+),(\d+),(\d+)\)", fill).groups())


@pytest.fixture(scope="module")
def mix(module_outdir):
    """Three processes of two programs: demo (crc32_bytes and mandelbrot on its main thread,
    sieve_primes on the thread demo-primes) and hot2 twice (hot_a 3/4, hot_b 1/4 of its CPU,
    on four workers)."""
    d = module_outdir("html-mix")
    script = f"{prog('demo')} >/dev/null & {prog('hot2')} 600 & {prog('hot2')} 400; wait"
    # the shell itself is left out: a sample or two of its forks would bring frames of a
    # stripped dash that no debug file names (and a line saying so)
    r = ldprof_run(["sh", "-c", script], outdir=d, hz=499, timeout=90,
                   env=clean_env(LDPROF_SELECT_EXCLUDE_COMM="sh"))
    assert r.returncode == 0, r.stderr
    assert len(profiles_for(d, comm="hot2")) == 2 and profiles_for(d, comm="demo")
    html = d / "report.html"
    r = ldprof("report", "--html", html, d)
    assert r.returncode == 0 and r.stderr == b"", r
    assert f"{html}: an interactive report of ".encode() in r.stdout, r.stdout
    return d, html, Stacks(profiles_for(d))


def test_flame_graph_zoom_and_back(mix):
    d, html, st = mix
    total = st.total()
    flat, cum = self_and_cum(st)
    steps = browse(html, [
        {"do": "shot", "name": "1-initial"},
        {"do": "hover", "name": "hot_b"},
        {"do": "click", "name": "hot_a"},
        {"do": "shot", "name": "2-zoomed-hot_a"},
        {"do": "browser_back"},
        {"do": "click", "name": "hot_a"},
        {"do": "button", "id": "back"},
        {"do": "click", "name": "hot_a"},
        {"do": "key", "key": "Escape"},
        {"do": "button", "id": "view-icicle"},
        {"do": "shot", "name": "3-icicle"},
        {"do": "button", "id": "view-flame"},
    ], shots="flame")
    first = steps[0]
    fr, width = first["frames"], first["state"]["width"]
    assert first["state"]["total"] == total and first["info"]["total"] == total
    assert abs(fr["all"]["w"] - width) < 0.5 and fr["all"]["n"] == 1
    # each function as wide as its share of all samples (hot_a never recurses)
    for name in ("hot_a", "hot_b", "crc32_bytes"):
        assert abs(fr[name]["w"] / width - cum[name] / total) < 0.005, (name, fr[name], cum[name], total)
    # the known hot functions are drawn widest of all functions with samples of their own
    widest = sorted((e["w"], n) for n, e in fr.items() if flat.get(n))[::-1]
    assert widest[0][1] == "hot_a" and max(flat, key=flat.get) == "hot_a", widest[:5]
    assert fr["hot_a"]["kind"] == "program" and fr["clone3"]["kind"] == "libc", fr["clone3"]
    assert "hot_b" in steps[1]["tip"] and "samples" in steps[1]["tip"], steps[1]["tip"]
    # a click zooms: hot_a fills the width, its callers dimmed below, the rest gone
    z = steps[2]
    assert z["state"]["zoom"] == "hot_a" and z["info"]["zoom"] == "hot_a", z["state"]
    assert abs(z["frames"]["hot_a"]["wmax"] - width) < 0.5, z["frames"]["hot_a"]
    assert z["frames"]["run_work"]["dim"] and not z["frames"]["hot_a"]["dim"]
    assert "crc32_bytes" not in z["frames"] and "hot_b" not in z["frames"], sorted(z["frames"])
    assert z["hash"].startswith("#zoom=") and not z["back_disabled"]
    # the way back: the browser's Back, the page's Back, Esc
    for i in (4, 6, 8):
        o = steps[i]
        assert steps[i - 1]["state"]["zoom"] == "hot_a", steps[i - 1]["state"]
        assert o["state"]["zoom"] == "all" and "crc32_bytes" in o["frames"], (o["step"], o["state"])
    # icicle: the root on top; the flame graph: at the bottom
    assert steps[9]["frames"]["all"]["y"] == 0 and steps[9]["state"]["icicle"]
    assert steps[11]["frames"]["all"]["y"] > steps[11]["frames"]["hot_a"]["y"]


def test_search_and_table(mix):
    d, html, st = mix
    total = st.total()
    flat, cum = self_and_cum(st)
    hot = {n for n in cum if "hot_" in n.lower()}
    steps = browse(html, [
        {"do": "search", "text": "hot_"},
        {"do": "shot", "name": "1-search-hot_"},
        {"do": "search", "text": "/^hot_b$/"},
        {"do": "search", "text": "/(/"},
        {"do": "search", "text": ""},
        {"do": "sort", "key": "cum"},
        {"do": "sort", "key": "cum"},
        {"do": "sort", "key": "self"},
        {"do": "row", "index": 2},
        {"do": "shot", "name": "2-table-row-clicked"},
        {"do": "search", "text": "/^(run_work|hot_a)$/"},
    ], shots="search")
    s = steps[0]
    assert s["matched"]["samples"] == st.with_any(hot), (s["matched"], hot)
    assert abs(s["matched"]["share"] - st.with_any(hot) / total) < 1e-9
    assert f"{100 * st.with_any(hot) / total:.2f}%" in s["matched"]["text"], s["matched"]["text"]
    assert s["frames"]["hot_a"]["match"] and s["frames"]["hot_b"]["match"]
    assert not s["frames"]["crc32_bytes"]["match"] and not s["frames"]["run_work"]["match"]
    assert {r[0] for r in s["table"]["rows"]} == hot, s["table"]["rows"]
    assert steps[2]["matched"]["samples"] == cum["hot_b"], steps[2]["matched"]
    assert steps[3]["matched"]["bad"] and steps[3]["matched"]["share"] is None
    assert steps[4]["matched"]["text"] == "" and not any(e["match"] for e in steps[4]["frames"].values())
    # the table: by self at first, then by total (down, then up) as the header is clicked
    rows = steps[4]["table"]["rows"]
    assert steps[4]["table"]["head"] == ["Function", "Object", "Self", "Self %", "Total", "Total %"]
    assert rows[0][0] == "hot_a" and int(rows[0][2]) == flat["hot_a"] and int(rows[0][4]) == cum["hot_a"]
    down = [int(r[4]) for r in steps[5]["table"]["rows"]]
    up = [int(r[4]) for r in steps[6]["table"]["rows"]]
    assert down == sorted(down, reverse=True) and down[0] == max(cum.values()), down
    assert up == sorted(up) and up[0] == min(cum.values()), up
    # a row clicked searches for that function
    name = steps[7]["table"]["rows"][2][0]
    assert steps[8]["matched"]["samples"] == cum[name], (name, steps[8]["matched"])
    # a caller and its callee both matching: each sample counted once
    both = st.with_any({"run_work", "hot_a"})
    assert both == cum["run_work"] < cum["run_work"] + cum["hot_a"]
    assert steps[10]["matched"]["samples"] == both, steps[10]["matched"]


def test_filters(mix):
    d, html, st = mix
    demo = profiles_for(d, comm="demo")[0]
    hot2 = profiles_for(d, comm="hot2")
    demo_pid = re.match(r"demo\.(\d+)\.", demo.name)[1]
    primes = [(lab.get("thread_id"), c) for f, c, lab in Stacks([demo]).items
              if lab.get("thread_name") == "demo-primes"]
    tid = primes[0][0]
    steps = browse(html, [
        {"do": "options", "which": "process"},
        {"do": "options", "which": "service"},
        {"do": "select", "which": "process", "name": f"demo ({demo_pid})"},
        {"do": "shot", "name": "1-process-demo"},
        {"do": "select", "which": "thread", "name": f"demo-primes ({tid})"},
        {"do": "shot", "name": "2-thread-demo-primes"},
        {"do": "select", "which": "process"},
        {"do": "select", "which": "thread"},
        {"do": "select", "which": "service", "name": "hot2"},
        {"do": "shot", "name": "3-service-hot2"},
    ], shots="filters")
    procs = {re.sub(r"\.(\d+)\.\d+\.pb\.gz$", r" (\1)", p.name) for p in profiles_for(d)}
    assert set(steps[0]["options"]) - {None} == procs, steps[0]["options"]
    assert set(steps[1]["options"]) - {None} == {"demo", "hot2"}, steps[1]["options"]
    p = steps[2]
    assert p["state"]["total"] == Stacks([demo]).total() > 0, p["state"]
    assert "crc32_bytes" in p["frames"] and "hot_a" not in p["frames"], sorted(p["frames"])
    t = steps[4]
    assert t["state"]["total"] == sum(c for _, c in primes), t["state"]
    assert "sieve_primes" in t["frames"] and "crc32_bytes" not in t["frames"], sorted(t["frames"])
    assert steps[7]["state"]["total"] == st.total()
    s = steps[8]
    assert s["state"]["total"] == Stacks(hot2).total(), s["state"]
    assert "hot_a" in s["frames"] and "crc32_bytes" not in s["frames"], sorted(s["frames"])


def test_service_and_process_from_labels(outdir):
    """Profiles of other writers: the process and service from the samples' labels."""
    write_profile(outdir / "a.pb.gz", {("main", "serve"): 70},
                  labels={"service_name": "web", "pid": "11", "comm": "nginx"})
    write_profile(outdir / "b.pb.gz", {("main", "query"): 30},
                  labels={"service_name": "db", "pid": "12", "comm": "postgres"})
    html = outdir / "r.html"
    assert ldprof("report", "--html", html, outdir).returncode == 0
    steps = browse(html, [{"do": "options", "which": "service"}, {"do": "options", "which": "process"},
                          {"do": "select", "which": "service", "name": "db"}])
    assert set(steps[0]["options"]) - {None} == {"web", "db"}
    assert set(steps[1]["options"]) - {None} == {"nginx (11)", "postgres (12)"}
    assert steps[2]["state"]["total"] == 30 and "serve" not in steps[2]["frames"]


def test_configured_service_names(outdir):
    """Two runs with a service name each (LDPROF_SERVICE_NAME): the files keep it (as a
    comment) and the service filter offers both, each with its own samples."""
    for svc, n in (("web", "300"), ("batch", "200")):
        r = ldprof_run([prog("hot2"), n], outdir=outdir, hz=499, env=clean_env(LDPROF_SERVICE_NAME=svc))
        assert r.returncode == 0, r.stderr
    files = profiles_for(outdir, comm="hot2")
    assert len(files) == 2
    web = [f for f in files if "service_name=web" in read_profile(f).comments()]
    assert len(web) == 1, [read_profile(f).comments() for f in files]
    html = outdir / "r.html"
    assert ldprof("report", "--html", html, outdir).returncode == 0
    steps = browse(html, [{"do": "options", "which": "service"},
                          {"do": "select", "which": "service", "name": "web"}])
    assert set(steps[0]["options"]) - {None} == {"web", "batch"}, steps[0]["options"]
    assert steps[1]["state"]["total"] == Stacks(web).total() > 0, steps[1]["state"]


def test_diff_html(outdir):
    base, new = known(outdir)
    html = outdir / "diff.html"
    r = ldprof("diff", "--html", html, base, new)
    assert r.returncode == 0 and b" -30.0% " in r.stdout, r  # the table still printed
    steps = browse(html, [{"do": "shot", "name": "1-diff"}, {"do": "search", "text": "/^b$/"}],
                   shots="diff")
    o = steps[0]
    assert o["state"]["total"] == 200 and o["state"]["total0"] == 100, o["state"]
    fr = o["frames"]
    assert "c" not in fr, "only in the base: no width in the new profiles"
    assert fr["b"]["w"] > fr["a"]["w"] > fr["d"]["w"] > 0, fr
    assert rgb(fr["b"]["fill"])[0] == 255 and rgb(fr["b"]["fill"])[2] < 255, fr["b"]  # more: red
    assert rgb(fr["a"]["fill"])[2] == 255 and rgb(fr["a"]["fill"])[0] < 255, fr["a"]  # less: blue
    assert rgb(fr["main"]["fill"]) == (255, 255, 255), fr["main"]                      # same: white
    head = o["table"]["head"]
    assert head[:5] == ["Function", "Object", "Base self", "New self", "\u0394 self"], head
    rows = {r[0]: r for r in o["table"]["rows"]}
    assert rows["b"][2:5] == ["30.00%", "60.00%", "+30.00"] and rows["a"][4] == "-30.00", rows
    assert rows["c"][2:5] == ["10.00%", "0.00%", "-10.00"], rows
    assert "base 30.00%, new 60.00%" in steps[1]["matched"]["text"], steps[1]["matched"]


class _Hits(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):
        _Hits.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_hostile_names_stay_text(outdir):
    """Names are untrusted: markup and script in them stay text, bytes that are not UTF-8
    become U+FFFD, and nothing in them makes the page load anything (a real server listens)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/x"
    try:
        names = [f'</script><script>window.pwned=1</script><img src="{url}">',
                 f"<!-- <script> {url}", b"bad \xff\xfe utf-8 \xc3", '"quote" \\back\\ & \u2028 sep',
                 "control\x01\x1b[31m"]
        write_profile(outdir / "h.pb.gz", {("main", n): i + 1 for i, n in enumerate(names)})
        html = outdir / "h.html"
        assert ldprof("report", "--html", html, outdir).returncode == 0
        # the data is well-formed JSON whatever the names
        text = html.read_text(encoding="utf-8")
        data = re.search(r'id="ldprof-data">(.*?)</script>', text, re.S)[1]
        parsed = json.loads(data)
        assert len(base64.b64decode(parsed["nodes"])) >= parsed["nnodes"]
        steps = browse(html, [{"do": "eval", "js": "typeof window.pwned"},
                              {"do": "search", "text": "script"}])
        assert steps[0]["value"] == "undefined"
        shown = {r[0] for r in steps[0]["table"]["rows"]}
        assert names[0] in shown and names[1] in shown, shown
        assert "bad \ufffd\ufffd utf-8 \ufffd" in shown and '"quote" \\back\\ & \u2028 sep' in shown, shown
        assert "control??[31m" in shown, shown  # control characters, as report prints them
        assert steps[1]["matched"]["samples"] == 3, steps[1]["matched"]
        assert _Hits.hits == [], _Hits.hits
    finally:
        srv.shutdown()


def test_html_usage(outdir):
    write_profile(outdir / "p.pb.gz", {("main", "a"): 1})
    r = ldprof("report", "--html", outdir / "x.html", "--folded", outdir)
    assert r.returncode == 2 and b"choose one" in r.stderr, r
    r = ldprof("report", outdir, "--html")
    assert r.returncode == 2 and b"--html needs a file name" in r.stderr, r
    r = ldprof("report", "--html", outdir / "no" / "such" / "dir.html", outdir)
    assert r.returncode == 1 and b"cannot write" in r.stderr, r
    r = ldprof("report", "--html", "-", outdir)
    assert r.returncode == 0 and r.stdout.startswith(b"<!DOCTYPE html>"), r.stdout[:100]
    # both graphs at once
    r = ldprof("report", "--html", outdir / "a.html", "--svg", outdir / "a.svg", outdir)
    assert r.returncode == 0 and (outdir / "a.html").exists() and (outdir / "a.svg").exists(), r
