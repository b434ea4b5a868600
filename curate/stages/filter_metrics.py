"""The values datatrove's quality filters compare with their thresholds, kept per document for the run report.

datatrove's filters return only a verdict, and stop at the first failed check. To show what a threshold change would
do (how many kept documents sit just inside a limit, how many rejected ones just outside), every document that
reaches a filter gets all of that filter's values, computed with datatrove's own helpers and formulas, and stored in
the `filter_metrics` column (JSON: stage → metric → value) of documents/ and rejected/. The verdict stays datatrove's:
these functions never decide anything. Word splitting is shared with the filter through datatrove's split cache, so
the extra cost is a few passes over words and lines.

`THRESHOLDS` says which constructor parameter each value is compared with, in which direction, and which drop reason
that check gives; the report reads the limits a run used from its spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_duplicates, find_top_duplicate
from datatrove.pipeline.filters.gopher_repetition_filter import get_n_grams as n_grams
from datatrove.utils.text import PUNCTUATION_SET

from curate.records import METRICS_KEY

DIGITS = 6  # decimals: enough to reproduce every verdict at its limit, still small on disk


@dataclass(frozen=True)
class Threshold:
    """One check of a filter: `metric` compared with the constructor parameter `param` (item `n` of a (n, limit)
    list such as Gopher's top_n_grams); the document is dropped with `reason` when the value is `drop` the limit."""

    metric: str
    param: str
    drop: str  # "below" or "above"
    reason: str
    label: str
    n: int | None = None
    log: bool = False  # a count spanning orders of magnitude (Gopher's 50 to 100,000 words): drawn on a log axis


THRESHOLDS: dict[str, list[Threshold]] = {
    "language": [Threshold("language_score", "min_score", "below", "low_language_score", "language score")],
    "gopher_repetition": [
        Threshold("dup_para_frac", "dup_para_frac", "above", "dup_para_frac", "duplicate paragraphs (share)"),
        Threshold(
            "dup_para_char_frac", "dup_para_char_frac", "above", "dup_para_char_frac", "duplicate paragraph chars"
        ),
        Threshold("dup_line_frac", "dup_line_frac", "above", "dup_line_frac", "duplicate lines (share)"),
        Threshold("dup_line_char_frac", "dup_line_char_frac", "above", "dup_line_char_frac", "duplicate line chars"),
        Threshold("top_2_gram", "top_n_grams", "above", "top_2_gram", "top 2-gram char share", n=2),
        Threshold("top_3_gram", "top_n_grams", "above", "top_3_gram", "top 3-gram char share", n=3),
        Threshold("top_4_gram", "top_n_grams", "above", "top_4_gram", "top 4-gram char share", n=4),
        Threshold("duplicated_5_n_grams", "dup_n_grams", "above", "duplicated_5_n_grams", "dup 5-gram chars", n=5),
        Threshold("duplicated_10_n_grams", "dup_n_grams", "above", "duplicated_10_n_grams", "dup 10-gram chars", n=10),
    ],
    "gopher_quality": [
        Threshold(
            "words", "min_doc_words", "below", "gopher_short_doc", "words, symbol-only tokens excluded", log=True
        ),
        Threshold("words", "max_doc_words", "above", "gopher_long_doc", "words, symbol-only tokens excluded", log=True),
        Threshold("avg_word_length", "min_avg_word_length", "below", "gopher_below_avg_threshold", "mean word length"),
        Threshold("avg_word_length", "max_avg_word_length", "above", "gopher_above_avg_threshold", "mean word length"),
        Threshold("hash_ratio", "max_symbol_word_ratio", "above", "gopher_too_many_hashes", "'#' per word"),
        Threshold("ellipsis_ratio", "max_symbol_word_ratio", "above", "gopher_too_many_ellipsis", "'...' per word"),
        Threshold("bullet_lines_ratio", "max_bullet_lines_ratio", "above", "gopher_too_many_bullets", "bullet lines"),
        Threshold(
            "ellipsis_lines_ratio",
            "max_ellipsis_lines_ratio",
            "above",
            "gopher_too_many_end_ellipsis",
            "lines ending in '...'",
        ),
        Threshold(
            "alpha_words_ratio",
            "max_non_alpha_words_ratio",
            "below",
            "gopher_below_alpha_threshold",
            "words with a letter (share)",
        ),
        Threshold("stop_words", "min_stop_words", "below", "gopher_enough_stop_words", "distinct stop words"),
    ],
    "fineweb_quality": [
        Threshold("line_punct_ratio", "line_punct_thr", "below", "line_punct_ratio", "lines ending in punctuation"),
        Threshold("short_line_ratio", "short_line_thr", "above", "short_line_ratio", "short lines (share)"),
        Threshold("char_dup_ratio", "char_duplicates_ratio", "above", "char_dup_ratio", "duplicate line chars"),
        Threshold("list_ratio", "new_line_ratio", "above", "list_ratio", "newlines per word"),
    ],
}


def limit_of(threshold: Threshold, params: dict[str, Any]) -> float | None:
    """The limit a run used for `threshold`, from the stage's parameters (defaults included); None when off."""
    value = params.get(threshold.param)
    if threshold.n is not None:
        value = dict(value or ()).get(threshold.n)
    return float(value) if value else None  # datatrove skips a check whose limit is None or 0


def record(doc: Any, stage: str, values: dict[str, float | None]) -> None:
    """Store `values` under `stage` in the document's metadata (written as the `filter_metrics` column)."""
    metrics = doc.metadata.get(METRICS_KEY)
    if not isinstance(metrics, dict):  # a JSON string read back from staged/ Parquet, or nothing yet
        import json

        metrics = json.loads(metrics) if isinstance(metrics, str) and metrics else {}
    metrics[stage] = {k: (None if v is None else round(float(v), DIGITS)) for k, v in values.items()}
    doc.metadata[METRICS_KEY] = metrics


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def gopher_quality(text: str, words: list[str], stop_words: set[str]) -> dict[str, float | None]:
    """datatrove's GopherQualityFilter values (same formulas, all of them, not only up to the first failure)."""
    non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    lines = text.splitlines()
    return {
        "words": len(non_symbol),
        "avg_word_length": _share(sum(len(w) for w in non_symbol), len(non_symbol)),
        "hash_ratio": _share(text.count("#"), len(words)),
        "ellipsis_ratio": _share(text.count("...") + text.count("…"), len(words)),
        "bullet_lines_ratio": _share(sum(s.lstrip().startswith(("•", "-")) for s in lines), len(lines)),
        "ellipsis_lines_ratio": _share(sum(s.rstrip().endswith(("...", "…")) for s in lines), len(lines)),
        "alpha_words_ratio": _share(sum(any(c.isalpha() for c in w) for w in words), len(words)),
        "stop_words": len(stop_words.intersection(words)),
    }


PARAGRAPHS = re.compile(r"\n{2,}")
LINES = re.compile("\n+")


def gopher_repetition(text: str, words: list[str]) -> dict[str, float | None]:
    """datatrove's GopherRepetitionFilter values; of the duplicated n-gram checks, only the 5- and 10-gram ones
    (the rest lie between them and cost as much each)."""
    if not text:
        return {}
    paragraphs = PARAGRAPHS.split(text.strip())
    para_dups, para_chars = find_duplicates(paragraphs)
    lines = LINES.split(text)
    line_dups, line_chars = find_duplicates(lines)
    values: dict[str, float | None] = {
        "dup_para_frac": para_dups / len(paragraphs),
        "dup_para_char_frac": para_chars / len(text),
        "dup_line_frac": line_dups / len(lines),
        "dup_line_char_frac": line_chars / len(text),
    }
    for n in (2, 3, 4):
        grams = n_grams(words, n)
        values[f"top_{n}_gram"] = find_top_duplicate(grams) / len(text) if grams else None
    for n in (5, 10):
        values[f"duplicated_{n}_n_grams"] = find_all_duplicate(words, n) / len(text)
    return values


def fineweb_quality(
    text: str, words: list[str], stop_chars: tuple[str, ...], short_line_length: int
) -> dict[str, float | None]:
    """datatrove's FineWebQualityFilter values."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return {}
    return {
        "line_punct_ratio": sum(1 for line in lines if line.endswith(stop_chars)) / len(lines),
        "short_line_ratio": sum(1 for line in lines if len(line) <= short_line_length) / len(lines),
        "char_dup_ratio": _share(find_duplicates(lines)[1], len(text.replace("\n", ""))),
        "list_ratio": _share(text.count("\n"), len(words)),
    }
