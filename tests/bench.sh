#!/bin/bash
# tests/bench.sh — `make bench`: the overhead table of ldprof (issue 2, "Benchmark").
#
# `make bench` builds test-bins (the shim, the ldprof command, ldprof-agent,
# tests/progs/bench_work and bench_work_static, tests/progs/bench_deep and tests/bench/spawn) and
# runs this script from the repository root.
# It prints ONE markdown table (medians of repeated, interleaved runs, with min–max and the
# targets) and writes it to build/bench.md. The measuring is done by tests/bench/bench.py with
# Debian's /usr/bin/python3 (not a python3 found first on PATH); the method of each row is
# described in that file and in the notes printed under the table. Takes about 7 minutes on 2
# cores. Pass --quick for a short smoke run (too few runs to quote), --only N[,N] for some
# sections only (sections 6 and 7, the eBPF agent, need root; section 8 opens the HTML report
# in Debian's Chromium; section 9 compares `ldprof run` with no profiler, against issue 15's
# targets). Every profiled row has a collector, as the shim needs one to sample: `ldprof run`
# (sections 1, 2, 3, 9), or an ldprof-agent of the bench's own taking the rings of the shim
# preloaded as installed (sections 4, 5, 10).
#
# Exit status: 0, or 1 when a profiled program misbehaved (different output, crash, hang; listed
# under the table) or a prerequisite is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
[ -x "$PY" ] || { echo "bench: $PY is missing (Debian package python3)" >&2; exit 1; }
for f in build/lib/libldprof.so build/bin/ldprof build/tests/progs/bench_work \
         build/tests/progs/bench_deep build/tests/bench/spawn build/tests/bench/libempty.so \
         build/tests/bench/libwaiter.so build/tests/bench/libthread0.so \
         build/tests/bench/forker \
         build/sbin/ldprof-agent build/tests/progs/bench_work_static build/tests/progs/agentbomb \
         build/tests/progs/burn \
         build/js/node_modules/.installed /usr/bin/chromium; do
	[ -e "$f" ] || { echo "bench: $f is missing: run 'make test-bins' (or 'make bench')" >&2; exit 1; }
done
busy=$(awk '{print $1}' /proc/loadavg)
echo "bench: load average $busy before starting (other work on this machine adds noise)" >&2
exec "$PY" tests/bench/bench.py "$@"
