"""The ``picklecheck`` command: exit codes, JSON, plain output, in-process and as a script."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from module_cleanup import forget_modules_in

import picklecheck
from picklecheck.cli.command import cli

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SCRIPT = Path(sys.executable).parent / "picklecheck"

APP = """\
import threading

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

limits = {"max_items": 10}
state = {"lock": threading.Lock(), "items": [1, 2]}
point = Point(1, 2)

def make_limits():
    return dict(limits)

if __name__ == "__main__":
    raise SystemExit("the main block must not run")
"""


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A small app file in an empty folder (the current directory); forgotten afterwards."""
    before = set(sys.modules)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("PICKLECHECK_DEBUG", raising=False)
    (tmp_path / "app.py").write_text(APP)
    yield tmp_path / "app.py"
    forget_modules_in(tmp_path, before)


def run(*args: str, env: dict[str, str] | None = None):
    """Invoke the command in-process and return click's result."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def normalise(text: str) -> str:
    """Remove what changes between runs and Pythons: addresses, timings, table padding,
    message wording."""
    text = re.sub(r"0x[0-9a-f]+", "0x?", text)
    # Python 3.13 says "Can't get local object" where 3.10-3.12 say "Can't pickle ...".
    text = text.replace("Can't get local object", "Can't pickle local object")
    text = re.sub(r"\b\d+(?:\.\d+)? (?:us|ms|s)\b", "<time>", text)
    lines = []
    for line in text.splitlines():
        if re.match(r"(backend|pickle|dill|cloudpickle)\s", line):
            line = re.sub(r"\s{2,}", "  ", line)
        lines.append("---" if re.fullmatch(r"-{10,}", line) else line)
    return "\n".join(lines) + "\n"


# -- exit codes and output, in-process --------------------------------------------

def test_clean_value_exits_0(app):
    """A value every backend round-trips: exit 0 and an ok verdict last."""
    result = run("app.py:limits")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "ok: limits serializes with pickle, dill, cloudpickle"


def test_culprit_exits_1_with_tree_table_and_verdict(app):
    """A lock: exit 1, the tree to it, the table, the verdict."""
    result = run("app.py:state")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[2:4] == ["state  dict", "`-- ['lock']  _thread.lock  x pickle, cloudpickle"]
    assert "    path  state['lock']" in lines
    assert lines[-1] == "FAIL: state does not survive pickle, cloudpickle (1 culprit); ok with dill"


def test_quiet_prints_the_verdict_only(app):
    """--quiet: one line per value."""
    result = run("app.py:state", "-q")
    assert result.exit_code == 1
    assert result.stdout == ("FAIL: state does not survive pickle, cloudpickle (1 culprit); "
                             "ok with dill\n")


def test_json_document(app):
    """--json: one document with stable keys, the report per target, nothing else."""
    result = run("app.py:state", "--json", "-b", "pickle")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert list(doc) == ["picklecheck", "ok", "targets"]
    assert doc["picklecheck"] == picklecheck.__version__ and doc["ok"] is False
    [entry] = doc["targets"]
    assert list(entry) == ["target", "source", "name", "ok", "report"]
    assert (entry["target"], entry["source"], entry["name"]) == ("app.py:state", "app.py", "state")
    report = entry["report"]
    assert list(report["results"]) == ["pickle"]
    assert [c["path"] for c in report["culprits"]] == ["state['lock']"]
    assert report["culprits"][0]["works_with"]["dill"] is True


def test_json_for_several_targets_is_one_document(app):
    """Several targets: one JSON document, one entry each, ``ok`` for all of them."""
    result = run("app.py:limits", "app.py:state", "--json")
    doc = json.loads(result.stdout)
    assert [t["name"] for t in doc["targets"]] == ["limits", "state"]
    assert [t["ok"] for t in doc["targets"]] == [True, False]
    assert doc["ok"] is False and result.exit_code == 1


def test_json_stdout_stays_clean_when_the_module_prints(app):
    """What the user's module prints on import goes to stderr, not into the JSON."""
    app.write_text("print('connecting...')\n" + APP)
    result = run("app.py:limits", "--json")
    assert json.loads(result.stdout)["ok"] is True
    assert "connecting..." in result.stderr


