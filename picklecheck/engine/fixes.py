"""What to do about a culprit: a concrete fix for its kind, and which backends cope.

:func:`hint_for` turns a kind (see :mod:`picklecheck.engine.kinds`) into one sentence
naming the place to change, ending with what the other backends do with the object
("(dill: ok, cloudpickle: fails)"). :func:`boundary_hint` says what to do about a
library object that holds culprits (a SQLAlchemy Session, a boto3 client).

A fix only ever names code the user owns: the nearest class or function they wrote on
the culprit's path (its :class:`~picklecheck.engine.holder.Holder`), never a class of
the standard library or of an installed package. A new kind needs one entry in
:data:`FIXES`; ``{fix}`` in it becomes the sentence that says where to drop the object
(:func:`where_to_drop`). A library's own advice is one entry in :data:`LIBRARY_FIXES`.
"""

from __future__ import annotations

import enum
import io
import re
import sys
import threading
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from picklecheck.engine.finding import exception_name
from picklecheck.engine.holder import DATA, Holder, owner_holder
from picklecheck.engine.kinds import fetched_row, unregistered_module, wraps_a_method
from picklecheck.engine.saferepr import qualified_name, saferepr, type_name
from picklecheck.engine.usercode import MAIN_MODULES, UserCode, is_function
from picklecheck.engine.walker import MISSING, safe_attr
from picklecheck.isolation.foreign import exception_text
from picklecheck.isolation.fresh import (
    MAIN_IMPORT_FAILED,
    NOT_THERE,
    THERE,
    distribution_of,
    version_of,
)
from picklecheck.isolation.watch import DROPPING, IMPORTED

if TYPE_CHECKING:
    from picklecheck.engine.finding import Finding

__all__ = ["FIXES", "KIND_WORDS", "LIBRARY_FIXES", "boundary_hint", "hint_for", "where_to_drop"]

_USER = UserCode()


def hint_for(kind: str, finding: Finding, works_with: dict[str, bool],
             deeper: list[str] | tuple[str, ...] = (), own: tuple[str, ...] = (),
             notes: dict[str, str] | None = None, whole: tuple[str, ...] = ()) -> str:
    """A concrete fix for a finding of ``kind``, ending with which backends cope.

    ``deeper`` names backends that get past this object but fail on something inside it;
    ``own`` the backends this culprit was found for; ``notes`` how far a backend that
    does not cope gets ("dumps and loads, but the copy's lock can never be acquired");
    ``whole`` the backends that saved the whole object (one that fails on this one alone
    never saves it as it is here: "pickle: saves the whole object").
    The holder of the fix is ``finding.extra["holder"]`` when the report worked it out,
    else the finding's owner.
    """
    try:
        driver = driver_only(type(finding.obj))
        if driver is not None:
            text = driver  # neither the generic fix nor a framework's applies to it
        else:
            text = _sentence(kind, finding)
            holder = finding.extra.get("holder")
            if not isinstance(holder, Holder):
                holder = Holder("")  # not worked out: neither data nor a function's
            # (A generator in the data sent is its data to materialise: a framework's
            # words are about what a function captures.)
            if (_is_mine(kind, _target(finding)) or kind not in _NOT_MINE) and not (
                    kind == "generator" and holder.kind == "data"):
                text = framework_hint(kind, own, text)
                # (A framework's words may replace the generic ones, but not this.)
                if (by_name := _by_name_global(holder)) and by_name not in text:
                    text += "; " + by_name
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a hostile object must not break the report
        text = "take it out of the data before it is sent and re-create it where it is used"
    return text + _coping(works_with, deeper, own, finding.stage, notes or {}, whole)


def _sentence(kind: str, finding: Finding) -> str:
    obj = finding.obj
    holder = finding.extra.get("holder")
    if not isinstance(holder, Holder):
        holder = owner_holder(finding, _USER)
    via = _target(finding)
    template = _variant(kind, finding, _is_mine(kind, via))
    if holder.kind == "data" and (kind in _SAYS_WHERE
                                  or kind == "c_type" and _c_type_advice(obj)):
        template = template.replace("; {fix}", "")
    # A class is named by its own name, not its type's (type() only: isinstance() reads
    # __class__, which runs hostile code).
    name = qualified_name(obj) if issubclass(type(obj), type) else type_name(obj)
    return template.format(type=name, via=_name_of(via), package=_package(via),
                           detail=finding.detail, fix=where_to_drop(holder),
                           error=exception_name(finding.exc) if "{error}" in template else "",
                           **_depth_words(finding))


def _folded(finding: Finding) -> Any:
    """The folded class or reconstructor the finding is about, or its object."""
    return finding.via if finding.via is not None else finding.obj


def _target(finding: Finding) -> Any:
    """What the fix is about: the folded class or reconstructor, the function a wrapper
    (``functools.lru_cache``) wraps, or the object itself."""
    obj = _folded(finding)
    if not issubclass(type(obj), _NAMED):
        wrapped = safe_attr(obj, "__wrapped__")
        if type(wrapped) is types.MethodType:  # a wrapper made per instance: the method
            wrapped = safe_attr(wrapped, "__func__")
        if issubclass(type(wrapped), _NAMED):
            return wrapped
    return obj


def _is_mine(kind: str, target: Any) -> bool:
    """Whether the user wrote ``target``. What pickles by name (a function, a class, a
    TypeVar) is judged by the module it names, anything else by its class."""
    if kind in _BY_NAME:
        try:
            module = target.__module__
        except Exception:  # noqa: BLE001 - a hostile __getattr__
            module = None
        if isinstance(module, str):
            # "types": made by a factory the caller called (make_dataclass, new_class).
            return module == "types" or _USER.module(module)
    return _USER.defines(target)


def _name_of(obj: Any) -> str:
    """``module.qualname`` of a class, function or TypeVar, else a short repr."""
    kind = type(obj)
    if kind in (types.BuiltinFunctionType, TypeVar) or is_function(obj) or issubclass(kind, type):
        return qualified_name(obj)
    return saferepr(obj, 60)


