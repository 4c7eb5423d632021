"""picklecheck.explain(exc) on real failures of real frameworks, in this process."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import sys
import threading
import warnings
from pathlib import Path

import pytest

import picklecheck
from picklecheck.integrations.explain import diagnose, is_serialization_failure

sys.path.insert(0, str(Path(__file__).parent / "jobs"))
from models import Model, make, score  # noqa: E402

LOCK_LAMBDA_GEN = {".lock": "_thread.lock", ".on_done": "function", ".batches": "generator"}


def _paths(diagnosis: picklecheck.Diagnosis) -> dict[str, str]:
    return {c.path: c.type for c in diagnosis.culprits}


def _expect(root: str, pickled_lambda: bool = True) -> dict[str, str]:
    return {root + step: kind for step, kind in LOCK_LAMBDA_GEN.items()
            if pickled_lambda or step != ".on_done"}


def _failure(action) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the failure under test
        return exc
    pytest.fail("the action did not fail")


def test_pool_map_names_the_item_in_the_users_list() -> None:
    """Pool.map: every culprit is rooted at the failing item of the list the user passed."""
    models = [1, 2, Model(3), 4]
    with multiprocessing.Pool(2) as pool:
        exc = _failure(lambda: pool.map(score, models, chunksize=1))
    diagnosis = picklecheck.explain(exc)
    assert diagnosis is not None
    assert _paths(diagnosis) == _expect("models[2]")
    assert diagnosis.call == "pool.map(score, models, chunksize=1)"
    assert diagnosis.framework == "multiprocessing"


def test_pool_map_default_chunks_index_the_whole_list() -> None:
    """With Pool's own chunk size the index still counts from the start of the list."""
    models = [0] * 9 + [Model(9)] + [0] * 6
    with multiprocessing.Pool(2) as pool:
        exc = _failure(lambda: pool.map(score, models))
    assert _paths(picklecheck.explain(exc)) == _expect("models[9]")


def test_pool_map_reports_every_bad_item_not_only_the_first_chunk() -> None:
    """Items in chunks after the one that failed are checked too."""
    models = [Model(0), 1, 2, {"cb": lambda: 0}]
    with multiprocessing.Pool(2) as pool:
        exc = _failure(lambda: pool.map(score, models, chunksize=1))
    paths = _paths(picklecheck.explain(exc))
    assert paths == {**_expect("models[0]"), "models[3]['cb']": "function"}


def test_apply_async_names_the_argument() -> None:
    """apply_async(f, (model,)): the argument as written in the tuple."""
    model = Model(1)
    with multiprocessing.Pool(1) as pool:
        exc = _failure(lambda: pool.apply_async(score, (model,)).get(timeout=30))
    assert _paths(picklecheck.explain(exc)) == _expect("model")


def test_process_spawn_names_the_targets_parameter() -> None:
    """Process(target=score, args=(model,)).start() under spawn: score's parameter name."""
    process = multiprocessing.get_context("spawn").Process(target=score, args=(Model(1),))
    try:
        process.start()
    except TypeError as caught:
        exc = caught
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == _expect("model")
    assert diagnosis.call == "process.start()"


def talk(queue, lock, event, value, guard) -> None:
    queue.put(1)


def test_process_start_sends_what_starting_workers_may_get() -> None:
    """A queue, a lock, an event and a shared value go to a spawned worker as it starts:
    the lock beside them is the one culprit (they were named too, with the hint to pass
    them when the worker starts, which is what the program did)."""
    ctx = multiprocessing.get_context("spawn")
    queue, guard = ctx.Queue(), threading.Lock()
    process = ctx.Process(target=talk, args=(queue, ctx.Lock(), ctx.Event(), ctx.Value("i", 1),
                                             guard))
    exc = _failure(process.start)
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == {"guard": "_thread.lock"}
    assert diagnosis.culprits[0].obj is guard
    queue.put(2)  # a check leaves them as they were
    assert queue.get(timeout=10) == 2


def setup(queue, guard) -> None:
    pass


def test_pool_initargs_are_sent_as_the_workers_start() -> None:
    """A pool starts its workers in the user's Pool(...) call: the queue in its initargs
    goes with them, the lock is the culprit, and the call is the user's."""
    ctx = multiprocessing.get_context("spawn")
    queue, guard = ctx.Queue(), threading.Lock()
    exc = _failure(lambda: ctx.Pool(1, initializer=setup, initargs=(queue, guard)))
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == {"initargs[1]": "_thread.lock"}
    assert diagnosis.call == "ctx.Pool(1, initializer=setup, initargs=(queue, guard))"


