# SPDX-License-Identifier: MIT
"""dlopen/dlclose churn at 1000 Hz: the unwinder must neither deadlock on the loader lock
(gperftools 775, 1188, 1583) nor crash unwinding through a library being unloaded; the
background thread's symbolization must cope with libraries that come and go."""
from conftest import Stacks, ldprof_run, preload_env, prog, profiles_for, read_log, run, status_of

OK = b"dlchurn: done ok=yes\n"


def test_dlopen_dlclose_churn_at_1000hz(outdir):
    r = ldprof_run([prog("dlchurn"), "3"], outdir=outdir, hz=1000, timeout=60)
    assert r.returncode == 0, f"exit {status_of(r)}: {r.stderr[-800:]!r}"
    assert r.stdout == OK
    st = Stacks(profiles_for(outdir, comm="dlchurn"))
    assert st.total() > 1000, f"only {st.total()} samples in ~3 s x several busy threads at 1000 Hz"
    assert st.with_func("churn_burn") > 0, st.dump()


def test_dlopen_churn_with_frequent_flushes(outdir):
    # flushing every 200 ms makes the background thread symbolize while libraries come and go
    env = preload_env(outdir, LDPROF_SAMPLING_HZ=1000, LDPROF_SAMPLING_FLUSH_INTERVAL="200ms",
                      LDPROF_LOG_FILE=outdir / "log.txt")
    r = run([prog("dlchurn"), "3"], env=env, timeout=60)
    assert r.returncode == 0, f"exit {status_of(r)}: {r.stderr[-800:]!r}\n{read_log(outdir, outdir / 'log.txt')[-2000:]}"
    assert r.stdout == OK
    files = profiles_for(outdir, comm="dlchurn")
    assert len(files) >= 5, f"{len(files)} profiles in 3 s with 200 ms windows"