def _package_there(text: str) -> str | None:
    """The fix when the package a missing module belongs to is not installed where the
    bytes load, or is another version there (the fresh child says "(numpy is not
    installed there)", "(numpy 1.26.4 there)"), or None."""
    absent = re.search(r"\(([\w.]+)" + re.escape(NOT_THERE) + "$", text)
    if absent is not None:
        top = absent.group(1)
        here = version_of(top)
        pin = f"=={here}" if here else ""
        return (f"{top} is not installed where it loads: install it there "
                f"(pip install {distribution_of(top)}{pin})")
    found = re.search(r"\(([\w.]+) (\S+)" + re.escape(THERE) + "$", text)
    if found is None:
        return None
    top, there = found.groups()
    here = version_of(top)
    if here is None or here == there:
        return None
    project = distribution_of(top)
    return (f"{top} is {here} here and {there} where it loads, and that {top} lacks what "
            f"these bytes name: install {top} {here} there (pip install {project}=={here}), "
            f"or pickle it where {top} {there} is installed")


def _by_an_import(exc: BaseException) -> bool:
    """Whether everything a load tried, it tried as it imported a module (that module's
    top level did it: see watch.IMPORTED)."""
    tries = [e for e in getattr(exc, "effects", ()) if not e.startswith(DROPPING)]
    return bool(tries) and all(e.startswith(IMPORTED) for e in tries)


def _variant(kind: str, finding: Finding, mine: bool) -> str:
    """The template for ``kind``: library code gets words that do not ask to edit it."""
    if kind == "load_failure":
        if finding.stage == "fresh":
            name = exception_name(finding.exc)
            if name == "TimeoutError":
                return _FRESH_TIMEOUT
            if MAIN_IMPORT_FAILED in exception_text(finding.exc, 300):
                return _FRESH_MAIN_IMPORT
            return _FRESH_FAILURE
        if issubclass(type(finding.obj), type) and _defined_in_main(finding.obj):
            return _MAIN_CLASS_LOAD
        if issubclass(type(finding.obj), enum.Enum) and "is not a valid" in exception_text(
                finding.exc, 300):
            return _ENUM_BY_VALUE
        return FIXES[kind] if mine else _LIBRARY_LOAD_FAILURE
    if kind == "load_side_effect" and _by_an_import(finding.exc):
        return _IMPORT_SIDE_EFFECT
    if kind == "recursive_attribute" and finding.stage != "dumps":
        return _LOAD_RECURSION if mine else _LIBRARY_LOAD_RECURSION
    if kind == "getattr_raises" and finding.stage != "dumps" and mine:
        return _LOAD_GETATTR
    if kind == "generator" and issubclass(type(finding.obj), types.TracebackType):
        return _TRACEBACK
    if kind == "wrapped" and wraps_a_method(_folded(finding)):
        return _METHOD_WRAPPER
    if (kind in _STREAMLIT_OWN and _module_of_type(finding.obj).startswith("streamlit.")
            and (advice := library_fix(type(finding.obj), [kind]))):
        # Streamlit's own object, itself the culprit (a DeltaGenerator turns every
        # attribute into a command, __getstate__ too): its advice is Streamlit's
        return _as_template(advice)
    if kind in _BY_NAME and _type_parameter(_folded(finding)):
        name = str(getattr(_folded(finding), "__name__", "T"))
        return _TYPE_PARAMETER.replace("{name}", _as_template(name))
    if kind == "unimportable" and finding.stage == "fresh" and (
            other := _package_there(exception_text(finding.exc, 500))):
        return _as_template(other)
    if kind == "unimportable" and finding.stage == "dumps" and unregistered_module(
            _folded(finding)):
        return _UNREGISTERED
    if kind == "c_type" and fetched_row(type(finding.obj)):
        return _FETCHED_ROW
    if kind == "custom_reduce" and _SUPER_GETSTATE in exception_text(finding.exc, 300):
        return _NO_OBJECT_GETSTATE
    if kind == "stale_reference" and _sys_record(finding.obj):
        return _SYS_RECORD
    if kind == "runtime_class" and _made_by_ctypes(finding.obj):
        return _CTYPES_ARRAY
    if kind == "custom_reduce" and (inner := _python_function_error(finding)):
        return _POLARS_FUNCTION.replace("{inner}", _as_template(inner))
    if kind == "file" and (advice := _file_advice(finding.obj)):
        return advice
    if kind == "socket" and type_name(finding.obj) == "ssl.SSLContext":
        return _SSL_CONTEXT
    if kind == "c_type" and type_name(finding.obj) == "pickle.PickleBuffer":
        return _PICKLE_BUFFER
    if kind == "c_type" and (advice := _c_type_advice(finding.obj)):
        return "{type} is a C type that cannot be pickled: " + advice + "; {fix}"
    if not mine and kind in _NOT_MINE:
        return _NOT_MINE[kind]
    return FIXES.get(kind, FIXES["other"])


#: An Enum member is pickled as ``Op(value)``: a value that compares by identity (a
#: partial, a function, an object()) is another object once loaded, and no member's.
_ENUM_BY_VALUE = ("{type} is pickled as {type}(value), and the value of this member "
                  "compares by identity, so its loaded copy is no member's value: have its "
                  "members pickled by name (in the class, __reduce_ex__ = "
                  "enum.pickle_by_enum_name on Python 3.11+, or def __reduce_ex__(self, "
                  "protocol): return getattr, (type(self), self.name)), or give them values "
                  "that compare equal to their copies")


#: ctypes makes an array or pointer type (``ctypes.c_int * 3``) when it is first asked
#: for, named after its item type: no module holds it under that name, wherever it is made.
_CTYPES_ARRAY = ("{type} is a ctypes type made at run time (ctypes.c_int * 3, "
                 "ctypes.POINTER(...)), under a name no module holds wherever it is made, so "
                 "pickle cannot find it: keep the contents (list(arr), or bytes(arr)) and make "
                 "the array where it is used (e.g. (ctypes.c_int * 3)(*values))")


