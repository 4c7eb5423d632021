"""Where the session checker's settings come from, and what they may be.

Highest first: arguments passed in code, environment variables
(``PICKLECHECK_SESSION_MODE``, ``PICKLECHECK_SESSION_BACKEND``,
``PICKLECHECK_SESSION_ROUNDTRIP``), the ``[tool.picklecheck]`` table of the nearest
``pyproject.toml`` above the working directory (keys ``session-mode``,
``session-backend``, ``session-roundtrip``; underscores work too), then the defaults.
Every value is validated where it is read, and a bad one is reported with the place
it came from, so a typo in CI's environment does not read as a bug in the code.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picklecheck.backends import ALL_BACKEND_NAMES, VARIANT_NAMES

__all__ = [
    "ENV_BACKEND",
    "ENV_MODE",
    "ENV_ROUNDTRIP",
    "MODES",
    "ConfigError",
    "SessionConfig",
    "find_pyproject",
    "read_tool_table",
    "resolve",
]

MODES = ("off", "warn", "enforce")
ENV_MODE = "PICKLECHECK_SESSION_MODE"
ENV_BACKEND = "PICKLECHECK_SESSION_BACKEND"
ENV_ROUNDTRIP = "PICKLECHECK_SESSION_ROUNDTRIP"

_ENV = {"mode": ENV_MODE, "backend": ENV_BACKEND, "roundtrip": ENV_ROUNDTRIP}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(ValueError):
    """A setting has a value picklecheck cannot use; the message says where it was set."""


@dataclass(frozen=True)
class SessionConfig:
    """The resolved settings, and for each one where it came from."""

    mode: str = "warn"
    backend: str = "pickle"
    roundtrip: bool = False
    protocol: int | None = None
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, setting: str) -> str:
        """Where ``setting`` was decided: an argument, a variable, a file, or "default"."""
        return dict(self.sources).get(setting, "default")


def resolve(*, mode: Any = None, backend: Any = None, roundtrip: Any = None,
            protocol: Any = None, default_roundtrip: bool = False,
            cwd: str | os.PathLike[str] | None = None) -> SessionConfig:
    """Merge arguments, environment and ``pyproject.toml`` into a :class:`SessionConfig`.

    ``None`` means "not given here, look further down". ``default_roundtrip`` is the
    bottom layer for ``roundtrip`` (the Streamlit hook loads back by default).
    """
    args = {"mode": mode, "backend": backend, "roundtrip": roundtrip}
    pyproject = find_pyproject(cwd)
    table = read_tool_table(pyproject) if pyproject is not None else {}
    values: dict[str, Any] = {"mode": "warn", "backend": "pickle", "roundtrip": default_roundtrip}
    sources: list[tuple[str, str]] = []
    for setting in ("mode", "backend", "roundtrip"):
        for value, where in _layers(setting, args[setting], table, pyproject):
            if value is not None:
                values[setting] = _validate(setting, value, where)
                sources.append((setting, where))
                break
    return SessionConfig(mode=values["mode"], backend=values["backend"],
                         roundtrip=values["roundtrip"], protocol=_protocol(protocol),
                         sources=tuple(sources))


def _layers(setting: str, arg: Any, table: dict[str, Any],
            pyproject: Path | None) -> list[tuple[Any, str]]:
    env_name = _ENV[setting]
    env_value = os.environ.get(env_name)
    key = f"session-{setting}"
    return [
        (arg, f"argument {setting}={arg!r}"),
        (env_value if env_value not in (None, "") else None,
         f"environment variable {env_name}={env_value!r}"),
        (table.get(key), f"{pyproject} [tool.picklecheck] {key} = {table.get(key)!r}"),
    ]


def _validate(setting: str, value: Any, where: str) -> Any:
    if setting == "mode":
        return _choice(value, MODES, "session mode", where)
    if setting == "backend":
        return _choice(value, ALL_BACKEND_NAMES + VARIANT_NAMES, "session backend", where)
    return _boolean(value, where)


def _choice(value: Any, choices: tuple[str, ...], what: str, where: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text in choices:
        return text
    msg = f"invalid picklecheck {what} {value!r} from {where}: choose one of " + ", ".join(
        repr(c) for c in choices)
    close = difflib.get_close_matches(text or "", choices, n=1)
    if close:
        msg += f" (did you mean {close[0]!r}?)"
    raise ConfigError(msg)


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    msg = (f"invalid picklecheck session roundtrip {value!r} from {where}: "
           "use true or false (or 1/0, yes/no, on/off)")
    raise ConfigError(msg)


def _protocol(protocol: Any) -> int | None:
    if protocol is None:
        return None
    import pickle

    if type(protocol) is not int or not -1 <= protocol <= pickle.HIGHEST_PROTOCOL:
        msg = (f"invalid pickle protocol {protocol!r} from argument protocol=: use an int "
               f"from 0 to {pickle.HIGHEST_PROTOCOL}, or -1 for the highest")
        raise ConfigError(msg)
    return protocol


# -- pyproject.toml -----------------------------------------------------------------

def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` (default: the working directory) or above.

    The nearest one is the project's, as for ruff and black: a parent project's file
    is not consulted when a nearer one lacks a ``[tool.picklecheck]`` table.
    """
    try:
        here = Path(start if start is not None else os.getcwd()).resolve()
    except OSError:  # the working directory was deleted
        return None
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