def test_file_without_name_checks_every_public_value(app):
    """A file alone: a summary row per public value, details of the failing ones."""
    result = run("app.py", "-b", "pickle")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "name    type       pickle  culprits",
        "-----------------------------------",
        "limits  dict       ok             -",
        "state   dict       FAIL           1",
        "point   app.Point  ok             -",
    ]
    assert lines[-1] == "FAIL: 1 of 3 values does not survive every backend: state"


def test_all_names_includes_functions_and_classes(app):
    """--all-names also checks what pickles by reference."""
    result = run("app.py", "-b", "pickle", "--all-names", "--json")
    names = [t["name"] for t in json.loads(result.stdout)["targets"]]
    assert names == ["threading", "Point", "limits", "state", "point", "make_limits"]


def test_call_checks_the_factory_result(app):
    """--call: the factory's return value is checked, named ``make_limits()``."""
    result = run("app.py:make_limits", "--call", "-q")
    assert result.stdout == "ok: make_limits() serializes with pickle, dill, cloudpickle\n"
    assert result.exit_code == 0


def test_no_roundtrip_skips_loads(app):
    """--no-roundtrip: dumps only, the round-trip column shows '-'."""
    result = run("app.py:limits", "--no-roundtrip", "-b", "pickle")
    row = next(line for line in result.stdout.splitlines() if line.startswith("pickle "))
    assert row.split()[-1] == "-"


def test_script_class_note_and_fresh_process(app):
    """A class defined in the script: a note; --fresh-process loads it with the script's
    folder on the worker's path, as ``python app.py`` would have it."""
    plain = run("app.py:point", "-b", "pickle")
    assert plain.exit_code == 0
    assert "note: Point is defined in app.py, loaded here as module 'app';" in plain.stdout
    fresh = run("app.py:point", "-b", "pickle", "--fresh-process")
    assert fresh.exit_code == 0
    row = next(line for line in fresh.stdout.splitlines() if line.startswith("pickle "))
    assert row.split()[-2:] == ["ok", "ok"]


def test_several_targets_from_different_files(app, tmp_path):
    """Values from two files are labelled ``source:name``."""
    (tmp_path / "other.py").write_text("x = 1\n")
    result = run("app.py:limits", "other.py:x", "-b", "pickle")
    assert result.exit_code == 0
    assert "app.py:limits" in result.stdout and "other.py:x" in result.stdout
    assert result.stdout.splitlines()[-1] == "ok: all 2 values serialize with pickle"


# -- usage errors: exit 2 -------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["missing.py:x"], "Error: cannot find file missing.py (target 'missing.py:x')",
                 id="missing file"),
    pytest.param(["app.py:"], "Error: bad target 'app.py:': nothing after ':'", id="bad syntax"),
    pytest.param(["app.py:stat"], "Error: module app.py has no name 'stat' (target "
                 "'app.py:stat')\n  did you mean 'state'?", id="name not found"),
    pytest.param(["no_such_module_xyz:x"], "Error: cannot find module 'no_such_module_xyz'",
                 id="missing module"),
    pytest.param(["app.py:state", "--protocol", "99"], "Error: Invalid value for '--protocol'",
                 id="bad protocol"),
    pytest.param(["app.py:state", "-b", "marshal"], "Error: Invalid value for '-b' / '--backend'",
                 id="unknown backend"),
    pytest.param([], "Error: Missing argument 'TARGET...'", id="no target"),
    pytest.param(["app.py", "--call"], "--call needs a name to call", id="call without name"),
])
def test_usage_errors_exit_2(app, args, message):
    """Every usage error exits 2 with a message on stderr and nothing on stdout."""
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_module_raising_on_import_shows_only_its_frames(app, tmp_path):
    """The module's own exception and frames; no picklecheck, click or importlib frames."""
    (tmp_path / "broken_app.py").write_text(textwrap.dedent("""\
        def connect():
            raise ConnectionError("database is down")

        db = connect()
    """))
    result = run("broken_app.py:db")
    assert result.exit_code == 2
    err = result.stderr
    assert err.startswith("Error: importing broken_app.py raised an exception:\n")
    assert 'broken_app.py", line 4, in <module>' in err
    assert 'broken_app.py", line 2, in connect' in err
    assert err.rstrip().endswith("ConnectionError: database is down")
    assert "picklecheck" not in err and "importlib" not in err and "click" not in err


