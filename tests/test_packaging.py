# SPDX-License-Identifier: MIT
"""The .deb and the .rpm, built by `make deb rpm` and installed for real, never on the real host.

Each install runs in a private mount namespace (`unshare -m --propagation private`) whose /etc,
/usr and /var are overlays of the real ones (upper and work folders in a temporary folder) and
whose /run is an empty tmpfs (so no systemctl there can reach a running systemd): dpkg and rpm
write only into the overlays, which vanish with the namespace. There the tests do what an admin
does: install the package, `ldprof install`, upgrade, remove, purge, and check at each step
that /etc/ld.so.preload is right and /bin/true still runs with nothing on stderr. The last test
checks that the real /etc/ld.so.preload, the real dpkg and rpm databases and the real /usr,
/etc and /var saw none of it.
"""
import os
import re
import select
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, clean_env, prog, run

PKG = BUILD / "pkg"
VERSION = re.search(r'#define LDPROF_VERSION "([^"]+)"', (ROOT / "injector/main.c").read_text())[1]
DEB_ARCH = subprocess.run(["dpkg", "--print-architecture"], stdout=subprocess.PIPE, text=True).stdout.strip()
RPM_ARCH = os.uname().machine
DEB = PKG / f"ldprof_{VERSION}_{DEB_ARCH}.deb"
RPM = PKG / f"ldprof-{VERSION}-1.{RPM_ARCH}.rpm"
LINE = "/usr/lib/ldprof/$LIB/libldprof.so"   # what `ldprof install` writes (packaging/layout.sh)
SHIM64 = "/usr/lib/ldprof/lib/x86_64-linux-gnu/libldprof.so"  # where Debian's 64-bit loader finds it
LEGACY = "/usr/lib/ldprof/libldprof.so"  # the line older versions wrote: still there, a link
PRELOAD = "/etc/ld.so.preload"
# rpm queries use a database of their own: Debian's rpm would make one in ~/.rpmdb.
RPMQ = ["rpm", "--dbpath", str(PKG / "rpmdb-query")]
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# One comment only: glibc 2.36 reads part of a second "#" comment as names of libraries.
OTHER = b"# site preloads\n\n"

# Every file and folder of the package that is ldprof's own, with its mode as `ls -l` shows it.
FILES = {
    "/usr/bin/ldprof": "-rwxr-xr-x",
    "/usr/sbin/ldprof-agent": "-rwxr-xr-x",
    "/usr/lib/ldprof": "drwxr-xr-x",
    "/usr/lib/ldprof/lib": "drwxr-xr-x",
    "/usr/lib/ldprof/lib/x86_64-linux-gnu": "drwxr-xr-x",
    "/usr/lib/ldprof/lib/x86_64-linux-gnu/libldprof.so": "-rw-r--r--",
    "/usr/lib/ldprof/lib64": "lrwxrwxrwx",
    "/usr/lib/ldprof/lib32": "drwxr-xr-x",
    "/usr/lib/ldprof/lib32/libldprof.so": "-rw-r--r--",
    "/usr/lib/ldprof/lib/i386-linux-gnu": "drwxr-xr-x",
    "/usr/lib/ldprof/lib/i386-linux-gnu/libldprof.so": "-rw-r--r--",
    "/usr/lib/ldprof/lib/libldprof.so": "-rw-r--r--",
    "/usr/lib/ldprof/libldprof.so": "lrwxrwxrwx",
    "/etc/ldprof": "drwxr-xr-x",
    "/etc/ldprof/ldprof.ini": "-rw-r--r--",
    "/var/lib/ldprof": "drwxr-xr-x",
    "/var/lib/ldprof/profiles": "drwx-wx-wt",
    "/var/lib/ldprof/spool": "drwx-wx-wt",
    "/var/lib/ldprof/profiles/0": "drwx------",
    "/var/lib/ldprof/spool/0": "drwx------",
    "/usr/lib/systemd/system/ldprof-flush.service": "-rw-r--r--",
    "/usr/lib/systemd/system/ldprof-flush.timer": "-rw-r--r--",
    "/usr/lib/systemd/system/ldprof-agent.service": "-rw-r--r--",
    "/usr/share/doc/ldprof": "drwxr-xr-x",
    "/usr/share/doc/ldprof/README.md": "-rw-r--r--",
    "/usr/share/doc/ldprof/copyright": "-rw-r--r--",
    "/usr/share/doc/ldprof/packaging.md": "-rw-r--r--",
    "/usr/share/doc/ldprof/changelog.gz": "-rw-r--r--",
    **{f"/usr/share/doc/ldprof/{p.name}": "-rw-r--r--" for p in (ROOT / "docs").glob("*.md")},
    "/usr/share/man/man1/ldprof.1.gz": "-rw-r--r--",
    "/usr/share/man/man5/ldprof.ini.5.gz": "-rw-r--r--",
    "/usr/share/man/man8/ldprof-agent.8.gz": "-rw-r--r--",
    "/usr/share/bash-completion/completions/ldprof": "-rw-r--r--",
}
# Folders other packages own too, which the .deb lists as every .deb does.
SHARED_DIRS = {"/", "/etc", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib/systemd", "/usr/lib/systemd/system",
               "/usr/share", "/usr/share/doc", "/var", "/var/lib", "/usr/share/man", "/usr/share/man/man1",
               "/usr/share/man/man5", "/usr/share/man/man8", "/usr/share/bash-completion",
               "/usr/share/bash-completion/completions"}
