"""The annotated expectations, judged where the real object lives (in the check's child).

Each judge takes the entry, the object and the report, and returns ``(ok, detail)``:

- ``complete``: no backend's search was cut short (by the check's time limit or the
  culprit cap): a truncated report cannot have found every culprit;
- ``culprit``: every object named in ``entry.change`` is a top-level report entry
  (by identity: the report's ``obj`` *is* that object, whatever vocabulary the path uses);
- ``vocabulary``: each path in ``entry.say`` is printed as is (the library's own way to
  reach the item, issue 10);
- ``short``: a library object's report has at most :data:`MAX_ENTRIES` top-level entries;
- ``paths``: every path marked evaluable evaluates to its culprit;
- ``kinds``: no culprit gets a kind the entry rules out (``stale_reference`` for classes
  that were never redefined);
- ``works_with``: every "backend: ok" claim holds when that backend's real ``dumps`` and
  ``loads`` run on the culprit alone, and a loaded lock can still be acquired;
- ``genuine``: every culprit really fails, on its own, with each backend it is blamed on
  (a culprit that round-trips alone is a false culprit, as after a memo mix-up).

``runs`` (no exception, hang or abort) and ``verdicts`` (equal to the live truth) are
judged by the parent, which holds the truth.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from realworld.appcode import lock_is_free
from realworld.child import run_in_child
from realworld.entry import Entry
from realworld.truth import BACKENDS

__all__ = ["JUDGES", "MAX_ENTRIES", "report_entries"]

MAX_ENTRIES = 5
CLAIM_TIMEOUT = 20.0


def report_entries(report: Any) -> list[Any]:
    """The top-level entries of the default report (``report.entries``: alike culprits
    grouped, those inside a library object collapsed into it), each with ``.objs`` (the
    objects it names), ``.path`` and ``.paths`` (a group's members)."""
    return list(report.entries)


def judge_complete(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    cut = [f"{name}: {'; '.join(r.skipped) or 'truncated'}"
           for name, r in report.results.items() if r.truncated]
    return not cut, " / ".join(cut)[:400]


def judge_culprit(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    entries = report_entries(report)
    missing = []
    for expr in entry.change:
        target = entry.target(obj, expr)
        if not any(o is target for e in entries for o in e.objs):
            missing.append(expr.replace("obj", entry.name, 1))
    if not missing:
        return True, ""
    named = ", ".join(e.path for e in entries[:8]) or "nothing"
    more = f" (+{len(entries) - 8} more)" if len(entries) > 8 else ""
    return False, f"not named: {', '.join(missing)}; named: {named}{more}"


def judge_vocabulary(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    printed = {p for e in report_entries(report) for p in (e.path, *e.paths)}
    wanted = [path.replace("obj", entry.name, 1) for path in entry.say]
    missing = [path for path in wanted if path not in printed]
    if not missing:
        return True, ""
    return False, f"not printed: {', '.join(missing)}; printed: {', '.join(sorted(printed)[:8])}"


def judge_short(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    count = len(report_entries(report))
    if not entry.library or count <= MAX_ENTRIES:
        return True, ""
    return False, f"{count} top-level entries, at most {MAX_ENTRIES} wanted"


def judge_paths(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    wrong = []
    for culprit in report.culprits:
        if not culprit.evaluable:
            continue
        try:
            found = eval(culprit.path, {entry.name: obj})  # noqa: S307 - the report's own path
        except Exception as exc:  # noqa: BLE001 - a path that raises is the finding
            wrong.append(f"{culprit.path} raises {type(exc).__name__}")
            continue
        if found is not culprit.obj:
            wrong.append(f"{culprit.path} is not the culprit")
    return not wrong, "; ".join(wrong[:5])


def judge_kinds(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    wrong = [f"{c.path}: {c.kind}" for c in report.culprits if c.kind in entry.wrong_kinds]
    return not wrong, "; ".join(wrong[:5])


def judge_works_with(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    wrong = []
    for culprit in report.culprits:
        claims = [b for b, ok in sorted(culprit.works_with.items()) if ok]
        if not claims:
            continue
        real = round_trips(culprit.obj)
        wrong += [f"{culprit.path} claimed '{b}: ok' but {real[b]}" for b in claims if real[b]]
    return not wrong, "; ".join(wrong[:5])


def judge_genuine(entry: Entry, obj: Any, report: Any) -> tuple[bool, str]:
    wrong = []
    for culprit in report.culprits:
        if culprit.stage not in ("dumps", "loads") or culprit.kind in _NOT_FAILURES:
            continue  # fails only in a fresh interpreter, or a refusal or side effect
        # One culprit per object: a backend folded in for a refused or side-effecting
        # load (its own culprit of the object says so) is not blamed for a failure.
        backends = [b for b in culprit.backends if not _refused(report, b, culprit.obj)]
        real = round_trips(culprit.obj)
        fine = [b for b in backends if not real[b]]
        if fine:
            wrong.append(f"{culprit.path} ({culprit.type}) is blamed on {', '.join(fine)}, "
                         "which round-trip(s) it on its own")
    return not wrong, "; ".join(wrong[:5])


def round_trips(target: Any) -> dict[str, str]:
    """Why each backend cannot round-trip ``target`` on its own ("" where it can).

    One forked child tries every backend: real ``dumps``, real ``loads``, and for a lock,
    whether the copy can be acquired exactly when the original can (dill's copy of an
    unheld RLock cannot). A backend the child never answered for (a hang) failed.
    Answers are remembered per object: judges ask about the same culprits.
    """
    key = id(target)
    if key not in _ANSWERS:
        _ANSWERS[key] = (target, _round_trips(target, BACKENDS))
    return _ANSWERS[key][1]


def _round_trips(target: Any, backends: tuple[str, ...]) -> dict[str, str]:
    def work(emit: Callable[[dict[str, Any]], None]) -> None:
        for backend in backends:
            emit({"event": "tried", "backend": backend, "failure": "did not finish"})
            emit({"event": "tried", "backend": backend, "failure": _try(target, backend)})

    outcome = run_in_child(work, CLAIM_TIMEOUT)
    answers = {b: f"the round trip did not finish ({outcome.status})" for b in backends}
    for event in outcome.events:
        if event.get("event") == "tried":
            answers[event["backend"]] = event["failure"]
    return answers


def _try(target: Any, backend: str) -> str:
    module = importlib.import_module(backend)
    try:
        copy = module.loads(module.dumps(target))
    except Exception as exc:  # noqa: BLE001 - the failure is the answer
        return f"{type(exc).__name__}: {exc}"[:200]
    _KEEP.append(copy)  # never finalized: a broken copy's __del__ must not hang the child
    if _is_lock(copy) and _is_lock(target):
        if lock_is_free(copy) != lock_is_free(target):
            return "its copy's lock cannot be acquired"
    return ""


def _is_lock(obj: Any) -> bool:
    """Has an ``acquire`` method: looked up on the type, so no ``__getattr__`` runs."""
    return callable(getattr(type(obj), "acquire", None))


_KEEP: list[Any] = []
# Kinds that say what a load would do or was not allowed to do, not that it fails.
_NOT_FAILURES = frozenset({"load_hazard", "load_side_effect", "drop_side_effect"})


def _refused(report: Any, backend: str, obj: Any) -> bool:
    """Whether ``backend``'s own culprit of ``obj`` is a refusal or a side effect."""
    results = getattr(report, "results", None) or {}
    own = getattr(results.get(backend), "culprits", ())
    return any(c.obj is obj and c.kind in _NOT_FAILURES for c in own)
_ANSWERS: dict[int, tuple[Any, dict[str, str]]] = {}  # the target is kept: ids stay unique


JUDGES: dict[str, Callable[[Entry, Any, Any], tuple[bool, str]]] = {
    "complete": judge_complete,
    "culprit": judge_culprit,
    "vocabulary": judge_vocabulary,
    "short": judge_short,
    "paths": judge_paths,
    "kinds": judge_kinds,
    "works_with": judge_works_with,
    "genuine": judge_genuine,
}
