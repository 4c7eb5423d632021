"""The user's own words for a failed call: ``pool.map(work, jobs)``, read from the source.

A report speaks in the user's terms when it names what they passed: ``jobs[3].lock``
rather than ``task[3][0][1][0].lock``. The frame that called into the framework says
which line (and on 3.11+, which columns) made the call; parsing that file finds the
call and the source text of each argument. Nothing is evaluated: a plain name is looked
up in the frame's variables, and that is all.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import sys
import types
from dataclasses import dataclass, field
from typing import TypeGuard

__all__ = ["MISSING", "CallSite", "find_call", "find_deferred_call", "is_name", "lookup_name", "short"]

_MAX_TEXT = 80
_PARSED: dict[tuple[str, int], ast.Module | None] = {}
_MISSING = object()


@dataclass(frozen=True)
class CallSite:
    """A call expression as written: its text, the method called, each argument's text."""

    text: str
    method: str
    receiver: str = ""  # what the method is called on: ``pool`` in ``pool.map(...)``
    args: tuple[str, ...] = ()
    keywords: dict[str, str] = field(default_factory=dict)
    starred: bool = False  # a *args or **kwargs hides which argument is which

    def arg(self, index: int) -> str | None:
        """The source of positional argument ``index``, unless a ``*`` hides it."""
        if index < len(self.args) and not self.args[index].startswith("*"):
            if all(not a.startswith("*") for a in self.args[:index]):
                return self.args[index]
        return None

    def keyword(self, name: str) -> str | None:
        return self.keywords.get(name)


def short(text: str, size: int = _MAX_TEXT) -> str:
    """One line, at most ``size`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 3] + "..."


def is_name(text: str | None) -> TypeGuard[str]:
    """A dotted name (``jobs``, ``self.jobs``): safe to use as the root of a path."""
    return bool(text) and all(part.isidentifier() for part in str(text).split("."))


def _module_ast(filename: str) -> ast.Module | None:
    lines = linecache.getlines(filename)
    if not lines:
        return None
    key = (filename, hash(tuple(lines)))
    if key not in _PARSED:
        try:
            _PARSED[key] = ast.parse("".join(lines))
        except (SyntaxError, ValueError):
            _PARSED[key] = None
    return _PARSED[key]


#: Where a frame was when an exception passed through it: (line, instruction offset).
At = tuple[int, int]


def _position(frame: types.FrameType, at: At | None) -> tuple[int, int, int | None, int | None]:
    """The lines and on 3.11+ the columns of the instruction ``frame`` was at (``at``, from
    the traceback) or is at: (line, end line, column, end column)."""
    lineno, lasti = at if at is not None else (frame.f_lineno, frame.f_lasti)
    if sys.version_info >= (3, 11) and lasti >= 0:
        positions = list(frame.f_code.co_positions())
        index = lasti // 2
        if index < len(positions):
            start, end, col, end_col = positions[index]
            if start is not None and end is not None:
                return start, end, col, end_col
    return lineno, lineno, None, None


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _overlaps(node: ast.expr, where: tuple[int, int, int | None, int | None]) -> bool:
    """Whether ``node``'s source overlaps the instruction's (columns when known)."""
    line, end_line, col, end_col = where
    start = (node.lineno, node.col_offset)
    end = (getattr(node, "end_lineno", None) or node.lineno, getattr(node, "end_col_offset", None) or 0)
    if col is None or end_col is None:
        return start[0] <= end_line and end[0] >= line
    return start < (end_line, end_col) and end > (line, col)


def find_call(frame: types.FrameType | None, methods: tuple[str, ...],
              at: At | None = None) -> CallSite | None:
    """The innermost call of one of ``methods`` where ``frame`` was (``at``) or is."""
    if frame is None:
        return None
    tree = _module_ast(frame.f_code.co_filename)
    if tree is None:
        return None
    where = _position(frame, at)
    best: ast.Call | None = None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and _called_name(node) in methods
                and _overlaps(node, where)):
            if best is None or _span(node) <= _span(best):
                best = node
    return _site(best) if best is not None else None


def _span(node: ast.expr) -> tuple[int, int]:
    end_line = getattr(node, "end_lineno", 0) or 0
    return (end_line - node.lineno, (getattr(node, "end_col_offset", 0) or 0) - node.col_offset)


def _site(node: ast.Call) -> CallSite:
    args = tuple(ast.unparse(a) for a in node.args)
    keywords = {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg is not None}
    starred = any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords)
    receiver = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""
    return CallSite(text=short(ast.unparse(node)), method=_called_name(node) or "",
                    receiver=receiver, args=args, keywords=keywords, starred=starred)


def find_deferred_call(frame: types.FrameType | None, wrapper: str,
                       at: At | None = None) -> CallSite | None:
    """``delayed(f)(x, y)`` where ``frame`` was (``at``) or is: the outer call, whose
    arguments are the task's (joblib, Dask)."""
    if frame is None:
        return None
    tree = _module_ast(frame.f_code.co_filename)
    if tree is None:
        return None
    line, end_line, _col, _end_col = _position(frame, at)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Call)
                and _called_name(node.func) == wrapper
                and _overlaps(node, (line, end_line, None, None))):
            site = _site(node)
            return CallSite(text=site.text, method=wrapper, args=site.args,
                            keywords=site.keywords, starred=site.starred)
    return None


def lookup_name(frame: types.FrameType | None, text: str | None) -> object:
    """The value of a plain variable name in ``frame`` (locals, globals, builtins), or
    :data:`MISSING`. Attribute chains and expressions are not evaluated."""
    if frame is None or not text or not text.isidentifier():
        return MISSING
    for scope in (frame.f_locals, frame.f_globals, vars(builtins)):
        value = scope.get(text, _MISSING)
        if value is not _MISSING:
            return value
    return MISSING


MISSING = _MISSING
