"""Corpus entries from popular third-party libraries, built as their users build them.

Every import happens inside a factory, so a missing library skips its entries only.
Nothing here touches the network: clients get fake credentials and never send.
"""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

from realworld.appcode import Services, lock_is_free
from realworld.entry import Context, Entry

_AWS = {"region_name": "us-east-1", "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing"}


# -- boto3 ---------------------------------------------------------------------------


def boto3_client(ctx: Context) -> Any:
    import boto3

    client = boto3.client("s3", **_AWS)
    ctx.closing(client.close)
    return client


def boto3_session(ctx: Context) -> Any:
    import boto3

    return boto3.session.Session(**_AWS)


def boto3_resource(ctx: Context) -> Any:
    import boto3

    return boto3.resource("dynamodb", **_AWS)


def boto3_bucket(ctx: Context) -> Any:
    import boto3

    return boto3.resource("s3", **_AWS).Bucket("reports")


def boto3_paginator(ctx: Context) -> Any:
    """A paginator: an instance of a class botocore makes at run time (dill saves it by
    value, and through it the client its method is bound to)."""
    client = boto3_client(ctx)
    return client.get_paginator("list_objects_v2")


def boto3_ec2_resource(ctx: Context) -> Any:
    """EC2's resource: a class made at run time over the biggest service model there is
    (its client's: 22,681 containers)."""
    import boto3

    return boto3.resource("ec2", **_AWS)


def boto3_paginator_among_clients(ctx: Context) -> Any:
    """A paginator in a process that holds other clients too, as an app does: they share
    the session's event handlers, so many routes lead from one client to the others."""
    import boto3

    others = [boto3.client(name, **_AWS) for name in ("ec2", "dynamodb", "sqs", "lambda")]
    for other in others:
        ctx.closing(other.close)
    return boto3_paginator(ctx)


def boto3_waiter(ctx: Context) -> Any:
    """A waiter: the same, another class botocore makes at run time."""
    return boto3_client(ctx).get_waiter("bucket_exists")


# -- SQLAlchemy ------------------------------------------------------------------------


def sqlalchemy_engine(ctx: Context) -> Any:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{ctx.tmp / 'app.db'}")
    ctx.closing(engine.dispose)
    with engine.connect() as conn:
        conn.execute(text("select 1"))
    return engine


def _session(ctx: Context) -> Any:
    from sqlalchemy.orm import Session

    from realworld.appmodels import Base

    engine = sqlalchemy_engine(ctx)
    Base.metadata.create_all(engine)
    session = Session(engine)
    ctx.closing(session.close)
    return session


def sqlalchemy_session(ctx: Context) -> Any:
    from sqlalchemy import select

    from realworld.appmodels import User

    session = _session(ctx)
    session.add(User(name="ada"))
    session.commit()
    session.scalars(select(User)).all()
    return session


def sqlalchemy_instance(ctx: Context) -> Any:
    from realworld.appmodels import User

    session = _session(ctx)
    user = User(name="ada")
    session.add(user)
    session.flush()
    return user


# -- matplotlib ------------------------------------------------------------------------


def _figure(ctx: Context) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.1, 0.5, 0.9])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: f"{v:.0%}"))
    ctx.closing(lambda: plt.close(fig))
    return fig


def mpl_figure(ctx: Context) -> Any:
    return _figure(ctx)


def mpl_axes(ctx: Context) -> Any:
    return _figure(ctx).axes[0]


# -- progress bars, HTTP clients ---------------------------------------------------------------


def tqdm_bar(ctx: Context) -> Any:
    from tqdm import tqdm

    bar = tqdm(total=100, file=io.StringIO())
    bar.update(10)
    ctx.closing(bar.close)
    return bar


def redis_client(ctx: Context) -> Any:
    import redis

    client = redis.Redis(host="localhost", port=6379, socket_connect_timeout=0.2)
    ctx.closing(client.close)
    return client


def requests_session(ctx: Context) -> Any:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = "Bearer test"
    ctx.closing(session.close)
    return session


def httpx_client(ctx: Context) -> Any:
    import httpx

    client = httpx.Client(base_url="https://api.example.com", timeout=5.0)
    ctx.closing(client.close)
    return client


def httpx_async_client(ctx: Context) -> Any:
    import httpx

    loop = asyncio.new_event_loop()
    ctx.closing(loop.close)

    async def make() -> Any:
        return httpx.AsyncClient(base_url="https://api.example.com")

    client = loop.run_until_complete(make())
    ctx.closing(lambda: loop.run_until_complete(client.aclose()))
    return client


def aiohttp_session(ctx: Context) -> Any:
    import aiohttp

    loop = asyncio.new_event_loop()
    ctx.closing(loop.close)

    async def make() -> Any:
        return aiohttp.ClientSession(base_url="https://api.example.com")

    session = loop.run_until_complete(make())
    ctx.closing(lambda: loop.run_until_complete(session.close()))
    return session


