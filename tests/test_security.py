# SPDX-License-Identifier: MIT
"""What another local user can make a process carrying the shim, or root's `ldprof install`, do
(issue 18; docs/security.md): each finding here failed before its fix.

- A FIFO planted at the log's path held a program that had finished in open() for good.
- A newline in a setting (a config path) forged log lines.
- install checked only the library file itself, not the folders on its path (the code would
  run as root in every root process).
- ldprof-agent accepted a socket folder anyone could change and chmod()ed the socket by path
  after bind: a symbolic link swapped in made a root-only file world-writable.
"""
import os
import re
import shutil
import socket
import stat
import subprocess
import time

import pytest

from agentlib import AGENT, agent, world  # noqa: F401  (agent, world: fixtures)
from conftest import LDPROF, SHIM, clean_env, ldprof_for_all, ldprof_run, preload_env, prog, run, shared_folder
from receiver import Receiver

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def test_a_fifo_at_the_log_path_does_not_hold_the_program(outdir, agent):
    fifo = outdir / "ldprof.log"
    os.mkfifo(fifo)
    os.chmod(outdir, 0o1777)  # shared, so sticky: else no user may have a folder in it
    env = {sock: preload_env(outdir, LDPROF_LOG_FILE=fifo, LDPROF_LOG_LEVEL="info", LDPROF_AGENT_RINGS="true",
                             LDPROF_AGENT_SOCKET=sock) for sock in (agent.sock, "")}
    for who in ([], NOBODY):
        # the first stage logs a routine decision (excluded), that no collector takes its ring
        # (no agent to ask), or the agent's answer and its start on the ring sampler
        for sock, knobs in ((agent.sock, {"LDPROF_SELECT_EXCLUDE_COMM": "true"}), ("", {}), (agent.sock, {})):
            try:
                r = subprocess.run(who + ["/bin/true"], env={**env[sock], **knobs}, timeout=10,
                                   capture_output=True)
            except subprocess.TimeoutExpired:
                pytest.fail(f"held by the FIFO at {fifo} ({who or 'root'}, {knobs})")
            assert (r.returncode, r.stdout, r.stderr) == (0, b"", b""), r
    assert fifo.exists() and not fifo.is_file()


def test_a_fifo_at_the_log_path_does_not_hold_ldprof_run(outdir):
    """`ldprof run` logs into DIR/ldprof.log: its collector's lines (its totals at the end) are
    appended as the shim appends, so a FIFO there holds neither the program nor ldprof run,
    and the profiles are written all the same."""
    fifo = outdir / "ldprof.log"
    os.mkfifo(fifo)
    try:
        r = ldprof_run([prog("burn"), "200"], outdir=outdir, hz=499, timeout=30,
                       env=clean_env(LDPROF_LOG_LEVEL="info"))
    except subprocess.TimeoutExpired:
        pytest.fail(f"ldprof run held by the FIFO at {fifo}")
    assert (r.returncode, r.stderr) == (0, b""), r
    assert list(outdir.glob("burn.*.pb.gz")) and fifo.exists() and not fifo.is_file()


FORGED = "ldprof[1]: error: forged"


def test_control_characters_never_reach_a_log_line(world):
    """A user's own process (as root the log comes from root's config file alone). Two writers
    stay: the first stage's line (here naming the rule that excludes it, a glob whose class
    holds a forged line), and `ldprof run`'s (here the config file it cannot read: a path
    holding one)."""
    cli = ldprof_for_all(world)  # the shim in world/lib
    out = world / "out"
    out.mkdir()
    os.chmod(out, 0o1777)
    log = world / "ldprof.log"
    log.touch()
    os.chmod(log, 0o666)
    # the first stage: "tru[e...]" matches true
    env = clean_env(LDPROF_LOG_FILE=log, LDPROF_LOG_LEVEL="info", LDPROF_OUTPUT_ENDPOINT=f"file://{out}",
                    LDPROF_SELECT_START_AFTER_CPU="0", LDPROF_AGENT_RINGS="true",
                    LDPROF_SELECT_EXCLUDE_COMM="tru[e\nldprof(1): error: forged\r\x1b]")
    r = run(NOBODY + ["env", f"LD_PRELOAD={world / 'lib' / SHIM.name}", "/bin/true"], env=env)
    assert r.returncode == 0, r
    # ldprof run, its configuration unreadable: /bin/true runs without profiling, said in the log
    env = clean_env(LDPROF_LOG_FILE=log, LDPROF_LOG_LEVEL="info", LDPROF_CONFIG=f"/nonexistent\n{FORGED}\r\x1b[2J")
    r = run(NOBODY + [cli, "run", "-o", str(out), "--", "/bin/true"], env=env)
    assert r.returncode == 0, r
    log = log.read_text()
    assert "excluded by: exclude_comm=tru[e?ldprof(1): error: forged??]" in log, log
    assert "/nonexistent?ldprof[1]: error: forged??" in log, log
    lines = log.splitlines()
    assert len(lines) == 2 and all(re.match(r"ldprof\[\d+\]: ", ln) for ln in lines), log
    assert not any(ln.startswith((FORGED, "ldprof(1)")) for ln in lines), log
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", log), repr(log)


