"""The multiprocessing backend against real Pools and ProcessPoolExecutors (spawn)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.managers  # noqa: F401 - registers the dict_keys reducer, as many programs do
import pickle

import fw_jobs
import pytest

import picklecheck
from picklecheck.backends import get_backend

SPAWN = multiprocessing.get_context("spawn")
JOB_TIMEOUT = 60


@pytest.fixture(scope="module")
def pool():
    """One spawn Pool with one worker for the module."""
    with SPAWN.Pool(1) as p:
        yield p


@pytest.fixture(scope="module")
def executor():
    """One spawn ProcessPoolExecutor with one worker for the module."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=SPAWN) as ex:
        yield ex


def _pool_outcome(pool, obj):
    try:
        pool.apply_async(fw_jobs.kind, (obj,)).get(timeout=JOB_TIMEOUT)
    except multiprocessing.TimeoutError:
        return "fails"
    except Exception:  # noqa: BLE001 - whatever the job raised, it did not work
        return "fails"
    return "ok"


def _verdict(obj, backend="multiprocessing:spawn"):
    report = picklecheck.check(obj, backends=[backend], fresh_process=True)
    for culprit in report.culprits:
        if culprit.evaluable:
            assert eval(culprit.path, {"obj": obj}) is culprit.obj  # noqa: S307
    return ("ok" if report.ok else "fails"), report


@pytest.mark.parametrize("row", sorted(fw_jobs.MATRIX))
def test_verdict_matches_pool(pool, row):
    """Each matrix row: the backend's verdict is what Pool.apply_async did with it."""
    obj = fw_jobs.MATRIX[row]()
    try:
        verdict, report = _verdict(obj)
        assert verdict == _pool_outcome(pool, obj), str(report)
    finally:
        fw_jobs.close(obj)


@pytest.mark.parametrize("row", ["lock", "lambda", "generator", "clean dict", "dict_keys"])
def test_verdict_matches_executor(executor, row):
    """ProcessPoolExecutor.submit agrees with the backend on the same rows."""
    obj = fw_jobs.MATRIX[row]()
    try:
        executor.submit(fw_jobs.kind, obj).result(timeout=JOB_TIMEOUT)
        outcome = "ok"
    except Exception:  # noqa: BLE001
        outcome = "fails"
    assert _verdict(obj)[0] == outcome


def test_culprits_and_paths():
    """Every culprit is found, with the path that evaluates to it and the framework's error."""
    obj = {"a": fw_jobs.MATRIX["lock"](), "b": [fw_jobs.module_lambda]}
    report = picklecheck.check(obj, backends=["multiprocessing"])
    paths = {c.path: c.kind for c in report.culprits}
    assert paths == {"obj['a']['state'][0]": "lock", "obj['b'][0]": "lambda"}
    assert report.results["multiprocessing"].worker == "spawn"


def test_main_function_breaks_the_executor(executor):
    """A __main__ function (as from python -c) breaks a spawn executor; the backend says why."""
    func, remove = fw_jobs.main_function()
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=SPAWN) as ex:
            with pytest.raises(concurrent.futures.process.BrokenProcessPool):
                ex.submit(func, 1).result(timeout=JOB_TIMEOUT)
        report = picklecheck.check(func, backends=["multiprocessing:spawn"], name="job")
    finally:
        remove()
    assert not report.ok
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("job", "main_reference", "fresh")
    assert report.results["multiprocessing:spawn"].fresh is False


def test_main_function_hangs_pool_map():
    """Pool.map with a __main__ function never returns under spawn (checked with a time limit)."""
    func, remove = fw_jobs.main_function("picklecheck_main_hang")
    try:
        with SPAWN.Pool(1) as p:
            result = p.map_async(func, [1])
            with pytest.raises(multiprocessing.TimeoutError):
                result.get(timeout=10)
            p.terminate()
        verdict, _ = _verdict(func)
    finally:
        remove()
    assert verdict == "fails"


def test_main_function_is_fine_under_fork():
    """Under fork the worker is a copy of this process: a __main__ function is found."""
    func, remove = fw_jobs.main_function("picklecheck_main_fork")
    try:
        with multiprocessing.get_context("fork").Pool(1) as p:
            assert p.apply(func, (5,)) == 5
        report = picklecheck.check(func, backends=["multiprocessing:fork"], fresh_process=True)
    finally:
        remove()
    assert report.ok
    assert report.results["multiprocessing:fork"].worker == "fork"


