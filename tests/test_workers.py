"""Worker models: what the process that receives the bytes can import (real subprocesses)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import fw_jobs
import pytest

import picklecheck
from picklecheck.isolation import workers

PYTHON = sys.executable


def _installed(backend: str) -> bool:
    from picklecheck.backends import get_backend

    return get_backend(backend).available
SCRIPT = Path(PYTHON).with_name("picklecheck")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_global_modules_reads_every_protocol(protocol):
    """The modules of the globals in a pickle, at every protocol."""
    import collections

    data = pickle.dumps([collections.OrderedDict(), fw_jobs.kind, "fw_jobs"], protocol)
    assert workers.global_modules(data) >= {"collections", "fw_jobs"}


def test_a_string_is_not_a_reference():
    """A function cloudpickle saves by value names '__main__' as a string, not a global."""
    func, remove = fw_jobs.main_function("picklecheck_by_value")
    try:
        data = cloudpickle.dumps(func)
    finally:
        remove()
    assert b"__main__" in data
    assert "__main__" not in workers.global_modules(data)
    drv = workers.driver()
    assert not workers.needs_worker_load(workers.MODELS["dask"], data, drv.path)


def test_needs_worker_load():
    """Clean bytes need no worker; a __main__ global or a module made at run time do."""
    drv = workers.driver()
    spawn = workers.MODELS["spawn"]
    assert not workers.needs_worker_load(spawn, pickle.dumps({"a": [1]}), drv.path)
    func, remove = fw_jobs.main_function("picklecheck_ref")
    try:
        assert workers.needs_worker_load(spawn, pickle.dumps(func), drv.path)
    finally:
        remove()
    module = fw_jobs.parent_only_module("picklecheck_only_here")
    try:
        data = pickle.dumps(module.Point(1))
        assert workers.needs_worker_load(workers.MODELS["ray"], data, drv.path)
        assert not workers.needs_worker_load(workers.MODELS["fork"], data, drv.path)
    finally:
        del sys.modules[module.__name__]


def test_script_path_puts_the_folder_first(tmp_path):
    """A script's folder comes first; the launcher's own first entry is left out."""
    path = workers.script_path(str(tmp_path))
    assert path[0] == str(tmp_path)
    assert path[1:] == [p for p in workers.worker_path()[1:] if p != str(tmp_path)]


def _run(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, *args], input=code, capture_output=True, text=True,
                          cwd=cwd, timeout=180, check=False)


PROGRAM = textwrap.dedent("""
    import picklecheck

    def job(x):
        return x

    if __name__ == "__main__" or True:
        report = picklecheck.check(job, backends=["multiprocessing", "multiprocessing:fork",
                                                  "joblib"], name="job")
        print({n: (r.ok, r.worker) for n, r in report.results.items()})
        print([(c.path, c.kind) for c in report.culprits])
        print(report.culprits[0].hint if report.culprits else "")
""")


def test_main_function_from_stdin_fails_under_spawn(tmp_path):
    """From stdin (as from -c or a notebook) a spawned worker has no main to import."""
    proc = _run(PROGRAM, tmp_path, "-")
    assert proc.returncode == 0, proc.stderr
    verdicts, culprits, hint = proc.stdout.splitlines()
    assert verdicts == ("{'multiprocessing': (False, 'spawn'), "
                        "'multiprocessing:fork': (True, 'fork'), 'joblib': (True, 'loky')}")
    assert culprits == "[('job', 'main_reference')]"
    assert "__mp_main__" in hint and "joblib" in hint


def test_main_function_from_a_script_loads_as_mp_main(tmp_path):
    """From a script, the worker imports it as __mp_main__ and finds the function;
    the script's own check at import time starts no further interpreter."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    proc = _run("", tmp_path, "prog.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == ("{'multiprocessing': (True, 'spawn'), "
                                           "'multiprocessing:fork': (True, 'fork'), "
                                           "'joblib': (True, 'loky')}")


ARGV_PROGRAM = textwrap.dedent("""
    import os, sys
    import picklecheck

    MODE = sys.argv[1]  # a script that reads its arguments at its top level
    if os.environ.get("PROG_CHILD") == "1" and __name__ != "__main__":
        raise RuntimeError("no config in the worker")

    def job(x):
        return x

    if __name__ == "__main__":
        if MODE == "raise":
            os.environ["PROG_CHILD"] = "1"
        report = picklecheck.check(job, backends=["multiprocessing", "joblib"], name="job",
                                   fresh_process=True)
        print({n: r.ok for n, r in report.results.items()})
        for c in report.culprits:
            print(c.backends, c.reason, "|", c.hint)
""")


def test_a_spawned_worker_imports_the_script_with_the_callers_arguments(tmp_path):
    """spawn's and loky's workers import the main script with the parent's sys.argv: a
    script that reads it at its top level loads in them (it failed with IndexError)."""
    (tmp_path / "prog.py").write_text(ARGV_PROGRAM)
    proc = _run("", tmp_path, "prog.py", "fast")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["{'multiprocessing': True, 'joblib': True}"]


