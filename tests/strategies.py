"""Hypothesis strategies: random object graphs with unpicklable leaves planted at known paths."""

from __future__ import annotations

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
