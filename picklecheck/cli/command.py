"""The ``picklecheck`` command: the only place that turns errors into exit codes.

Exit codes: 0 everything asked for serializes and loads back; 1 something does
not; 2 usage error (bad target, file or name not found, the module raises on
import, bad option); 3 internal error in picklecheck (``PICKLECHECK_DEBUG=1``
shows the traceback).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import pickle
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import click

from picklecheck._version import __version__
from picklecheck.backends import ALL_BACKEND_NAMES, BACKEND_NAMES, VARIANT_NAMES, get_backend
from picklecheck.backends.cloudpickle import pickled_by_value
from picklecheck.backends.dill import saved_as_main
from picklecheck.cli.errors import (
    UnreadableTargetError,
    ending,
    exit_codes,
    guard_process_exit,
    process_exit_guarded,
)
from picklecheck.cli.streams import stdout_to_stderr
from picklecheck.cli.target import NoValuesError, Resolved, TargetError, parse_target, resolve
from picklecheck.engine.check import DEFAULT_MAX_CULPRITS, check
from picklecheck.isolation import interpreter
from picklecheck.isolation.deadline import DEFAULT_TIMEOUT
from picklecheck.model import Report
from picklecheck.report.render import verdict_line

__all__ = ["SUBCOMMANDS", "cli", "main"]

#: First words that name a subcommand, and where its click command lives (imported
#: only when used). ``picklecheck -- inspect`` checks a module named inspect instead.
SUBCOMMANDS = {
    "inspect": ("picklecheck.cli.inspect_cmd", "inspect_command"),
    "run": ("picklecheck.cli.run_cmd", "run_command"),
}

EXAMPLES = """\
\b
Targets:
  path/to/app.py:state   a value in a Python file (dotted: app.py:state.cache)
  pkg.module:thing       a value in a module (current folder is importable)
  path/to/app.py         every public value of the file, one summary row each
  path/to/pkg/           a package folder (the same as pkg from its parent folder)
  inspect FILE.pkl       read a pickle file (first word; see inspect -h)

\b
A file is loaded as module <stem> (app.py becomes 'app'), not as __main__,
so its `if __name__ == "__main__":` block does not run. Its folder is
importable while it loads: pickle saves what it defines by reference here,
and --fresh-process shows that another interpreter, which cannot import
the script, fails to load it; dill and cloudpickle save it by value, as
they save a script's.

\b
Examples:
  picklecheck examples/session_app.py:state
  picklecheck examples/session_app.py:make_state --call --fresh-process
  picklecheck examples/session_app.py -b pickle --json
  picklecheck --sizes examples/session_app.py:config --top 10
  picklecheck inspect payload.pkl --import

\b
Exit codes: 0 everything serializes and loads back, 1 something does not,
2 usage error, 3 internal error (set PICKLECHECK_DEBUG=1 for the traceback).
"""


# -- the command ----------------------------------------------------------------

class _Picklecheck(click.Command):
    """``picklecheck TARGET...``, or a subcommand when the first word names one
    (:data:`SUBCOMMANDS`)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        name = prog_name or "picklecheck"
        if argv[:1] and argv[0] in SUBCOMMANDS:
            module, attr = SUBCOMMANDS[argv[0]]
            command = getattr(importlib.import_module(module), attr)
            return command.main(argv[1:], prog_name=f"{name} {argv[0]}", **extra)
        return super().main(argv, prog_name=name, **extra)


@dataclass(frozen=True)
class Options:
    """What to check and how to show it (the command's options, as plain data)."""

    backends: tuple[str, ...]
    protocol: int | None
    fresh_process: bool
    roundtrip: bool
    max_culprits: int
    timeout: float
    as_json: bool
    quiet: bool
    expand: bool = False
    compare: bool = False
    python: str | None = None


@click.command("picklecheck", cls=_Picklecheck, epilog=EXAMPLES,
               context_settings={"help_option_names": ["-h", "--help"],
                                 "max_content_width": 92})
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.option("-b", "--backend", "backends", multiple=True,
              type=click.Choice(ALL_BACKEND_NAMES + VARIANT_NAMES), metavar="NAME",
              help="pickle, dill, cloudpickle, or the serializer of a framework: "
                   "multiprocessing[:spawn|forkserver|fork], joblib, dask, ray, spark "
                   "(repeatable). Default: pickle, dill and cloudpickle.")
