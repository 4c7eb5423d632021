"""A check must never harm the user's world: loads that would change files are not run."""

from __future__ import annotations

import os

import picklecheck


def test_dill_file_opened_for_writing_is_not_emptied(tmp_path):
    """dill re-opens a write-mode file with mode 'w' on load; picklecheck refuses to."""
    path = tmp_path / "log.txt"
    handle = path.open("w")
    handle.write("precious data")
    handle.flush()
    try:
        report = picklecheck.check({"log": handle}, name="state", fresh_process=True)
    finally:
        handle.close()
    assert path.read_text() == "precious data"
    dill = report.results["dill"]
    assert dill.error is None and dill.roundtrip is False and not dill.ok
    assert any("log.txt" in note for note in dill.skipped)
    (culprit,) = dill.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("state['log']", "load_hazard", "loads")
    assert dill.fresh is False  # the fresh interpreter refuses too


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


def test_reductions_that_delete_files_are_not_run(tmp_path):
    """A reduce to os.remove would delete the file on load: blocked and reported."""
    victim = tmp_path / "keep.me"
    victim.write_text("x")
    report = picklecheck.check({"cleanup": Remover(str(victim))}, backends=("pickle",),
                               fresh_process=True)
    assert victim.exists()
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind) == ("obj['cleanup']", "load_hazard")
    assert "os.remove" in culprit.reason or "posix.remove" in culprit.reason


def test_reductions_that_run_commands_are_not_run(tmp_path):
    """A reduce to os.system is never executed, in this process or a fresh one."""
    marker = tmp_path / "ran"
    report = picklecheck.check([Shell(f"touch {marker}")], backends=("pickle", "cloudpickle"),
                               fresh_process=True)
    assert not marker.exists()
    assert [c.kind for c in report.culprits] == ["load_hazard"]


def test_reading_files_is_allowed(tmp_path):
    """A file opened for reading loads harmlessly with dill, so it is loaded."""
    path = tmp_path / "data.txt"
    path.write_text("rows")
    with path.open() as handle:
        report = picklecheck.check(handle, backends=("dill",))
    assert report.results["dill"].roundtrip is True
    assert path.read_text() == "rows"
