"""PySpark: ``pyspark.serializers.CloudPickleSerializer``, Spark's copy of cloudpickle.

``rdd.map``, ``mapPartitions``, ``foreach`` and UDFs pickle their function (with
everything its closure reaches) through ``CloudPickleSerializer``, and so does
``sc.parallelize`` for its data (the default ``CPickleSerializer`` is that class
unless ``PYSPARK_ENABLE_NAMEDTUPLE_PATCH=1``), at ``pickle.HIGHEST_PROTOCOL``. It is
cloudpickle, walked the way cloudpickle is. ``sc.broadcast`` is different: it uses
plain ``pickle``, which the ``pickle`` backend judges.

Python workers import what their ``sys.path`` has (the driver's main script is
never imported there).
"""

from __future__ import annotations

from typing import Any

from picklecheck.backends.cloudpickle import CloudpickleBackend

__all__ = ["SparkBackend"]


class SparkBackend(CloudpickleBackend):
    name = "spark"
    install_name = "pyspark.cloudpickle"
    install_hint = "pip install 'picklecheck[spark]'"
    framework = "spark"
    worker = "spark"
    hints = {
        **dict.fromkeys(("lock", "socket", "database", "file", "thread", "queue", "executor",
                         "c_type", "custom_reduce", "other", "generator", "process_shared"),
                        "with Spark, open it once per partition inside rdd.mapPartitions(func) "
                        "(or df.foreachPartition) instead of capturing it in the closure, and "
                        "ship read-only data with sc.broadcast"),
        "unimportable": ("Spark's Python workers import only what is installed plus the "
                         "current folder: ship the module with sc.addPyFile('module.py')"),
        "main_reference": ("Spark's Python workers never import your main script: move it into "
                           "a module shipped with sc.addPyFile"),
    }

    def default_protocol(self) -> int:
        from pyspark import serializers

        return int(serializers.pickle_protocol)

    def cloudpickle(self) -> Any:
        return self.module