@click.option("--protocol", type=click.IntRange(0, pickle.HIGHEST_PROTOCOL),
              help="Pickle protocol. Default: each backend's default.")
@click.option("--fresh-process", is_flag=True,
              help="Also load the bytes in a new interpreter, as a worker process would.")
@click.option("--python", "python", metavar="PATH",
              help="Do the fresh load in this interpreter (or virtualenv folder) instead: "
                   "a deployment's, the workers' Python version, with its own packages. "
                   "Implies --fresh-process.")
@click.option("--no-roundtrip", is_flag=True, help="Only dump; do not load the bytes back.")
@click.option("--max-culprits", type=click.IntRange(min=1), default=DEFAULT_MAX_CULPRITS,
              show_default=True, help="Stop the culprit search after this many.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds the whole check of one value may take; what is not finished "
                   "by then is reported as such.")
@click.option("--call", is_flag=True,
              help="Call the named object with no arguments and check what it returns.")
@click.option("--all-names", is_flag=True,
              help="With a file or module and no name: also check functions, classes "
                   "and modules that pickle by reference.")
@click.option("--sizes", is_flag=True,
              help="Show where the bytes of the payload come from instead of checking "
                   "(with pickle, or a table for each -b backend).")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --sizes: how many of the largest parts to show.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document on stdout and nothing else.")
@click.option("--expand", is_flag=True,
              help="List every culprit: no grouping of alike ones, no collapsing into the "
                   "library object that holds them.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line.")
@click.option("--compare", "--frameworks", "compare", is_flag=True,
              help="Which of my options would work? Check with every installed backend "
                   "(serializers and frameworks), each loading in its own kind of worker: "
                   "one row each. Exit 0 when at least one works.")
@click.version_option(__version__, "--version", prog_name="picklecheck")
def cli(targets: tuple[str, ...], backends: tuple[str, ...], protocol: int | None,
        fresh_process: bool, python: str | None, no_roundtrip: bool, max_culprits: int,
        timeout: float, call: bool, all_names: bool, sizes: bool, top: int, as_json: bool,
        expand: bool, quiet: bool, compare: bool) -> None:
    """Find what in an object does not pickle, where, and what to do about it.

    Checks each TARGET with pickle, dill and cloudpickle: a tree down to every
    culprit with its reason and a hint, a table comparing the backends, and a
    one-line verdict. Also: `picklecheck inspect FILE.pkl` reads a pickle file.
    """
    if not math.isfinite(timeout) and timeout != math.inf:
        raise click.BadParameter(f"{timeout!r} is not a number of seconds", param_hint="'--timeout'")
    if backends and not compare:
        _require_installed(backends)
    if compare:
        backends = backends or ALL_BACKEND_NAMES
        fresh_process = True
    if python is not None:
        try:
            python = interpreter.resolve(python).path
        except interpreter.InterpreterError as unusable:
            raise click.BadParameter(str(unusable), param_hint="'--python'") from None
        fresh_process = True
    default = SIZES_BACKENDS if sizes else BACKEND_NAMES
    options = Options(backends=backends or default, protocol=protocol,
                      fresh_process=fresh_process, roundtrip=not no_roundtrip,
                      max_culprits=max_culprits, timeout=timeout, as_json=as_json,
                      quiet=quiet, compare=compare, expand=expand, python=python)
    with process_exit_guarded(), exit_codes():
        entries, bad = _resolve_all(targets, call=call, all_names=all_names)
        if not entries and len(bad) == 1 and not as_json:
            raise bad[0][1]  # one target, and it is unusable: a plain usage error
        ok = True
        docs: list[dict[str, Any]] = []
        if entries:
            with stdout_to_stderr(as_json):  # a __reduce__ that prints must not break JSON
                run = _run_sizes if sizes else _run_checks
                ok, docs = run(entries, options, top)
        if as_json:
            errors = [{"target": spec, "source": None, "name": None, "ok": False,
                       "error": str(exc), "report": None} for spec, exc in bad]
            order = {spec: i for i, spec in reversed(list(enumerate(targets)))}
            # in command-line order (sorted() keeps each target's own values in order)
            _print_json(ok and not bad, sorted(docs + errors,
                                               key=lambda doc: order.get(doc["target"], 0)))
        for _, exc in bad:
            click.echo(f"Error: {exc}", err=True)
    if bad:
        raise click.exceptions.Exit(2)
    if not ok:
        raise click.exceptions.Exit(1)


