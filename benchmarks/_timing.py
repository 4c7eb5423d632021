"""Timing for the benchmarks that compare a check with a serializer in the same run."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from picklecheck.isolation.deadline import HELPER_NAME

__all__ = ["best_of", "machine_speed", "timed"]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds one call took, with the collector off (the collection it saved runs
    untimed). CPU time, not wall time: on 2 cores shared with other work, wall time
    mostly measures the neighbours.

    The CPU time of this thread plus that of picklecheck's check helpers, each read
    from its own thread clock. Not the process clock: a check runs in a helper thread,
    and the process clock counts a thread still running on another core only once it
    stops or at the next tick, so the best of many runs picked readings taken too early
    (a check of 10^4 records read 0.34 ms where its own dump takes 1.1 ms)."""
    gc.collect()
    gc.disable()
    try:
        before = _helper_clocks()
        start = time.thread_time()
        result = fn()
        seconds = time.thread_time() - start
        for thread, clock in _helper_clocks().items():
            seconds += clock - before.get(thread, 0.0)  # a new helper: all of its time
        if seconds < 0:
            raise RuntimeError(f"a CPU clock went back by {-seconds * 1e3:.3f} ms")
        return seconds, result
    finally:
        gc.enable()


def _helper_clocks() -> dict[threading.Thread, float]:
    """CPU seconds so far of each live check helper thread, by thread object.

    Not by thread id: an idle helper leaves after two seconds, and the one started for
    the next check can get its id (a check of 10^6 strings once read -4,306 ms, the
    leaver's seconds taken from the newcomer's)."""
    clocks = {}
    for thread in threading.enumerate():
        if thread.name == HELPER_NAME and thread.ident is not None:
            try:
                clocks[thread] = time.clock_gettime(
                    time.pthread_getcpuclockid(thread.ident))
            except (OSError, ValueError):  # ended between the two calls: idle, no time
                continue
    return clocks


def best_of(k: int, baseline: Callable[[], Any], subject: Callable[[], Any]
            ) -> tuple[float, float, Any, float]:
    """Best of k of both, interleaved; also the spread of the baseline (max/min)."""
    base: list[float] = []
    best_s, result = float("inf"), None
    for _ in range(k):
        base.append(timed(baseline)[0])
        seconds, result = timed(subject)
        best_s = min(best_s, seconds)
    return min(base), best_s, result, max(base) / min(base)


def machine_speed() -> str:
    """How fast this machine is right now, for comparing runs: the CPU time of
    ``pickle.dumps`` of a million ints, best of 5. On 2 shared cores it moved between
    13 and 27 ms within one afternoon; a table is only comparable with one measured at
    about the same speed."""
    import pickle

    ints = list(range(1_000_000))
    best = min(timed(lambda: pickle.dumps(ints, 4))[0] for _ in range(5))
    return f"pickle.dumps of 10^6 ints took {best * 1e3:.1f} ms"