def openai_client(ctx: Context) -> Any:
    import openai

    client = openai.OpenAI(api_key="sk-test-not-a-key", base_url="http://127.0.0.1:9/v1")
    ctx.closing(client.close)
    return client


# -- scikit-learn, pandas --------------------------------------------------------------------


def _xy() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, (x[:, 0] > 0).astype(int)


def sklearn_pipeline(ctx: Context) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = Pipeline([("clip", FunctionTransformer(lambda x: x.clip(-3, 3))),
                     ("model", LogisticRegression())])
    return pipe.fit(*_xy())


def sklearn_fitted(ctx: Context) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, random_state=0).fit(*_xy())


def df_generator(ctx: Context) -> Any:
    import pandas as pd

    return pd.DataFrame({"id": [1, 2], "rows": [(x for x in range(3)), None]})


def df_attrs_lock(ctx: Context) -> Any:
    import pandas as pd

    df = pd.DataFrame({"a": [1, 2, 3]})
    df.attrs["lock"] = threading.Lock()
    return df


def series_lambda(ctx: Context) -> Any:
    import pandas as pd

    return pd.Series([lambda v: v + 1, 2.0], index=["f", "g"])


def df_styler(ctx: Context) -> Any:
    """A table styled for display, a formatter for each of its 10,000 cells: pickle
    cannot find the formatters (lambdas) by name; dill and cloudpickle save them."""
    import pandas as pd

    frame = pd.DataFrame([[r * 10 + c for c in range(10)] for r in range(1000)])
    return frame.style.format("{:.2f}")


def df_object_column_lambda(ctx: Context) -> Any:
    """100,000 rows with a column of objects (strings), one of them a function: the
    column's array pickles its elements one by one, as a list in its state."""
    import pandas as pd

    labels = pd.Series([("x", "y", "z")[i % 3] for i in range(100_000)], dtype=object)
    frame = pd.DataFrame({"value": [i * 0.5 for i in range(100_000)], "label": labels})
    frame.iat[50_000, 1] = lambda v: v
    return frame


def df_groupby(ctx: Context) -> Any:
    import pandas as pd

    return pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]}).groupby("k")


# -- jinja2 ------------------------------------------------------------------------------


def jinja_environment(ctx: Context) -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.DictLoader({"hi.txt": "Hello {{ name }}"}),
                             autoescape=True)
    env.filters["shout"] = lambda s: s.upper()
    env.get_template("hi.txt")
    return env


def jinja_template(ctx: Context) -> Any:
    import jinja2

    return jinja2.Template("Hello {{ name }}!")


_LAYOUT = ("<html><head>{% block head %}<title>{% block title %}{% endblock %}</title>"
           "{% endblock %}</head><body>{% block nav %}{% for i in items %}<a>{{ i }}</a>"
           "{% endfor %}{% endblock %}"
           + "".join(f"{{% block s{i} %}}<div>{{{{ v{i} }}}}</div>{{% endblock %}}"
                     for i in range(15))
           + "{% block footer %}{% endblock %}</body></html>")
_PAGE = ('{% extends "layout.html" %}{% import "macros.html" as m %}'
         "{% block title %}Page{% endblock %}"
         + "".join(f"{{% block s{i} %}}{{{{ m.card(v{i}) }}}}{{{{ super() }}}}{{% endblock %}}"
                   for i in range(15)))
_MACROS = ("{% macro card(x) %}<div class=card>{{ x }}</div>{% endmacro %}"
           "{% macro btn(t) %}<b>{{ t }}</b>{% endmacro %}")


def jinja_page(ctx: Context) -> Any:
    """A page as a web app renders one: it extends a layout of 18 blocks, overrides 15
    of them (each calling ``super()``) and imports macros. Every block function refers
    to the page through its module's globals, and the layout and the macros sit in the
    environment's cache: none of the three templates loads back."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.DictLoader(
        {"layout.html": _LAYOUT, "page.html": _PAGE, "macros.html": _MACROS}))
    page = env.get_template("page.html")
    page.render(items=[1, 2])
    return page


# -- a user's object holding several clients -------------------------------------------------


# -- networkx ----------------------------------------------------------------------------


def networkx_graph(ctx: Context) -> Any:
    """A graph whose node and edge hold locks among their attributes: networkx keeps
    nodes in ``_node``, a class attribute with only ``__set__`` (it resets caches) that
    does not hide the instance dict, so the locks' paths evaluate; and the attribute
    dicts are the user's data, so each lock is named, not the graph."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_edge("a", "b", weight=2, guard=threading.Lock())
    graph.add_node("a", lock=threading.Lock())
    return graph


# -- pydantic ----------------------------------------------------------------------------


def pydantic_local_model(ctx: Context) -> Any:
    import pydantic

    class Order(pydantic.BaseModel):  # defined where it is used: in a function
        id: int
        items: list[str] = []

    return Order(id=1, items=["tea"])


