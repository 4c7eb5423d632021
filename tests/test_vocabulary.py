"""Paths in a library's own words, which still evaluate to the culprit."""

from __future__ import annotations

import threading

import culprits as c
import pytest

import picklecheck
from picklecheck.engine import vocabulary
from picklecheck.model import PathStep


def culprit_of(obj):
    """The one culprit pickle finds, checked to evaluate to the object it names."""
    report = picklecheck.check(obj, backends=("pickle",), roundtrip=False)
    (culprit,) = report.culprits
    if culprit.evaluable:
        assert eval(culprit.path, {"obj": obj}) is culprit.obj  # noqa: S307
    return culprit


def gen():
    yield 1


def test_numpy_object_arrays_by_index():
    """arr[i] for one dimension, arr[i, j] for two."""
    np = pytest.importorskip("numpy")
    flat = np.empty(3, dtype=object)
    flat[:] = [1.5, c.square, "x"]
    assert culprit_of(flat).path == "obj[1]"  # culprit_of evaluates every path
    grid = np.empty((2, 3), dtype=object)
    grid[1, 2] = threading.Lock()
    assert culprit_of({"grid": grid}).path == "obj['grid'][1, 2]"


def test_numpy_structured_array_fields_by_record_and_name():
    """An object field of a structured array's record is ``arr[i]['name']`` (``arr[i,
    j]['name']`` in two dimensions): the user's array is the container, not a library
    object the lock is folded into."""
    np = pytest.importorskip("numpy")
    row = np.array([(1, threading.Lock())], dtype=[("id", "i4"), ("guard", "O")])
    culprit = culprit_of(row)  # culprit_of evaluates every path
    assert culprit.path == "obj[0]['guard']" and culprit.within is None
    grid = np.zeros((2, 3), dtype=[("x", "f8"), ("job", "O")])
    grid[1, 2]["job"] = gen()
    assert culprit_of({"grid": grid}).path == "obj['grid'][1, 2]['job']"


def test_dataframe_cell_is_column_then_iloc():
    """A generator in a DataFrame cell: df['rows'].iloc[0]."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": [1, 2], "rows": [gen(), None]})
    assert culprit_of(df).path == "obj['rows'].iloc[0]"


def test_dataframe_mixed_blocks_and_positions():
    """The column is found through its block, whatever the column order."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [3, 4],
                       "d": ["p", threading.Lock()]}, dtype=object)
    df["e"] = [0.5, 0.25]
    assert culprit_of(df).path == "obj['d'].iloc[1]"


def test_dataframe_duplicate_labels_use_iloc_pairs():
    """With duplicate column labels df['col'] is not one column: df.iloc[i, j]."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([[1, threading.Lock()]], columns=["a", "a"], dtype=object)
    assert culprit_of(df).path == "obj.iloc[0, 1]"


def test_dataframe_attrs_and_series_and_index():
    """df.attrs[...] (a property), series.iloc[i], and the index of a frame."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2]})
    df.attrs["lock"] = threading.Lock()
    assert culprit_of(df).path == "obj.attrs['lock']"
    series = pd.Series([c.square, 2.0], index=["f", "g"])
    assert culprit_of(series).path == "obj.iloc[0]"
    indexed = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["a", c.square], dtype=object))
    assert culprit_of(indexed).path == "obj.index[1]"


class Renamed:
    """__getstate__ returns a key that is also a property of the class."""

    reads = 0

    def __init__(self):
        self._conn = threading.Lock()

    @property
    def conn(self):
        Renamed.reads += 1
        return self._conn

    def __getstate__(self):
        return {"conn": self._conn}


def test_state_key_that_is_a_library_property_becomes_an_attribute():
    """[<state 'attrs'>] is .attrs for pandas; the user's own properties are never run."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1]})
    frame.attrs["cb"] = c.square
    assert culprit_of(frame).path == "obj.attrs['cb']"
    assert culprit_of(Renamed()).path == "obj[<state 'conn'>]"
    assert Renamed.reads == 0
    assert culprit_of(c.RenamingState()).path == "obj[<state 'renamed'>]"


class Grid:
    """A user container with its own way to reach items: grid.cell(i)."""

    def __init__(self, items):
        self.items = items

    def cell(self, i):
        return self.items[i]

    def __getitem__(self, i):
        return self.items[i]


def test_a_new_vocabulary_is_one_function(monkeypatch):
    """Registering a translator for a type is all a new library needs; a wrong one is
    ignored because its path does not evaluate to the culprit."""
    name = f"{Grid.__module__}.{Grid.__qualname__}"

    def grid_words(owner, below):
        step = below[1].steps[0] if len(below) > 1 else None
        if below[0].steps == (PathStep.attr("items"),) and step is not None:
            return (PathStep.index(step.value),), 2
        return None

    monkeypatch.setitem(vocabulary.TRANSLATORS, name, grid_words)
    assert culprit_of(Grid([1, threading.Lock()])).path == "obj[1]"
    monkeypatch.setitem(vocabulary.TRANSLATORS, name, lambda owner, below: (
        (PathStep.index(0),), 2))
    assert culprit_of(Grid([1, threading.Lock()])).path == "obj.items[1]"
