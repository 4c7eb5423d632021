"""Exit codes, and the one place that maps exceptions to them.

0 everything asked for serializes and loads back; 1 something does not; 2 usage
error (bad target, file or name not found, the module raises on import, bad
option); 3 internal error in picklecheck (``PICKLECHECK_DEBUG=1`` shows the
traceback); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import click

from picklecheck._version import __version__
from picklecheck.cli.target import TargetCodeError, TargetError

__all__ = ["DEBUG_ENV", "ExitAttempt", "InternalError", "ProcessEndingError",
           "UnreadableTargetError", "UsageProblem",
           "ending", "exit_codes", "guard_process_exit", "process_exit_guarded",
           "real_process_exit"]

DEBUG_ENV = "PICKLECHECK_DEBUG"


class UsageProblem(click.ClickException):
    """A target or option picklecheck cannot use: exit code 2."""

    exit_code = 2


class InternalError(click.ClickException):
    """An unexpected exception inside picklecheck: exit code 3."""

    exit_code = 3

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        super().__init__(f"{type(exc).__name__}: {exc}")

    def format_message(self) -> str:
        text = (f"internal error in picklecheck {__version__}: {self.message}\n"
                "This is a bug in picklecheck, not in your code; please report it with the "
                "command you ran.")
        if os.environ.get(DEBUG_ENV):
            return text + "\n\n" + "".join(traceback.format_exception(self.exc)).rstrip()
        return text + f"\nSet {DEBUG_ENV}=1 to see the traceback."


class UnreadableTargetError(TargetError):
    """A target file that cannot be read: a symlink loop, no permission (exit code 2)."""

    def __init__(self, spec: str, exc: BaseException) -> None:
        self.spec = spec
        self.reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        super().__init__(spec, self.reason)

    def __str__(self) -> str:
        return f"cannot read {self.spec.rsplit(':', 1)[0]}: {self.reason}"


class ProcessEndingError(click.ClickException):
    """The user's code tried to end picklecheck's own process (``SystemExit``,
    ``os._exit``) while it was imported or checked: no verdict, exit code 3."""

    exit_code = 3

    def format_message(self) -> str:
        return (f"{self.message}; picklecheck stopped without a verdict (a process that "
                "ends while checking has proven nothing)")


class ExitAttempt(BaseException):  # noqa: N818 - it is not an error of ours
    """Raised in place of ``os._exit`` while the command runs."""

    def __init__(self, code: object) -> None:
        self.code = code
        super().__init__(code)


@contextlib.contextmanager
def process_exit_guarded() -> Iterator[None]:
    """:func:`guard_process_exit` for a block only (a command run in-process, as
    ``CliRunner`` does, must leave ``os._exit`` as it found it)."""
    original = os._exit
    guard_process_exit()
    try:
        yield
    finally:
        _set_process_exit(original)


@contextlib.contextmanager
def real_process_exit() -> Iterator[None]:
    """The real ``os._exit`` for a block (a program ``picklecheck run`` runs, whose forked
    children end with it), guarded again after it."""
    current = os._exit
    real = getattr(current, "_picklecheck_real", None)
    if real is None:
        yield
        return
    _set_process_exit(real)
    try:
        yield
    finally:
        _set_process_exit(current)


def guard_process_exit() -> None:
    """Make ``os._exit`` raise :class:`ExitAttempt`: a target that calls it while
    imported, or an exit handler that calls it after the verdict, must not turn a
    failure into exit code 0. :func:`main` keeps it for the rest of the process;
    the sandboxed children of :mod:`picklecheck.isolation` use the real one."""
    if getattr(os._exit, "_picklecheck_guard", False):
        return

    def refuse_exit(code: object = 0) -> None:
        raise ExitAttempt(code)

    refuse_exit._picklecheck_guard = True  # type: ignore[attr-defined]
    refuse_exit._picklecheck_real = os._exit  # type: ignore[attr-defined]
    _set_process_exit(refuse_exit)


def _set_process_exit(func: Any) -> None:
    """``os._exit`` (and ``posix._exit``, the same function) made ``func``."""
    for module in (os, sys.modules.get("posix")):
        if module is not None:
            setattr(module, "_exit", func)  # noqa: B010


def _ended(exc: BaseException) -> str | None:
    if isinstance(exc, SystemExit):
        return f"raised SystemExit({exc.code!r})"
    if isinstance(exc, ExitAttempt):
        return f"called os._exit({exc.code!r})"
    return None


@contextlib.contextmanager
def ending(action: str) -> Iterator[None]:
    """Turn an attempt to end the process during ``action`` into exit code 3."""
    try:
        yield
    except (SystemExit, ExitAttempt) as exc:
        raise ProcessEndingError(f"{action} {_ended(exc)}") from None
    except TargetCodeError as exc:
        how = _ended(exc.exc)
        if how is None:
            raise
        raise ProcessEndingError(f"{exc.action} {how}") from None


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Map every exception of a command body to its exit code."""
    try:
        yield
    except TargetError as exc:
        raise UsageProblem(str(exc)) from exc
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt:
        click.echo("picklecheck: interrupted", err=True)
        raise click.exceptions.Exit(130) from None
    except (SystemExit, ExitAttempt) as exc:
        raise ProcessEndingError(f"the checked code {_ended(exc)}") from None
    except BaseException as exc:  # noqa: BLE001 - anything else is our bug
        raise InternalError(exc) from exc
