"""Declared ranges and allowed values of stage parameters, checked when a pipeline is loaded.

A parameter's type comes from the implementing class's signature; what a type cannot say is declared with this
module's few kinds of limit, one entry per parameter beside each stage in config.py (`limits=`, `ordered=`): a
score lies in [0, 1], a timeout is positive, a minimum is not above its maximum, a language is one the model knows,
a file loads. Without them such a value passes `curate check`, then rejects every document or crashes the run after
hours. Every error names the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import os
import struct
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from curate.spec import ConfigError


class Limit(Protocol):
    def check(self, value: Any, where: str) -> None:
        """Raise ConfigError (the message starting with `where`) when `value` is not allowed."""


def _show(value: Any) -> str:
    """A value as the YAML wrote it: 2 (not 2.0), 'text', [] (not ())."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Range:
    """A finite number between `low` and `high` (inclusive unless open); `off` is an extra value that disables the
    check it parameterises (C4's -1, Gopher's 0). `null` always passes: the type says whether it is allowed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    off: float | None = None

    def __str__(self) -> str:
        low = "(-inf" if self.low is None else f"{'(' if self.low_open else '['}{_show(self.low)}"
        high = "inf)" if self.high is None else f"{_show(self.high)}{')' if self.high_open else ']'}"
        return f"{low}, {high}" if self.off is None else f"{low}, {high} or {_show(self.off)} (off)"

    def contains(self, value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return False
        if self.off is not None and value == self.off:
            return True
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def check(self, value: Any, where: str) -> None:
        if value is not None and not self.contains(value):
            raise ConfigError(f"{where}: {_show(value)} is outside {self}")


PROBABILITY = FRACTION = Range(0, 1)
POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_1 = Range(1)


@dataclass(frozen=True)
class NonEmpty:
    """A string or a list with something in it (an empty one would match nothing, or everything)."""

    why: str = ""

    def check(self, value: Any, where: str) -> None:
        if value is not None and len(value) == 0:
            raise ConfigError(f"{where}: {_show(value)} is empty{'; ' + self.why if self.why else ''}")


NON_EMPTY = NonEmpty()


@dataclass(frozen=True)
class OneOf:
    """A value from a set, given or computed once (`values` a callable is read on first use, then cached)."""

    values: Collection[str] | Callable[[], Collection[str]]
    what: str  # e.g. "a lid.176 language label"
    aliases: Callable[[], dict[str, list[str]]] | None = None  # other spellings → values to suggest

    def check(self, value: Any, where: str) -> None:
        allowed = self.values() if callable(self.values) else self.values
        if value is None or value in allowed:
            return
        if len(allowed) <= 12:
            hint = f"allowed: {', '.join(sorted(allowed))}"
        else:
            hint = f"{len(allowed)} in all, e.g. {_examples(allowed)}"
            near = [v for v in (self.aliases() if self.aliases else {}).get(str(value).lower(), []) if v in allowed]
            near = near or difflib.get_close_matches(str(value), [str(a) for a in allowed], n=3, cutoff=0.75)
            hint += f"; did you mean {' or '.join(dict.fromkeys(near))}?" if near else ""
        raise ConfigError(f"{where}: {value!r} is not {self.what} ({hint})")


def _examples(allowed: Collection[str]) -> str:
    common = [v for v in ("en", "de", "fr", "es", "zh", "eng", "deu", "fra") if v in allowed]
    return ", ".join(common[:4] or sorted(allowed)[:4])


@dataclass(frozen=True, init=False)
class Each:
    """Every item of a list; with several limits, every item is a tuple checked position by position."""

    limits: tuple[Limit, ...]

    def __init__(self, *limits: Limit):
        object.__setattr__(self, "limits", limits)

    def check(self, value: Any, where: str) -> None:
        for i, item in enumerate(value or ()):
            if len(self.limits) == 1:
                self.limits[0].check(item, f"{where}[{i}]")
            else:
                for j, (part, limit) in enumerate(zip(item, self.limits)):
                    limit.check(part, f"{where}[{i}][{j}]")


@dataclass(frozen=True)
class Checked:
    """Declares that the stage's `checker` function checks this parameter (its rules need more than a range)."""

    by: str

    def check(self, value: Any, where: str) -> None:
        return None


def check_limits(
    limits: dict[str, Limit | tuple[Limit, ...]], ordered: Sequence[tuple[str, str]], params: dict, where: str
) -> None:
    """Each parameter against its declared limits, then each (min, max) pair: min ≤ max where both are on."""
    for key, declared in limits.items():
        for limit in declared if isinstance(declared, tuple) else (declared,):
            limit.check(params.get(key), f"{where}.{key}")
    for low_key, high_key in ordered:
        low, high = params.get(low_key), params.get(high_key)
        if low is None or high is None or _is_off(limits.get(low_key), low) or _is_off(limits.get(high_key), high):
            continue
        if low > high:
            raise ConfigError(f"{where}.{low_key}: {_show(low)} is above {high_key} ({_show(high)}); need min <= max")