def test_parent_only_class_fails_in_spawn_worker(executor):
    """A class whose module exists only in the parent cannot load in a spawned worker."""
    module = fw_jobs.parent_only_module()
    obj = {"p": module.Point(1)}
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=SPAWN) as ex:
            with pytest.raises(Exception):  # noqa: B017 - the worker's unpickling error
                ex.submit(fw_jobs.kind, obj).result(timeout=JOB_TIMEOUT)
        report = picklecheck.check(obj, backends=["multiprocessing"])  # no fresh_process asked
    finally:
        del __import__("sys").modules[module.__name__]
    assert [(c.path, c.kind) for c in report.culprits] == [("obj['p']", "unimportable")]


def test_result_that_cannot_pickle(pool):
    """A task whose result cannot be pickled fails in Pool; the backend fails on that value."""
    with pytest.raises(Exception):  # noqa: B017 - MaybeEncodingError
        pool.apply(fw_jobs.make_lock)
    assert not picklecheck.check(fw_jobs.make_lock(), backends=["multiprocessing"]).ok


def test_socket_is_handed_over_and_given_back():
    """A socket pickles through the resource sharer; a dump into the sink keeps no duplicate."""
    from multiprocessing import resource_sharer

    sock = fw_jobs.MATRIX["socket"]()
    try:
        assert picklecheck.check(sock, backends=["multiprocessing"], roundtrip=False).ok
        assert not picklecheck.check(sock, backends=["pickle"], roundtrip=False).ok
        cache = resource_sharer._resource_sharer._cache
        assert not cache
    finally:
        sock.close()


def test_assert_picklable_and_errors():
    """assert_picklable takes a framework backend; a bad start method is a clear error."""
    picklecheck.assert_picklable({"a": 1}, backend="multiprocessing")
    with pytest.raises(pickle.PicklingError, match="multiprocessing"):
        picklecheck.assert_picklable(fw_jobs.module_lambda, backend="multiprocessing")
    with pytest.raises(picklecheck.UnknownBackendError, match="start methods: spawn"):
        get_backend("multiprocessing:thread")


def test_manager_proxy_is_sent_to_workers_not_elsewhere(pool):
    """A manager's proxy connects to its manager as it loads: a spawned worker (which has
    this program's authkey) uses it, so multiprocessing says ok, as the real Pool does;
    pickle's copy would connect from wherever it is loaded (a sandboxed load was "PermissionError",
    a bare load failure), so it is a culprit of its own kind with a fix that says where to send it."""
    manager = multiprocessing.get_context("fork").Manager()
    try:
        shared = manager.dict()
        shared["a"] = 1
        assert pool.apply_async(len, (shared,)).get(timeout=JOB_TIMEOUT) == 1
        verdict, report = _verdict({"shared": shared})
        assert verdict == "ok", str(report)
        report = picklecheck.check({"shared": shared}, backends=["pickle"])
        [culprit] = report.culprits
        assert (culprit.path, culprit.kind) == ("obj['shared']", "manager_proxy")
        assert "send it only to processes this program starts" in culprit.hint
        if report.results["pickle"].isolation == "sandbox":
            assert "opened a unix socket" in culprit.reason
    finally:
        manager.shutdown()


def test_a_pipe_end_copied_by_pickle_is_not_ok():
    """Plain pickle copies a Pipe's end as its descriptor number: where the copy loads
    that number is another file or none, and dropping the copy closes it (in the process
    that pickled it, the original's). It was "ok"; multiprocessing hands it over."""
    mine, theirs = multiprocessing.Pipe()
    try:
        report = picklecheck.check({"conn": mine}, backends=["pickle"])
        [culprit] = report.culprits
        assert (culprit.path, culprit.kind, culprit.stage) == ("obj['conn']", "process_shared",
                                                               "loads")
        assert f"holds descriptor {mine.fileno()}" in culprit.reason
        assert picklecheck.check({"conn": mine}, backends=["multiprocessing"]).ok
        theirs.send(1)
        assert mine.recv() == 1  # the check closed nothing of the caller's
    finally:
        mine.close()
        theirs.close()


def test_a_threading_lock_or_queue_sent_to_workers_is_replaced_by_multiprocessing_s():
    """A threading lock (or queue.Queue) in what a pool sends: the fix makes one the workers
    share (it said to open one per worker in a Pool initializer: applied, each worker had
    its own lock, and their critical sections overlapped)."""
    import queue
    import threading

    report = picklecheck.check({"lock": threading.Lock(), "jobs": queue.Queue()},
                               backends=["multiprocessing"], roundtrip=False)
    hints = {e.path: e.hint for e in report.entries}
    assert "make a multiprocessing.Lock() and hand it over as they start" in hints["obj['lock']"]
    assert "share work through a multiprocessing.Queue" in hints["obj['jobs']"]
    assert not any("once per worker" in h for h in hints.values())
