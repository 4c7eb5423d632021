import copyreg
import sys

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_tblib_reducers():
    """Importing dask.distributed installs tblib's reducers for every exception class and
    for tracebacks into copyreg, for everyone in the process (at collection already, when
    a test module imports it). Every test starts and ends without them: the rest of the
    suite judges plain pickle."""
    _drop_tblib()
    yield
    _drop_tblib()


def _drop_tblib():
    for cls, reducer in list(copyreg.dispatch_table.items()):
        function = getattr(reducer, "func", reducer)  # tracebacks get a functools.partial
        if (getattr(function, "__module__", None) or "").startswith("tblib"):
            del copyreg.dispatch_table[cls]


@pytest.fixture(autouse=True)
def _same_main_module():
    """Streamlit's AppTest runs a script as a new ``__main__`` module and may leave it in
    ``sys.modules``; a later test whose workers re-import the main script (spawn, loky)
    would then import that app. Every test ends with the ``__main__`` it started with."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main
