"""The corpus's test cases: one per (entry, expectation), for the two test modules
(``test_stdlib.py``: the standard library and numpy; ``test_libraries.py``: third-party
libraries), which pytest-xdist can run side by side.

One test per (entry, expectation). The object's check runs once per entry in a forked
child with a time limit (a hang or an abort fails that entry's tests, not the suite);
the truth runs the real pickle, dill and cloudpickle in children of their own. Where
today's engine misses an expectation, the entry's ``xfail`` names the issue (strict: the
engineer who fixes it flips it). Entries whose library is missing are skipped, naming
the extra that installs it.
"""

from __future__ import annotations

from typing import Any

import pytest

from realworld.entry import EXPECTATIONS, EXTRA, Entry, missing_modules
from realworld.runner import CheckRun, evaluate, fresh_mismatches, verdict_mismatches
from realworld.truth import BackendTruth

_RUNS: dict[str, tuple[CheckRun, dict[str, BackendTruth]]] = {}


def _applies(entry: Entry, expectation: str) -> bool:
    if expectation == "fresh":
        return entry.fresh
    if expectation == "culprit":
        return bool(entry.change)
    if expectation == "vocabulary":
        return bool(entry.say)
    if expectation == "short":
        return entry.library
    return True


def cases(entries: tuple[Entry, ...] | list[Entry]) -> list[Any]:
    """A ``pytest.param`` per (entry, expectation) that applies to it."""
    cases = []
    for entry in entries:
        for expectation in EXPECTATIONS:
            if not _applies(entry, expectation):
                continue
            marks = []
            if expectation in entry.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=entry.xfail[expectation]))
            cases.append(pytest.param(entry, expectation, marks=marks,
                                      id=f"{entry.id}-{expectation}"))
    return cases


def _need(entry: Entry) -> None:
    """Skip unless every module the entry needs imports (and import it before forking)."""
    for module in missing_modules(entry):
        pytest.skip(f"{module} is not installed: pip install -e '.[{EXTRA}]'")
    for module in entry.needs:
        pytest.importorskip(module, reason=f"pip install -e '.[{EXTRA}]'")


def _evaluated(entry: Entry, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[CheckRun, dict[str, BackendTruth]]:
    """The entry's check and truth, computed once (in parallel children) for all its tests."""
    if entry.id not in _RUNS:
        _RUNS[entry.id] = evaluate(entry, tmp_path_factory.mktemp(entry.id))
    return _RUNS[entry.id]


def _context(run: CheckRun) -> str:
    paths = "\n".join(f"  {c['path']}  ({c['type']}, {c['kind']}, {c['stage']})"
                      for c in run.culprits[:12])
    return f"check found {len(run.culprits)} culprit(s):\n{paths}"


def run_case(entry: Entry, expectation: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """check() on a real object meets one expectation: runs, truthful verdicts, named culprit..."""
    _need(entry)
    run, real = _evaluated(entry, tmp_path_factory)
    if expectation == "runs":  # check returned and the collection after it survived
        assert run.results, run.outcome.describe()
        return
    assert run.results, f"check gave no report: {run.outcome.describe()}"
    if expectation == "verdicts":
        problems = verdict_mismatches(run, real, entry.harmless_load)
        assert not problems, "\n".join(problems)
    elif expectation == "fresh":
        problems = fresh_mismatches(run, real)
        assert not problems, "\n".join(problems)
    else:
        assert expectation in run.judged, f"not judged: {run.outcome.describe()}"
        ok, detail = run.judged[expectation]
        assert ok, f"{detail}\n{_context(run)}"
