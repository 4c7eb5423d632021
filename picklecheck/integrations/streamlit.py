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

This module imports Streamlit; ``import picklecheck`` does not import this module.
"""

from __future__ import annotations

import textwrap
import threading
import types
import warnings
from typing import Any

import streamlit as st
from streamlit import config as st_config
from streamlit import errors as st_errors
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.state import session_state as st_session_state

from picklecheck import errors
from picklecheck.integrations.config import SessionConfig, resolve
from picklecheck.integrations.session import Verifier
from picklecheck.model import Entry, Report
from picklecheck.report.render import entries_for, entry_lines, summary_note

__all__ = ["UnserializableSessionStateError", "disable", "enable", "explain_state"]

OPTION = "runner.enforceSerializableSessionState"
ROOT = "st.session_state"
_INTERNAL = getattr(st_session_state, "STREAMLIT_INTERNAL_KEY_PREFIX", "$$STREAMLIT_INTERNAL_KEY")
_ELEMENT_ID = "$$ID-"
_HOOK_KEY = f"{_INTERNAL}_PICKLECHECK_HOOK"
_MARK = "__picklecheck_hook__"
_DOCS = "https://docs.streamlit.io/knowledge-base/using-streamlit/serializable-session-state"
_RESOURCE_KINDS = ("lock", "socket", "database", "file", "thread", "executor", "queue",
                   "process_shared")
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
    """What :func:`enable` left in one session: its settings and what already loaded."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.verifier = Verifier(config, ROOT)


def enable(mode: str | None = None, *, backend: str | None = None,
           roundtrip: bool | None = None) -> SessionConfig:
    """Enrich Streamlit's session-state check for this session; safe to call on every run.

    ``mode``, ``backend`` and ``roundtrip`` resolve as for :class:`picklecheck.SessionState`
    (argument, ``PICKLECHECK_SESSION_*`` variables, ``pyproject.toml``), except that
    ``roundtrip`` defaults to True. Returns the resolved settings.
    """
    config = resolve(mode=mode, backend=backend, roundtrip=roundtrip, default_roundtrip=True)
    _install()
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:  # bare `python app.py`: there is no session to check
        return config
    state = ctx.session_state
    try:
        current = state[_HOOK_KEY]
    except KeyError:
        current = None
    if not isinstance(current, _Hook) or _settings(current.config) != _settings(config):
        state[_HOOK_KEY] = _Hook(config)
    return config


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
    values, widgets = _user_values(state)
    reports = hook.verifier.failures(values)
    if not reports:
        return
    backend = hook.config.backend
    if enforced or hook.config.mode == "enforce":
        first = next(iter(reports))
        message = explain_state(reports, backend, markdown=True, enforced=enforced,
                                widgets=widgets)
        raise UnserializableSessionStateError(first, reports[first], backend, message, reports)
    st.warning(explain_state(reports, backend, markdown=True, enforced=False, widgets=widgets))
    text = explain_state(reports, backend, enforced=False, widgets=widgets)
    warnings.warn(errors.SerializationWarning(text), stacklevel=2)


def _hook_of(state: Any) -> _Hook | None:
    try:
        hook = state[_HOOK_KEY]
    except KeyError:
        return None
    return hook if isinstance(hook, _Hook) else None


def _user_values(state: Any) -> tuple[list[tuple[str, Any]], set[str]]:
    """``(user key, value)`` for every non-internal entry, and which keys are widgets'."""
    id_to_key = _id_key_mapping(state)
    values: dict[str, Any] = {}
    widgets: set[str] = set()
    for raw in list(state):
        if not isinstance(raw, str) or raw.startswith(_INTERNAL):
            continue
        key = _user_key(raw, id_to_key)
        try:
            value = state[raw]
        except KeyError:  # a widget whose metadata is gone, as Streamlit's filtered_state skips
            continue
        values.setdefault(key, value)
        if raw.startswith(_ELEMENT_ID):
            widgets.add(key)
    return list(values.items()), widgets


def _id_key_mapping(state: Any) -> dict[str, str]:
    mapper = getattr(state, "_key_id_mapper", None)
    mapping = getattr(mapper, "id_key_mapping", None)
    return mapping if isinstance(mapping, dict) else {}


def _user_key(raw: str, id_to_key: dict[str, str]) -> str:
    if not raw.startswith(_ELEMENT_ID):
        return raw
    if raw in id_to_key:
        return id_to_key[raw]
    user_key = raw.split("-", 2)[-1]  # $$ID-<hash>-<user key>, "None" when keyless
    return raw if user_key == "None" else user_key


