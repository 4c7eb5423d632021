"""Resolving command-line targets: parsing, loading files and modules, finding names."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from module_cleanup import forget_modules_in

from picklecheck.cli.target import (
    NameNotFoundError,
    TargetCodeError,
    TargetNotFoundError,
    TargetSyntaxError,
    parse_target,
    public_names,
    resolve,
    user_traceback,
)


@pytest.fixture
def write(tmp_path, monkeypatch):
    """Write a module into tmp_path; forget every module it loaded afterwards."""
    before = set(sys.modules)
    monkeypatch.chdir(tmp_path)

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    yield write
    forget_modules_in(tmp_path, before)


@pytest.mark.parametrize(("spec", "source", "attr", "is_file"), [
    pytest.param("app.py:state", "app.py", "state", True, id="file and name"),
    pytest.param("app.py:state.cache.lock", "app.py", "state.cache.lock", True, id="dotted"),
    pytest.param("src/app.py", "src/app.py", None, True, id="file alone"),
    pytest.param("pkg.mod:thing", "pkg.mod", "thing", False, id="module and name"),
    pytest.param("pkg.mod", "pkg.mod", None, False, id="module alone"),
    pytest.param("dir/script:x", "dir/script", "x", True, id="path without .py"),
    pytest.param(r"C:\work\app.py", r"C:\work\app.py", None, True, id="windows drive"),
    pytest.param(r"C:\work\app.py:state", r"C:\work\app.py", "state", True,
                 id="windows drive and name"),
])
def test_parse_target(spec, source, attr, is_file):
    """Each accepted form splits into source, dotted name and kind."""
    target = parse_target(spec)
    assert (target.source, target.attr, target.is_file) == (source, attr, is_file)


@pytest.mark.parametrize(("spec", "problem"), [
    pytest.param("app.py:", "nothing after ':' (name a value, or drop the ':')", id="empty name"),
    pytest.param(":state", "nothing before ':' (name a .py file or a module)", id="empty source"),
    pytest.param("app.py:1st", "'1st' is not a Python name (dotted names are fine)",
                 id="not an identifier"),
    pytest.param("app.py:a..b", "'a..b' is not a Python name (dotted names are fine)",
                 id="empty dotted part"),
    pytest.param("my-app:x", "'my-app' is neither a .py file nor a module name",
                 id="bad module name"),
])
def test_parse_target_rejects(spec, problem):
    """Malformed targets are a usage error naming the problem and the expected form."""
    with pytest.raises(TargetSyntaxError) as info:
        parse_target(spec)
    assert str(info.value) == (
        f"bad target {spec!r}: {problem}\n"
        "  expected path/to/file.py[:name] or package.module[:name], e.g. app.py:state.cache")
    assert info.value.exit_code == 2


def test_file_loads_under_its_stem_without_running_main(write, capsys):
    """A script becomes module <stem>; its __main__ block does not run."""
    write("shop.py", """
        class Cart:
            pass
        cart = Cart()
        if __name__ == "__main__":
            print("MAIN BLOCK RAN")
    """)
    [found] = resolve(parse_target("shop.py:cart"))
    assert type(found.obj).__module__ == "shop"
    assert sys.modules["shop"] is found.module
    assert found.name == "cart"
    assert "MAIN BLOCK RAN" not in capsys.readouterr().out


def test_file_folder_is_importable_only_while_loading(write, tmp_path):
    """A sibling module imports during the load; the folder leaves sys.path afterwards."""
    write("app/helpers.py", "VALUE = 41\n")
    write("app/main.py", "import helpers\nanswer = helpers.VALUE + 1\n")
    [found] = resolve(parse_target("app/main.py:answer"))
    assert found.obj == 42
    assert str(tmp_path / "app") not in sys.path


def test_prints_during_import_go_to_stderr(write, capsys):
    """What the user's module prints cannot pollute stdout (and so --json)."""
    write("noisy.py", "print('loading noisy')\nx = 1\n")
    resolve(parse_target("noisy.py:x"))
    out, err = capsys.readouterr()
    assert (out, err) == ("", "loading noisy\n")


