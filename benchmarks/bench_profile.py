"""How much does ``picklecheck.profile`` cost over one plain ``pickle.dumps`` of the same graph?

Run ``python benchmarks/bench_profile.py`` (``--quick`` for 10^4 and 10^5 objects only,
``--sizes 10000,100000`` for your own sizes). Two graphs per size, both from
:mod:`_graphs` (session-state-like dicts of records):

* ``spread``: the clean graph as built; no part stands out, so the profile stops early;
* ``needle``: the same graph with a 1 MiB bytes value planted four levels deep
  (``obj['records'][i].meta['blob']``), so the profile drills down to it.

Each timing is the best of ``--repeat`` runs, profile and dumps measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _graphs  # noqa: E402

from picklecheck.tools.sizes import profile  # noqa: E402

NEEDLE = 1 << 20


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def graphs(n: int) -> dict[str, Any]:
    spread, _ = _graphs.build(n, 0, "none")
    needle, _ = _graphs.build(n, 0, "none")
    records = needle["records"]
    records[len(records) // 2].meta["blob"] = b"n" * NEEDLE
    return {"spread": spread, "needle": needle}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 objects only")
    parser.add_argument("--sizes", help="comma-separated object counts")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    print(f"python {sys.version.split()[0]}, pickle protocol {pickle.DEFAULT_PROTOCOL}")
    print(f"{'objects':>10}  {'graph':<7} {'payload':>10}  {'dumps':>9}  {'profile':>9}  "
          f"{'ratio':>6}  {'passes':>6}  top path")
    for n in sizes:
        for label, graph in graphs(n).items():
            size = len(pickle.dumps(graph))
            dumps_t = best(lambda graph=graph: pickle.dumps(graph), args.repeat)
            result = profile(graph)
            prof_t = best(lambda graph=graph: profile(graph), args.repeat)
            print(f"{n:>10,}  {label:<7} {size:>10,}  {dumps_t * 1e3:>7.1f}ms  "
                  f"{prof_t * 1e3:>7.1f}ms  {prof_t / dumps_t:>6.1f}  {result.passes:>6}  "
                  f"{result.entries[0].path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
