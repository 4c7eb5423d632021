"""What does picklecheck's Streamlit hook cost on a rerun whose large state did not change?

Run ``python benchmarks/bench_session.py`` (``--reruns N``, default 40). The state is a
40 MB DataFrame (500,000 x 10 floats) and 100,000 small dicts, as issue 13 asks. Two
measurements, each with and without the hook in the same run:

* **reruns**: ``AppTest.run()`` of the same small app in sessions holding that state,
  interleaved (no hook, hook, no hook, ...); the median of each is a typical rerun.
  Variants: the hook as shipped (unchanged values trusted between full checks), the
  hook checking everything on every run (``full_check_every=0``), and both again with
  Streamlit's own ``runner.enforceSerializableSessionState`` on, where "no hook" is
  Streamlit's own check.
* **the check alone**: the end-of-run check (``SessionState.maybe_check_serializable``)
  timed on its own on a session holding the same state: the part of a rerun the hook
  adds, in microseconds, without AppTest's noise.

Times are CPU seconds of the process (all threads). Ratios are against the same run's
reruns without the hook; the target is at most 1.10x for the hook as shipped with
unchanged state.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

APP = '''
import streamlit as st

variant = st.session_state["bench_variant"]
if variant != "none":
    import picklecheck.streamlit

    picklecheck.streamlit.enable(full_check_every=0 if variant == "full" else 30.0)
st.write("rows:", len(st.session_state.rows), "columns:", len(st.session_state.df.columns))
'''
OPTION = "runner.enforceSerializableSessionState"


def make_state() -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((500_000, 10)), columns=list("abcdefghij"))
    rows = [{"id": i, "name": f"user{i}", "score": i * 0.5} for i in range(100_000)]
    return {"df": frame, "rows": rows}


def session(app: Path, variant: str, state: dict[str, Any]) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(app), default_timeout=120)
    at.session_state["bench_variant"] = variant
    for key, value in state.items():
        at.session_state[key] = value
    at.run()  # the first run: a full check with the hook
    return at


def timed(fn: Any) -> float:
    """CPU seconds of this process (every thread) spent in ``fn()``.

    A rerun's cost is the CPU it takes; wall time on 2 cores shared with other
    processes mostly measures them. AppTest's own 1 ms polling sleeps cost no CPU.
    """
    start = time.process_time()
    fn()
    return time.process_time() - start


def reruns(app: Path, state: dict[str, Any], variants: list[str], n: int
           ) -> dict[str, tuple[float, float]]:
    """(best, median) seconds per rerun of each variant, runs interleaved."""
    sessions = {v: session(app, v, state) for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(n):
        for variant, at in sessions.items():
            gc.collect()
            times[variant].append(timed(at.run))
            assert not at.exception, [e.message for e in at.exception]
    return {v: (min(t), statistics.median(t)) for v, t in times.items()}


def check_alone(state: dict[str, Any], full_check_every: float, n: int) -> float:
    """Median seconds of the end-of-run check itself on a session holding ``state``."""
    from streamlit.runtime.state.session_state import SessionState

    import picklecheck.integrations.streamlit as hook
    from picklecheck.integrations.config import resolve

    hook.enable()
    st_state = SessionState()
    for key, value in state.items():
        st_state[key] = value
    st_state[hook._HOOK_KEY] = hook._Hook(resolve(roundtrip=True, default_roundtrip=True),
                                          full_check_every)
    st_state.maybe_check_serializable()  # the first, full check
    return statistics.median(timed(st_state.maybe_check_serializable) for _ in range(n))


def row(name: str, times: tuple[float, float], base: tuple[float, float],
        target: str = "") -> str:
    (best, median), ratio = times, times[0] / base[0]
    verdict = "" if not target else ("pass" if ratio <= float(target.strip("≤x")) else "**FAIL**")
    return (f"| {name} | {best * 1e3:,.1f} | {median * 1e3:,.1f} | {ratio:.2f}x | "
            f"{median / base[1]:.2f}x | {target} | {verdict} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=40)
    args = parser.parse_args(argv)
    from streamlit import config as st_config

    state = make_state()
    gc.collect()
    gc.freeze()  # collections during the runs need not scan the state
    print(f"state: DataFrame {state['df'].memory_usage().sum() / 1e6:.0f} MB, "
          f"{len(state['rows']):,} dicts; Python {sys.version.split()[0]}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        app = Path(folder) / "bench_app.py"
        app.write_text(APP)
        os.chdir(folder)
        st_config.set_option(OPTION, False)
        off = reruns(app, state, ["none", "hook"], args.reruns)
        full = reruns(app, state, ["full"], max(3, args.reruns // 8))["full"]
        st_config.set_option(OPTION, True)
        on = reruns(app, state, ["none", "hook"], max(3, args.reruns // 8))
        st_config.set_option(OPTION, False)
    alone = check_alone(state, 30.0, args.reruns * 10)
    alone_full = check_alone(state, 0.0, max(3, args.reruns // 8))

    print("Streamlit rerun with unchanged large state (CPU ms per AppTest.run(); ratio of best, "
          "and of medians)\n")
    print("| variant | best ms | median ms | ratio | ratio of medians | target | pass |\n"
          "|---|---:|---:|---:|---:|---:|:---:|")
    print(row("no hook (Streamlit's option off)", off["none"], off["none"]))
    print(row("hook, as shipped", off["hook"], off["none"], "≤1.10x"))
    print(row("hook, full_check_every=0", full, off["none"]))
    print(row("Streamlit's own check (option on), no hook", on["none"], on["none"]))
    print(row("hook with Streamlit's option on", on["hook"], on["none"], "≤1.10x"))
    print("\nThe end-of-run check alone, on the same state (median CPU ms)\n")
    print("| check | ms | ratio to a rerun without the hook (best) |\n|---|---:|---:|")
    base = off["none"][0]
    print(f"| hook, unchanged values trusted | {alone * 1e3:,.3f} | {(base + alone) / base:.3f}x |")
    print(f"| hook, full check (first run, then every 30 s) | {alone_full * 1e3:,.1f} | "
          f"{(base + alone_full) / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