def test_a_script_that_raises_in_the_worker_is_named_as_the_cause(tmp_path):
    """Where the worker's import of the script raises, that is the reason, with the main
    guard's fix: not "Can't get attribute 'job' on <module '__main__'>", a consequence."""
    (tmp_path / "prog.py").write_text(ARGV_PROGRAM)
    proc = _run("", tmp_path, "prog.py", "raise")
    assert proc.returncode == 0, proc.stderr
    verdicts, *culprits = proc.stdout.splitlines()
    assert verdicts == "{'multiprocessing': False, 'joblib': False}"
    assert len(culprits) == 1, culprits  # one culprit, for both backends
    for line in culprits:
        assert line.startswith("('multiprocessing', 'joblib') ")
        reason, hint = line.split(" | ")
        assert "importing the main script as __mp_main__ failed: RuntimeError: no config" in reason
        assert "Can't get attribute" not in reason
        assert "under if __name__ == '__main__'" in hint


APP = textwrap.dedent("""
    class Point:
        def __init__(self, x):
            self.x = x

    point = Point(1)
""")


@pytest.mark.parametrize("launcher", ["script", "module"])
def test_cli_verdict_is_the_same_from_any_folder(tmp_path, launcher):
    """`picklecheck` and `python -m picklecheck`, run from another folder, agree: the
    worker has the target's folder on its path."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [str(SCRIPT)] if launcher == "script" else [PYTHON, "-m", "picklecheck"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    backends = ["pickle", "multiprocessing"] + [b for b in ("spark", "ray") if _installed(b)]
    proc = subprocess.run(
        [*command, str(folder / "app.py") + ":point", "--fresh-process", "--json",
         *(f"--backend={b}" for b in backends)],
        capture_output=True, text=True, cwd=elsewhere, timeout=300, check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)["targets"][0]["report"]["results"]
    assert {n: (r["ok"], r["fresh"]) for n, r in results.items()} == {
        b: (True, True) for b in backends}


def test_compare_view(tmp_path):
    """--compare prints one row per backend and says which work; exit 0 if one does."""
    example = Path(__file__).parents[1] / "examples" / "jobs.py"
    proc = subprocess.run(
        [str(SCRIPT), f"{example}:task", "--compare", "-b", "pickle", "-b", "multiprocessing",
         "-b", "joblib"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
        check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[4:7]}
    assert rows == {"pickle": "dumps", "multiprocessing": "dumps", "joblib": "ok"}
    assert "works with: joblib" in proc.stdout
    assert "fails with: pickle, multiprocessing" in proc.stdout
    job = subprocess.run(
        [str(SCRIPT), f"{example}:job", "--compare", "-b", "joblib", "-b", "multiprocessing"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert job.returncode == 1
    assert "works with: none of them" in job.stdout


def test_framework_hints():
    """Hints speak the framework's language for the backends that fail."""
    lock = fw_jobs.make_lock()
    hint = {b: picklecheck.check({"l": lock}, backends=[b]).culprits[0].hint
            for b in ("ray", "dask", "spark", "multiprocessing", "joblib") if _installed(b)}
    expected = {"ray": ("ray.put", "actor"), "dask": ("client.scatter",),
                "spark": ("mapPartitions", "broadcast"), "multiprocessing": ("initializer",),
                "joblib": ("inside the function",)}
    for backend, text in hint.items():
        assert all(words in text for words in expected[backend]), text
    assert {"multiprocessing", "joblib"} <= set(hint)


def test_a_generator_in_the_data_sent_is_to_be_materialised_with_every_framework():
    """A generator in the rows sent (``sc.parallelize(rows)``) is data to store as a list;
    the frameworks' words are about what a task's function captures ("open it once per
    partition inside mapPartitions")."""
    rows = [{"id": 1, "vals": (v for v in range(3))}]
    for backend in ("ray", "dask", "spark", "multiprocessing", "joblib"):
        if not _installed(backend):
            continue
        [culprit] = picklecheck.check(rows, backends=[backend], roundtrip=False).culprits
        assert culprit.hint.startswith("a running generator, coroutine or frame cannot be "
                                       "saved; store the data it produces (a list)"), culprit.hint


def test_session_state_and_unknown_names():
    """SessionState takes a framework backend; unknown names are clear errors."""
    state = picklecheck.SessionState(mode="enforce", backend="joblib")
    state.cb = lambda: 1  # loky sends lambdas by value
    with pytest.raises(picklecheck.UnpicklableError, match="joblib"):
        state.lock = fw_jobs.make_lock()
    with pytest.raises(ValueError, match="session backend"):
        picklecheck.SessionState(backend="rayy")


def test_import_picklecheck_imports_no_framework():
    """`import picklecheck` and a plain check import none of the frameworks."""
    code = ("import sys, picklecheck; picklecheck.check({'a': 1}, backends=['pickle']); "
            "print(sorted(m for m in ('ray', 'dask', 'distributed', 'joblib', 'pyspark', "
            "'multiprocessing') if m in sys.modules))")
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    assert proc.stdout.strip() == "[]"


def test_a_framework_that_is_not_installed():
    """A framework backend that is not installed is reported as such, with how to install."""
    import importlib.util

    missing = [n for n, mod in (("dask", "distributed"), ("ray", "ray"), ("spark", "pyspark"))
               if importlib.util.find_spec(mod) is None]
    if not missing:
        pytest.skip("every framework is installed here")
    report = picklecheck.check({"a": 1}, backends=[missing[0]])
    result = report.results[missing[0]]
    assert (result.available, result.ok) == (False, False)
    assert f"picklecheck[{missing[0]}]" in result.error
