"""A one-pass, stack-tracking pure-Python pickler: the competitor picklecheck must beat.

The approach of torch.package's DebugPickler and of CPython 3.14's error notes:
subclass the pure-Python ``pickle._Pickler``, keep the stack of objects being
saved, and on the first error turn that stack into a path. Names are worked out
only after the failure, from consecutive pairs on the stack (dict key, list index,
``.attr`` when an instance is followed by its ``__dict__``), so the happy path
costs one list append and pop per ``save``. It finds the *first* culprit only.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["first_culprit"]


class _NullFile:
    def write(self, data: Any) -> int:
        return len(data)


class StackPickler(pickle._Pickler):  # type: ignore[name-defined, misc]
    def __init__(self, file: Any, protocol: int | None = None) -> None:
        super().__init__(file, protocol)
        self.stack: list[Any] = []
        self.failed: list[Any] | None = None

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        self.stack.append(obj)
        try:
            super().save(obj, save_persistent_id)
        except Exception:
            if self.failed is None:
                self.failed = list(self.stack)  # innermost frame: the full path
            raise
        finally:
            self.stack.pop()


def _step(parent: Any, child: Any) -> str:
    if type(parent) is dict:
        for key, value in parent.items():
            if value is child:
                return f"[{key!r}]"
            if key is child:
                return f"<key {key!r}>"
    elif type(parent) in (list, tuple):
        for i, item in enumerate(parent):
            if item is child:
                return f"[{i}]"
    return f"<{type(child).__name__}>"


def format_stack(stack: list[Any], name: str = "obj") -> str:
    """``obj['records'][12].meta['owner']`` from the objects on the pickler's stack."""
    path = name
    i = 0
    while i + 1 < len(stack):
        parent, child = stack[i], stack[i + 1]
        state = getattr(parent, "__dict__", None) if type(parent) not in (dict, list, tuple) else None
        if state is not None and child is state and i + 2 < len(stack):
            attr = next((k for k, v in state.items() if v is stack[i + 2]), None)
            path += f".{attr}" if isinstance(attr, str) else _step(state, stack[i + 2])
            i += 2
            continue
        path += _step(parent, child)
        i += 1
    return path


def first_culprit(obj: Any, protocol: int | None = None) -> tuple[str | None, str | None]:
    """Pickle ``obj`` once; return (path of the first culprit, error) or (None, None)."""
    pickler = StackPickler(_NullFile(), protocol)
    try:
        pickler.dump(obj)
    except Exception as exc:  # noqa: BLE001 - every failure is the finding
        stack = pickler.failed or [obj]
        return format_stack(stack), f"{type(exc).__name__}: {exc}"
    return None, None
