"""Does a clean round-trip check cost more than ``pickle.dumps`` + ``pickle.loads``?

Run ``python benchmarks/bench_roundtrip.py`` (``--sizes 100000`` for one size). The graph
is the session-state-like one of :mod:`_graphs` with no culprit; ``check(obj,
backends=("pickle",))`` dumps it and loads the bytes back the way every check does
(contained: here, in this process, because the load provably runs no code; see
``picklecheck.isolation.pure``), against a plain ``pickle.loads(pickle.dumps(obj))``.
Both are timed interleaved, best of k, in CPU time of this thread and picklecheck's check
threads (see :func:`_timing.timed`).
Target (issue 9): at most 1.2x from 10^5 objects up.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _graphs  # noqa: E402
from _timing import best_of  # noqa: E402

import picklecheck  # noqa: E402

TARGET = 1.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated object counts")
    args = parser.parse_args(argv)
    print("| objects | dumps + loads ms | check (round trip) ms | ratio | target | pass |")
    print("|---:|---:|---:|---:|---:|:---:|")
    for n in (int(x) for x in args.sizes.split(",")):
        graph, _ = _graphs.build(n, 0, "none")

        def check(graph: object = graph) -> None:
            report = picklecheck.check(graph, backends=("pickle",))
            assert report.ok and report.results["pickle"].roundtrip

        def plain(graph: object = graph) -> None:
            pickle.loads(pickle.dumps(graph))

        base, subject, _, _ = best_of(9 if n < 1_000_000 else 4, plain, check)
        ratio = subject / base
        print(f"| {n:,} | {base * 1e3:,.1f} | {subject * 1e3:,.1f} | {ratio:.2f}x | "
              f"≤{TARGET}x | {'pass' if ratio <= TARGET else '**FAIL**'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
