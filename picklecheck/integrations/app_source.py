"""Where in the app's own script a session-state key is set, for warnings that point there.

The Streamlit hook checks session state after the script has finished, so no frame
of the app is on the stack when it warns; Python would attribute the warning to
picklecheck's file. :func:`line_setting` reads the script (cached by modification
time) and finds the first statement that stores the key: ``st.session_state.k = ...``,
``st.session_state["k"] = ...`` (augmented and annotated too), ``.setdefault("k", ...)``,
``.update(k=...)``, or a widget call with ``key="k"``. It is a reading of the source,
not a trace: a key set through a variable name is not found, and the caller falls back
to the line that called :func:`picklecheck.streamlit.enable`.
"""

from __future__ import annotations

import ast
import os
from typing import Any

__all__ = ["line_setting"]

_TREES: dict[str, tuple[int, ast.Module | None]] = {}


def line_setting(path: str, key: str) -> int | None:
    """The first line of ``path`` that sets ``key`` in session state, or None."""
    tree = _parse(path)
    if tree is None:
        return None
    lines = [getattr(node, "lineno", 0) for node in ast.walk(tree) if _sets(node, key)]
    return min(lines) if lines else None


def _parse(path: str) -> ast.Module | None:
    try:
        stamp = os.stat(path).st_mtime_ns
        cached = _TREES.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(path, "rb") as file:
            tree: ast.Module | None = ast.parse(file.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    _TREES[path] = (stamp, tree)
    return tree


def _sets(node: ast.AST, key: str) -> bool:
    if isinstance(node, ast.Assign):
        return any(_names_key(target, key) for target in node.targets)
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return _names_key(node.target, key)
    if isinstance(node, ast.Call):
        if any(kw.arg == "key" and _constant(kw.value) == key for kw in node.keywords):
            return True
        func = node.func
        if isinstance(func, ast.Attribute) and _is_state(func.value):
            if func.attr == "setdefault" and node.args and _constant(node.args[0]) == key:
                return True
            if func.attr == "update" and any(kw.arg == key for kw in node.keywords):
                return True
    return False


def _names_key(target: ast.AST, key: str) -> bool:
    if isinstance(target, ast.Attribute):
        return target.attr == key and _is_state(target.value)
    if isinstance(target, ast.Subscript):
        return _constant(target.slice) == key and _is_state(target.value)
    return False


def _is_state(node: ast.AST) -> bool:
    """``st.session_state``, ``session_state`` or a name bound to it (``state``, ``ss``)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "session_state"
    return isinstance(node, ast.Name) and node.id in ("session_state", "state", "ss")


def _constant(node: Any) -> Any:
    return node.value if isinstance(node, ast.Constant) else None
