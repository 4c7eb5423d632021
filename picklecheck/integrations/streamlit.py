"""Make Streamlit's serializable-session-state check say what, where and why.

Call :func:`enable` at the top of an app. With ``runner.enforceSerializableSessionState``
on, the end-of-run check then raises :class:`UnserializableSessionStateError`, which
is both Streamlit's error of that name (so Streamlit shows it as before) and
picklecheck's (so ``except pickle.PicklingError`` works). Its message names every
failing key in sorted order, widgets by their ``key=`` rather than ``$$ID-...``,
every culprit path inside each value, the cause, and a fix, including the
Streamlit-specific ones (``st.cache_resource``; classes defined in the app script).
Streamlit's internal ``$$STREAMLIT_INTERNAL_KEY...`` entries are skipped, and by
default values are also loaded back, so an object that dumps but cannot load fails.
Widgets without a key are named by their type and label (``<selectbox 'Scale'>``);
see :mod:`picklecheck.integrations.st_widgets` for the ids of each Streamlit version.

Reruns stay cheap: a value that passed and has not changed since, by the rules of
:mod:`picklecheck.integrations.recheck` (same object, same shape, the classes and
functions it pickles by name unchanged), is not pickled again; every
``full_check_every`` seconds (default 30) one run checks everything. With Streamlit's
option on, every value is still dumped on every run, as Streamlit itself would;
only the round-trip load of unchanged values is skipped.

The patch is one method, ``SessionState.maybe_check_serializable`` in
``streamlit.runtime.state.session_state``, which the script runner calls when a run
completes. It is replaced once per process (``enable`` is idempotent, as it must be
in a script that reruns top to bottom). The replacement acts only for sessions that
called :func:`enable`, whose settings live in the session's own state under an
internal key; every other session gets Streamlit's original check.

====================  =====================  ==========================================
Streamlit's option    picklecheck mode       at the end of each run
====================  =====================  ==========================================
on                    "warn" or "enforce"    raise the enriched error
on                    "off"                  Streamlit's original check
off                   "enforce"              raise the enriched error
off                   "warn" (default)       ``st.warning`` + :class:`SerializationWarning`
off                   "off"                  nothing
====================  =====================  ==========================================

In "warn" mode the ``st.warning`` is written at the end of a full run only: at the end
of a fragment rerun the main container's next slot is the element after the fragment,
which the warning would replace. The last full run's warning stays on the page, and the
:class:`SerializationWarning` (attributed to the app's line that sets the first failing
key, or else the line that called :func:`enable`) goes to the terminal at once.

This module imports Streamlit; ``import picklecheck`` does not import this module.
"""

from __future__ import annotations

import math
import re
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Collection, Mapping
from typing import Any

import streamlit as st
from streamlit import config as st_config
from streamlit import errors as st_errors
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.state import session_state as st_session_state

from picklecheck import errors
from picklecheck.integrations.app_source import line_setting
from picklecheck.integrations.config import ConfigError, SessionConfig, resolve
from picklecheck.integrations.st_widgets import WidgetNames, is_widget_id, record_labels
from picklecheck.integrations.verifier import Verifier
from picklecheck.model import Culprit, Entry, Report
from picklecheck.report.render import entries_for, entry_lines, summary_note

__all__ = ["UnserializableSessionStateError", "disable", "enable", "explain_state"]

OPTION = "runner.enforceSerializableSessionState"
ROOT = "st.session_state"
_INTERNAL = getattr(st_session_state, "STREAMLIT_INTERNAL_KEY_PREFIX", "$$STREAMLIT_INTERNAL_KEY")
WIDTH = 78  # what fits Streamlit's error and warning boxes at the default page width
FULL_CHECK_EVERY = 30.0
#: Seconds during which a rerun's enable() reuses the settings it resolved (reading the
#: environment and finding pyproject.toml costs about a millisecond).
_RESOLVE_EVERY = 2.0
_HOOK_KEY = f"{_INTERNAL}_PICKLECHECK_HOOK"
_MARK = "__picklecheck_hook__"
_DOCS = "https://docs.streamlit.io/knowledge-base/using-streamlit/serializable-session-state"
_RESOURCE_KINDS = ("lock", "socket", "database", "file", "thread", "executor", "queue",
                   "process_shared", "generator")
_FUNCTION_TYPES = ("function", "builtin_function_or_method", "method")
_install_lock = threading.Lock()


