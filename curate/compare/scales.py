"""Does the ranking hold at a larger scale? `scales:` runs the same candidates at two or more proxy sizes.

    scales:                        # smallest first; the last one leads the report
      - {name: tiny}                                        # the top-level model and train as they are
      - {name: 20m, model: {preset: 20m}, train: {tokens: 2M}}   # merged over the top-level sections

Each scale is a whole comparison (its own runs, tests, Holm family and verdicts; runs are cached by their trainer
config, so scales never share a run). Between every two scales: Kendall's τ of the candidates' target means
(scipy's tau-b, with its p-value: with few candidates τ is coarse, e.g. 3 candidates give τ ∈ {−1, −1/3, 1/3, 1}),
and the verdicts that change: `reversed` (significant at both scales, opposite winners: the small proxy would have
misled) and `changed` (significant at one scale only), per figure (the target and every eval set).
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from typing import TYPE_CHECKING, Any

from curate.spec import ConfigError, named_entries

if TYPE_CHECKING:
    from curate.compare.spec import CompareSpec

SCALE_KEYS = ("name", "model", "train")
TARGET = "target"


def parse_scales(raw: Any, model: dict, train: dict, path: str) -> list[dict]:
    """`scales:` → [{name, model, train}] with each scale's sections merged over the top-level ones."""
    if raw is None:
        return []
    scales: list[dict] = []
    for sname, entry, where in named_entries(raw, f"{path}: scales", SCALE_KEYS):
        sections = {}
        for key, base in (("model", model), ("train", train)):
            extra = entry.get(key) or {}
            if not isinstance(extra, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping (merged over the top-level {key}), got {extra!r}")
            sections[key] = {**base, **extra}
        scales.append({"name": sname, **sections})
    return scales


def at_scale(spec: CompareSpec, scale: dict) -> CompareSpec:
    """The compare spec of one scale: its model and train sections, no scales."""
    return dataclasses.replace(spec, model=dict(scale["model"]), train=dict(scale["train"]), scales=[])


def _winner(pair: dict | None) -> str | None:
    return pair["a"] if pair is not None and pair["significant"] else None


def _blocks(result: dict) -> dict[str, dict]:
    return {TARGET: result, **result["eval_sets"]}


def _compare_two(a: str, ra: dict, b: str, rb: dict, names: list[str]) -> dict:
    from scipy.stats import kendalltau

    means_a = [ra["candidates"][n]["target"]["mean"] for n in names]
    means_b = [rb["candidates"][n]["target"]["mean"] for n in names]
    tau, p_value = kendalltau(means_a, means_b)
    reversed_, changed = [], []
    blocks_a, blocks_b = _blocks(ra), _blocks(rb)
    for figure, block in blocks_a.items():
        other = {frozenset((p["a"], p["b"])): p for p in blocks_b[figure]["pairwise"]}
        for pair in block["pairwise"]:
            twin = other.get(frozenset((pair["a"], pair["b"])))
            wa, wb = _winner(pair), _winner(twin)
            if wa is None and wb is None:
                continue
            x, y = sorted((pair["a"], pair["b"]))
            on = "the target" if figure == TARGET else figure
            if wa is not None and wb is not None and wa != wb:
                reversed_.append(
                    {"figure": figure, "pair": [x, y], a: wa, b: wb, "text": f"{wa} wins on {on} at {a}, {wb} at {b}"}
                )
            elif (wa is None) != (wb is None):
                where, winner = (a, wa) if wa else (b, wb)
                changed.append(
                    {
                        "figure": figure,
                        "pair": [x, y],
                        "significant_at": where,
                        "text": f"{winner} better than {y if winner == x else x} on {on} at {where} only",
                    }
                )
    tau_value = None if tau != tau else float(tau)  # NaN (every mean equal at one scale) → None
    text = (
        f"{a} vs {b}: Kendall τ {tau_value:+.2f} over {len(names)} candidates"
        if tau_value is not None
        else f"{a} vs {b}: Kendall τ undefined (tied means)"
    )
    text += f"; {len(reversed_)} verdict(s) reversed, {len(changed)} significant at one scale only"
    return {
        "scales": [a, b],
        "kendall_tau": tau_value,
        "p_value": None if p_value != p_value else float(p_value),
        "reversed": reversed_,
        "changed": changed,
        "text": text,
    }


def agreement(spec: CompareSpec, results: dict[str, dict]) -> dict:
    """comparison.json's `scales`: each scale's ranking and verdicts, and between every two scales τ and the flips."""
    names = [c.name for c in spec.candidates]
    per_scale = {
        scale["name"]: {
            "model": scale["model"],
            "train": scale["train"],
            "ranking": results[scale["name"]]["ranking"],
            "target": {n: results[scale["name"]]["candidates"][n]["target"] for n in names},
            "verdicts": results[scale["name"]]["verdicts"],
            "summary": results[scale["name"]]["summary"],
            "vs_reference": {n: results[scale["name"]]["candidates"][n]["vs_reference"] for n in names},
        }
        for scale in spec.scales
    }
    pairs = [_compare_two(a, results[a], b, results[b], names) for a, b in combinations(results, 2)]
    return {
        "names": [s["name"] for s in spec.scales],
        "leading": spec.scales[-1]["name"],
        "per_scale": per_scale,
        "agreement": pairs,
        "summary": "; ".join(p["text"] for p in pairs),
    }