SCRIPTS = [PKG / "scripts/deb" / n for n in ("postinst", "prerm", "postrm")] + \
          [PKG / "scripts/rpm" / n for n in ("post", "preun", "postun")]


def make(*args):
    """make with a clean environment: no jobserver or MAKEFLAGS of a `make check` above us."""
    env = {k: v for k, v in clean_env(PATH=SBIN_PATH).items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = run(["make", "--no-print-directory", "-s", *args], timeout=180, env=env, cwd=str(ROOT))
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")[-3000:]


def host_state():
    """What a package installed on the real host would change."""
    st = {"preload": Path(PRELOAD).read_bytes() if os.path.lexists(PRELOAD) else None}
    r = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "ldprof"], env=clean_env(PATH=SBIN_PATH))
    st["dpkg"] = (r.returncode, r.stdout)
    dbpath = run(["rpm", "--eval", "%_dbpath"]).stdout.decode().strip()
    st["rpmdb"] = os.path.exists(dbpath)
    if st["rpmdb"]:  # rpm -q would create a missing database
        r = run(["rpm", "-q", "ldprof"], env=clean_env(PATH=SBIN_PATH))
        st["rpm"] = (r.returncode, r.stdout)
    for p in list(FILES) + [PRELOAD + ".ldprof-backup", PRELOAD + ".ldprof-created",
                            "/etc/systemd/system/timers.target.wants/ldprof-flush.timer",
                            "/var/lib/dpkg/info/ldprof.list"]:
        st[p] = os.path.lexists(p)
    return st


@pytest.fixture(scope="module")
def built():
    """Builds both packages once; records the host's state before any test touches dpkg/rpm."""
    before = host_state()
    make("deb", "rpm")
    assert DEB.exists() and RPM.exists()
    return before


class Sandbox:
    """A private mount namespace with overlays on /etc, /usr, /var and a tmpfs on /run.

    One `unshare` process holds the namespace (it mounts, says "ready", then sleeps); every
    command enters it with nsenter. Closing kills that one process: the mounts go with it.
    """

    def __init__(self, base):
        base = Path(base).resolve()
        for top in ("/etc", "/usr", "/var", "/run"):
            assert not str(base).startswith(top + "/"), f"{base}: the overlays' folders must be outside {top}"
        mounts = []
        for d in ("etc", "usr", "var"):
            (base / d / "upper").mkdir(parents=True)
            (base / d / "work").mkdir()
            mounts.append(f"mount -t overlay overlay -o lowerdir=/{d},upperdir={base}/{d}/upper,"
                          f"workdir={base}/{d}/work /{d}")
        script = "set -e; " + "; ".join(mounts) + "; mount -t tmpfs tmpfs /run; echo ready; exec sleep 600"
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "--", "sh", "-c", script],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=clean_env(PATH=SBIN_PATH))
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            self.proc.kill()
            _, err = self.proc.communicate()
            pytest.fail(f"the namespace did not come up: {err.decode(errors='replace')}")

    def in_ns(self):
        """True while the holder is in a mount namespace that is not ours (never run on the host)."""
        try:
            return os.readlink(f"/proc/{self.proc.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        except OSError:
            return False

    def sh(self, cmd, timeout=60):
        assert self.in_ns(), "the namespace is gone: refusing to run on the host"
        return run(["nsenter", "-t", str(self.proc.pid), "-m", "--", "sh", "-c", cmd], timeout=timeout,
                   env=clean_env(PATH=SBIN_PATH), cwd="/")

    def ok(self, cmd, timeout=60):
        r = self.sh(cmd, timeout)
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout.decode(errors='replace')}\n" \
                                  f"{r.stderr.decode(errors='replace')}"
        return r

    def read(self, path):
        r = self.sh(f"cat {path}")
        return r.stdout if r.returncode == 0 else None

    def exists(self, path):
        return self.sh(f"test -e {path} || test -L {path}").returncode == 0

    def true_is_clean(self):
        r = self.sh("/bin/true")
        assert r.returncode == 0 and r.stderr == b"", f"/bin/true: exit {r.returncode}, stderr {r.stderr!r}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def ns(built, tmp_path):
    box = Sandbox(tmp_path / "ns")
    try:
        yield box
    finally:
        box.close()
        shutil.rmtree(tmp_path / "ns", ignore_errors=True)
        assert host_state() == built, "the real host changed"


