"""A seeded fuzz run of ``picklecheck inspect`` over mutated valid pickles.

Valid pickles of many objects, every protocol and all three backends are mutated
(bytes flipped, opcodes inserted, ranges cut, duplicated or spliced, length fields
blown up, the end cut off) with a fixed seed and a fixed number of cases. For every
case the real command must exit 0, 1 or 2 (never 3), print JSON with ``--json``, and
finish within 2 s. Its verdict is checked against the real C loader with every global
replaced by a permissive stand-in (:mod:`permissive_loader`, in a child with a memory
limit): what that loader reads, ``inspect`` never calls corrupt, and what it rejects
for a reason that does not depend on globals (a truncated stream, a memo slot never
filled, a missing MARK, a stack underflow, an unknown opcode or protocol),
``inspect`` calls corrupt.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import json
import pickle
import random
import time
from pathlib import Path

import cloudpickle
import dill
import pytest
from click.testing import CliRunner
from permissive_loader import LoaderProcess

from picklecheck.cli import cli

SEED = 20240611
CASES = 700  # the fixed budget
PER_CASE_SECONDS = 2.0

#: Loader failures that do not depend on what the globals are.
STRUCTURAL = ("pickle data was truncated", "Ran out of input", "Memo value not found",
              "could not find MARK", "unpickling stack underflow", "invalid load key",
              "unsupported pickle protocol", "odd number of items", "unexpected MARK found",
              "EXT specifies code <= 0", "negative byte count", "must be quoted")


class Point:
    """An importable class, pickled by reference."""

    def __init__(self, x: int) -> None:
        self.x = x


def _sources() -> list[bytes]:
    shared = ["shared", 1]
    cyclic: list = []
    cyclic.append(cyclic)
    objects = [
        {"a": [1, 2.5, None, True], "b": ("x", b"\x00\xff"), "c": {1, 2}, "d": frozenset("ab")},
        collections.OrderedDict(k=shared, j=shared), cyclic, bytearray(b"bytes"),
        [Point(1), Point(2)], datetime.datetime(2024, 1, 2, 3, 4, 5), decimal.Decimal("1.5"),
        complex(1, 2), 2**100, -(2**40), "é" * 20 + "\U0001F600", list(range(300)),
        collections.Counter("hello"), {"nested": {"deeper": [[{"x": 1}]]}},
    ]
    out = []
    for obj in objects:
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            out.append(pickle.dumps(obj, protocol=protocol))
    for dumps in (dill.dumps, cloudpickle.dumps):
        out.append(dumps(lambda x: x + 1))
        out.append(dumps({"f": len, "g": Point(3)}))
    return out


OPCODE_BYTES = bytes(sorted({ord(op.code) for op in __import__("pickletools").opcodes}))


def _mutate(rng: random.Random, data: bytes, sources: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not buf:
            break
        i = rng.randrange(len(buf))
        kind = rng.randrange(9)
        if kind == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[i] = rng.randrange(256)
        elif kind == 2:
            buf.insert(i, rng.choice(OPCODE_BYTES))
        elif kind == 3:
            del buf[i:i + rng.randrange(1, 8)]
        elif kind == 4:
            j = min(len(buf), i + rng.randrange(1, 16))
            buf[i:i] = buf[i:j]
        elif kind == 5:
            buf[i:i + 4] = rng.choice((b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00"))
        elif kind == 6:
            del buf[rng.randrange(len(buf)):]
        elif kind == 7:
            other = rng.choice(sources)
            j = rng.randrange(len(other))
            buf[i:] = other[j:]
        else:
            buf[i] = rng.choice(OPCODE_BYTES)
    return bytes(buf)


def _cases() -> list[bytes]:
    rng = random.Random(SEED)
    sources = _sources()
    return [_mutate(rng, rng.choice(sources), sources) for _ in range(CASES)]


@pytest.fixture(scope="module")
def loader():
    process = LoaderProcess()
    yield process
    process.close()


def test_fuzz_inspect_never_crashes_and_agrees_with_the_loader(tmp_path: Path, loader) -> None:
    """Mutated pickles: exit 0/1/2 with JSON, under 2 s each, and corrupt exactly when the loader must fail."""
    runner = CliRunner()
    problems = []
    for n, data in enumerate(_cases()):
        path = tmp_path / f"case{n}.pkl"
        path.write_bytes(data)
        start = time.perf_counter()
        result = runner.invoke(cli, ["inspect", str(path), "--json"])
        elapsed = time.perf_counter() - start
        loaded = loader.load(data)
        label = f"case {n} {data[:40]!r}...: exit {result.exit_code}, loader {loaded[:120]!r}"
        if result.exit_code not in (0, 1, 2):
            problems.append(f"{label}\n{result.output[-800:]}")
            continue
        if elapsed > PER_CASE_SECONDS:
            problems.append(f"{label}: took {elapsed:.1f} s")
        doc = json.loads(result.stdout)
        corrupt = result.exit_code == 2
        if loaded == "ok" and corrupt and "lone surrogate" not in doc["error"]:
            problems.append(f"{label}: inspect calls a loadable stream corrupt: {doc['error']}")
        if any(reason in loaded for reason in STRUCTURAL) and not corrupt:
            problems.append(f"{label}: the loader must fail, inspect says exit {result.exit_code}")
    assert not problems, "\n".join(problems[:20])
