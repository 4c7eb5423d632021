"""Tests for picklecheck.config: where session settings come from, and bad values."""

from __future__ import annotations

import os
import sys

import pytest

from picklecheck.integrations.config import (
    ENV_BACKEND,
    ENV_MODE,
    ENV_ROUNDTRIP,
    ConfigError,
    find_pyproject,
    parse_minimal_toml,
    read_tool_table,
    resolve,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Every test starts in an empty directory with no PICKLECHECK_SESSION_* variables."""
    for name in (ENV_MODE, ENV_BACKEND, ENV_ROUNDTRIP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write_pyproject(folder, body):
    """Write a pyproject.toml with ``body`` into ``folder`` and return its path."""
    path = folder / "pyproject.toml"
    path.write_text('[project]\nname = "app"\n\n' + body, encoding="utf-8")
    return path


def test_defaults_without_any_configuration():
    """With nothing set anywhere the mode is warn, the backend pickle, no round trip."""
    config = resolve()
    assert (config.mode, config.backend, config.roundtrip, config.protocol) == (
        "warn", "pickle", False, None)
    assert config.source("mode") == "default"


def test_default_roundtrip_is_the_callers():
    """The bottom layer for roundtrip is chosen by the caller (the Streamlit hook: True)."""
    assert resolve(default_roundtrip=True).roundtrip is True


def test_pyproject_sets_every_setting(tmp_path):
    """[tool.picklecheck] session-* keys are read from the project's pyproject.toml."""
    path = write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "enforce"\n'
                                     'session-backend = "dill"\nsession-roundtrip = true\n')
    config = resolve()
    assert (config.mode, config.backend, config.roundtrip) == ("enforce", "dill", True)
    assert str(path) in config.source("mode")


def test_pyproject_accepts_underscores(tmp_path):
    """session_mode is the same key as session-mode."""
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession_mode = "off"\n')
    assert resolve().mode == "off"


def test_environment_beats_pyproject(tmp_path, monkeypatch):
    """PICKLECHECK_SESSION_MODE overrides the pyproject value."""
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "off"\n')
    monkeypatch.setenv(ENV_MODE, "enforce")
    config = resolve()
    assert config.mode == "enforce"
    assert config.source("mode") == "environment variable PICKLECHECK_SESSION_MODE='enforce'"


def test_argument_beats_environment(monkeypatch):
    """An argument passed in code overrides the environment."""
    monkeypatch.setenv(ENV_MODE, "enforce")
    monkeypatch.setenv(ENV_BACKEND, "dill")
    config = resolve(mode="off")
    assert (config.mode, config.backend) == ("off", "dill")
    assert config.source("mode") == "argument mode='off'"


def test_empty_environment_variable_is_unset(monkeypatch, tmp_path):
    """An empty variable falls through to the next layer instead of being an error."""
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "off"\n')
    monkeypatch.setenv(ENV_MODE, "")
    assert resolve().mode == "off"


def test_environment_is_case_and_space_insensitive(monkeypatch):
    """' Enforce ' in the environment reads as "enforce"."""
    monkeypatch.setenv(ENV_MODE, " Enforce ")
    monkeypatch.setenv(ENV_ROUNDTRIP, "YES")
    config = resolve()
    assert (config.mode, config.roundtrip) == ("enforce", True)


def test_pyproject_found_from_a_subdirectory(tmp_path, monkeypatch):
    """The nearest pyproject.toml above the working directory is the project's."""
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "enforce"\n')
    deep = tmp_path / "src" / "app" / "pages"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_pyproject() == tmp_path / "pyproject.toml"
    assert resolve().mode == "enforce"


def test_nearest_pyproject_wins_even_without_the_table(tmp_path, monkeypatch):
    """A nested project's pyproject.toml hides its parent's settings."""
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "enforce"\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    write_pyproject(inner, "")
    monkeypatch.chdir(inner)
    assert resolve().mode == "warn"


def test_other_picklecheck_keys_are_left_alone(tmp_path):
    """Keys that are not session-* belong to other features and are ignored here."""
    path = write_pyproject(tmp_path, '[tool.picklecheck]\nbackends = ["pickle"]\n'
                                     'session-mode = "off"\n')
    assert read_tool_table(path) == {"session-mode": "off"}


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        pytest.param("argument", "from argument mode='enforced'", id="argument"),
        pytest.param("env", "from environment variable PICKLECHECK_SESSION_MODE='enforced'",
                     id="environment"),
        pytest.param("pyproject", "[tool.picklecheck] session-mode = 'enforced'", id="pyproject"),
    ],
)
def test_invalid_mode_names_its_source(layer, expected, tmp_path, monkeypatch):
    """A bad mode anywhere is a ValueError that says where it was set and what was meant."""
    kwargs = {}
    if layer == "argument":
        kwargs["mode"] = "enforced"
    elif layer == "env":
        monkeypatch.setenv(ENV_MODE, "enforced")
    else:
        write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "enforced"\n')
    with pytest.raises(ConfigError) as info:
        resolve(**kwargs)
    message = str(info.value)
    assert message.startswith("invalid picklecheck session mode 'enforced' ")
    assert expected in message
    assert message.endswith("choose one of 'off', 'warn', 'enforce' (did you mean 'enforce'?)")
    assert isinstance(info.value, ValueError)


