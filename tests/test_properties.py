"""Properties over random graphs: exactly the planted culprits come back, and ok means ok."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from strategies import Node, build, build_model, models, specs

import picklecheck

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _planted(spec):
    planted: list = []
    obj = build(spec, "root", planted)
    return obj, planted


@SETTINGS
@given(specs)
def test_pickle_finds_exactly_the_planted_culprits(spec):
    """With pickle, every lock and generator planted is found, at its path, and nothing else."""
    obj, planted = _planted(spec)
    report = picklecheck.check(obj, backends=("pickle",), name="root", roundtrip=False,
                               max_culprits=1000)
    found = sorted((c.path, id(c.obj)) for c in report.culprits)
    assert found == sorted((path, id(culprit)) for path, culprit in planted)
    assert report.ok is (not planted)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_each_backend_blames_what_it_cannot_save(spec):
    """dill copes with locks but not generators; cloudpickle with neither: paths match."""
    obj, planted = _planted(spec)
    report = picklecheck.check(obj, name="root", roundtrip=False, max_culprits=1000)
    generators = sorted(path for path, culprit in planted if not hasattr(culprit, "acquire"))
    assert sorted(c.path for c in report.results["dill"].culprits) == generators
    assert sorted(c.path for c in report.results["cloudpickle"].culprits) == sorted(p for p, _ in planted)


@SETTINGS
@given(specs)
def test_evaluable_paths_evaluate_to_the_culprit(spec):
    """Every path marked evaluable is a Python expression that reaches the culprit."""
    obj, _ = _planted(spec)
    report = picklecheck.check(obj, backends=("pickle",), name="root", roundtrip=False)
    for culprit in report.culprits:
        if culprit.evaluable:
            assert eval(culprit.path, {"root": obj}) is culprit.obj  # noqa: S307


class Broken:
    """Dumps fine, never loads: __reduce__ forgets an argument."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def __reduce__(self):
        return (Broken, (self.a,))


graphs = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3), st.builds(lambda: Broken(1, 2))),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=2), children, max_size=3)),
    max_leaves=15,
)


@SETTINGS
@given(graphs)
def test_ok_means_it_really_round_trips(obj):
    """Whatever check calls ok survives pickle.dumps and pickle.loads."""
    report = picklecheck.check(obj, backends=("pickle",))
    if report.ok:
        pickle.loads(pickle.dumps(obj))
    else:
        assert report.culprits and all(isinstance(c.obj, Broken) for c in report.culprits)
        try:
            pickle.loads(pickle.dumps(obj))
        except TypeError:
            pass
        else:
            raise AssertionError("check said it fails, but it round-trips")


def test_node_class_is_importable():
    """The graph classes pickle by reference (they live in an importable module)."""
    assert pickle.loads(pickle.dumps(Node())).__class__ is Node


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 5])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_every_protocol_finds_the_planted_culprits(protocol, spec):
    """The scan's positions hold for every protocol (batching and framing differ)."""
    obj, planted = _planted(spec)
    report = picklecheck.check(obj, backends=("pickle",), name="root", roundtrip=False,
                               protocol=protocol, max_culprits=1000)
    found = {(c.path, id(c.obj)) for c in report.culprits}
    expected = {(path, id(culprit)) for path, culprit in planted}
    if protocol >= 2:
        assert found == expected
    else:  # protocols 0 and 1 also refuse __slots__ instances without __getstate__
        assert expected <= found or any("__slots__" in c.reason for c in report.culprits)


#: The matplotlib Axes shape: the first attribute leads back to the node, a later one
#: holds the culprit inside another object, and there are enough attributes for a scan.
AXES_SHAPE = {"parents": [0], "links": [], "plants": [(0, "generator", "holder", False)],
              "settings": [9] + [0] * 10, "tuples": False}
#: A culprit below an instance with nine settings, whose ``__dict__`` on Python 3.13 keeps
#: its values in the instance (a garbage-collector walk of the dict does not show them).
INLINE_VALUES_SHAPE = {"parents": [0, 0, 0, 0, 0, 0, 0, 5, 0, 0], "links": [],
                       "plants": [(0, "generator", "attr", False),
                                  (426, "generator", "attr", False)],
                       "settings": [0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0], "tuples": False}


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=models)
@example(spec=AXES_SHAPE)
@example(spec=INLINE_VALUES_SHAPE)
def test_object_models_give_back_exactly_their_culprits(backend, spec):
    """Parent/child models with back-references and shared siblings: every planted culprit
    the backend refuses comes back, at a path that evaluates to it, and nothing else."""
    root, planted = build_model(spec)
    expected = {id(c) for c, failing in planted if backend in failing}
    report = picklecheck.check(root, backends=(backend,), name="root", roundtrip=False,
                               max_culprits=1000)
    result = report.results[backend]
    assert {id(c.obj) for c in result.culprits} == expected
    assert not result.truncated
    for culprit in result.culprits:
        assert culprit.evaluable
        assert eval(culprit.path, {"root": root}) is culprit.obj  # noqa: S307