def test_same_file_is_loaded_once(write):
    """Two targets in one file share one module: its top level runs once."""
    write("counter.py", "import builtins\nbuiltins.counter_loads = "
                        "getattr(builtins, 'counter_loads', 0) + 1\na = 1\nb = 2\n")
    import builtins

    resolve(parse_target("counter.py:a"))
    resolve(parse_target("counter.py:b"))
    assert builtins.counter_loads == 1
    del builtins.counter_loads


def test_stem_clash_uses_a_private_module_name(write):
    """A script named like an imported module does not replace it in sys.modules."""
    import json

    write("json.py", "data = {'k': 1}\n")
    [found] = resolve(parse_target("json.py:data"))
    assert sys.modules["json"] is json
    assert found.module.__name__ == "__picklecheck_script_json__"


def test_dotted_name_is_followed(write):
    """``file.py:a.b.c`` reads attributes one by one."""
    write("nested.py", """
        class Box:
            pass
        outer = Box()
        outer.inner = Box()
        outer.inner.value = [1, 2]
    """)
    [found] = resolve(parse_target("nested.py:outer.inner.value"))
    assert found.obj == [1, 2]
    assert found.name == "outer.inner.value"


def test_name_not_found_suggests_close_names(write):
    """A typo gets "did you mean" suggestions from the module's names."""
    write("app.py", "state = {}\nstats = []\n")
    with pytest.raises(NameNotFoundError) as info:
        resolve(parse_target("app.py:stat"))
    assert str(info.value) == ("module app.py has no name 'stat' (target 'app.py:stat')\n"
                               "  did you mean 'stats' or 'state'?")


def test_missing_attribute_in_dotted_name(write):
    """The message names the object that lacks the attribute."""
    write("app.py", "class S:\n    cache = {}\nstate = S()\n")
    with pytest.raises(NameNotFoundError) as info:
        resolve(parse_target("app.py:state.cach"))
    assert str(info.value) == ("state has no name 'cach' (target 'app.py:state.cach')\n"
                               "  did you mean 'cache'?")


def test_missing_file(write):
    """A file that does not exist is a usage error."""
    with pytest.raises(TargetNotFoundError) as info:
        resolve(parse_target("nowhere.py:x"))
    assert str(info.value) == "cannot find file nowhere.py (target 'nowhere.py:x')"


def test_missing_module(write):
    """A module that does not exist is a usage error."""
    with pytest.raises(TargetNotFoundError) as info:
        resolve(parse_target("no_such_module_here:x"))
    assert str(info.value) == ("cannot find module 'no_such_module_here' "
                               "(target 'no_such_module_here:x')")


def test_module_whose_import_fails_on_a_dependency(write):
    """A module that exists but imports a missing one shows the user's traceback."""
    write("needs_dep.py", "import not_installed_dependency_xyz\n")
    with pytest.raises(TargetCodeError) as info:
        resolve(parse_target("needs_dep:x"))
    assert "ModuleNotFoundError: No module named 'not_installed_dependency_xyz'" in str(info.value)


def test_import_error_shows_only_user_frames(write, tmp_path):
    """The traceback of a module raising on import has its frames, none of picklecheck's."""
    write("broken.py", """
        def load_settings():
            raise KeyError("DATABASE_URL")

        SETTINGS = load_settings()
    """)
    with pytest.raises(TargetCodeError) as info:
        resolve(parse_target("broken.py:SETTINGS"))
    text = str(info.value)
    assert text.splitlines()[0] == "importing broken.py raised an exception:"
    assert f'File "{tmp_path / "broken.py"}", line 5, in <module>' in text
    assert f'File "{tmp_path / "broken.py"}", line 3, in load_settings' in text
    assert text.rstrip().endswith("KeyError: 'DATABASE_URL'")
    assert "picklecheck" not in text and "importlib" not in text


