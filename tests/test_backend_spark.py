"""The spark backend against PySpark in local mode (needs a Java runtime)."""

from __future__ import annotations

import shutil

import fw_jobs
import pytest

import picklecheck

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (picklecheck[spark])")
pytestmark = pytest.mark.skipif(shutil.which("java") is None,
                                reason="Spark needs a Java runtime; none is on PATH")


@pytest.fixture(scope="module")
def sc():
    """A local[1] SparkContext for the module, stopped by its own API. Its Python workers
    run this interpreter, and the helpers travel by value (the tests folder is not on
    a worker's path). SparkContext installs a SIGINT handler of its own that outlives
    stop(); the default one is put back."""
    import os
    import signal
    import sys

    from pyspark import cloudpickle

    os.environ["PYSPARK_PYTHON"] = sys.executable
    sigint = signal.getsignal(signal.SIGINT)
    cloudpickle.register_pickle_by_value(fw_jobs)
    conf = (pyspark.SparkConf().setMaster("local[1]").setAppName("picklecheck-tests")
            .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1")
            .set("spark.driver.bindAddress", "127.0.0.1"))
    context = pyspark.SparkContext(conf=conf)
    context.setLogLevel("OFF")
    yield context
    context.stop()
    signal.signal(signal.SIGINT, sigint)
    cloudpickle.unregister_pickle_by_value(fw_jobs)


def _job_outcome(sc, obj):
    try:
        sc.parallelize([0], 1).map(lambda _: fw_jobs.kind(obj)).collect()
    except Exception:  # noqa: BLE001 - whatever Spark raised, the job did not work
        return "fails"
    return "ok"


@pytest.mark.parametrize("row", sorted(fw_jobs.MATRIX))
def test_verdict_matches_rdd_map(sc, row):
    """Each matrix row: the backend's verdict is what rdd.map with it in the closure did."""
    obj = fw_jobs.MATRIX[row]()
    try:
        report = picklecheck.check(obj, backends=["spark"], fresh_process=True)
        assert fw_jobs.outcome_of(report, obj) == _job_outcome(sc, obj), str(report)
    finally:
        fw_jobs.close(obj)


def test_broadcast_is_plain_pickle(sc):
    """sc.broadcast uses plain pickle: a lambda that rdd.map carries fails there."""
    with pytest.raises(Exception):  # noqa: B017 - Spark's PicklingError
        sc.broadcast({"f": fw_jobs.module_lambda})
    report = picklecheck.check({"f": fw_jobs.module_lambda}, backends=["spark", "pickle"])
    assert report.results["spark"].ok and not report.results["pickle"].ok


def test_a_failed_broadcast_is_explained_with_pickle(sc):
    """explain() of a failed sc.broadcast names the lambda with pickle's words. It was
    checked again with the spark backend (cloudpickle), which passed: "pickles now with
    spark: it may have changed since the failure", and no culprit."""
    rules = {"f": fw_jobs.module_lambda, "name": "rules-v1"}
    try:
        sc.broadcast(rules)
    except Exception as exc:  # noqa: BLE001 - Spark's PicklingError
        diagnosis = picklecheck.explain(exc)
    else:
        pytest.fail("the broadcast of a lambda worked")
    assert diagnosis is not None and diagnosis.backend == "pickle", diagnosis
    assert [c.path for c in diagnosis.culprits] == ["rules['f']"], str(diagnosis)


def test_result_that_cannot_pickle(sc):
    """A task returning a lock fails in spark; the backend fails on that value."""
    with pytest.raises(Exception) as raised:  # noqa: B017 - the worker cannot send the lock back
        sc.parallelize([0], 1).map(lambda _: fw_jobs.make_lock()).collect()
    assert not picklecheck.check(fw_jobs.make_lock(), backends=["spark"]).ok
    # explain() says the result could not be sent back (not "check what you passed")
    said = fw_jobs.why_not_explained(raised.value)
    assert "could not send back what it returned (Could not serialize object: TypeError" in said, said


def test_a_captured_spark_context_gets_spark_s_own_fix(sc):
    """A function that uses the SparkContext: no worker can use or create one, so the fix
    is to do that work on the driver, not "create it inside lookup"."""
    def lookup(word):
        return sc.parallelize([word]).count()

    report = picklecheck.check(lookup, backends=["spark"], name="lookup")
    [culprit] = report.culprits
    assert culprit.path == "lookup.__closure__[0].cell_contents", culprit.path
    assert "SPARK-5063" in culprit.hint and "create it inside" not in culprit.hint, culprit.hint
    assert [entry.hint for entry in report.entries] == [culprit.hint]


def test_a_udf_failure_is_explained_under_the_dataframe_call(sc):
    """A UDF runs when a DataFrame action does: the diagnosis names that call and the
    function's culprit (the call read "rdd action")."""
    import threading
    import warnings

    from pyspark.sql import SparkSession
    from pyspark.sql.functions import udf

    spark = SparkSession(sc)
    guard = threading.Lock()

    @udf("long")
    def plus_one(x):
        with guard:
            return x + 1

    frame = spark.createDataFrame([(1,), (2,)], ["x"])
    with pytest.raises(Exception) as raised:  # noqa: B017 - PySpark's PicklingError
        frame.select(plus_one("x")).show()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diagnosis = picklecheck.explain(raised.value)
    assert diagnosis is not None
    assert diagnosis.call == "frame.select(plus_one('x')).show()", diagnosis.call
    assert [c.path for c in diagnosis.culprits] == ["plus_one.__closure__[0].cell_contents"]
