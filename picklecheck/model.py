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
    "Entry",
    "PathStep",
    "Report",
    "Within",
    "format_path",
]

# Step kinds. "item" is ``[key]``, "index" is ``[3]``, "attr" is ``.name`` (``.__dict__['a b']``
# for a name that is not an identifier: the walker makes one only for an attribute held in
# the instance dict); "opaque" is a
# place no Python expression names (a set member, a reduce argument), rendered ``[<label>]``;
# "pattern" stands for the positions a group of alike culprits differs in: ``[0..99]``, ``[*]``.
ITEM, INDEX, ATTR, OPAQUE, PATTERN = "item", "index", "attr", "opaque", "pattern"

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

    @classmethod
    def pattern(cls, label: str) -> PathStep:
        return cls(PATTERN, label)

    @property
    def evaluable(self) -> bool:
        """True when the rendered step is valid Python that reaches the same object."""
        if self.kind == INDEX:
            return True
        if self.kind == ATTR:
            return isinstance(self.value, str)
        if self.kind == ITEM:
            return _is_literal_key(self.value)
        return False

    def render(self) -> str:
        if self.kind == INDEX:
            return f"[{self.value}]"
        if self.kind == ATTR:
            if dotted(self.value):
                return f".{self.value}"
            return f".__dict__[{self.value!r}]"
        if self.kind == ITEM:
            if _literal(self.value):
                text = _key_text(self.value)
                if len(text) <= _MAX_KEY_REPR:
                    return f"[{text}]"
                return f"[<key {text[:_MAX_KEY_REPR - 3]}...>]"
            return f"[<key of type {_type_name(self.value)}>]"
        if self.kind == PATTERN:
            return f"[{self.value}]"
        return f"[<{self.value}>]"


def dotted(name: str) -> bool:
    """Whether ``obj.name`` is Python (else the attribute is ``obj.__dict__['name']``)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def _key_text(key: Any) -> str:
    """``1, 0`` for a tuple key of two or more items (``arr[1, 0]`` is ``arr[(1, 0)]``)."""
    if type(key) is tuple and len(key) > 1:
        return ", ".join(repr(k) for k in key)
    return repr(key)


def _is_literal_key(key: Any) -> bool:
    """Whether ``[key]`` is shown as Python that makes an equal key (see render)."""
    return _literal(key) and len(_key_text(key)) <= _MAX_KEY_REPR


def _literal(key: Any) -> bool:
    if type(key) in _LITERAL_KEY_TYPES:
        return not (isinstance(key, float) and key != key)  # nan never compares equal
    if type(key) in (tuple, frozenset):  # frozenset({1, 2}) is its own repr
        return all(map(_literal, key))
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
    within: Within | None = field(default=None, repr=False)

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
            "within": self.within.path if self.within is not None else None,
        }


@dataclass
class Within:
    """The library object a culprit sits inside, which the report shows instead.

    A SQLAlchemy Session with fifty culprits deep inside is one decision for the user:
    do not send the Session. ``path`` is the Session's path (a prefix of the culprit's),
    ``hint`` what to do about it. Culprits inside the same object share one ``Within``.
    """

    path: str
    obj: Any = field(repr=False, compare=False)
    type: str
    hint: str
    steps: tuple[PathStep, ...] = field(default=(), repr=False)
    evaluable: bool = True


@dataclass
class Entry:
    """One item of a report as people read it: a culprit, several alike culprits, or a
    library object with culprits inside.

    ``path`` is the object's path, or for a group a pattern (``state['items'][0..99]``)
    with every member in ``paths``; ``objs`` are the objects the entry names (the
    culprits themselves, or the library objects they sit in when ``inside``).
    ``culprits`` are every culprit the entry stands for; the report keeps them all in
    :attr:`Report.culprits` too.
    """

    path: str
    type: str
    kind: str
    hint: str
    backends: tuple[str, ...]
    culprits: list[Culprit]
    paths: list[str]
    objs: list[Any] = field(default_factory=list, repr=False, compare=False)
    steps: tuple[PathStep, ...] = field(default=(), repr=False)
    inside: bool = False

    @property
    def count(self) -> int:
        """How many objects the entry names (one unless it is a group)."""
        return len(self.paths)

    @property
    def obj(self) -> Any:
        return self.objs[0] if self.objs else None

    @property
    def first(self) -> Culprit:
        return self.culprits[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "kind": self.kind,
            "inside": self.inside,
            "count": self.count,
            "paths": list(self.paths),
            "hint": self.hint,
            "backends": list(self.backends),
            "culprits": [c.path for c in self.culprits],
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
    #: What the fresh load warned of ("InconsistentVersionWarning: Trying to unpickle
    #: estimator ... from version 1.9.1 when using version 1.4.2"): it loaded, but see.
    fresh_warnings: list[str] = field(default_factory=list)
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
            "fresh_warnings": list(self.fresh_warnings),
            "skipped": list(self.skipped),
            "truncated": self.truncated,
            "isolation": self.isolation,
            "worker": self.worker,
            "culprits": [c.to_dict() for c in self.culprits],
        }


class _LazyField:
    """A dataclass field whose value may be given as anything with a ``make()`` (worked
    out on first read, then kept): a report's entries read its culprits' hints, which
    the engine works out only when someone reads them. The default is an empty list."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_lazy_" + name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return ()  # the dataclass's default (immutable); __set__ makes it a list
        value = obj.__dict__[self.slot]
        if hasattr(value, "make") and not isinstance(value, list):
            value = obj.__dict__[self.slot] = list(value.make())
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value if hasattr(value, "make") else list(value)


@dataclass
class Report:
    """The result of :func:`picklecheck.check`: one :class:`BackendResult` per backend,
    the culprits merged across backends (one per object), and ``entries``: the same
    culprits as a person reads them, alike ones grouped and those inside a library
    object collapsed into it (one entry per culprit when ``expanded``)."""

    name: str
    type: str
    repr: str
    protocol: int | None
    results: dict[str, BackendResult]
    culprits: list[Culprit] = field(default_factory=list)
    python: str = ""
    #: The other interpreter fresh loads ran in (``check(python=...)``), as
    #: "path (Python 3.13.0)"; empty when they ran in this one.
    fresh_python: str = ""
    entries: list[Entry] = _LazyField()  # type: ignore[assignment]
    expanded: bool = False

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
            "fresh_python": self.fresh_python,
            "results": {name: r.to_dict() for name, r in self.results.items()},
            "culprits": [c.to_dict() for c in self.culprits],
            "entries": [e.to_dict() for e in self.entries],
        }

    def __str__(self) -> str:
        from picklecheck.report.render import render_plain

        return render_plain(self)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lazy_entries"] = self.entries  # worked out: a pickle holds no closure
        return state


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for the engine's merging code."""
    return dataclasses.replace(obj, **changes)
