"""README's output blocks are what their commands print today.

Each output block in README.md (a ```text block) follows a comment naming the command
that produces it, invisible on GitHub::

    <!-- output: picklecheck examples/session_app.py:state -->
    <!-- output: picklecheck run examples/failing_job.py 2>&1 | head -40 -->
    <!-- output: picklecheck run examples/lost_task.py 2>&1 | tail-from picklecheck: -->

A command starts with ``picklecheck`` or ``python``; ``2>&1`` takes stderr too; ``| head
-N`` keeps the first N lines and ``| tail-from TEXT`` the lines from the last one that
starts with TEXT (what is printed before it varies). This test runs every command in a
subprocess (from the repository root, plain 80-column output, ``PYTHONHASHSEED=0``) and
compares its output with the block, after normalising what changes between runs and
machines: addresses, timings, the repository's and the standard library's paths, and
line wrapping and padding (which follow the lengths of those). A block without a
command fails, so none can drift unnoticed.

To rewrite every block with the real output (after changing a report's wording)::

    PICKLECHECK_UPDATE_README=1 python -m pytest tests/test_readme.py

The outputs depend on the Python version (pickle's messages and code-object sizes
differ), so the comparison runs on the version README records in its first comment;
the update records the version it ran on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
UPDATE = bool(os.environ.get("PICKLECHECK_UPDATE_README"))
MARKER = re.compile(r"<!-- output: (.+?) -->\n```text\n(.*?)```\n", re.S)
VERSION = re.compile(r"<!-- README outputs: produced with Python (\d+\.\d+)")
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in MARKER.finditer(text)]


#: The workers' interpreter README's ``--python`` example names, and what stands for it
#: here: a virtualenv of Python 3.13 with this interpreter's cloudpickle and dill.
WORKERS_PYTHON = "/srv/workers/venv/bin/python"
_workers: list[str] = []


def workers_python() -> str:
    if not _workers:
        import atexit
        import shutil
        import tempfile

        import cloudpickle
        import dill
        from interpreters import pyenv_python, venv

        base = pyenv_python("3.13")
        if base is None:
            pytest.skip("the --python example runs on Python 3.13, which pyenv does not have")
        folder = tempfile.mkdtemp(prefix="picklecheck-readme-")
        atexit.register(shutil.rmtree, folder, True)
        _workers.append(venv(base, os.path.join(folder, "venv"), cloudpickle, dill))
    return _workers[0]


def run(command: str) -> str:
    """The command's output as a user would see it, repository paths made relative."""
    command, _, pipe = command.partition(" | ")
    words = [workers_python() if word == WORKERS_PYTHON else word for word in command.split()]
    merge = words[-1] == "2>&1"
    words = words[:-1] if merge else words
    if words[0] == "picklecheck":
        argv = [sys.executable, "-m", "picklecheck", *words[1:]]
    elif words[0] == "python":
        argv = [sys.executable, *words[1:]]
    else:
        pytest.fail(f"README output command must start with picklecheck or python: {command}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICKLECHECK")}
    env.update({"NO_COLOR": "1", "COLUMNS": "80", "TERM": "dumb", "PYTHONHASHSEED": "0"})
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode in (0, 1), f"{command} exited {proc.returncode}:\n{proc.stderr}"
    output = proc.stdout + (proc.stderr if merge else "")
    if _workers:
        output = output.replace(_workers[0], WORKERS_PYTHON)
    return _shorten_paths(_filter(output, pipe)).rstrip() + "\n"


def _filter(text: str, pipe: str) -> str:
    if not pipe:
        return text
    name, _, arg = pipe.partition(" ")
    lines = text.splitlines()
    if name == "head":
        return "\n".join(lines[:int(arg.lstrip("-"))])
    if name == "tail-from":
        starts = [i for i, line in enumerate(lines) if line.startswith(arg)]
        assert starts, f"no line starts with {arg!r}:\n{text}"
        return "\n".join(lines[starts[-1]:])
    pytest.fail(f"unknown filter in a README output command: | {pipe}")


def _shorten_paths(text: str) -> str:
    """The repository's path dropped and the standard library's written <stdlib>, also
    where a line break split them after a hyphen."""
    for path, short in ((str(REPO) + os.sep, ""),
                        (sysconfig.get_paths()["stdlib"] + os.sep, "<stdlib>/")):
        pattern = "".join(re.escape(c) + (r"(?:\n *)?" if c == "-" else "") for c in path)
        text = re.sub(pattern, short, text)
    return text


