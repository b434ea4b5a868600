"""Helpers every YAML spec uses (pipelines, mixes, compare files): loading, the top-level key check, types, numbers,
paths.

One rule per check, so a pipeline, a mix and a compare file answer the same mistake the same way: every error is a
`ConfigError` whose message starts with `where` (the file and the key) and says what is allowed.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, Union

import yaml


class ConfigError(ValueError):
    """A spec file that cannot run; the message names the file and the key."""


def load_yaml(path: str | Path, what: str = "pipeline") -> Any:
    """Safe-load a YAML file; a missing file or a syntax error is a ConfigError naming the file and the line."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a {what} file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the {what} file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8), so not a {what} file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {at}not valid YAML: {getattr(err, 'problem', err)}") from None


def check_top_level(data: Any, allowed: tuple[str, ...], path: str) -> None:
    """A YAML document must be a mapping of known keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(allowed)}")
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{path}: {key}: unknown key; allowed: {', '.join(allowed)}")


def type_name(annotation) -> str:
    """An annotation in words, for error messages: `int | None` → "int or null"."""
    if annotation is Any:
        return "any value"
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin in (list, tuple, Iterable) or annotation is Iterable:
        args = typing.get_args(annotation)
        return f"a list of {type_name(args[0])}" if args else "a list of strings"
    return getattr(annotation, "__name__", str(annotation))


def coerce(value, annotation, where: str):
    """Check `value` against a type annotation; returns it converted (lists → tuples where required)."""
    if annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            try:
                return coerce(value, option, where)
            except ConfigError as err:
                errors.append((option, err))
        real = [err for option, err in errors if option is not type(None)]
        if len(real) == 1:  # `X | None` with a bad X: the precise message (it may name a list item)
            raise real[0]
        raise ConfigError(f"{where}: expected {type_name(annotation)}, got {value!r}")
    if annotation is type(None):
        if value is None:
            return None
    elif origin is Literal:
        if value in typing.get_args(annotation):
            return value
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if is_number(value):  # finite: a YAML .nan or .inf is no threshold
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif annotation is Iterable or origin in (list, tuple, Iterable):
        args = typing.get_args(annotation)
        if isinstance(value, (list, tuple)):
            if origin is tuple and len(args) > 1 and args[-1] is not Ellipsis:  # fixed-length tuple
                if len(value) != len(args):
                    raise ConfigError(f"{where}: expected {len(args)} items, got {value!r}")
                return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
            item = args[0] if args else str
            items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
    else:
        return value
    raise ConfigError(f"{where}: expected {type_name(annotation)}, got {value!r}")


def is_int(value: Any) -> bool:
    """An integer (YAML `true` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (YAML `true`, `.inf` and `.nan` are not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def optional_str(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def positive_int(value: Any, where: str) -> int:
    if not is_int(value) or value <= 0:
        raise ConfigError(f"{where}: expected a positive integer, got {value!r}")
    return int(value)


def positive_number(value: Any, where: str) -> float:
    if not is_number(value) or value <= 0:
        raise ConfigError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def number_at_least(value: Any, minimum: float, where: str) -> float:
    if not is_number(value) or value < minimum:
        raise ConfigError(f"{where}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def fraction(value: Any, where: str, *, zero: bool, one: bool = False) -> float:
    """A number in [0, 1], with each end allowed or not: `0 <= x < 1` is fraction(..., zero=True)."""
    ok = is_number(value) and (value >= 0 if zero else value > 0) and (value <= 1 if one else value < 1)
    if not ok:
        low, high = "0 <=" if zero else "0 <", "<= 1" if one else "< 1"
        raise ConfigError(f"{where}: expected a number with {low} x {high}, got {value!r}")
    return float(value)


def relative_path(value: Any, base: Path, where: str, what: str) -> Path:
    """A non-empty path string, resolved against `base` (the spec file's folder) when relative."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return (base / value).resolve()


NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
NAME_RULE = "a name of letters, digits, '_', '-' or '.'"


def named_entries(raw: Any, where: str, allowed: tuple[str, ...], at_least: int = 2) -> Iterator[tuple[str, dict, str]]:
    """A list of at least `at_least` mappings, each with only `allowed` keys and a unique `name` (NAME_RULE):
    yields (name, entry, where of that entry). Compare candidates and scales are such lists."""
    if not isinstance(raw, list) or len(raw) < at_least:
        keys = ", ".join(allowed)
        count = "two" if at_least == 2 else str(at_least)
        raise ConfigError(f"{where}: expected a list of {count} or more mappings ({keys}), got {raw!r}")
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: expected a mapping with keys {', '.join(allowed)}, got {entry!r}")
        for key in entry:
            if key not in allowed:
                raise ConfigError(f"{here}.{key}: unknown key; allowed: {', '.join(allowed)}")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise ConfigError(f"{here}.name: expected {NAME_RULE}, got {name!r}")
        if name in seen:
            raise ConfigError(f"{here}.name: '{name}' is used twice")
        seen.add(name)
        yield name, entry, f"{here} ({name})"