def services(ctx: Context) -> Any:
    return Services(s3=boto3_client(ctx), engine=sqlalchemy_engine(ctx),
                    http=httpx_client(ctx), on_error=lambda exc: None,
                    lock=threading.Lock(), bucket="reports")


def _e(id: str, build: Any, needs: tuple[str, ...], **kw: Any) -> Entry:
    return Entry(id=id, build=build, needs=needs, **kw)


_MPL = ("matplotlib.pyplot",)
_FIG_LAMBDA = "obj.axes[0].yaxis.get_major_formatter().func"

ENTRIES = [
    _e("boto3-client", boto3_client, ("boto3",), change=("obj",), slow=True),
    _e("boto3-session", boto3_session, ("boto3",), change=("obj",)),
    _e("boto3-resource", boto3_resource, ("boto3",), change=("obj",), slow=True),
    _e("boto3-bucket", boto3_bucket, ("boto3",), change=("obj",), slow=True),
    _e("boto3-paginator", boto3_paginator, ("boto3",), change=("obj",), slow=True),
    _e("boto3-waiter", boto3_waiter, ("boto3",), change=("obj",), slow=True),
    _e("boto3-ec2-resource", boto3_ec2_resource, ("boto3",), change=("obj",), slow=True),
    _e("boto3-paginator-among-clients", boto3_paginator_among_clients, ("boto3",),
       change=("obj",), slow=True),
    _e("sqlalchemy-engine", sqlalchemy_engine, ("sqlalchemy.orm",), change=("obj",)),
    _e("sqlalchemy-session", sqlalchemy_session, ("sqlalchemy.orm",), change=("obj",)),
    _e("sqlalchemy-orm-instance", sqlalchemy_instance, ("sqlalchemy.orm",), fresh=True),
    _e("matplotlib-figure", mpl_figure, _MPL, change=(_FIG_LAMBDA,),
       say=("obj.axes[0].yaxis.major.formatter.func",)),
    _e("matplotlib-axes", mpl_axes, _MPL, change=("obj.yaxis.get_major_formatter().func",),
       say=("obj.yaxis.major.formatter.func",)),
    _e("tqdm-bar", tqdm_bar, ("tqdm",), change=("obj",)),
    _e("redis-client", redis_client, ("redis",), change=("obj",),
       probe=lambda r: lock_is_free(r.connection_pool._lock)),
    _e("requests-session", requests_session, ("requests",)),
    _e("httpx-client", httpx_client, ("httpx",), change=("obj",)),
    _e("httpx-async-client", httpx_async_client, ("httpx",), change=("obj",)),
    _e("aiohttp-session", aiohttp_session, ("aiohttp",), change=("obj",)),
    _e("openai-client", openai_client, ("openai",), change=("obj",)),
    _e("sklearn-pipeline-lambda", sklearn_pipeline,
       ("sklearn.pipeline", "sklearn.linear_model", "sklearn.preprocessing"),
       change=("obj.steps[0][1].func",), say=("obj.steps[0][1].func",)),
    _e("sklearn-fitted-model", sklearn_fitted, ("sklearn.ensemble",)),
    _e("pandas-df-generator-cell", df_generator, ("pandas",), change=("obj['rows'].iloc[0]",),
       say=("obj['rows'].iloc[0]",)),
    _e("pandas-df-attrs-lock", df_attrs_lock, ("pandas",), change=("obj.attrs['lock']",),
       say=("obj.attrs['lock']",)),
    _e("pandas-series-lambda", series_lambda, ("pandas",), change=("obj.iloc[0]",),
       say=("obj.iloc[0]",)),
    _e("pandas-groupby", df_groupby, ("pandas",)),
    _e("pandas-df-object-column-lambda", df_object_column_lambda, ("pandas",),
       change=("obj['label'].iloc[50000]",), say=("obj['label'].iloc[50000]",)),
    _e("pandas-styler", df_styler, ("pandas", "jinja2"), change=("obj",)),
    _e("jinja2-environment", jinja_environment, ("jinja2",), change=("obj.filters['shout']",)),
    _e("jinja2-template", jinja_template, ("jinja2",), change=("obj",)),
    _e("jinja2-page-extends-layout", jinja_page, ("jinja2",), change=("obj",)),
    _e("networkx-graph-node-lock", networkx_graph, ("networkx",),
       change=("obj._node['a']['lock']", "obj._adj['a']['b']['guard']"),
       say=("obj._node['a']['lock']", "obj._adj['a']['b']['guard']")),
    _e("pydantic-local-model", pydantic_local_model, ("pydantic",), library=False,
       change=("obj",)),
    _e("user-services-clients", services, ("boto3", "sqlalchemy.orm", "httpx"), library=False,
       slow=True, say=("obj.s3", "obj.engine", "obj.http", "obj.on_error", "obj.lock"),
       change=("obj.s3", "obj.engine", "obj.http", "obj.on_error", "obj.lock")),
]
