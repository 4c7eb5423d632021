"""Round trips through a fresh interpreter, with a time limit, as a worker process sees them."""

from __future__ import annotations

import importlib
import sys
import tempfile
import textwrap
import time

import culprits as c
import pytest
from module_cleanup import forget_modules_in

import picklecheck


@pytest.fixture
def main_class():
    """A class defined in __main__, the way a script or notebook defines it."""
    main = sys.modules["__main__"]
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent("""
        class Config:
            def __init__(self, lr):
                self.lr = lr
    """), namespace)
    cls = namespace["Config"]
    had = hasattr(main, "Config")
    old = getattr(main, "Config", None)
    main.Config = cls
    yield cls
    if had:
        main.Config = old
    else:
        del main.Config


@pytest.fixture
def private_module(tmp_path):
    """A module only this process can import (its folder leaves sys.path again)."""
    name = "picklecheck_private_plugin"
    (tmp_path / f"{name}.py").write_text("class PluginConfig:\n    def __init__(self, n):\n        self.n = n\n")
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
    yield module
    sys.modules.pop(name, None)


def test_main_class_fails_only_in_a_fresh_interpreter(main_class):
    """pickle stores __main__.Config by reference: fine here, missing in a new interpreter."""
    state = {"cfg": main_class(0.1), "n": 3}
    report = picklecheck.check(state, name="state", fresh_process=True)
    result = report.results["pickle"]
    assert (result.roundtrip, result.fresh, result.ok) == (True, False, False)
    assert "Config" in result.fresh_error
    (culprit,) = result.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("state['cfg']", "main_reference", "fresh")
    assert "importable module" in culprit.hint
    assert report.results["cloudpickle"].fresh is True
    assert report.results["dill"].fresh is True


def test_unimportable_module_fails_everywhere_but_registered_cloudpickle(private_module):
    """A class from a module the worker cannot import fails in every backend."""
    obj = [1, private_module.PluginConfig(3)]
    report = picklecheck.check(obj, fresh_process=True)
    for name, result in report.results.items():
        assert result.fresh is False, name
        assert "picklecheck_private_plugin" in result.fresh_error
        assert [cu.path for cu in result.culprits] == ["obj[1]"]
        assert result.culprits[0].kind == "unimportable"


def test_importable_objects_load_in_a_fresh_interpreter():
    """Objects from importable modules load in a new interpreter with the same sys.path."""
    report = picklecheck.check({"db": c.Dataset("/data"), "f": c.scale}, fresh_process=True)
    assert report.ok
    assert all(result.fresh for result in report.results.values())


class Slow:
    def __setstate__(self, state):
        import time

        time.sleep(30)


class Chatty:
    def __setstate__(self, state):
        print("hello from __setstate__")  # must not corrupt the child's answer
        self.__dict__.update(state)


def test_fresh_interpreter_is_time_limited():
    """A load that hangs is stopped after the timeout and reported, not waited for."""
    slow = Slow()
    slow.x = 1
    start = time.monotonic()
    report = picklecheck.check(slow, backends=("pickle",), roundtrip=False, fresh_process=True,
                               timeout=3)
    assert time.monotonic() - start < 3.5  # the check's limit bounds the fresh load too
    result = report.results["pickle"]
    assert result.fresh is False
    assert "timed out after" in result.fresh_error


def test_output_of_loaded_code_does_not_confuse_the_check():
    """Code that prints while loading goes to stderr; the verdict stays right."""
    obj = Chatty()
    obj.x = 1
    report = picklecheck.check(obj, backends=("pickle",), roundtrip=False, fresh_process=True)
    assert report.results["pickle"].fresh is True


class _Plot:
    """Holds a matplotlib figure, whose load imports matplotlib in the fresh interpreter."""

    def __init__(self):
        import matplotlib.figure

        self.figure = matplotlib.figure.Figure()
        self.figure.subplots().plot([1, 2, 3])


def test_a_matplotlib_figure_loads_in_a_fresh_interpreter_as_a_worker_sees_it():
    """matplotlib's folder in the fresh interpreter starts with the user's font list: from
    an empty one, importing matplotlib rebuilt it, running ``fc-list``, which was named as
    the load starting a process (a worker with the user's cache starts none)."""
    pytest.importorskip("matplotlib")
    report = picklecheck.check(_Plot(), backends=("pickle",), fresh_process=True)
    assert report.ok, str(report)
    assert report.results["pickle"].fresh is True


def test_matplotlib_s_settings_and_caches_are_copied_whole_or_not_at_all(tmp_path, monkeypatch):
    from picklecheck.isolation import fresh

    mine = tmp_path / "mpl"
    (mine / "stylelib").mkdir(parents=True)
    (mine / "matplotlibrc").write_text("lines.linewidth: 7.5\n")
    (mine / "fontlist-v390.json").write_text("{}")
    (mine / "stylelib" / "house.mplstyle").write_text("axes.grid: True\n")
    (mine / "tex.cache").mkdir()  # other folders are caches of its own: not copied
    (mine / "huge.bin").write_bytes(b"0" * (fresh._MATPLOTLIB_COPY_BYTES + 1))
    monkeypatch.setattr(fresh, "_matplotlib_folders", lambda: [str(mine), str(tmp_path / "no")])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    fresh._copy_matplotlib_folders(str(scratch))
    assert sorted(p.name for p in scratch.iterdir()) == [
        "fontlist-v390.json", "matplotlibrc", "stylelib"]
    assert (scratch / "stylelib" / "house.mplstyle").read_text() == "axes.grid: True\n"


