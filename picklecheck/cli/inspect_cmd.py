"""``picklecheck inspect FILE.pkl``: read a pickle file without loading it."""

from __future__ import annotations

import json

import click

from picklecheck._version import __version__
from picklecheck.cli.errors import UsageProblem, exit_codes
from picklecheck.cli.streams import stdout_to_stderr

__all__ = ["inspect_command"]


@click.command("inspect", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("path", metavar="FILE.pkl")
@click.option("--import", "import_modules", is_flag=True,
              help="Import the modules the pickle names, to check each global resolves "
                   "(runs their import-time code; nothing is unpickled).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON only (also for a file it cannot read).")
@click.version_option(__version__, "--version", prog_name="picklecheck")
def inspect_command(path: str, import_modules: bool, as_json: bool) -> None:
    """Read a pickle file without loading it: what it needs to load, and whether it can.

    Exit 0 when every global it needs resolves, 1 when some are missing, 2 when the
    file is missing, empty, truncated, corrupt (pickle.load would reject it: the
    byte offset is given) or not a pickle.
    """
    with exit_codes():
        from picklecheck.tools.pickle_file import PickleFileError, inspect_file, render_pickle_file

        try:
            with stdout_to_stderr(import_modules):  # imported modules print elsewhere
                report = inspect_file(path, import_modules=import_modules)
        except PickleFileError as exc:
            if as_json:
                click.echo(json.dumps(exc.to_dict(), indent=2))
            raise UsageProblem(str(exc)) from exc
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2, default=repr))
        else:
            click.echo(render_pickle_file(report))
    if not report.ok:
        raise click.exceptions.Exit(1)
