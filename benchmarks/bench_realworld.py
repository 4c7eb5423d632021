"""How long does ``picklecheck.check`` take on real library objects?

Run ``python benchmarks/bench_realworld.py`` (``--only boto3-client,tqdm-bar`` for some
entries, ``--repeat K`` for best of K, ``--out FILE`` for another output file). For each
entry of the real-world corpus (``tests/realworld``) whose libraries are installed, one
forked child builds the object and times, in that same process:

- ``pickle.dumps(obj)`` (failing or not), best of K;
- ``check(obj, name=...)`` with all three backends and default settings, best of K
  (a run over ``--slow`` seconds is not repeated);

and counts the culprits. The ratio is check / dumps of the same object in the same run.
Issue 13's target: under 1 s per object with all three backends. A check that hangs or
aborts ends its child only, and shows as such in the table. The Markdown table goes to
stdout and to ``benchmarks/results-realworld.md``; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from _timing import machine_speed  # noqa: E402
from realworld.child import ChildOutcome, run_in_child  # noqa: E402
from realworld.entry import Context, Entry, missing_modules  # noqa: E402
from realworld.objects import ENTRIES  # noqa: E402

TARGET_SECONDS = 1.0
RUN_LIMIT = 300  # seconds for one check run (the child's alarm; --limit)
OUT = HERE / "results-realworld.md"


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """One call with the collector off; the collection it saved runs untimed."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def failing_dumps(obj: Any) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - failing is the point of the baseline
        return False
    return True


def measure(entry: Entry, tmp: Path, repeat: int, slow: float, limit: int
            ) -> Callable[[Callable[[dict[str, Any]], None]], None]:
    """The child's work: build once, time dumps and check, report as it goes."""
    def work(emit: Callable[[dict[str, Any]], None]) -> None:
        import picklecheck

        ctx = Context(tmp)
        try:
            obj = entry.build(ctx)
            dumps = min(timed(lambda: failing_dumps(obj))[0] for _ in range(repeat))
            emit({"event": "dumps", "seconds": dumps, "ok": failing_dumps(obj)})
            best, runs = float("inf"), 0
            while runs < repeat and (runs == 0 or best < slow):
                signal.alarm(limit)
                seconds, report = timed(lambda: picklecheck.check(obj, name=entry.name))
                signal.alarm(0)
                best, runs = min(best, seconds), runs + 1
                emit({"event": "check", "seconds": best, "runs": runs,
                      "culprits": len(report.culprits), "failed": list(report.failed())})
                del report
                gc.collect()  # copies the check left behind are finalized here, untimed
        finally:
            ctx.teardown()
    return work


def row(entry: Entry, outcome: ChildOutcome) -> dict[str, Any]:
    dumps, check = outcome.last("dumps"), outcome.last("check")
    result: dict[str, Any] = {"id": entry.id, "dumps": None, "check": None, "runs": 0,
                              "culprits": None, "failed": "", "status": outcome.status}
    if dumps:
        result["dumps"], result["pickle_ok"] = dumps["seconds"], dumps["ok"]
    if check:
        result.update(check=check["seconds"], runs=check["runs"], culprits=check["culprits"],
                      failed=", ".join(check["failed"]) or "none")
    if outcome.status != "ok":
        result["status"] = f"{outcome.status}: {outcome.error.strip().splitlines()[-1][:60]}"
    return result


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def table(rows: list[dict[str, Any]], skipped: list[str], repeat: int) -> str:
    lines = [
        "# Real-world objects: time of `check` (pickle, dill, cloudpickle)",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({machine_speed()}). Best of {repeat} (runs column: fewer "
        "when one run is slow). "
        f"Target (issue 13): under {TARGET_SECONDS:g} s per object.",
        "",
        "| object | pickle.dumps | check (3 backends) | ratio | runs | culprits "
        "| backends failing | within 1 s | status |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        ratio = (f"{r['check'] / r['dumps']:,.0f}x" if r["check"] and r["dumps"] else "-")
        within = "-" if r["check"] is None else ("yes" if r["check"] < TARGET_SECONDS else "NO")
        culprits = "-" if r["culprits"] is None else str(r["culprits"])
        lines.append(f"| {r['id']} | {fmt_time(r['dumps'])} | {fmt_time(r['check'])} | {ratio} "
                     f"| {r['runs']} | {culprits} | {r['failed'] or '-'} | {within} "
                     f"| {r['status']} |")
    done = [r for r in rows if r["check"] is not None]
    slow = [r for r in done if r["check"] >= TARGET_SECONDS]
    lines += ["", f"{len(done)} of {len(rows)} objects checked; {len(slow)} over "
              f"{TARGET_SECONDS:g} s; {len(rows) - len(done)} did not finish (hang or abort)."]
    if skipped:
        lines.append(f"Skipped (library not installed: `pip install -e '.[realworld]'`): "
                     f"{', '.join(skipped)}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated entry ids")
    parser.add_argument("--repeat", type=int, default=3, help="best of K (default 3)")
    parser.add_argument("--slow", type=float, default=20.0,
                        help="do not repeat a check that took longer (seconds, default 20)")
    parser.add_argument("--limit", type=int, default=RUN_LIMIT,
                        help=f"seconds before one check run counts as a hang (default {RUN_LIMIT})")
    parser.add_argument("--out", default=str(OUT), help="Markdown file to write")
    args = parser.parse_args(argv)
    wanted = {s for s in args.only.split(",") if s}
    unknown = wanted - {e.id for e in ENTRIES}
    if unknown:
        parser.error(f"unknown entry id(s): {', '.join(sorted(unknown))}")
    rows, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="bench-realworld-") as tmp:
        for entry in ENTRIES:
            if wanted and entry.id not in wanted:
                continue
            if missing_modules(entry):
                skipped.append(entry.id)
                continue
            for module in entry.needs:  # imported here once, not in every child
                __import__(module)
            folder = Path(tmp) / entry.id
            folder.mkdir()
            work = measure(entry, folder, args.repeat, args.slow, args.limit)
            outcome = run_in_child(work, args.limit * args.repeat + 60)
            rows.append(row(entry, outcome))
            log(f"{entry.id}: {fmt_time(rows[-1]['check'])} ({rows[-1]['status']})")
    text = table(rows, skipped, args.repeat)
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
