"""Where the bytes of a payload come from: sizes by path, with shares of the total.

:func:`profile` answers "which sub-objects make this pickle big?" without pickling
every subtree on its own (which would cost one ``dumps`` per node). It works in passes
of the backend's own pickler:

* the first pass is one plain dump: the exact total;
* each later pass pickles the whole object again with one pickler, but the objects
  chosen for a closer look are not dumped whole: each of their children (as
  :func:`picklecheck.walker.expand` names them) is dumped on its own, one ``dump()``
  call after another, and the bytes written between calls are that child's size.
  The memo survives ``dump()`` calls, so an object shared by two children counts once,
  for the first child that reaches it, as in the real payload. What a node's children
  do not account for is the node *itself* (dict keys, class reference, opcodes).

Only the largest leaves are opened in the next pass, so the cost is about one dump
per level of drill-down. The leaves and the "itself" parts partition the total.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from picklecheck.backends import Backend, get_backend
from picklecheck.engine.saferepr import type_name
from picklecheck.tools.meter import Meter, Node, Pass, new_pickler

__all__ = ["SizeEntry", "SizeProfile", "profile", "render_profile"]

_MAX_PASSES = 12
_MIN_BYTES = 64
_SLACK = 64  # bytes of attribution noise tolerated per opened node


@dataclass
class SizeEntry:
    """One slice of the payload: an object's bytes (``kind="object"``), the bytes of a
    container itself (``"itself"``: keys, class reference, opcodes), or the entries
    left out of the top (``"rest"``)."""

    path: str
    type: str
    size: int
    share: float
    kind: str = "object"
    count: int = 1
    items: int | None = None
    evaluable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "type": self.type, "size": self.size,
            "share": self.share, "kind": self.kind, "count": self.count,
            "items": self.items, "evaluable": self.evaluable,
        }


@dataclass
class SizeProfile:
    """The result of :func:`profile`. ``entries`` (largest first) and ``rest`` add up
    to ``total``, the size of one real dump."""

    name: str
    type: str
    backend: str
    protocol: int
    total: int
    entries: list[SizeEntry] = field(default_factory=list)
    rest: SizeEntry | None = None
    passes: int = 1

    def __str__(self) -> str:
        """The table, as ``picklecheck --sizes`` prints it."""
        return render_profile(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "backend": self.backend,
            "protocol": self.protocol, "total": self.total, "passes": self.passes,
            "entries": [e.to_dict() for e in self.entries],
            "rest": self.rest.to_dict() if self.rest is not None else None,
        }


def profile(obj: Any, backend: str = "pickle", protocol: int | None = None, top: int = 20,
            name: str = "obj") -> SizeProfile:
    """Which sub-objects account for the bytes of ``obj``'s pickle, largest first.

    Returns at most ``top`` entries (paths rooted at ``name``, with bytes and share)
    and the rest grouped. Raises :class:`~picklecheck.UnpicklableError` when ``obj``
    does not pickle with ``backend``.
    """
    if top < 1:
        msg = f"top must be at least 1, not {top!r}"
        raise ValueError(msg)
    chosen = get_backend(backend)
    proto = chosen.default_protocol() if protocol is None else protocol
    root = Node(obj)
    root.size = _total(obj, chosen, proto, name)
    threshold = max(_MIN_BYTES, root.size // (2 * top))
    passes = 1
    plan = _plan(root, threshold)
    while plan and passes <= _MAX_PASSES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dill warns about what it pickles anyway
            Pass(chosen, proto, {id(node) for node in plan}).visit(root)
        passes += 1
        _undo_unhelpful(plan, threshold, top)
        _reconcile(root)
        plan = _plan(root, threshold)
    return _summarize(root, name, chosen.name, proto, top, passes)


def _total(obj: Any, backend: Backend, proto: int, name: str) -> int:
    meter = Meter(proto)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            new_pickler(backend, meter, proto).dump(obj)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - explained by the engine, then re-raised
        from picklecheck.engine.check import assert_picklable

        default = proto == backend.default_protocol()
        assert_picklable(obj, backend.name, name=name, protocol=None if default else proto,
                         roundtrip=False)
        raise exc
    return meter.size


def _plan(root: Node, threshold: int) -> list[Node]:
    """Leaves big enough to open in the next pass."""
    out = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.children is not None:
            stack.extend(node.children)
        elif not node.final and node.size >= threshold:
            out.append(node)
    return out


def _undo_unhelpful(opened: list[Node], threshold: int, top: int) -> None:
    """Close what opening did not explain: a wide node whose mass is spread over many
    small children, or children that claim more bytes than their parent has (a
    reference back to a container being pickled)."""
    for node in opened:
        kids = node.children
        if kids is None:
            if node.largest is not None and node.largest < threshold:
                node.final = True  # wide, and no part of it stands out
            continue
        spread = len(kids) > top and max((c.size for c in kids), default=0) < threshold
        own = node.own()
        if kids and -_SLACK <= own < 0:
            # A stand-in for a back reference costs a few bytes more than the real one.
            max(kids, key=lambda c: c.size).size += own
            own = 0
        if not kids or spread or own < 0 or not _nameable(node):
            node.children = None
            node.final = True


def _reconcile(root: Node) -> None:
    """Keep every open node's children within its size, top-down, so that the leaves
    and the "itself" parts partition the total exactly. Children measured in a later
    pass can differ by a few bytes from the pass that sized their parent."""
    stack = [root]
    while stack:
        node = stack.pop()
        kids = node.children
        if kids is None:
            continue
        own = node.own()
        if -_SLACK <= own < 0:
            max(kids, key=lambda c: c.size).size += own
        elif own < 0:
            node.children = None
            node.final = True
            continue
        stack.extend(kids)


def _nameable(node: Node) -> bool:
    """Does some child have a name a person can use (not only reduce arguments)?"""
    expansion = node.children[0].expansion if node.children else None
    if expansion is None:
        return False
    return any(expansion.child(i).steps[-1].evaluable for i in range(len(expansion)))


# -- from the tree to the top entries ----------------------------------------------

def _leaves(root: Node) -> list[tuple[Node, str, int]]:
    out: list[tuple[Node, str, int]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.children is None:
            out.append((node, "object", node.size))
        else:
            out.append((node, "itself", node.own()))
            stack.extend(reversed(node.children))
    return out


def _summarize(root: Node, name: str, backend: str, proto: int, top: int,
               passes: int) -> SizeProfile:
    total = root.size
    leaves = [leaf for leaf in _leaves(root) if leaf[2] > 0 or leaf[0] is root]
    paths = _unique_paths(root, name)
    leaves.sort(key=lambda leaf: -leaf[2])  # stable: ties stay in pickling order
    entries = [_entry(node, kind, size, paths[id(node)], total)
               for node, kind, size in leaves[:top]]
    rest = None
    others = leaves[top:]
    if others:
        size = sum(leaf[2] for leaf in others)
        rest = SizeEntry(path=f"({len(others)} more)", type="", size=size,
                         share=size / total if total else 0.0, kind="rest",
                         count=len(others), evaluable=False)
    return SizeProfile(name=name, type=type_name(root.obj), backend=backend, protocol=proto,
                       total=total, entries=entries, rest=rest, passes=passes)


def _unique_paths(root: Node, name: str) -> dict[int, tuple[str, bool]]:
    """A path for every node, each used once. Where the walker names two different
    objects alike (a set's elements, two reduce arguments that both look like
    ``__globals__``), the largest keeps the name and the others say which part of
    their parent they are: ``task[<args 1>]``."""
    nodes = _preorder(root)
    raw: dict[int, str] = {id(root): name}
    winner: dict[str, Node] = {}
    for node in nodes[1:]:
        path = raw[id(node)] = raw[id(node.parent)] + _steps_text(node)
        best = winner.get(path)
        if best is None or node.size > best.size:
            winner[path] = node
    out: dict[int, tuple[str, bool]] = {id(root): (name, True)}
    for node in nodes[1:]:
        parent_path, parent_ok = out[id(node.parent)]
        child = node.expansion.child(node.index)
        if winner[raw[id(node)]] is node:
            out[id(node)] = (parent_path + _steps_text(node),
                             parent_ok and all(step.evaluable for step in child.steps))
        else:
            out[id(node)] = (f"{parent_path}[<{child.role} {node.index}>]", False)
    return out


def _preorder(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children or ()))
    return out


def _steps_text(node: Node) -> str:
    return "".join(step.render() for step in node.expansion.child(node.index).steps)


def _entry(node: Node, kind: str, size: int, where: tuple[str, bool],
           total: int) -> SizeEntry:
    items = None
    if type(node.obj) in (list, tuple, dict, set, frozenset):
        items = len(node.obj)
    return SizeEntry(
        path=where[0], type=type_name(node.obj), size=size,
        share=size / total if total else 0.0, kind=kind, items=items, evaluable=where[1],
    )


def render_profile(prof: SizeProfile) -> str:
    """The profile as plain text: one line per path, largest first."""
    from picklecheck.report.render import format_bytes

    lines = [f"{prof.name}: {prof.type}, {format_bytes(prof.total)} with {prof.backend} "
             f"(protocol {prof.protocol})", ""]
    rows = list(prof.entries) + ([prof.rest] if prof.rest is not None else [])
    width = max((len(_label(e)) for e in rows), default=0)
    for entry in rows:
        detail = entry.type
        if entry.items is not None:
            detail += f", {entry.items:,} item{'' if entry.items == 1 else 's'}"
        lines.append(f"  {format_bytes(entry.size):>10}  {entry.share * 100:5.1f}%  "
                     f"{_label(entry).ljust(width)}  {detail}".rstrip())
    return "\n".join(lines)


def _label(entry: SizeEntry) -> str:
    return entry.path + (" (itself)" if entry.kind == "itself" else "")