# ---------------------------------------------------------------------------------------------
# what the packages hold

def listing(lines, path_col, mode_col, owner):
    """{path: mode} of an `ls -l`-like listing; asserts every entry is owned by root:root."""
    out = {}
    for line in lines:
        f = line.split()
        path = f[path_col].lstrip(".").rstrip("/") or "/"
        out[path] = f[mode_col]
        assert owner(f) == ("root", "root"), line
    return out


def test_deb_contents_and_modes(built):
    r = run(["dpkg-deb", "-c", str(DEB)])
    assert r.returncode == 0, r.stderr
    got = listing(r.stdout.decode().splitlines(), 5, 0, lambda f: tuple(f[1].split("/")))
    assert {p: m for p, m in got.items() if p not in SHARED_DIRS} == FILES
    assert all(got[d].startswith("d") for d in SHARED_DIRS)


def test_rpm_contents_and_modes(built):
    r = run([*RPMQ, "-qlpv", str(RPM)], env=clean_env(PATH=SBIN_PATH))
    assert r.returncode == 0, r.stderr
    got = listing(r.stdout.decode().splitlines(), 8, 0, lambda f: (f[2], f[3]))
    assert got == FILES, "the rpm owns exactly ldprof's files and folders, with the .deb's modes"


def test_lintian_finds_no_error_and_every_warning_is_explained(built):
    """packaging/README.md says why each warning lintian keeps is there on purpose."""
    r = run(["lintian", "--tag-display-limit", "0", str(DEB)], timeout=300)
    lines = [l for l in r.stdout.decode().splitlines() if re.match(r"[EWIXPO]: ", l)]
    assert r.returncode == 0 and not [l for l in lines if l.startswith("E: ")], (r.returncode, lines, r.stderr)
    explained = (ROOT / "packaging/README.md").read_text()
    for tag in {l.split()[2] for l in lines if l.startswith("W: ")}:
        assert f"`{tag}" in explained, (tag, lines)


def test_rpmlint_finds_no_error_and_every_warning_is_explained(built):
    """With packaging/rpm/ldprof.rpmlintrc, whose every filter the README explains too."""
    rc = ROOT / "packaging/rpm/ldprof.rpmlintrc"
    # rpmlint opens the rpm database, which Debian's rpm keeps in ~/.rpmdb and makes when it is
    # missing (a fresh host): a home of its own keeps the real host as it was
    home = PKG / "rpmlint-home"
    home.mkdir(exist_ok=True)
    r = run(["rpmlint", "-r", str(rc), str(RPM)], timeout=300, env=clean_env(HOME=str(home)))
    out = r.stdout.decode()
    lines = [l for l in out.splitlines() if re.match(r"ldprof\.\S+: [EW]: ", l)]
    assert r.returncode == 0 and " 0 errors," in out and not [l for l in lines if ": E: " in l], out
    explained = (ROOT / "packaging/README.md").read_text()
    for tag in {l.split()[2] for l in lines}:
        assert f"`{tag}" in explained, (tag, lines)
    for tag in re.findall(r'^addFilter\("([a-z-]+)', rc.read_text(), re.M):
        assert f"`{tag}" in explained, tag


