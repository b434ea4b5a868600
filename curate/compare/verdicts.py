"""From the runs' figures to what a comparison concludes: per-candidate statistics, the pairwise tests of the target
and of every eval set as one Holm family, the minimal detectable differences, the rankings, the verdict sentences,
each candidate's standing against the reference, identical candidates, and what the runs saw.

Verdicts are per eval set and for the target (the declared weighted mean of the eval sets), because one pooled number
lets the eval set with the most bytes decide; the ranking follows the target. With one eval set the target is that
set's bpb, so the family holds the target's tests alone (the set's verdicts are the target's, relabelled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curate.compare.power import POWER, mdd
from curate.compare.stats import FORMAT, describe, fmt, fmt_p, holm, paired_test, welch_test

if TYPE_CHECKING:
    from curate.compare.spec import CompareSpec

TARGET = "target"
SAMPLE_KEYS = (
    "tokens_seen",
    "documents_seen",
    "distinct_documents",
    "candidate_documents",
    "candidate_tokens",
    "epochs",
)
COVERAGE_KEYS = ("documents_used", "documents_total", "tokens_used", "tokens_total", "share")


def _values(runs: list[dict], metric: str) -> dict[int, float]:
    """seed → the metric's final bpb ("target" or an eval set's name)."""
    return {r["seed"]: r["bpb"] if metric == TARGET else r["eval_sets"][metric] for r in runs}


def _stats(per: dict, name: str, metric: str) -> dict:
    """A candidate's statistics (`describe`) of the target or of one eval set."""
    return per[name]["target"] if metric == TARGET else per[name]["eval_sets"][metric]


def _order(per: dict, names: list[str], metric: str) -> list[str]:
    """Candidates by the metric's mean bpb, best first; ties keep the compare file's order."""
    return sorted(names, key=lambda n: (_stats(per, n, metric)["mean"], names.index(n)))


def on_figure(metric: str) -> str:
    return "on the target" if metric == TARGET else f"on {metric}"


