"""``profile``: which paths account for a payload's bytes, and that the shares add up."""

from __future__ import annotations

import json
import pickle
import threading

import cloudpickle
import dill
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import picklecheck
from picklecheck.tools.sizes import profile, render_profile

BACKENDS = ["pickle", "dill", "cloudpickle"]


class Node:
    """A tree node with a back reference to its parent."""

    def __init__(self, parent, payload):
        self.parent = parent
        self.left = None
        self.right = None
        self.payload = payload


def tree():
    root = Node(None, "root")
    root.left = Node(root, "L" * 1_000)
    root.right = Node(root, b"R" * 50_000)
    root.left.left = Node(root.left, list(range(1_000)))
    return root


def make_task():
    frame = {"values": b"v" * 200_000, "name": "frame"}

    def task(x):
        return len(frame["values"]) + x

    return task


def dumps(obj, backend, protocol=None):
    module = {"pickle": pickle, "dill": dill, "cloudpickle": cloudpickle}[backend]
    return module.dumps(obj, protocol=protocol)


def parts(prof):
    return prof.entries + ([prof.rest] if prof.rest else [])


def assert_adds_up(prof):
    assert sum(e.size for e in parts(prof)) == prof.total
    assert sum(e.share for e in parts(prof)) == pytest.approx(1.0)
    assert all(e.size >= 0 for e in parts(prof))


@pytest.mark.parametrize("backend", BACKENDS)
def test_total_is_real_dump_size(backend):
    """The total is exactly the size of one dumps with that backend."""
    obj = {"big": b"x" * 100_000, "nested": {"text": "y" * 5_000}}
    prof = profile(obj, backend=backend)
    assert prof.total == len(dumps(obj, backend))
    assert_adds_up(prof)


def test_largest_paths_on_known_graph():
    """The biggest leaves, in order, with exact sizes for bytes payloads."""
    obj = {"small": [1, 2, 3], "big": {"blob": b"x" * 1_000_000, "meta": "m"},
           "mid": "y" * 100_000, "numbers": list(range(50_000))}
    prof = profile(obj)
    paths = [e.path for e in prof.entries[:3]]
    assert paths == ["obj['big']['blob']", "obj['numbers']", "obj['mid']"]
    blob = prof.entries[0]
    assert blob.size == len(pickle.dumps(b"x" * 1_000_000, protocol=4)) - 3  # no PROTO, STOP
    assert blob.share == pytest.approx(blob.size / prof.total)
    assert_adds_up(prof)


@pytest.mark.parametrize("backend", BACKENDS)
def test_back_references_counted_once(backend):
    """Parent pointers do not drag the parent into a child's bytes."""
    prof = profile(tree(), backend=backend)
    assert prof.entries[0].path == "obj.right.payload"
    assert prof.entries[1].path == "obj.left.left.payload"
    assert prof.entries[0].size > 50_000
    assert_adds_up(prof)


def test_cloudpickle_closure_path():
    """A closure that drags a big object along is named through __closure__."""
    prof = profile(make_task(), backend="cloudpickle", top=3)
    assert prof.entries[0].path == "obj.__closure__[0].cell_contents['values']"
    assert prof.entries[0].share > 0.95
    assert_adds_up(prof)


def test_shared_object_attributed_to_first_path():
    """An object reached twice is counted where the pickler first meets it."""
    shared = b"s" * 80_000
    obj = {"first": [shared], "second": [shared]}
    prof = profile(obj)
    sizes = {e.path: e.size for e in prof.entries}
    assert sizes["obj['first'][0]"] > 80_000
    assert sizes.get("obj['second']", 0) < 100
    assert_adds_up(prof)


def test_wide_spread_node_reported_whole():
    """A list of many similar items stays one entry, not thousands of tiny ones."""
    obj = {"rows": [[i, i + 1] for i in range(5_000)], "label": "x"}
    prof = profile(obj)
    assert prof.entries[0].path == "obj['rows']"
    assert prof.entries[0].items == 5_000
    assert_adds_up(prof)


def test_wide_node_with_one_big_item_opened():
    """A needle in a wide list is found by its index."""
    rows = [[i] for i in range(5_000)]
    rows[1234] = "z" * 500_000
    prof = profile({"rows": rows}, top=5)
    assert prof.entries[0].path == "obj['rows'][1234]"
    assert prof.rest is not None and prof.rest.count > 4_000
    assert_adds_up(prof)