def _require_installed(backends: Sequence[str]) -> None:
    """A usage error for a backend named with -b that is not installed here (checked with
    it, plain data read "FAIL: cfg does not survive ray (0 culprits)"). --compare shows such
    a backend as a row, "not installed", instead."""
    missing = [b for b in map(get_backend, dict.fromkeys(backends)) if not b.available]
    if missing:
        said = "; ".join(b.not_installed for b in missing)
        raise click.UsageError(f"{said} (--compare checks with every backend installed here)")


def _resolve_all(specs: Sequence[str], *, call: bool,
                 all_names: bool) -> tuple[list[Resolved], list[tuple[str, TargetError]]]:
    """The values each target names, and the targets that cannot be used (with why):
    one bad target does not cost the others their reports."""
    entries: list[Resolved] = []
    bad: list[tuple[str, TargetError]] = []
    for spec in specs:
        try:
            target = parse_target(spec)
            with ending(f"importing {target.source}"):
                found = resolve(target, call=call, all_names=all_names)
            if not found:
                raise NoValuesError(target.spec, target.source)
        except (OSError, RuntimeError) as exc:  # a symlink loop, a file it cannot read
            if isinstance(exc, RuntimeError) and "loop" not in str(exc).lower():
                raise
            bad.append((spec, UnreadableTargetError(spec, exc)))
            continue
        except TargetError as exc:
            bad.append((spec, exc))
            continue
        entries += found
    return entries, bad


# -- checking ---------------------------------------------------------------------

#: ``--sizes`` measures with pickle unless ``-b`` names backends (each gets its table).
SIZES_BACKENDS = ("pickle",)

SPINNER_DELAY = 0.3  # seconds: quick checks never flash a spinner


def _status(message: str) -> contextlib.AbstractContextManager[Any]:
    """A spinner on stderr while a check runs, only when stderr is a terminal and the
    check takes more than a moment."""
    stream = sys.stderr
    if not (getattr(stream, "isatty", None) and stream.isatty()):
        return contextlib.nullcontext()
    from picklecheck.report.console import make_console

    return _after_a_moment(make_console(stream, plain=False).status(message, spinner="dots"))


