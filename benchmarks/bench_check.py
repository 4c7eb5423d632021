"""How much does ``picklecheck.check`` cost over a plain pickle of the same graph?

Run ``python benchmarks/bench_check.py`` (``--quick`` for 10^4 and 10^5 objects only,
``--sizes 10000,100000`` for your own sizes, ``--out FILE`` to also write the tables).
See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import platform
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _graphs  # noqa: E402
import _stackpickler  # noqa: E402

from picklecheck import check  # noqa: E402
from picklecheck.backends import Sink  # noqa: E402

CULPRIT_COUNTS = (0, 1, 100)
TARGETS = {0: 1.2, 1: 2.0, 100: 3.0}
TOOLS = ("stack-pickler", "dill.detect.baditems", "dill.detect.badobjects")


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- timing ------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """One call with the collector off; the collection it saved runs untimed."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed, result


def best_of(k: int, baseline: Callable[[], Any], subject: Callable[[], Any]
            ) -> tuple[float, float, Any]:
    """Best-of-k of both, interleaved (baseline, subject, baseline, ...)."""
    best_b = best_s = float("inf")
    result = None
    for _ in range(k):
        tb, _ = timed(baseline)
        ts, result = timed(subject)
        best_b, best_s = min(best_b, tb), min(best_s, ts)
    return best_b, best_s, result


