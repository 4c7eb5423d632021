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

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

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
    }

    def default_protocol(self) -> int:
        return 5  # SerializationContext._serialize_to_pickle5

    def unpickler(self, file: Any) -> Any:
        return _refs_as_placeholders(super().unpickler(file))

    def contained_unpickler(self, file: Any) -> Any:
        return _refs_as_placeholders(super().contained_unpickler(file))

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        with _in_band():
            super().dump(obj, file, protocol)

    def run(self, pickler: Any, obj: Any) -> None:
        with _in_band():
            pickler.dump(obj)

    def reduce(self, obj: Any, protocol: int) -> Any:
        with _in_band():
            return super().reduce(obj, protocol)


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


def _placeholder(*args: Any) -> None:
    """Stands for what a connected Ray worker would rebuild from a ref or a handle."""
    return None


def _context() -> Any:
    """Ray's serialization context, if this process is connected to Ray."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray._private.worker.global_worker.get_serialization_context()


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
