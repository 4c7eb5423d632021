"""A job defined the way a notebook cell, ``python -c`` or stdin defines it: in ``__main__``,
with no script behind it. Under spawn a worker cannot find it (``Pool.map`` hangs).

    python examples/notebook_job.py

feeds CELL to a new interpreter through stdin and prints what it printed.
"""

import subprocess
import sys

CELL = """
import picklecheck

def double(x):
    return 2 * x

try:
    picklecheck.assert_picklable(double, backend="multiprocessing", name="double")
except picklecheck.UnpicklableError as err:
    print(err)
"""

if __name__ == "__main__":
    done = subprocess.run([sys.executable, "-"], input=CELL, text=True, capture_output=True,
                          check=False)
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
