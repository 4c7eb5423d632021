"""Cross-check against the measured reference: ~100 real-world objects, every backend.

``shared/reference/unpicklable-patterns.md`` (beside the repository) records, for each
object, whether pickle, dill and cloudpickle dump it and load it back. This test builds
every object from the snippet recorded there and asserts that ``check`` reaches the
same verdicts, and that it names at least one culprit whenever a backend fails.

The reference was measured on Python 3.11 with dill 0.4.1 and cloudpickle 3.1.3. Its
verdicts hold alike on Python 3.10 to 3.13 and with dill 0.3.8 and cloudpickle 3.0.0
(checked), so nothing newer is pinned; older dill and cloudpickle releases, which were
not checked, skip. Cases that build numpy objects skip where numpy is not installed. ``PICKLECHECK_REFERENCE`` points at
another copy of the reference folder; in CI (``CI=true``, where ``shared/reference``
lies beside the clone) a missing reference fails instead of skipping.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import types
import warnings
from pathlib import Path

import pytest

import picklecheck

REFERENCE_DIR = Path(os.environ.get("PICKLECHECK_REFERENCE")
                     or Path(__file__).resolve().parents[2] / "shared" / "reference")
REFERENCE = REFERENCE_DIR / "unpicklable-patterns.md"
CHECKED_FROM = {"dill": (0, 3, 8), "cloudpickle": (3, 0, 0)}

PRELUDE = """
import functools, threading, sqlite3, socket, io, os, sys, enum, typing, queue, weakref, types
import tempfile, collections, contextvars, asyncio, ssl, mmap, hashlib, zlib, csv, ctypes
import itertools, re, logging, multiprocessing, concurrent.futures, subprocess, pathlib
import http.client, json, importlib
from collections import defaultdict, namedtuple, OrderedDict
from dataclasses import dataclass, field
import dill, cloudpickle
try:
    import numpy as np
except ImportError:
    np = None
_CLEANUP = []
_KEEPALIVE = []
def workdir():
    return WORKDIR
"""
SKIP = {
    "slots_protocol_1",  # measured with protocol 1; the verdicts below use the default
    # Under pytest, sys.stdout/stderr are pytest's capture files (a Thread keeps stderr),
    # and a copied context holds pytest's own context variables: not the reference's world.
    "sys_stdout", "thread_object", "contextvars_Context",
}
#: Cases whose reference verdict measured something else than a check judges, and what the
#: check's verdict is instead (backend -> same-process round trip).
JUDGED_OTHERWISE = {
    # The reference probes locked(): dill's copy of a held lock is held too, so the state
    # survives. A check asks whether the copy can be used where it loads: no thread there
    # will release it, and its first acquire() blocks forever.
    "threading_lock": {"dill": False},
}


def _cases() -> list[tuple[str, str, dict[str, str]]]:
    if not REFERENCE.exists():
        return []
    text = REFERENCE.read_text()
    rows = {
        m.group(1): {"pickle": m.group(2), "dill": m.group(3), "cloudpickle": m.group(5)}
        for m in re.finditer(
            r"^\| \d+ \| \[(\w+)\]\(#[^)]*\) \| .*? \| (\S+ \S+ \S+) \| (\S+ \S+ \S+) \| "
            r"(\S+ \S+ \S+) \| (\S+ \S+ \S+) \|$", text, re.M)
    }
    cases = []
    for section in re.split(r"^### \d+\. ", text, flags=re.M)[1:]:
        name = section.split("\n", 1)[0].strip()
        code = re.search(r"```python\n(.*?)```", section, re.S)
        if code and name in rows and name not in SKIP:
            cases.append((name, code.group(1), rows[name]))
    return cases


def _why_not() -> str | None:
    """Why the comparison cannot run here, truthfully; None when it can."""
    if not REFERENCE.exists():
        return (f"the measured reference is not at {REFERENCE} (it lies in shared/reference "
                "beside the repository; PICKLECHECK_REFERENCE names another folder)")
    import cloudpickle
    import dill

    for module in (dill, cloudpickle):
        name, version = module.__name__, module.__version__
        if _version(version) < CHECKED_FROM[name]:
            oldest = ".".join(map(str, CHECKED_FROM[name]))
            return (f"the reference's verdicts were checked with {name} {oldest} and newer; "
                    f"this is {name} {version}")
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


WHY_NOT = _why_not()
if WHY_NOT and os.environ.get("CI") == "true" and not REFERENCE.exists():
    raise RuntimeError(f"CI must run the reference cross-check: {WHY_NOT}")
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


@pytest.mark.parametrize(("name", "code", "expected"), _cases() or [("none", "", {})],
                         ids=[c[0] for c in _cases()] or ["none"])
def test_verdicts_match_the_reference(name, code, expected, tmp_path, monkeypatch):
    """dumps and same-process loads verdicts match the measured reference; failures have culprits."""
    if not expected:
        pytest.skip("no reference")
    main = types.ModuleType("__main__")
    namespace = main.__dict__
    namespace["WORKDIR"] = tmp_path
    monkeypatch.setitem(sys.modules, "__main__", main)
    if "np." in code and importlib.util.find_spec("numpy") is None:
        pytest.skip("this case builds a numpy object and numpy is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(PRELUDE + code, namespace)  # noqa: S102 - the reference's own snippet
        report = picklecheck.check(namespace["obj"])
    otherwise = JUDGED_OTHERWISE.get(name, {})
    for backend, marks in expected.items():
        dumps, loads, _ = marks.split()
        result = report.results[backend]
        assert (result.error is None) == (dumps == "✓"), (backend, result.error)
        if backend in otherwise:
            assert result.roundtrip is otherwise[backend], (backend, result.roundtrip_error)
        elif dumps == "✓" and loads in "✓✗":
            assert (result.roundtrip is not False) == (loads == "✓"), (backend, result.roundtrip_error)
        if not result.ok:
            assert result.culprits, backend