def copy_shim(d, owner=None):
    """The shim copied into a new folder d (mode 0755, file 0644), owned by owner when given
    (else by root)."""
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    shutil.copy(SHIM, d / SHIM.name)
    os.chmod(d / SHIM.name, 0o644)
    if owner:
        shutil.chown(d / SHIM.name, owner)
        shutil.chown(d, owner)
    return d


@pytest.fixture
def layout(layout_root):
    """A root-owned tree with the packages' layout (conftest), for `ldprof install --root`."""
    os.chmod(layout_root, 0o755)
    return layout_root


@pytest.mark.parametrize("how", ["folder 0777", "folder owned by nobody"])
def test_install_checks_every_folder(layout, how):
    lib = layout / "usr/lib/ldprof/lib/x86_64-linux-gnu"
    ok = run([str(LDPROF), "install", "--root", str(layout), "--dry-run"], env=clean_env())
    assert ok.returncode == 0, ok
    if how == "folder 0777":
        os.chmod(lib, 0o777)
    else:
        shutil.chown(layout / "usr/lib/ldprof", "nobody")
    r = run([str(LDPROF), "install", "--root", str(layout)], env=clean_env())
    assert r.returncode == 1 and b"refusing" in r.stderr, r
    assert not (layout / "etc/ld.so.preload").exists()
    st = run([str(LDPROF), "status", "--root", str(layout)], env=clean_env())
    assert st.returncode == 0, st  # nothing installed: nothing unsafe named


# ---- the agent's socket (finding 3) ----------------------------------------------------------

def agent_ini(tmp_path, sock):
    ini = tmp_path / "agent.ini"
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    ini.write_text(f"[output]\nendpoint = file://{out}\n[agent]\nsocket = {sock}\n")
    return ini


@pytest.mark.parametrize("how", ["mode 0777", "mode 1777", "owned by nobody", "a link to a folder"])
def test_the_agent_refuses_a_socket_folder_another_user_can_change(tmp_path, how):
    # in such a folder a user could swap the socket for a link between the agent's calls by
    # path: the agent used to chmod(path, 0666) after bind, making a root-only file writable
    os.chmod(tmp_path, 0o755)
    d = tmp_path / "sockdir"
    d.mkdir()
    if how.startswith("mode"):
        os.chmod(d, int(how.split()[1], 8))
    elif how == "owned by nobody":
        shutil.chown(d, "nobody")
    else:
        real = tmp_path / "real"
        d.rmdir()
        real.mkdir()
        d.symlink_to(real)
    r = run([str(AGENT), "--config", str(agent_ini(tmp_path, d / "agent.sock"))], env=clean_env(), timeout=30)
    assert r.returncode != 0, r
    assert b"its folder must be a folder of root's that nobody else can write" in r.stderr, r.stderr
    assert not (d / "agent.sock").exists()


