"""Ground truth, computed live: what the real pickle, dill and cloudpickle do with an object.

Nothing here is recorded. For each backend a forked child builds the object, runs the
backend's own ``dumps`` and then its ``loads`` in the same process (real, unguarded: the
factory's files live in a temporary directory), calls the entry's probe on the copy,
and, for entries marked ``fresh``, loads the same bytes in a new interpreter. Each step
is reported as it finishes, so a load that hangs (redis) or aborts (tqdm) still leaves
the dumps verdict, and the hang or abort is itself the loads verdict.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realworld.child import ChildOutcome, Work, run_children
from realworld.entry import Context, Entry

__all__ = ["BACKENDS", "BackendTruth", "error_text", "fresh_load", "truth", "truth_from",
           "truth_jobs"]

BACKENDS = ("pickle", "dill", "cloudpickle")
STEP_TIMEOUT = 60.0
FRESH_TIMEOUT = 60.0

_KEEP: list[Any] = []  # loaded copies, kept so a broken finalizer cannot hang the child

_FRESH_BOOT = (
    "import sys, json\n"
    "sys.path[:] = json.loads(sys.stdin.buffer.readline())\n"
    "import importlib\n"
    "mod = importlib.import_module(sys.argv[1])\n"
    "mod.loads(sys.stdin.buffer.read())\n"
)


@dataclass
class BackendTruth:
    """One backend's real behaviour on one object.

    ``loads`` and ``fresh`` are None when not reached or not asked for. ``usable`` is
    None without a probe, else whether the copy answered the probe as the original did.
    """

    backend: str
    dumps: bool
    dumps_error: str = ""
    loads: bool | None = None
    loads_error: str = ""
    usable: bool | None = None
    fresh: bool | None = None
    fresh_error: str = ""

    @property
    def ok(self) -> bool:
        """What ``BackendResult.ok`` must say with the default round trip."""
        return self.dumps and bool(self.loads)

    @property
    def stage(self) -> str | None:
        if not self.dumps:
            return "dumps"
        return None if self.loads else "loads"

    def describe(self) -> str:
        parts = [f"dumps {'ok' if self.dumps else 'fails: ' + self.dumps_error}"]
        if self.loads is not None:
            parts.append(f"loads {'ok' if self.loads else 'fails: ' + self.loads_error}")
        if self.usable is not None:
            parts.append("copy usable" if self.usable else "copy NOT usable (probe differs)")
        if self.fresh is not None:
            parts.append(f"fresh {'ok' if self.fresh else 'fails: ' + self.fresh_error}")
        return f"{self.backend}: " + "; ".join(parts)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def truth(entry: Entry, tmp: Path) -> dict[str, BackendTruth]:
    """Each backend's real verdict on ``entry``'s object, one forked child per backend."""
    return truth_from(run_children(truth_jobs(entry, tmp)))


def truth_jobs(entry: Entry, tmp: Path) -> list[tuple[Work, float]]:
    """The children :func:`truth` runs (to run alongside others with ``run_children``)."""
    jobs = []
    for backend in BACKENDS:
        folder = tmp / f"truth-{backend}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs.append((_work(entry, backend, folder), STEP_TIMEOUT))
    return jobs


def truth_from(outcomes: list[ChildOutcome]) -> dict[str, BackendTruth]:
    """The truth from the outcomes of :func:`truth_jobs`, in the same order."""
    return {b: _from_outcome(b, o) for b, o in zip(BACKENDS, outcomes, strict=True)}


def _work(entry: Entry, backend: str, tmp: Path) -> Work:
    def work(emit: Callable[[dict[str, Any]], None]) -> None:
        module = importlib.import_module(backend)
        ctx = Context(tmp)
        try:
            obj = entry.build(ctx)
            _steps(entry, module, obj, emit)
        finally:
            ctx.teardown()
    return work


def _steps(entry: Entry, module: Any, obj: Any, emit: Callable[[dict[str, Any]], None]) -> None:
    try:
        data = module.dumps(obj)
    except Exception as exc:  # noqa: BLE001 - a failing dumps is the verdict
        emit({"event": "dumps", "ok": False, "error": error_text(exc)})
        return
    emit({"event": "dumps", "ok": True, "size": len(data)})
    if entry.fresh:
        ok, error = fresh_load(module.__name__, data)
        emit({"event": "fresh", "ok": ok, "error": error})
    expected = _probe(entry, obj) if entry.probe is not None else ""
    emit({"event": "loads", "ok": None, "error": "started"})
    try:
        copy = module.loads(data)
    except Exception as exc:  # noqa: BLE001 - a failing loads is the verdict
        emit({"event": "loads", "ok": False, "error": error_text(exc)})
        return
    emit({"event": "loads", "ok": True, "error": ""})
    _KEEP.append(copy)  # never collected: the child leaves with os._exit, finalizers unrun
    if entry.probe is not None:  # asked of the original before the load, of the copy after
        emit({"event": "usable", "ok": None})  # a probe that hangs leaves this as the answer
        emit({"event": "usable", "ok": _probe(entry, copy) == expected, "expected": expected})


def _probe(entry: Entry, obj: Any) -> str:
    try:
        return repr(entry.probe(obj))  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - a probe that raises on the copy is an answer
        return f"raised {type(exc).__name__}"


def fresh_load(backend: str, data: bytes, timeout: float = FRESH_TIMEOUT) -> tuple[bool, str]:
    """Load ``data`` with ``backend`` in a new interpreter with this ``sys.path``."""
    import json

    path = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
    header = json.dumps(path).encode() + b"\n"
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", _FRESH_BOOT, backend],
                              input=header + data, capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:g} s"
    if proc.returncode == 0:
        return True, ""
    tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return False, (tail[-1] if tail else f"exit code {proc.returncode}")[:300]


def _from_outcome(backend: str, outcome: ChildOutcome) -> BackendTruth:
    dumps = outcome.last("dumps")
    if dumps is None:
        return BackendTruth(backend, False, f"no dumps verdict: {outcome.describe()}"[:300])
    truth = BackendTruth(backend, bool(dumps["ok"]), dumps.get("error", ""))
    fresh = outcome.last("fresh")
    if fresh is not None:
        truth.fresh, truth.fresh_error = bool(fresh["ok"]), fresh["error"]
    loads = outcome.last("loads")
    if loads is not None:
        if loads["ok"] is None:  # started but never finished: the hang or abort is the answer
            truth.loads, truth.loads_error = False, f"loads {outcome.status}: {outcome.error}"[:300]
        else:
            truth.loads, truth.loads_error = bool(loads["ok"]), loads["error"]
    usable = outcome.last("usable")
    if usable is not None:
        truth.usable = bool(usable["ok"])  # None (started, never answered) counts as unusable
    return truth
