"""Where a load fails: a load gives no position, so children are loaded in runs, round
after round; the rounds stay few (a failing load is often the slow one) and each batch
of loads stays bounded in bytes."""

from __future__ import annotations

import culprits as c
import pytest

import picklecheck
from picklecheck.engine import locate
from picklecheck.isolation import contain


class Record:
    def __init__(self, **attrs):
        self.__dict__.update(attrs)


@pytest.fixture
def rounds(monkeypatch):
    """How many batches of loads the search asked for (load_many calls), and their sizes."""
    batches: list[int] = []
    load_many = contain.load_many

    def counted(backend, payloads, *args, **kwargs):
        batches.append(len(payloads))
        return load_many(backend, payloads, *args, **kwargs)

    monkeypatch.setattr(contain, "load_many", counted)
    return batches


def test_a_failing_child_among_dozens_is_found_in_one_round(rounds):
    attrs = {f"a{i}": [i, str(i)] for i in range(40)}
    attrs["a17"] = c.Versioned()
    report = picklecheck.check(Record(**attrs), backends=("pickle",), name="rec")
    assert [x.path for x in report.culprits] == ["rec.a17"]
    # Each child once (its class and 40 attributes), in one batch; then the culprit's
    # own two (its class, its state).
    assert rounds == [41, 2]


def test_failing_items_among_thousands_are_found_in_a_few_rounds(rounds):
    items = [{"n": i} for i in range(5_000)]
    for i in (3, 2_500, 4_999):
        items[i] = c.Versioned()
    report = picklecheck.check(items, backends=("pickle",), name="items")
    assert sorted(x.path for x in report.culprits) == [
        "items[2500]", "items[3]", "items[4999]"]
    # 64 runs of 79 items (the last of 23); the three that fail cut into runs of 2 (40,
    # 40 and 23 runs: 4,999 is found there, alone in its run); the two runs of 2 that
    # fail, item by item; then each culprit's own two children, and for the first two,
    # found failing before the others were known, a load of it with them left out (one
    # of them could have been inside it, and all that failed).
    assert rounds == [64, 103, 4, 2, 1, 2, 1, 2], rounds


def test_a_round_too_big_for_one_batch_is_loaded_in_several(rounds, monkeypatch):
    monkeypatch.setattr(locate, "_BATCH_BYTES", 1)
    attrs = {f"a{i}": [i] * 50 for i in range(10)}
    attrs["a4"] = c.Versioned()
    report = picklecheck.check(Record(**attrs), backends=("pickle",), name="rec")
    assert [x.path for x in report.culprits] == ["rec.a4"]
    assert rounds == [1] * 11 + [1, 1]  # one payload per batch: every child, then a4's own


def test_runs_cover_the_range_in_order():
    for lo, hi in [(0, 1), (0, 64), (0, 65), (3, 200), (0, 5_000), (10, 11)]:
        runs = locate._runs(lo, hi)
        assert len(runs) <= locate._FANOUT
        assert runs[0][0] == lo and runs[-1][1] == hi
        assert all(a < b for a, b in runs)
        assert all(runs[k][1] == runs[k + 1][0] for k in range(len(runs) - 1))


def _refuse_to_rebuild(*args):
    raise TypeError("Rebuilt() needs its source")  # as jinja2's Template.__new__ without one