def test_the_agent_socket_is_made_0666_by_bind_not_chmod(tmp_path):
    os.chmod(tmp_path, 0o755)
    sock = tmp_path / "run" / "agent.sock"  # the folder is made, 0755
    p = subprocess.Popen([str(AGENT), "--config", str(agent_ini(tmp_path, sock))], env=clean_env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if sock.exists():
                break
            time.sleep(0.05)
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o666 and st.st_uid == 0, st
        d = os.stat(sock.parent)
        assert stat.S_IMODE(d.st_mode) == 0o755 and d.st_uid == 0
    finally:
        p.terminate()
        p.wait(timeout=30)


# ---- finding 4: root writes only where no other user can point it --------------------------

@pytest.mark.parametrize("how", ["owned by nobody", "shared without the sticky bit"])
def test_a_base_folder_another_user_can_change_is_refused(world, how):
    """Under a base another user owns, or may write without the sticky bit, that user could
    swap <base>/<uid> for a link between the check and the write and send the profiles into
    a folder of their choice: such a base is refused, with one line saying why. The collector
    that would write there is `ldprof run`'s, as the user who runs it: it refuses to start CMD
    (docs/security.md), as when it cannot write to -o DIR."""
    cli = ldprof_for_all(world, ["output"])
    base = world / "base"
    base.mkdir()
    if how == "owned by nobody":
        shutil.chown(base, "nobody")
        os.chmod(base, 0o755)
        who, uid, why = [], 0, "belongs to uid 65534: only a folder of root's or uid 0's may hold uid 0's"
    else:
        os.chmod(base, 0o777)
        who, uid, why = NOBODY, 65534, ("is writable by others without the sticky bit (mode 777): they could "
                                        "replace uid 65534's folder in it")
    log = world / "ldprof.log"
    log.touch()
    os.chmod(log, 0o666)  # for nobody too
    cfg = world / "ldprof.ini"  # root's, in a folder of root's: trusted as root
    cfg.write_text(f"[output]\nendpoint = file://{base}\n[log]\nfile = {log}\nlevel = info\n")
    os.chmod(cfg, 0o644)
    r = run(list(who) + [cli, "run", "--config", str(cfg), "--", str(world / "bin" / "output"), "exit", "2"],
            env=clean_env(), input=b"x")
    said = f"no folder of uid {uid}'s own in {base}: {base} {why}"
    assert (r.returncode, r.stdout, r.stderr) == (1, b"", f"ldprof run: cannot collect: {said}\n".encode()), r
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"ldprof\[\d+\]: error: {re.escape(said)}", lines[0]), lines
    assert not list(base.iterdir()), "nothing is made in such a base"


# ---- finding 7: a folder made first by a user turns nothing of root's off ---------------------

def shared(world, name):
    base = shared_folder(world, name)
    squat = base / "0"
    run(NOBODY + ["mkdir", "-m", "0777", str(squat)])
    assert squat.stat().st_uid == 65534
    return base


