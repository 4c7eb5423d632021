"""Print the errors ``examples/streamlit_app.py`` shows, as the README quotes them.

    python examples/streamlit_errors.py            # with picklecheck, second run
    python examples/streamlit_errors.py --plain    # Streamlit's own error, first run

The app runs in Streamlit's ``AppTest`` (no browser, no server) with
``runner.enforceSerializableSessionState`` switched on. With ``--plain`` picklecheck's
hook is off (``PICKLECHECK_SESSION_MODE=off``), which leaves Streamlit's own check.
The Markdown fences around picklecheck's details (a code box in the app) are left out.
Which key Streamlit's own check names depends on the order of a set of keys, so on
string hashing: the script runs itself with ``PYTHONHASHSEED=1`` to print the same
every time.
"""

import contextlib
import logging
import os
import pathlib
import sys


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "1":
        os.environ["PYTHONHASHSEED"] = "1"
        os.execv(sys.executable, [sys.executable, __file__, *sys.argv[1:]])
    plain = "--plain" in sys.argv[1:]
    if plain:
        os.environ["PICKLECHECK_SESSION_MODE"] = "off"
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.CRITICAL)
    config.set_option("runner.enforceSerializableSessionState", True)
    app = pathlib.Path(__file__).with_name("streamlit_app.py")
    at = AppTest.from_file(str(app.resolve()), default_timeout=60)
    with contextlib.redirect_stdout(sys.stderr):  # Streamlit prints the traceback too
        for _ in range(1 if plain else 2):
            at.run()
    for exception in at.exception:
        lines = exception.message.splitlines()
        print("\n".join(line for line in lines if line.strip() not in ("```text", "```")))


if __name__ == "__main__":
    main()
