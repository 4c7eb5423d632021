"""Measuring one pickle in parts: the pickler and sink behind :mod:`picklecheck.sizes`.

A :class:`Pass` pickles the whole object with one pickler of the backend's own class,
but an *open* node is never dumped whole: each of its children is dumped on its own,
one ``dump()`` call after another, and the bytes the sink receives in between (less
the header, frame and STOP bytes a separate ``dump()`` adds) are that child's size.
The memo survives ``dump()`` calls, so whatever two children share is counted once,
for the first, exactly as in the real payload. A child that refers back to an open
node meets a small stand-in (:func:`_ancestor`) instead of pickling the node again.
"""

from __future__ import annotations

from typing import Any

from picklecheck.backends import Backend, Sink
from picklecheck.engine.walker import ATOMS, expand
from picklecheck.model import ATTR, ITEM, PathStep

__all__ = ["Meter", "Node", "Pass", "new_pickler"]

_PROTO, _FRAME = 0x80, 0x95
MAX_CHILDREN = 100_000  # wider nodes are reported whole, never opened
WIDE = 256  # wider nodes are first measured in BLOCKS runs of children
BLOCKS = 64


class Node:
    """One object in the size tree: its size, and its children once it is open."""

    __slots__ = ("obj", "parent", "expansion", "index", "size", "children", "final", "largest")

    def __init__(self, obj: Any, parent: Node | None = None, expansion: Any = None,
                 index: int = 0) -> None:
        self.obj = obj
        self.parent = parent
        self.expansion = expansion  # the parent's, to name this child only when shown
        self.index = index
        self.size = 0
        self.children: list[Node] | None = None
        self.final = type(obj) in ATOMS  # never opened: atom, too wide, or undone
        self.largest: int | None = None  # a wide node's largest block of children

    def own(self) -> int:
        assert self.children is not None
        return self.size - sum(c.size for c in self.children)

    def steps(self) -> tuple[PathStep, ...]:
        if self.parent is None:
            return ()
        return self.parent.steps() + self.expansion.child(self.index).steps


def new_pickler(backend: Backend, file: Any, proto: int) -> Any:
    """The backend's pickler class with its own defaults (as ``dumps`` uses it), able to
    stand in for objects whose children are being measured."""
    pickler = backend.pickler(Sink(), proto)
    if isinstance(getattr(pickler, "memo", None), dict):  # a pure-Python pickler (dill)
        return _made(type(pickler), file, proto)
    pickler = _made(_metered_class(type(pickler)), file, proto)
    pickler._open = set()
    return pickler


def _made(cls: Any, file: Any, proto: int) -> Any:
    """A pickler of ``cls`` on ``file`` with protocol ``proto``: by keyword (loky's, joblib's,
    takes reducers second), or by position (multiprocessing's takes only positions)."""
    try:
        return cls(file, protocol=proto)
    except TypeError:
        return cls(file, proto)


class Meter:
    """A sink that counts bytes, and the bytes a separate ``dump()`` adds (protocol
    header, frame headers), so that a child's size is what it costs inside the whole."""

    __slots__ = ("size", "overhead", "_start", "_framed")

    def __init__(self, protocol: int) -> None:
        self.size = 0
        self.overhead = 0
        self._start = False
        self._framed = protocol >= 4

    def begin(self) -> None:
        self._start = True

    def write(self, data: Any) -> int:
        if type(data) is not bytes:
            data = memoryview(data).cast("B")  # a PickleBuffer has no len()
        n = len(data)
        self.size += n
        offset = 0
        if self._start:
            self._start = False
            if n >= 2 and data[0] == _PROTO:
                offset = 2
        if self._framed and n - offset >= 9 and data[offset] == _FRAME:
            length = int.from_bytes(bytes(data[offset + 1:offset + 9]), "little")
            if length == n - offset - 9 or n - offset == 9:
                self.overhead += 9
        return n


