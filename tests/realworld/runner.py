"""``picklecheck.check`` on a corpus entry, in a forked child, judged against the truth.

:func:`run_check` builds the object in a child, runs ``check`` with default settings
(all three backends, round trip on) except ``timeout``: the engine's own 60 s limit would
make what a test sees depend on how busy the machine is, so it is set beyond the child's
alarm, which catches hangs instead (speed is the benchmark's business). It times the check, judges the
annotated expectations there (they need the real object) and sends back a plain summary. :func:`verdict_mismatches`
compares that summary with :mod:`realworld.truth`.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realworld.child import ChildOutcome, Work, run_children, run_in_child
from realworld.entry import Context, Entry
from realworld.expect import JUDGES, report_entries
from realworld.truth import BackendTruth, truth_from, truth_jobs

__all__ = ["CHECK_TIMEOUT", "CheckRun", "check_from", "check_job", "evaluate",
           "fresh_mismatches", "run_check", "verdict_mismatches"]

CHECK_TIMEOUT = 150.0  # for check itself (SIGALRM in the child): a hang detector, not a timer
SLOW_CHECK_TIMEOUT = 600.0  # for entries today's engine needs minutes for (issue 13)
ENGINE_TIMEOUT = 1000.0  # check's own limit: out of the way of the alarm above
JUDGE_TIMEOUT = 180.0  # for judging afterwards: one forked round trip per culprit


@dataclass
class CheckRun:
    """What ``check`` said about one entry, and how each expectation fared."""

    outcome: ChildOutcome
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    culprits: list[dict[str, Any]] = field(default_factory=list)
    entries: int = 0
    seconds: float | None = None
    judged: dict[str, tuple[bool, str]] = field(default_factory=dict)
    rendered: str = ""
    fresh: dict[str, dict[str, Any]] | None = None


def run_check(entry: Entry, tmp: Path, timeout: float = CHECK_TIMEOUT) -> CheckRun:
    """Build ``entry``'s object in a child and check it there, within ``timeout`` s."""
    return check_from(run_in_child(*check_job(entry, tmp, timeout)))


def evaluate(entry: Entry, tmp: Path) -> tuple[CheckRun, dict[str, BackendTruth]]:
    """The check and the truth for ``entry``, their four children run side by side."""
    timeout = SLOW_CHECK_TIMEOUT if entry.slow else CHECK_TIMEOUT
    jobs = [check_job(entry, tmp / "check", timeout), *truth_jobs(entry, tmp)]
    (tmp / "check").mkdir(parents=True, exist_ok=True)
    outcomes = run_children(jobs)
    return check_from(outcomes[0]), truth_from(outcomes[1:])


def check_job(entry: Entry, tmp: Path, timeout: float = CHECK_TIMEOUT) -> tuple[Work, float]:
    """The child that checks ``entry``'s object, and its time limit.

    The child's alarm ends it when ``check`` (plus the collection that follows, which
    runs the finalizers of whatever copies it left behind) takes longer than ``timeout``;
    judging gets its own time after that.
    """
    return _work(entry, tmp, timeout), timeout + JUDGE_TIMEOUT


def check_from(outcome: ChildOutcome) -> CheckRun:
    """What the check child reported."""
    run = CheckRun(outcome)
    report = outcome.last("report")
    if report is not None:
        run.results, run.culprits = report["results"], report["culprits"]
        run.entries, run.seconds, run.rendered = report["entries"], report["seconds"], report["text"]
    fresh = outcome.last("fresh")
    if fresh is not None:
        run.fresh = fresh["results"]
    for event in outcome.events:
        if event.get("event") == "judged":
            run.judged[event["name"]] = (bool(event["ok"]), str(event["detail"]))
    return run


