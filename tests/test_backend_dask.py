"""The dask backend against a real Dask LocalCluster on this machine."""

from __future__ import annotations

import sys

import fw_jobs
import pytest

import picklecheck

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed "
                                  "(picklecheck[dask])")
JOB_TIMEOUT = 60


@pytest.fixture(scope="module")
def client():
    """A one-worker, one-thread cluster in this process; closed by its own API."""
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _job_outcome(client, obj, timeout=JOB_TIMEOUT):
    try:
        client.submit(fw_jobs.kind, obj, pure=False).result(timeout=timeout)
    except Exception:  # noqa: BLE001 - whatever the job raised (or a timeout), it did not work
        return "fails"
    return "ok"


@pytest.mark.parametrize("row", sorted(fw_jobs.MATRIX))
def test_verdict_matches_submit(client, row):
    """Each matrix row: the backend's verdict is what client.submit did with it."""
    obj = fw_jobs.MATRIX[row]()
    try:
        report = picklecheck.check(obj, backends=["dask"], fresh_process=True)
        assert fw_jobs.outcome_of(report, obj) == _job_outcome(client, obj), str(report)
    finally:
        fw_jobs.close(obj)


def test_culprit_is_named_not_the_graph():
    """Dask's error names its graph expression; the backend names the argument's culprit."""
    obj = {"rows": [1, 2, (i for i in range(2))]}
    report = picklecheck.check(obj, backends=["dask"])
    assert [(c.path, c.kind) for c in report.culprits] == [("obj['rows'][2]", "generator")]


@pytest.fixture(scope="module")
def process_client():
    """A cluster whose one worker is a separate process, on 127.0.0.1."""
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_result_that_cannot_pickle(process_client):
    """A task returning a lock fails when the worker sends it back; the backend fails on it."""
    with pytest.raises(Exception) as raised:  # noqa: B017 - the worker cannot send the lock back
        process_client.submit(fw_jobs.make_lock, pure=False).result(timeout=JOB_TIMEOUT)
    assert not picklecheck.check(fw_jobs.make_lock(), backends=["dask"]).ok
    # explain() says the result could not be sent back (not "check what you passed")
    said = fw_jobs.why_not_explained(raised.value)
    assert ("could not send back what it returned (TypeError: Could not serialize object "
            "of type lock)") in said, said


def test_parent_only_class_never_resolves(process_client):
    """A class only the client can import: the worker process never finishes the task
    (run last: it poisons the worker for later submits)."""
    module = fw_jobs.parent_only_module("picklecheck_dask_parent_only")
    obj = module.Point(3)
    try:
        report = picklecheck.check(obj, backends=["dask"])
        assert _job_outcome(process_client, obj, timeout=15) == "fails"
    finally:
        del sys.modules[module.__name__]
    assert [(c.path, c.kind) for c in report.culprits] == [("obj", "unimportable")]
    assert report.results["dask"].worker == "dask"


def test_a_captured_client_gets_dask_s_own_fix(client):
    """A task function that uses the driver's Client: inside a task the cluster is reached
    with get_client(), not by creating a Client "inside the function"."""
    def task(x):
        return client.submit(abs, x).result()

    report = picklecheck.check(task, backends=["dask"], name="task")
    [entry] = report.entries
    assert entry.path == "task.__closure__[0].cell_contents", entry.path
    assert "distributed.get_client()" in entry.hint and "create it" not in entry.hint


def test_collections_are_explained_by_the_user_s_functions(client):
    """A frame's map_partitions(tag) and a bag's map(record) fail on what the function
    holds: the paths start at the function, and name no graph plumbing (it read
    "client.map(...): value.…" and "inner_dsk#2['record-<hash>', 0].args[0].…")."""
    import threading
    import warnings

    dd = pytest.importorskip("dask.dataframe")
    import dask.bag as db
    import pandas as pd

    guard = {"lock": threading.Lock()}

    def tag(frame):
        return frame.assign(y=frame.x * 2 + len(guard))

    def record(x):
        return (x, guard)

    jobs = {
        "tag": lambda: dd.from_pandas(pd.DataFrame({"x": range(8)}), npartitions=2)
        .map_partitions(tag).compute(),
        "record": lambda: db.from_sequence(range(4), npartitions=2).map(record).sum().compute(),
    }
    for name, job in jobs.items():
        with pytest.raises(Exception) as raised:  # noqa: B017 - Dask's own error
            job()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            diagnosis = picklecheck.explain(raised.value)
        assert diagnosis is not None, name
        assert [c.path for c in diagnosis.culprits] == [
            f"{name}.__closure__[0].cell_contents['lock']"], str(diagnosis)
        assert "client.map" not in diagnosis.call, diagnosis.call
