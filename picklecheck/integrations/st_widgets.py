"""Which entry of Streamlit's session state belongs to which widget, on every version.

Streamlit keeps a widget's value under a generated id, not under the ``key=`` the app
gave it, and the id's shape changed over the supported range:

=================  ==========================  =======================================
Streamlit          widget id                   key <-> id
=================  ==========================  =======================================
1.30 - 1.38        ``$$WIDGET_ID-<hash>-<key>``  ``SessionState._key_id_mapping`` (key -> id)
1.39 and later     ``$$ID-<hash>-<key>``         ``SessionState._key_id_mapper.id_key_mapping``
=================  ==========================  =======================================

A widget without ``key=`` gets ``None`` as its key part, and nothing in session state
says which widget it is. :class:`LabelRecorder` notes the type and label of such
widgets as their elements are sent to the browser (the script run context's enqueue
function, wrapped once per context), so a value can be named ``<selectbox 'Scale'>``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ID_PREFIXES", "LabelRecorder", "WidgetNames", "is_widget_id", "record_labels"]

ID_PREFIXES = ("$$ID-", "$$WIDGET_ID-")
_KEYLESS = "-None"
_LABELS_KEPT = 2000  # keyless widgets remembered per session (oldest forgotten first)


def is_widget_id(raw: str) -> bool:
    """True for a generated widget id of any supported Streamlit version."""
    return raw.startswith(ID_PREFIXES)


class WidgetNames:
    """Names the app would recognise for the raw keys of one session's state."""

    def __init__(self, state: Any, labels: dict[str, tuple[str, str]]) -> None:
        self._id_to_key = id_key_mapping(state)
        self._labels = labels
        self._unknown = 0

    def name(self, raw: str) -> tuple[str, str | None]:
        """``(name, widget)``: the user key or a ``<type 'label'>`` name, and for a
        widget's value a phrase saying which widget it is (None for plain keys)."""
        if not is_widget_id(raw):
            return raw, None
        key = self._id_to_key.get(raw)
        if key is None:
            tail = raw.split("-", 2)[-1]
            key = None if tail == "None" else tail
        if key is not None:
            return key, f"the widget with key={key!r}"
        kind, label = self._labels.get(raw, ("", ""))
        if kind:
            name = f"<{kind} {label!r}>"
            return name, f"the {kind} {label!r}, which has no key="
        self._unknown += 1
        suffix = f" {self._unknown}" if self._unknown > 1 else ""
        return f"<a widget without key={suffix}>", "a widget created without key="


def id_key_mapping(state: Any) -> dict[str, str]:
    """Widget id -> user key, from whichever structure this Streamlit version keeps."""
    mapper = getattr(state, "_key_id_mapper", None)
    mapping = getattr(mapper, "id_key_mapping", None)
    if isinstance(mapping, dict):
        return dict(mapping)
    legacy = getattr(state, "_key_id_mapping", None)
    if isinstance(legacy, dict):
        return {wid: key for key, wid in legacy.items()}
    return {}


class LabelRecorder:
    """Wraps a script run context's enqueue function and notes keyless widgets' labels.

    It looks at each message's element (a few protobuf field reads) and keeps only
    ``id -> (type, label)`` for widgets whose id has no key, at most
    :data:`_LABELS_KEPT` per session.
    """

    __slots__ = ("enqueue", "labels")

    def __init__(self, enqueue: Any, labels: dict[str, tuple[str, str]]) -> None:
        self.enqueue = enqueue
        self.labels = labels

    def __call__(self, msg: Any) -> None:
        try:
            self._note(msg)
        except Exception:  # noqa: BLE001, S110 - naming is a nicety; never break the app
            pass
        self.enqueue(msg)

    def _note(self, msg: Any) -> None:
        if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
            return
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        proto = getattr(element, kind, None) if kind else None
        wid = getattr(proto, "id", "")
        if isinstance(wid, str) and wid.endswith(_KEYLESS) and is_widget_id(wid):
            labels = self.labels
            labels.pop(wid, None)
            labels[wid] = (kind, str(getattr(proto, "label", "")))
            if len(labels) > _LABELS_KEPT:
                del labels[next(iter(labels))]


def record_labels(ctx: Any, labels: dict[str, tuple[str, str]]) -> None:
    """Make ``ctx`` note keyless widgets' labels into ``labels`` (once per context)."""
    current = getattr(ctx, "_enqueue", None)
    if current is None:
        return
    if isinstance(current, LabelRecorder):
        current.labels = labels
        return
    ctx._enqueue = LabelRecorder(current, labels)