#: sys.flags, sys.version_info, ...: records of this interpreter, whose types sys makes
#: at start-up under names it does not hold (sys.flags is the record, not its type).
_SYS_RECORD = ("{type} is a record of this interpreter whose type sys makes at start-up and "
               "does not hold under its name, so pickle cannot find it: keep the fields you "
               "need (tuple({type}), or {type}.<field>), or read {type} again where it is used")


def _sys_record(obj: Any) -> bool:
    """Whether ``obj`` is one of sys's records (a structseq whose type lives in sys)."""
    return _module_of_type(obj) == "sys" and issubclass(type(obj), tuple)


#: The kinds of a Streamlit object that is itself a culprit, whose fix is Streamlit's.
_STREAMLIT_OWN = ("custom_reduce", "load_failure", "c_type", "getattr_raises", "other")


def _as_template(text: str) -> str:
    """``text`` as a template that formats to itself (its braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def _module_of_type(obj: Any) -> str:
    module = getattr(type(obj), "__module__", "")
    return module if isinstance(module, str) else ""


def _made_by_ctypes(obj: Any) -> bool:
    """Whether ``obj`` is an array or pointer of a type ctypes made at run time."""
    meta = type(type(obj))
    return getattr(meta, "__module__", None) == "_ctypes" and getattr(
        meta, "__name__", "") in ("PyCArrayType", "PyCPointerType")


_UNREGISTERED = ("{via} comes from a module that was loaded from its file but never put "
                 "in sys.modules (as a plugin loader's module_from_spec and exec_module "
                 "leave it), so pickle cannot find it by name: register the module first "
                 "(sys.modules[spec.name] = module, then spec.loader.exec_module(module)) "
                 "and make it importable where it loads, or send it with cloudpickle, which "
                 "saves it by value")
#: What ``super().__getstate__()`` raises before Python 3.11 (object has none there).
_SUPER_GETSTATE = "'super' object has no attribute '__getstate__'"
_NO_OBJECT_GETSTATE = ("{type}.__getstate__ calls super().__getstate__(), which object has "
                       "only from Python 3.11 on: start the state from self.__dict__.copy() "
                       "instead, which works on every Python")


def _type_parameter(obj: Any) -> bool:
    """Whether ``obj`` is the type parameter of a generic written ``class Box[T]`` or
    ``def first[T]`` (Python 3.12+): Python gives it the module ``typing``, where no
    ``T`` is found."""
    typing = sys.modules.get("typing")
    kinds = tuple(k for k in (TypeVar, getattr(typing, "ParamSpec", None),
                              getattr(typing, "TypeVarTuple", None)) if isinstance(k, type))
    return type(obj) in kinds and getattr(obj, "__module__", None) == "typing" and not any(
        getattr(typing, name, None) is obj for name in ("T", "KT", "VT", "AnyStr"))


_TYPE_PARAMETER = ("{name} is the type parameter of a generic written with the [{name}] "
                   "syntax, which Python gives the module typing, where pickle and dill "
                   "look it up by name and find another {name} or none: define the generic in a "
                   "module the workers import (it is then saved by name, with its "
                   "parameters), or send it with cloudpickle, which saves type parameters "
                   "by value")


#: polars pickles the Python functions of an expression or a plan (map_elements,
#: map_batches) with cloudpickle, in Rust: what one of them holds fails there.
_POLARS_FUNCTION = ("{type} pickles the Python functions in it (map_elements, map_batches) "
                    "with cloudpickle, and one of them holds what cannot be pickled ({inner}): "
                    "create that inside the function, or pass a module-level function that "
                    "makes it where it runs")
_POLARS_ERROR = re.compile(r"python: ([^\\\"]+)")


def _python_function_error(finding: Finding) -> str:
    """What pickling a Python function of a polars object raised, as polars reports it
    (``BindingsError: "OtherString(\"python: TypeError: cannot pickle ...\")"``), or ""."""
    if not _module_of_type(finding.obj).startswith("polars"):
        return ""
    found = _POLARS_ERROR.search(exception_text(finding.exc, 1000))
    return found.group(1).strip() if found else ""


#: A decorator applied to a bound method in ``__init__`` (a cache per instance).
_METHOD_WRAPPER = ("it wraps the method {via} per instance, made at run time "
                   "(functools.lru_cache()(self.method)), so pickle cannot find it by name: "
                   "leave it out in __getstate__ and wrap the method again in __setstate__")


#: An SSL context connects nothing: it holds OpenSSL's settings and loaded certificates.
_SSL_CONTEXT = ("an SSLContext holds settings and certificates loaded into OpenSSL; store "
                "what configures it (the CA file, the certificate paths) and create it where "
                "it is used (ssl.create_default_context(cafile=...)); {fix}")


#: A PickleBuffer is protocol 5's out-of-band buffer: only that protocol saves it.
_PICKLE_BUFFER = ("a PickleBuffer pickles only with protocol 5 (cloudpickle's default): pass "
                  "protocol=5 to pickle.dumps or dill.dumps, or keep bytes(buffer) instead")


def _defined_in_main(cls: Any) -> bool:
    """Whether class ``cls`` says it was defined in the script run as ``__main__``."""
    try:
        module = cls.__module__
    except Exception:  # noqa: BLE001 - a hostile metaclass
        return False
    return module in MAIN_MODULES


_STANDARD_STREAMS = ("<stdin>", "<stdout>", "<stderr>")


def _file_advice(obj: Any) -> str:
    """The fix of a file that has no path to store: a standard stream (or what stands in
    for one: pytest's capture), a file opened by its number, or a wrapper of a file in
    memory (its buffer, or the buffer's raw file, is a BytesIO); or ""."""
    streams = (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)
    if any(obj is stream for stream in streams) or safe_attr(obj, "name") in _STANDARD_STREAMS:
        return ("a standard stream belongs to this process: look sys.stdout (or sys.stderr) "
                "up where it is used instead of keeping it; {fix}")
    if type(safe_attr(obj, "name")) is int:
        return ("a file opened by its descriptor number (tempfile.TemporaryFile(), "
                "os.fdopen()) has no path to open again: send its contents (f.seek(0), then "
                "f.read()), or write them to a named file (tempfile.NamedTemporaryFile("
                "delete=False)) and send its name; {fix}")
    inner = obj
    for _ in range(3):
        if type(inner) in (io.BytesIO, io.StringIO):
            return ("a file in memory cannot be pickled inside its wrapper: keep its "
                    "contents (getvalue() of the BytesIO it wraps) and wrap them again "
                    "where they are used; {fix}")
        following = safe_attr(inner, "buffer")
        inner = following if following is not MISSING else safe_attr(inner, "raw")
    return ""


#: What to keep instead of a C object people often hold: (modules, type names or () for
#: any, what to keep).
_C_TYPE_ADVICE = (
    (("re",), ("Match",), "keep what it matched instead (match.group(), match.groups(), "
     "match.span(), match.groupdict())"),
    (("_csv",), ("reader", "writer"), "keep the file's path and the csv options, and make "
     "the reader or writer where it is used"),
    (("_hashlib", "_blake2", "_md5", "_sha1", "_sha2", "_sha256", "_sha512", "_sha3"), (),
     "keep the data to hash, or its hexdigest() once it is complete"),
)


def _c_type_advice(obj: Any) -> str:
    """What to keep instead of a C object of a kind people often hold, or ""."""
    cls = type(obj)
    module, name = getattr(cls, "__module__", ""), getattr(cls, "__name__", "")
    for modules, names, advice in _C_TYPE_ADVICE:
        if module in modules and (not names or name in names):
            return advice
    return ""


def where_to_drop(holder: Holder) -> str:
    """Where to leave the object out: in the user's class, function, or their data."""
    if holder.kind == "class" and holder.via == "state":
        return (f"leave {holder.label} out of the state {holder.name}.__getstate__ (or "
                "__reduce__) returns, and re-create it in __setstate__")
    if holder.kind == "class" and holder.attr:
        return (f"drop {holder.attr} in {holder.name}.__getstate__ (or exclude it with "
                f"__reduce__) and re-create it in __setstate__")
    if holder.kind == "type" and holder.attr:
        return (f"{holder.name} is saved by value with its class attributes: make "
                f"{holder.attr} an instance attribute created in __init__, or define "
                f"{holder.short} in an importable module so it is saved by name")
    if holder.kind == "function" and holder.via == "attribute":
        named = holder.short if holder.short == holder.name else f"{holder.short} ({holder.name})"
        return _save_by_name(named, "attributes", holder)
    if holder.kind == "function":
        func, short = holder.name, holder.short
        how = {"closure": f"{short} ({func}) captures "
                          + (holder.label if holder.label else "it")
                          + " from the enclosing function",
               "global": f"{short} ({func}) uses it as the global {holder.label}",
               "default": f"{short} ({func}) has it as a default argument value"}.get(holder.via)
        fix = f"create it inside {short}, or pass what is needed to create it as an argument"
        if by_name := _by_name_global(holder):
            fix += "; " + by_name
        return f"{how}: {fix}" if how else f"{fix} ({func})"
    return "take it out of the data before it is sent and re-create it where it is used"


def _by_name_global(holder: Holder) -> str:
    """For a global a function uses: that the function travels by value (a global is
    pickled only with a function saved by value, a __main__ one or a closure), and what
    sending it by name gives; else ""."""
    if holder.kind != "function" or holder.via != "global":
        return ""
    return (f"{holder.short} travels by value, with the globals it uses: defined at the top "
            "level of a module the workers import, it is sent by name, and each worker uses "
            f"its own {holder.label}")


def framework_hint(kind: str, own: tuple[str, ...], generic: str) -> str:
    """The frameworks' own fixes (see Backend.hints) for the backends that fail on it:
    instead of the generic fix when only frameworks fail on it, after it otherwise."""
    from picklecheck.backends import get_backend

    spoken = []
    for name in own:
        try:
            sentence = get_backend(name).hints.get(kind)
        except ValueError:
            continue
        if sentence and sentence not in spoken:
            spoken.append(sentence)
    if not spoken:
        return generic
    if all(get_backend(n).framework for n in own):
        return "; ".join(spoken)
    return generic + "; " + "; ".join(spoken)


def _coping(works_with: dict[str, bool], deeper: list[str] | tuple[str, ...],
            own: tuple[str, ...], stage: str, partly: dict[str, str],
            whole: tuple[str, ...] = ()) -> str:
    """"(dill: ok, cloudpickle: fails)": what the backends not blamed here do with it;
    ``partly`` says how far a backend that fails gets; ``whole`` which saved the whole
    object, and so never failed on it there."""
    ok = [name for name, good in works_with.items() if good]
    others = [n for n, good in works_with.items() if not good and n not in own and n not in deeper]
    notes = [f"{n}: ok" for n in ok] + [
        f"{n}: saves the whole object" if n in whole else f"{n}: {partly.get(n, 'fails')}"
        for n in others]
    if deeper:
        one = len(deeper) == 1
        notes.append(f"{' and '.join(deeper)} get{'s' if one else ''} past it but "
                     f"fail{'s' if one else ''} inside it")
    if notes:
        return f" ({', '.join(notes)})"
    if not ok and stage in _NO_BACKEND and (len(works_with) > 1
                                            or any(n not in own for n in works_with)):
        return f" ({_NO_BACKEND[stage]})"
    return ""


_NO_BACKEND = {"dumps": "no backend can pickle it", "loads": "no backend loads it back"}


def _depth_words(finding: Finding) -> dict[str, Any]:
    extra = finding.extra
    nested = extra.get("nested")
    return {
        "limit": extra.get("limit", "?"),
        "nested": f"at least {nested:,}" if nested else "more than the limit of",
    }


# Kinds whose first words already say to re-create the object where it is used.
_SAYS_WHERE = ("file", "socket", "database", "executor")
_BY_NAME = ("local", "stale_reference", "main_reference", "unimportable", "lambda", "wrapped",
            "runtime_class", "generated_function", "unbound")
_NAMED = (type, types.FunctionType, types.BuiltinFunctionType, TypeVar)


def _package(obj: Any) -> str:
    """The top-level package that defines a function or class, or ``obj``'s class."""
    kind = type(obj)
    owner = obj if is_function(obj) or issubclass(kind, type) else kind
    module = getattr(owner, "__module__", None)
    return module.split(".")[0] if isinstance(module, str) and module else "a library"


FIXES = {
    "too_large": ("the framework refuses a function or class this big, though it pickles: "
                  "pass the big data it holds as an argument instead of keeping it in a "
                  "closure or a global"),
    "too_deep": ("the graph nests {nested} levels here; the pickler gives up near {limit}; "
                 "flatten it (store a list of nodes and indices) or raise sys.setrecursionlimit "
                 "with care"),
    "reduce_cycle": ("{detail}: __reduce__ passes an object that leads back to itself as a "
                     "constructor argument, so pickling never ends; move the back-reference "
                     "into the state (third item of __reduce__) so it is set after creation"),
    "load_hazard": ("picklecheck did not load it: a trip through this backend would re-run "
                    "that side effect wherever it is loaded; keep the path, not the handle"),
    "manager_proxy": ("a manager's proxy connects to the manager's server as it loads, "
                      "with this program's authkey: send it only to processes this program "
                      "starts while the manager runs; to a cache, a file or another program "
                      "send the data instead (proxy.copy(), dict(proxy) or list(proxy))"),
    "shared_memory": ("a SharedMemory attaches to its segment by name wherever it loads, and "
                      "registers it with that program's resource tracker, which removes the "
                      "segment when that program ends: send its name to the processes this "
                      "program starts and attach there (SharedMemory(name), track=False from "
                      "Python 3.13), and to a cache or another program send bytes(shm.buf)"),
    "shared_database": ("it opens its database file, and writes to it, wherever it loads: "
                        "processes of this machine that load it share that file (a "
                        "diskcache Cache is made to be shared so); to another machine, a "
                        "cache or the next run send the path and open it there, or send "
                        "the data instead"),
    "load_side_effect": ("whatever loads this pickle (a worker, a cache, the next run) would do "
                         "the same; keep such actions out of __reduce__ and __setstate__, and "
                         "do them explicitly after loading"),
    "drop_side_effect": ("the copy is a second live handle on what {type} works on: its "
                         "finalizer (__del__) writes there from its stale state wherever a "
                         "copy is dropped; pickle what is needed to reopen it (a path) and "
                         "open it where it is used"),
    "load_timeout": ("a __setstate__ or reconstructor that waits, loops or takes a lock makes "
                     "every load hang; keep slow work out of loading, and re-create locks and "
                     "connections in __setstate__ rather than restoring their state"),
    "load_memory": ("loading it builds far more than the pickle holds; check __setstate__ and "
                    "reconstructors for allocations sized by the data"),
    "other_python": ("{via} travels by value, as bytecode of this Python version, and "
                     "another version cannot run it; load it with the same Python version, "
                     "or define it at module level in a module installed there (then it "
                     "travels by name)"),
    "no_library": ("install it in the interpreter that loads the bytes, at the version "
                   "used here"),
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
    "getattr_raises": ("pickle looks __getstate__ up on {type}, and its __getattr__ raises "
                       "{error} for it where Python expects AttributeError (Python before "
                       "3.11 asks every instance): have __getattr__ raise AttributeError for "
                       "what it cannot serve"),
    "lock": "locks cannot cross a process boundary; {fix}",
    "process_shared": ("pass it to worker processes when they start (Process args or a Pool "
                       "initializer), or use a multiprocessing.Manager() proxy"),
    "fork_context": ("it was made by a fork context and goes to a spawn or forkserver worker: "
                     "make it from the context that starts the worker (ctx = "
                     "multiprocessing.get_context('spawn'), then ctx.Queue(), ctx.Lock())"),
    "executor": ("pools hold threads and queues; keep the pool out of what you send and "
                 "create one where it is used; {fix}"),
    "subprocess": ("a running subprocess is the child of the process that started it, and "
                   "only that process can wait for it; pass the command and start it where "
                   "it is used (or its pid, to watch it there); {fix}"),
    "thread": ("threads, thread-locals, context variables and an event loop's futures and "
               "tasks belong to this process; {fix}"),
    "queue": ("an in-process queue cannot be sent; share work through a multiprocessing.Queue "
              "or a Manager().Queue(), or {fix}"),
    "file": "store the file's path and open it again where it is used; {fix}",
    "socket": "store the address, and connect again where it is used; {fix}",
    "database": "store the connection string and connect again where it is used; {fix}",
    "generator": ("a running generator, coroutine or frame cannot be saved; store the data it "
                  "produces (a list) or what is needed to restart it"),
    "module": "store the module's name and import it where it is used",
    "code": "store the source or a module-level function instead of a code object",
    "weakref": "store the referenced object instead, or {fix}",
    "view": "convert it to a plain value first (list(d.keys()), dict(proxy), bytes(view))",
    "mock": "mocks are test doubles that cannot be pickled; use a real object or a picklable fake",
    "custom_reduce": ("{type} refuses to be pickled in its own __reduce__/__getstate__; "
                      "exclude it from the state that is sent, or pass what is needed to "
                      "re-create it"),
    "load_failure": ("{type} dumps but does not load: check that its __reduce__ returns every "
                     "argument its constructor needs and that its __setstate__ accepts the "
                     "state"),
    "c_type": "{type} is a C type that none of its methods can pickle; {fix}",
    "other": "give {type} a __reduce__ that rebuilds it, or {fix}",
}

# Library code: say what it is and where the user can leave it out, never "edit it".
_NOT_MINE = {
    "reduce_cycle": ("{detail}: the __reduce__ of {type} passes an object that leads back to "
                     "itself, so pickling never ends; {fix}"),
    "local": ("{via} is a function {package} defines inside another function, so pickle "
              "cannot find it by name; {fix}"),
    "stale_reference": ("{via} is made at run time by {package} and cannot be found under "
                        "its name, so it cannot be pickled by reference; {fix}"),
    "custom_reduce": ("{type} refuses to be pickled (its __reduce__ or __getstate__ raises); "
                      "{fix}"),
    "wrapped": ("{via} is wrapped by a decorator of {package} that pickle cannot find by "
                "name; {fix}"),
    "runtime_class": ("{via} is a class {package} makes at run time, and its module holds "
                      "nothing under that name, so pickle cannot find it; {fix}"),
    "unbound": ("{via} is made at run time by {package} and its module holds nothing under "
                "that name, so pickle cannot find it; {fix}"),
    "recursive_attribute": ("looking up an attribute on {type} never ends ({detail}); {fix}"),
    "getattr_raises": ("{package}'s __getattr__ on {type} raises {error} where pickle expects "
                       "AttributeError (it looks __getstate__ or __setstate__ up); {fix}"),
    "other": ("{type} cannot be pickled; {fix} (or register a reducer for its type with "
              "copyreg.pickle in your own code)"),
}
_MAIN_CLASS_LOAD = ("{type} is defined in __main__, so it is saved by value, with what its "
                    "namespace holds, and that copy of the class does not load back: define "
                    "{type} in an importable module so it is saved by name")
_LIBRARY_LOAD_FAILURE = "it dumps but {package} cannot load it back; {fix}"
_LOAD_RECURSION = ("loading makes an empty {type} and looks __setstate__ up on it; its "
                   "__getattr__ then reads an attribute the empty copy lacks, which calls "
                   "__getattr__ again, without end: have __getattr__ raise AttributeError "
                   "for what it cannot serve (reading its own attributes through "
                   "self.__dict__ or object.__getattribute__), or give {type} a __setstate__")
_LOAD_GETATTR = ("loading makes an empty {type} and looks __setstate__ up on it; its "
                 "__getattr__ raises {error} there where Python expects AttributeError: have "
                 "__getattr__ raise AttributeError for what it cannot serve (reading its own "
                 "attributes through self.__dict__), or give {type} a __setstate__")
_LIBRARY_LOAD_RECURSION = ("it dumps, but loading makes an empty {type}, on which "
                           "{package}'s __getattr__ calls itself without end; {fix}")
_TRACEBACK = ("a traceback and the frames it holds cannot be saved: keep its text instead "
              "(\"\".join(traceback.format_tb(tb)), or traceback.format_exception(exc) for "
              "the whole exception)")
_IMPORT_SIDE_EFFECT = ("a module the pickle names does it at its top level, as it is imported, "
                       "in every process that loads this pickle (a worker, a cache, the next "
                       "run); move what it does into a function called where it is needed")
_FETCHED_ROW = ("{type} is a row fetched from the database, tied to its cursor: send its "
                "values, tuple(row) (or dict(row) for its columns by name), not the row")
_FRESH_FAILURE = ("it loads here but not in a new interpreter: make sure every module and "
                  "file it needs exists there, and that its __setstate__ or reconstructor "
                  "does not depend on this process")
_FRESH_MAIN_IMPORT = ("a new worker imports your main script as __mp_main__ before it loads "
                      "anything, and that import raised: every worker would fail the same "
                      "way. Keep the script's top level to imports and definitions, and put "
                      "what reads arguments, files or the environment under if __name__ == "
                      "'__main__':")
_FRESH_TIMEOUT = ("loading it in a new interpreter did not finish in time: something it runs "
                  "while loading (a __setstate__, a reconstructor, an import) blocks or waits; "
                  "raise the timeout if loading is only slow")

#: kind -> words for "N culprits inside: locks, open files".
#: Kinds that are about the interpreter that loads the bytes, not this process: a library
#: object holding only them takes its culprit's fix (see boundary.attach).
_ABOUT_THE_LOADER = frozenset({"no_library", "unimportable", "other_python", "main_reference"})

KIND_WORDS = {
    "no_library": "what only the serializer's own library loads",
    "unimportable": "references to modules another interpreter cannot import",
    "other_python": "functions saved as bytecode of this Python version",
    "main_reference": "references to __main__",
    "lock": "locks", "thread": "thread state", "executor": "pools", "queue": "queues",
    "subprocess": "running subprocesses",
    "file": "open files", "socket": "sockets", "database": "database connections",
    "generator": "generators", "weakref": "weak references", "local": "local functions",
    "lambda": "lambdas", "module": "modules", "process_shared": "multiprocessing objects",
    "fork_context": "multiprocessing objects made for fork",
    "stale_reference": "redefined classes", "load_failure": "objects that do not load",
    "runtime_class": "classes made at run time", "generated_function": "generated functions",
    "wrapped": "wrapped functions", "unbound": "names made at run time",
    "recursive_attribute": "objects whose attribute lookup never ends",
    "getattr_raises": "objects whose __getattr__ raises the wrong error",
    "load_hazard": "objects with side effects on load",
    "load_side_effect": "objects with side effects on load",
    "manager_proxy": "manager proxies", "shared_memory": "shared memory blocks",
    "shared_database": "objects that open a shared database file",
    "drop_side_effect": "objects whose copies write when dropped",
    "too_large": "functions too big to send",
}

#: Kinds that show a library object holds connections (a pool's locks, its sockets).
_CONNECTED = ("socket", "lock", "database", "thread")

#: (module prefix, class-name words, signs, what it holds and what to do). The first entry
#: whose prefix matches the object's module, one of whose words is in its class name, and
#: one of whose signs is among the kinds of the culprits inside wins (no words: any class
#: of the module; no signs: whatever is inside). Signs keep a library's words to the
#: objects they are true of: a SQLAlchemy ``Select`` holding weak references holds no
#: connection, nor does a requests ``PreparedRequest`` whose body is the user's open file.
LIBRARY_FIXES: list[tuple[str, tuple[str, ...], tuple[str, ...], str]] = [
    ("sqlalchemy", ("Session",), _CONNECTED, "a SQLAlchemy Session holds a live database "
     "connection: pass the database URL and open a session where it is used"),
    ("sqlalchemy", (), _CONNECTED, "a SQLAlchemy {name} holds a pool of live database "
     "connections: pass the database URL and call create_engine where it is used"),
    ("botocore", (), _CONNECTED, "a boto3 client holds an HTTP connection pool and "
     "credentials: pass the service name and region and call boto3.client() where it is used"),
    ("boto3", ("Session",), (), "a boto3 Session holds event handlers and loaders made in "
     "this process: pass the region and credentials (or the profile name) and create the "
     "session where it is used"),
    ("boto3", (), _CONNECTED, "a boto3 {name} holds a client with an HTTP connection pool: "
     "pass the service name, region and resource names and call boto3.resource() where it "
     "is used"),
    ("httpx", (), _CONNECTED, "an httpx {name} holds open connections: pass the base URL and "
     "settings and create the client where it is used"),
    ("aiohttp", (), _CONNECTED, "an aiohttp {name} belongs to its event loop and holds open "
     "connections: pass the base URL and create the session inside the event loop where it "
     "is used"),
    ("requests", (), _CONNECTED, "a requests {name} holds open connections: pass the headers "
     "and settings and create the session where it is used"),
    ("urllib3", (), _CONNECTED, "a urllib3 {name} holds open connections: create it where it "
     "is used"),
    ("openai", (), _CONNECTED, "an OpenAI client holds an HTTP client: pass the model and "
     "base URL (the key comes from the environment) and create the client where it is used"),
    ("anthropic", (), _CONNECTED, "an Anthropic client holds an HTTP client: pass the model "
     "(the key comes from the environment) and create the client where it is used"),
    ("redis", (), _CONNECTED, "a Redis client holds a connection pool: pass the URL and call "
     "redis.Redis.from_url() where it is used"),
    ("psycopg", ("Cursor",), (), "a psycopg {name} belongs to its connection, a live "
     "connection to the PostgreSQL server: send the query and its parameters (or the rows "
     "it fetched) and run it where it is used"),
    ("psycopg", (), (), "a psycopg {name} is a live connection to the PostgreSQL server: "
     "pass the connection string and call psycopg.connect() (or open a pool) where it is "
     "used"),
    ("pymongo", (), _CONNECTED, "a MongoDB client holds a connection pool and monitor "
     "threads: pass the URI and create the client where it is used"),
    ("tqdm", (), (), "a tqdm progress bar writes to this process's terminal: pass the total "
     "and create the bar where the work runs"),
    ("asyncio", ("EventLoop",), (), "an asyncio event loop belongs to the thread that runs "
     "it: pass the coroutine function and its arguments and run it with asyncio.run() where "
     "it is used"),
    ("asyncio", (), (), "an asyncio {name} belongs to the event loop of this thread: pass the "
     "coroutine function and its arguments and run it with asyncio.run() where it is used"),
    ("tempfile", ("Directory",), (), "a TemporaryDirectory is deleted by this process: pass "
     "its path (the folder must outlive the worker's use of it)"),
    ("tempfile", (), (), "a temporary file belongs to this process, which deletes it: pass "
     "its name or its contents and open it where it is used"),
    ("concurrent.futures", ("Future",), (), "a Future is completed by the pool that runs it: "
     "pass its result (future.result()) instead"),
    ("concurrent.futures", (), (), "a {name} holds threads or processes and their queues: "
     "keep the pool out of what you send and create one where it is used"),
    ("multiprocessing", (), ("fork_context",), "a multiprocessing {name} made by a fork "
     "context cannot go to a spawn or forkserver worker: make it from the context that starts "
     "the worker (ctx = multiprocessing.get_context('spawn'), then ctx.{name}())"),
    ("multiprocessing", ("Process",), (), "a multiprocessing {name} is its parent's handle on "
     "a worker process, and its authentication key may be pickled only while a worker "
     "starts: keep the {name} in the process that created it (join or terminate it there) "
     "and send its name or pid where it is needed"),
    ("multiprocessing", (), (), "a multiprocessing {name} is shared with workers only when "
     "they start: pass it as a Process argument or Pool initializer, or use a Manager() proxy"),
    ("threading", ("_MainThread", "_DummyThread"), (), "a running thread "
     "(threading.current_thread()) belongs to this process: keep its name or ident, or call "
     "threading.current_thread() where it is needed"),
    ("threading", (), (), "a threading.{name} belongs to this process: create it where it is "
     "used"),
    ("queue", (), (), "an in-process queue holds locks: share work through a "
     "multiprocessing.Queue or a Manager().Queue(), or create the queue where it is used"),
    ("logging", ("LogRecord",), ("generator",), "a LogRecord's exc_info holds a traceback, "
     "whose frames belong to this process: format it first (record.exc_text = "
     "logging.Formatter().formatException(record.exc_info)) and set record.exc_info to None "
     "before it is sent"),
    ("logging", (), ("lock", "file"), "a logging {name} holds a lock and an open stream: "
     "configure logging where the work runs (logging.basicConfig or dictConfig)"),
    ("jinja2", (), ("generated_function",), "a jinja2 {name} holds compiled templates and "
     "caches: pass the template source or folder and create it where it is used"),
    ("subprocess", (), (), "a running subprocess belongs to this process: pass the command "
     "and start it where it is used"),
    ("streamlit.connections", (), (), "a Streamlit connection holds its client (an engine, "
     "a session): keep it out of st.session_state and call st.connection(...) where it is "
     "used; Streamlit caches it, so every call returns the same one"),
    ("streamlit.delta_generator", (), (), "a Streamlit element (st.empty(), st.columns(), "
     "st.container(), st.form()) belongs to the script run that made it: keep what it shows "
     "in st.session_state and make the element again on each run"),
    ("duckdb", ("Relation",), (), "a duckdb relation is a query bound to its connection: "
     "send its SQL (rel.sql_query()) and the database path, or its rows (rel.df(), "
     "rel.arrow()), and run it where it is used"),
    ("sqlite3", (), (), "an SQLite connection cannot be sent: pass the database path and "
     "connect where it is used"),
    ("torch.jit", ("Script",), (), "a TorchScript {name} lives in TorchScript's runtime: save "
     "it with torch.jit.save(model, path) and torch.jit.load(path) where it is used, or send "
     "the module before scripting (or its state_dict())"),
]


#: (module prefix, class-name words, advice): a framework's handle that exists only in
#: the driver, whose workers cannot have one at all. "Create it inside the function" is
#: the one fix that cannot work for it (Spark forbids it: SPARK-5063).
_DRIVER_ONLY: list[tuple[str, tuple[str, ...], str]] = [
    ("pyspark", ("SparkContext", "SparkSession", "SQLContext", "DataFrame", "RDD", "Column"),
     "a {name} exists only on Spark's driver, and its workers cannot use or create one "
     "(SPARK-5063): do that work on the driver, outside the function Spark runs (collect "
     "what it needs, or sc.broadcast() it, and pass plain data), or join the RDDs or "
     "DataFrames instead of using one inside another's function"),
    ("distributed", ("Client",), "a Dask {name} is the driver's connection to the scheduler: "
     "inside a task, reach the cluster with distributed.get_client() (or "
     "distributed.worker_client()), and pass plain data"),
]


def driver_only(cls: Any) -> str | None:
    """The advice for a framework's driver-only handle (:data:`_DRIVER_ONLY`), or None."""
    return next((text.format(name=cls.__name__) for prefix, words, text in _DRIVER_ONLY
                 if _is_of(cls, prefix, words)), None)


def library_fix(cls: Any, kinds: list[str]) -> str | None:
    """The library's own advice (:data:`LIBRARY_FIXES`) for an object of ``cls`` with
    culprits of ``kinds``, or None."""
    return next((text.format(name=cls.__name__) for prefix, words, signs, text in LIBRARY_FIXES
                 if _is_of(cls, prefix, words)
                 and (not signs or not set(signs).isdisjoint(kinds))), None)


def _is_of(cls: Any, prefix: str, words: tuple[str, ...]) -> bool:
    """Whether ``cls`` is of module ``prefix`` (or below it), and one of ``words`` (if
    any) is in its name."""
    name = getattr(cls, "__name__", None)
    module = getattr(cls, "__module__", None)
    if not isinstance(name, str) or not isinstance(module, str):
        return False
    return ((module == prefix or module.startswith(prefix + "."))
            and (not words or any(w in name for w in words)))


def about_the_loader(kinds: Iterable[str]) -> bool:
    """Whether every kind is about the interpreter that loads the bytes (what it lacks),
    none about the object: then each culprit's own fix is the one to give."""
    kinds = set(kinds)
    return bool(kinds) and kinds <= _ABOUT_THE_LOADER


def boundary_hint(obj: Any, holder: Holder, kinds: Iterable[str]) -> str:
    """What to do about a library object with culprits inside: the library's own advice
    (:data:`LIBRARY_FIXES`) or words from the kinds inside, then where to drop it."""
    cls = type(obj)
    driver = driver_only(cls)
    if driver is not None:
        return driver  # no "create it where it is used": it cannot be, there
    kinds = list(kinds)
    sentence = library_fix(_runs_as(cls), kinds)
    if sentence is None:
        held = list(dict.fromkeys(KIND_WORDS.get(k, "objects that cannot be pickled")
                                  for k in kinds))
        if set(kinds) == {"process_shared"}:  # a RawValue: a ctypes object in shared memory
            return (f"{qualified_name(cls)} lives in memory multiprocessing shares with the "
                    "workers it starts: " + FIXES["process_shared"])
        inside = ", ".join(held[:3]) or "objects that cannot be pickled"
        sentence = (f"{qualified_name(cls)} holds {inside}, which belong to this process: "
                    "pass what is needed to create it and create it where it is used")
    if holder is DATA or holder.kind == "data" or (holder.kind == "class" and not holder.attr):
        return sentence
    if holder.kind == "type" and holder.attr:
        # The library may have put it there (SQLAlchemy's registry and __mapper__): only
        # saving the class by name leaves it out for sure.
        return f"{sentence}; {_save_by_name(holder.name, 'class attributes', holder)}"
    return f"{sentence}; {where_to_drop(holder)}"


def runner_bases() -> tuple[type, ...]:
    """``threading.Thread`` and, once multiprocessing is imported (else no object is
    one), its process: what a class of the user's runs as, whose state is theirs."""
    process = sys.modules.get("multiprocessing.process")
    return (threading.Thread,) if process is None else (threading.Thread, process.BaseProcess)


def _runs_as(cls: type) -> type:
    """``cls``, or for a subclass of the user's of a :func:`runner_bases` class (whose
    state is the thread's or the process's), the first of its bases from threading or
    multiprocessing: the advice is theirs."""
    try:
        for klass in cls.__mro__ if issubclass(cls, runner_bases()) else ():
            module = getattr(klass, "__module__", "") or ""
            if module == "threading" or module.startswith("multiprocessing."):
                return klass
    except Exception:  # noqa: BLE001, S110 - a hostile class: advised as itself
        pass
    return cls


def _save_by_name(named: str, attributes: str, holder: Holder) -> str:
    """The fix of what a class or function of the user's, saved by value, holds as one of
    its own ``attributes``: have it saved by name."""
    return (f"{named} is saved by value with its {attributes} ({holder.attr} among them): "
            f"define {holder.short} in an importable module so it is saved by name")
