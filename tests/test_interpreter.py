"""Loading in another interpreter (``check(python=...)``, ``--python``): a deployment's
virtualenv without a library, another Python version that cannot run the bytecode
cloudpickle and dill save by value. The other interpreters are pyenv's, and virtualenvs
made here from them; a test skips when the machine has no other Python version."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from interpreters import HERE, other_python, pyenv_python, venv
from module_cleanup import forget_modules_in

import picklecheck
from picklecheck.cli.command import cli
from picklecheck.isolation import interpreter

OTHER = other_python()
needs_other = pytest.mark.skipif(OTHER is None, reason="no other Python version under pyenv")


def make_scorer(weight):
    def score(row):
        return [x * weight for x in row if x > 3]
    return score


# -- which interpreter ------------------------------------------------------------------

def test_a_missing_interpreter_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no Python interpreter at"):
        picklecheck.check(1, python=str(tmp_path / "nope" / "python"))
    with pytest.raises(ValueError, match="is a folder with no Python interpreter in it"):
        picklecheck.check(1, python=str(tmp_path))


def test_a_banner_at_start_up_and_a_relative_folder_are_fine(tmp_path, monkeypatch):
    """A sitecustomize that prints a banner (corporate images do) is no reason to refuse
    an interpreter; a virtualenv named relative to the current folder ('.venv') is found
    there before PATH is searched."""
    python = venv(sys.executable, tmp_path / ".venv")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "sitecustomize.py"), "w") as banner:
        banner.write("print('Welcome to ACME python')\n")
    monkeypatch.chdir(tmp_path)
    report = picklecheck.check({"n": 1}, backends=("pickle",), python=".venv")
    assert report.ok and report.fresh_python.startswith(str(tmp_path / ".venv"))


def test_a_virtualenv_folder_stands_for_its_interpreter(tmp_path):
    folder = tmp_path / "venv"
    venv(sys.executable, folder)
    report = picklecheck.check({"n": 1}, backends=("pickle",), python=str(folder))
    assert report.ok
    assert report.fresh_python.startswith(str(folder / "bin" / "python"))


def test_a_program_that_is_not_python_is_a_clear_error(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(ValueError, match="did not run as a Python interpreter"):
        picklecheck.check(1, python=str(fake))
    plain = tmp_path / "data.txt"
    plain.write_text("x")
    with pytest.raises(ValueError, match="not executable"):
        picklecheck.check(1, python=str(plain))


@pytest.mark.skipif(pyenv_python("3.9") is None, reason="no Python 3.9 under pyenv")
def test_a_python_older_than_the_loader_is_refused():
    with pytest.raises(ValueError, match=r"older than picklecheck's loader supports \(Python 3.10"):
        picklecheck.check(1, python=pyenv_python("3.9"))


def test_this_interpreter_by_path_loads_as_a_fresh_process():
    report = picklecheck.check({"a": [1, 2]}, backends=("pickle",), python=sys.executable)
    assert report.ok
    assert report.results["pickle"].fresh is True
    assert report.fresh_python.startswith(os.path.abspath(sys.executable))
    assert f"fresh loads ran in {report.fresh_python}" in str(report)


# -- a deployment's environment -----------------------------------------------------------

def test_an_environment_without_the_library_names_it(tmp_path):
    bare = venv(sys.executable, tmp_path / "venv")
    # (A lambda of its own globals: this test module's would need pytest there too.)
    report = picklecheck.check({"n": 3, "f": eval("lambda x: x", {})}, backends=("dill",),  # noqa: S307
                               python=bare)
    dill = report.results["dill"]
    assert not dill.ok and dill.roundtrip is True and dill.fresh is False
    assert "obj['f']" in [c.path for c in report.culprits]  # what needs dill there
    for culprit in report.culprits:
        assert culprit.kind == "no_library"
        assert "No module named 'dill'" in culprit.reason
        assert "install it in the interpreter that loads the bytes" in culprit.hint
    # Bytes that name nothing of dill's load with pickle.loads there.
    plain = picklecheck.check({"n": 3}, backends=("dill", "cloudpickle"), python=bare)
    assert plain.ok, str(plain)


def test_the_project_folders_go_with_it_and_installed_packages_do_not(tmp_path, monkeypatch):
    """The user's modules (a folder on sys.path) are found there; this interpreter's
    site-packages are not: a module only they hold is missing there."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "appmodels.py").write_text(textwrap.dedent("""
        class Settings:
            def __init__(self, depth):
                self.depth = depth
    """))
    monkeypatch.syspath_prepend(str(project))
    import click

    bare = venv(sys.executable, tmp_path / "venv")
    before = set(sys.modules)
    try:
        import appmodels

        ok = picklecheck.check(appmodels.Settings(3), backends=("pickle",), python=bare)
    finally:
        forget_modules_in(tmp_path, before)
    assert ok.ok, str(ok)
    missing = picklecheck.check({"cmd": click.Command}, backends=("pickle",), python=bare)
    assert not missing.ok
    [culprit] = missing.culprits
    assert culprit.path == "obj['cmd']"
    assert culprit.kind == "unimportable"
    assert "No module named 'click'" in culprit.reason
    assert "click is not installed where it loads: install it there" in culprit.hint


# -- another Python version ---------------------------------------------------------------

@needs_other
def test_bytecode_saved_by_value_is_a_culprit_in_another_version(tmp_path):
    import cloudpickle

    other = venv(OTHER, tmp_path / "venv", cloudpickle)
    task = {"scorer": make_scorer(2), "rows": [[1, 5, 9]]}
    report = picklecheck.check(task, backends=("cloudpickle",), python=other)
    result = report.results["cloudpickle"]
    assert not report.ok and result.roundtrip is True and result.fresh is False
    [culprit] = report.culprits
    assert culprit.path == "obj['scorer']" and culprit.stage == "fresh"
    assert culprit.kind == "other_python"
    assert f"bytecode is Python {HERE}'s" in culprit.reason
    assert "load it with the same Python version" in culprit.hint
    # What the check says is so: there, the function does not run (it raises, or the
    # interpreter crashes).
    ran = subprocess.run([other, "-c", "import pickle, sys; f = pickle.loads(sys.stdin.buffer"
                          ".read())['scorer']; print(f([1, 5, 9]))"],
                         input=cloudpickle.dumps(task), capture_output=True, check=False)
    assert ran.returncode != 0 or ran.stdout.strip() != b"[10, 18]"


@needs_other
def test_functions_saved_by_name_travel_to_another_version(tmp_path):
    import cloudpickle

    other = venv(OTHER, tmp_path / "venv", cloudpickle)
    report = picklecheck.check({"join": os.path.join, "rows": [1, 2]},
                               backends=("pickle", "cloudpickle"), python=other)
    assert report.ok, str(report)


def test_assert_picklable_names_the_other_environment(tmp_path):
    bare = venv(sys.executable, tmp_path / "venv")
    with pytest.raises(picklecheck.UnpicklableError, match=r"No module\s+named 'dill'"):
        picklecheck.assert_picklable({"f": eval("lambda x: x", {})}, backend="dill",  # noqa: S307
                                     python=bare)
    assert picklecheck.assert_picklable({"n": 1}, python=bare).ok


def test_the_same_version_elsewhere_runs_the_bytecode(tmp_path):
    import cloudpickle

    same = venv(sys.executable, tmp_path / "venv", cloudpickle)
    report = picklecheck.check({"scorer": make_scorer(2)}, backends=("cloudpickle",),
                               python=same)
    assert report.ok, str(report)


# -- the command line ---------------------------------------------------------------------

def test_cli_python_option(tmp_path):
    job = tmp_path / "job.py"
    job.write_text("state = {'rows': [1, 2, 3]}\n")
    runner = CliRunner()
    bad = runner.invoke(cli, [f"{job}:state", "--python", str(tmp_path / "missing")])
    assert bad.exit_code == 2
    assert "Invalid value for '--python': no Python interpreter at" in bad.output
    before = set(sys.modules)
    try:
        good = runner.invoke(cli, [f"{job}:state", "-b", "pickle", "--python", sys.executable])
    finally:
        forget_modules_in(tmp_path, before)
    assert good.exit_code == 0, good.output
    assert "fresh loads ran in" in good.output and "fresh interpreter" in good.output


def test_resolve_remembers_an_interpreter():
    first = interpreter.resolve(sys.executable)
    assert interpreter.resolve(sys.executable) is first
    assert first.runs_this_bytecode and first.is_this_one


@needs_other
def test_a_scripts_function_travels_by_value_with_dill_too(tmp_path):
    """``python job.py`` has dill save job.py's functions and classes by value (they are
    __main__'s), bytecode and all: the command line checks a file the same way, so
    another Python version is named for dill, as for cloudpickle."""
    import dill

    other = venv(OTHER, tmp_path / "venv", dill)
    job = tmp_path / "job.py"
    job.write_text("def g(x):\n    return x + 1\n")
    before = set(sys.modules)
    try:
        result = CliRunner().invoke(cli, [f"{job}:g", "-b", "dill", "--python", other])
    finally:
        forget_modules_in(tmp_path, before)
    assert result.exit_code == 1, result.output
    assert "OtherBytecodeError" in result.output


def test_what_an_installed_library_does_as_it_is_imported_is_not_the_loads(tmp_path,
                                                                             monkeypatch):
    """A library in site-packages that acts as it is imported (numpy 1.26's numpy.testing
    runs lscpu) does so in every process that imports it: not the pickle's doing, and no
    reason to fail its load there."""
    python = venv(sys.executable, tmp_path / "venv")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    marker = tmp_path / "probe.log"
    with open(os.path.join(site, "noisy_probe.py"), "w") as module:
        module.write(textwrap.dedent(f"""
            try:
                open({str(marker)!r}, "a").write("imported\\n")
            except OSError:
                pass

            class Thing:
                pass
        """))
    monkeypatch.syspath_prepend(site)
    before = set(sys.modules)
    try:
        import noisy_probe

        report = picklecheck.check(noisy_probe.Thing(), backends=("pickle",), python=python)
    finally:
        forget_modules_in(tmp_path, before)
    assert report.ok, str(report)


def test_another_version_of_a_package_there_is_named_with_both_versions(tmp_path,
                                                                      monkeypatch):
    """numpy 2 pickles name numpy._core, which numpy 1 lacks: the hint says which version
    is where, not "install that module there" (it is installed, in another version)."""
    here_env = venv(sys.executable, tmp_path / "here")
    there = venv(sys.executable, tmp_path / "there")
    for python, version, core in ((here_env, "2.0", True), (there, "1.0", False)):
        site = subprocess.run([python, "-c",
                               "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
        package = os.path.join(site, "verpkg")
        os.mkdir(package)
        with open(os.path.join(package, "__init__.py"), "w") as init:
            init.write(f"__version__ = {version!r}\n")
        if core:
            with open(os.path.join(package, "_core.py"), "w") as module:
                module.write("class Thing:\n    pass\n")
        if python == here_env:
            monkeypatch.syspath_prepend(site)
    before = set(sys.modules)
    try:
        import verpkg._core

        report = picklecheck.check({"thing": verpkg._core.Thing()}, backends=("pickle",),
                                   python=there)
        [culprit] = report.culprits
        hint = culprit.hint  # worked out while verpkg is imported here
    finally:
        forget_modules_in(tmp_path, before)
    assert culprit.path == "obj['thing']" and culprit.kind == "unimportable"
    assert "verpkg is 2.0 here and 1.0 where it loads" in hint
    assert "pip install verpkg==2.0" in hint


def test_a_picklecheck_installed_there_does_not_load_in_place_of_this_one(tmp_path):
    """The other environment may have picklecheck installed, another version: the loading
    child runs this one's (the shim comes first on its path)."""
    python = venv(sys.executable, tmp_path / "venv")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(os.path.join(site, "picklecheck"))
    with open(os.path.join(site, "picklecheck", "__init__.py"), "w") as stale:
        stale.write("raise ImportError('an old picklecheck')\n")
    report = picklecheck.check({"n": [1, 2]}, backends=("pickle",), python=python)
    assert report.ok, str(report)