def test_top_groups_the_rest():
    """Only ``top`` entries are listed; the rest is grouped with its count and bytes."""
    obj = {f"k{i}": "v" * (1_000 * (i + 1)) for i in range(10)}
    prof = profile(obj, top=3)
    assert [e.path for e in prof.entries] == ["obj['k9']", "obj['k8']", "obj['k7']"]
    assert prof.rest is not None and prof.rest.count == 8  # 7 values and obj itself
    assert_adds_up(prof)


def test_protocol_and_name():
    """Protocol and root name are honoured."""
    prof = profile({"a": b"x" * 10_000}, protocol=2, name="state")
    assert prof.protocol == 2
    assert prof.total == len(pickle.dumps({"a": b"x" * 10_000}, protocol=2))
    assert prof.entries[0].path == "state['a']"
    assert_adds_up(prof)


def test_unpicklable_raises_enriched_error():
    """An object that does not pickle gets the engine's UnpicklableError, with the path."""
    with pytest.raises(picklecheck.UnpicklableError) as info:
        profile({"lock": threading.Lock()})
    assert info.value.culprits[0].path == "obj['lock']"


def test_lazy_export():
    """``picklecheck.profile`` is the function, also after its module was imported."""
    import picklecheck.tools.sizes

    assert picklecheck.profile is picklecheck.tools.sizes.profile
    assert picklecheck.profile(b"x" * 10).total == len(pickle.dumps(b"x" * 10))


def test_render_and_json():
    """The text lists paths with bytes and shares; to_dict is JSON-ready."""
    prof = profile({"blob": b"x" * 2_000, "n": 1}, top=1)
    text = render_profile(prof)
    assert text.splitlines()[0] == f"obj: dict, {prof.total / 1024:.1f} KiB with pickle (protocol 4)"
    assert "obj['blob']" in text and "(2 more)" in text
    data = json.loads(json.dumps(prof.to_dict()))
    assert data["total"] == prof.total
    assert sum(e["size"] for e in data["entries"]) + data["rest"]["size"] == prof.total


leaves = st.one_of(st.integers(), st.text(max_size=50), st.binary(max_size=3_000), st.none())
graphs = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=6),
        st.dictionaries(st.text(max_size=5), kids, max_size=6),
        st.tuples(kids, kids),
        st.builds(Node, st.none(), kids),
    ),
    max_leaves=40,
)


@settings(max_examples=60, deadline=None)
@given(graphs, st.sampled_from(BACKENDS), st.integers(min_value=1, max_value=8))
def test_shares_always_add_up(obj, backend, top):
    """For random graphs, entries and rest partition exactly the real dump."""
    prof = profile(obj, backend=backend, top=top)
    assert prof.total == len(dumps(obj, backend))
    assert len(prof.entries) <= top
    assert_adds_up(prof)


def test_no_path_listed_twice():
    """A by-value function's two globals dicts and a set's elements each get their own path."""
    namespace = {"__name__": "not_importable_profile_mod", "big": list(range(5_000)),
                 "other": {"a": "x" * 2_000}}
    exec("def task():\n    return len(big) + len(other)\n", namespace)  # noqa: S102
    for obj, backend in ((namespace["task"], "cloudpickle"),
                         ({"tags": {"a" * 200, "b" * 300, "c" * 400}}, "pickle")):
        prof = profile(obj, backend=backend, top=50, name="task")
        labels = [(e.path, e.kind) for e in prof.entries]
        assert len(labels) == len(set(labels)), labels
        assert len({e.path for e in prof.entries if e.kind == "object"}) == len(
            [e for e in prof.entries if e.kind == "object"])
    prof = profile(namespace["task"], backend="cloudpickle", top=50, name="task")
    assert prof.entries[0].path == "task.__globals__['big']" and prof.entries[0].evaluable
    assert eval(prof.entries[0].path, {"task": namespace["task"]}) is namespace["big"]  # noqa: S307


def test_str_of_a_profile_is_the_table():
    """print(profile(obj)) shows the table, and one item is "1 item"."""
    prof = picklecheck.profile((b"x" * 1_000,), name="t")
    assert str(prof) == render_profile(prof)
    assert str(prof).startswith("t: tuple, ")
    assert "tuple, 1 item" in str(prof) and "1 items" not in str(prof)
