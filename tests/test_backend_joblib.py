"""The joblib backend against a real joblib.Parallel (loky workers)."""

from __future__ import annotations

import fw_jobs
import pytest

import picklecheck

joblib = pytest.importorskip("joblib", reason="joblib is not installed (picklecheck[joblib])")


def _job_outcome(obj):
    try:
        joblib.Parallel(n_jobs=2, backend="loky")(
            joblib.delayed(fw_jobs.kind)(x) for x in [obj, 0])
    except Exception:  # noqa: BLE001 - whatever the job raised, it did not work
        return "fails"
    return "ok"


@pytest.mark.parametrize("row", sorted(fw_jobs.MATRIX))
def test_verdict_matches_parallel(row):
    """Each matrix row: the backend's verdict is what joblib.Parallel did with it."""
    obj = fw_jobs.MATRIX[row]()
    try:
        report = picklecheck.check(obj, backends=["joblib"], fresh_process=True)
        assert fw_jobs.outcome_of(report, obj) == _job_outcome(obj), str(report)
    finally:
        fw_jobs.close(obj)


def test_lambda_travels_by_value_but_lock_does_not():
    """Lambdas and closures pass (loky pickles them by value); the lock is the one culprit."""
    obj = {"f": lambda x: x, "g": fw_jobs.make_closure(2), "state": {"lock": fw_jobs.make_lock()}}
    report = picklecheck.check(obj, backends=["joblib", "pickle"])
    assert [(c.path, c.backends) for c in report.culprits if "joblib" in c.backends] == [
        ("obj['state']['lock']", ("joblib", "pickle"))]
    assert report.results["joblib"].worker == "loky"
    assert eval(report.culprits[-1].path, {"obj": obj}) is report.culprits[-1].obj  # noqa: S307


def test_main_function_is_sent_by_value():
    """A __main__ function reaches loky workers by value: no worker load is needed."""
    func, remove = fw_jobs.main_function("picklecheck_joblib_main")
    try:
        assert joblib.Parallel(n_jobs=2)(joblib.delayed(func)(i) for i in range(2)) == [0, 1]
        report = picklecheck.check(func, backends=["joblib"])
    finally:
        remove()
    assert report.ok
    assert report.results["joblib"].fresh is None  # no reference to __main__ in the bytes


def test_result_that_cannot_pickle():
    """A task returning a lock fails in joblib; the backend fails on that value."""
    with pytest.raises(Exception):  # noqa: B017 - the worker cannot send the lock back
        joblib.Parallel(n_jobs=2)(joblib.delayed(fw_jobs.make_lock)() for _ in range(2))
    assert not picklecheck.check(fw_jobs.make_lock(), backends=["joblib"]).ok


def test_a_queue_sent_to_running_workers_gets_joblib_s_fix():
    """Parallel refuses a multiprocessing queue (its workers are running); the fix is a
    manager's proxy, not "pass it when the workers start", which joblib has no way to do."""
    import multiprocessing

    queue = multiprocessing.Queue()
    with pytest.raises(Exception):  # noqa: B017 - loky cannot send it
        joblib.Parallel(n_jobs=2)(joblib.delayed(fw_jobs.kind)(queue) for _ in range(2))
    report = picklecheck.check({"q": queue}, backends=["joblib"])
    [culprit] = report.culprits
    assert culprit.kind == "process_shared"
    assert "multiprocessing.Manager()" in culprit.hint and "initializer" not in culprit.hint
