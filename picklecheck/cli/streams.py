"""Keeping stdout for picklecheck's own output while the user's code runs.

Code picklecheck imports or calls (a target module, ``inspect --import``, a
``__reduce__``) may print. With ``--json`` stdout must hold one JSON document and
nothing else, so while that code runs both ``sys.stdout`` and file descriptor 1 (for
C extensions and subprocesses that write to it directly) point at stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["stdout_to_stderr"]


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While the block runs, whatever is written to stdout goes to stderr."""
    if not active:
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        stack.enter_context(_descriptor_1_to_2())
        yield


@contextlib.contextmanager
def _descriptor_1_to_2() -> Iterator[None]:
    """Point fd 1 at fd 2, when both are real descriptors (not under a test runner's
    in-memory streams), and put it back afterwards."""
    try:
        out, err = sys.__stdout__, sys.__stderr__
        if out is None or err is None or out.fileno() != 1 or err.fileno() != 2:
            raise ValueError
        out.flush()
        saved = os.dup(1)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            out.flush()
        os.dup2(saved, 1)
        os.close(saved)
