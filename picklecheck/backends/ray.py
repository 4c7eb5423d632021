"""Ray: ``ray.cloudpickle`` with the reducers of Ray's serialization context.

Arguments of ``f.remote(...)``, ``ray.put`` values and actor state are pickled by
``SerializationContext.serialize``: ``ray.cloudpickle`` (Ray's copy of cloudpickle)
at protocol 5, with reducers Ray adds to its dispatch table once a worker is
connected (``ObjectRef``, ``ActorHandle``, generators of refs) and large buffers
out of band. Remote functions and actor classes go through the same pickler. So
it is walked the way cloudpickle is, with Ray's table.

When Ray is initialized in this process, every dump runs the way Ray's own does:
"in band", so an ``ObjectRef`` inside the value is recorded as contained in it,
and the refs recorded are cleared afterwards (a check must not keep objects alive
in Ray's store). Without ``ray.init()`` no ``ObjectRef`` can exist and none of this
is needed; ``import ray`` is never triggered by a check that did not ask for Ray.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

from picklecheck.backends.base import TooLargeError, written
from picklecheck.backends.cloudpickle import CloudpickleBackend

__all__ = ["RayBackend"]


class RayBackend(CloudpickleBackend):
    name = "ray"
    install_name = "ray.cloudpickle"
    install_hint = "pip install 'picklecheck[ray]'"
    framework = "ray"
    worker = "ray"
    hints = {
        **dict.fromkeys(("lock", "socket", "database", "file", "thread", "queue", "executor",
                         "c_type", "custom_reduce", "other", "generator"),
                        "with Ray, create it inside the task, or keep it in an actor (made in "
                        "its __init__) and pass the actor handle; put big data in the object "
                        "store once with ray.put and pass the ref"),
        "process_shared": ("Ray's workers are already running when a task is sent: use "
                           "ray.util.queue.Queue, or keep what the tasks share in an actor and "
                           "pass its handle"),
        "unimportable": ("Ray workers import only what is installed plus the driver's folder: "
                         "ship the module with runtime_env={'py_modules': [module]}, or "
                         "ray.cloudpickle.register_pickle_by_value(module)"),
        "main_reference": ("Ray workers never import your main script: move it into a module "
                           "shipped with runtime_env={'py_modules': [...]}"),
        "too_large": ("put the big data it holds in the object store once with ray.put() and "
                      "pass the ref as an argument (arguments have no such limit), or load it "
                      "inside the task"),
    }

    def default_protocol(self) -> int:
        return 5  # SerializationContext._serialize_to_pickle5

    def unpickler(self, file: Any) -> Any:
        return _refs_as_placeholders(super().unpickler(file))

    def contained_unpickler(self, file: Any) -> Any:
        return _refs_as_placeholders(super().contained_unpickler(file))

    def pickler(self, file: Any, protocol: int) -> Any:
        return _handles_as_placeholders(super().pickler(file, protocol))

    def scan_base(self, file: Any, protocol: int) -> Any:
        return _handles_as_placeholders(super().scan_base(file, protocol))

    def verdict_dump(self, obj: Any, file: Any, protocol: int, others_failed: bool,
                     trees: Any = None) -> None:
        super().verdict_dump(obj, file, protocol, others_failed, trees)
        size = written(file) if _exported(obj) else None
        if size is not None and size > (limit := _function_limit()):
            raise TooLargeError(
                f"{_mib(size)} pickled, and Ray refuses a remote function or actor class "
                f"over {_mib(limit)} (FUNCTION_SIZE_ERROR_THRESHOLD): it is sent through "
                "Ray's control store, not the object store")

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        with _in_band():
            super().dump(obj, file, protocol)

    def run(self, pickler: Any, obj: Any) -> None:
        with _in_band():
            pickler.dump(obj)

    def reduce(self, obj: Any, protocol: int) -> Any:
        if _context() is None and type(obj) in _handle_types():
            return _as_placeholder(obj)
        with _in_band():
            return super().reduce(obj, protocol)


def _function_limit() -> int:
    """The most Ray takes for a remote function or actor class, in bytes."""
    try:
        from ray._private import ray_constants

        return int(ray_constants.FUNCTION_SIZE_ERROR_THRESHOLD)
    except Exception:  # noqa: BLE001 - another Ray: its documented default
        return 95 * 2**20


def _exported(obj: Any) -> bool:
    """Whether Ray would send ``obj`` as a remote function or actor class (a function or
    class, or what ``ray.remote`` made of one), not as an argument or an object."""
    if isinstance(obj, (types.FunctionType, type)):
        return True
    kinds = _ray_classes("remote_function.RemoteFunction", "actor.ActorClass")
    return bool(kinds) and isinstance(obj, kinds)


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


#: Ray's deserializers of refs and handles, which need a connected worker.
_RAY_OWN = ("_object_ref_deserializer", "_actor_handle_deserializer", "_rdt_ref_deserializer")


def _refs_as_placeholders(unpickler: Any) -> Any:
    """Outside a process connected to Ray (a fresh interpreter standing for a Ray
    worker, a sandboxed child), object refs and actor handles cannot be rebuilt: that
    is Ray's part of a worker's load, not the value's, so they load as inert
    placeholders there."""
    if _context() is not None:
        return unpickler
    strict = unpickler.find_class

    def find_class(module: str, name: str) -> Any:
        if module == "ray._private.serialization" and name in _RAY_OWN:
            return _placeholder
        return strict(module, name)

    unpickler.find_class = find_class
    return unpickler


def _handles_as_placeholders(pickler: Any) -> Any:
    """Outside a process connected to Ray (a driver after ``ray.shutdown()``, where a
    failed job is explained), Ray's own refs and actor handles cannot be pickled: they
    raise "Ray has not been started yet". They were sent while Ray ran, which is Ray's
    part of a dump, not the value's: they are pickled as placeholders."""
    kinds = _handle_types() if _context() is None else ()
    if kinds:
        pickler.dispatch_table = collections.ChainMap(dict.fromkeys(kinds, _as_placeholder),
                                                      pickler.dispatch_table)
    return pickler


