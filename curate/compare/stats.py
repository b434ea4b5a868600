"""The numbers of a comparison: final bpb of a run, per-candidate statistics across seeds, pairwise t-tests with
Holm's correction, the ranking and the verdicts. scipy is imported inside the functions that need it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from curate.compare.spec import CompareSpec

FORMAT = "curate-compare/1"


def final_bpb(evals: dict) -> tuple[float, dict[str, float]]:
    """Overall bpb over every eval set (total nats / total bytes, so a bigger set weighs more) and bpb per domain
    (`set/domain` with more than one eval set)."""
    nats = nbytes = 0.0
    domains: dict[str, float] = {}
    for ename, fig in evals.items():
        nats += fig["bpb"] * math.log(2) * fig["bytes"]
        nbytes += fig["bytes"]
        for dname, dfig in fig.get("domains", {}).items():
            if dfig.get("bpb") is not None:
                domains[dname if len(evals) == 1 else f"{ename}/{dname}"] = dfig["bpb"]
    return nats / (math.log(2) * nbytes), domains


def curve(metrics: Path) -> list[list[float]]:
    """[tokens, overall bpb] at each eval point of a run's metrics.jsonl (empty when the file is missing)."""
    points = []
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("type") == "eval":
                points.append([record["tokens"], final_bpb(record["eval"])[0]])
    return points


def describe(values: list[float]) -> dict:
    """n, mean, std (ddof 1), 95% Student-t interval (null with one value), min, max, the values."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        ci = [mean - half, mean + half]
    else:
        ci = None
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci95": ci,
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def paired_test(a: list[float], b: list[float]) -> dict:
    """Paired t-test of b − a (runs paired by seed): mean difference, its std and 95% interval, t and p.
    Zero variance of the differences: p = 1 when all are exactly 0, p = 0 when all equal a non-zero value; one pair:
    p = null (no test)."""
    from scipy import stats

    diffs = [y - x for x, y in zip(a, b)]
    d = describe(diffs)
    out = {
        "n": d["n"],
        "diff_mean": d["mean"],
        "diff_std": d["std"],
        "diff_ci95": d["ci95"],
        "t": None,
        "p_value": None,
        "test": "paired t-test (by seed)",
    }
    if d["n"] < 2:
        out["test"] = "none (one seed)"
    elif d["std"] == 0.0:
        out["p_value"] = 1.0 if d["mean"] == 0.0 else 0.0
        out["test"] = "paired t-test (by seed); zero variance of the differences"
    else:
        res = stats.ttest_rel(b, a)
        out["t"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def welch_test(a: list[float], b: list[float]) -> dict:
    """Welch's unequal-variance t-test of mean(b) − mean(a), its 95% interval (Welch–Satterthwaite df), t and p.
    Both samples with zero variance: p = 1 when the means are equal, 0 otherwise; fewer than two values on either
    side: p = null (no test)."""
    from scipy import stats

    da, db = describe(a), describe(b)
    diff = db["mean"] - da["mean"]
    out = {
        "n": min(da["n"], db["n"]),
        "diff_mean": diff,
        "diff_std": None,
        "diff_ci95": None,
        "t": None,
        "p_value": None,
        "test": "Welch t-test",
    }
    if da["n"] < 2 or db["n"] < 2:
        out["test"] = "none (one seed)"
        return out
    va, vb = da["std"] ** 2 / da["n"], db["std"] ** 2 / db["n"]
    se = math.sqrt(va + vb)
    out["diff_std"] = se
    if se == 0.0:
        out["p_value"] = 1.0 if diff == 0.0 else 0.0
        out["diff_ci95"] = [diff, diff]
        out["test"] = "Welch t-test; zero variance in both candidates"
        return out
    df = (va + vb) ** 2 / (va**2 / (da["n"] - 1) + vb**2 / (db["n"] - 1))
    t = diff / se
    half = float(stats.t.ppf(0.975, df)) * se
    out.update(t=t, df=df, p_value=float(2 * stats.t.sf(abs(t), df)), diff_ci95=[diff - half, diff + half])
    return out


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (None stays None and does not count as a test)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(order)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[i] = running
    return adjusted


def fmt(x: float | None, digits: int = 4) -> str:
    """A bpb figure for verdicts and the report ("—" when missing)."""
    return "—" if x is None else f"{x:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """A p-value for verdicts and the report ("—" when there was no test)."""
    if p is None:
        return "—"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def analyse(spec: CompareSpec, runs: dict[str, list[dict]]) -> dict:
    """Per-candidate statistics, pairwise tests, the ranking and verdicts, from the runs' final bpb."""
    names = [c.name for c in spec.candidates]
    domain_names = sorted({d for rs in runs.values() for r in rs for d in r["domains"]})
    per: dict[str, dict] = {}
    for name in names:
        rs = runs[name]
        per[name] = {
            "overall": describe([r["bpb"] for r in rs]),
            "domains": {
                d: describe([r["domains"][d] for r in rs]) for d in domain_names if all(d in r["domains"] for r in rs)
            },
        }
    order = sorted(names, key=lambda n: (per[n]["overall"]["mean"], names.index(n)))
    pairs = _pairwise(spec, runs, order)
    lookup = {(p["a"], p["b"]): p for p in pairs}

    ranking, rank = [], 1
    for i, name in enumerate(order):
        if i and lookup[(order[i - 1], name)]["significant"]:
            rank = i + 1
        stats_ = per[name]["overall"]
        ranking.append(
            {
                "rank": rank,
                "candidate": name,
                "bpb_mean": stats_["mean"],
                "bpb_std": stats_["std"],
                "bpb_ci95": stats_["ci95"],
            }
        )
    verdicts = [lookup[(order[i - 1], order[i])]["verdict"] for i in range(1, len(order))]
    if all(r["rank"] == 1 for r in ranking):
        summary = f"no significant difference between {', '.join(order)} (alpha {spec.alpha}, {len(spec.seeds)} seeds)"
    else:
        best = [r["candidate"] for r in ranking if r["rank"] == 1]
        summary = f"best: {', '.join(best)} ({fmt(per[best[0]]['overall']['mean'])} bpb); " + "; ".join(verdicts)
    return {
        "format": FORMAT,
        "metric": "held-out bits per byte (lower is better)",
        "spec": spec.to_dict(),
        "alpha": spec.alpha,
        "test": spec.test,
        "seeds": spec.seeds,
        "domains": domain_names,
        "candidates": {name: {**per[name], "runs": runs[name]} for name in names},
        "pairwise": pairs,
        "ranking": ranking,
        "verdicts": verdicts,
        "summary": summary,
    }


