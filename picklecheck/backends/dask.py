"""Dask distributed: ``distributed.protocol.pickle.dumps``.

``client.submit``, ``client.map``, ``client.scatter`` and the task graph of a
collection are pickled by ``distributed.protocol.pickle.dumps``: plain ``pickle``
first, then Dask's own pickler (pickle with a ``reducer_override`` for types that
have a Dask serializer), and ``cloudpickle`` when both fail or when the bytes
mention ``__main__``. The verdict is that function's; a failure means cloudpickle,
its last resort, failed too, so culprits are searched the way cloudpickle's are.

Dask logs every failure with a traceback; that log is silenced while a check runs
(the failure is the finding, reported once). Workers of a cluster import what
their ``sys.path`` has; they never import the client's main script.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from picklecheck.backends.cloudpickle import CloudpickleBackend

__all__ = ["DaskBackend"]


class DaskBackend(CloudpickleBackend):
    name = "dask"
    install_name = "distributed.protocol.pickle"
    install_hint = "pip install 'picklecheck[dask]'"
    framework = "dask"
    worker = "dask"
    hints = {
        **dict.fromkeys(("lock", "socket", "database", "file", "thread", "queue", "executor",
                         "c_type", "custom_reduce", "other", "generator"),
                        "with Dask, create it inside the task (or once per worker with "
                        "distributed.get_worker()), and send big data once with "
                        "client.scatter, passing the future"),
        "process_shared": ("Dask's workers are already running when a task is sent: use "
                           "distributed.Queue, distributed.Lock or distributed.Event, which "
                           "every worker of the cluster shares"),
        "unimportable": ("Dask workers import only what their sys.path has: install the module "
                         "there, or client.upload_file('module.py')"),
        "main_reference": ("Dask workers never import your main script: move it into a module "
                           "and client.upload_file it, or let cloudpickle send it by value"),
    }

    def cloudpickle(self) -> Any:
        return self.module.cloudpickle

    def default_protocol(self) -> int:
        return int(self.module.HIGHEST_PROTOCOL)

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        with _quiet(self.module.logger):
            file.write(self.module.dumps(obj, protocol=protocol))


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was