class UnserializableSessionStateError(errors.UnserializableSessionStateError,
                                      st_errors.UnserializableSessionStateError):
    """Streamlit's ``UnserializableSessionStateError`` with every key, path and hint.

    Also a :class:`picklecheck.UnserializableSessionStateError` (so a
    :class:`pickle.PicklingError`): ``key`` is the first failing key, ``reports`` maps
    each failing user key to its report. The message is Markdown, as Streamlit expects.
    """

    error_id = None


# Its public name: Streamlit shows errors by module and class name.
UnserializableSessionStateError.__module__ = "picklecheck.streamlit"


class _Hook:
    """What :func:`enable` left in one session: settings, what passed, widget labels."""

    def __init__(self, config: SessionConfig, full_check_every: float = FULL_CHECK_EVERY,
                 labels: dict[str, tuple[str, str]] | None = None) -> None:
        self.config = config
        self.full_check_every = full_check_every
        self.verifier = Verifier(config, ROOT, trusting=True)
        self.labels: dict[str, tuple[str, str]] = {} if labels is None else labels
        self.last_full = -math.inf  # time.monotonic() of the last full check
        self.registry: dict[Any, Any] = {}  # each distinct terminal warning once per session
        self.caller: tuple[str, int] | None = None  # where enable() was called
        self.args: tuple[Any, ...] = ()  # enable()'s arguments when settings were resolved
        self.resolved_at = -math.inf

    def __reduce__(self) -> tuple[Any, ...]:
        # Streamlit's own check (mode "off", or after disable()) pickles internal keys too:
        # what the hook remembers is a cache, so it pickles as its settings alone.
        return (_Hook, (self.config, self.full_check_every))


def enable(mode: str | None = None, *, backend: str | None = None,
           roundtrip: bool | None = None,
           full_check_every: float = FULL_CHECK_EVERY) -> SessionConfig:
    """Enrich Streamlit's session-state check for this session; safe to call on every run.

    ``mode``, ``backend`` and ``roundtrip`` resolve as for :class:`picklecheck.SessionState`
    (argument, ``PICKLECHECK_SESSION_*`` variables, ``pyproject.toml``), except that
    ``roundtrip`` defaults to True. Values unchanged since they passed are trusted
    between full checks, one every ``full_check_every`` seconds (0: every run).
    Returns the resolved settings.
    """
    if isinstance(full_check_every, bool) or not isinstance(full_check_every, (int, float)) \
            or not full_check_every >= 0:
        msg = (f"invalid full_check_every={full_check_every!r}: use a number of seconds "
               "(0 checks every value on every run)")
        raise ConfigError(msg)
    _install()
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:  # bare `python app.py`: there is no session to check
        return resolve(mode=mode, backend=backend, roundtrip=roundtrip, default_roundtrip=True)
    hook = _hook_of(ctx.session_state)
    args = (mode, backend, roundtrip, float(full_check_every))
    now = time.monotonic()
    if hook is None or hook.args != args or now - hook.resolved_at >= _RESOLVE_EVERY:
        config = resolve(mode=mode, backend=backend, roundtrip=roundtrip, default_roundtrip=True)
        if hook is None or _settings(hook.config) != _settings(config) \
                or hook.full_check_every != full_check_every:
            hook = _Hook(config, float(full_check_every), hook.labels if hook else None)
            ctx.session_state[_HOOK_KEY] = hook
        hook.args, hook.resolved_at = args, now
    caller = sys._getframe(1)
    hook.caller = (caller.f_code.co_filename, caller.f_lineno)
    record_labels(ctx, hook.labels)
    return hook.config


def disable() -> None:
    """Put Streamlit's original method back, for every session in this process."""
    with _install_lock:
        cls = st_session_state.SessionState
        current = cls.maybe_check_serializable
        if getattr(current, _MARK, None) is not None:
            cls.maybe_check_serializable = current.__wrapped__  # type: ignore[method-assign,attr-defined]


def _settings(config: SessionConfig) -> tuple[Any, ...]:
    return (config.mode, config.backend, config.roundtrip, config.protocol)


def _install() -> None:
    with _install_lock:
        cls = st_session_state.SessionState
        current = cls.maybe_check_serializable
        marker = getattr(current, _MARK, None)
        if marker is _patched:
            return
        original = current.__wrapped__ if marker is not None else current  # type: ignore[attr-defined]

        def maybe_check_serializable(self: Any) -> None:
            _patched(self, original)

        maybe_check_serializable.__wrapped__ = original  # type: ignore[attr-defined]
        maybe_check_serializable.__doc__ = original.__doc__
        setattr(maybe_check_serializable, _MARK, _patched)
        cls.maybe_check_serializable = maybe_check_serializable  # type: ignore[method-assign]


