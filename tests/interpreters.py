"""Other Python interpreters for tests: pyenv's, and virtualenvs made from them in a
second (no pip), holding this interpreter's pure-Python cloudpickle and dill: a
deployment's environment, or workers on another Python version."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from typing import Any

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def pyenv_python(minor: str) -> str | None:
    """pyenv's newest Python ``minor`` ("3.13"), if the machine has it."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", f"{minor}.*", "bin", "python")))
    return found[-1] if found else None


def other_python(prefer: tuple[str, ...] = ("3.13", "3.10", "3.12", "3.11")) -> str | None:
    """A supported Python of another minor version than this one."""
    for minor in prefer:
        if minor != HERE and (path := pyenv_python(minor)):
            return path
    return None


def venv(base: str, folder: Any, *packages: Any) -> str:
    """A virtualenv of ``base`` in ``folder`` (no pip), with the pure-Python ``packages``
    (modules of this interpreter) linked into its site-packages; its python."""
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = os.path.join(str(folder), "bin", "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for package in packages:
        source = os.path.dirname(package.__file__)
        os.symlink(source, os.path.join(site, os.path.basename(source)))
    return python