def test_a_file_opened_by_its_number_is_not_ok_with_dill():
    """dill saves a tempfile.TemporaryFile() (no path: its name is descriptor 3 or so) as
    that number, which its copy opens again wherever it loads: another file or none, and
    dropping the copy closes it. The round trip's child inherits the descriptor, so it was
    "dill: ok"; a fresh interpreter's copy took the channel its answer goes out by, and
    the check said the load "ended its process with exit code 0"."""
    spool = tempfile.TemporaryFile()
    try:
        spool.write(b"payload")
        spool.flush()
        report = picklecheck.check({"spool": spool}, name="state", backends=["dill"])
        result = report.results["dill"]
        assert not result.ok
        assert f"is descriptor {spool.fileno()} of the process that pickled it" in (
            result.roundtrip_error or "")
        (entry,) = report.entries
        assert "has no path to open again: send its contents" in entry.hint
        fresh = picklecheck.check({"spool": spool}, name="state", backends=["dill"],
                                  roundtrip=False, fresh_process=True).results["dill"]
        assert not fresh.ok
        assert "exit code" not in (fresh.fresh_error or "")
        assert all(c.kind != "load_side_effect" for c in fresh.culprits)
        spool.seek(0)
        assert spool.read() == b"payload"  # the check closed nothing of the caller's
    finally:
        spool.close()


@pytest.fixture
def main_cached():
    """A function defined in __main__ and decorated with functools.lru_cache."""
    main = sys.modules["__main__"]
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent("""
        import functools

        @functools.lru_cache(maxsize=None)
        def cached_rate(x):
            return x + 1
    """), namespace)
    main.cached_rate = namespace["cached_rate"]
    yield main.cached_rate
    del main.cached_rate


def test_a_cached_function_of_main_is_named_by_its_own_name(main_cached):
    """The fix names the function the lru_cache wraps (it read "<functools.
    _lru_cache_wrapper object at 0x...> is defined in __main__")."""
    report = picklecheck.check({"f": main_cached}, backends=["pickle"], fresh_process=True)
    (culprit,) = report.culprits
    assert culprit.kind == "main_reference"
    assert culprit.hint.startswith("cached_rate is defined in __main__, so the pickle refers "
                                   "to __main__.cached_rate")


def test_project_modules_named_like_the_standard_library_run_only_confined(tmp_path):
    """The fresh interpreter imports what it needs from its own path before it confines
    itself: a project's queue.py (beside the checked file) never runs unconfined there."""
    from click.testing import CliRunner

    from picklecheck.cli.command import cli

    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("class Job:\n    pass\n\njob = Job()\n")
    marker = tmp_path / "spool"
    for name in ("queue", "random", "tempfile", "logging", "copy", "string"):
        (project / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + ' ran\\n')\n"
            "raise ImportError('a project module, not the standard library one')\n")
    before = set(sys.modules)
    try:
        result = CliRunner().invoke(cli, ["--fresh-process", "-b", "pickle",
                                          f"{project}/app.py:job"])
    finally:
        forget_modules_in(tmp_path, before)
    assert not marker.exists(), marker.read_text()
    assert result.exit_code == 0, result.output


def test_a_module_that_acts_as_it_is_imported_is_named_as_the_doer(tmp_path, monkeypatch):
    """What a module's top level does when the load imports it is that module's doing:
    the effect names the module, and the hint asks to move it out of the top level
    (not out of __reduce__ and __setstate__, which did nothing)."""
    project = tmp_path / "project"
    project.mkdir()
    spool = tmp_path / "spool.log"
    (project / "spooler.py").write_text(
        f"open({str(spool)!r}, 'a').write('imported\\n')\n\nclass Job:\n    pass\n")
    monkeypatch.syspath_prepend(str(project))
    before = set(sys.modules)
    try:
        import spooler

        report = picklecheck.check(spooler.Job(), backends=("pickle",), fresh_process=True)
    finally:
        forget_modules_in(tmp_path, before)
    [culprit] = report.culprits
    assert culprit.kind == "load_side_effect" and culprit.stage == "fresh"
    assert "imported spooler, which opened" in culprit.reason
    assert "at its top level, as it is imported" in culprit.hint
    assert spool.read_text() == "imported\n"  # only this process's import wrote


def test_what_a_fresh_load_warns_of_is_reported(tmp_path, monkeypatch):
    """A load that warns (scikit-learn's InconsistentVersionWarning: a model pickled with
    another version) still loads, and the report says what it warned of."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "versioned_model.py").write_text(
        "import warnings\n\n"
        "class Model:\n"
        "    def __setstate__(self, state):\n"
        "        warnings.warn('pickled with version 1.9, loading with 1.4', UserWarning)\n"
        "        self.__dict__.update(state)\n")
    monkeypatch.syspath_prepend(str(project))
    before = set(sys.modules)
    try:
        import versioned_model

        model = versioned_model.Model()
        model.weights = [1, 2]
        report = picklecheck.check(model, backends=("pickle",), fresh_process=True)
    finally:
        forget_modules_in(tmp_path, before)
    assert report.ok, str(report)
    assert report.results["pickle"].fresh_warnings == [
        "UserWarning: pickled with version 1.9, loading with 1.4"]
    assert "pickle's fresh load warned: UserWarning: pickled with version 1.9" in str(report)
    assert report.to_dict()["results"]["pickle"]["fresh_warnings"]
