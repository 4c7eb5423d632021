"""Does ``check`` agree with the real pickle, dill and cloudpickle on peers' test objects?

For each object of ``_peer_objects`` (dill's catalogue, CPython-pickle-test-like
reductions, cloudpickle-test-like functions and classes) and each protocol (0, 2 and
the backend's default), the ground truth is what each backend really does: ``dumps``,
``loads`` in this process, and whether the copy's locks can be acquired. ``check`` agrees
on an object at a protocol when, for every backend,

* its verdict is the truth (``ok`` exactly when dumps and loads work and the copy is usable),
* the stage is right (a dumps failure has an error and dumps culprits; a load failure has
  a failed round trip and loads culprits), with at least one culprit named,

and every culprit path marked evaluable evaluates to that culprit.

    python benchmarks/peer_oracle.py                    # everything (a few minutes)
    python benchmarks/peer_oracle.py --source cpython --protocols 0,2 --show 20

Disagreements where the load guard refused a call (``skipped``) are counted apart: they
belong to the guard, not to the culprit search.
"""

from __future__ import annotations

import argparse
import os
import pickle
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _peer_objects  # noqa: E402

import picklecheck  # noqa: E402
from picklecheck.backends import BACKEND_NAMES, get_backend  # noqa: E402

SOURCES = {
    "dill": _peer_objects.dill_catalogue,
    "cpython": _peer_objects.cpython_cases,
    "cloudpickle": _peer_objects.cloudpickle_cases,
}
_LOCKS = (type(threading.Lock()), type(threading.RLock()))


@dataclass
class Outcome:
    """One object at one protocol: the problems found (empty: agreement)."""

    source: str
    name: str
    protocol: int | None
    problems: list[str] = field(default_factory=list)
    guard: bool = False
    seconds: float = 0.0


class _TimeoutError(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _TimeoutError


def truth(obj: Any, backend_name: str, protocol: int | None) -> tuple[bool, bool]:
    """(dumps works, loads works and the copy is usable) for the real backend."""
    backend = get_backend(backend_name)
    proto = backend.default_protocol() if protocol is None else protocol
    module = backend.module if backend_name != "pickle" else pickle
    try:
        data = module.dumps(obj, protocol=proto)
    except Exception:  # noqa: BLE001 - the verdict is the point
        return False, False
    try:
        copy = module.loads(data)
    except Exception:  # noqa: BLE001
        return True, False
    return True, _usable(copy)


def _usable(copy: Any, depth: int = 2) -> bool:
    """No lock in the copy (or one or two levels in) says it is free but cannot be taken."""
    if type(copy) in _LOCKS:  # type(): isinstance() would touch a dead proxy
        free = (not copy.locked()) if hasattr(copy, "locked") else "count=0" in repr(copy)
        if free and not copy.acquire(blocking=False):
            return False
        if free:
            copy.release()
        return True
    if depth == 0:
        return True
    parts: list[Any] = []
    if type(copy) in (list, tuple):
        parts = list(copy)
    elif type(copy) is dict:
        parts = list(copy.values())
    else:
        try:
            parts = list(object.__getattribute__(copy, "__dict__").values())
        except Exception:  # noqa: BLE001
            parts = []
    return all(_usable(p, depth - 1) for p in parts)


def judge(source: str, name: str, factory: Any, protocol: int | None) -> Outcome:
    """The truth on one object, the check on a fresh one, each backend in the check's
    order (a one-shot iterator in a reduction is used up by the first dumps)."""
    outcome = Outcome(source, name, protocol)
    start = time.perf_counter()
    subject = factory()
    truths = {b: truth(subject, b, protocol) for b in BACKEND_NAMES}
    obj = factory()
    try:
        report = picklecheck.check(obj, protocol=protocol, max_culprits=50)
    except Exception as exc:  # noqa: BLE001 - check must never raise
        outcome.problems.append(f"check raised {type(exc).__name__}: {exc}")
        return outcome
    for b in BACKEND_NAMES:
        result = report.results[b]
        dumps_ok, loads_ok = truths[b]
        outcome.guard |= bool(result.skipped)
        culprits = [c for c in report.culprits if b in c.backends]
        if result.ok != (dumps_ok and loads_ok):
            outcome.problems.append(f"{b}: verdict {result.ok}, truth dumps={dumps_ok} "
                                    f"loads={loads_ok} ({result.error or result.roundtrip_error})")
            continue
        if not dumps_ok and (result.error is None or not culprits
                             or any(c.stage != "dumps" for c in culprits)):
            outcome.problems.append(f"{b}: dumps fails, but stage/culprits are "
                                    f"{[(c.path, c.stage) for c in culprits]}")
        if dumps_ok and not loads_ok and (result.error is not None or not culprits
                                          or any(c.stage != "loads" for c in culprits)):
            outcome.problems.append(f"{b}: loads fails, but stage/culprits are "
                                    f"{[(c.path, c.stage) for c in culprits]}")
    for culprit in report.culprits:
        if culprit.evaluable and not _evaluates(culprit.path, obj, culprit.obj):
            outcome.problems.append(f"path {culprit.path} does not evaluate to the culprit")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _evaluates(path: str, root: Any, target: Any) -> bool:
    try:
        return eval(path, {"obj": root}) is target  # noqa: S307 - our own path
    except Exception:  # noqa: BLE001
        return False


def run(sources: list[str], protocols: list[int | None], timeout: float) -> list[Outcome]:
    outcomes = []
    signal.signal(signal.SIGALRM, _alarm)
    for source in sources:
        for name, factory in SOURCES[source]():
            for protocol in protocols:
                signal.alarm(int(timeout))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        outcome = judge(source, name, factory, protocol)
                except _TimeoutError:
                    outcome = Outcome(source, name, protocol, [f"no answer in {timeout:g} s"])
                except Exception as exc:  # noqa: BLE001 - the oracle's own trouble
                    outcome = Outcome(source, name, protocol,
                                      [f"oracle raised {type(exc).__name__}: {exc}"])
                finally:
                    signal.alarm(0)
                outcomes.append(outcome)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=",".join(SOURCES))
    parser.add_argument("--protocols", default="0,2,default")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--show", type=int, default=50, help="disagreements to list")
    args = parser.parse_args(argv)
    protocols = [None if p == "default" else int(p) for p in args.protocols.split(",")]
    outcomes = run(args.source.split(","), protocols, args.timeout)
    bad = [o for o in outcomes if o.problems]
    guard = [o for o in bad if o.guard]
    print(f"{len(outcomes)} checks ({len({(o.source, o.name) for o in outcomes})} objects x "
          f"{len(protocols)} protocols): {len(outcomes) - len(bad)} agree, "
          f"{len(bad) - len(guard)} disagree, {len(guard)} more where the load guard refused")
    for source in SOURCES:
        mine = [o for o in outcomes if o.source == source]
        if mine:
            print(f"  {source}: {sum(not o.problems for o in mine)}/{len(mine)} agree")
    for o in bad[: args.show]:
        proto = "default" if o.protocol is None else o.protocol
        tag = " [guard]" if o.guard else ""
        print(f"- {o.source}:{o.name} @ {proto}{tag}: " + "; ".join(o.problems)[:400])
    slow = sorted(outcomes, key=lambda o: -o.seconds)[:3]
    print("slowest:", ", ".join(f"{o.name} {o.seconds:.1f}s" for o in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
