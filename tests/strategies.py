"""Hypothesis strategies: random object graphs with unpicklable leaves planted at known paths."""

from __future__ import annotations

import collections
import threading
from typing import Any

from hypothesis import strategies as st

NAMES = st.sampled_from(["a", "b", "cfg", "data", "items", "x1", "_private", "value"])


class Node:
    """A plain instance: its state is its __dict__."""


class SlotNode:
    """An instance with __slots__: state is the slots dict."""

    __slots__ = ("left", "right")


def _gen():
    yield 1


CULPRIT_MAKERS = {
    "lock": threading.Lock,  # pickle and cloudpickle fail, dill copes
    "generator": _gen,  # every backend fails
}

leaves = st.one_of(
    st.tuples(st.just("atom"), st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats(allow_nan=False))),
    st.tuples(st.just("culprit"), st.sampled_from(sorted(CULPRIT_MAKERS))),
)


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("dict"), st.dictionaries(NAMES, children, max_size=4)),
        st.tuples(st.just("list"), st.lists(children, max_size=4)),
        st.tuples(st.just("tuple"), st.lists(children, max_size=4)),
        st.tuples(st.just("set"), st.lists(leaves, max_size=3)),
        st.tuples(st.just("obj"), st.dictionaries(NAMES, children, max_size=4)),
        st.tuples(st.just("slots"), st.tuples(children, children)),
    )


specs = st.recursive(leaves, _containers, max_leaves=25)


def build(spec: Any, path: str, planted: list[tuple[str, Any]]) -> Any:
    """Make the object a spec describes; record ``(path, culprit)`` for each planted leaf."""
    kind, body = spec
    if kind == "atom":
        return body
    if kind == "culprit":
        obj = CULPRIT_MAKERS[body]()
        planted.append((path, obj))
        return obj
    if kind == "dict":
        return {key: build(child, f"{path}[{key!r}]", planted) for key, child in body.items()}
    if kind in ("list", "tuple"):
        items = [build(child, f"{path}[{i}]", planted) for i, child in enumerate(body)]
        return items if kind == "list" else tuple(items)
    if kind == "set":
        members = [build(child, f"{path}[<set element>]", planted) for child in body]
        return set(members)
    if kind == "obj":
        node = Node()
        for name, child in body.items():
            setattr(node, name, build(child, f"{path}.{name}", planted))
        return node
    if kind == "slots":
        node = SlotNode()
        node.left = build(body[0], f"{path}.left", planted)
        node.right = build(body[1], f"{path}.right", planted)
        return node
    raise AssertionError(kind)


# -- parent/child object models: back-references, shared siblings, culprits anywhere --

square = lambda v: v * v  # noqa: E731 - pickle cannot save a lambda by name; dill and cloudpickle can

#: culprit kind -> (maker, the backends that fail on it)
MODEL_CULPRITS = {
    "lock": (threading.Lock, {"pickle", "cloudpickle"}),
    "generator": (_gen, {"pickle", "dill", "cloudpickle"}),
    "lambda": (lambda: square, {"pickle"}),
}


class Part:
    """A node of an object model: a parent, children, and whatever else it holds."""


models = st.fixed_dictionaries({
    # parent of node i (i >= 1) is parents[i - 1] % i: every node hangs under the root
    "parents": st.lists(st.integers(0, 1000), min_size=0, max_size=10),
    # extra references: (from, to, name) between any two nodes (siblings, cousins, ancestors)
    "links": st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000), NAMES), max_size=8),
    # culprits: (node, kind, where, share the culprit of the previous plant?), where is an
    # attribute, a big list, or a holder object (saved half-way when the culprit fails)
    "plants": st.lists(st.tuples(st.sampled_from([0, 1]) | st.integers(0, 1000),
                                 st.sampled_from(sorted(MODEL_CULPRITS)),
                                 st.sampled_from(["attr", "list", "holder"]), st.booleans()),
                       max_size=5),
    # plain settings per node (more than 8 attributes sends a node through the scan)
    "settings": st.lists(st.sampled_from([0, 1, 3, 9, 12]), min_size=11, max_size=11),
    # children held in a list, or in a tuple
    "tuples": st.booleans(),
})


def build_model(spec: dict[str, Any]) -> tuple[Part, list[tuple[Any, set[str]]]]:
    """The model a spec describes: its root, and each planted culprit with the backends
    that fail on it (a culprit planted twice is listed once)."""
    parts = [Part()]
    for i, p in enumerate(spec["parents"], start=1):
        node, parent = Part(), parts[p % i]
        node.parent = parent  # back-reference, saved before the node's own later attributes
        parent.__dict__.setdefault("children", []).append(node)
        parts.append(node)
    for node, n in zip(parts, spec["settings"], strict=False):
        for k in range(n):
            setattr(node, f"setting{k}", k)
    for a, b, name in spec["links"]:
        setattr(parts[a % len(parts)], f"peer_{name}", parts[b % len(parts)])
    planted: list[tuple[Any, set[str]]] = []
    for n, (at, kind, where, share) in enumerate(spec["plants"]):
        maker, failing = MODEL_CULPRITS[kind]
        culprit = planted[-1][0] if share and planted else maker()
        if not any(c is culprit for c, _ in planted):
            planted.append((culprit, failing))
        node = parts[at % len(parts)]
        if where == "list":
            node.__dict__.setdefault("log", list(range(9))).append(culprit)
        elif where == "holder":
            holder = node.__dict__.setdefault("holder", Part())
            setattr(holder, f"bad{n}", culprit)
        else:
            setattr(node, f"bad{n}", culprit)
    if spec["tuples"]:
        for node in parts:
            if "children" in node.__dict__:
                node.children = tuple(node.children)
    return parts[0], planted


def json_like() -> Any:
    """Parsed-JSON-like data: dicts and OrderedDicts of strings, numbers and lists, with
    the same objects reached twice (memo hits) and OrderedDicts holding themselves."""
    atoms = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
             | st.text(max_size=300) | st.binary(max_size=8))

    def twice(x: Any) -> list[Any]:
        return [x, x]

    def recursive(od: Any) -> Any:
        od["self"] = od
        return od

    def with_attr(od: Any) -> Any:
        od.note = "kept"  # its instance dict is saved after its items
        return od

    def containers(children: Any) -> Any:
        keys = st.text(max_size=6) | st.integers(-300, 300)
        ods = st.dictionaries(keys, children, max_size=6).map(collections.OrderedDict)
        return (st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6)
                | ods | children.map(twice) | ods.map(recursive) | ods.map(with_attr))

    return st.recursive(atoms, containers, max_leaves=40)