def _pairwise(spec: CompareSpec, runs: dict[str, list[dict]], order: list[str]) -> list[dict]:
    """Every pair (a better-ranked than b) tested on the seeds both have, Holm-corrected over all pairs."""
    pairs = []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            by_seed_a = {r["seed"]: r["bpb"] for r in runs[a]}
            by_seed_b = {r["seed"]: r["bpb"] for r in runs[b]}
            seeds = [s for s in spec.seeds if s in by_seed_a and s in by_seed_b]
            xs, ys = [by_seed_a[s] for s in seeds], [by_seed_b[s] for s in seeds]
            test = paired_test(xs, ys) if spec.test == "paired" else welch_test(xs, ys)
            how = "paired by seed" if spec.test == "paired" else "difference of the means"
            pairs.append({"a": a, "b": b, "difference": f"b − a (bpb), {how}", **test})
    for pair, p_holm in zip(pairs, holm([p["p_value"] for p in pairs])):
        pair["p_holm"] = p_holm
        pair["significant"] = p_holm is not None and p_holm < spec.alpha
        if pair["significant"]:
            pair["verdict"] = (
                f"{pair['a']} is better than {pair['b']}: {fmt(pair['diff_mean'])} bpb lower "
                f"(Holm-adjusted p = {fmt_p(p_holm)})"
            )
        else:
            pair["verdict"] = (
                f"no significant difference between {pair['a']} and {pair['b']} "
                f"(difference {fmt(pair['diff_mean'])} bpb, Holm-adjusted p = {fmt_p(p_holm)})"
            )
    return pairs