def test_executor_initargs_are_the_users_part_not_its_queues() -> None:
    """ProcessPoolExecutor starts its workers in submit: the lock in the initargs is the
    culprit; the executor's own queues, closed once the with block ends, are not."""
    ctx = multiprocessing.get_context("spawn")
    queue, guard = ctx.Queue(), threading.Lock()

    def use_it() -> None:
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=ctx, initializer=setup, initargs=(queue, guard)) as executor:
            executor.submit(score, 1).result(timeout=30)

    diagnosis = picklecheck.explain(_failure(use_it))
    assert _paths(diagnosis) == {"initargs[1]": "_thread.lock"}
    assert diagnosis.call == "executor.submit(score, 1)"


def test_pool_map_names_a_queue_sent_to_running_workers() -> None:
    """A queue passed to Pool.map goes to workers already running: multiprocessing refuses
    it (a RuntimeError, not a pickling error), and the diagnosis names it."""
    queue = multiprocessing.get_context("spawn").Queue()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        exc = _failure(lambda: pool.map(score, [queue]))
    assert is_serialization_failure(exc)  # so `picklecheck run` and the hooks diagnose it
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == {"items[0]": "multiprocessing.queues.Queue"}
    assert diagnosis.culprits[0].kind == "process_shared"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="multiprocessing says so from 3.11")
def test_process_start_names_a_lock_made_for_fork_with_its_fix() -> None:
    """A queue made by the fork context cannot go to a spawned worker: its lock is named,
    and the fix is to make it from the context that starts the worker."""
    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("spawn").Process(target=talk, args=(queue,))
    exc = _failure(process.start)
    diagnosis = picklecheck.explain(exc)
    assert {c.kind for c in diagnosis.culprits} == {"fork_context"}
    (entry,) = diagnosis.report.entries
    assert entry.path == "queue"
    assert "ctx.Queue()" in entry.hint


def test_executor_submit_skips_the_feeders_live_frame() -> None:
    """ProcessPoolExecutor: the feeder thread's obj has moved on; the finished frame is used."""
    model = Model(1)
    with concurrent.futures.ProcessPoolExecutor(1) as executor:
        future = executor.submit(score, model, scale=2)
        exc = _failure(future.result)
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == _expect("model")
    assert "_CallItem" not in str(diagnosis)


def test_executor_map_finds_the_index() -> None:
    """Executor.map: the item's index in the user's list, found by identity."""
    models = [1, Model(2), 3]
    with concurrent.futures.ProcessPoolExecutor(1) as executor:
        exc = _failure(lambda: list(executor.map(score, models)))
    assert _paths(picklecheck.explain(exc)) == _expect("models[1]")


def test_pickle_dumps_called_directly() -> None:
    """pickle.dumps(state) raised in the user's own frame: state is looked up there."""
    state = {"model": Model(1)}
    exc = _failure(lambda: pickle.dumps(state))
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == _expect("state['model']")
    assert diagnosis.headline().startswith("picklecheck: pickle.dumps(state) failed: 3 culprits")


def test_cloudpickle_called_directly() -> None:
    """cloudpickle.dumps(x): its own frame holds x; cloudpickle copes with the lambda."""
    import cloudpickle

    models = [Model(1)]
    exc = _failure(lambda: cloudpickle.dumps(models))
    diagnosis = picklecheck.explain(exc)
    assert _paths(diagnosis) == _expect("models[0]", pickled_lambda=False)
    assert diagnosis.backend == "cloudpickle"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are 3.11+")
def test_exception_group_members_are_searched() -> None:
    """A failure inside an ExceptionGroup (as TaskGroup raises) is still found."""
    models = [Model(1)]
    with multiprocessing.Pool(1) as pool:
        inner = _failure(lambda: pool.map(score, models))
    group = ExceptionGroup("several", [ValueError("unrelated"), inner])  # noqa: F821
    assert _paths(picklecheck.explain(group)) == _expect("models[0]")


def test_chained_failure_is_found_through_cause() -> None:
    """An application error raised from the pickling error: the cause is walked."""
    model = Model(1)

    def wrapped() -> None:
        try:
            pickle.dumps(model)
        except TypeError as exc:
            raise RuntimeError("could not save the job") from exc

    exc = _failure(wrapped)
    assert _paths(picklecheck.explain(exc)) == _expect("model")


def test_unrelated_exception_returns_none_with_a_reason() -> None:
    """Not a serialization failure: None, and a warning that says so."""
    exc = _failure(lambda: {}["missing"])
    with pytest.warns(picklecheck.ExplainWarning, match="not a serialization failure"):
        assert picklecheck.explain(exc) is None


