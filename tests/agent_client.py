# SPDX-License-Identifier: MIT
"""A client of ldprof-agent's socket that speaks for itself, as the shim does (common/agentproto.h).

  agent_client.py SOCK REQUEST                  prints the reply on stdout, as received
  agent_client.py SOCK REQUEST PROGRAM ARGS...  prints the reply on stderr, then execs PROGRAM
  agent_client.py --handoff SOCK REQUEST        connects, forks, exits; the child sends REQUEST
                                                on the dead parent's connection
  agent_client.py --garbage SOCK                sends what no client should
  agent_client.py --flood N SOCK REQUEST        N forked processes ask at once; prints counts
  agent_client.py --hold N SOCK REQUEST         N processes ask and stay alive until all have
                                                their answer; prints counts
"""
import os
import select
import socket
import sys
import time


def ask_on(s, msg, timeout=2.0):
    s.send(msg if isinstance(msg, bytes) else msg.encode())
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return b""
    try:
        return s.recv(65536)
    except OSError:
        return b""


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s


def kind(reply):
    if reply.startswith(b"LDPA1 ok"):
        return "ok"
    if reply == b"LDPA1 no rate limit":
        return "rate_limit"
    if reply.startswith(b"LDPA1 no too many processes"):
        return "cap"
    return "other"


def many(n, path, msg, hold):
    """Forks n children that each ask once; returns the count of each kind of reply."""
    rd, wr = os.pipe()
    gate_rd, gate_wr = os.pipe()
    kids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(rd)
            os.close(gate_wr)
            try:
                s = connect(path)
                reply = ask_on(s, msg)
                s.close()
            except OSError:
                reply = b""
            os.write(wr, (kind(reply) + "\n").encode())
            if hold:
                os.read(gate_rd, 1)  # until the parent closes the gate
            os._exit(0)
        kids.append(pid)
    os.close(wr)
    os.close(gate_rd)
    got = b""
    while got.count(b"\n") < n:
        chunk = os.read(rd, 65536)
        if not chunk:
            break
        got += chunk
    os.close(gate_wr)
    for pid in kids:
        os.waitpid(pid, 0)
    counts = {"ok": 0, "rate_limit": 0, "cap": 0, "other": 0}
    for line in got.decode().split():
        counts[line] += 1
    return counts


def main(argv):
    if argv[1] in ("--flood", "--hold"):
        counts = many(int(argv[2]), argv[3], argv[4], argv[1] == "--hold")
        print(" ".join(f"{k}={v}" for k, v in counts.items()))
        return 0
    if argv[1] == "--handoff":
        s = connect(argv[2])
        pid = os.fork()
        if pid:
            os._exit(0)  # the creator dies; the child keeps the connection
        deadline = time.monotonic() + 5
        while os.getppid() != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            os.kill(pid, 0)
        except OSError:
            pass
        time.sleep(0.2)  # the creator is reaped by now
        print(f"handoff reply: {ask_on(s, argv[3], 1.0)!r}", flush=True)
        return 0
    if argv[1] == "--garbage":
        path = argv[2]
        for junk in (b"\x00\xffjunk", b"A" * 4000, b"LDPA1", b"LDPA1 register please",
                     b"LDPA1 status\n", b"ldpa1 register"):
            s = connect(path)
            print(repr(ask_on(s, junk)), flush=True)
            s.close()
        s = connect(path)  # empty message
        print(repr(ask_on(s, b"")), flush=True)
        s.close()
        slow = connect(path)  # says nothing: dropped after a second
        s = connect(path)  # connects and leaves
        s.close()
        r, _, _ = select.select([slow], [], [], 3.0)
        print(f"slow client dropped: {bool(r) and slow.recv(100) == b''}", flush=True)
        slow.close()
        return 0
    s = connect(argv[1])
    reply = ask_on(s, argv[2])
    s.close()
    if len(argv) > 3:
        sys.stderr.buffer.write(reply + b"\n")
        sys.stderr.flush()
        os.execv(argv[3], argv[3:])
    sys.stdout.buffer.write(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
