"""joblib (its default loky backend) and loky: loky's ``CustomizablePickler``.

``joblib.Parallel`` with the loky backend, and loky's executor, send each batch of
calls through ``joblib.externals.loky.backend.reduction.get_loky_pickler()``: a
subclass of ``cloudpickle.CloudPickler`` (or of the pickler ``LOKY_PICKLER`` names)
whose dispatch table adds loky's reducers (bound methods, method descriptors,
``partial``, and on POSIX sockets and connections, handed over by multiprocessing's
resource sharer as in the ``multiprocessing`` backend). Lambdas, closures and functions
of ``__main__`` travel by value, as with cloudpickle, and it is walked the way
cloudpickle is. joblib also passes reducers that turn big numpy arrays into memory
maps on disk; they change how an array travels, not whether it does, and writing
files is no part of a check, so they are left out. (joblib's ``multiprocessing``
backend uses ForkingPickler: that is the ``multiprocessing`` backend.)

loky starts its workers the way ``spawn`` does: a new interpreter with this
process's ``sys.path`` that imports the main script as ``__mp_main__``.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

from picklecheck.backends.base import Sink
from picklecheck.backends.cloudpickle import is_cloudpickle_depth_error
from picklecheck.backends.multiprocessing import HandingOverBackend

__all__ = ["JoblibBackend"]


class JoblibBackend(HandingOverBackend):
    name = "joblib"
    install_name = "joblib.externals.loky.backend.reduction"
    install_hint = "pip install 'picklecheck[joblib]'"
    framework = "joblib"
    worker = "loky"
    hints = {
        **dict.fromkeys(("lock", "socket", "database", "file", "thread", "queue", "executor",
                         "c_type", "custom_reduce", "other"),
                        "with joblib, create it inside the function each task runs (or cache "
                        "it per worker in a module-level global) and pass only plain data"),
        "process_shared": ("joblib's workers are already running when a task is sent: share "
                           "a queue or dict through a multiprocessing.Manager() (its proxy "
                           "pickles), or return results from the function instead"),
        "main_reference": ("a loky worker imports your main script as __mp_main__: define it "
                           "in a module-level def of an importable module"),
        "unimportable": ("loky workers import with this process's sys.path: make that module "
                         "importable there, or cloudpickle.register_pickle_by_value(module)"),
    }

    def __init__(self) -> None:
        self._reducing: tuple[Any, int, Any] | None = None

    def _pickler_class(self) -> Any:
        return self.module.get_loky_pickler()

    def default_protocol(self) -> int:
        # loky passes protocol=None, which means the base pickler's own default.
        base = getattr(self._pickler_class(), "_loky_pickler_cls", pickle.Pickler)
        module = sys.modules.get(getattr(base, "__module__", ""), None)
        return int(getattr(module, "DEFAULT_PROTOCOL", pickle.DEFAULT_PROTOCOL))

    def pickler(self, file: Any, protocol: int) -> Any:
        return self._pickler_class()(file, reducers=None, protocol=protocol)

    def reducing_pickler(self, protocol: int) -> Any:
        # Kept for the pickler class and protocol it was made for.
        cls = self._pickler_class()
        cached = self._reducing
        if cached is None or cached[0] is not cls or cached[1] != protocol:
            cached = self._reducing = (cls, protocol, self.pickler(Sink(), protocol))
        return cached[2]

    def is_depth_error(self, exc: BaseException) -> bool:
        return is_cloudpickle_depth_error(exc)