def test_internal_error_exits_3(app, monkeypatch):
    """A bug inside picklecheck: exit 3, a request to report it, no traceback."""

    def broken_check(*args, **kwargs):
        raise ZeroDivisionError("engine bug")

    monkeypatch.setattr("picklecheck.cli.command.check", broken_check)
    result = run("app.py:limits")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"Error: internal error in picklecheck {picklecheck.__version__}: "
        "ZeroDivisionError: engine bug",
        "This is a bug in picklecheck, not in your code; please report it with the command "
        "you ran.",
        "Set PICKLECHECK_DEBUG=1 to see the traceback.",
    ]
    debug = run("app.py:limits", env={"PICKLECHECK_DEBUG": "1"})
    assert debug.exit_code == 3
    assert "Traceback (most recent call last):" in debug.stderr
    assert "in broken_check" in debug.stderr


# -- hostile and extreme objects ---------------------------------------------------

def test_object_whose_repr_raises(app, tmp_path):
    """A raising __repr__ is shown as such; the check completes."""
    (tmp_path / "hostile.py").write_text(textwrap.dedent("""\
        import threading
        class Widget:
            def __init__(self):
                self.lock = threading.Lock()
            def __repr__(self):
                raise RuntimeError("repr is broken")
        widget = Widget()
    """))
    result = run("hostile.py:widget", "-b", "pickle")
    assert result.exit_code == 1
    assert "widget: hostile.Widget = <hostile.Widget object (repr raised RuntimeError)>" \
        in result.stdout
    assert "`-- .lock  _thread.lock  x pickle" in result.stdout


def test_nested_100000_levels(app, tmp_path):
    """A list nested 100,000 levels deep: no crash, exit 1, the run of steps drawn once."""
    (tmp_path / "deep.py").write_text(textwrap.dedent("""\
        import threading
        deep = threading.Lock()
        for _ in range(100_000):
            deep = [deep]
    """))
    result = run("deep.py:deep", "-b", "pickle")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[2] == "deep  list"
    assert re.fullmatch(r"`-- \[0\]\[0\]\[0\]\.\.\.\[0\]  \([\d,]+ x \[0\]\)  list  x pickle",
                        lines[3])
    assert lines[-1].startswith("FAIL: deep does not survive pickle")


# -- help, version, subcommands -----------------------------------------------------

def test_help_has_examples_and_exit_codes():
    """--help explains targets, shows examples and the exit codes."""
    result = run("--help")
    assert result.exit_code == 0
    assert "picklecheck examples/session_app.py:state" in result.stdout
    assert "Exit codes: 0 everything serializes" in result.stdout
    assert "not as __main__" in result.stdout


def test_version():
    """--version prints the package version."""
    assert run("--version").stdout == f"picklecheck, version {picklecheck.__version__}\n"


def test_inspect_is_a_subcommand():
    """``inspect`` as the first word runs the pickle-file reader (its help here)."""
    result = run("inspect", "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: picklecheck inspect [OPTIONS] FILE.pkl")


def test_inspect_file(tmp_path):
    """inspect: 0 for a loadable pickle, 1 for a missing global, 2 for a corrupt file."""
    pytest.importorskip("picklecheck.tools.pickle_file")
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"a": [1, 2]}))
    missing = tmp_path / "missing.pkl"
    missing.write_bytes(b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x0fno_such_module_q"
                        b"\x94\x8c\x01X\x94\x93\x94.")
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"not a pickle at all")
    assert run("inspect", str(good)).exit_code == 0
    assert json.loads(run("inspect", str(good), "--json").stdout)["ok"] is True
    assert run("inspect", str(missing)).exit_code == 1
    assert run("inspect", str(corrupt)).exit_code == 2


def test_sizes(app):
    """--sizes prints where the bytes come from; --json wraps the profile per target."""
    pytest.importorskip("picklecheck.tools.sizes")
    result = run("--sizes", "app.py:limits", "--json")
    assert result.exit_code == 0
    [entry] = json.loads(result.stdout)["targets"]
    assert entry["name"] == "limits" and entry["profile"] is not None


