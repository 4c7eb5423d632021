"""The engine: how each pickler sees an object graph, where it fails, and why.

    walker    the pickler's-eye children of one object, with path steps
    finding   a culprit before it is explained; linked paths
    scan      pickling a node's children with the real pickler, knowing where it failed
    depth     where a too-deep graph made the pickler give up; cycles through reduce args
    locate    top-down culprit search (dumps, loads, references a worker cannot import)
    kinds     what kind of problem a culprit is
    fixes     what to do about it
    compare   which other backends serialize it on its own
    explain   findings to culprits, merged across backends
    check     the public entry: verdict, search, comparison, round trips

The engine depends on :mod:`picklecheck.model`, :mod:`picklecheck.errors`,
:mod:`picklecheck.backends` and :mod:`picklecheck.isolation`, never on the
front ends around it (report, cli, integrations, tools).
"""
