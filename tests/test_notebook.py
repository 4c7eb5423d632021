"""%load_ext picklecheck in a real notebook, executed by nbclient on a real IPython kernel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

JOBS = Path(__file__).parent / "jobs"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(*sources: str) -> list[list[dict]]:
    """Run the cells in a fresh kernel; the outputs of each cell."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = nbclient.NotebookClient(notebook, timeout=120, allow_errors=True,
                                     kernel_name="python3", resources={"metadata": {"path": str(JOBS)}})
    client.execute()
    return [cell.outputs for cell in notebook.cells]


@pytest.fixture(scope="module")
def outputs() -> list[list[dict]]:
    return execute(
        "%load_ext picklecheck",
        "import multiprocessing\nfrom models import Model, score\n"
        "models = [1, Model(2)]\n"
        "with multiprocessing.Pool(2) as pool:\n    pool.map(score, models)",
        "%picklecheck models",
        "%picklecheck -b cloudpickle models[1]",
        "{}['missing']",
    )


def test_error_output_carries_the_diagnosis(outputs: list[list[dict]]) -> None:
    """The failing cell's error output: the traceback, then the note with every culprit."""
    errors = [o for o in outputs[1] if o["output_type"] == "error"]
    assert len(errors) == 1
    text = ANSI.sub("", "\n".join(errors[0]["traceback"]))
    assert "TypeError: cannot pickle '_thread.lock' object" in text
    assert "picklecheck: pool.map(score, models) could not send what it was given" in text
    for path in ("models[1].lock  (_thread.lock)", "models[1].on_done  (function)",
                 "models[1].batches  (generator)"):
        assert path in text


def test_diagnosis_is_displayed_as_html(outputs: list[list[dict]]) -> None:
    """After the error, the diagnosis as HTML (and full plain text for other front ends)."""
    shown = [o for o in outputs[1] if o["output_type"] == "display_data"]
    assert len(shown) == 1
    page = shown[0]["data"]["text/html"]
    assert page.count("<tr><td><code>") == 3
    assert "<code>models[1].batches</code>" in page
    assert "models[1].lock  (_thread.lock)" in shown[0]["data"]["text/plain"]


def test_magic_checks_an_expression(outputs: list[list[dict]]) -> None:
    """%picklecheck EXPR: the report as HTML, paths rooted at the expression."""
    result = [o for o in outputs[2] if o["output_type"] == "execute_result"][0]
    assert "<code>models[1].lock</code>" in result["data"]["text/html"]
    assert result["data"]["text/plain"].startswith("FAIL: models does not survive pickle")


def test_magic_takes_backends(outputs: list[list[dict]]) -> None:
    """-b picks the backend: cloudpickle copes with the lambda."""
    result = [o for o in outputs[3] if o["output_type"] == "execute_result"][0]
    page = result["data"]["text/html"]
    assert "<code>models[1].lock</code>" in page
    assert "models[1].on_done" not in page


def test_other_errors_are_left_alone(outputs: list[list[dict]]) -> None:
    """A KeyError shows its traceback and nothing from picklecheck."""
    assert [o["output_type"] for o in outputs[4]] == ["error"]
    assert "picklecheck" not in ANSI.sub("", "\n".join(outputs[4][0]["traceback"]))


def test_notebook_function_under_spawn_gets_the_notebook_hint() -> None:
    """A function defined in a cell, sent to a spawn pool: the hint says what to do."""
    cells = execute(
        "%load_ext picklecheck",
        "import concurrent.futures, multiprocessing\n"
        "def double(x):\n    return 2 * x\n"
        "ctx = multiprocessing.get_context('spawn')\n"
        "with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as ex:\n"
        "    list(ex.map(double, [1, 2]))",
    )
    text = ANSI.sub("", "\n".join("\n".join(o.get("traceback", [])) for o in cells[1]))
    assert "BrokenProcessPool" in text
    assert "  double  (function)" in text
    assert "put them in a .py file next to the notebook" in " ".join(text.split())
    page = [o for o in cells[1] if o["output_type"] == "display_data"][0]["data"]["text/html"]
    assert "(a notebook cell, a REPL or python -c)" in page
