"""mix_report.json: what was asked and what was achieved, per source, per domain and in total.

Sorted keys and no timestamps, so the report is as reproducible as the shards it describes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curate.mix.plan import Pool
from curate.mix.spec import MixSpec

REPORT = "mix_report.json"
FORMAT = "curate-mix-report/1"
SHORTFALL_POLICY = (
    "not redistributed: a capped source's missing tokens are left out, so the training "
    "set is smaller than the budget and shares are of the achieved total"
)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def build_report(
    spec: MixSpec,
    pools: list[Pool],
    selections: list[np.ndarray],
    capped: list[bool],
    targets: list[int],
    domain_names: list[str],
    train: dict,
    val: dict,
) -> dict:
    """The report's content; `train` and `val` are the written manifests, so totals are of what is on disk."""
    achieved_total = train["totals"]["tokens"]
    weight_total = sum(s.weight for s in spec.sources)
    sources = {}
    for source, pool, sel, cap_hit, target in zip(spec.sources, pools, selections, capped, targets):
        pool_tokens = int(pool.tokens.sum())
        achieved = int(pool.tokens[sel].sum())
        per_domain = np.bincount(pool.domain[sel], weights=pool.tokens[sel], minlength=len(domain_names))
        sources[source.name] = {
            "tokens": source.tokens,
            "domains_filter": list(source.domains) if source.domains is not None else None,
            "weight": source.weight,
            "requested_share": round(source.weight / weight_total, 6),
            "achieved_share": _share(achieved, achieved_total),
            "pool_documents": len(pool.tokens),
            "pool_tokens": pool_tokens,
            "target_tokens": target,
            "achieved_tokens": achieved,
            "achieved_rows": len(sel),
            "unique_documents": len(np.unique(sel)),
            "epochs": round(achieved / pool_tokens, 6) if pool_tokens else 0.0,
            "max_epochs": source.max_epochs,
            "capped": cap_hit,
            "shortfall_tokens": max(target - achieved, 0) if cap_hit else 0,
            "domains": {domain_names[d]: int(t) for d, t in enumerate(per_domain) if t},
            "val_rows": int(sum(len(r) for r in pool.val_rows)),
            "val_tokens": pool.val_tokens,
        }
    domains = {
        name: {
            "achieved_tokens": counts["tokens"],
            "rows": counts["rows"],
            "achieved_share": _share(counts["tokens"], achieved_total),
        }
        for name, counts in train["totals"]["domains"].items()
    }
    train_docs = sum(len(p.tokens) for p in pools)
    val_rows = val["totals"]["rows"]
    return {
        "format": FORMAT,
        "name": spec.name,
        "seed": spec.seed,
        "spec": spec.to_dict(),
        "shortfall_policy": SHORTFALL_POLICY,
        "sources": sources,
        "domains": domains,
        "totals": {
            "token_budget": spec.token_budget,
            "train_tokens": achieved_total,
            "train_rows": train["totals"]["rows"],
            "train_shards": len(train["shards"]),
            "shortfall_tokens": max(spec.token_budget - achieved_total, 0),
            "val_tokens": val["totals"]["tokens"],
            "val_rows": val_rows,
            "val_shards": len(val["shards"]),
            "val_fraction_requested": spec.val_fraction,
            "val_fraction_achieved": _share(val_rows, val_rows + train_docs),
        },
    }


def write_report(folder: Path, report: dict) -> None:
    (folder / REPORT).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
