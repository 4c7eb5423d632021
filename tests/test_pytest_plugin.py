"""The pytest plugin, run inside real pytest sessions with pytester."""

from __future__ import annotations

import cloudpickle  # noqa: F401 - loaded before pytester's in-process runs, which
import dill  # noqa: F401 - unload what they import, leaving picklecheck's backends stale
import pytest

pytest_plugins = ["pytester"]

LOCK_TEST = """
import threading
import picklecheck

def test_state():
    state = {"db": {"lock": threading.Lock()}}
    picklecheck.assert_picklable(state, name="state")
"""


def test_failure_shows_enriched_report(pytester: pytest.Pytester) -> None:
    """An UnpicklableError fails the test with paths, cause, hint and the backend table."""
    pytester.makepyfile(LOCK_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*test_failure_shows_enriched_report.py:6: in test_state",
        "    picklecheck.assert_picklable(state, name=\"state\")",
        "cannot pickle state with 'pickle': 1 culprit",
        "  state['db']['lock']  (_thread.lock)",
        "    cause:*cannot pickle '_thread.lock' object",
        "    hint:*",
        "backends:",
        "  backend*result*",
        "  pickle*dumps fails*",
    ])


def test_failure_hides_picklecheck_frames(pytester: pytest.Pytester) -> None:
    """No frame from picklecheck's own modules appears in the failure."""
    pytester.makepyfile(LOCK_TEST)
    result = pytester.runpytest()
    text = result.stdout.str()
    assert "check.py" not in text
    assert "raise UnpicklableError" not in text


def test_short_summary_names_the_failure(pytester: pytest.Pytester) -> None:
    """The -ra summary line carries the one-line verdict."""
    pytester.makepyfile(LOCK_TEST)
    result = pytester.runpytest("-ra", "-vv")
    result.stdout.fnmatch_lines(["FAILED *::test_state - cannot pickle state with 'pickle': 1 culprit"])


def test_other_failures_untouched(pytester: pytest.Pytester) -> None:
    """Ordinary assertion failures keep pytest's own report."""
    pytester.makepyfile("def test_x():\n    assert 1 == 2\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E       assert 1 == 2"])


def test_fixture_checks(pytester: pytest.Pytester) -> None:
    """The picklecheck fixture passes for picklable objects and returns reports and profiles."""
    pytester.makepyfile("""
        def test_ok(picklecheck):
            report = picklecheck.assert_picklable({"a": [1, 2]}, "cloudpickle")
            assert report.ok
            assert picklecheck.check(lambda: 1, backends=["pickle"]).ok is False
            assert picklecheck.profile(b"x" * 1000).total > 1000
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_fixture_failure(pytester: pytest.Pytester) -> None:
    """A failing fixture check points at the test's own line."""
    pytester.makepyfile("""
        def test_fn(picklecheck):
            picklecheck.assert_picklable(lambda x: x, name="fn")
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*:2: in test_fn",
        "    picklecheck.assert_picklable(lambda x: x, name=\"fn\")",
        "cannot pickle fn with 'pickle': 1 culprit",
        "*other backends: dill: ok, cloudpickle: ok",
    ])


MARKED = """
import threading
import pytest

@pytest.fixture
def model():
    return {"weights": [1.0, 2.0], "lock": threading.Lock()}

@pytest.fixture
def config():
    return {"lr": 0.1}

@pytest.mark.picklable("config", backend="cloudpickle")
def test_config_ok():
    pass

@pytest.mark.picklable("model")
def test_model_fails(model):
    raise AssertionError("the body must not run")

@pytest.mark.picklable("config", "model", backend="cloudpickle")
def test_not_requested():
    pass
"""


def test_marker_checks_fixtures(pytester: pytest.Pytester) -> None:
    """The picklable marker fails a test whose named fixture does not pickle, before its body."""
    pytester.makepyfile(MARKED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    text = result.stdout.str()
    assert "the body must not run" not in text
    result.stdout.fnmatch_lines([
        "*::test_model_fails: a fixture marked @pytest.mark.picklable",
        "cannot pickle model with 'pickle': 1 culprit",
        "  model['lock']  (_thread.lock)",
    ])
    result.stdout.fnmatch_lines(["cannot pickle model with 'cloudpickle': 1 culprit"])


def test_marker_unknown_fixture(pytester: pytest.Pytester) -> None:
    """A marker naming no fixture is an error that says so."""
    pytester.makepyfile("""
        import pytest

        @pytest.mark.picklable("nothing_here")
        def test_x():
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'nothing_here' not found*"])


def test_marker_registered(pytester: pytest.Pytester) -> None:
    """The marker is registered, so --strict-markers accepts it and --markers lists it."""
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.picklable(*fixture_names, backend='pickle'*"])


def test_plugin_loads_through_entry_point(pytester: pytest.Pytester) -> None:
    """The installed pytest11 entry point loads the plugin without -p."""
    pytester.makepyfile("def test_x(picklecheck):\n    assert picklecheck is not None\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_plugin_costs_nothing_unused(pytester: pytest.Pytester) -> None:
    """A suite that does not use picklecheck imports neither it nor dill, cloudpickle, rich, click."""
    pytester.makepyfile("""
        import sys

        HEAVY = ("dill", "cloudpickle", "rich", "click")

        def test_nothing_heavy_loaded():
            assert "picklecheck.integrations.pytest_plugin" in sys.modules
            assert [m for m in HEAVY if m in sys.modules] == []
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_import_picklecheck_is_light(pytester: pytest.Pytester) -> None:
    """``import picklecheck`` itself does not import dill, cloudpickle, rich or click."""
    pytester.makepyfile("""
        import sys

        def test_light():
            import picklecheck
            assert [m for m in ("dill", "cloudpickle", "rich", "click") if m in sys.modules] == []
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


POOL_TEST = """
import multiprocessing
import threading


class Job:
    def __init__(self):
        self.lock = threading.Lock()
        self.stream = (i for i in range(3))


def work(job):
    return 1


def test_pool():
    jobs = [1, Job()]
    with multiprocessing.Pool(1) as pool:
        pool.map(work, jobs)
"""

DUMPS_TEST = """
import pickle
import threading


def test_save():
    config = {"cache": {"lock": threading.Lock()}}
    pickle.dumps(config)
"""


def test_framework_failure_gets_the_diagnosis(pytester: pytest.Pytester) -> None:
    """A test failing inside Pool.map: the diagnosis follows the traceback."""
    pytester.makepyfile(POOL_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*TypeError: cannot pickle '_thread.lock' object",
        "*picklecheck: why it does not pickle*",
        "picklecheck: pool.map(work, jobs) could not send what it was given*: 2 culprits",
        "*",
        "  jobs[1].lock  (_thread.lock)",
        "*",
        "*",
        "  jobs[1].stream  (generator)",
    ])


def test_plain_pickle_failure_gets_the_diagnosis(pytester: pytest.Pytester) -> None:
    """pickle.dumps in the test itself: the culprit path is rooted at its argument."""
    pytester.makepyfile(DUMPS_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "picklecheck: pickle.dumps(config) failed: 1 culprit",
        "*",
        "  config['cache']['lock']  (_thread.lock)",
    ])


def test_unrelated_failure_has_no_diagnosis(pytester: pytest.Pytester) -> None:
    """A failing assertion that mentions pickling is not diagnosed."""
    pytester.makepyfile("def test_x():\n    assert 'picklecheck' == 'pickle'\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*why it does not pickle*")
