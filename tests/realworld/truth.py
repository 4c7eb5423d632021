"""Ground truth, computed live: what the real pickle, dill and cloudpickle do with an object.

Nothing here is recorded. For each backend a forked child builds the object, runs the
backend's own ``dumps`` and then its ``loads`` in the same process (real, unguarded: the
factory's files live in a temporary directory), calls the entry's probe on the copy,
and, for entries marked ``fresh``, loads the same bytes in a new interpreter. Each step
is reported as it finishes, so a load that hangs (redis) or aborts (tqdm) still leaves
the dumps verdict, and the hang or abort is itself the loads verdict.

A copy that loads (and answers the probe) is then dropped and collected, with an audit
hook that records, and stops, each write, removal or rename its finalizers try (a
temporary file's copy deletes the file, a shelf's copy rewrites its index): a copy that
harms where it is dropped does not round-trip. A drop that never ends (a finalizer
that hangs or aborts) counts as harm too.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
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
    #: What dropping the loaded copy tried ("" nothing; None: not dropped).
    dropped: str | None = None

    @property
    def ok(self) -> bool:
        """What ``BackendResult.ok`` must say with the default round trip."""
        return self.dumps and bool(self.loads) and not self.drop_harms

    @property
    def drop_harms(self) -> bool:
        return bool(self.dropped)

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
        if self.dropped:
            parts.append(f"dropping the copy {self.dropped}")
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
    if entry.probe is not None:  # asked of the original before the load, of the copy after
        emit({"event": "usable", "ok": None})  # a probe that hangs leaves this as the answer
        usable = _probe(entry, copy) == expected
        emit({"event": "usable", "ok": usable, "expected": expected})
        if not usable:
            _KEEP.append(copy)  # never collected: its finalizer may hang (redis)
            return
    box = [copy]
    del copy
    emit({"event": "dropped", "what": "did not finish (it hangs or aborts)"})
    emit({"event": "dropped", "what": _drop(box)})


#: Audit events that write, remove or rename something, and the words for them.
_WRITES = {"os.remove": "removed", "os.rename": "renamed", "os.rmdir": "removed",
           "os.truncate": "truncated", "shutil.rmtree": "removed"}
_dropping: list[str] = []  # what the copy being dropped tried (see _drop)
#: Seconds a drop may take before it counts as hanging: a hang is what it detects, and a
#: collection on two busy cores once took more than 5 s (a logger's copy, in CI).
_DROP_LIMIT = 30
_hooked: list[bool] = []


def _drop(box: list[Any]) -> str:
    """Drop the copy in ``box`` (its last reference) and collect: what its finalizers
    tried to write, remove or rename, each refused by an audit hook, or ""."""
    if not _hooked:
        sys.addaudithook(_refuse_writes)
        _hooked.append(True)
    _dropping.append("")
    signal.signal(signal.SIGALRM, _too_long)
    signal.alarm(_DROP_LIMIT)
    try:
        box.clear()
        gc.collect()
    except TimeoutError:
        _dropping.append(f"did not finish within {_DROP_LIMIT} s")
    finally:
        signal.alarm(0)
    tried = [t for t in _dropping if t]
    _dropping.clear()
    return "; ".join(dict.fromkeys(tried))


def _too_long(signum: int, frame: Any) -> None:
    raise TimeoutError


def _refuse_writes(event: str, args: tuple[Any, ...]) -> None:
    if not _dropping:
        return
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags > 0
            and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        if not writing or isinstance(path, int) or str(path) == os.devnull:
            return
        _dropping.append(f"opened {path!s} for writing")
    elif event in _WRITES:
        _dropping.append(f"{_WRITES[event]} {args[0]!s}")
    else:
        return
    raise PermissionError(f"the truth oracle refused: {_dropping[-1]}")


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
    dropped = outcome.last("dropped")
    if dropped is not None:
        truth.dropped = str(dropped["what"])
    return truth