def normalise(text: str) -> str:
    """Addresses, timings, Streamlit's element ids, the key Streamlit's own error names,
    and byte counts under 1 KiB out (ids hash the app's path and code objects carry their
    file's path, so these follow where the repository is); then whitespace, so that wrapping and padding (which follow path
    and timing lengths) do not count."""
    text = re.sub(r"0x[0-9a-f]{4,}", "0x...", text)
    text = re.sub(r"\b\d+(?:\.\d+)? ?(?:ns|us|µs|ms|s)\b", "<time>", text)
    text = re.sub(r"\$\$(ID|WIDGET_ID)-[0-9a-f]{32}-", r"$$\1-<hash>-", text)
    text = re.sub(r"\b\d+ B\b", "<bytes>", text)
    # Streamlit's own check names the first failing key of a set whose order follows the
    # hashes of widget ids, so of the app's path (README says the key varies).
    text = re.sub(r"Cannot serialize the value \(of type `<class '[^']*'>`\) of '[^']*'",
                  "Cannot serialize the value (of type <type>) of <key>", text)
    return " ".join(text.split())


def readme_python() -> str | None:
    match = VERSION.search(README.read_text())
    return match.group(1) if match else None


COMMANDS = [command for command, _ in blocks(README.read_text())]


def test_every_output_block_names_its_command():
    """No ```text block without the command that produces it."""
    text = README.read_text()
    unmarked = [text[:m.start()].count("\n") + 1 for m in re.finditer(r"```text\n", text)
                if not text[:m.start()].rstrip().endswith("-->")]
    assert not unmarked, f"README.md: output blocks without a command at lines {unmarked}"
    assert len(COMMANDS) == text.count("```text\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_output_block_is_current(command):
    """The block equals what the command prints now (addresses and timings aside)."""
    if "streamlit" in command and importlib.util.find_spec("streamlit") is None:
        pytest.skip("streamlit is not installed (pip install 'picklecheck[streamlit]')")
    missing = [m for m in ("joblib", "distributed", "ray", "pyspark")
               if importlib.util.find_spec(m) is None]
    if "--compare" in command and missing:
        pytest.skip(f"the compare view shows every framework; not installed: {missing} "
                    "(pip install 'picklecheck[frameworks]')")
    if not UPDATE and readme_python() != HERE:
        pytest.skip(f"README's outputs were produced with Python {readme_python()}, whose "
                    f"pickle messages and sizes differ from this Python {HERE}'s")
    output = run(command)
    text = README.read_text()
    index = COMMANDS.index(command)
    match = list(MARKER.finditer(text))[index]
    if UPDATE:
        if normalise(match.group(2)) != normalise(output):  # no churn of timings alone
            text = text[:match.start(2)] + output + text[match.end(2):]
        text = VERSION.sub(f"<!-- README outputs: produced with Python {HERE}", text)
        README.write_text(text)
        return
    assert normalise(match.group(2)) == normalise(output), (
        f"README block for `{command}` differs from the real output; run "
        "PICKLECHECK_UPDATE_README=1 python -m pytest tests/test_readme.py")


def test_json_shape_names_real_keys():
    """Every key README's --json description names is in a real document."""
    text = README.read_text()
    shape = re.search(r"```jsonc\n(.*?)```", text, re.S)
    assert shape is not None, "README.md has no ```jsonc description of --json"
    named = set(re.findall(r'"(\w+)":', shape.group(1)))
    found: set[str] = set()
    stack = [json.loads(run("picklecheck examples/session_app.py:state --json"))]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found |= set(node)
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    assert named <= found, f"README names keys the JSON does not have: {named - found}"


def test_readme_test_command_is_what_ci_runs():
    """README's "Run the tests" command is the one .ci/run runs, extras and all."""
    ci = (REPO / ".ci" / "run").read_text()
    extras = re.search(r'^EXTRAS="([^"]+)"', ci, re.M)
    command = re.search(r"^TEST_COMMAND=\((.*)\)$", ci, re.M)
    assert extras and command, ".ci/run names EXTRAS and TEST_COMMAND"
    line = f"pip install -e '.[{extras.group(1)}]' && {' '.join(command.group(1).split())}"
    assert line in README.read_text(), line


def test_no_tracked_text_holds_merge_conflict_markers():
    """A merge left half-resolved shows as literal markers on GitHub; none may land."""
    listed = subprocess.run(
        ["git", "ls-files", "*.md", "*.py", "*.toml", "*.txt", "*.cfg", ".ci/*"],
        cwd=REPO, capture_output=True, text=True,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    marker = re.compile(r"^(<{7}|>{7})( |$)|^={7}$", re.M)
    bad = [name for name in listed.stdout.split()
           if marker.search((REPO / name).read_text(errors="replace"))]
    assert not bad, f"merge conflict markers in {bad}"
