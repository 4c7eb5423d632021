"""What does ``picklecheck inspect`` cost, in time and memory, on real and hostile files?

Run ``python benchmarks/bench_inspect.py``. Each row times ``inspect_file`` (best of
``--repeat``) and, in a separate untimed pass, its tracemalloc peak, against the same
run's ``pickle.dumps`` and ``pickle.loads`` of the object the file holds (for the
hostile files, which hold no such object, against ``pickle.loads`` of the file where it
loads at all). Files:

* ``records``: a session-state-like graph of 10^4 records (:mod:`_graphs`), protocol 5;
* ``missing-3000``: 3,000 globals from modules that do not exist (each one is looked
  for; ``sys.path`` is listed once);
* ``memo-bomb``: one list memoized 1,000,000 times (1 MB of MEMOIZE opcodes);
* ``stack-bomb``: 1,000,000 EMPTY_LIST opcodes.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _graphs  # noqa: E402

from picklecheck.tools.pickle_file import inspect_file  # noqa: E402


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def files() -> list[tuple[str, bytes, Any]]:
    graph = _graphs.build(10_000, 0)[0]
    missing = b"(" + b"".join(f"cmissing_mod_{i}\nThing\n0".encode() for i in range(3000)) + b"N."
    return [
        ("records", pickle.dumps(graph, protocol=5), graph),
        ("missing-3000", missing, None),
        ("memo-bomb", b"\x80\x04]" + b"\x94" * 1_000_000 + b".", None),
        ("stack-bomb", b"\x80\x04" + b"]" * 1_000_000 + b".", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| file | size | inspect ms | pickle.loads ms | ratio | inspect peak | peak / size |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name, data, _obj in files():
            path = os.path.join(folder, f"{name}.pkl")
            with open(path, "wb") as f:
                f.write(data)
            run = (lambda p=path: inspect_file(p))  # noqa: E731
            seconds = best(run, args.repeat)
            try:
                loads = best(lambda d=data: pickle.loads(d), args.repeat)  # noqa: S301
                loads_ms = f"{loads * 1e3:,.1f}"
                ratio = f"{seconds / loads:,.1f}x"
            except Exception:  # noqa: BLE001 - a hostile file need not load
                loads_ms, ratio = "fails", "-"
            top = peak(run)
            print(f"| {name} | {len(data):,} B | {seconds * 1e3:,.1f} | {loads_ms} | {ratio} "
                  f"| {top / 2**20:,.2f} MiB | {top / len(data):.1f} |", flush=True)


if __name__ == "__main__":
    main()