# -- the message ------------------------------------------------------------------

def explain_state(reports: dict[str, Report], backend: str, *, markdown: bool = False,
                  enforced: bool = True, widgets: set[str] | frozenset[str] = frozenset()
                  ) -> str:
    """Every failing key, each culprit inside it, the cause and the fix.

    ``markdown`` wraps the detail in a code block for Streamlit's error and warning boxes.
    """
    names = ", ".join(f"`{key}`" if markdown else repr(key) for key in reports)
    count = f"{len(reports)} value{'s' if len(reports) != 1 else ''}"
    head = (f"picklecheck: {count} in st.session_state cannot be serialized with "
            f"{backend}: {names}.")
    body: list[str] = []
    for key, report in reports.items():
        body += _value_lines(key, report, backend, key in widgets)
    if markdown:
        lines = [head, "", "```text", *body, "```", ""]
    else:
        lines = [head, *body]
    if enforced:
        lines.append(f"Streamlit is configured ({OPTION} = true) to pickle session_state "
                     "values at the end of every run" + (f"; see [its docs]({_DOCS})."
                                                         if markdown else f"; see {_DOCS}"))
    return "\n".join(lines).rstrip()


def _value_lines(key: str, report: Report, backend: str, widget: bool) -> list[str]:
    result = report.results.get(backend)
    others = ", ".join(f"{name}: {'ok' if r.ok else 'fails'}"
                       for name, r in report.results.items() if name != backend)
    stages = {"loads": "dumps but does not load back", "fresh": "does not load elsewhere"}
    stage = stages.get((result.stage if result is not None else None) or "", "does not pickle")
    lines = [f"{report.name}  ({report.type}) {stage}" + (f"  [{others}]" if others else "")]
    if widget:
        lines += _wrap("note:", f"this is the value of the widget with key={key!r}; a widget "
                       "keeps the option it returns, so offer names or plain values as options "
                       "and look the objects up after the widget.", "  ")
    entries = entries_for(report, backend)
    for entry in entries:
        lines += entry_lines(entry, indent="  ", backends=False)
        lines += _streamlit_hint(entry)
    count = sum(len(e.culprits) for e in entries)
    note = summary_note(report, entries, count, "picklecheck.check(value, expand=True)")
    if note:
        lines.append(f"  ({note})")
    if not entries and result is not None:
        lines.append(f"  {result.error or result.roundtrip_error or result.fresh_error}")
    return lines


def _streamlit_hint(entry: Entry) -> list[str]:
    """What to do in a Streamlit app: where objects of each kind belong instead."""
    culprit = entry.first
    text = ""
    if entry.inside or culprit.kind in _RESOURCE_KINDS:
        text = ("keep connections, clients, models and locks out of st.session_state: "
                "create them in a function decorated with @st.cache_resource and call it "
                "on every run (it returns the same object each time).")
    elif culprit.kind in ("stale_reference", "main_reference") and "__main__" in culprit.reason:
        text = _rerun_fix(culprit.obj)
    elif culprit.kind == "generator":
        text = ("a generator is used up once and cannot be stored: keep what it produces "
                "(a list) or where to resume in st.session_state, and make a new generator "
                "from that on each run.")
    elif culprit.kind in ("lambda", "local"):
        text = ("store data in st.session_state, not functions: keep a name and look the "
                "function up in a module-level dict, or build it in @st.cache_resource.")
    return _wrap("fix:", text) if text else []


def _rerun_fix(obj: Any) -> str:
    """Why a function or class of the app script stops pickling after a rerun."""
    if type(obj) is types.FunctionType:
        noun, name, made = "function", obj.__name__, "is the earlier run's function"
    else:
        cls = obj if isinstance(obj, type) else type(obj)
        noun, name = "class", getattr(cls, "__name__", "?")
        made = "is an earlier run's class" if cls is obj else "was made by an earlier run's class"
    return (f"Streamlit runs the app script again on every rerun, which defines a new "
            f"{noun} __main__.{name}; this value {made}, so pickle's lookup of "
            f"__main__.{name} finds a different object (\"not the same object as "
            f"__main__.{name}\"). Move {name} into a module next to the app (e.g. "
            f"{'helpers' if noun == 'function' else 'models'}.py) and import it.")


def _wrap(label: str, text: str, indent: str = "    ") -> list[str]:
    prefix = f"{indent}{label:<7}"
    return textwrap.wrap(text, 88, initial_indent=prefix, subsequent_indent=" " * len(prefix))
