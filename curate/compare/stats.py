"""The numbers of one comparison, figure by figure: a run's bpb (the target, per eval set, byte-pooled, per domain),
a candidate's statistics across seeds, and the two-sample tests with Holm's correction. What is concluded from them
(ranking, verdicts, power) lives in `verdicts` and `power`. scipy is imported inside the functions that need it."""

from __future__ import annotations

import json
import math
from pathlib import Path

FORMAT = "curate-compare/2"


def final_bpb(evals: dict) -> tuple[float, dict[str, float]]:
    """Byte-pooled bpb over every eval set (total nats / total bytes, so a bigger set weighs more: the "pooled"
    figure, never the verdict) and bpb per domain (`set/domain` with more than one eval set)."""
    nats = nbytes = 0.0
    domains: dict[str, float] = {}
    for ename, fig in evals.items():
        nats += fig["bpb"] * math.log(2) * fig["bytes"]
        nbytes += fig["bytes"]
        for dname, dfig in fig.get("domains", {}).items():
            if dfig.get("bpb") is not None:
                domains[dname if len(evals) == 1 else f"{ename}/{dname}"] = dfig["bpb"]
    return nats / (math.log(2) * nbytes), domains


def target_bpb(evals: dict, weights: dict[str, float] | None = None) -> float:
    """The target: Σ w_i · bpb_i / Σ w_i over the eval sets, with the declared weights (1 for a set not named), so
    each set counts what the user said it counts, however many bytes it has."""
    weights = weights or {}
    total = sum(weights.get(e, 1.0) for e in evals)
    # normalised weights first: with one eval set the target is that set's bpb exactly (w / w = 1.0)
    return sum(weights.get(e, 1.0) / total * fig["bpb"] for e, fig in evals.items())


def run_figures(evals: dict, weights: dict[str, float] | None = None) -> dict:
    """A run's final figures from the trainer's `eval` section: bpb (the target), eval_sets {name: bpb}, eval_bytes
    {name: bytes}, pooled (byte-pooled) and domains {name: bpb}."""
    pooled, domains = final_bpb(evals)
    return {
        "bpb": target_bpb(evals, weights),
        "eval_sets": {e: fig["bpb"] for e, fig in evals.items()},
        "eval_bytes": {e: fig["bytes"] for e, fig in evals.items()},
        "pooled": pooled,
        "domains": domains,
    }


def run_evals(summary: dict) -> tuple[dict, str]:
    """The eval figures a run contributes, and which they are: the EMA shadow's final eval (summary["eval_ema"],
    trainer key `ema_halflife`) when the run has one, else the raw weights' final eval (summary["eval"]). Every run
    of a compare has the same trainer config, so every candidate gets the same treatment."""
    ema = summary.get("eval_ema")
    if ema:
        halflife = (summary.get("ema") or {}).get("halflife")
        return ema, "ema" if halflife is None else f"ema (half-life {halflife:g} of the steps)"
    return summary["eval"], "final"


def summary_figures(summary: dict, weights: dict[str, float] | None = None) -> dict:
    """`run_figures` of the figures `run_evals` picks, plus `figure` (which they are: "final" or "ema (half-life h of
    the steps)") and `final_raw` {bpb (the target), eval_sets {name: bpb}}: the raw weights' final eval, which the
    curve's last point shows."""
    evals, figure = run_evals(summary)
    raw = summary["eval"]
    return {
        **run_figures(evals, weights),
        "figure": figure,
        "final_raw": {"bpb": target_bpb(raw, weights), "eval_sets": {e: fig["bpb"] for e, fig in raw.items()}},
    }


def curve(metrics: Path, weights: dict[str, float] | None = None) -> list[list[float]]:
    """[tokens, target bpb] at each eval point of a run's metrics.jsonl (empty when the file is missing): the raw
    weights' figures, also at the final point when the run's figure is its EMA (`summary_figures`)."""
    points = []
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("type") == "eval":
                points.append([record["tokens"], target_bpb(record["eval"], weights)])
    return points


def describe(values: list[float]) -> dict:
    """n, mean, std (ddof 1: the seed σ), 95% Student-t interval and its half-width (null with one value), min, max,
    the values."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        ci: list[float] | None = [mean - half, mean + half]
    else:
        half, ci = None, None
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci95": ci,
        "ci95_half": half,
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def paired_test(a: list[float], b: list[float]) -> dict:
    """Paired t-test of b − a (runs paired by seed): mean difference, its std and 95% interval, t and p; `se`
    (std of the differences / √n) and `df` (n − 1) are what the minimal detectable difference needs.
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
        "se": None,
        "df": None,
        "t": None,
        "p_value": None,
        "test": "paired t-test (by seed)",
    }
    if d["n"] >= 2:
        out["se"], out["df"] = d["std"] / math.sqrt(d["n"]), d["n"] - 1
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
    """Welch's unequal-variance t-test of mean(b) − mean(a), its 95% interval (Welch–Satterthwaite df), t and p;
    `se` = √(s_a²/n_a + s_b²/n_b) (also `diff_std`) and `df` (Welch–Satterthwaite; null when se is 0).
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
        "se": None,
        "df": None,
        "t": None,
        "p_value": None,
        "test": "Welch t-test",
    }
    if da["n"] < 2 or db["n"] < 2:
        out["test"] = "none (one seed)"
        return out
    va, vb = da["std"] ** 2 / da["n"], db["std"] ** 2 / db["n"]
    se = math.sqrt(va + vb)
    out["diff_std"] = out["se"] = se
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