def test_an_interpreter_that_never_answers_is_ended_whole(tmp_path, monkeypatch):
    """A wrapper script whose interpreter hangs at start-up: after the time limit the
    error says so, and what it started is not left running."""
    import time

    monkeypatch.setattr(interpreter, "_ASK_SECONDS", 1.0)
    pidfile = tmp_path / "pid"
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nwait\n")
    wrapper.chmod(0o755)
    with pytest.raises(ValueError, match="could not run"):
        picklecheck.check(1, python=str(wrapper))
    pid = int(pidfile.read_text())
    for _ in range(50):
        if not _running(pid):
            break
        time.sleep(0.1)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(pyenv_python("2.7") is None, reason="no Python 2.7 under pyenv")
def test_python_2_is_named_by_its_version():
    with pytest.raises(ValueError, match=r"\(Python 2\.7\.\d+\) is older than"):
        picklecheck.check(1, python=pyenv_python("2.7"))


def test_a_spawned_workers_main_is_the_checked_file_not_picklechecks_entry_point(tmp_path):
    """With -b multiprocessing the worker imports the program's main script; for the
    command line that is the checked file's program, never picklecheck's own console
    script (which imports click, absent from a deployment's environment)."""
    script = os.path.join(os.path.dirname(sys.executable), "picklecheck")
    if not os.path.exists(script):
        pytest.skip("no picklecheck console script beside this interpreter")
    bare = venv(sys.executable, tmp_path / "venv")
    data = tmp_path / "data.py"
    data.write_text("rows = [1, 2, 3]\n")
    result = subprocess.run([script, f"{data}:rows", "-b", "multiprocessing", "--python", bare],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