def test_a_squatted_root_folder_does_not_stop_the_agent(world):
    """Any user could make /var/lib/ldprof/profiles/0 first: the agent then refused to start."""
    base = shared(world, "profiles")
    sock = world / "run" / "agent.sock"
    ini = world / "agent.ini"
    ini.write_text(f"[output]\nendpoint = file://{base}\n[agent]\nsocket = {sock}\n")
    p = subprocess.Popen([str(AGENT), "--config", str(ini)], env=clean_env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if sock.exists() or p.poll() is not None:
                break
            time.sleep(0.05)
        assert p.poll() is None, p.stderr.read()
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    assert b"was not root's own: moved aside to .squatted-0-uid65534-" in err, err
    st = os.lstat(base / "0")
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700
    assert list(base.glob(".squatted-0-uid65534-*")), "the user's folder is kept aside"


def test_a_squatted_root_spool_does_not_stop_the_flush(world):
    """Root's `ldprof flush` aborted for every user when spool/0 was someone else's."""
    base = shared(world, "spool")
    ini = world / "ldprof.ini"
    ini.write_text(f"[output]\nendpoint = http://127.0.0.1:9/\n[spool]\ndir = {base}\n")
    r = run([str(LDPROF), "flush", "--config", str(ini)], env=clean_env())
    assert r.returncode == 0, r
    assert b"moved aside to .squatted-0-uid65534-" in r.stderr, r.stderr
    assert b"sent 0 spooled profiles" in r.stdout, r.stdout


# ---- finding 8: a root process takes no place and no credential from its environment ---------

PLACES = ("LDPROF_OUTPUT_ENDPOINT", "LDPROF_OUTPUT_TOKEN_FILE", "LDPROF_OUTPUT_HEADER", "LDPROF_LOG_FILE",
          "LDPROF_SPOOL_DIR", "LDPROF_AGENT_SOCKET", "LDPROF_TLS_CA_FILE")


def test_root_takes_no_place_from_the_environment(world):
    """Where sudo keeps a user's environment, LDPROF_OUTPUT_TOKEN_FILE=/etc/shadow with an
    endpoint of the user's made a root process send that file's first line as its bearer token;
    the other places (log file, spool, endpoint, header, agent socket, TLS files) were taken
    too. As root they are now ignored, each with a warning, and root's config file decides; a
    user's own process still takes them all. The places are read by `ldprof run` (its collector
    ships) and by the first stage of every process (log file, agent socket)."""
    secret = world / "secret"
    secret.write_text("root-only-line\n")
    os.chmod(secret, 0o600)
    mine = world / "mine"
    mine.write_text("nobodys-token\n")
    shutil.chown(mine, "nobody")
    os.chmod(mine, 0o600)
    cli = ldprof_for_all(world, ["burn"])
    shim, burn = world / "lib" / SHIM.name, world / "bin" / "burn"
    users = world / "users"  # where the user points root's log, spool and socket: theirs
    users.mkdir()
    shutil.chown(users, "nobody")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # as the agent's
    sock.bind(str(users / "agent.sock"))
    os.chmod(users / "agent.sock", 0o666)
    sock.listen(16)
    sock.setblocking(False)
    roots = world / "roots"  # root's own, named in root's config
    (roots / "out").mkdir(parents=True)
    cfg = roots / "ldprof.ini"
    cfg.write_text(f"[output]\nendpoint = file://{roots}/out\n[log]\nfile = {roots}/ldprof.log\n"
                   "level = info\n[agent]\nsocket =\n")
    try:
        with Receiver(world / "rx") as rx:
            env = clean_env(LDPROF_OUTPUT_ENDPOINT=rx.url, LDPROF_OUTPUT_TOKEN_FILE=secret,
                            LDPROF_OUTPUT_HEADER="X-Scope-OrgID: users-tenant",
                            LDPROF_LOG_FILE=users / "ldprof.log", LDPROF_SPOOL_DIR=users / "spool",
                            LDPROF_AGENT_SOCKET=users / "agent.sock", LDPROF_TLS_CA_FILE=secret,
                            LDPROF_CONFIG=cfg)
            r = run([cli, "run", "--", str(burn), "200"], env=env)
            assert r.returncode == 0, r
            for var in PLACES:
                assert f"{var} is ignored when running as root".encode() in r.stderr, (var, r.stderr)
            # preloaded as installed: the first stage takes neither the log nor the socket
            r = run([str(burn), "200"], env={**env, "LD_PRELOAD": str(shim), "LDPROF_SELECT_START_AFTER_CPU": "0",
                                             "LDPROF_AGENT_RINGS": "true"})
            assert r.returncode == 0, r
            assert not rx.records(), rx.records()
            with pytest.raises(BlockingIOError):
                sock.accept()  # never asked the user's "agent"
            assert sorted(p.name for p in users.iterdir()) == ["agent.sock"], list(users.iterdir())
            assert list((roots / "out").glob("*/*.pb.gz")) or list((roots / "out").glob("*.pb.gz"))
            text = (roots / "ldprof.log").read_text()
            assert "staying off: no collector: no [agent] socket" in text, text

            # the same environment in a user's own `ldprof run`: all of it is theirs to choose
            env.update(LDPROF_OUTPUT_TOKEN_FILE=mine, LDPROF_TLS_CA_FILE="", LDPROF_SPOOL_MAX_BYTES="0")
            r = run(NOBODY + [cli, "run", "--", str(burn), "200"], env=env)
            assert r.returncode == 0 and b"ignored" not in r.stderr, r
            recs = rx.records()
        auth = [r["headers"].get("authorization", "") for r in recs]
        assert auth and set(auth) == {"Bearer nobodys-token"}, auth
        assert {r["headers"].get("x-scope-orgid") for r in recs} == {"users-tenant"}, recs
        assert "ignored" not in (users / "ldprof.log").read_text()
        conn, _ = sock.accept()  # nobody's process asked its "agent"
        conn.close()
    finally:
        sock.close()