def test_conffiles(built):
    r = run(["dpkg-deb", "-I", str(DEB), "conffiles"])
    assert r.returncode == 0 and r.stdout == b"/etc/ldprof/ldprof.ini\n"
    r = run([*RPMQ, "-qpc", str(RPM)], env=clean_env(PATH=SBIN_PATH))
    assert r.returncode == 0 and r.stdout == b"/etc/ldprof/ldprof.ini\n"
    r = run(["dpkg-deb", "--fsys-tarfile", str(DEB)])
    data = subprocess.run(["tar", "-xOf", "-", "./etc/ldprof/ldprof.ini"], input=r.stdout, stdout=subprocess.PIPE)
    assert data.stdout == (ROOT / "config/ldprof.ini").read_bytes()


def test_deb_control_and_dependencies(built, tmp_path):
    def field(name):
        r = run(["dpkg-deb", "-f", str(DEB), name])
        return r.stdout.decode().strip()
    assert field("Package") == "ldprof" and field("Version") == VERSION and field("Architecture") == DEB_ARCH
    depends = {re.sub(r"\s*\(.*\)", "", d.strip()) for d in field("Depends").split(",")}
    assert re.search(r"libc6 \(>= 2\.\d+\)", field("Depends"))
    # Every library the installed binaries need, as the real dpkg database names its package.
    d = tmp_path / "x"
    assert run(["dpkg-deb", "-x", str(DEB), str(d)]).returncode == 0
    needed = set()
    for f in ("usr/bin/ldprof", "usr/sbin/ldprof-agent", SHIM64[1:],
              "usr/lib/ldprof/lib32/libldprof.so"):
        r = run(["readelf", "-d", str(d / f)])
        needed |= set(re.findall(rb"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout))
    needed.discard(b"ld-linux-x86-64.so.2")  # comes with libc6
    assert needed, "the binaries need no library?"
    owners = set()
    for lib in needed:
        r = run(["dpkg", "-S", f"*/{lib.decode()}"], env=clean_env(PATH=SBIN_PATH))
        assert r.returncode == 0, r.stderr
        # only the native ABI's copy (gcc-multilib brings libc6-i386 and libc6-x32 too)
        owners |= {line.split(b":")[0].decode() for line in r.stdout.splitlines()
                   if f"/{os.uname().machine}-linux-gnu/".encode() in line}
    assert owners == depends, f"the binaries need {owners}, the package depends on {depends}"
    # libcurl is dlopen()ed: recommended, not depended on, and not linked.
    assert field("Recommends") == "libcurl4" and "libcurl4" not in depends
    assert not any(b"curl" in n for n in needed)
    # md5sums: every file but the conffile, with the right sums
    r = run(["dpkg-deb", "-I", str(DEB), "md5sums"])
    sums = dict(reversed(line.split(None, 1)) for line in r.stdout.decode().splitlines())
    want = {p.lstrip("/") for p, m in FILES.items() if m.startswith("-") and not p.startswith("/etc/")}
    assert set(sums) == want
    r = run(["md5sum", "-c", "--quiet"], input=r.stdout, cwd=str(d))
    assert r.returncode == 0, r.stdout + r.stderr


def test_rpm_requires_are_hand_written(built):
    r = run([*RPMQ, "-qp", "--requires", str(RPM)], env=clean_env(PATH=SBIN_PATH))
    req = set(r.stdout.decode().splitlines())
    for soname in ("libc.so.6()(64bit)", "libz.so.1()(64bit)",
                   "libzstd.so.1()(64bit)", "libbpf.so.1()(64bit)"):
        assert soname in req
    assert any(re.fullmatch(r"libc\.so\.6\(GLIBC_2\.\d+\)\(64bit\)", x) for x in req)
    # AutoReqProv: no: nothing generated (rpm's generator would list each GLIBC_ version used)
    assert sum(x.startswith("libc.so.6(GLIBC") for x in req) == 1
    r = run([*RPMQ, "-qp", "--recommends", str(RPM)], env=clean_env(PATH=SBIN_PATH))
    assert r.stdout == b"libcurl.so.4()(64bit)\n"
    r = run([*RPMQ, "-qp", "--provides", str(RPM)], env=clean_env(PATH=SBIN_PATH))
    assert not any(b".so" in x for x in r.stdout.splitlines()), "no automatic Provides"


def test_maintainer_scripts_parse_and_pass_shellcheck(built):
    funcs = (ROOT / "packaging/scripts/functions.sh").read_text()
    assert "%" not in funcs, "rpm would expand a percent sign in the scriptlets"
    for s in SCRIPTS:
        text = s.read_text()
        assert "ldprof_preload_take_out()" in text and "\n#@LDPROF_FUNCTIONS@\n" not in text, s
        r = run(["sh", "-n", str(s)])
        assert r.returncode == 0, (s, r.stderr)
    r = run(["shellcheck", "-s", "sh", *map(str, SCRIPTS), str(ROOT / "packaging/scripts/functions.sh")])
    assert r.returncode == 0, r.stdout.decode()
    # the .deb carries exactly these scripts
    for name in ("postinst", "prerm", "postrm"):
        r = run(["dpkg-deb", "-I", str(DEB), name])
        assert r.stdout == (PKG / "scripts/deb" / name).read_bytes()
    # ... and the rpm these scriptlets
    r = run([*RPMQ, "-qp", "--scripts", str(RPM)], env=clean_env(PATH=SBIN_PATH))
    out = r.stdout.decode()
    for label, name in (("postinstall", "post"), ("preuninstall", "preun"), ("postuninstall", "postun")):
        body = (PKG / "scripts/rpm" / name).read_text()
        assert f"{label} scriptlet (using /bin/sh):\n{body}" in out, label
    assert "ldprof uninstall" in out and "sed --follow-symlinks -i" in out


def unit(path):
    """{section: {key: [values]}} of a systemd unit file."""
    out, sec = {}, None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            sec = out.setdefault(line.strip("[]"), {})
        else:
            k, v = line.split("=", 1)
            sec.setdefault(k.strip(), []).append(v.strip())
    return out


def test_systemd_units_have_what_they_need(built):
    svc = unit(PKG / "stage/usr/lib/systemd/system/ldprof-flush.service")
    assert svc["Service"]["Type"] == ["oneshot"]
    assert svc["Service"]["ExecStart"] == ["/usr/bin/ldprof flush"]
    assert "Install" not in svc, "the service is started by its timer only"
    tim = unit(PKG / "stage/usr/lib/systemd/system/ldprof-flush.timer")
    assert tim["Timer"]["Persistent"] == ["true"]
    assert tim["Install"]["WantedBy"] == ["timers.target"]
    assert "Unit" not in tim["Timer"], "the timer starts the service of its own name"
    # every 5 minutes, as systemd itself reads the calendar expression
    r = run(["systemd-analyze", "calendar", "--iterations=3", tim["Timer"]["OnCalendar"][0]],
            env=clean_env(PATH=SBIN_PATH, TZ="UTC"))
    assert r.returncode == 0, r.stderr
    assert b"Normalized form: *-*-* *:00/5:00" in r.stdout
    ag = unit(PKG / "stage/usr/lib/systemd/system/ldprof-agent.service")
    assert ag["Service"]["ExecStart"] == ["/usr/sbin/ldprof-agent"]
    assert ag["Service"]["Restart"] == ["on-failure"]
    assert ag["Service"]["RuntimeDirectory"] == ["ldprof"]
    assert set(ag["Service"]["CapabilityBoundingSet"][0].split()) >= {"CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE"}
    assert "Install" in ag and ag["Install"]["WantedBy"] == ["multi-user.target"]
    text = [f.read_text() for f in (PKG / "stage/usr/lib/systemd/system").iterdir()]
    assert not any("@" in t for t in text), "every @PLACEHOLDER@ was filled in"


# ---------------------------------------------------------------------------------------------
# installed for real, in the namespace

def test_deb_install_preload_remove_purge(ns):
    r = ns.ok(f"dpkg -i {DEB}")
    assert b'run "ldprof install"' in r.stdout, "postinst says how to start, in one line"
    assert r.stdout.count(b"ldprof install") == 1
    assert ns.read(PRELOAD) is None, "installing the package never touches /etc/ld.so.preload"
    r = ns.ok("stat -c '%n %A %U:%G' " + " ".join(FILES))
    got = {line.split()[0]: line.split()[1:] for line in r.stdout.decode().splitlines()}
    assert got == {p: [m, "root:root"] for p, m in FILES.items()}
    assert ns.read("/etc/ldprof/ldprof.ini") == (ROOT / "config/ldprof.ini").read_bytes()
    assert ns.exists("/etc/systemd/system/timers.target.wants/ldprof-flush.timer"), "timer enabled"
    r = ns.sh("systemd-analyze verify /usr/lib/systemd/system/ldprof-flush.service "
              "/usr/lib/systemd/system/ldprof-flush.timer")
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    r = ns.ok("ldprof flush")
    assert b"nothing is spooled" in r.stdout

    ns.ok(f"printf '{OTHER.decode()}' >{PRELOAD}")
    r = ns.ok("ldprof install")
    assert ns.read(PRELOAD) == OTHER + LINE.encode() + b"\n"
    # [agent] rings, the default: the agent is the host's collector, and the package does not
    # start it; install and status say that nothing is profiled without it
    assert b"ldprof-agent is not running on /run/ldprof/agent.sock" in r.stdout, r.stdout
    ns.true_is_clean()
    r = ns.ok("ldprof status")
    assert f"ours     line 3: {SHIM64}: ok".encode() in r.stdout, r.stdout
    assert b"stub     /usr/lib/ldprof/lib32/libldprof.so: ok" in r.stdout, r.stdout
    assert b"not running (no such socket); [agent] rings: no process is profiled" in r.stdout, r.stdout
    # the packaged agent started as its unit starts it: a program that burns CPU is profiled
    # through the installed shim into the packaged profile folder
    ns.ok("mkdir -p /run/ldprof && (LDPROF_DISABLED=1 /usr/sbin/ldprof-agent </dev/null "
          ">/run/agent.log 2>&1 & echo $! >/run/agent.pid)")
    try:
        ns.ok("for i in $(seq 300); do grep -q 'ldprof-agent: ready' /run/agent.log && exit 0; "
              "sleep 0.1; done; cat /run/agent.log >&2; exit 1")
        r = ns.ok(f"{prog('burn')} 600")
        assert r.stdout.startswith(b"burn: done") and r.stderr == b"", r
        r = ns.ok("ldprof status")
        assert b"agent    /run/ldprof/agent.sock: up" in r.stdout and b"collecting" in r.stdout, r.stdout
    finally:
        ns.sh("kill -TERM $(cat /run/agent.pid); for i in $(seq 300); do "
              "kill -0 $(cat /run/agent.pid) 2>/dev/null || exit 0; sleep 0.1; done; exit 1")
    log = ns.read("/run/agent.log")
    assert b"collecting rings" in log and b"Sanitizer" not in log, log
    r = ns.ok("find /var/lib/ldprof/profiles -name 'burn.*.pb.gz'")
    assert r.stdout.strip(), ns.read("/run/agent.log")

    r = ns.ok("dpkg -r ldprof")
    assert f'removed "{LINE}"'.encode() in r.stdout, "prerm ran `ldprof uninstall`"
    assert b"cannot be preloaded" not in r.stderr, "the line went before the library did"
    assert ns.read(PRELOAD) == OTHER, "prerm took exactly our line out"
    assert not ns.exists("/usr/lib/ldprof") and not ns.exists("/usr/bin/ldprof")
    ns.true_is_clean()
    assert ns.read("/etc/ldprof/ldprof.ini") is not None, "remove keeps the conffile"
    assert ns.ok("dpkg-query -W -f='${db:Status-Abbrev}' ldprof").stdout == b"rc "

    ns.ok("dpkg -P ldprof")
    for p in ("/etc/ldprof", "/var/lib/ldprof", PRELOAD + ".ldprof-backup",
              "/etc/systemd/system/timers.target.wants/ldprof-flush.timer"):
        assert not ns.exists(p), f"{p} is still there after purge"
    assert ns.read(PRELOAD) == OTHER
    assert ns.sh("dpkg -s ldprof").returncode == 1
    ns.true_is_clean()


def repack_deb(tmp, version):
    d = tmp / "repack"
    assert run(["dpkg-deb", "-R", str(DEB), str(d)]).returncode == 0
    ctl = d / "DEBIAN/control"
    ctl.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", ctl.read_text()))
    out = tmp / f"ldprof_{version}_{DEB_ARCH}.deb"
    r = run(["dpkg-deb", "--root-owner-group", "-b", str(d), str(out)])
    assert r.returncode == 0, r.stderr
    return out


def test_deb_upgrade_keeps_the_line(ns, tmp_path):
    newer = repack_deb(tmp_path, VERSION + "+1")
    ns.ok(f"dpkg -i {DEB}")
    ns.ok("ldprof install")
    inode = ns.ok(f"stat -c %i {SHIM64}").stdout
    r = ns.ok(f"dpkg -i {newer}")
    assert b"ldprof install" not in r.stdout, "no hint when the line is there already"
    assert b"Unpacking ldprof (" + (VERSION + "+1").encode() in r.stdout
    assert ns.read(PRELOAD) == LINE.encode() + b"\n", "the upgrade kept our line"
    assert ns.ok(f"stat -c %i {SHIM64}").stdout != inode, "dpkg replaced the library (by rename)"
    ns.true_is_clean()
    r = ns.ok("dpkg -r ldprof")
    assert b"cannot be preloaded" not in r.stderr, "the line went before the library did"
    assert ns.read(PRELOAD) is None, "ldprof had created the file: uninstall removed it"
    ns.true_is_clean()


def test_deb_upgrade_from_the_plain_line_then_install_serves_32_bit(ns, tmp_path):
    """An older version wrote the plain path: after the upgrade it still works for 64-bit
    programs (the package keeps it, as a link), postinst says how to get the $LIB line, and
    `ldprof install` replaces it; from then on a 32-bit program prints nothing of ours."""
    abi32 = tmp_path / "abi32"
    r = run(["gcc", "-m32", "-O2", "-o", str(abi32), str(ROOT / "tests/host/abi32.c")])
    assert r.returncode == 0, r.stderr
    plain = run([str(abi32)])
    assert plain.returncode == 3 and plain.stdout.startswith(b"abi32: pointer=4 ")
    newer = repack_deb(tmp_path, VERSION + "+1")
    ns.ok(f"dpkg -i {DEB}")
    ns.ok(f"echo {LEGACY} >{PRELOAD}")  # as an older `ldprof install` wrote it
    r = ns.ok(f"dpkg -i {newer}")
    assert f"names {LEGACY}, which 32-bit programs cannot load".encode() in r.stdout, r.stdout
    assert ns.read(PRELOAD) == LEGACY.encode() + b"\n", "the upgrade kept the line"
    ns.true_is_clean()
    r = ns.sh(str(abi32))
    assert b"wrong ELF class: ELFCLASS64" in r.stderr, "the plain line: the 32-bit loader complains"
    r = ns.ok("ldprof install")
    assert f'replaced our older line with "{LINE}"'.encode() in r.stdout, r.stdout
    assert ns.read(PRELOAD) == LINE.encode() + b"\n"
    ns.true_is_clean()
    r = ns.sh(str(abi32))
    assert (r.returncode, r.stdout, r.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    r = ns.ok(f"dpkg -i {newer}")
    assert b"32-bit" not in r.stdout, "no hint once the line is this version's"
    ns.ok("dpkg -r ldprof")
    assert ns.read(PRELOAD) == b"", "the file was there before ldprof install: kept, empty"
    ns.true_is_clean()


def test_deb_remove_when_ldprof_uninstall_fails_uses_sed(ns):
    ns.ok(f"dpkg -i {DEB}")
    ns.ok(f"printf '{OTHER.decode()}' >{PRELOAD}")
    ns.ok("ldprof install")
    # a broken ldprof command: the fallback must still take the line out
    ns.ok("printf '#!/bin/sh\\nexit 1\\n' >/usr/bin/ldprof")
    r = ns.ok("dpkg -r ldprof")
    assert b"taking our line out of /etc/ld.so.preload with sed" in r.stderr
    assert ns.read(PRELOAD) == OTHER
    assert ns.ok(f"stat -c %a {PRELOAD}").stdout == b"644\n"
    ns.true_is_clean()


def test_deb_remove_refuses_while_another_line_names_the_library(ns):
    ns.ok(f"dpkg -i {DEB}")
    # a line of the admin's own, naming our library among others: not ours to edit
    mixed = b"/usr/lib/x86_64-linux-gnu/libz.so.1 /usr/lib/ldprof/libldprof.so\n"
    ns.ok(f"printf '{mixed.decode()}' >{PRELOAD}")
    r = ns.sh("dpkg -r ldprof")
    assert r.returncode != 0
    assert b"names a library in /usr/lib/ldprof in a line that" in r.stderr
    assert ns.exists(SHIM64), "the package, library included, stays"
    # wanted: removed; state: still installed
    assert ns.ok("dpkg-query -W -f='${db:Status-Abbrev}' ldprof").stdout == b"ri "
    ns.true_is_clean()
    # once the admin fixed the line, removal goes through
    ns.ok(f"printf '/usr/lib/x86_64-linux-gnu/libz.so.1\\n' >{PRELOAD}")
    ns.ok("dpkg -r ldprof")
    ns.true_is_clean()


def test_deb_purge_takes_out_a_stale_line(ns):
    """postrm's last look: a line left after the library went (prerm could not run) goes too."""
    ns.ok(f"dpkg -i {DEB}")
    ns.ok("dpkg -r ldprof")
    ns.ok(f"printf '%s\\n' {LEGACY} '{LINE}' >{PRELOAD}")
    r = ns.sh("/bin/true")
    assert b"cannot be preloaded" in r.stderr, "the hazard is real: every program complains"
    ns.ok("dpkg -P ldprof")
    assert ns.read(PRELOAD) == b""
    ns.true_is_clean()


def test_rpm_install_upgrade_remove(ns, tmp_path):
    make("rpm", f"PKG={tmp_path / 'pkg2'}", "RPM_RELEASE=2")
    newer = tmp_path / "pkg2" / f"ldprof-{VERSION}-2.{RPM_ARCH}.rpm"
    db = tmp_path / "rpmdb"
    rpm = f"rpm --dbpath {db}"
    ns.ok(f"mkdir {db} && {rpm} --initdb")
    r = ns.ok(f"{rpm} -i --nodeps {RPM}")
    assert b'run "ldprof install"' in r.stdout
    assert ns.read(PRELOAD) is None
    r = ns.ok("stat -c '%n %A %U:%G' " + " ".join(FILES))
    got = {line.split()[0]: line.split()[1:] for line in r.stdout.decode().splitlines()}
    assert got == {p: [m, "root:root"] for p, m in FILES.items()}
    assert ns.exists("/etc/systemd/system/timers.target.wants/ldprof-flush.timer"), "timer enabled"
    ns.ok(f"printf '{OTHER.decode()}' >{PRELOAD}")
    ns.ok("ldprof install")
    ns.true_is_clean()

    inode = ns.ok(f"stat -c %i {SHIM64}").stdout
    r = ns.ok(f"{rpm} -U --nodeps {newer}")
    assert ns.read(PRELOAD) == OTHER + LINE.encode() + b"\n", "the upgrade kept our line"
    assert ns.ok(f"stat -c %i {SHIM64}").stdout != inode
    assert ns.ok(f"{rpm} -q ldprof").stdout == f"ldprof-{VERSION}-2.{RPM_ARCH}\n".encode()
    ns.true_is_clean()

    # refused while a line of someone else's names the library
    ns.ok(f"printf '/usr/lib/x86_64-linux-gnu/libz.so.1:{SHIM64}\\n' >>{PRELOAD}")
    r = ns.sh(f"{rpm} -e ldprof")
    assert r.returncode != 0 and b"in a line that" in r.stderr
    assert ns.exists(SHIM64)
    assert LINE.encode() + b"\n" in ns.read(PRELOAD), "a refused removal changed nothing"
    ns.ok(f"sed -i '$d' {PRELOAD}")

    r = ns.ok(f"{rpm} -e ldprof")
    assert f'removed "{LINE}"'.encode() in r.stdout, "preun ran `ldprof uninstall`"
    assert b"cannot be preloaded" not in r.stderr, "the line went before the library did"
    assert ns.read(PRELOAD) == OTHER
    for p in ("/usr/bin/ldprof", "/usr/lib/ldprof", "/etc/ldprof",
              "/etc/systemd/system/timers.target.wants/ldprof-flush.timer"):
        assert not ns.exists(p), p
    ns.true_is_clean()


def test_host_untouched(built):
    """After every test above: the real host is as it was before the first."""
    assert host_state() == built
