# SPDX-License-Identifier: MIT
"""dlopen/dlclose churn at 1000 Hz: the unwinder must neither deadlock on the loader lock
(gperftools 775, 1188, 1583) nor crash unwinding through a library being unloaded; the
collector's symbolization must cope with libraries that come and go. A library the
program has just loaded is unwound through from its first sample."""
import re

import pytest

from agentlib import AGENT_SAN, Agent, wait_for_comm, world  # noqa: F401  (world: a fixture)
from conftest import (Stacks, clean_env, ldprof_run, preload_env, prog, profiles_for, read_log, run,
                      status_of)

OK = b"dlchurn: done ok=yes\n"


def test_dlopen_dlclose_churn_at_1000hz(outdir):
    r = ldprof_run([prog("dlchurn"), "3"], outdir=outdir, hz=1000, timeout=60)
    assert r.returncode == 0, f"exit {status_of(r)}: {r.stderr[-800:]!r}"
    assert r.stdout == OK
    st = Stacks(profiles_for(outdir, comm="dlchurn"))
    assert st.total() > 1000, f"only {st.total()} samples in ~3 s x several busy threads at 1000 Hz"
    assert st.with_func("churn_burn") > 0, st.dump()


def test_dlopen_churn_with_frequent_flushes(outdir):
    # flushing every 200 ms makes the collector symbolize while libraries come and go
    r = ldprof_run([prog("dlchurn"), "3"], outdir=outdir, hz=1000, extra=["--flush-interval", "200ms"],
                   env=clean_env(), timeout=60)
    assert r.returncode == 0, f"exit {status_of(r)}: {r.stderr[-800:]!r}\n{read_log(outdir)[-2000:]}"
    assert r.stdout == OK
    files = profiles_for(outdir, comm="dlchurn")
    assert len(files) >= 5, f"{len(files)} profiles in 3 s with 200 ms windows"



FULL = ["__libc_start_main", "__libc_start_call_main"]


def agent_at(world, hz):
    """An agent (ASan, UBSan) collecting rings at hz."""
    base = world / "agent"
    return Agent(base, binary=AGENT_SAN, ini_text=(
        f"[sampling]\nhz = {hz}\nflush_interval = 1s\n[output]\nendpoint = file://{base}/out\n"
        f"[agent]\nsocket = {base}/agent.sock\n[log]\nlevel = info\n"))


@pytest.mark.parametrize("how", ["run", "by-hand-with-agent"])
def test_a_library_is_unwound_from_its_first_sample(outdir, world, how):
    # dlfresh dlopen()s libfresh.so (no frame pointers) and spends its first 200 ms in it: its
    # samples reach main and __libc_start_main from the first on, not only once the table is
    # rebuilt a second later (issue 14: 11 % did). The bare name is found through dlfresh's
    # RUNPATH: dlopen's caller is still the program's own code under the shim
    args = [prog("dlfresh"), "libfresh.so", "200"]
    if how == "run":
        r = ldprof_run(args, outdir=outdir, hz=997, env=clean_env(LDPROF_LOG_LEVEL="info"))
        files, log = profiles_for(outdir, comm="dlfresh"), read_log(outdir)
    else:
        # preloaded by hand as a host-wide install does it, the agent collecting the ring
        a = agent_at(world, 997)
        try:
            r = run(args, env=preload_env(outdir, LDPROF_SAMPLING_HZ=997, LDPROF_AGENT_SOCKET=a.sock,
                                          LDPROF_AGENT_RINGS="true", LDPROF_LOG_FILE=outdir / "ldprof.log",
                                          LDPROF_LOG_LEVEL="info"))
            files = wait_for_comm(a.out, "dlfresh")
        finally:
            log = a.stop().decode(errors="replace")
        assert "collector=" in read_log(outdir), read_log(outdir)
    assert (r.returncode, r.stdout) == (0, b"dlfresh: done\n"), r
    st = Stacks(files)
    lib = [(f, c) for f, c, _ in st.items if any(x.startswith("fresh_") for x in f)]
    in_lib = sum(c for _, c in lib)
    full = sum(c for f, c in lib if "main" in f and set(FULL) & set(f))
    assert in_lib >= 100, f"{in_lib} samples in the library in 200 ms at 997 Hz\n{st.dump()}"
    assert full >= 0.99 * in_lib, f"{full} of {in_lib} samples reach __libc_start_main\n{st.dump()}"
    # the ring sampler: the handler finds the new object itself (_dl_find_object), so every
    # stack was walked whole in the process, none stopped at an unknown address
    m = re.search(r"collector: .* (\d+) samples .*stacks: (\d+) whole, (\d+) stopped at an unknown "
                  r"address, (\d+) at an unmodelled rule", log)
    assert m, log[-2000:]
    samples, whole, no_object, no_rule = (int(x) for x in m.groups())
    assert samples > 0 and whole == samples and no_object == no_rule == 0, m[0]
