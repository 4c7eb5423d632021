"""Classes for examples/streamlit_app.py, kept out of the app script.

A class defined in the script is defined anew on every rerun, so a value made on an
earlier run no longer pickles; a class imported from a module is defined once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Scale:
    """A widget option that carries a function: the widget's value is then this object."""

    name: str
    apply: Callable[[float], float]

    def __str__(self) -> str:
        return self.name


def double(value: float) -> float:
    return value * 2


def tenfold(value: float) -> float:
    return value * 10


#: Widgets offer these names; the functions are looked up after the widget.
SCALES = {"x2": double, "x10": tenfold}
