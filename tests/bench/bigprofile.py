# SPDX-License-Identifier: MIT
"""A pprof profile of N distinct stacks (default 100,000) for the HTML report's benchmark:
`python3 tests/bench/bigprofile.py OUT.pb.gz [N]`. Stacks are random walks down a fixed call
graph of 3,000 functions in the program, libc and two libraries, 6 to 48 frames deep, so they
share prefixes as real ones do; the seed is fixed, so every run draws the same profile."""
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pprof_write import write_profile  # noqa: E402


def stacks(n, seed=1):
    rnd = random.Random(seed)
    funcs = [f"fn_{i:04d}_{rnd.choice(['parse', 'scan', 'hash', 'emit', 'copy', 'walk'])}"
             for i in range(3000)]
    callees = {f: rnd.sample(funcs, 6) for f in funcs}
    roots = ["main", "worker_main", "io_loop"]
    out = {}
    while len(out) < n:
        depth = rnd.randint(6, 48)
        stack = [rnd.choice(roots)]
        cur = rnd.choice(funcs)
        for _ in range(depth - 1):
            stack.append(cur)
            cur = rnd.choice(callees[cur])
        out[tuple(stack)] = out.get(tuple(stack), 0) + rnd.randint(1, 20)
    libs = {f: "/usr/lib/x86_64-linux-gnu/libc.so.6" for f in funcs[:400]}
    libs.update({f: "/usr/lib/x86_64-linux-gnu/libz.so.1" for f in funcs[400:700]})
    libs.update({f: "/usr/lib/x86_64-linux-gnu/libssl.so.3" for f in funcs[700:1000]})
    return out, libs


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    st, libs = stacks(n)
    write_profile(sys.argv[1], st, libs=libs)
