"""What does a framework backend's check cost over that framework's own serializer?

Run ``python benchmarks/bench_frameworks.py`` (``--sizes 10000,100000``, ``--repeat K``).
For each installed framework it times, on the clean session-state graph of
``_graphs.build``:

* ``check(obj, backends=(name,), roundtrip=False)`` against the framework's own
  serializer of the same graph (``ForkingPickler.dumps``, loky's ``dumps``,
  ``distributed.protocol.pickle.dumps``, ``ray.cloudpickle.dumps`` at protocol 5,
  ``CloudPickleSerializer().dumps``);
* ``roundtrip=True`` against that serializer followed by ``pickle.loads``.

Target: at most 1.3x. Best of K, interleaved, collector off while timed, in CPU time of
this thread and picklecheck's check threads (:func:`_timing.timed`): on a shared machine
wall time swings by more than the overhead measured here. Tables go to stdout as Markdown;
progress to stderr.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import sys
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _graphs  # noqa: E402
from _timing import best_of  # noqa: E402
from bench_check import log  # noqa: E402

from picklecheck import check  # noqa: E402
from picklecheck.backends import FRAMEWORK_NAMES, get_backend  # noqa: E402

TARGET = 1.3


def serializers() -> dict[str, Callable[[Any], bytes]]:
    """Each installed framework's own serializer, as its tasks use it."""
    found: dict[str, Callable[[Any], bytes]] = {}
    for name in FRAMEWORK_NAMES:
        if not get_backend(name).available:
            log(f"{name}: not installed, skipped")
            continue
        found[name] = _serializer(name)
    return found


def _serializer(name: str) -> Callable[[Any], bytes]:
    if name == "multiprocessing":
        from multiprocessing.reduction import ForkingPickler

        return lambda obj: bytes(ForkingPickler.dumps(obj))
    if name == "joblib":
        from joblib.externals.loky.backend import reduction

        return lambda obj: bytes(reduction.dumps(obj))
    if name == "dask":
        from distributed.protocol import pickle as dask_pickle

        return dask_pickle.dumps
    if name == "ray":
        import ray.cloudpickle

        return lambda obj: ray.cloudpickle.dumps(obj, protocol=5)
    from pyspark.serializers import CloudPickleSerializer

    return CloudPickleSerializer().dumps


def measure(sizes: list[int], repeat: int) -> list[tuple[Any, ...]]:
    rows = []
    own = serializers()
    for size in sizes:
        graph = _graphs.build(size, 0)
        for name, dumps in own.items():
            for roundtrip in (False, True):
                def baseline(dumps=dumps, roundtrip=roundtrip, graph=graph):
                    data = dumps(graph)
                    return pickle.loads(data) if roundtrip else data

                def subject(name=name, roundtrip=roundtrip, graph=graph):
                    return check(graph, backends=(name,), roundtrip=roundtrip)

                log(f"{name} {size:,} roundtrip={roundtrip}")
                base, subj, report, _ = best_of(repeat, baseline, subject)
                assert report.ok, str(report)
                rows.append((name, size, roundtrip, base, subj))
    return rows


def table(rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| backend | objects | round trip | framework's own ms | check ms | ratio | "
             "target | pass |", "|---|---:|:---:|---:|---:|---:|---:|:---:|"]
    for name, size, roundtrip, base, subj in rows:
        ratio = subj / base
        lines.append(
            f"| {name} | {size:,} | {'yes' if roundtrip else 'no'} | {base * 1e3:.1f} | "
            f"{subj * 1e3:.1f} | {ratio:.2f}x | ≤{TARGET}x | "
            f"{'pass' if ratio <= TARGET else '**FAIL**'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    # Spark's workers import from the current folder: run where _graphs is, so that the
    # clean graph needs no worker load (a load is what check adds when it would fail).
    os.chdir(HERE)
    rows = measure([int(s) for s in args.sizes.split(",")], args.repeat)
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores; best of "
          f"{args.repeat} in CPU time; framework's own serializer vs check of the same clean "
          "graph (round trip: both followed by a load)\n")
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
