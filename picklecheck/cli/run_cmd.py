"""``picklecheck run script.py [args...]`` and ``picklecheck run -m module [args...]``.

Runs a program the way ``python script.py`` / ``python -m module`` would (the same
``sys.argv``, a real ``__main__`` module, ``sys.path[0]``), with the failure hook
installed (:mod:`picklecheck.integrations.hook`), ``PICKLECHECK=1`` set for the
program's child processes, and a watch on process pools
(:mod:`picklecheck.integrations.workers`): a pool worker that dies before returning a
result fails the call with a diagnosis instead of hanging. The exit code is the
program's own; an uncaught exception exits with 1, as in Python.

The program runs in the real ``__main__`` module (as ``pdb`` does), not in a copy, so
its functions and classes pickle by reference to ``__main__`` exactly as they would, and
a ``spawn`` worker re-runs the script as ``__mp_main__`` from ``__main__.__file__``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

import click

from picklecheck.cli.errors import real_process_exit

__all__ = ["run_command", "run_program"]

START_METHODS = ("fork", "spawn", "forkserver")

EPILOG = """\
\b
Examples:
  picklecheck run train.py --epochs 3
  picklecheck run --start-method spawn job.py     # fail as on macOS and Windows
  picklecheck run -m mypackage.jobs
\b
Options go before the program; everything after it is the program's.
A pool worker that exits with an error while a result is pending fails
that call with picklecheck.WorkerLostError (and its diagnosis) within
about GRACE + 0.2 seconds instead of hanging. Exit code: the program's.
"""


@click.command("run", epilog=EPILOG,
               context_settings={"help_option_names": ["-h", "--help"],
                                 "ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("--start-method", type=click.Choice(START_METHODS),
              help="Force multiprocessing's start method (spawn reproduces macOS/Windows).")
@click.option("--grace", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds after a pool worker dies before its pending results fail.")
@click.option("--no-watch", is_flag=True, help="Do not watch process pools for dead workers.")
@click.argument("program", nargs=-1, type=click.UNPROCESSED, required=True,
                metavar="(script.py | -m module) [ARGS]...")
def run_command(program: tuple[str, ...], start_method: str | None, grace: float,
                no_watch: bool) -> None:
    """Run a Python program with picklecheck's failure hook installed."""
    argv = list(program)
    if argv[0] == "-m":
        if len(argv) < 2:
            raise click.UsageError("-m needs a module name")
        target, module = argv[1], True
        args = argv[2:]
    elif argv[0].startswith("-"):
        raise click.UsageError(f"no such option: {argv[0]} (options go before the program)")
    else:
        target, module, args = argv[0], False, argv[1:]
    code = run_program(target, args, module=module, start_method=start_method,
                       watch=not no_watch, grace=grace)
    sys.stdout.flush()
    raise click.exceptions.Exit(code)


def run_program(target: str, args: Sequence[str], *, module: bool = False,
                start_method: str | None = None, watch: bool = True,
                grace: float = 1.0) -> int:
    """Run ``target`` (a script path, or a module name with ``module``) as ``__main__``
    and return its exit code."""
    from picklecheck.integrations import hook
    from picklecheck.integrations.workers import Watch

    code, filename, spec = _load(target, module)
    first = (spec.origin or target) if module else target if os.path.isdir(target) else filename
    _prepare_main(filename, spec, [first, *args])
    if start_method is not None:
        import multiprocessing

        multiprocessing.set_start_method(start_method, force=True)
    os.environ[hook.ENV] = "1"
    hook.install()
    watcher = Watch(grace) if watch else None
    if watcher is not None:
        watcher.start()
    try:
        # The program's own os._exit: a child it forks (a fork-started Process or pool
        # worker) ends with it, as it would under python.
        with real_process_exit():
            return _execute(code)
    finally:
        if watcher is not None:
            watcher.stop()


def _load(target: str, module: bool) -> tuple[types.CodeType, str, Any]:
    if module:
        return _load_module(target)
    if os.path.isdir(target):  # a folder with a __main__.py runs it, as python does
        main = os.path.join(target, "__main__.py")
        if not os.path.isfile(main):
            msg = f"can't find '__main__' module in {os.path.abspath(target)!r}"
            raise click.UsageError(msg)
        target = main
    try:
        with io.open_code(target) as f:
            source = f.read()
    except OSError as exc:
        msg = f"can't open file {os.path.abspath(target)!r}: {exc.strerror or exc}"
        raise click.UsageError(msg) from None
    try:
        # By its absolute path, as python compiles a script since 3.9 (tracebacks,
        # logging's pathname, inspect)
        return compile(source, os.path.abspath(target), "exec", dont_inherit=True), target, None
    except (SyntaxError, ValueError) as exc:
        raise click.UsageError(f"{target} does not compile: {exc}") from None


def _load_module(name: str) -> tuple[types.CodeType, str, Any]:
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise click.UsageError(f"no module named {name!r} ({exc})") from None
    if spec is not None and spec.submodule_search_locations is not None:
        spec = importlib.util.find_spec(f"{name}.__main__")  # a package runs its __main__
    if spec is None or spec.loader is None or not hasattr(spec.loader, "get_code"):
        raise click.UsageError(f"no module named {name!r}")
    code = spec.loader.get_code(spec.name)
    if code is None:
        raise click.UsageError(f"{name!r} has no code to run")
    return code, spec.origin or name, spec


def _prepare_main(filename: str, spec: Any, argv: list[str]) -> None:
    """Make the real ``__main__`` the program's, as the interpreter would have."""
    import __main__

    if spec is None:
        sys.path[0] = os.path.dirname(os.path.abspath(filename))
    else:
        sys.path[0] = os.getcwd()
        del sys.path[1]  # the copy _load_module put in front while it searched
    namespace = __main__.__dict__
    namespace.clear()
    namespace.update({"__name__": "__main__", "__file__": os.path.abspath(filename) if spec is None
                      else filename, "__builtins__": __builtins__, "__doc__": None,
                      "__package__": spec.parent if spec is not None else None,
                      "__spec__": spec, "__loader__": spec.loader if spec is not None else None,
                      "__cached__": None})
    sys.argv = list(argv)


def _execute(code: types.CodeType) -> int:
    import __main__

    try:
        exec(code, __main__.__dict__)
    except SystemExit as exc:
        return _exit_code(exc)
    except KeyboardInterrupt:
        _report(*sys.exc_info())
        return 130
    except BaseException:  # noqa: BLE001 - the program's own uncaught exception
        _report(*sys.exc_info())
        return 1
    return 0


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter would exit with for ``sys.exit(value)``."""
    value = exc.code
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def _report(etype: Any, value: BaseException, tb: Any) -> None:
    """Print an uncaught exception through ``sys.excepthook`` (the hook), without the
    frames of picklecheck's own code around the program."""
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        tb = tb.tb_next
    value.__traceback__ = tb
    sys.excepthook(etype, value, tb)