def _patched(state: Any, original: Any) -> None:
    """The end-of-run check for one Streamlit ``SessionState``."""
    hook = _hook_of(state)
    if hook is None or hook.config.mode == "off":
        original(state)
        return
    enforced = bool(st_config.get_option(OPTION))
    values, widgets, names = _user_values(state, hook.labels)
    now = time.monotonic()
    full = now - hook.last_full >= hook.full_check_every
    reports = hook.verifier.failures(values, trust=not full, redump=enforced, prune=True,
                                     names=names)
    if full:
        hook.last_full = now
    if not reports:
        return
    backend = hook.config.backend
    if enforced or hook.config.mode == "enforce":
        first = next(iter(reports))
        message = explain_state(reports, backend, markdown=True, enforced=enforced,
                                widgets=widgets)
        raise UnserializableSessionStateError(first, reports[first], backend, message, reports)
    ctx = get_script_run_ctx(suppress_warning=True)
    if not getattr(ctx, "fragment_ids_this_run", None):  # a full run (see the module notes)
        st.warning(explain_state(reports, backend, markdown=True, enforced=False,
                                 widgets=widgets))
    _warn(hook, explain_state(reports, backend, enforced=False, widgets=widgets),
          next(iter(reports)), getattr(ctx, "main_script_path", None))


def _warn(hook: _Hook, text: str, key: str, script: str | None) -> None:
    """Issue the SerializationWarning at the app's line, as if the app had warned."""
    filename, line = hook.caller or (script or "<streamlit app>", 1)
    if script:
        found = line_setting(script, key)
        if found is not None:
            filename, line = script, found
    warnings.warn_explicit(errors.SerializationWarning(text), errors.SerializationWarning,
                           filename, line, registry=hook.registry)


def _hook_of(state: Any) -> _Hook | None:
    try:
        hook = state[_HOOK_KEY]
    except KeyError:
        return None
    return hook if isinstance(hook, _Hook) else None


def _user_values(state: Any, labels: dict[str, tuple[str, str]]
                 ) -> tuple[list[tuple[str, Any]], dict[str, str], dict[str, str]]:
    """``(name, value)`` for every non-internal entry; for widgets' values a phrase naming
    the widget; and the path root of those that have no ``st.session_state[key]``."""
    naming = WidgetNames(state, labels)
    values: dict[str, Any] = {}
    widgets: dict[str, str] = {}
    roots: dict[str, str] = {}
    for raw in list(state):
        if not isinstance(raw, str) or raw.startswith(_INTERNAL):
            continue
        try:
            value = state[raw]
        except KeyError:  # a widget whose metadata is gone, as Streamlit's filtered_state skips
            continue
        name, widget = naming.name(raw)
        if name in values:
            continue
        values[name] = value
        if widget is not None:
            widgets[name] = widget
            if name.startswith("<") and is_widget_id(raw):
                roots[name] = name
    return list(values.items()), widgets, roots


# -- the message ------------------------------------------------------------------

def explain_state(reports: dict[str, Report], backend: str, *, markdown: bool = False,
                  enforced: bool = True,
                  widgets: Collection[str] | Mapping[str, str] = frozenset()) -> str:
    """Every failing key, each culprit inside it, the cause and the fix.

    ``markdown`` wraps the detail in a code block for Streamlit's error and warning boxes
    (keys are shown verbatim whatever backticks they hold). ``widgets`` names the keys
    that hold a widget's value: a collection of user keys, or a mapping from key to a
    phrase naming the widget ("the selectbox 'Scale', which has no key=").
    """
    names = ", ".join(_code(_printable(key)) if markdown else repr(key) for key in reports)
    count = f"{len(reports)} value{'s' if len(reports) != 1 else ''}"
    head = (f"picklecheck: {count} in st.session_state cannot be serialized with "
            f"{backend}: {names}.")
    body: list[str] = []
    for key, report in reports.items():
        body += _value_lines(key, report, backend, _widget_phrase(widgets, key))
    if markdown:
        fence = "`" * max(3, _longest_backtick_run("\n".join(body)) + 1)
        lines = [head, "", f"{fence}text", *body, fence, ""]
    else:
        lines = [head, *body]
    if enforced:
        lines.append(f"Streamlit is configured ({OPTION} = true) to pickle session_state "
                     "values at the end of every run" + (f"; see [its docs]({_DOCS})."
                                                         if markdown else f"; see {_DOCS}"))
    return "\n".join(lines).rstrip()


