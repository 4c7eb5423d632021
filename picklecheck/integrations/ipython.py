"""IPython and Jupyter: ``%load_ext picklecheck`` and the ``%picklecheck`` line magic.

Loading the extension installs the hook for the kernel: IPython never calls
``sys.excepthook``, so the handler goes in through ``set_custom_exc``. On a pickling
failure it attaches the short note (shown in the cell's error output, under the
traceback), shows the traceback as IPython would, then displays the diagnosis: HTML in
a notebook, plain text in a terminal IPython.

``%picklecheck EXPR`` checks the value of any expression; ``-b NAME`` (repeatable)
picks the backends, ``--fresh`` also loads it in a fresh interpreter.

Functions and classes defined in a notebook live in ``__main__``, which a worker
started with ``spawn`` (the default on macOS and Windows) cannot import: the
diagnosis says so, and what to do about it, when that is what went wrong.
"""

from __future__ import annotations

import html
import shlex
import sys
from typing import Any

__all__ = ["ReportView", "add_handler", "load_ipython_extension",
           "remove_handler", "unload_ipython_extension"]



def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext picklecheck``: the failure hook and the ``%picklecheck`` magic."""
    from picklecheck.integrations import hook
    from picklecheck.integrations.workers import Watch

    hook.install()
    add_handler(ipython)
    if getattr(ipython, "_picklecheck_watch", None) is None:
        # A pool whose worker cannot load a cell's function would hang the kernel.
        watch = Watch()
        watch.start()
        ipython._picklecheck_watch = watch
    ipython.register_magic_function(_magic, magic_kind="line", magic_name="picklecheck")


def unload_ipython_extension(ipython: Any) -> None:
    from picklecheck.integrations import hook

    remove_handler(ipython)
    watch = getattr(ipython, "_picklecheck_watch", None)
    if watch is not None:
        watch.stop()
        ipython._picklecheck_watch = None
    hook.uninstall()


def add_handler(shell: Any) -> None:
    """Route every exception of a cell through :func:`_handler` (idempotent)."""
    if getattr(shell, "_picklecheck_handler", False):
        return
    shell.set_custom_exc((Exception,), _handler)
    shell._picklecheck_handler = True


def remove_handler(shell: Any) -> None:
    if getattr(shell, "_picklecheck_handler", False):
        shell.set_custom_exc((), None)
        shell._picklecheck_handler = False


def _handler(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
             tb_offset: int | None = None) -> Any:
    from picklecheck.integrations.hook import annotate

    try:
        diagnosis = annotate(value)
    except Exception:  # noqa: BLE001 - the user's traceback must always show
        diagnosis = None
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    if diagnosis is not None:
        _show(shell, diagnosis)
    return None


def in_notebook(shell: Any) -> bool:
    """A Jupyter kernel (HTML can be shown), as opposed to a terminal IPython."""
    return type(shell).__name__ == "ZMQInteractiveShell" or hasattr(shell, "kernel")


def _show(shell: Any, value: Any) -> None:
    if in_notebook(shell):
        from IPython.display import display

        display(value)
    else:
        print(str(value), file=sys.stderr)


# -- %picklecheck EXPR ---------------------------------------------------------------

class ReportView:
    """A report for IPython's display: HTML in a notebook, plain text elsewhere."""

    def __init__(self, report: Any) -> None:
        self.report = report

    def __repr__(self) -> str:
        return str(self.report)

    def _repr_html_(self) -> str:
        from picklecheck.report.render import comparison_rows, verdict_line

        report = self.report
        rows = comparison_rows(report)
        table = "".join(
            "<tr>" + "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in row) + "</tr>"
            for tag, row in [("th", rows[0])] + [("td", r) for r in rows[1:]])
        culprits = "".join(
            f"<tr><td><code>{html.escape(c.path)}</code></td><td><code>{html.escape(c.type)}"
            f"</code></td><td>{html.escape(c.exception + ': ' + c.reason)}</td>"
            f"<td>{html.escape(c.hint)}</td></tr>" for c in report.culprits)
        parts = [f"<p><b>{html.escape(verdict_line(report))}</b></p>", f"<table>{table}</table>"]
        if culprits:
            parts.append("<table><thead><tr><th>path</th><th>type</th><th>cause</th>"
                         f"<th>hint</th></tr></thead><tbody>{culprits}</tbody></table>")
        return f'<div class="picklecheck-report">{"".join(parts)}</div>'


def _magic(line: str) -> Any:
    """%picklecheck [-b NAME]... [--fresh] EXPR: check the value of EXPR."""
    from IPython import get_ipython

    from picklecheck.engine.check import check

    shell = get_ipython()
    options, expr = _parse(line)
    if not expr:
        print("usage: %picklecheck [-b NAME]... [--fresh] EXPR", file=sys.stderr)
        return None
    try:
        value = shell.ev(expr)
    except Exception as exc:  # noqa: BLE001 - the user's expression failed, not picklecheck
        print(f"%picklecheck: {expr} raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    try:
        report = check(value, name=expr, **options)
    except ValueError as exc:
        print(f"%picklecheck: {exc}", file=sys.stderr)
        return None
    return ReportView(report)


def _parse(line: str) -> tuple[dict[str, Any], str]:
    """Options first (``-b NAME``, ``--fresh``), then the expression, verbatim."""
    options: dict[str, Any] = {}
    rest = line.strip()
    while rest.startswith("-"):
        head, _, tail = rest.partition(" ")
        if head == "--fresh":
            options["fresh_process"] = True
            rest = tail.strip()
        elif head in ("-b", "--backend"):
            words = shlex.split(tail)[:1]
            if not words:
                break
            options.setdefault("backends", []).append(words[0])
            rest = tail.strip()[len(words[0]):].strip()
        else:
            break
    return options, rest