def test_unrecoverable_pickling_error_says_why() -> None:
    """A pickling error with no traceback (as joblib's multiprocessing backend leaves it)."""
    exc = TypeError("cannot pickle '_thread.lock' object")
    with pytest.warns(picklecheck.ExplainWarning, match="carries no traceback"):
        assert picklecheck.explain(exc) is None
    assert diagnose(exc).reason is not None


def test_not_an_exception_is_a_clear_error() -> None:
    """Bad input gets a TypeError naming what was passed."""
    with pytest.raises(TypeError, match=r"explain\(\) takes an exception, not str"):
        picklecheck.explain("cannot pickle")  # type: ignore[arg-type]


def test_payload_fixed_since_the_failure_is_not_called_ok() -> None:
    """When the recovered object pickles now, the diagnosis says it could not reproduce."""
    holder = {"lock": threading.Lock()}
    exc = _failure(lambda: pickle.dumps(holder))
    holder["lock"] = None
    diagnosis = diagnose(exc)
    assert diagnosis.culprits == []
    assert "pickles now" in (diagnosis.reason or "")
    assert picklecheck.explain(exc) is not None  # recovered: the honest "pickles now" answer


@pytest.fixture
def hook_installed():
    picklecheck.install()
    try:
        yield
    finally:
        picklecheck.uninstall()


def test_joblib_loky_names_the_delayed_argument(hook_installed: None) -> None:
    """joblib.Parallel with loky: the BatchedCalls envelope is unwrapped to the argument.

    Whether loky chains the pickler's error is a race; with the hook installed it always
    does, so every one of several runs must name the argument."""
    joblib = pytest.importorskip("joblib")
    model = Model(1)
    for _ in range(3):
        exc = _failure(lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(score)(m) for m in [model]))
        diagnosis = picklecheck.explain(exc)
        assert _paths(diagnosis) == _expect("m", pickled_lambda=False)
        assert diagnosis.framework == "joblib"


def test_joblib_loky_without_the_hook_names_the_argument_or_says_how() -> None:
    """Without the hook the task is found when loky chained the error, and otherwise the
    warning says how to make it found."""
    joblib = pytest.importorskip("joblib")
    model = Model(1)
    exc = _failure(lambda: joblib.Parallel(n_jobs=2)(joblib.delayed(score)(m) for m in [model]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagnosis = picklecheck.explain(exc)
    if diagnosis is None:
        assert "picklecheck.install()" in str(caught[0].message)
    else:
        assert _paths(diagnosis) == _expect("m", pickled_lambda=False)


def test_note_lists_one_culprit_a_line() -> None:
    """The short note: the headline, then one line per culprit path."""
    model = Model(1)
    exc = _failure(lambda: pickle.dumps(model))
    lines = picklecheck.explain(exc).note().splitlines()
    assert lines[0] == "picklecheck: pickle.dumps(model) failed: 3 culprits"
    assert [line.split()[0] for line in lines[1:]] == ["model.lock", "model.on_done",
                                                       "model.batches"]


def test_note_counts_what_a_library_object_holds_in_words() -> None:
    """A library object with one culprit inside: "1 culprit inside" (it read "1 culprits")."""
    import queue

    state = {"jobs": queue.Queue()}
    exc = _failure(lambda: pickle.dumps(state))
    lines = picklecheck.explain(exc).note().splitlines()
    assert lines[1:] == ["  state['jobs']  (queue.Queue): 1 culprit inside"], lines


def test_html_rendering_escapes_and_lists_culprits() -> None:
    """The notebook rendering is HTML with one row per culprit, user text escaped."""
    model = Model(1)
    exc = _failure(lambda: pickle.dumps(model))
    page = picklecheck.explain(exc)._repr_html_()
    assert page.count("<tr><td><code>") == 3
    assert "<code>model.lock</code>" in page
    assert "&#x27;_thread.lock&#x27;" in page


def test_a_result_a_worker_cannot_send_back_is_said_to_be_the_result() -> None:
    """The task ran; its return value does not pickle (Pool's MaybeEncodingError, the
    executor's error from the worker). The diagnosis says so and that what was passed is
    fine (it said "check what you passed")."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pooled = _failure(lambda: pool.map(make, [1]))
    with concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as executor:
        submitted = _failure(lambda: executor.submit(make, 1).result())
    for exc in (pooled, submitted):
        reason = diagnose(exc).reason or ""
        assert "could not send back what it returned" in reason, reason
        assert "cannot pickle '_thread.lock' object" in reason
        assert "check what you passed" not in reason
