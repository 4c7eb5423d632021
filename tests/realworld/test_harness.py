"""The corpus harness itself: children, truth and judging must be able to fail.

Every corpus verdict rests on these pieces, so each is tested on an outcome known in
advance: a hang is a timeout, an abort is a crash, dill's copy of an RLock is unusable,
and a report that lies about a verdict or a culprit is caught.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from realworld.appcode import Cache, lock_is_free
from realworld.child import run_children, run_in_child
from realworld.entry import Context, Entry
from realworld.expect import judge_culprit, judge_genuine, judge_paths, judge_works_with
from realworld.objects import ENTRIES, by_id
from realworld.runner import CheckRun, verdict_mismatches
from realworld.truth import BackendTruth, truth


def test_child_reports_what_it_emitted() -> None:
    """Events arrive in order and a finished child is "ok"."""
    outcome = run_in_child(lambda emit: [emit({"event": "n", "i": i}) for i in range(3)], 10)
    assert outcome.status == "ok"
    assert [e["i"] for e in outcome.events] == [0, 1, 2]


def test_child_hang_is_a_timeout() -> None:
    """A child that never finishes is killed at its limit and called a timeout."""
    def hang(emit: Any) -> None:
        emit({"event": "started"})
        threading.Event().wait()

    start = time.monotonic()
    outcome = run_in_child(hang, 1.0)
    assert outcome.status == "timeout"
    assert outcome.last("started") is not None
    assert time.monotonic() - start < 10


def test_child_abort_is_a_crash_with_its_signal() -> None:
    """An interpreter abort ends only the child, and the signal is named."""
    outcome = run_in_child(lambda emit: os.abort(), 10)
    assert outcome.status == "crashed"
    assert "SIGABRT" in outcome.error


def test_child_alarm_is_a_timeout() -> None:
    """The child's own alarm (check's time limit) counts as a timeout, not a crash."""
    def slow(emit: Any) -> None:
        signal.alarm(1)
        threading.Event().wait()

    assert run_in_child(slow, 20).status == "timeout"


def test_child_exception_is_an_error_with_traceback() -> None:
    """An exception in the work is reported with its traceback."""
    def fail(emit: Any) -> None:
        raise ValueError("boom")

    outcome = run_in_child(fail, 10)
    assert outcome.status == "error"
    assert "ValueError: boom" in outcome.error


def test_children_run_side_by_side() -> None:
    """Children run at once: three 2 s sleeps take less than their sum; outcomes keep order."""
    jobs = [(lambda emit, i=i: (time.sleep(2), emit({"event": "i", "i": i})), 20.0)
            for i in range(3)]
    start = time.monotonic()
    outcomes = run_children(jobs)
    assert time.monotonic() - start < 5.5
    assert [o.last("i")["i"] for o in outcomes] == [0, 1, 2]


def test_truth_of_a_lock_holder(tmp_path: Path) -> None:
    """The truth for an RLock holder: pickle and cloudpickle refuse, dill's copy is unusable."""
    entry = Entry("cache", lambda ctx: Cache(), probe=lambda c: lock_is_free(c._lock))
    real = truth(entry, tmp_path)
    assert not real["pickle"].dumps and not real["cloudpickle"].dumps
    assert real["dill"].ok
    assert real["dill"].usable is False


def test_truth_of_a_load_that_hangs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that never returns is a loads failure, and dumps is still known."""
    monkeypatch.setattr("realworld.truth.STEP_TIMEOUT", 3.0)
    entry = Entry("hangs", lambda ctx: _HangsOnLoad())
    real = truth(entry, tmp_path)
    assert real["pickle"].dumps
    assert real["pickle"].loads is False
    assert "timeout" in real["pickle"].loads_error


def test_verdict_mismatch_is_caught() -> None:
    """A check that calls a backend ok when its real load fails, or breaks the copy, is wrong."""
    said = {"ok": True, "available": True, "error": None, "roundtrip": True,
            "roundtrip_error": None, "skipped": [], "stage": None}
    run = CheckRun(outcome=None, results={"dill": said})  # type: ignore[arg-type]
    real = {"dill": BackendTruth("dill", True, loads=False, loads_error="KeyError: 'file'")}
    assert verdict_mismatches(run, real)
    real["dill"].loads = True
    assert not verdict_mismatches(run, real)
    real["dill"].usable = False  # loads, but the copy's lock can never be acquired
    assert verdict_mismatches(run, real)


def _culprit(path: str, obj: Any, **kw: Any) -> Any:
    fields = {"path": path, "obj": obj, "evaluable": True, "kind": "lock", "stage": "dumps",
              "backends": ("pickle",), "works_with": {}, "type": type(obj).__name__,
              "reasons": {}}
    return SimpleNamespace(**{**fields, **kw})


def _report(*culprits: Any) -> Any:
    """A report whose entries are its culprits, one each (as an ungrouped report's are)."""
    entries = [SimpleNamespace(path=c.path, paths=[c.path], objs=[c.obj]) for c in culprits]
    return SimpleNamespace(culprits=list(culprits), entries=entries)


def test_judges_catch_wrong_culprit_path_and_claim() -> None:
    """Judges fail on an unnamed culprit, a path that lies, and a false 'dill: ok'."""
    root = Cache()
    entry = Entry("cache", lambda ctx: root, change=("obj._lock",), library=False)
    elsewhere = _report(_culprit("obj.data", root.data))
    assert not judge_culprit(entry, root, elsewhere)[0]
    lie = _report(_culprit("obj.data", root._lock, works_with={"dill": True}))
    assert not judge_paths(entry, root, lie)[0]
    assert "cannot be acquired" in judge_works_with(entry, root, lie)[1]
    honest = _report(_culprit("obj._lock", root._lock))
    assert judge_culprit(entry, root, honest)[0]
    assert judge_paths(entry, root, honest)[0]


def test_genuine_catches_a_false_culprit() -> None:
    """A culprit that pickles on its own is reported as false."""
    root = {"fine": [1, 2, 3]}
    entry = Entry("d", lambda ctx: root)
    report = _report(_culprit("obj['fine']", root["fine"]))
    assert not judge_genuine(entry, root, report)[0]


def test_corpus_is_well_formed(tmp_path: Path) -> None:
    """Ids are unique, change expressions parse, and xfail reasons name an issue."""
    assert len({e.id for e in ENTRIES}) == len(ENTRIES) >= 50
    for entry in ENTRIES:
        for expr in entry.change:
            compile(expr, entry.id, "eval")
        for reason in entry.xfail.values():
            assert reason.startswith("issue "), (entry.id, reason)
    assert by_id(ENTRIES[0].id) is ENTRIES[0]
    with pytest.raises(KeyError, match="no corpus entry"):
        by_id("no-such-entry")


def test_context_runs_every_cleanup(tmp_path: Path) -> None:
    """Teardown runs cleanups newest first and keeps going after one fails."""
    ctx, order = Context(tmp_path), []
    ctx.closing(lambda: order.append(1))
    ctx.closing(lambda: 1 / 0)
    ctx.closing(lambda: order.append(3))
    errors = ctx.teardown()
    assert order == [3, 1]
    assert errors and "ZeroDivisionError" in errors[0]


class _HangsOnLoad:
    def __reduce__(self) -> Any:
        return (time.sleep, (3600,))
