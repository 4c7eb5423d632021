"""Plain data: what a check found. No logic beyond formatting a path.

Everything here is importable without dill, cloudpickle, rich or click, and every
field is either JSON-ready or excluded from :meth:`Report.to_dict`.
"""

from __future__ import annotations

import dataclasses
import keyword
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BackendResult",
    "Culprit",
    "PathStep",
    "Report",
    "format_path",
]

# Step kinds. "item" is ``[key]``, "index" is ``[3]``, "attr" is ``.name``; "opaque" is a
# place no Python expression names (a set member, a reduce argument), rendered ``[<label>]``.
ITEM, INDEX, ATTR, OPAQUE = "item", "index", "attr", "opaque"

_LITERAL_KEY_TYPES = (str, int, float, bool, bytes, type(None))
_MAX_KEY_REPR = 60


@dataclass(frozen=True)
class PathStep:
    """One hop from an object to something its pickler reaches."""

    kind: str
    value: Any

    @classmethod
    def item(cls, key: Any) -> PathStep:
        return cls(ITEM, key)

    @classmethod
    def index(cls, i: int) -> PathStep:
        return cls(INDEX, i)

    @classmethod
    def attr(cls, name: str) -> PathStep:
        return cls(ATTR, name)

    @classmethod
    def opaque(cls, label: str) -> PathStep:
        return cls(OPAQUE, label)

    @property
    def evaluable(self) -> bool:
        """True when the rendered step is valid Python that reaches the same object."""
        if self.kind == INDEX:
            return True
        if self.kind == ATTR:
            return self.value.isidentifier() and not keyword.iskeyword(self.value)
        if self.kind == ITEM:
            return _is_literal_key(self.value)
        return False

    def render(self) -> str:
        if self.kind == INDEX:
            return f"[{self.value}]"
        if self.kind == ATTR:
            if self.evaluable:
                return f".{self.value}"
            return f"[<attribute {self.value!r}>]"
        if self.kind == ITEM:
            if _is_literal_key(self.value):
                text = repr(self.value)
                if len(text) <= _MAX_KEY_REPR:
                    return f"[{text}]"
                return f"[<key {text[:_MAX_KEY_REPR - 3]}...>]"
            return f"[<key of type {_type_name(self.value)}>]"
        return f"[<{self.value}>]"


def _is_literal_key(key: Any) -> bool:
    if type(key) in _LITERAL_KEY_TYPES:
        if isinstance(key, float) and key != key:  # nan never compares equal
            return False
        return len(repr(key)) <= _MAX_KEY_REPR
    if type(key) is tuple:
        return all(_is_literal_key(k) for k in key)
    return False


def _type_name(obj: Any) -> str:
    t = type(obj)
    module = getattr(t, "__module__", None) or ""
    qualname = str(getattr(t, "__qualname__", None) or getattr(t, "__name__", "?"))
    return qualname if module in ("builtins", "") else f"{module}.{qualname}"


def format_path(root: str, steps: tuple[PathStep, ...] | list[PathStep]) -> str:
    """Render a root name and steps as ``root['db'].conn._lock``."""
    return root + "".join(step.render() for step in steps)


@dataclass
class Culprit:
    """The deepest object a backend cannot serialize (or load), and what to do about it.

    ``obj`` is the object itself (not part of ``to_dict``). ``path`` is a Python
    expression rooted at the check's ``name`` when ``evaluable`` is true, so that
    ``eval(path, {name: root}) is obj``.
    """

    path: str
    obj: Any = field(repr=False, compare=False)
    type: str
    reason: str
    exception: str
    kind: str
    hint: str
    backends: tuple[str, ...]
    stage: str = "dumps"  # "dumps", "loads" or "fresh"
    repr: str = ""
    evaluable: bool = True
    steps: tuple[PathStep, ...] = field(default=(), repr=False)
    detail: str = ""
    reasons: dict[str, str] = field(default_factory=dict, repr=False)
    works_with: dict[str, bool] = field(default_factory=dict, repr=False)
    #: For a backend in ``works_with`` as False that gets part of the way: how far
    #: ("dumps and loads, but the copy's lock can never be acquired").
    works_with_notes: dict[str, str] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "evaluable": self.evaluable,
            "type": self.type,
            "repr": self.repr,
            "kind": self.kind,
            "stage": self.stage,
            "exception": self.exception,
            "reason": self.reason,
            "detail": self.detail,
            "hint": self.hint,
            "backends": list(self.backends),
            "reasons": dict(self.reasons),
            "works_with": dict(self.works_with),
            "works_with_notes": dict(self.works_with_notes),
        }


@dataclass
class BackendResult:
    """What one backend did with the object.

    ``ok`` is true only when dumps succeeded and every load that was asked for
    (``roundtrip``, ``fresh``) succeeded too. ``roundtrip`` and ``fresh`` are None
    when that load was not run, True or False otherwise.
    """

    backend: str
    ok: bool
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    size: int | None = None
    dumps_seconds: float | None = None
    roundtrip: bool | None = None
    roundtrip_error: str | None = None
    loads_seconds: float | None = None
    fresh: bool | None = None
    fresh_error: str | None = None
    culprits: list[Culprit] = field(default_factory=list)
    truncated: bool = False
    skipped: list[str] = field(default_factory=list)
    available: bool = True
    isolation: str | None = None  # where loads ran: "sandbox", "process", "guarded"
    #: Which worker the fresh load stood for (picklecheck.isolation.workers): "interpreter",
    #: "spawn", "forkserver", "fork", "loky", "dask", "ray", "spark".
    worker: str | None = None

    @property
    def stage(self) -> str | None:
        """Where this backend failed first: "dumps", "loads", "fresh", or None if ok."""
        if self.ok:
            return None
        if self.error is not None or not self.available:
            return "dumps"
        if self.roundtrip is False:
            return "loads"
        return "fresh"

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "available": self.available,
            "ok": self.ok,
            "stage": self.stage,
            "error": self.error,
            "size": self.size,
            "dumps_seconds": self.dumps_seconds,
            "roundtrip": self.roundtrip,
            "roundtrip_error": self.roundtrip_error,
            "loads_seconds": self.loads_seconds,
            "fresh": self.fresh,
            "fresh_error": self.fresh_error,
            "skipped": list(self.skipped),
            "truncated": self.truncated,
            "isolation": self.isolation,
            "worker": self.worker,
            "culprits": [c.to_dict() for c in self.culprits],
        }


@dataclass
class Report:
    """The result of :func:`picklecheck.check`: one :class:`BackendResult` per backend,
    plus the culprits merged across backends (one entry per object)."""

    name: str
    type: str
    repr: str
    protocol: int | None
    results: dict[str, BackendResult]
    culprits: list[Culprit] = field(default_factory=list)
    python: str = ""

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results.values())

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(self.results)

    def succeeded(self) -> tuple[str, ...]:
        """Names of the backends that dumps and loads the whole object."""
        return tuple(name for name, r in self.results.items() if r.ok)

    def failed(self) -> tuple[str, ...]:
        return tuple(name for name, r in self.results.items() if not r.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "repr": self.repr,
            "ok": self.ok,
            "protocol": self.protocol,
            "python": self.python,
            "results": {name: r.to_dict() for name, r in self.results.items()},
            "culprits": [c.to_dict() for c in self.culprits],
        }

    def __str__(self) -> str:
        from picklecheck.report.render import render_plain

        return render_plain(self)


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for the engine's merging code."""
    return dataclasses.replace(obj, **changes)
