"""Token-level F1 of extracted text against ground-truth article bodies.

Tokens are whitespace-separated words compared as bags (the article-extraction-benchmark's measure): order and
line breaks do not matter, missing or extra words do.
"""

from __future__ import annotations

from collections import Counter


def token_f1(predicted: str | None, truth: str) -> float:
    pred, gold = Counter((predicted or "").split()), Counter(truth.split())
    if not pred or not gold:
        return float(not pred and not gold)
    overlap = sum((pred & gold).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def mean_f1(predicted: dict[str, str | None], truth: dict[str, str]) -> float:
    """Mean F1 over every ground-truth key; a key with no prediction (a dropped page) scores 0."""
    return sum(token_f1(predicted.get(key), text) for key, text in truth.items()) / len(truth)
