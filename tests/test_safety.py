"""A check must never harm the user's world: loads that would change files do not.

Where the kernel sandbox is available the load runs and the kernel refuses (the
finding names what it tried: ``load_side_effect``); with ``PICKLECHECK_ISOLATION=guarded``
the in-process guard refuses before it runs (``load_hazard``).
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest

import picklecheck
from picklecheck.isolation import contain

needs_sandbox = pytest.mark.skipif(contain.isolation() != "sandbox",
                                   reason="this kernel has no Landlock sandbox")


@pytest.fixture
def guarded(monkeypatch):
    """Loads in this process, through the hazard guard (the fallback)."""
    monkeypatch.setenv("PICKLECHECK_ISOLATION", "guarded")


def _open_log(path):
    handle = path.open("w")
    handle.write("precious data")
    handle.flush()
    return handle


@needs_sandbox
def test_dill_file_opened_for_writing_is_not_emptied(tmp_path):
    """dill re-opens a write-mode file with mode 'w' on load: the sandbox refuses, the
    finding names the file."""
    path = tmp_path / "log.txt"
    handle = _open_log(path)
    try:
        report = picklecheck.check({"log": handle}, name="state", backends=("dill",))
    finally:
        handle.close()
    assert path.read_text() == "precious data"
    dill = report.results["dill"]
    assert (dill.error, dill.roundtrip, dill.ok, dill.isolation) == (None, False, False, "sandbox")
    (culprit,) = dill.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("state['log']", "load_side_effect", "loads")
    assert f"opened '{path}' for writing, which empties it" in culprit.reason


def test_dill_file_opened_for_writing_is_refused_by_the_guard(tmp_path, guarded):
    """Guarded: dill's re-open with mode 'w' is refused and reported as skipped."""
    path = tmp_path / "log.txt"
    handle = _open_log(path)
    try:
        report = picklecheck.check({"log": handle}, name="state", backends=("dill",),
                                   fresh_process=True)
    finally:
        handle.close()
    assert path.read_text() == "precious data"
    dill = report.results["dill"]
    assert (dill.error, dill.roundtrip, dill.ok, dill.isolation) == (None, False, False, "guarded")
    assert any("log.txt" in note for note in dill.skipped)
    (culprit,) = dill.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("state['log']", "load_hazard", "loads")
    assert dill.fresh is False  # the fresh interpreter refuses too


@pytest.mark.parametrize("mode", ["a", "r+"])
def test_dill_append_and_update_handles_load(tmp_path, mode):
    """Re-opening an existing file for appending or updating changes nothing: it loads."""
    path = tmp_path / "log.txt"
    path.write_text("rows\n")
    with path.open(mode) as handle:
        report = picklecheck.check(handle, backends=("dill",))
    assert report.results["dill"].roundtrip is True, report.results["dill"].roundtrip_error
    assert path.read_text() == "rows\n"


class Remover:
    """Unpickles by deleting a file: what a careless cleanup object can do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.remove, (self.path,))


class Shell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@needs_sandbox
def test_reductions_that_delete_files_are_refused_and_named(tmp_path):
    """A reduce to os.remove tries to delete the file on load: refused, named."""
    victim = tmp_path / "keep.me"
    victim.write_text("x")
    report = picklecheck.check({"cleanup": Remover(str(victim))}, backends=("pickle",))
    assert victim.exists()
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind) == ("obj['cleanup']", "load_side_effect")
    assert culprit.reason == f"loading it removed '{victim}'"


def test_reductions_that_delete_files_are_not_run_guarded(tmp_path, guarded):
    """Guarded: a reduce to os.remove is blocked and reported as a hazard."""
    victim = tmp_path / "keep.me"
    victim.write_text("x")
    report = picklecheck.check({"cleanup": Remover(str(victim))}, backends=("pickle",),
                               fresh_process=True)
    assert victim.exists()
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind) == ("obj['cleanup']", "load_hazard")
    assert "os.remove" in culprit.reason or "posix.remove" in culprit.reason


@pytest.mark.parametrize("isolation", ["sandbox", "guarded"])
def test_reductions_that_run_commands_are_not_run(tmp_path, monkeypatch, isolation):
    """A reduce to os.system is never executed, in this process or a fresh one."""
    if isolation == "sandbox" and contain.isolation() != "sandbox":
        pytest.skip("this kernel has no Landlock sandbox")
    monkeypatch.setenv("PICKLECHECK_ISOLATION", isolation)
    marker = tmp_path / "ran"
    report = picklecheck.check([Shell(f"touch {marker}")], backends=("pickle", "cloudpickle"),
                               fresh_process=True)
    assert not marker.exists()
    expected = "load_side_effect" if isolation == "sandbox" else "load_hazard"
    assert [c.kind for c in report.culprits] == [expected]


def test_reading_files_is_allowed(tmp_path):
    """A file opened for reading loads harmlessly with dill, so it is loaded."""
    path = tmp_path / "data.txt"
    path.write_text("rows")
    with path.open() as handle:
        report = picklecheck.check(handle, backends=("dill",))
    assert report.results["dill"].roundtrip is True
    assert path.read_text() == "rows"


# -- what a copy does when it is dropped ---------------------------------------------


class Journal:
    """A handle on a file whose finalizer writes it from the state it was pickled with
    (as dbm.dumb writes its index): a copy dropped in another process overwrites what
    the original wrote since."""

    def __init__(self, path, lines):
        self.path, self.lines = path, lines

    def __del__(self):
        with open(self.path, "w") as out:
            out.write("\n".join(self.lines))


class Counted:
    """A finalizer that changes nothing outside the copy."""

    def __init__(self):
        self.items = [1, 2, 3]

    def __del__(self):
        self.items.clear()


class Stuck:
    """A finalizer that never returns (it waits for a lock it took itself)."""

    def __init__(self):
        self.lock = None

    def __getstate__(self):
        return {}

    def __del__(self):
        gate = threading.Lock()
        gate.acquire()
        gate.acquire()


def _keep_journal(journal):
    """Keep the journal's own finalizer from running when the test drops it."""
    journal.__class__ = type("Inert", (), {})


