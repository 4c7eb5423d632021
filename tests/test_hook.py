"""picklecheck.install(): the uncaught-failure hook, in this process and in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import picklecheck
from picklecheck.integrations import hook

JOBS = Path(__file__).parent / "jobs"

FAILING = textwrap.dedent("""
    import pickle, sys
    sys.path.insert(0, {jobs!r})
    {setup}
    from models import Model
    config = {{"model": Model(1)}}
    pickle.dumps(config)
""")


def python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a script file (its source is what names the call)."""
    environ = {**os.environ, **env}
    if "PICKLECHECK" not in env:
        environ.pop("PICKLECHECK", None)
    script = tmp_path / "job.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=environ)


@pytest.fixture
def clean_hook():
    """Leave the interpreter's hooks as they were."""
    before = sys.excepthook
    yield
    hook.uninstall()
    assert sys.excepthook is before


def test_install_is_idempotent_and_uninstall_restores(clean_hook: None) -> None:
    """Installing twice wraps once; uninstall puts the previous excepthook back."""
    import multiprocessing.queues as queues

    previous, feeder = sys.excepthook, queues.Queue._on_queue_feeder_error
    picklecheck.install()
    installed = sys.excepthook
    picklecheck.install()
    assert sys.excepthook is installed is not previous
    assert queues.Queue._on_queue_feeder_error is not feeder
    picklecheck.uninstall()
    assert sys.excepthook is previous
    assert queues.Queue._on_queue_feeder_error is feeder


def test_uncaught_failure_prints_traceback_then_diagnosis(tmp_path: Path) -> None:
    """A script calling install(): Python's traceback first, then the diagnosis."""
    result = python(FAILING.format(jobs=str(JOBS), setup="import picklecheck; picklecheck.install()"),
                    tmp_path)
    assert result.returncode == 1
    traceback_at = result.stderr.index("Traceback (most recent call last)")
    diagnosis_at = result.stderr.rindex("picklecheck: pickle.dumps(config) failed: 3 culprits")
    assert traceback_at < diagnosis_at
    assert "  config['model'].lock  (_thread.lock)" in result.stderr[diagnosis_at:]


def test_environment_variable_installs_on_import(tmp_path: Path) -> None:
    """PICKLECHECK=1: importing picklecheck is enough."""
    code = FAILING.format(jobs=str(JOBS), setup="import picklecheck")
    result = python(code, tmp_path, PICKLECHECK="1")
    assert "config['model'].batches  (generator)" in result.stderr
    off = python(code, tmp_path, PICKLECHECK="0")
    assert "picklecheck:" not in off.stderr


@pytest.mark.skipif(sys.version_info < (3, 11), reason="add_note is 3.11+")
def test_note_reaches_loggers(tmp_path: Path) -> None:
    """logging.exception of a caught failure shows the note once annotate() has run."""
    code = textwrap.dedent(f"""
        import logging, pickle, sys
        sys.path.insert(0, {str(JOBS)!r})
        from models import Model
        from picklecheck.integrations.hook import annotate
        model = Model(1)
        try:
            pickle.dumps(model)
        except TypeError as exc:
            annotate(exc)
            annotate(exc)
            logging.exception("saving failed")
    """)
    result = python(code, tmp_path)
    assert result.stderr.count("picklecheck: pickle.dumps(model) failed: 3 culprits") == 1
    assert "  model.on_done  (function): AttributeError" in result.stderr


def test_other_exceptions_are_left_alone(tmp_path: Path) -> None:
    """A KeyError goes through the normal hook untouched."""
    result = python("import picklecheck; picklecheck.install(); {}['missing']", tmp_path)
    assert result.returncode == 1
    assert "KeyError: 'missing'" in result.stderr
    assert "picklecheck:" not in result.stderr


def test_import_stays_light_with_the_hook_installed(tmp_path: Path) -> None:
    """PICKLECHECK=1 installs the hook without importing dill, cloudpickle, rich or click."""
    code = ("import sys, picklecheck; print(picklecheck.integrations.hook.installed(), "
            "[m for m in ('dill', 'cloudpickle', 'rich', 'click', 'IPython') if m in sys.modules])")
    result = python(code, tmp_path, PICKLECHECK="1")
    assert result.stdout.strip() == "True []"