def _ancestor() -> None:
    """Stands in for an object whose children are being measured, when one of them
    refers back to it: the object's own bytes are counted once, as its "itself"."""


_METERED: dict[type, type] = {}


def _metered_class(base: type) -> type:
    cls = _METERED.get(base)
    if cls is None:
        parent = getattr(base, "reducer_override", None)

        def reducer_override(self: Any, obj: Any) -> Any:
            if id(obj) in self._open:
                return (_ancestor, ())
            return parent(self, obj) if parent is not None else NotImplemented

        cls = _METERED[base] = type(f"Metered{base.__name__}", (base,),
                                    {"reducer_override": reducer_override})
    return cls


def _key_of(child: Node) -> Any:
    """The str key the pickler writes just before this child, if any: a dict key or a
    state attribute name. Not a child itself, it belongs to the parent's own bytes."""
    if child.expansion.kind in ("list", "set"):
        return None
    step = child.expansion.child(child.index).steps[-1]
    if step.kind in (ITEM, ATTR) and type(step.value) is str:
        return step.value
    return None


class Pass:
    """One pickler, walking the nodes that are open and dumping everything else."""

    def __init__(self, backend: Backend, proto: int, plan: set[int]) -> None:
        self.backend = backend
        self.plan = plan
        self.proto = proto
        self.meter = Meter(proto)
        self.pickler = new_pickler(backend, self.meter, proto)
        if not isinstance(self.pickler.memo, dict):
            self.pickler.dump(_ancestor)  # memoized now, so a stand-in costs a few bytes
        self.fixed = 3 if proto >= 2 else 1  # PROTO and STOP

    def visit(self, node: Node) -> None:
        if node.children is None:
            expansion = self._expand(node)
            if expansion is None:
                node.final = True
                self.measure(node)
                return
            if len(expansion) > WIDE and node.largest is None:
                self._open(node)
                node.largest = self._blocks(expansion.objs)
                self._close(node)
                return
            node.children = [Node(obj, node, expansion, i) for i, obj in enumerate(expansion.objs)]
        self._open(node)
        for child in node.children:
            key = _key_of(child)
            if key is not None:  # pickled before its value, and memoized: keep the memo true
                self.pickler.dump(key)
            if child.children is not None or id(child) in self.plan:
                self.visit(child)
            else:
                self.measure(child)
        self._close(node)

    def measure(self, node: Node) -> None:
        before, overhead = self.meter.size, self.meter.overhead
        self.meter.begin()
        self.pickler.dump(node.obj)
        node.size = self.meter.size - before - (self.meter.overhead - overhead) - self.fixed

    def _blocks(self, objs: Any) -> int:
        """The bytes of the largest of about 64 runs of children, each dumped as one
        list: a wide node costs a few dump() calls to rule out, not one per child."""
        step = -(-len(objs) // BLOCKS)
        largest = 0
        for start in range(0, len(objs), step):
            before, overhead = self.meter.size, self.meter.overhead
            self.meter.begin()
            self.pickler.dump(list(objs[start:start + step]))
            largest = max(largest, self.meter.size - before - (self.meter.overhead - overhead))
        return largest

    def _expand(self, node: Node) -> Any:
        try:
            expansion = expand(node.obj, self.backend, self.proto)
        except Exception:  # noqa: BLE001 - the first pass pickled it, so it is only opaque
            return None
        if not 0 < len(expansion) <= MAX_CHILDREN:
            return None
        return expansion

    def _open(self, node: Node) -> None:
        memo = self.pickler.memo
        if isinstance(memo, dict):
            if id(node.obj) not in memo:
                memo[id(node.obj)] = (len(memo), node.obj)
        else:
            self.pickler._open.add(id(node.obj))

    def _close(self, node: Node) -> None:
        if not isinstance(self.pickler.memo, dict):
            self.pickler._open.discard(id(node.obj))
