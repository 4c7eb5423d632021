"""What to do about a culprit: a concrete fix for its kind, and which backends cope.

:func:`hint_for` turns a kind (see :mod:`picklecheck.engine.kinds`) into one
sentence naming the place to change, ending with what the other backends do with
the object ("(dill: ok, cloudpickle: fails)").
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, TypeVar

from picklecheck.engine.saferepr import qualified_name, type_name
from picklecheck.engine.walker import safe_attr

if TYPE_CHECKING:
    from picklecheck.engine.finding import Finding

__all__ = ["hint_for"]


def hint_for(kind: str, finding: Finding, works_with: dict[str, bool],
             deeper: list[str] | tuple[str, ...] = (), own: tuple[str, ...] = (),
             notes: dict[str, str] | None = None) -> str:
    """A concrete fix for a finding of ``kind``, ending with which backends cope.

    ``deeper`` names backends that get past this object but fail on something inside it;
    ``own`` the backends this culprit was found for; ``notes`` how far a backend that
    does not cope gets ("dumps and loads, but the copy's lock can never be acquired").
    """
    try:
        return _hint_for(kind, finding, works_with, deeper, own, notes or {})
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a hostile object must not break the report (any BaseException)
        return _FIXES["other"].format(type=type_name(finding.obj))


def _hint_for(kind: str, finding: Finding, works_with: dict[str, bool],
              deeper: list[str] | tuple[str, ...], own: tuple[str, ...],
              notes: dict[str, str]) -> str:
    obj = finding.obj
    # A class (or a function, a TypeVar) is named by its own name, not its type's.
    # (type() checks only: isinstance() reads __class__, which runs hostile code.)
    tname = qualified_name(obj) if issubclass(type(obj), type) else type_name(obj)
    named = obj if issubclass(type(obj), _NAMED) else safe_attr(obj, "__wrapped__")  # a wrapper
    own_name = qualified_name(named) if issubclass(type(named), _NAMED) else "<unknown type>"
    subject = own_name if own_name != "<unknown type>" else tname
    owner = _owner_name(finding)
    attr = _last_attr(finding)
    fix = _FIXES.get(kind, _FIXES["other"])
    if attr is None or finding.owner is None:
        fix = fix.replace(_STATE_FIX, _CONTAINER_FIX)
    text = fix.format(type=tname, owner=owner, attr=attr or "it",
                      via=qualified_name(finding.via) if finding.via is not None else subject,
                      detail=finding.detail, **_depth_words(finding))
    return text + _coping(works_with, deeper, own, notes)


def _coping(works_with: dict[str, bool], deeper: list[str] | tuple[str, ...],
            own: tuple[str, ...], partly: dict[str, str] | None = None) -> str:
    """"(dill: ok, cloudpickle: fails)": what the backends not blamed here do with it."""
    partly = partly or {}
    ok = [name for name, good in works_with.items() if good]
    others = [n for n, good in works_with.items() if not good and n not in own and n not in deeper]
    notes = [f"{n}: ok" for n in ok] + [f"{n}: {partly.get(n, 'fails')}" for n in others]
    if deeper:
        notes.append(f"{' and '.join(deeper)} get{'s' if len(deeper) == 1 else ''} past it "
                     "but fail inside it")
    if notes:
        return f" ({', '.join(notes)})"
    if works_with and not ok:
        return " (no backend can pickle it)"
    return ""


def _depth_words(finding: Finding) -> dict[str, Any]:
    extra = finding.extra
    nested = extra.get("nested")
    return {
        "limit": extra.get("limit", "?"),
        "nested": f"at least {nested:,}" if nested else "more than the limit of",
    }


def _owner_name(finding: Finding) -> str:
    if finding.owner is None:
        return "its class"
    return type_name(finding.owner)


def _last_attr(finding: Finding) -> str | None:
    for step in reversed(finding.steps):
        if step.kind == "attr":
            return str(step.value)
        if step.kind in ("item", "index"):
            return None
    return None


_NAMED = (type, types.FunctionType, types.BuiltinFunctionType, TypeVar)
_STATE_FIX = ("drop {attr} in {owner}.__getstate__ (or exclude it with __reduce__) and "
              "re-create it in __setstate__")
_CONTAINER_FIX = ("take it out of the data before it is sent and re-create it where it is "
                  "used")
_FIXES = {
    "too_deep": ("the graph nests {nested} levels here; the pickler gives up near {limit}; "
                 "flatten it (store a list of nodes and indices) or raise sys.setrecursionlimit "
                 "with care"),
    "reduce_cycle": ("{detail}: __reduce__ passes an object that leads back to itself as a "
                     "constructor argument, so pickling never ends; move the back-reference "
                     "into the state (third item of __reduce__) so it is set after creation"),
    "load_hazard": ("picklecheck did not load it: a trip through this backend would re-run "
                    "that side effect wherever it is loaded; keep the path, not the handle"),
    "load_side_effect": ("whatever loads this pickle (a worker, a cache, the next run) would do "
                         "the same; keep such actions out of __reduce__ and __setstate__, and "
                         "do them explicitly after loading"),
    "load_timeout": ("a __setstate__ or reconstructor that waits, loops or takes a lock makes "
                     "every load hang; keep slow work out of loading, and re-create locks and "
                     "connections in __setstate__ rather than restoring their state"),
    "load_memory": ("loading it builds far more than the pickle holds; check __setstate__ and "
                    "reconstructors for allocations sized by the data"),
    "main_reference": ("{via} is defined in __main__, so the pickle refers to __main__.{via} "
                       "and another interpreter has no such name; move it into an importable "
                       "module"),
    "unimportable": ("the pickle refers to {via}, whose module the other interpreter cannot "
                     "import; install that module there, or use cloudpickle with "
                     "cloudpickle.register_pickle_by_value(module)"),
    "lambda": ("pickle saves functions by name and a lambda has none; use a module-level "
               "def, or functools.partial of one"),
    "local": ("{via} is defined inside a function, so pickle cannot find it by name; move it "
              "to module level"),
    "stale_reference": ("{via} is not the object its module now holds under that name "
                        "(redefined after use, renamed, or wrapped by a decorator); pickle "
                        "the current definition or give it a unique module-level name"),
    "wrapped": ("it wraps {via} (a decorator such as functools.lru_cache), which pickle "
                "cannot find by name; define and decorate the function at module level"),
    "runtime_class": ("{via} is made at run time (by a factory, or inside a function) and its "
                      "module holds nothing under that name, so pickle cannot find it; define "
                      "it at module level, or send what it is made from"),
    "generated_function": ("{via} is compiled at run time (from a template, or by a library "
                           "that generates code), so pickle cannot find it by name; send what "
                           "it is generated from and generate it again where it is used"),
    "unbound": ("its module holds nothing under the name {via}, so pickle cannot find it; "
                "bind it there under that name"),
    "recursive_attribute": ("looking up an attribute on {type} never ends ({detail}); have its "
                            "__getattr__ or __getattribute__ read its own attributes with "
                            "object.__getattribute__, or give it __getstate__"),
    "lock": ("locks cannot cross a process boundary; " + _STATE_FIX),
    "process_shared": ("pass it to worker processes when they start (Process args or a Pool "
                       "initializer), or use a multiprocessing.Manager() proxy"),
    "executor": "pools hold threads and queues; keep the pool outside the object you send",
    "thread": ("threads, thread-locals and context variables belong to this process; "
               + _STATE_FIX),
    "queue": ("an in-process queue cannot be sent; use multiprocessing.Queue or a Manager "
              "queue, or " + _STATE_FIX),
    "file": "store the file's path and open it again where it is used; " + _STATE_FIX,
    "socket": "store the address, and connect again where it is used; " + _STATE_FIX,
    "database": ("store the connection string and connect again where it is used (in "
                 "Streamlit, st.cache_resource); " + _STATE_FIX),
    "generator": ("a running generator, coroutine or frame cannot be saved; store the data it "
                  "produces (a list) or what is needed to restart it"),
    "module": "store the module's name and import it where it is used",
    "code": "store the source or a module-level function instead of a code object",
    "weakref": "store the referenced object, or re-create the weak reference in __setstate__",
    "view": "convert it to a plain value first (list(d.keys()), dict(proxy), bytes(view))",
    "mock": "mocks are test doubles that cannot be pickled; use a real object or a picklable fake",
    "custom_reduce": ("{type} refuses to be pickled in its own __reduce__/__getstate__; "
                      "exclude it from the state that is sent, or pass what is needed to "
                      "re-create it"),
    "load_failure": ("it dumps but does not load: check that __reduce__ returns every "
                     "argument the constructor needs and that __setstate__ accepts the state"),
    "c_type": ("{type} is a C type that none of its methods can pickle; " + _STATE_FIX),
    "other": "exclude it from what is sent, or give {type} a __reduce__ that rebuilds it",
}