def peak(fn: Callable[[], Any]) -> int:
    """Peak bytes traced by tracemalloc while ``fn`` runs (the graph already exists)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# -- one graph size ------------------------------------------------------------

@dataclass
class Case:
    size: int
    culprits: int
    objects: int
    pickle_bytes: int
    rows: dict[bool, tuple[float, float, str]] = field(default_factory=dict)  # roundtrip -> ...
    memory: dict[str, int] = field(default_factory=dict)


def verdict(report: Any, expected: list[str]) -> str:
    """Did the check find exactly the planted culprits?"""
    if not expected:
        return "ok (clean)" if report.ok else f"WRONG: {len(report.culprits)} culprits on a clean graph"
    found = {c.path for c in report.culprits}
    want = set(expected)
    if found == want and len(report.culprits) == len(expected):
        return f"exact {len(found)}/{len(want)}"
    missed, extra = len(want - found), len(found - want)
    sample = sorted(found - want)[:2] or sorted(want - found)[:2]
    return f"WRONG: {len(found & want)}/{len(want)}, missed {missed}, extra {extra} {sample}"


def run_case(size: int, culprits: int, culprit: str, k: int, memory: bool) -> Case:
    dirty, expected = _graphs.build(size, culprits, culprit)
    clean = dirty if culprits == 0 else _graphs.build(size, culprits, "none")[0]
    gc.collect()
    gc.freeze()  # collections between runs need not scan the graphs
    try:
        case = Case(size, culprits, _graphs.count_objects(dirty), len(pickle.dumps(clean)))
        for roundtrip in (False, True):
            if roundtrip:
                def baseline() -> Any:
                    return pickle.loads(pickle.dumps(clean))
            else:
                def baseline() -> Any:
                    return pickle.dumps(clean)

            def subject(roundtrip: bool = roundtrip) -> Any:
                return check(dirty, backends=("pickle",), roundtrip=roundtrip)

            tb, ts, report = best_of(k, baseline, subject)
            case.rows[roundtrip] = (tb, ts, verdict(report, expected))
            log(f"  n={size:,} culprits={culprits} roundtrip={roundtrip}: "
                f"{tb * 1e3:.1f} ms vs {ts * 1e3:.1f} ms ({ts / tb:.2f}x)")
        if memory:
            case.memory = {
                "check": peak(lambda: check(dirty, backends=("pickle",), roundtrip=False)),
                "dumps": peak(lambda: pickle.dumps(clean)),
                "sink": peak(lambda: pickle.Pickler(Sink()).dump(clean)),
            }
        return case
    finally:
        gc.unfreeze()


def blob_memory() -> dict[str, int]:
    """Few objects, many bytes: 32 distinct 1 MiB bytes objects (a 32 MiB pickle)."""
    blobs = {"blobs": [bytes([i]) * (1 << 20) for i in range(32)]}
    return {
        "objects": 34,
        "pickle_bytes": len(pickle.dumps(blobs)),
        "check": peak(lambda: check(blobs, backends=("pickle",), roundtrip=False)),
        "dumps": peak(lambda: pickle.dumps(blobs)),
        "sink": peak(lambda: pickle.Pickler(Sink()).dump(blobs)),
    }


# -- the fixed cost of contained loads ------------------------------------------

ISOLATION_ENV = "PICKLECHECK_ISOLATION"


def _per_call(fn: Callable[[], Any], n: int, k: int) -> float:
    """Best of k runs of n calls, per call."""
    best = float("inf")
    for _ in range(k):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def _isolated(mode: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        old = os.environ.get(ISOLATION_ENV)
        os.environ[ISOLATION_ENV] = mode
        try:
            return fn()
        finally:
            if old is None:
                os.environ.pop(ISOLATION_ENV, None)
            else:
                os.environ[ISOLATION_ENV] = old
    return run


def containment_costs(k: int) -> dict[str, dict[str, float]]:
    """Per-call seconds of small checks and session-state stores, by isolation."""
    from picklecheck import SessionState
    from picklecheck.isolation.contain import isolation

    small = {"user": "ada", "scores": [1.5, 2.5], "tags": ("a", "b")}
    counter = iter(range(10**9))
    modes = [m for m in ("sandbox", "process", "guarded")
             if m == "guarded" or isolation() in ("sandbox", m)]
    costs: dict[str, dict[str, float]] = {}
    for mode in modes:
        state = SessionState(mode="enforce", roundtrip=True)

        def store(state: Any = state) -> None:
            state["value"] = {**small, "n": next(counter)}  # new bytes: loaded every time

        costs[mode] = {
            "check, pickle": _per_call(_isolated(mode, lambda: check(
                small, backends=("pickle",))), 20, k),
            "check, 3 backends": _per_call(_isolated(mode, lambda: check(small)), 20, k),
            "SessionState store (roundtrip)": _per_call(_isolated(mode, store), 50, k),
        }
    dumps_only = SessionState(mode="enforce", roundtrip=False)

    def store_dumps() -> None:
        dumps_only["value"] = {**small, "n": next(counter)}

    costs["(no load)"] = {"SessionState store (roundtrip)": _per_call(store_dumps, 200, k)}
    return costs


def containment_table(costs: dict[str, dict[str, float]]) -> list[str]:
    rows = ["check, pickle", "check, 3 backends", "SessionState store (roundtrip)"]
    modes = [m for m in costs if m != "(no load)"]
    lines = [
        "Fixed cost of contained loads, per call, on a 3-key dict (best of k): the difference "
        "between sandbox and guarded is the fork + sandbox cost",
        "",
        "| call | " + " | ".join(f"{m} ms" for m in modes) + " | dumps only ms |",
        "|---|" + "---:|" * (len(modes) + 1),
    ]
    for row in rows:
        cells = [ms(costs[m].get(row)) for m in modes]
        extra = ms(costs["(no load)"].get(row)) if row.startswith("SessionState") else "–"
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {extra} |")
    return lines


# -- competitors, each in its own process ---------------------------------------

class _TimeoutError(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _TimeoutError


def run_tool(tool: str, graph: Any) -> str:
    """Run one competitor on ``graph``; a one-line summary of what it found."""
    if tool == "stack-pickler":
        path, _ = _stackpickler.first_culprit(graph)
        return "nothing" if path is None else f"first: {path}"
    from dill import detect

    if tool == "dill.detect.baditems":
        bad = detect.baditems(graph)
        return f"{len(bad)} bad top-level values" + (
            f" ({', '.join(type(b).__name__ for b in bad)})" if bad else "")
    bad = detect.badobjects(graph, depth=1)
    return f"{len(bad)} bad attributes of the root" + (
        f" ({', '.join(sorted(bad)[:3])}...)" if bad else "")


def child_main(tool: str, size: int, culprits: int, culprit: str, cap: float, k: int) -> None:
    graph, expected = _graphs.build(size, culprits, culprit)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, cap)
    best, found, status = float("inf"), "", "ok"
    deadline = time.perf_counter() + min(cap, 3.0)
    try:
        for _ in range(k):  # repeat only while it is cheap
            start = time.perf_counter()
            found = run_tool(tool, graph)
            best = min(best, time.perf_counter() - start)
            if time.perf_counter() + best > deadline:
                break
    except _TimeoutError:
        status = "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if found.startswith("first: "):
        found += " (planted)" if found[7:] in expected else " (NOT planted)"
    print(json.dumps({"status": status, "seconds": best, "found": found}))


def run_competitor(tool: str, size: int, culprits: int, culprit: str, cap: float,
                   k: int) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", tool, str(size), str(culprits),
           "--culprit", culprit, "--cap", str(cap), "--repeat", str(k)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap + 120)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": None, "found": ""}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return {"status": "error", "seconds": None, "found": tail[0][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- tables ------------------------------------------------------------------

def ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:,.1f}"


def timing_table(cases: list[Case], roundtrip: bool) -> list[str]:
    base = "pickle.dumps + loads" if roundtrip else "pickle.dumps"
    lines = [
        f"check(obj, backends=('pickle',), roundtrip={roundtrip}) vs {base} of the clean twin",
        "",
        f"| objects | culprits | {base} ms | check ms | ratio | target | pass | found |",
        "|---:|---:|---:|---:|---:|---:|:---:|---|",
    ]
    for c in cases:
        tb, ts, found = c.rows[roundtrip]
        ratio, target = ts / tb, TARGETS[c.culprits]
        ok = "pass" if ratio <= target else "**FAIL**"
        lines.append(f"| {c.objects:,} | {c.culprits} | {ms(tb)} | {ms(ts)} | {ratio:.2f}x "
                     f"| ≤{target}x | {ok} | {found} |")
    return lines


def memory_table(cases: list[Case], blob: dict[str, int] | None) -> list[str]:
    lines = [
        "Peak traced memory (tracemalloc, separate untimed pass), roundtrip=False",
        "",
        "| objects | culprits | pickle size | check peak | check peak / size "
        "| pickle.dumps peak | Pickler(sink) peak |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [(f"{c.objects:,}", str(c.culprits), c.pickle_bytes, c.memory) for c in cases if c.memory]
    if blob:
        rows.append(("34 (32 × 1 MiB bytes)", "0", blob["pickle_bytes"], blob))
    for objects, culprits, size, mem in rows:
        lines.append(f"| {objects} | {culprits} | {mb(size)} | {mb(mem['check'])} "
                     f"| {mem['check'] / size:.2f} | {mb(mem['dumps'])} | {mb(mem['sink'])} |")
    return lines


def mb(n: int) -> str:
    return f"{n / 2**20:,.2f} MiB"


def competitor_table(cases: list[Case], results: dict[tuple[str, int, int], dict[str, Any]],
                     cap: float) -> list[str]:
    lines = [
        f"Competitors (own process each, cap {cap:g} s; best of up to k runs while cheap)",
        "",
        "| objects | culprits | tool | ms | found |",
        "|---:|---:|---|---:|---|",
    ]
    for c in cases:
        tb, ts, found = c.rows[False]
        lines.append(f"| {c.objects:,} | {c.culprits} | pickle.dumps (clean twin) | {ms(tb)} | – |")
        lines.append(f"| {c.objects:,} | {c.culprits} | picklecheck check | {ms(ts)} | {found} |")
        for tool in TOOLS:
            r = results.get((tool, c.size, c.culprits))
            if r is None:
                continue
            if r["status"] == "timeout":
                shown = f"timeout (>{cap:g} s)"
            elif r["status"] == "skipped":
                shown = "skipped (timed out on a smaller graph)"
            else:
                shown = ms(r["seconds"])
            lines.append(f"| {c.objects:,} | {c.culprits} | {tool} | {shown} | {r['found']} |")
    return lines


def environment() -> str:
    import cloudpickle
    import dill

    return (f"Python {platform.python_version()} ({platform.machine()}, {os.cpu_count()} cpus), "
            f"dill {dill.__version__}, cloudpickle {cloudpickle.__version__}, "
            f"pickle protocol {pickle.DEFAULT_PROTOCOL}")


# -- main ----------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10^4 and 10^5 objects only")
    p.add_argument("--sizes", help="comma-separated object counts (default 10^4,10^5,10^6)")
    p.add_argument("--culprit", default="lock", choices=sorted(_graphs.CULPRITS))
    p.add_argument("--repeat", type=int, help="best of k (default 5, or 3 from 10^6 up)")
    p.add_argument("--cap", type=float, default=30.0, help="seconds per competitor run")
    p.add_argument("--no-competitors", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-containment", action="store_true",
                   help="skip the fixed cost of contained loads")
    p.add_argument("--out", help="also write the tables (Markdown) to this file")
    p.add_argument("--child", nargs=3, metavar=("TOOL", "SIZE", "CULPRITS"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        tool, size, culprits = args.child
        child_main(tool, int(size), int(culprits), args.culprit, args.cap, args.repeat or 5)
        return
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    if args.sizes:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    cases = []
    for size in sizes:
        k = args.repeat or (5 if size < 1_000_000 else 3)
        for culprits in CULPRIT_COUNTS:
            cases.append(run_case(size, culprits, args.culprit, k, not args.no_memory))
    blob = None if args.no_memory else blob_memory()
    costs = None if args.no_containment else containment_costs(args.repeat or 5)
    results: dict[tuple[str, int, int], dict[str, Any]] = {}
    if not args.no_competitors:
        for tool in TOOLS:
            for culprits in CULPRIT_COUNTS:
                timed_out = False
                for size in sizes:
                    if timed_out:
                        results[(tool, size, culprits)] = {"status": "skipped", "found": ""}
                        continue
                    log(f"  {tool} n={size:,} culprits={culprits} ...")
                    r = run_competitor(tool, size, culprits, args.culprit, args.cap,
                                       args.repeat or 3)
                    results[(tool, size, culprits)] = r
                    timed_out = r["status"] == "timeout"
    out = [
        f"<!-- python benchmarks/bench_check.py {' '.join(argv or sys.argv[1:])} -->",
        f"Culprit: `{args.culprit}`. {environment()}.",
        "",
        *timing_table(cases, False), "",
        *timing_table(cases, True), "",
    ]
    if costs is not None:
        out += [*containment_table(costs), ""]
    if not args.no_memory:
        out += [*memory_table(cases, blob), ""]
    if not args.no_competitors:
        out += [*competitor_table(cases, results, args.cap), ""]
    text = "\n".join(out)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