def _is_off(declared: Limit | tuple[Limit, ...] | None, value: Any) -> bool:
    limits = declared if isinstance(declared, tuple) else (declared,)
    return any(isinstance(limit, Range) and limit.off is not None and value == limit.off for limit in limits)


def check_stop_words(params: dict, where: str) -> None:
    """Gopher quality: asking for more distinct stop words than the list holds would reject every document."""
    wanted, words = params.get("min_stop_words"), params.get("stop_words")
    if not wanted:
        return
    if words is None:
        from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

        words = STOP_WORDS
    if wanted > len(set(words)):
        raise ConfigError(
            f"{where}.min_stop_words: {wanted} is more than the {len(set(words))} distinct stop_words"
            " (every document would be rejected)"
        )


# --- allowed sets read from the installed packages (each read once per process) ---


@lru_cache(maxsize=1)
def lid176_labels() -> frozenset[str]:
    """The 176 language labels of fastText's lid.176, read from the model file's dictionary (about 0.1 s) instead
    of loading the model (1.5 s or more; fasttext-predict cannot list them): the dictionary entries of type 1."""
    from curate.stages.language import model_path

    data = Path(model_path()).read_bytes()
    # header: magic, version (int32 each); the arguments: 12 int32 and one double; then the dictionary's counts
    size = struct.unpack_from("<i", data, 8 + 12 * 4 + 8)[0]
    pos = 8 + 12 * 4 + 8 + 28
    labels = set()
    for _ in range(size):
        end = data.index(b"\0", pos)
        word, pos = data[pos:end], end + 1
        entry_type = data[pos + 8]  # after the int64 count
        pos += 9
        if entry_type == 1:
            labels.add(word.decode("utf-8").removeprefix("__label__"))
    return frozenset(labels)


@lru_cache(maxsize=1)
def word_tokenizer_languages() -> frozenset[str]:
    """The language codes datatrove's quality filters can split words for (its tokenizer assignment table)."""
    from datatrove.utils.word_tokenizers import load_tokenizer_assignments

    return frozenset(load_tokenizer_assignments())


@lru_cache(maxsize=1)
def language_aliases() -> dict[str, list[str]]:
    """English names and ISO 639 codes → the codes of that language ("english", "eng" → en, eng), from the table
    datatrove ships, so `languages: [english]` or `[deu]` gets the label it meant."""
    import csv

    from datatrove.utils._import_utils import ASSETS_PATH

    aliases: dict[str, list[str]] = {}
    with open(os.path.join(ASSETS_PATH, "tokenizer_assignment.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            codes = [c for c in (row["code_1"], row["code_3"]) if c]
            for alias in (row["name"].lower(), *codes):
                aliases.setdefault(alias, []).extend(c for c in codes if c not in aliases.get(alias, []))
    return aliases


LID176 = OneOf(lid176_labels, "a lid.176 language label", language_aliases)
WORD_LANGUAGE = OneOf(word_tokenizer_languages, "a language datatrove's filters split words for", language_aliases)


# --- files that must load (cached by path, size and modification time) ---


def _stamp(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def tokenizer_problem(path: str) -> str | None:
    """Why `path` is not a usable tokenizer.json (it loads and has the end-of-text token), or None."""
    try:
        if not Path(path).is_file():
            return "no such file" if not Path(path).exists() else "not a file"
        return _tokenizer_problem(_stamp(path))
    except OSError as err:
        return f"cannot read it ({err.strerror})"


@lru_cache(maxsize=16)
def _tokenizer_problem(stamp: tuple[str, int, int]) -> str | None:
    from tokenizers import Tokenizer

    from curate.tokens import EOS_TOKEN

    try:
        tokenizer = Tokenizer.from_file(stamp[0])
    except Exception as err:  # tokenizers raises a bare Exception for a file that is not its JSON
        return f"not a tokenizers tokenizer.json ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
    if tokenizer.token_to_id(EOS_TOKEN) is None:
        return f"has no {EOS_TOKEN} token; train one with `curate tokenizer train`"
    return None


def check_tokenizer(path: str, where: str) -> None:
    """ConfigError naming `where` and the file when the tokenizer does not load."""
    problem = tokenizer_problem(path)
    if problem:
        raise ConfigError(f"{where}: {path}: {problem}")