@contextlib.contextmanager
def _after_a_moment(status: Any) -> Iterator[None]:
    timer = threading.Timer(SPINNER_DELAY, status.start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        status.stop()


def _check(entry: Resolved, options: Options) -> Report:
    message = f"checking {entry.name} with {', '.join(options.backends)}"
    with _status(message + (" (and a fresh interpreter)" if options.fresh_process else "")), \
            ending(f"checking {entry.name}"), _as_the_script(entry, options.backends):
        return check(entry.obj, backends=options.backends, protocol=options.protocol,
                     name=entry.name, roundtrip=options.roundtrip,
                     fresh_process=options.fresh_process, max_culprits=options.max_culprits,
                     timeout=options.timeout, script_folder=script_folder(entry),
                     expand=options.expand, user_code=(entry.module.__name__.split(".")[0],),
                     python=options.python)


def _as_the_script(entry: Resolved, backends: Sequence[str]) -> Any:
    """A file stands for the script ``python file.py`` runs (see :func:`script_folder`):
    the frameworks that pickle with cloudpickle send its functions and classes by value,
    as they send ``__main__``'s, with the globals they use (a function that takes a
    module-level lock fails there; by reference to the file's module, it passed), and so
    does dill. A module target is imported, as the program imports it: by reference."""
    if not entry.target.is_file:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(pickled_by_value(entry.module, [get_backend(n) for n in backends]))
    if "dill" in backends:  # dill, too, saves a script's functions by value
        stack.enter_context(saved_as_main(entry.module))
    return stack


def script_folder(entry: Resolved) -> str:
    """The folder of the program whose workers are modelled: a file's own folder, as
    ``python file.py`` has it; for a package folder, the folder above its top package
    (where it was imported from); for a module, the current folder, as ``python -m``
    has it. The same however picklecheck itself was started."""
    if entry.target.is_file:
        return os.path.dirname(os.path.abspath(entry.target.source))
    if entry.target.is_dir:
        top = sys.modules.get(entry.module.__name__.partition(".")[0])
        init = getattr(top, "__file__", None)
        if isinstance(init, str):
            return os.path.dirname(os.path.dirname(os.path.abspath(init)))
    return os.getcwd()


def _run_checks(entries: list[Resolved], options: Options,
                top: int = 0) -> tuple[bool, list[dict[str, Any]]]:
    """Check every value; print the reports, or return their JSON (``--json``)."""
    reports = [_check(entry, options) for entry in entries]
    ok = all(report.ok for report in reports)
    if options.compare:
        ok = all(report.succeeded() for report in reports)
        if not options.as_json:
            from picklecheck.report.compare_view import render_compare

            click.echo("\n\n".join(render_compare(r, _label(e, entries) + f": {r.type}")
                                    for e, r in zip(entries, reports, strict=True)))
            return ok, []
    if options.as_json:
        return ok, [_entry_json(entry, {"ok": r.ok, "report": r.to_dict()})
                    for entry, r in zip(entries, reports, strict=True)]
    if options.quiet:
        for report in reports:
            click.echo(verdict_line(report))
    else:
        from picklecheck.report.console import print_reports

        notes = [_notes(entry, options) for entry in entries]
        print_reports(sys.stdout, [_label(e, entries) for e in entries], reports,
                      [e.obj for e in entries], notes)
    return ok, []


def _label(entry: Resolved, entries: list[Resolved]) -> str:
    """The name alone when every value comes from one target, else ``source:name``."""
    if len({e.target.spec for e in entries}) == 1:
        return entry.name
    return f"{entry.target.source}:{entry.name}"


def _notes(entry: Resolved, options: Options) -> list[str]:
    """Say so when the value's class lives in the script, which a worker cannot import."""
    if not entry.target.is_file or options.fresh_process:
        return []
    cls = type(entry.obj)
    if getattr(cls, "__module__", None) != entry.module.__name__:
        return []
    return [f"{cls.__qualname__} is defined in {entry.target.source}, loaded here as module "
            f"{entry.module.__name__!r}; another process loads it only if it can import that "
            "module (a script run as __main__ cannot be): try --fresh-process"]


def _entry_json(entry: Resolved, body: dict[str, Any]) -> dict[str, Any]:
    return {"target": entry.target.spec, "source": entry.target.source,
            "name": entry.name, **body}


def _print_json(ok: bool, targets: list[dict[str, Any]]) -> None:
    document = {"picklecheck": __version__, "ok": ok, "targets": targets}
    click.echo(json.dumps(document, indent=2, default=repr))


# -- --sizes ----------------------------------------------------------------------

def _run_sizes(entries: list[Resolved], options: Options,
               top: int) -> tuple[bool, list[dict[str, Any]]]:
    """A size profile per value and backend asked for; print them, or return their JSON."""
    from picklecheck.tools.sizes import profile, render_profile

    docs: list[dict[str, Any]] = []
    texts: list[str] = []
    ok = True
    installed = [b for b in options.backends if get_backend(b).available]
    for entry in entries:
        for backend in installed:
            try:
                with _status(f"measuring {entry.name} with {backend}"), \
                        _as_the_script(entry, [backend]):
                    result = profile(entry.obj, backend=backend, protocol=options.protocol,
                                     top=top, name=entry.name)
            except pickle.PicklingError as exc:
                ok = False
                docs.append(_entry_json(entry, {"backend": backend, "ok": False,
                                                "error": str(exc), "profile": None}))
                texts.append(str(exc))
                continue
            docs.append(_entry_json(entry, {"backend": backend, "ok": True, "error": None,
                                            "profile": result.to_dict()}))
            texts.append(render_profile(result))
    missing = [name for name in options.backends if name not in installed]
    if missing:  # only --compare asks for every backend
        texts.append(f"not installed, so not measured: {', '.join(missing)}")
    if options.as_json:
        return ok, docs
    click.echo("\n\n".join(texts))
    return ok, []


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of the ``picklecheck`` script and ``python -m picklecheck``: the
    process ends with the command, so ``os._exit`` stays guarded through its exit
    handlers too."""
    guard_process_exit()
    return cli.main(args=argv, prog_name="picklecheck")