# -- the installed script, in a real subprocess ----------------------------------------

def script(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``picklecheck`` script with a plain 80-column environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PICKLECHECK")}
    environ.update({"COLUMNS": "80", "NO_COLOR": "1", **env})
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=120, check=False)


def test_script_golden_session_app():
    """The README's main example, piped: plain ASCII text, exactly as recorded."""
    proc = script("examples/session_app.py:state")
    assert proc.returncode == 1
    assert proc.stderr == ""
    golden = GOLDEN / "session_app_state.txt"
    if os.environ.get("PICKLECHECK_UPDATE_GOLDEN"):
        golden.write_text(normalise(proc.stdout))
    assert normalise(proc.stdout) == golden.read_text()
    assert proc.stdout.isascii() and "\x1b" not in proc.stdout


def test_script_json():
    """The script's --json output parses and lists every culprit path."""
    proc = script("examples/session_app.py:state", "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    paths = [c["path"] for c in doc["targets"][0]["report"]["culprits"]]
    assert paths == ["state.db", "state.callbacks['on_submit']",
                     "state.callbacks['on_clear']", "state.cache._lock"]


def test_script_module_target_and_summary():
    """``examples.session_app`` as a module from the repo folder: the summary rows."""
    proc = script("examples.session_app", "-b", "pickle", "-q")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "ok: DEFAULT_MODEL serializes with pickle",
        "ok: SYSTEM_PROMPT serializes with pickle",
        "FAIL: state does not survive pickle (4 culprits)",
        "ok: limits serializes with pickle",
        "ok: config serializes with pickle",
    ]


def test_script_import_error_has_no_picklecheck_frames(tmp_path):
    """In a real process too, a module raising on import shows only the user's frames."""
    (tmp_path / "boom.py").write_text("import json\nSETTINGS = json.loads('{bad')\n")
    proc = script("boom.py:SETTINGS", cwd=tmp_path)
    assert proc.returncode == 2
    assert 'boom.py", line 2, in <module>' in proc.stderr
    assert "json.decoder.JSONDecodeError" in proc.stderr
    assert "site-packages/click" not in proc.stderr
    assert "picklecheck/" not in proc.stderr and "importlib" not in proc.stderr


