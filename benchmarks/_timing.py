"""Timing for the benchmarks that compare a check with a serializer in the same run."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

__all__ = ["best_of", "machine_speed", "timed"]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of this process in one call, with the collector off (the collection it
    saved runs untimed). CPU time, not wall time: on 2 cores shared with other work, wall
    time mostly measures the neighbours."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        result = fn()
        return time.process_time() - start, result
    finally:
        gc.enable()


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