def _handle_types() -> tuple[type, ...]:
    """Ray's types of refs and handles, once ray is imported."""
    return _ray_classes("ObjectRef", "actor.ActorHandle")


def _ray_classes(*names: str) -> tuple[type, ...]:
    """The classes ``ray`` holds under the dotted ``names`` (once ray is imported: none
    before), those it has."""
    found = []
    for name in names:
        value: Any = sys.modules.get("ray")
        for part in name.split("."):
            value = getattr(value, part, None)
        if isinstance(value, type):
            found.append(value)
    return tuple(found)


def _as_placeholder(obj: Any) -> tuple[Any, ...]:
    return _placeholder, ()


def _placeholder(*args: Any) -> None:
    """Stands for what a connected Ray worker would rebuild from a ref or a handle."""
    return None


def _context() -> Any:
    """Ray's serialization context, if this process is connected to Ray."""
    ray = sys.modules.get("ray")
    if ray is None or _forked or not ray.is_initialized():
        return None
    return ray._private.worker.global_worker.get_serialization_context()


#: Whether this process is a fork (a check's loading child) of one: a fork inherits
#: ``ray.is_initialized()``, but not the connection (Ray's threads and its channel to
#: the raylet stay with the parent), and rebuilding an actor handle there waits forever.
_forked = False


def _note_fork() -> None:
    global _forked  # noqa: PLW0603 - one flag per process, set once after a fork
    _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork)


@contextlib.contextmanager
def _in_band() -> Iterator[None]:
    context = _context()
    if context is None:
        yield
        return
    context.set_in_band_serialization()
    try:
        yield
    finally:
        context.set_out_of_band_serialization()
        context.get_and_clear_contained_object_refs()
