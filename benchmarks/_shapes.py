"""Graph shapes for ``bench_shapes.py``: what apps really pickle, each with planted culprits.

Every builder takes ``(n, culprits, culprit)`` and returns ``(graph, expected_paths)``:
``n`` objects (items of the payload), ``culprits`` of them replaced by a new culprit
(``CULPRITS[culprit]()``; ``"none"`` makes the clean twin), at fixed positions: one culprit
goes at the very end (the worst place for a search: everything before it pickles), 100
are spread evenly. The clean twin has ``None`` (or a closure over ``None``) in the same
places and is otherwise identical; it is what the baseline pickles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import _graphs

__all__ = ["CULPRITS", "SHAPES", "Shape", "library_objects", "positions"]


def positions(n: int, culprits: int) -> list[int]:
    """Where the culprits go: the last item for one, evenly spread for more."""
    if culprits == 0:
        return []
    if culprits == 1:
        return [n - 1]
    step = n // culprits
    return [i * step + step // 2 for i in range(culprits)]


#: Culprit makers by name (the same names as _graphs.CULPRITS).
CULPRITS = _graphs.CULPRITS

Built = tuple[Any, list[str]]


def _flat(make: Callable[[int], Any]) -> Callable[[int, int, str], Built]:
    def build(n: int, culprits: int, culprit: str) -> Built:
        items = [make(i) for i in range(n)]
        where = positions(n, culprits)
        for i in where:
            items[i] = CULPRITS[culprit]()
        return items, [f"obj[{i}]" for i in where]
    return build


def _dict_ints(n: int, culprits: int, culprit: str) -> Built:
    graph = {i * 7: i * 3 for i in range(n)}
    where = [i * 7 for i in positions(n, culprits)]
    for key in where:
        graph[key] = CULPRITS[culprit]()
    return graph, [f"obj[{key}]" for key in where]


def _rows(n: int, culprits: int, culprit: str) -> Built:
    """Rows as a query or a JSON file gives them: small dicts, the culprit in a field."""
    rows = [{"id": i, "name": f"user-{i}", "score": i * 0.5} for i in range(n)]
    where = positions(n, culprits)
    for i in where:
        rows[i]["score"] = CULPRITS[culprit]()
    return rows, [f"obj[{i}]['score']" for i in where]


def _arrays(n: int, culprits: int, culprit: str) -> Built:
    import numpy as np

    base = np.arange(16, dtype=np.float64)
    return _flat(lambda i: base + i)(n, culprits, culprit)


def _closure(value: Any) -> Callable[[], Any]:
    return lambda: value


def _closures(n: int, culprits: int, culprit: str) -> Built:
    items = [_closure(i) for i in range(n)]
    where = positions(n, culprits)
    for i in where:
        items[i] = _closure(CULPRITS[culprit]())
    return items, [f"obj[{i}].__closure__[0].cell_contents" for i in where]


@dataclass(frozen=True)
class Shape:
    """A graph shape, the backend it is checked with, and the culprit it gets."""

    name: str
    build: Callable[[int, int, str], Built]
    backend: str
    culprit: str
    sizes: tuple[int, ...]
    needs: str = ""


_ALL = (10_000, 100_000, 1_000_000)
_SMALL = (10_000, 100_000)

SHAPES = [
    Shape("flat ints", _flat(lambda i: i * 7), "pickle", "lock", _ALL),
    Shape("flat strs", _flat(lambda i: f"user-{i}"), "pickle", "lock", _ALL),
    Shape("dict of ints", _dict_ints, "pickle", "lock", _ALL),
    Shape("rows (dicts)", _rows, "pickle", "lock", _ALL),
    Shape("numpy arrays", _arrays, "pickle", "lock", _SMALL, needs="numpy"),
    Shape("records (instances)", _graphs.build, "pickle", "lock", _ALL),
    Shape("closures", _closures, "cloudpickle", "lock", _SMALL),
    Shape("records (instances)", _graphs.build, "dill", "generator", _SMALL),
]


# -- real library objects -----------------------------------------------------------------

_AWS = {"region_name": "us-east-1", "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing"}


def _boto3_client() -> Any:
    import boto3

    return boto3.client("s3", **_AWS)


def _boto3_resource() -> Any:
    import boto3

    return boto3.resource("dynamodb", **_AWS)


def _boto3_paginator() -> Any:
    return _boto3_client().get_paginator("list_objects_v2")


def _sqlalchemy_session() -> Any:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    engine = create_engine("sqlite://")
    session = Session(engine)
    session.execute(text("select 1"))
    return session


def _httpx_client() -> Any:
    import httpx

    return httpx.Client(base_url="https://api.example.com", timeout=5.0)


def _aiohttp_session() -> Any:
    import asyncio

    import aiohttp

    loop = asyncio.new_event_loop()

    async def make() -> Any:
        return aiohttp.ClientSession(base_url="https://api.example.com")

    return loop.run_until_complete(make())


def _openai_client() -> Any:
    import openai

    return openai.OpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1")


def _tqdm_bar() -> Any:
    import io

    from tqdm import tqdm

    bar = tqdm(total=100, file=io.StringIO())
    bar.update(10)
    return bar


def _asyncio_loop() -> Any:
    import asyncio

    return asyncio.new_event_loop()


def _sklearn_pipeline() -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    x = np.random.default_rng(0).normal(size=(40, 3))
    pipe = Pipeline([("clip", FunctionTransformer(lambda v: v.clip(-3, 3))),
                     ("model", LogisticRegression())])
    return pipe.fit(x, (x[:, 0] > 0).astype(int))


def _pandas_frame() -> Any:
    import pandas as pd

    frame = pd.DataFrame({"a": range(1000), "b": [f"r{i}" for i in range(1000)]})
    frame.attrs["lock"] = threading.Lock()
    return frame


def _jinja_environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.DictLoader({"hi.txt": "Hello {{ name }}"}))
    env.filters["shout"] = lambda s: s.upper()
    env.get_template("hi.txt")
    return env


def library_objects() -> list[tuple[str, str, Callable[[], Any]]]:
    """(name, module it needs, factory) for real objects of popular libraries, built as
    their users build them (nothing touches the network)."""
    return [
        ("boto3 client (s3)", "boto3", _boto3_client),
        ("boto3 resource (dynamodb)", "boto3", _boto3_resource),
        ("boto3 paginator (s3)", "boto3", _boto3_paginator),
        ("SQLAlchemy Session", "sqlalchemy", _sqlalchemy_session),
        ("httpx Client", "httpx", _httpx_client),
        ("aiohttp ClientSession", "aiohttp", _aiohttp_session),
        ("openai OpenAI", "openai", _openai_client),
        ("tqdm bar", "tqdm", _tqdm_bar),
        ("asyncio event loop", "asyncio", _asyncio_loop),
        ("sklearn Pipeline with a lambda", "sklearn", _sklearn_pipeline),
        ("pandas DataFrame with a lock in attrs", "pandas", _pandas_frame),
        ("jinja2 Environment", "jinja2", _jinja_environment),
    ]