def test_invalid_mode_is_checked_even_when_overridden(monkeypatch):
    """A bad value in a layer that an argument overrides is not read, so it is no error."""
    monkeypatch.setenv(ENV_MODE, "bogus")
    assert resolve(mode="off").mode == "off"


def test_non_string_mode_is_rejected(tmp_path):
    """session-mode = true in TOML is a clear error, not a crash."""
    write_pyproject(tmp_path, "[tool.picklecheck]\nsession-mode = true\n")
    with pytest.raises(ConfigError, match=r"invalid picklecheck session mode True from .*"):
        resolve()


def test_invalid_backend_and_roundtrip(monkeypatch):
    """Backend and roundtrip values are validated with their sources too."""
    monkeypatch.setenv(ENV_BACKEND, "cloudpickel")
    with pytest.raises(ConfigError, match=r"PICKLECHECK_SESSION_BACKEND='cloudpickel'.*"
                                          r"did you mean 'cloudpickle'"):
        resolve()
    monkeypatch.delenv(ENV_BACKEND)
    monkeypatch.setenv(ENV_ROUNDTRIP, "maybe")
    with pytest.raises(ConfigError, match="invalid picklecheck session roundtrip 'maybe'"):
        resolve()


def test_invalid_protocol():
    """A protocol outside the pickle module's range is refused."""
    with pytest.raises(ConfigError, match="invalid pickle protocol 99"):
        resolve(protocol=99)
    assert resolve(protocol=2).protocol == 2


def test_unknown_session_key_suggests_the_right_one(tmp_path):
    """A typo in a session-* key is reported with the closest known key."""
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mdoe = "off"\n')
    with pytest.raises(ConfigError, match="unknown key 'session-mdoe'.*did you mean 'session-mode'"):
        resolve()


def test_broken_toml_names_the_file(tmp_path):
    """A pyproject.toml that does not parse gives an error naming the file."""
    path = write_pyproject(tmp_path, "[tool.picklecheck\nsession-mode = \n")
    with pytest.raises(ConfigError, match=f"cannot parse {path}"):
        resolve()


def test_edited_pyproject_is_read_again(tmp_path):
    """The per-file cache notices a change of the file."""
    path = write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "off"\n')
    assert resolve().mode == "off"
    write_pyproject(tmp_path, '[tool.picklecheck]\nsession-mode = "enforce"  # now strict\n')
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert resolve().mode == "enforce"


MINIMAL_DOCS = [
    pytest.param('[tool.picklecheck]\nsession-mode = "enforce"\n', id="basic string"),
    pytest.param("[tool.picklecheck]\nsession-mode = 'off' # comment\n", id="literal string"),
    pytest.param('[tool.other]\nx = [1, 2]\n[tool.picklecheck]\nsession-roundtrip = false\n'
                 'session-backend = "dill"\n[tool.after]\ny = {a = 1}\n', id="between tables"),
    pytest.param('[ "tool" . "picklecheck" ]\nsession_mode = "warn"\nlevel = -3\n',
                 id="quoted header, integer"),
    pytest.param('[project]\nname = "x"\n', id="no table"),
    pytest.param('[tool.picklecheck]\nsession-mode = "a\\"b"\n', id="escaped quote"),
]


@pytest.mark.parametrize("text", MINIMAL_DOCS)
def test_minimal_parser_agrees_with_tomllib(text):
    """The Python 3.10 fallback reads [tool.picklecheck] exactly as tomllib does."""
    if sys.version_info < (3, 11):
        pytest.importorskip("tomli")
        import tomli as tomllib
    else:
        import tomllib
    expected = tomllib.loads(text).get("tool", {}).get("picklecheck", {})
    assert parse_minimal_toml(text).get("tool", {}).get("picklecheck", {}) == expected


def test_minimal_parser_refuses_what_it_cannot_read():
    """An array inside [tool.picklecheck] is an error that suggests installing tomli."""
    with pytest.raises(ValueError, match="line 2: cannot read .*install tomli"):
        parse_minimal_toml('[tool.picklecheck]\nbackends = ["pickle"]\n')
