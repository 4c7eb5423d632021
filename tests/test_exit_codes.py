"""Never a false "ok", never silence: the command's exit code when the checked code
tries to end the process, and for targets it cannot read (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from picklecheck.cli import cli


def run(tmp_path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "target.py").write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, "-m", "picklecheck", "target.py:x", *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


@pytest.mark.parametrize(("source", "message"), [
    ("import sys\nx = 1\nsys.exit(0)\n", "importing target.py raised SystemExit(0)"),
    ("import os\nx = 1\nos._exit(0)\n", "importing target.py called os._exit(0)"),
    ("class E:\n    def __getstate__(self):\n        raise SystemExit(0)\nx = [E()]\n",
     "checking x raised SystemExit(0)"),
], ids=["import raises SystemExit", "import calls os._exit", "dumps raises SystemExit"])
def test_ending_the_process_is_exit_3_with_a_message(tmp_path, source, message):
    """SystemExit or os._exit while importing or dumping: exit 3, saying what happened."""
    proc = run(tmp_path, source)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert message in proc.stderr


def test_a_load_that_exits_is_a_finding(tmp_path):
    """A load raising SystemExit(0) is a load_side_effect culprit: exit 1, never 0."""
    proc = run(tmp_path, """
        import sys
        class Exit:
            def __reduce__(self):
                return (sys.exit, (0,))
        x = {"e": Exit()}
    """, "-b", "dill")
    assert proc.returncode == 1, proc.stderr
    flat = " ".join(proc.stdout.split())
    assert "x['e']" in flat and "raised SystemExit(0)" in flat


def test_exit_handlers_cannot_turn_a_failure_into_0(tmp_path):
    """An exit handler of the target that calls os._exit(0) does not change exit 1."""
    proc = run(tmp_path, """
        import atexit, os, threading
        atexit.register(os._exit, 0)
        x = threading.Lock()
    """, "-q")
    assert proc.returncode == 1


def test_hostile_base_exception_is_a_finding(tmp_path):
    """A BaseException subclass raised from a __class__ property is a culprit, not an escape."""
    proc = run(tmp_path, """
        import threading
        class Boom(BaseException):
            pass
        class Hostile:
            def __init__(self):
                self.lock = threading.Lock()
            @property
            def __class__(self):
                raise Boom("no class for you")
        x = {"h": Hostile()}
    """, "-q")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("FAIL: x does not survive")


def test_symlink_loop_is_a_usage_error(tmp_path):
    """A target that is a symlink loop exits 2 with a message."""
    (tmp_path / "loop.py").symlink_to(tmp_path / "loop.py")
    proc = subprocess.run([sys.executable, "-m", "picklecheck", "loop.py:x"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert "loop.py" in proc.stderr and "Traceback" not in proc.stderr


def test_in_process_runs_leave_os_exit_alone(tmp_path, monkeypatch):
    """CliRunner (in this process) restores os._exit after the command."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "target.py").write_text("x = 1\n")
    before = os._exit
    result = CliRunner().invoke(cli, ["target.py:x", "-q", "-b", "pickle"])
    assert result.exit_code == 0, result.output
    assert os._exit is before
