"""A fast subset of the peer oracle (benchmarks/peer_oracle.py): check agrees with the real
backends on CPython-pickle-test-like and cloudpickle-test-like objects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def oracle():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import peer_oracle
        yield peer_oracle
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("source, protocols", [
    ("cpython", [0, 2, None]),
    ("cloudpickle", [0, None]),
])
def test_check_agrees_with_the_real_backends(oracle, source, protocols):
    """Verdict, stage and every evaluable path agree with what each backend really does."""
    outcomes = oracle.run([source], protocols, timeout=60)
    assert len(outcomes) > 50
    disagreements = [(o.name, o.protocol, o.problems) for o in outcomes if o.problems]
    assert disagreements == []
