"""Loading pickles in a fresh interpreter: what a worker process or a later run sees.

The parent starts ``python -I`` with the same ``sys.path`` (``''`` made absolute),
in an empty temporary directory, and sends the bytes on stdin. The child loads
them strictly (the verdict) and then leniently, with every global it cannot
import replaced by a stand-in, so that *every* missing global is reported, not
only the first. Loading uses the same hazard guard as in-process round trips.
The child answers with one JSON line on the original stdout; anything the loaded
code prints goes to stderr. Children run in parallel, each with a time limit.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FreshResult", "load_in_fresh_interpreters"]

DEFAULT_TIMEOUT = 60.0

_BOOT = (
    "import sys, json\n"
    "cfg = json.loads(sys.stdin.buffer.readline())\n"
    "cfg['default_path'] = sys.path[:]\n"
    "sys.path[:] = cfg['path']\n"
    "from picklecheck.isolation.fresh import child_main\n"
    "child_main(cfg)\n"
)


@dataclass
class FreshResult:
    ok: bool
    error: str | None = None
    exception: str | None = None
    missing: list[tuple[str, str, str]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def load_in_fresh_interpreters(payloads: dict[str, bytes],
                               timeout: float = DEFAULT_TIMEOUT,
                               workers: dict[str, dict[str, Any]] | None = None,
                               ) -> dict[str, FreshResult]:
    """Load each ``{backend_name: data}`` in its own new interpreter, in parallel.

    ``workers`` gives, per backend, the worker the interpreter stands for
    (:func:`picklecheck.isolation.workers.child_config`); by default a plain
    interpreter with this process's ``sys.path``.
    """
    if not payloads:
        return {}
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from picklecheck.isolation.workers import in_worker, worker_path

    if in_worker():
        return {name: FreshResult(False, "not checked: picklecheck starts no fresh "
                                  "interpreter from inside one (a main script that checks "
                                  "at import time was imported as __mp_main__)",
                                  "RuntimeError") for name in payloads}
    path = worker_path()
    configs = workers or {}
    with tempfile.TemporaryDirectory(prefix="picklecheck-") as cwd, \
            ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        futures = {
            name: pool.submit(_run_child, name, data,
                              configs.get(name) or {"path": path}, cwd, timeout)
            for name, data in payloads.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _run_child(backend: str, data: bytes, config: dict[str, Any], cwd: str,
               timeout: float) -> FreshResult:
    import subprocess

    header = json.dumps({**config, "backend": backend}).encode() + b"\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _BOOT], input=header + data, capture_output=True,
            timeout=timeout, cwd=cwd, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        return FreshResult(False, f"timed out after {timeout:g} s in a fresh interpreter",
                           "TimeoutError")
    except OSError as exc:
        return FreshResult(False, f"could not start a fresh interpreter: {exc}", "OSError")
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        detail = " / ".join(tail) or f"exit code {proc.returncode}"
        return FreshResult(False, f"the fresh interpreter crashed: {detail}", "ChildProcessError")
    return FreshResult(
        ok=bool(answer["ok"]), error=answer.get("error"), exception=answer.get("exception"),
        missing=[tuple(m) for m in answer.get("missing", [])],  # type: ignore[misc]
        blocked=list(answer.get("blocked", [])),
    )


# -- the child ---------------------------------------------------------------

def child_main(cfg: dict[str, Any]) -> None:
    """Entry point inside the fresh interpreter (see ``_BOOT``)."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # whatever the loaded code prints must not corrupt the answer
    data = sys.stdin.buffer.read()
    answer: dict[str, Any] = {"ok": True}
    prepared = _prepare(cfg)
    try:
        if prepared is not None:
            raise prepared
        _load(cfg["backend"], data, lenient=False)
    except BaseException as exc:  # noqa: BLE001 - report everything, including SystemExit
        from picklecheck.backends.hazards import HazardBlockedError

        error = f"{type(exc).__name__}: {exc}"
        if exc is prepared:
            error = f"importing the main script as __mp_main__ failed: {error}"
        answer = {"ok": False, "error": error,
                  "exception": type(exc).__name__, "missing": [], "blocked": []}
        if isinstance(exc, HazardBlockedError):
            answer["blocked"].append(exc.what)
        missing: list[tuple[str, str, str]] = []
        try:
            _load(cfg["backend"], data, lenient=True, missing=missing)
        except BaseException:  # noqa: BLE001, S110 - the lenient pass is best effort
            pass
        answer["missing"] = missing
    with os.fdopen(answer_fd, "w") as out:
        out.write(json.dumps(answer) + "\n")


def _prepare(cfg: dict[str, Any]) -> BaseException | None:
    """Become the worker the config describes (picklecheck.isolation.workers); what
    that raised, if anything (the worker would fail the same way)."""
    try:
        from picklecheck.isolation.workers import prepare_child

        prepare_child(cfg)
    except BaseException as exc:  # noqa: BLE001 - a main script may raise anything
        exc.__traceback__ = None
        return exc
    return None


def _load(backend_name: str, data: bytes, lenient: bool,
          missing: list[tuple[str, str, str]] | None = None) -> Any:
    import io

    from picklecheck.backends import get_backend

    unpickler = get_backend(backend_name).unpickler(io.BytesIO(data))
    if lenient:
        strict_find = unpickler.find_class

        def find_class(module: str, name: str) -> Any:
            try:
                return strict_find(module, name)
            except Exception as exc:  # noqa: BLE001
                assert missing is not None
                missing.append((module, name, f"{type(exc).__name__}: {exc}"))
                return _stand_in(module, name)

        unpickler.find_class = find_class
    return unpickler.load()


def _stand_in(module: str, name: str) -> type:
    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        return object.__new__(cls)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        pass

    def __setstate__(self: Any, state: Any) -> None:  # noqa: N807
        pass

    return type(name.rsplit(".", 1)[-1], (), {
        "__new__": __new__, "__init__": __init__, "__setstate__": __setstate__,
        "__module__": module,
    })
