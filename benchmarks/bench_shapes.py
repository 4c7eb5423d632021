"""What does ``picklecheck.check`` cost on every shape of payload, next to the backend's own dumps?

Run ``python benchmarks/bench_shapes.py`` (about 10 minutes; ``--quick`` for 10^4 and 10^5
objects, ``--only "flat ints,closures"`` for some shapes, ``--no-library`` to skip real
library objects, ``--readme`` to also write the tables into README.md's Speed section).

For each shape of :mod:`_shapes` (flat ints, flat strs, a dict of ints, rows as small
dicts, numpy arrays, instances, closures with cloudpickle, instances with dill), each size
and 0, 1 and 100 culprits, it times ``check(obj, backends=(backend,), roundtrip=False)`` against the
library's own ``dumps`` of the clean twin (the same graph with ``None`` where the culprits
are: ``pickle.dumps``, ``dill.dumps``, ``cloudpickle.dumps``; picklecheck's own dill and
cloudpickle picklers write the same bytes faster, so the library is the fair baseline),
interleaved, best of k, in CPU time (of this thread and picklecheck's check threads:
see :func:`_timing.timed`), and checks that exactly the planted paths came back. Targets
(issue 13): a clean check ≤1.2x, one culprit ≤2x, 100 culprits ≤3x.

Then, when the libraries are installed, real library objects (boto3, SQLAlchemy, httpx,
aiohttp, openai, tqdm, asyncio, scikit-learn, pandas, jinja2): ``check(obj)`` with all
three backends and default settings (round trips included), against ``pickle.dumps``,
dill's and cloudpickle's dumps of the same object in the same run; target under 1 s.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
import os
import platform
import re
import signal
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _shapes  # noqa: E402
from _timing import best_of, machine_speed, timed  # noqa: E402

from picklecheck import check  # noqa: E402
from picklecheck.backends import get_backend  # noqa: E402

README = os.path.join(os.path.dirname(HERE), "README.md")
BEGIN, END = "<!-- bench_shapes: begin -->", "<!-- bench_shapes: end -->"
TARGETS = {0: 1.2, 1: 2.0, 100: 3.0}
LIBRARY_TARGET = 1.0
#: Most repetitions of a short run (see shape_rows).
SHORT_REPS = 200


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def found(report: Any, expected: list[str]) -> str:
    paths = sorted(c.path for c in report.culprits)
    if not expected:
        return "ok (clean)" if report.ok else f"WRONG: {len(paths)} culprits"
    if paths == sorted(expected):
        return f"exact {len(paths)}/{len(expected)}"
    return f"WRONG: {len(set(paths) & set(expected))}/{len(expected)}, {len(paths)} found"


def shape_rows(shape: _shapes.Shape, sizes: list[int], k: int) -> list[str]:
    backend = get_backend(shape.backend)
    library = backend.module  # the baseline is the library's own dumps (ours may be faster)
    proto = backend.default_protocol()
    rows = []
    for n in [s for s in shape.sizes if s in sizes]:
        for culprits in TARGETS:
            dirty, expected = shape.build(n, culprits, shape.culprit)
            clean = shape.build(n, culprits, "none")[0] if culprits else dirty
            gc.collect()
            gc.freeze()
            try:
                # Short runs are the noisiest on shared cores (a fixed cost of a tenth of a
                # millisecond against a dump of a fifth, and a neighbour's burst is as
                # long): more of them, up to 200 or about a second of baselines, as
                # timeit's autorange takes more loops of what is quick.
                first = timed(lambda clean=clean: library.dumps(clean, proto))[0]
                reps = (max(k, min(SHORT_REPS, int(1.0 / max(first, 1e-4)))) if n < 1_000_000
                        else max(3, k // 2))
                tb, ts, report, spread = best_of(
                    reps, lambda clean=clean: library.dumps(clean, proto),
                    lambda dirty=dirty: check(dirty, backends=(shape.backend,), roundtrip=False))
            finally:
                gc.unfreeze()
            ratio, target = ts / tb, TARGETS[culprits]
            verdict = "pass" if ratio <= target else "**FAIL**"
            log(f"  {shape.name} / {shape.backend} n={n:,} culprits={culprits}: "
                f"{tb * 1e3:.2f} ms vs {ts * 1e3:.2f} ms ({ratio:.2f}x, baseline spread "
                f"{spread:.2f})")
            rows.append(f"| {shape.name} | {shape.backend} | {n:,} | {culprits} | {tb * 1e3:,.2f} "
                        f"| {ts * 1e3:,.2f} | {ratio:.2f}x | ≤{target}x | {verdict} "
                        f"| {found(report, expected)} |")
            del dirty, clean, report
    return rows


def shapes_table(names: list[str] | None, sizes: list[int], k: int) -> list[str]:
    lines = [
        "check(obj, backends=(backend,), roundtrip=False) vs the library's own dumps of the clean "
        f"twin (best of {k}, of up to {SHORT_REPS} for runs under {1000 // SHORT_REPS} ms, "
        "of a second of baselines for runs up to 200 ms; interleaved)",
        "",
        "| shape | backend | objects | culprits | dumps ms | check ms | ratio | target | pass "
        "| found |",
        "|---|---|---:|---:|---:|---:|---:|---:|:---:|---|",
    ]
    for shape in _shapes.SHAPES:
        if names and shape.name not in names:
            continue
        if shape.needs and importlib.util.find_spec(shape.needs) is None:
            log(f"  {shape.name}: {shape.needs} is not installed, skipped")
            continue
        lines += shape_rows(shape, sizes, k)
    return lines


# -- real library objects ---------------------------------------------------------------

class _Slow(Exception):  # noqa: N818 - control flow
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Slow


def dumps_time(backend_name: str, obj: Any, k: int) -> tuple[float, str]:
    backend = get_backend(backend_name)
    proto = backend.default_protocol()

    def attempt() -> str:
        try:
            backend.dump(obj, io.BytesIO(), proto)
        except Exception as exc:  # noqa: BLE001 - a failing dumps is the baseline here
            return type(exc).__name__
        return "ok"

    outcome = attempt()
    return min(timed(attempt)[0] for _ in range(k)), outcome


def library_rows(k: int, cap: float) -> list[str]:
    lines = [
        f"check(obj) with pickle, dill and cloudpickle (round trips included; best of up to {k}"
        f", a run over {cap:g} s is cut) vs each backend's dumps of the same object",
        "",
        "| object | pickle.dumps | dill.dumps | cloudpickle.dumps | check | culprits | under 1 s |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    signal.signal(signal.SIGALRM, _alarm)
    for name, module, factory in _shapes.library_objects():
        if importlib.util.find_spec(module) is None:
            log(f"  {name}: {module} is not installed, skipped")
            continue
        obj = factory()
        cells = [f"{dumps_time(b, obj, k)[0] * 1e3:,.1f} ms ({dumps_time(b, obj, 1)[1]})"
                 for b in ("pickle", "dill", "cloudpickle")]
        best, culprits = float("inf"), "-"
        for _ in range(k):
            signal.setitimer(signal.ITIMER_REAL, cap)
            try:
                seconds, report = timed(lambda obj=obj: check(obj))
            except _Slow:
                best = min(best, float("inf"))
                break
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            best, culprits = min(best, seconds), str(len(report.culprits))
            if seconds > LIBRARY_TARGET * 3:
                break  # slow: one run says enough
        shown = f"> {cap:g} s" if best == float("inf") else f"{best * 1e3:,.0f} ms"
        within = "yes" if best < LIBRARY_TARGET else "**no**"
        log(f"  {name}: check {shown}, {culprits} culprits")
        lines.append(f"| {name} | {' | '.join(cells)} | {shown} | {culprits} | {within} |")
    return lines


def environment() -> str:
    import cloudpickle
    import dill

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Python {platform.python_version()} ({platform.machine()}, {os.cpu_count()} cpus, "
            f"load average {load:.1f} at the start; {machine_speed()}), dill {dill.__version__}, "
            f"cloudpickle {cloudpickle.__version__}")


def write_readme(text: str) -> None:
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        msg = f"README.md has no {BEGIN} ... {END} block to write the tables into"
        raise SystemExit(msg)
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    with open(README, "w", encoding="utf-8") as f:
        f.write(pattern.sub(lambda _: block, readme))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 objects only")
    parser.add_argument("--sizes", help="comma-separated object counts")
    parser.add_argument("--only", help="comma-separated shape names")
    parser.add_argument("--repeat", type=int, default=5, help="best of k (default 5)")
    parser.add_argument("--no-library", action="store_true")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per library check")
    parser.add_argument("--readme", action="store_true", help="write the tables into README.md")
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    if args.sizes:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    names = [s.strip() for s in args.only.split(",")] if args.only else None
    out = [f"<!-- python benchmarks/bench_shapes.py {' '.join(argv or sys.argv[1:])} -->",
           f"{environment()}.", ""]
    # Library objects first: a check forks its loading child, and after the shapes the
    # process holds the pages of graphs of 10^6 objects, which no user's process does.
    library = [] if args.no_library else ["", *library_rows(min(args.repeat, 3), args.cap)]
    out += shapes_table(names, sizes, args.repeat)
    out += library
    text = "\n".join(out) + "\n"
    print(text)
    if args.readme:
        write_readme(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
