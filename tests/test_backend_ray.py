"""The ray backend against a real local Ray (one CPU, no dashboard)."""

from __future__ import annotations

import fw_jobs
import pytest

import picklecheck

ray = pytest.importorskip("ray", reason="ray is not installed (picklecheck[ray])")
# Ray's loads import numpy when it is not imported yet, and numpy's import sets and removes
# OPENBLAS_MAIN_FREE, which the sandboxed round trip reports as the load's doing. Imported
# here, as in any program that already uses it.
pytest.importorskip("numpy")
JOB_TIMEOUT = 120


@pytest.fixture(scope="module")
def remote_kind():
    """Ray started for this module, stopped by its own API afterwards. Ray workers cannot
    import the tests folder, so the helpers travel by value, as Ray's docs advise."""
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")
    ray.cloudpickle.register_pickle_by_value(fw_jobs)
    yield ray.remote(fw_jobs.kind)
    ray.cloudpickle.unregister_pickle_by_value(fw_jobs)
    ray.shutdown()


def _job_outcome(remote_kind, obj):
    try:
        ray.get(remote_kind.remote(obj), timeout=JOB_TIMEOUT)
    except Exception:  # noqa: BLE001 - whatever Ray raised, the job did not work
        return "fails"
    return "ok"


@pytest.mark.parametrize("row", sorted(fw_jobs.MATRIX))
def test_verdict_matches_remote(remote_kind, row):
    """Each matrix row: the backend's verdict is what f.remote(obj) did with it."""
    obj = fw_jobs.MATRIX[row]()
    try:
        report = picklecheck.check(obj, backends=["ray"], fresh_process=True)
        assert fw_jobs.outcome_of(report, obj) == _job_outcome(remote_kind, obj), str(report)
    finally:
        fw_jobs.close(obj)


def test_object_refs_travel(remote_kind):
    """An ObjectRef inside an argument travels with Ray's reducer, and loads back."""
    obj = {"ref": ray.put([1, 2]), "n": 3}
    assert _job_outcome(remote_kind, obj) == "ok"
    report = picklecheck.check(obj, backends=["ray"], fresh_process=True)
    assert report.ok, str(report)
    assert report.results["ray"].roundtrip is True


def test_actor_handles_travel(remote_kind):
    """An actor handle inside an argument travels (Ray rebuilds it in the worker). The
    round trip's load runs in a fork, which inherits ray.is_initialized() but not the
    connection: rebuilding the handle there waited until the check's time limit, and the
    handle was reported as a load that hangs."""
    import time

    obj = {"counter": ray.remote(fw_jobs.Counter).remote(), "refs": [ray.put([1])]}
    assert _job_outcome(remote_kind, obj) == "ok"
    started = time.monotonic()
    report = picklecheck.check(obj, backends=["ray"], timeout=30)
    assert report.ok, str(report)
    assert time.monotonic() - started < 10


def test_a_remote_function_over_ray_s_limit_is_refused(remote_kind):
    """Ray refuses to export a remote function over FUNCTION_SIZE_ERROR_THRESHOLD (95 MiB),
    though it pickles: a closure holding 100 MiB fails with ray, with the ray.put fix; the
    same data as an argument is fine. It was "ok"."""
    from ray._private import ray_constants

    data = bytes(ray_constants.FUNCTION_SIZE_ERROR_THRESHOLD + 2**20)

    def score(i):
        return data[i]

    with pytest.raises(ValueError, match="too large"):
        ray.get(ray.remote(score).remote(0), timeout=JOB_TIMEOUT)
    report = picklecheck.check(score, backends=["ray", "cloudpickle"], name="score")
    [culprit] = report.culprits
    assert (culprit.path, culprit.kind, culprit.backends) == ("score", "too_large", ("ray",))
    assert "ray.put()" in culprit.hint and "FUNCTION_SIZE_ERROR_THRESHOLD" in culprit.reason
    assert report.results["cloudpickle"].ok
    assert picklecheck.check({"data": data}, backends=["ray"], roundtrip=False).ok


def test_assert_picklable_with_ray(remote_kind):
    """assert_picklable(obj, backend="ray") names the culprit path."""
    obj = {"cfg": {"lock": fw_jobs.make_lock()}}
    with pytest.raises(picklecheck.UnpicklableError, match=r"obj\['cfg'\]\['lock'\]"):
        picklecheck.assert_picklable(obj, backend="ray")


def test_parent_only_class_fails_on_the_worker(remote_kind):
    """A class whose module only the driver has fails on the worker, and in the backend."""
    module = fw_jobs.parent_only_module("picklecheck_ray_parent_only")
    obj = {"p": module.Point(2)}
    try:
        with pytest.raises(Exception) as raised:  # noqa: B017 - Ray's system error
            ray.get(remote_kind.remote(obj), timeout=JOB_TIMEOUT)
        report = picklecheck.check(obj, backends=["ray"])
        # explain() says what the worker lacked, and where this process has it from
        said = fw_jobs.why_not_explained(raised.value)
    finally:
        del __import__("sys").modules[module.__name__]
    assert said.startswith("a Ray worker could not load what the task was sent: it has no "
                           "module 'picklecheck_ray_parent_only'"), said
    assert "runtime_env={'py_modules': [module]}" in said
    assert [(c.path, c.kind) for c in report.culprits] == [("obj['p']", "unimportable")]
    assert report.results["ray"].worker == "ray"


def test_main_function_travels_by_value(remote_kind):
    """A __main__ function reaches a Ray worker by value."""
    func, remove = fw_jobs.main_function("picklecheck_ray_main")
    try:
        assert ray.get(ray.remote(func).remote(4), timeout=JOB_TIMEOUT) == 4
        assert picklecheck.check(func, backends=["ray"]).ok
    finally:
        remove()


def test_result_that_cannot_pickle(remote_kind):
    """A task returning a lock fails in ray; the backend fails on that value."""
    with pytest.raises(Exception) as raised:  # noqa: B017 - the worker cannot store the lock
        ray.get(ray.remote(fw_jobs.make_lock).remote(), timeout=JOB_TIMEOUT)
    assert not picklecheck.check(fw_jobs.make_lock(), backends=["ray"]).ok
    # explain() says the result could not be sent back (not "check what you passed")
    said = fw_jobs.why_not_explained(raised.value)
    assert "could not send back what it returned (TypeError: cannot pickle" in said, said