class Rebuilt:
    """Dumps, but its own reconstruction fails on load (a jinja2 template); each of its
    parts refers back to it (a template's block functions, through their globals)."""

    def __init__(self, parts):
        self.parts = [Record(owner=self, n=i) for i in range(parts)]

    def __reduce__(self):
        return _refuse_to_rebuild, (), self.__dict__


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_a_child_that_refers_back_up_fails_only_on_its_own(rounds, backend):
    """The search loads a child without what is above it (a stand-in loads in its
    place): its parts referring back to it do not fail with it, so it is named, after
    one batch of its children, not each of its parts after a search of each."""
    report = picklecheck.check(Rebuilt(30), backends=(backend,), name="tpl")
    result = report.results[backend]
    assert result.ok is False and result.error is None  # it dumps; its load fails
    assert [(x.path, x.stage) for x in report.culprits] == [("tpl", "loads")]
    assert sum(rounds) < 40


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_what_a_search_leaves_out_loads_as_a_stand_in(backend):
    """Bytes that leave an object out load with a stand-in in its place (here, in a
    proven pure load, and unguarded as in the sandbox); a persistent id of anyone
    else's is refused, as it is without one."""
    import io
    import pickle

    from picklecheck.backends import get_backend, standin
    from picklecheck.isolation import pure

    chosen = get_backend(backend)
    parent = Record(name="parent")
    child = Record(owner=parent, n=1)
    buffer = io.BytesIO()
    chosen.run(chosen.pickler_leaving_out(buffer, 4, {id(parent): parent}), [child, parent])
    data = buffer.getvalue()
    loads = [chosen.loads(data), chosen.loads(data, guarded=False)]
    if backend == "pickle":
        loads.append(pure.load(data))
    for copy, back in loads:
        assert type(back) is standin.StandIn and copy.owner is back and copy.n == 1
    foreign = pickle.dumps(1).replace(b"K\x01", b"\x8c\x03abc\x94Q")  # BINPERSID 'abc'
    with pytest.raises(pickle.UnpicklingError):
        chosen.loads(foreign)



def _chain(n):
    """Records linked one to the next: ``nodes[0]`` leads through all the others."""
    nodes = [Record(n=i, next=None) for i in range(n)]
    for node, after in zip(nodes, nodes[1:], strict=False):
        node.next = after
    return nodes


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_a_part_too_deep_to_dump_alone_is_not_a_culprit(backend):
    """A part the whole dump saved shallowly (what it leads to was saved before it) can run
    out of stack dumped alone: that says nothing of its load, so it is not named (it was,
    with a ``RecursionError``); the child that does not load still is."""
    nodes = _chain(20_000)
    holder = Record(nodes=nodes[::-1])  # saved last to first: each next one already saved
    items = [c.Versioned(), holder, nodes[0]]
    report = picklecheck.check(items, backends=(backend,), name="items")
    assert report.results[backend].error is None  # it dumps; its load fails
    assert [(x.path, x.stage) for x in report.culprits] == [("items[0]", "loads")]


def test_a_node_whose_parts_run_out_of_stack_alone_is_named_itself():
    """A jinja2 template of 200 blocks: dill saves it whole, but a block alone (a function
    saved by value, through a chain of frames per function it reaches) runs out of stack.
    The template, which does not load (``Template.__new__`` needs its source), is named:
    it was 100 blocks, each after dumps as deep as the stack allows (33-53 s)."""
    jinja2 = pytest.importorskip("jinja2", reason="pip install -e '.[realworld]'")
    from picklecheck.backends import get_backend

    source = "".join(f"{{% block b{i} %}}<p>{{{{ x{i} | upper }}}}</p>{{% endblock %}}\n"
                     for i in range(200))
    template = jinja2.Environment().from_string(source)
    dill_backend = type(get_backend("dill"))
    is_depth_error = dill_backend.is_depth_error
    deep = []

    def counted(self, exc):
        answer = is_depth_error(self, exc)
        deep.append(answer)
        return answer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dill_backend, "is_depth_error", counted)
        report = picklecheck.check(template, backends=("dill",), name="tpl")
    assert [(x.path, x.stage) for x in report.culprits] == [("tpl", "loads")]
    assert "source" in report.culprits[0].reason
    assert any(deep)  # parts did run out of stack alone


def test_parts_that_keep_running_out_of_stack_stop_the_round():
    """Past a few parts that run out of stack alone, the round stops (each such dump goes
    as deep as the stack allows), and the node is named itself."""
    nodes = _chain(20_000)
    holder = Record(nodes=nodes[::-1])
    items = [holder, *nodes[:: 2_000], c.Versioned()]  # ten heads of long chains
    report = picklecheck.check(items, backends=("pickle",), name="items")
    assert [(x.path, x.stage) for x in report.culprits] == [("items", "loads")]
