"""Reading an exception raised by anyone's code, without running any of that code.

A culprit's exception is the user's (or a library's) object: its class may define a
``__getattr__``, ``__getattribute__``, ``__setattr__``, ``__str__`` or ``__class__`` that
raises. The search and the report read such exceptions everywhere (what an error of ours
carries, the message, the traceback's frames, the chained errors), so they read them
only through these helpers: the type through ``type()``, never ``isinstance`` (which reads
``__class__``), instance data through ``object.__getattribute__``, the traceback and the
chain through ``BaseException``'s own descriptors.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["carried", "chained", "drop_traceback", "exception_text", "innermost_function",
           "traceback_of"]

_TRACEBACK = BaseException.__dict__["__traceback__"]
_CONTEXT = BaseException.__dict__["__context__"]
_CAUSE = BaseException.__dict__["__cause__"]


def traceback_of(exc: BaseException) -> types.TracebackType | None:
    """``exc.__traceback__``, read through BaseException's own descriptor."""
    return _TRACEBACK.__get__(exc, type(exc))  # type: ignore[no-any-return]


def drop_traceback(exc: BaseException) -> None:
    """``exc.__traceback__ = None``, through BaseException's own descriptor."""
    _TRACEBACK.__set__(exc, None)


def chained(exc: BaseException) -> tuple[BaseException, ...]:
    """The errors ``exc`` was raised from or during (``__cause__``, ``__context__``)."""
    return tuple(e for e in (_CONTEXT.__get__(exc, type(exc)), _CAUSE.__get__(exc, type(exc)))
                 if e is not None)


def carried(exc: BaseException, name: str) -> Any:
    """What ``exc`` carries under ``name`` in its instance dict (our errors carry what a
    load reported), or None. Read without running the exception's code: anyone's
    exception may have a ``__getattr__`` that raises."""
    try:
        return object.__getattribute__(exc, "__dict__").get(name)
    except Exception:  # noqa: BLE001 - no instance dict (or a hostile one): nothing carried
        return None


def innermost_function(exc: BaseException) -> str:
    """The name of the function whose frame is innermost in ``exc``'s traceback (where
    it was raised, if in Python code), or ""."""
    tb = traceback_of(exc)
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


def exception_text(exc: BaseException, limit: int = 500) -> str:
    """``str(exc)``, cut to ``limit`` characters; a stand-in when its ``__str__`` raises
    (anyone's exception may be hostile)."""
    try:
        text = (repr(exc.code) if issubclass(type(exc), SystemExit)  # type: ignore[attr-defined]
                else str(exc))
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = f"<{type(exc).__name__} (str raised)>"
    if not isinstance(text, str):
        text = f"<{type(exc).__name__} (str returned {type(text).__name__})>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