def _mean_of(records: list[dict | None], keys: tuple[str, ...]) -> dict | None:
    """The mean over runs of each numeric key (the trainer's optional `sample` / `eval_sets` figures); None when no
    run reported them (an older trainer)."""
    present = [r for r in records if isinstance(r, dict)]
    if not present:
        return None
    out: dict = {"runs": len(present)}
    for key in keys:
        vals = [r[key] for r in present if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        out[key] = sum(vals) / len(vals) if vals else None
    return out


def identical_groups(names: list[str], data: dict[str, dict]) -> list[dict]:
    """Candidates that train on the same token data: equal manifest SHA-256 of the resolved train dir, or the same
    mix file content over the same sources. Each pair once, with the reason and whether they share their runs."""
    groups = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            da, db = data.get(a, {}), data.get(b, {})
            if da.get("manifest_sha256") and da.get("manifest_sha256") == db.get("manifest_sha256"):
                reason = "equal manifest SHA-256 of the training token directory"
            elif da.get("mix_sha256") and da.get("mix_sha256") == db.get("mix_sha256"):
                reason = "the same mix file content over the same sources"
            else:
                continue
            same_runs = bool(da.get("run_hashes")) and da.get("run_hashes") == db.get("run_hashes")
            text = f"{a} and {b} train on identical data ({reason}"
            text += "; they share the same runs, so their difference is 0 by construction)" if same_runs else ")"
            groups.append({"candidates": [a, b], "reason": reason, "same_runs": same_runs, "text": text})
    return groups


def _pairs(spec: CompareSpec, runs: dict[str, list[dict]], metric: str, order: list[str]) -> list[dict]:
    """Every pair of the metric's order (a ranked above b), or with `pairs: reference` only those with the reference:
    Welch on all runs of each, paired on the seeds both have."""
    pairs = []
    how = "paired by seed" if spec.test == "paired" else "difference of the means"
    reference = spec.reference or spec.candidates[0].name
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            if spec.pairs == "reference" and reference not in (a, b):
                continue
            va, vb = _values(runs[a], metric), _values(runs[b], metric)
            if spec.test == "paired":
                seeds = sorted(set(va) & set(vb))
                test = paired_test([va[s] for s in seeds], [vb[s] for s in seeds])
            else:  # every run of each: with seeds added on demand, one candidate may have more than the other
                test = welch_test(list(va.values()), list(vb.values()))
            pairs.append({"metric": metric, "a": a, "b": b, "difference": f"b − a (bpb), {how}", **test})
    return pairs


def _p(p: float | None) -> str:
    """ "p = 0.0123" or "p < 0.0001", for sentences."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _verdict(pair: dict, identical: dict[frozenset, dict]) -> str:
    a, b, on = pair["a"], pair["b"], on_figure(pair["metric"])
    if pair["significant"]:
        lo, hi = pair["diff_ci95"] or (None, None)
        text = (
            f"{a} is better than {b} {on}: {fmt(pair['diff_mean'])} bpb lower "
            f"(95% CI [{fmt(lo)}, {fmt(hi)}], Holm-adjusted {_p(pair['p_holm'])})"
        )
    else:
        text = (
            f"no significant difference between {a} and {b} {on} "
            f"(difference {fmt(pair['diff_mean'])} bpb, Holm-adjusted {_p(pair['p_holm'])}): "
        )
        if pair["mdd"] is None:
            text += "one seed, so no test and no minimal detectable difference"
        else:
            text += f"no difference larger than {fmt(pair['mdd'])} bpb detectable (MDD at {POWER:.0%} power)"
    same = identical.get(frozenset((a, b)))
    return text + (f"; {same['text']}" if same else "")


def _seed_count(per: dict, metric: str) -> str:
    counts = sorted({_stats(per, n, metric)["n"] for n in per})
    return f"{counts[0]} seeds" if len(counts) == 1 else f"{counts[0]}–{counts[-1]} seeds per candidate"


def _block(spec: CompareSpec, metric: str, per: dict, order: list[str], pairs: list[dict]) -> dict:
    """A metric's ranking (a candidate shares the rank above it unless the two differ significantly), its verdicts
    (every significant pair first, then the others with their MDD) and a one-line summary."""
    lookup = {frozenset((p["a"], p["b"])): p for p in pairs}
    ranking, rank = [], 1
    for i, name in enumerate(order):
        above = lookup.get(frozenset((order[i - 1], name))) if i else None
        if above is not None and above["significant"]:  # untested neighbours (`pairs: reference`) share the rank
            rank = i + 1
        s = _stats(per, name, metric)
        ranking.append(
            {"rank": rank, "candidate": name, "bpb_mean": s["mean"], "bpb_std": s["std"], "bpb_ci95": s["ci95"]}
        )
    significant = [p for p in pairs if p["significant"]]
    others = [p for p in pairs if not p["significant"]]
    verdicts = [p["verdict"] for p in significant + others]
    mdds = [p["mdd"] for p in others if p["mdd"] is not None]
    detectable = (
        f"no difference larger than {fmt(max(mdds))} bpb detectable (MDD at {POWER:.0%} power)"
        if mdds
        else "one seed, so no test"
    )
    if not significant:
        summary = (
            f"no significant difference between {', '.join(order)} {on_figure(metric)} "
            f"(alpha {spec.alpha}, {_seed_count(per, metric)}): {detectable}"
        )
    else:
        best = [r["candidate"] for r in ranking if r["rank"] == 1]
        summary = (
            f"best {on_figure(metric)}: {', '.join(best)} ({fmt(_stats(per, best[0], metric)['mean'])} bpb); "
            + "; ".join(p["verdict"] for p in significant)
        )
        if others:
            summary += f"; no significant difference for the other {len(others)} pair(s): {detectable}"
    return {"ranking": ranking, "pairwise": pairs, "verdicts": verdicts, "summary": summary}


def pair_key(pair: dict) -> tuple[str, frozenset[str]]:
    """A pair's identity whatever its order: (metric, {a, b})."""
    return pair["metric"], frozenset((pair["a"], pair["b"]))


def analyse(
    spec: CompareSpec,
    runs: dict[str, list[dict]],
    data: dict[str, dict] | None = None,
    level: float | None = None,
    decided: dict[tuple[str, frozenset[str]], dict] | None = None,
    look: dict | None = None,
) -> dict:
    """The comparison dict (format curate-compare/2, see the package docstring) from each candidate's runs (their
    figures from `stats.run_figures`, plus the trainer's optional `sample` and `eval_coverage`) and what each
    candidate trains on (`data`: manifest_sha256, mix_sha256, run_hashes: for naming identical candidates).

    Sequential seeds (sequential.py) call it once per look: `level` is the alpha this look may spend (default: the
    spec's alpha, all of it), `decided` the pairs found significant at earlier looks (`pair_key` → that look's
    pair), which stay decided and leave the family (the rest are one Holm family at `level`), and `look` the look
    ({look, seeds}) a pair found significant now is marked with."""
    names = [c.name for c in spec.candidates]
    esets = list(spec.eval)
    reference = spec.reference or names[0]
    domain_names = sorted({d for rs in runs.values() for r in rs for d in r["domains"]})
    per: dict[str, dict] = {}
    for name in names:
        rs = runs[name]
        target = describe([r["bpb"] for r in rs])
        per[name] = {
            "target": target,
            "overall": target,  # format 1's key, now the target (what the ranking uses)
            "eval_sets": {e: describe([r["eval_sets"][e] for r in rs]) for e in esets},
            "pooled": describe([r["pooled"] for r in rs]),
            "domains": {
                d: describe([r["domains"][d] for r in rs]) for d in domain_names if all(d in r["domains"] for r in rs)
            },
            "sample": _mean_of([r.get("sample") for r in rs], SAMPLE_KEYS),
        }

    orders = {m: _order(per, names, m) for m in [TARGET, *esets]}
    pairs = {m: _pairs(spec, runs, m, orders[m]) for m in orders}
    # one Holm family: (eval sets + target) × pairs; one eval set IS the target, so it is counted once
    tested = [TARGET, *esets] if len(esets) > 1 else [TARGET]
    level = spec.alpha if level is None else level
    decided = decided or {}
    family = [p for m in tested for p in pairs[m] if pair_key(p) not in decided]
    for pair, p_holm in zip(family, holm([p["p_value"] for p in family])):
        pair["p_holm"] = p_holm
    m_tests = sum(p["p_value"] is not None for p in family)
    alpha_per_test = level / m_tests if m_tests else None

    identical = identical_groups(names, data or {})
    same = {frozenset(g["candidates"]): g for g in identical}
    for metric in tested:
        for i, pair in enumerate(pairs[metric]):
            if pair_key(pair) in decided:  # significant at an earlier look: that look's test and verdict stand
                pairs[metric][i] = decided[pair_key(pair)]
                continue
            pair["significant"] = pair["p_holm"] is not None and pair["p_holm"] < level
            pair["mdd"] = None if alpha_per_test is None else mdd(pair["se"], pair["df"], alpha_per_test)
            pair["identical"] = frozenset((pair["a"], pair["b"])) in same
            pair["verdict"] = _verdict(pair, same)
            if look is not None and pair["significant"]:
                pair["look"] = look["look"]
                pair["verdict"] += (
                    f"; decided at look {look['look']} ({pair['n']} seeds, that look's alpha {level:.4g})"
                )
    if len(esets) == 1:  # the one eval set is the target: its tests are the target's, relabelled
        by_ab = {frozenset((p["a"], p["b"])): p for p in pairs[TARGET]}
        for i, pair in enumerate(pairs[esets[0]]):
            twin = by_ab[frozenset((pair["a"], pair["b"]))]
            pairs[esets[0]][i] = {**twin, "metric": esets[0]}
            pairs[esets[0]][i]["verdict"] = _verdict(pairs[esets[0]][i], same)
    blocks = {m: _block(spec, m, per, orders[m], pairs[m]) for m in orders}

    for name in names:  # each candidate against the reference, per metric: what the verdict table marks
        marks: dict[str, str | None] = {}
        for metric in orders:
            vs: dict | None = next((p for p in pairs[metric] if {p["a"], p["b"]} == {name, reference}), None)
            if name == reference:
                marks[metric] = "reference"
            elif vs is None or vs["p_value"] is None:
                marks[metric] = None
            elif not vs["significant"]:
                marks[metric] = "no significant difference"
            else:
                marks[metric] = "better" if vs["a"] == name else "worse"
        per[name]["vs_reference"] = marks
        per[name]["identical_to"] = [
            n for g in identical for n in g["candidates"] if name in g["candidates"] and n != name
        ]
        per[name]["data"] = {k: v for k, v in (data or {}).get(name, {}).items() if k != "run_hashes"}

    all_runs = [r for rs in runs.values() for r in rs]
    eval_sets = {}
    for e in esets:
        nbytes = [r["eval_bytes"][e] for r in all_runs if e in r.get("eval_bytes", {})]
        eval_sets[e] = {
            "path": spec.eval[e],
            "weight": spec.weight(e),
            "bytes": sum(nbytes) / len(nbytes) if nbytes else None,
            "coverage": _mean_of([(r.get("eval_coverage") or {}).get(e) for r in all_runs], COVERAGE_KEYS),
            **blocks[e],
        }
    target = blocks[TARGET]
    summary = target["summary"] + "".join(f"; {g['text']}" for g in identical)
    total_w = sum(spec.weight(e) for e in esets)
    mdds = {m: [p["mdd"] for p in pairs[m] if p["mdd"] is not None] for m in orders}
    return {
        "format": FORMAT,
        "metric": "held-out bits per byte (lower is better)",
        # which eval each run contributes: its final eval, or its EMA weights' (trainer key ema_halflife)
        "figure": ", ".join(sorted({r.get("figure", "final") for rs in runs.values() for r in rs})),
        "spec": spec.to_dict(),
        "alpha": spec.alpha,
        "test": spec.test,
        "seeds": sorted({r["seed"] for rs in runs.values() for r in rs}),
        "reference": reference,
        "target": {
            "definition": "sum over eval sets of weight × bpb / sum of weights (each run's final bpb per eval set)",
            "weights": {e: spec.weight(e) for e in esets},
            "shares": {e: spec.weight(e) / total_w for e in esets},
        },
        "pooled": {
            "definition": "total nats / total bytes over every eval set (the largest set dominates); not tested"
        },
        "family": {
            "correction": "Holm over (eval sets + target) × pairs" if len(esets) > 1 else "Holm over the pairs",
            "tests": m_tests,
            "alpha": spec.alpha,
            "level": level,  # the alpha this analysis spent: spec.alpha, or one look's share (sequential seeds)
            "alpha_per_test": alpha_per_test,
            "power": POWER,
            "mdd_formula": "(t_{1-alpha_per_test/2, df} + t_{power, df}) × SE",
            "mdd_range": {m: [min(v), max(v)] if v else None for m, v in mdds.items()},
        },
        "eval_sets": eval_sets,
        "domains": domain_names,
        "identical": identical,
        "candidates": {name: {**per[name], "runs": runs[name]} for name in names},
        "pairwise": target["pairwise"],
        "ranking": target["ranking"],
        "verdicts": target["verdicts"],
        "summary": summary,
    }