@needs_sandbox
def test_a_copy_whose_finalizer_writes_is_not_ok(tmp_path):
    """A copy that loads and works, but writes the user's file once dropped: not ok,
    named as that, and the file is untouched by the check."""
    path = tmp_path / "journal.txt"
    path.write_text("first\nsecond")
    journal = Journal(str(path), ["first"])
    try:
        report = picklecheck.check({"journal": journal}, name="state",
                                   backends=("pickle", "cloudpickle"))
    finally:
        _keep_journal(journal)
    assert path.read_text() == "first\nsecond"
    assert not report.ok
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == (
        "state['journal']", "drop_side_effect", "loads")
    assert culprit.reason == (f"dropping the loaded copy opened '{path}' for writing, "
                              "which empties it")
    assert "second live handle" in culprit.hint
    assert "does not load" not in culprit.hint


@needs_sandbox
def test_a_shelf_copy_is_not_ok_and_the_shelf_is_untouched(tmp_path):
    """The probe's shelve: a copy dropped in a worker rewrites the index from its stale
    snapshot (keys written since are lost). Found under the Shelf, in its _Database."""
    import dbm.dumb
    import shelve

    base = str(tmp_path / "shelf")
    shelf = shelve.Shelf(dbm.dumb.open(base, "c"))
    shelf["a"] = 1  # not synced: the copy's index is dirty (3.13 rewrites only then)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    try:
        report = picklecheck.check(shelf, name="shelf", backends=("pickle",), expand=True)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
        (culprit,) = report.culprits
        assert (culprit.path, culprit.kind) == ("shelf.dict", "drop_side_effect")
        assert culprit.reason.startswith(f"dropping the loaded copy removed '{base}.bak'")
    finally:
        shelf.close()


@needs_sandbox
def test_a_harmless_finalizer_stays_ok():
    """A finalizer that changes only the copy is no finding."""
    report = picklecheck.check({"c": Counted()}, backends=("pickle",))
    assert report.ok, str(report)


@needs_sandbox
def test_a_finalizer_that_never_returns_is_named_and_stopped():
    """A copy whose drop hangs: named (the process that drops it hangs), the check ends."""
    obj = Stuck()
    try:
        started = time.monotonic()
        report = picklecheck.check({"s": obj}, backends=("pickle",), timeout=20)
        assert time.monotonic() - started < 10
    finally:
        obj.__class__ = type("Inert", (), {})
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind) == ("obj['s']", "drop_side_effect")
    assert "dropping the loaded copy did not finish within 1 s" in culprit.reason
    assert "the process that drops it hangs" in culprit.reason


class Alarmed:
    """Schedules an alarm as it loads, and holds an object with a finalizer (so its copy
    is dropped armed, under a timer of the drop's own)."""

    def __init__(self):
        self.inner = Counted()

    def __setstate__(self, state):
        self.__dict__.update(state)
        signal.alarm(30)


@needs_sandbox
def test_an_alarm_the_load_scheduled_is_named_past_the_drop():
    """The drop's own timer does not hide the one the load scheduled."""
    report = picklecheck.check(Alarmed(), name="a", backends=("pickle",))
    (culprit,) = report.culprits
    assert culprit.kind == "load_side_effect"
    assert re.fullmatch(r"loading it scheduled SIGALRM in (30|29\.\d*) s", culprit.reason), culprit.reason
