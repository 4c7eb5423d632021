"""The compare view: one row per backend, drawn from plain data (exact text)."""

from __future__ import annotations

import textwrap

import fw_jobs

import picklecheck
from picklecheck.model import BackendResult, Culprit, Report
from picklecheck.report.compare_view import compare_rows, render_compare


def _report() -> Report:
    culprit = Culprit(path="task", obj=None, type="function", reason="", exception="",
                      kind="local", hint="", backends=("pickle",))
    results = {
        "pickle": BackendResult("pickle", ok=False, error="AttributeError: x", size=None,
                                dumps_seconds=0.000029, worker="interpreter",
                                culprits=[culprit]),
        "joblib": BackendResult("joblib", ok=True, size=1030, dumps_seconds=0.000434,
                                roundtrip=True, fresh=True, worker="loky"),
        "spark": BackendResult("spark", ok=False, size=1004, dumps_seconds=0.0012,
                               roundtrip=True, fresh=False, worker="spark"),
        "ray": BackendResult("ray", ok=False, available=False,
                             error="ray is not installed (pip install 'picklecheck[ray]')"),
    }
    return Report(name="task", type="function", repr="", protocol=None, results=results)


def test_render_compare_exactly():
    """Rows, widths, the worker column and the closing lines, exactly."""
    assert render_compare(_report()) == textwrap.dedent("""\
        task: function

        backend  verdict            size       dumps    worker       worker load  first culprit
        ---------------------------------------------------------------------------------------
        pickle   dumps fails                -    29 us  interpreter  -            task (local)
        joblib   ok                   1.0 KiB   434 us  loky         ok           -
        spark    worker load fails     1004 B   1.2 ms  spark        FAIL         -
        ray      not installed              -        -  -            -            -

        works with: joblib
        fails with: pickle, spark
        not installed: ray (pip install 'picklecheck[ray]')""")


def test_rows_from_a_real_check():
    """A real check of a lambda: joblib sends it by value, multiprocessing cannot."""
    report = picklecheck.check({"cb": fw_jobs.module_lambda},
                               backends=["multiprocessing", "joblib"], fresh_process=True)
    rows = {row.backend: (row.verdict, row.worker, row.worker_load, row.culprit)
            for row in compare_rows(report)}
    assert rows == {"multiprocessing": ("dumps fails", "spawn", None, "obj['cb'] (lambda)"),
                    "joblib": ("ok", "loky", True, None)}


def test_a_backend_not_installed_beside_one_that_finds_culprits(monkeypatch):
    """The culprits of the backends that ran are placed; one that is not installed (its
    library cannot be imported here) has nothing to place and is said not installed (it
    raised "internal error: No module named 'joblib'")."""
    import sys

    monkeypatch.setitem(sys.modules, "joblib.externals.loky.backend.reduction", None)  # absent
    report = picklecheck.check({"lock": fw_jobs.make_lock()}, backends=("pickle", "joblib"))
    assert [c.path for c in report.culprits] == ["obj['lock']"]
    assert "not installed" in (report.results["joblib"].error or "")
    assert "not installed: joblib" in render_compare(report)
