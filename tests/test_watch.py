"""What the loading child's watch records of one load: environment variables set,
removed or put back, and signal handlers installed, and nothing for a load that
changed nothing. Run in a new interpreter: an audit hook cannot be removed."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json, os, signal
from picklecheck.isolation.watch import Watch

records = []
os.environ["PC_GONE"] = "y"
os.environ["PC_SAME"] = "z"
watch = Watch(records.append, ("/tmp", os.devnull), os.getppid())
watch.install()
watch.before()
os.environ["PC_SET"] = "1"
del os.environ["PC_GONE"]
os.environ["PC_SAME"] = "other"
os.environ["PC_SAME"] = "z"  # back to what it was: not a change
os.putenv("PC_PUT", "2")  # behind os.environ's back
signal.signal(signal.SIGUSR1, lambda *args: None)
watch.after()
first = list(records)
watch.before()
watch.after()
print(json.dumps([first, records[len(first):]]))
"""


def test_a_load_s_environment_and_signal_changes_are_recorded_once():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=60, check=True)
    first, second = json.loads(done.stdout)
    assert sorted(first) == sorted([
        "installed a handler for SIGUSR1",
        "set the environment variable 'PC_SET'",
        "removed the environment variable 'PC_GONE'",
        "set the environment variable 'PC_PUT'",
    ])
    assert second == []
