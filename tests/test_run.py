"""`picklecheck run`: real programs in real subprocesses, failing inside real frameworks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

JOBS = Path(__file__).parent / "jobs"
#: Every culprit of tests/jobs/models.Model for pickle; cloudpickle copes with the lambda.
PICKLE_CULPRITS = (".lock  (_thread.lock)", ".on_done  (function)", ".batches  (generator)")
CLOUDPICKLE_CULPRITS = (".lock  (_thread.lock)", ".batches  (generator)")


def run(*args: str, timeout: float = 120, cwd: Path = JOBS) -> subprocess.CompletedProcess[str]:
    """``python -m picklecheck run ARGS`` in ``cwd``; fails the test if it hangs."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("PICKLECHECK", None)
    return subprocess.run([sys.executable, "-m", "picklecheck", "run", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def diagnosis_of(result: subprocess.CompletedProcess[str]) -> str:
    """The diagnosis printed after the traceback (the last block of stderr)."""
    marker = "\npicklecheck: "
    assert marker in result.stderr, result.stderr[-3000:]
    return result.stderr[result.stderr.rindex(marker) + 1:]


def assert_culprits(text: str, root: str, culprits: tuple[str, ...]) -> None:
    lines = [line.strip() for line in text.splitlines()]
    for culprit in culprits:
        assert root + culprit in lines, text


def test_exit_code_argv_and_path_are_the_programs() -> None:
    """The program's own exit code, sys.argv and sys.path[0], as `python script.py` gives."""
    result = run("exits.py", "7", "--flag")
    assert result.returncode == 7
    assert "argv: ['exits.py', '7', '--flag']" in result.stdout
    assert f"path0: {JOBS}" in result.stdout


def test_module_mode_runs_as_python_dash_m() -> None:
    """`run -m pkg.module`: argv[0] is the module's file, sys.path[0] the current folder."""
    result = run("-m", "jobs.exits", "5", cwd=JOBS.parent)
    assert result.returncode == 5
    assert f"argv: ['{JOBS / 'exits.py'}', '5']" in result.stdout
    assert f"path0: {JOBS.parent}" in result.stdout


def test_the_scripts_code_carries_its_absolute_path_as_under_python(tmp_path: Path) -> None:
    """Tracebacks, logging's pathname and inspect read a code object's file name: python
    gives a script's code its absolute path (it was the path as typed)."""
    (tmp_path / "job.py").write_text("def f(): pass\nprint(f.__code__.co_filename)\n")
    python = subprocess.run([sys.executable, "job.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    result = run("job.py", cwd=tmp_path)
    assert result.stdout == python.stdout == f"{tmp_path / 'job.py'}\n"


def test_missing_script_is_a_usage_error() -> None:
    """A script that does not exist: exit code 2 and a sentence, no traceback."""
    result = run("no_such_script.py")
    assert result.returncode == 2
    assert "can't open file" in result.stderr
    assert "Traceback" not in result.stderr


FORKING = """\
import atexit, os, multiprocessing as mp
PARENT = os.getpid()
atexit.register(lambda: print("atexit in", "parent" if os.getpid() == PARENT else "child"))
def work(n):
    print("work", n, flush=True)
if __name__ == "__main__":
    mp.set_start_method("fork")
    p = mp.Process(target=work, args=(1,))
    p.start(); p.join()
    print("process exitcode", p.exitcode)
    pid = os.fork()
    if pid == 0:
        os._exit(5)
    print("forked child status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_children_the_program_forks_end_with_their_own_os_exit(tmp_path: Path) -> None:
    """A fork-started Process and a raw os.fork child end with the real os._exit, as under
    python: they raised picklecheck's ExitAttempt (the guard of a check's own process), ran
    the parent's atexit handlers and exited 1."""
    (tmp_path / "forking.py").write_text(FORKING)
    result = run("forking.py", cwd=tmp_path)
    plain = subprocess.run([sys.executable, "forking.py"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert (result.returncode, result.stdout) == (plain.returncode, plain.stdout)
    assert "process exitcode 0" in result.stdout and "forked child status 5" in result.stdout
    assert result.stdout.count("atexit in") == 1
    assert "ExitAttempt" not in result.stderr


def test_a_folder_with_a_main_module_runs_as_python_runs_it(tmp_path: Path) -> None:
    """`run appdir` runs appdir/__main__.py with argv[0] 'appdir', as `python appdir`
    does (it said "Is a directory"); a folder without one is a usage error."""
    (tmp_path / "appdir").mkdir()
    (tmp_path / "appdir" / "__main__.py").write_text(
        "import sys\nprint('argv0', sys.argv[0])\nsys.exit(4)\n")
    result = run("appdir", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (4, "argv0 appdir\n")
    (tmp_path / "empty").mkdir()
    result = run("empty", cwd=tmp_path)
    assert result.returncode == 2 and "can't find '__main__' module" in result.stderr


def test_pool_map() -> None:
    """Pool.map: every culprit, rooted at the failing item of the user's list; exit code 1."""
    result = run("pool_map.py")
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: pool.map(score, models, chunksize=1) could not send")
    assert_culprits(text, "models[3]", PICKLE_CULPRITS)
    assert "Traceback (most recent call last)" in result.stderr
    assert "picklecheck/cli" not in result.stderr  # picklecheck's own frames are not shown


def test_process_spawn() -> None:
    """Process(spawn).start(): rooted at the target's parameter."""
    result = run("process_spawn.py")
    assert result.returncode == 1
    assert_culprits(diagnosis_of(result), "model", PICKLE_CULPRITS)


def test_torch_dataloader_whose_workers_cannot_load_the_dataset() -> None:
    """PyTorch's "DataLoader worker exited unexpectedly": the dataset whose class the spawned
    workers do not have, with the main guard's fix (needs torch: ``pip install torch``)."""
    pytest.importorskip("torch")
    result = run("torch_dataloader.py", timeout=300)
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: DataLoader(dataset, num_workers=1) lost its task")
    assert "dataset  (Rows)" in [line.strip() for line in text.splitlines()]
    assert 'Rows is defined under `if __name__ == "__main__":`' in " ".join(text.split())


def test_process_pool_executor() -> None:
    """ProcessPoolExecutor.submit: the argument, not the _CallItem around it."""
    result = run("executor_submit.py")
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert_culprits(text, "model", PICKLE_CULPRITS)
    assert "_CallItem" not in text


def test_note_is_attached_to_the_traceback() -> None:
    """The short note (one culprit a line) appears in the traceback itself (3.11+)."""
    if sys.version_info < (3, 11):
        pytest.skip("add_note is 3.11+")
    result = run("pool_map.py")
    traceback_part = result.stderr[: result.stderr.rindex("\npicklecheck: ")]
    assert "  models[3].lock  (_thread.lock): TypeError: cannot pickle" in traceback_part


def test_spawn_main_function_does_not_hang_pool_map() -> None:
    """spawn + a function under the main guard: Pool.map fails in seconds, with the why."""
    result = run("--start-method", "spawn", "spawn_main_pool.py", timeout=60)
    assert result.returncode == 1
    assert "WorkerLostError" in result.stderr
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: pool.map(square, [1, 2, 3]) lost its task")
    assert "  square  (function)" in text.splitlines()
    assert 'square is defined under `if __name__ == "__main__":`' in " ".join(text.split())


def test_spawn_main_function_explains_broken_process_pool() -> None:
    """spawn + a main-guard function in ProcessPoolExecutor.map: BrokenProcessPool explained."""
    result = run("--start-method", "spawn", "spawn_main_executor.py", timeout=60)
    assert result.returncode == 1
    assert "BrokenProcessPool" in result.stderr
    text = diagnosis_of(result)
    assert "  square  (function)" in text.splitlines()


def test_fork_runs_the_same_script_fine() -> None:
    """The same program under fork works: no false alarm, exit code 0."""
    result = run("--start-method", "fork", "spawn_main_pool.py", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1, 4, 9]"
    assert "picklecheck:" not in result.stderr


def test_queue_put_drop_is_diagnosed() -> None:
    """mp.Queue.put raises nothing; the feeder's dropped item is diagnosed on stderr."""
    result = run("queue_put.py")
    assert result.returncode == 0
    assert "picklecheck: Queue.put(item) could not send" in result.stderr
    assert_culprits(result.stderr, "item", PICKLE_CULPRITS)


def test_joblib_parallel() -> None:
    """joblib (loky, cloudpickle): the delayed call's argument; the lambda is no culprit."""
    pytest.importorskip("joblib")
    result = run("joblib_parallel.py")
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert_culprits(text, "model", CLOUDPICKLE_CULPRITS)
    assert "on_done" not in text


def test_joblib_multiprocessing_backend() -> None:
    """joblib's multiprocessing backend (pickle, in its pool's task thread): joblib drops
    the error's traceback, whose frames hold the task, before it raises it here; the hook
    keeps them. It gave "no diagnosis"."""
    pytest.importorskip("joblib")
    result = run("joblib_multiprocessing.py")
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: delayed(score)(model) could not send"), text
    assert "joblib's multiprocessing backend pickles what it sends with pickle" in text
    assert_culprits(text, "model", PICKLE_CULPRITS)
    assert "error: TypeError: cannot pickle" in text, text


def test_joblib_multiprocessing_backend_task_error_is_left_alone() -> None:
    """A task's own error under joblib's multiprocessing backend gets no frames chained by
    the hook: its traceback is python's."""
    pytest.importorskip("joblib")
    result = run("joblib_multiprocessing_raises.py")
    assert result.returncode == 1
    assert "ValueError: bad input" in result.stderr
    assert "task failed to pickle" not in result.stderr and "picklecheck:" not in result.stderr


def test_dask_local_cluster() -> None:
    """Dask LocalCluster: client.submit(score, model), the graph expression unwrapped."""
    pytest.importorskip("distributed")
    result = run("dask_submit.py", timeout=180)
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: client.submit(score, model) could not send")
    assert_culprits(text, "model", CLOUDPICKLE_CULPRITS)
    assert "Expr" not in text


def test_ray_local() -> None:
    """Local Ray: train.remote(model), rooted at the argument. The diagnosis is made
    after the script's ``finally: ray.shutdown()``: the ref and the actor handle the model
    holds, which Ray sent fine, are no culprits ("Ray has not been started yet")."""
    pytest.importorskip("ray")
    result = run("ray_remote.py", timeout=300)
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: train.remote(model) could not send")
    assert_culprits(text, "model", CLOUDPICKLE_CULPRITS)
    assert "model.rows" not in text and "model.counter" not in text, text


def test_ray_remote_function_too_large() -> None:
    """Ray refuses to export a remote function over 95 MiB as it is submitted: the function
    is the culprit, with Ray's fix (it gave no diagnosis: Ray's ValueError named no
    serializer, and the function was checked inside a dict of parts)."""
    pytest.importorskip("ray")
    result = run("ray_too_large.py", timeout=300)
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert text.startswith("picklecheck: score.remote(3) could not send"), text
    assert_culprits(text, "score", ("  (function)",))
    assert "ray.put()" in text


def test_spark_local() -> None:
    """Local Spark (needs Java): the user's lambda inside PySpark's wrapped closure."""
    pytest.importorskip("pyspark")
    if not any(os.access(os.path.join(p, "java"), os.X_OK)
               for p in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("Spark needs a Java runtime")
    result = run("spark_map.py", timeout=300)
    assert result.returncode == 1
    text = diagnosis_of(result)
    assert_culprits(text, "map(<lambda>).__globals__['model']", CLOUDPICKLE_CULPRITS)


SPAWN_PROCESS = """\
import multiprocessing as mp
def run(job):
    if job.n < 0:
        raise ValueError("negative")
if __name__ == "__main__":
    class Job:
        def __init__(self, n): self.n = n
    p = mp.get_context("spawn").Process(target=run, args=(Job(3),))
    p.start(); p.join()
    print("exitcode", p.exitcode)
"""


def test_a_spawned_process_that_cannot_load_its_task_is_diagnosed_at_join(tmp_path: Path) -> None:
    """A spawn Process whose argument's class is defined under the main guard: its child
    dies loading it and nothing is raised here; at join the diagnosis names args[0] and
    the fix (there was none: only the child's traceback). A target that raises on its own
    gets no diagnosis."""
    (tmp_path / "job.py").write_text(SPAWN_PROCESS)
    result = run("job.py", cwd=tmp_path)
    assert result.returncode == 0 and "exitcode 1" in result.stdout
    diagnosis = diagnosis_of(result)
    assert diagnosis.startswith("picklecheck: SpawnProcess(target=run) lost its task")
    assert "args[0]  (Job)" in diagnosis
    assert "define it at the top level of the script" in " ".join(diagnosis.split())
    (tmp_path / "raises.py").write_text(SPAWN_PROCESS.replace(
        "    class Job:\n        def __init__(self, n): self.n = n\n", "").replace(
        "args=(Job(3),)", "args=(Job(-1),)").replace("def run(job):", (
            "class Job:\n    def __init__(self, n): self.n = n\ndef run(job):")))
    result = run("raises.py", cwd=tmp_path)
    assert "ValueError: negative" in result.stderr
    assert "\npicklecheck: " not in result.stderr
