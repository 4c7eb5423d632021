"""Exit codes, and the one place that maps exceptions to them.

0 everything asked for serializes and loads back; 1 something does not; 2 usage
error (bad target, file or name not found, the module raises on import, bad
option); 3 internal error in picklecheck (``PICKLECHECK_DEBUG=1`` shows the
traceback); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator

import click

from picklecheck._version import __version__
from picklecheck.cli.target import TargetError

__all__ = ["DEBUG_ENV", "InternalError", "UsageProblem", "exit_codes"]

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
    except Exception as exc:  # noqa: BLE001 - anything else is our bug
        raise InternalError(exc) from exc