def _widget_phrase(widgets: Collection[str] | Mapping[str, str], key: str) -> str | None:
    if isinstance(widgets, Mapping):
        return widgets.get(key)
    return f"the widget with key={key!r}" if key in widgets else None


def _printable(key: Any) -> str:
    text = str(key)
    return text if text.isprintable() else repr(text)


def _code(text: str) -> str:
    """``text`` as Markdown inline code, however many backticks it holds."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _value_lines(key: str, report: Report, backend: str, widget: str | None) -> list[str]:
    result = report.results.get(backend)
    others = ", ".join(f"{name}: {'ok' if r.ok else 'fails'}"
                       for name, r in report.results.items() if name != backend)
    stages = {"loads": "dumps but does not load back", "fresh": "does not load elsewhere"}
    stage = stages.get((result.stage if result is not None else None) or "", "does not pickle")
    head = f"{report.name}  ({report.type}) {stage}"
    if others and len(head) + len(others) + 4 > WIDTH:
        lines = [head, f"  [{others}]"]
    else:
        lines = [head + (f"  [{others}]" if others else "")]
    if widget:
        lines += _wrap("note:", f"this is the value of {widget}; a widget keeps the option it "
                       "returns, so offer names or plain values as options and look the "
                       "objects up after the widget.", "  ")
    entries = entries_for(report, backend)
    for entry in entries:
        lines += entry_lines(entry, indent="  ", backends=False, width=WIDTH)
        lines += _streamlit_hint(entry)
    count = sum(len(e.culprits) for e in entries)
    note = summary_note(report, entries, count, "picklecheck.check(value, expand=True)")
    if note:
        lines += textwrap.wrap(f"({note})", WIDTH, initial_indent="  ", subsequent_indent="   ")
    if not entries and result is not None:
        lines.append(f"  {result.error or result.roundtrip_error or result.fresh_error}")
    return lines


def _streamlit_hint(entry: Entry) -> list[str]:
    """What to do in a Streamlit app: where objects of each kind belong instead."""
    culprit = entry.first
    text = ""
    reason = culprit.reason
    if entry.type.startswith("streamlit."):
        return []  # Streamlit's own object: its hint says what to do with it in an app
    if culprit.kind in ("stale_reference", "main_reference") and "__main__" in reason:
        text = _rerun_fix(culprit)
    elif culprit.kind == "generator":
        text = ("no backend pickles a running generator: store what it produces "
                "(list(...)) or what is needed to start it again, and create the "
                "generator where it is consumed.")
    elif entry.inside or culprit.kind in _RESOURCE_KINDS:
        text = ("keep connections, clients, models and locks out of st.session_state: "
                "create them in a function decorated with @st.cache_resource and call it "
                "on every run (it returns the same object each time).")
    elif culprit.kind in ("lambda", "local"):
        text = ("store data in st.session_state, not functions: keep a name and look the "
                "function up in a module-level dict, or build it in @st.cache_resource.")
    return _wrap("fix:", text) if text else []


def _rerun_fix(culprit: Culprit) -> str:
    """Why a class or function of the app script goes stale on a rerun, and the fix."""
    found = re.search(r"__main__\.([A-Za-z_][\w.]*\w)", culprit.reason)
    name = found.group(1) if found else culprit.type.rsplit(".", 1)[-1]
    what = "function" if culprit.type in _FUNCTION_TYPES else "class"
    made = "is an earlier run's function" if what == "function" else \
        "was made by an earlier run's class"
    return (f"Streamlit runs the app script again on every rerun, which defines a new "
            f"{what} __main__.{name}; this value {made}, so pickle's lookup of "
            f"__main__.{name} finds a different object (\"not the same object as "
            f"__main__.{name}\"). Move {name} into a module next to the app (e.g. "
            f"models.py) and import it.")


def _wrap(label: str, text: str, indent: str = "    ") -> list[str]:
    prefix = f"{indent}{label:<7}"
    return textwrap.wrap(text, WIDTH, initial_indent=prefix, subsequent_indent=" " * len(prefix))