def test_syntax_error_in_file(write):
    """A syntax error shows the offending line, no traceback frames."""
    write("typo.py", "x = (1,\n")
    with pytest.raises(TargetCodeError) as info:
        resolve(parse_target("typo.py:x"))
    text = str(info.value)
    assert "SyntaxError" in text and "typo.py" in text
    assert "Traceback" not in text


def test_sys_exit_on_import_is_reported(write):
    """A module calling sys.exit() while importing is the user's error, not an exit."""
    write("quits.py", "import sys\nsys.exit(4)\n")
    with pytest.raises(TargetCodeError) as info:
        resolve(parse_target("quits.py:x"))
    assert str(info.value).rstrip().endswith("SystemExit: 4")


def test_chained_exception_frames_are_filtered():
    """Frames are filtered in every exception of a chain."""
    try:
        try:
            raise ValueError("inner")
        except ValueError as exc:
            raise RuntimeError("outer") from exc
    except RuntimeError as exc:
        text = user_traceback(exc)
    assert "ValueError: inner" in text and "RuntimeError: outer" in text
    assert "direct cause" in text


def test_call_returns_what_the_factory_makes(write):
    """--call checks the factory's return value, named ``factory()``."""
    write("factory.py", "def make():\n    return {'made': True}\n")
    [found] = resolve(parse_target("factory.py:make"), call=True)
    assert found.obj == {"made": True}
    assert found.name == "make()"


def test_call_of_raising_factory(write):
    """A factory that raises is the user's error, with the user's traceback."""
    write("factory.py", "def make():\n    raise OSError('no disk')\n")
    with pytest.raises(TargetCodeError) as info:
        resolve(parse_target("factory.py:make"), call=True)
    assert str(info.value).startswith("calling make() raised an exception:")
    assert "OSError: no disk" in str(info.value)


def test_call_of_non_callable(write):
    """--call on a value that cannot be called is a usage error."""
    write("factory.py", "make = 3\n")
    with pytest.raises(TargetSyntaxError, match="make is not callable"):
        resolve(parse_target("factory.py:make"), call=True)


def test_call_without_a_name(write):
    """--call needs a name to call."""
    write("factory.py", "x = 1\n")
    with pytest.raises(TargetSyntaxError, match="--call needs a name"):
        resolve(parse_target("factory.py"), call=True)


def test_hostile_property_in_dotted_name(write):
    """A property raising while the name is read is the user's error."""
    write("hostile.py", """
        class S:
            @property
            def cache(self):
                raise RuntimeError("not connected")
        state = S()
    """)
    with pytest.raises(TargetCodeError) as info:
        resolve(parse_target("hostile.py:state.cache"))
    assert str(info.value).startswith("reading state.cache raised an exception:")


def test_public_names_skip_what_pickles_by_reference(write):
    """Functions, classes and modules are skipped; a lambda and data are kept."""
    write("mixed.py", """
        import os
        from typing import Callable
        from threading import Lock
        class Config:
            pass
        def helper():
            pass
        handler = lambda x: x
        config = Config()
        _private = 1
        limits = {"n": 1}
    """)
    [first, *_] = resolve(parse_target("mixed.py:limits"))
    assert public_names(first.module) == ["handler", "config", "limits"]
    assert public_names(first.module, all_names=True) == [
        "os", "Callable", "Lock", "Config", "helper", "handler", "config", "limits"]


def test_public_names_follow_dunder_all(write):
    """``__all__`` decides which names are public."""
    write("declared.py", "__all__ = ['b']\na = 1\nb = 2\n")
    found = resolve(parse_target("declared.py"))
    assert [f.name for f in found] == ["b"]


def test_module_target_imports_from_the_current_folder(write):
    """``package.module:thing`` imports from the current folder, as ``python -m`` does."""
    write("pkgx/__init__.py", "")
    write("pkgx/settings.py", "value = ('a', 1)\n")
    [found] = resolve(parse_target("pkgx.settings:value"))
    assert found.obj == ("a", 1)
    assert found.module.__name__ == "pkgx.settings"