_CACHE: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def read_tool_table(path: Path) -> dict[str, Any]:
    """The ``session-*`` keys of ``[tool.picklecheck]`` in ``path``, names normalised to dashes.

    Cached by modification time and size, so an app that resolves its settings on
    every rerun reads the file once.
    """
    try:
        stat = path.stat()
        text_key = (stat.st_mtime_ns, stat.st_size)
        cached = _CACHE.get(path)
        if cached is not None and cached[0] == text_key:
            return cached[1]
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read {path}: {exc}"
        raise ConfigError(msg) from exc
    try:
        tool = _parse_toml(text).get("tool", {}).get("picklecheck", {})
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        msg = f"cannot parse {path}: {exc}"
        raise ConfigError(msg) from exc
    if not isinstance(tool, dict):
        msg = f"{path}: [tool.picklecheck] must be a table, not {type(tool).__name__}"
        raise ConfigError(msg)
    table = _session_keys(tool, path)
    _CACHE[path] = (text_key, table)
    return table


def _session_keys(tool: dict[str, Any], path: Path) -> dict[str, Any]:
    known = [f"session-{s}" for s in _ENV]
    table: dict[str, Any] = {}
    for raw, value in tool.items():
        key = str(raw).replace("_", "-")
        if not key.startswith("session-"):
            continue  # other picklecheck features own the rest of the table
        if key not in known:
            msg = f"{path}: unknown key {raw!r} in [tool.picklecheck]"
            close = difflib.get_close_matches(key, known, n=1)
            msg += f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
            raise ConfigError(msg)
        table[key] = value
    return table


def _parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    try:
        import tomli
    except ImportError:
        return parse_minimal_toml(text)
    return tomli.loads(text)


_TABLE = re.compile(r"^\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")
_PAIR = re.compile(r"^([A-Za-z0-9_\-]+)\s*=\s*(.+?)\s*$")
_VALUE = re.compile(r"""^(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(true|false)|([+-]?\d+))\s*(#.*)?$""")


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return {"n": "\n", "t": "\t", "r": "\r"}.get(char, char)


def parse_minimal_toml(text: str) -> dict[str, Any]:
    """Just enough TOML for ``[tool.picklecheck]`` on Python 3.10 without ``tomli``.

    Reads the ``key = value`` lines of that one table, where a value is a string,
    a boolean or an integer; every other table, and any value it cannot read
    outside that table, is skipped. Install ``tomli`` for full TOML.
    """
    result: dict[str, Any] = {}
    inside = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _TABLE.match(line)
        if header and not line.startswith("[["):
            name = header.group(1).replace('"', "").replace("'", "").replace(" ", "")
            inside = name == "tool.picklecheck"
            continue
        if line.startswith("[") or not inside:
            inside = inside and not line.startswith("[")
            continue
        pair = _PAIR.match(line)
        value = _VALUE.match(pair.group(2)) if pair else None
        if pair is None or value is None:
            msg = f"line {number}: cannot read {line!r} (install tomli for full TOML)"
            raise ValueError(msg)
        basic, literal, boolean, integer, _ = value.groups()
        if basic is not None:
            parsed: Any = re.sub(r"\\(.)", _unescape, basic)
        elif literal is not None:
            parsed = literal
        elif boolean is not None:
            parsed = boolean == "true"
        else:
            parsed = int(integer)
        result[pair.group(1)] = parsed
    return {"tool": {"picklecheck": result}} if result else {}
