"""pytest plugin: readable pickling failures, a ``picklecheck`` fixture, a ``picklable`` marker.

* A test that fails with :class:`~picklecheck.UnpicklableError` shows the culprit
  paths, reasons, hints and the backend table, under the line of the test that
  raised it, instead of a traceback through picklecheck's own code.
* A test that fails with any other pickling error, from any framework (``Pool.map``,
  joblib, Dask, Ray, Spark, or ``pickle.dumps`` itself), gets the diagnosis of
  :func:`picklecheck.explain` appended to its failure: the culprits inside what the
  test passed, at paths in the test's own terms.
* The ``picklecheck`` fixture offers ``check``, ``assert_picklable`` and ``profile``.
* ``@pytest.mark.picklable("model", backend="cloudpickle")`` fails the test unless
  the value of fixture ``model`` survives the trip (checked after setup, before the
  test body runs): the way a suite says "this must reach a worker process".

Loading the plugin imports nothing but pytest: picklecheck itself is imported when a
test uses it, so suites that do not use it pay nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from typing import Any

import pytest

_MARKER = "picklable"
_MARKER_HELP = (
    "picklable(*fixture_names, backend='pickle', protocol=None, fresh_process=False): "
    "fail the test unless each named fixture's value pickles and loads back with backend "
    "(checked after setup, before the test body)"
)
_OPTIONS = ("backend", "protocol", "roundtrip", "fresh_process", "max_culprits")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    if os.environ.get("PICKLECHECK", "").strip().lower() in ("1", "true", "yes", "on"):
        from picklecheck.integrations.hook import install

        install()


class PicklecheckFixture:
    """What the ``picklecheck`` fixture returns: the library's checks, for use in a test."""

    def check(self, obj: Any, **kwargs: Any) -> Any:
        """:func:`picklecheck.check`: the full report, never raises for unpicklable objects."""
        from picklecheck.engine.check import check

        return check(obj, **kwargs)

    def assert_picklable(self, obj: Any, backend: str = "pickle", **kwargs: Any) -> Any:
        """:func:`picklecheck.assert_picklable`: fail the test with the enriched report."""
        __tracebackhide__ = True
        from picklecheck.engine.check import assert_picklable

        return assert_picklable(obj, backend, **kwargs)

    def profile(self, obj: Any, **kwargs: Any) -> Any:
        """:func:`picklecheck.profile`: which paths account for the payload's bytes."""
        from picklecheck.tools.sizes import profile

        return profile(obj, **kwargs)


@pytest.fixture
def picklecheck() -> PicklecheckFixture:
    """picklecheck's checks: ``picklecheck.assert_picklable(obj, backend="cloudpickle")``."""
    return PicklecheckFixture()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A marked fixture must be set up even when the test does not take it as an argument.
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None:
            continue
        for marker in item.iter_markers(_MARKER):
            for name in marker.args:
                if isinstance(name, str) and name not in names:
                    names.append(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    markers = list(item.iter_markers(_MARKER))
    if markers:
        _check_marked(item, markers)
    return (yield)


def _check_marked(item: pytest.Item, markers: list[pytest.Mark]) -> None:
    __tracebackhide__ = True
    from picklecheck.engine.check import assert_picklable

    funcargs = getattr(item, "funcargs", {})
    for marker in markers:
        unknown = sorted(set(marker.kwargs) - set(_OPTIONS))
        if unknown or not marker.args:
            msg = (f"@pytest.mark.{_MARKER} takes fixture names and the options "
                   f"{', '.join(_OPTIONS)}; got args {marker.args!r}, unknown options {unknown}")
            raise pytest.UsageError(msg)
        options = dict(marker.kwargs)
        backend = options.pop("backend", "pickle")
        for name in marker.args:
            if name not in funcargs:
                msg = f"@pytest.mark.{_MARKER}: no fixture named {name!r} for {item.nodeid}"
                raise pytest.UsageError(msg)
            assert_picklable(funcargs[name], backend, name=name, **options)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    excinfo = call.excinfo
    if excinfo is None or not report.failed:
        return report
    if "picklecheck.errors" in sys.modules:
        from picklecheck.errors import UnpicklableError

        if isinstance(excinfo.value, UnpicklableError) and excinfo.value.report is not None:
            return _enriched(item, excinfo, report)
    _append_diagnosis(excinfo.value, report)
    return report


#: The title of the section a failure's diagnosis is shown under.
SECTION = "picklecheck: why it does not pickle"


def _append_diagnosis(exc: BaseException, report: Any) -> None:
    """Add the diagnosis of a pickling failure from any framework to the failure report."""
    from picklecheck.integrations.explain import diagnose, is_serialization_failure

    if not is_serialization_failure(exc):
        return
    text = str(diagnose(exc))
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection(SECTION, text)
    else:
        report.sections.append((SECTION, text))


def _enriched(item: pytest.Item, excinfo: pytest.ExceptionInfo[Any], report: Any) -> Any:
    if item.config.getoption("tbstyle", "auto") == "native":
        return report
    report.longrepr = _Failure(_failure_text(item, excinfo), str(excinfo.value).splitlines()[0])
    return report


class _Failure:
    """The failure text, and the one-line message pytest's summary (``-ra``) shows."""

    def __init__(self, text: str, message: str) -> None:
        self.text = text
        self.reprcrash = _Crash(message)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class _Crash:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _failure_text(item: pytest.Item, excinfo: pytest.ExceptionInfo[Any]) -> str:
    from picklecheck.report.render import comparison_rows

    error = excinfo.value
    lines = [_user_frame(item, excinfo), "", str(error), "", "backends:"]
    rows = comparison_rows(error.report)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def _user_frame(item: pytest.Item, excinfo: pytest.ExceptionInfo[Any]) -> str:
    """The innermost frame outside picklecheck and pytest: the line that asked for the check."""
    for entry in reversed(excinfo.traceback):
        path = os.path.abspath(str(entry.path))
        if path.startswith(_PACKAGE_DIR + os.sep) or _is_internal(path):
            continue
        try:
            source = str(entry.statement).strip()
        except Exception:  # noqa: BLE001 - no source available
            source = ""
        where = f"{entry.path}:{entry.lineno + 1}: in {entry.name}"
        return f"{where}\n    {source}" if source else where
    return f"{item.nodeid}: a fixture marked @pytest.mark.{_MARKER}"


def _is_internal(path: str) -> bool:
    parts = path.split(os.sep)
    return "_pytest" in parts or "pluggy" in parts