def test_python_dash_m():
    """``python -m picklecheck`` is the same command."""
    proc = subprocess.run([sys.executable, "-m", "picklecheck", "examples/session_app.py:config",
                           "-q"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0
    assert proc.stdout == "ok: config serializes with pickle, dill, cloudpickle\n"


def test_interrupt_exits_130(tmp_path):
    """Ctrl-C inside a check exits 130 with one line, not 1 (which means 'does not pickle')."""
    script = tmp_path / "slow.py"
    script.write_text(
        "class Interrupts:\n"
        "    def __reduce_ex__(self, protocol):\n"
        "        raise KeyboardInterrupt\n"
        "value = Interrupts()\n"
    )
    result = CliRunner().invoke(cli, [f"{script}:value"])
    assert result.exit_code == 130
    assert "interrupted" in result.output


# -- consistency (issue 10): folders, suggestions, several targets, sizes, clean JSON -----

def test_folder_with_and_without_slash_agree(app, tmp_path):
    """`adir` and `adir/` give the same clear error; `pkgdir/` checks the package like `pkgdir`."""
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "a.py").write_text("x = 1\n")
    plain, slash = run("adir"), run("adir/")
    assert plain.exit_code == slash.exit_code == 2
    assert plain.stderr.replace("'adir'", "'adir/'") == slash.stderr
    assert "it has no __init__.py" in plain.stderr and "adir/a.py:NAME" in plain.stderr
    (tmp_path / "pkgdir").mkdir()
    (tmp_path / "pkgdir" / "__init__.py").write_text("import threading\nlock = threading.Lock()\n")
    package, package_slash = run("pkgdir", "-b", "pickle"), run("pkgdir/", "-b", "pickle")
    assert package.exit_code == package_slash.exit_code == 1
    assert "lock" in package.stdout and "lock" in package_slash.stdout
    assert run("pkgdir", "-q").stdout == run("pkgdir/", "-q").stdout
    assert run("pkgdir/:lock", "-b", "pickle", "-q").stdout == run("pkgdir:lock", "-b",
                                                                      "pickle", "-q").stdout


@pytest.mark.parametrize(("target", "suggestion"), [
    pytest.param("ap.py:state", "did you mean app.py?", id="file"),
    pytest.param("app:stat", "did you mean 'state'?", id="name in a module"),
    pytest.param("sub_dri/modl.py:x", "did you mean sub_dir/model.py?", id="folder and file"),
    pytest.param("app.pyy:state", "did you mean app.py?", id="suffix"),
])
def test_did_you_mean_for_mistyped_targets(app, tmp_path, target, suggestion):
    """A mistyped file, folder or name gets a close existing one suggested."""
    (tmp_path / "sub_dir").mkdir()
    (tmp_path / "sub_dir" / "model.py").write_text("x = 1\n")
    result = run(target)
    assert result.exit_code == 2
    assert suggestion in result.stderr


def test_one_bad_target_keeps_the_good_reports(app):
    """The good targets are checked and reported; the bad one is an error; exit 2."""
    result = run("app.py:limits", "missing.py:x", "app.py:state", "-b", "pickle")
    assert result.exit_code == 2
    assert "app.py:limits" in result.stdout and "app.py:state" in result.stdout
    assert "Error: cannot find file missing.py (target 'missing.py:x')" in result.stderr
    doc = json.loads(run("app.py:limits", "nope.py:y", "--json", "-b", "pickle").stdout)
    assert doc["ok"] is False
    assert [t["target"] for t in doc["targets"]] == ["app.py:limits", "nope.py:y"]
    assert doc["targets"][0]["ok"] is True and doc["targets"][1]["report"] is None
    assert "cannot find file nope.py" in doc["targets"][1]["error"]


def test_sizes_does_every_backend_asked(app):
    """--sizes -b dill -b cloudpickle: one table per backend, one JSON entry per backend."""
    result = run("--sizes", "app.py:limits", "-b", "dill", "-b", "cloudpickle")
    assert result.exit_code == 0
    assert "limits: dict" in result.stdout
    assert "with dill" in result.stdout and "with cloudpickle" in result.stdout
    doc = json.loads(run("--sizes", "app.py:limits", "-b", "dill", "-b", "cloudpickle",
                         "--json").stdout)
    assert [t["backend"] for t in doc["targets"]] == ["dill", "cloudpickle"]
    assert [t["profile"]["backend"] for t in doc["targets"]] == ["dill", "cloudpickle"]


def test_json_stays_clean_when_a_reduce_prints(app, tmp_path):
    """A __reduce__ that prints while it is checked writes to stderr under --json."""
    (tmp_path / "noisy.py").write_text(textwrap.dedent("""\
        class Noisy:
            def __reduce__(self):
                print("reducing!")
                return (Noisy, ())
        value = Noisy()
    """))
    result = run("noisy.py:value", "--json", "-b", "pickle")
    assert json.loads(result.stdout)["ok"] is True
    assert "reducing!" in result.stderr


def test_inspect_import_json_stays_clean(tmp_path):
    """inspect --import --json: the imported module's prints (Python and fd 1) go to stderr."""
    (tmp_path / "chatty_mod_q.py").write_text(
        "import os\nprint('hello from import')\nos.write(1, b'raw fd write\\n')\nclass X: pass\n")
    data = b"\x80\x04\x8c\x0cchatty_mod_q\x94\x8c\x01X\x94\x93\x94)\x81\x94."
    (tmp_path / "x.pkl").write_bytes(data)
    result = script("inspect", "x.pkl", "--import", "--json", cwd=tmp_path,
                    PYTHONPATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is True
    assert "hello from import" in result.stderr and "raw fd write" in result.stderr


def test_inspect_corrupt_json(tmp_path):
    """inspect --json on a corrupt file: exit 2, a JSON error with the offset, the message on stderr."""
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04h\x05.")
    result = run("inspect", str(tmp_path / "bad.pkl"), "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["offset"] == 2
    assert "memo slot 5" in doc["error"] and "memo slot 5" in result.stderr


def test_a_backend_named_with_b_that_is_not_installed_is_a_usage_error(app, monkeypatch):
    """-b ray where ray is not installed: exit 2 and how to install it (plain data read
    "FAIL: cfg does not survive ray (0 culprits)", exit 1); --compare shows it as a row,
    and --sizes --compare says it was not measured (it was an internal error)."""
    for name in ("ray", "ray.cloudpickle"):  # importing either raises ImportError
        monkeypatch.setitem(sys.modules, name, None)
    result = run("app.py:limits", "-b", "ray")
    assert result.exit_code == 2
    assert "ray is not installed (pip install 'picklecheck[ray]')" in result.output
    assert "does not survive" not in result.output
    result = run("app.py:limits", "--sizes", "--compare")
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("not installed, so not")]
    assert "ray" in line.split(": ")[1].split(", ")


def test_a_timeout_that_is_no_number_is_a_usage_error(app):
    """--timeout nan: exit 2 (it passed click's range, then check() refused it: an
    internal error, exit 3)."""
    result = run("app.py:limits", "--timeout", "nan")
    assert result.exit_code == 2 and "is not a number of seconds" in result.output


def test_sizes_with_joblib_measures(app):
    """--sizes -b joblib made loky's pickler with the protocol as its reducers (an
    internal error, exit 3, for any value)."""
    pytest.importorskip("joblib", reason="joblib is not installed (picklecheck[joblib])")
    result = run("app.py:limits", "--sizes", "-b", "joblib")
    assert result.exit_code == 0, result.output
    assert "with joblib (protocol" in result.output


def test_a_pickle_file_as_a_target_points_to_inspect(app):
    """`picklecheck payload.pkl` (or a pickle under another name): use `picklecheck inspect`
    (it said "cannot find a loader for payload.pkl")."""
    (app.parent / "payload.pkl").write_bytes(pickle.dumps({"a": 1}))
    (app.parent / "cache.bin").write_bytes(pickle.dumps([1, 2], protocol=4))
    for name in ("payload.pkl", "cache.bin"):
        result = run(name)
        assert result.exit_code == 2
        assert f"is a pickle file, not Python code: read it with `picklecheck inspect {name}`" in (
            result.output)


def test_json_keeps_command_line_order_and_names_an_unusable_target(app):
    """--json: a target that cannot be used is an entry with "error" where it was typed,
    even when it is the only one (nothing was printed; with several, they went last)."""
    result = run("missing.py:x", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert [(t["target"], t["report"]) for t in doc["targets"]] == [("missing.py:x", None)]
    assert "cannot find file missing.py" in doc["targets"][0]["error"]
    result = run("missing.py:x", "app.py:limits", "app.py:nope", "app.py:point", "--json",
                 "-b", "pickle")
    doc = json.loads(result.stdout)
    assert [t["target"] for t in doc["targets"]] == [
        "missing.py:x", "app.py:limits", "app.py:nope", "app.py:point"]


SCRIPT_WITH_A_GLOBAL_LOCK = """
import threading
results_lock = threading.Lock()
totals = []

def work(x):
    with results_lock:
        totals.append(x)
    return x * x
"""


def test_a_files_functions_pickle_as_the_scripts_would(tmp_path, monkeypatch):
    """A file stands for the script python runs: cloudpickle (and joblib, Dask, Ray and
    Spark, which pickle with it) send a __main__ function by value with the globals it
    uses, so one that takes a module-level lock fails there; by reference to the file's
    module it said "ok". pickle saves it by reference, as from __main__. The command
    leaves cloudpickle's registry as it found it."""
    import cloudpickle

    before = set(sys.modules)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.py").write_text(SCRIPT_WITH_A_GLOBAL_LOCK)
    try:
        result = run("job.py:work", "-b", "cloudpickle", "-b", "pickle")
        assert result.exit_code == 1, result.output
        assert "path  work.__globals__['results_lock']" in result.output
        assert "FAIL: work does not survive cloudpickle (1 culprit); ok with pickle" in result.output
        assert "job" not in cloudpickle.list_registry_pickle_by_value()
        # the fix that keeps one lock per worker: the function sent by name
        hint = " ".join(result.output.split())
        assert ("work travels by value, with the globals it uses: defined at the top level "
                "of a module the workers import, it is sent by name, and each worker uses "
                "its own results_lock") in hint, hint
    finally:
        forget_modules_in(tmp_path, before)