def _work(entry: Entry, tmp: Path, timeout: float) -> Work:
    def work(emit: Callable[[dict[str, Any]], None]) -> None:
        import picklecheck

        ctx = Context(tmp)
        try:
            obj = entry.build(ctx)
            signal.alarm(max(1, round(timeout)))  # default action: the child ends
            start = time.perf_counter()
            report = picklecheck.check(obj, name=entry.name, timeout=ENGINE_TIMEOUT)
            seconds = time.perf_counter() - start
            gc.collect()  # half-built copies left to the collector abort here, not later
            signal.alarm(0)
            emit(_summary(report, seconds))
            for name, judge in JUDGES.items():
                ok, detail = judge(entry, obj, report)
                emit({"event": "judged", "name": name, "ok": ok, "detail": detail})
            if entry.fresh:
                signal.alarm(max(1, round(timeout)))
                fresh = picklecheck.check(obj, name=entry.name, fresh_process=True,
                                          timeout=ENGINE_TIMEOUT)
                signal.alarm(0)
                emit({"event": "fresh", "results": {
                    name: {"fresh": r.fresh, "error": r.fresh_error}
                    for name, r in fresh.results.items()}})
        finally:
            ctx.teardown()
    return work


def _summary(report: Any, seconds: float) -> dict[str, Any]:
    results = {
        name: {"ok": r.ok, "available": r.available, "error": r.error, "roundtrip": r.roundtrip,
               "roundtrip_error": r.roundtrip_error, "skipped": list(r.skipped),
               "stage": r.stage}
        for name, r in report.results.items()
    }
    culprits = [
        {"path": c.path, "type": c.type, "kind": c.kind, "stage": c.stage,
         "backends": list(c.backends), "works_with": dict(c.works_with)}
        for c in report.culprits
    ]
    return {"event": "report", "results": results, "culprits": culprits, "seconds": seconds,
            "entries": len(report_entries(report)), "text": str(report)}


def verdict_mismatches(run: CheckRun, truth: dict[str, BackendTruth],
                       harmless_load: bool = False) -> list[str]:
    """How ``check``'s per-backend verdicts differ from the real backends' behaviour.

    Dumps must agree exactly. When the real load succeeds, ``check`` must say the round
    trip worked, or say it refused to try (``skipped``), never "does not load"; for an
    entry whose load is harmless, refusing is wrong too. When the real load fails, or
    gives a copy the entry's probe finds broken (dill's RLock), ``check`` must not call
    the backend ok.
    """
    problems = []
    for backend, real in truth.items():
        said = run.results.get(backend)
        if said is None:
            problems.append(f"{backend}: no verdict from check")
            continue
        dumps_ok = said["available"] and said["error"] is None
        if dumps_ok != real.dumps:
            problems.append(f"{backend}: check says dumps {_word(dumps_ok)}, really "
                            f"{real.describe()}")
        elif real.dumps:
            problems.extend(_loads_mismatch(backend, said, real, harmless_load))
    return problems


def fresh_mismatches(run: CheckRun, truth: dict[str, BackendTruth]) -> list[str]:
    """How ``check(..., fresh_process=True)`` differs from a real load in a new interpreter."""
    if run.fresh is None:
        return ["check with fresh_process=True did not finish"]
    problems = []
    for backend, real in truth.items():
        said = run.fresh.get(backend, {}).get("fresh")
        if real.fresh is not None and said is not None and said != real.fresh:
            problems.append(f"{backend}: check says fresh load {_word(bool(said))} "
                            f"({run.fresh[backend]['error']}), really {real.describe()}")
        elif real.fresh is not None and said is None:
            problems.append(f"{backend}: check did not load in a fresh interpreter, "
                            f"really {real.describe()}")
    return problems


def _loads_mismatch(backend: str, said: dict[str, Any], real: BackendTruth,
                    harmless_load: bool) -> list[str]:
    if said["ok"] and (not real.loads or real.usable is False or real.drop_harms):
        return [f"{backend}: check says ok, really {real.describe()}"]
    if not real.loads or real.usable is False or real.drop_harms:
        return []  # a load that fails, breaks the copy or harms once dropped: "fails" and
        # "refused" are both fair
    refused = bool(said["skipped"]) and said["roundtrip"] is not True
    if refused and harmless_load:
        return [f"{backend}: check refused a harmless load ({said['skipped'][0]}), "
                f"really {real.describe()}"]
    if said["roundtrip"] is not True and not refused:
        return [f"{backend}: check says loads fails ({said['roundtrip_error']}), "
                f"really {real.describe()}"]
    return []


def _word(ok: bool) -> str:
    return "ok" if ok else "fails"
