"""The comparison's two charts.

loss_curves.png: bpb against training tokens, one row per figure (the target, then every eval set when there are
several), the whole run on the left and its second half on the right (where candidates separate by a few hundredths
of a bit, too little to see on the full range). Per candidate the mean over seeds, every seed as a thin line, and a
band of the mean's 95% Student-t interval (mean ± t_{0.975, n−1} · s / √n, the interval `stats.describe` gives the
final figures), not the min–max of a few points.

domain_bpb.png: each candidate's difference from the reference (candidate − reference, bpb; left of the zero line is
better), one panel per figure: the target, every eval set (when there are several) and the domains of every eval set
with two or more. For the target and the eval sets the point and 95% interval are the compare's own pairwise test
(Welch or paired, as the spec says), coloured when Holm-significant; domains are not tested, so their interval is the
same test's unadjusted one, drawn grey. Each panel has its own x range, always including 0.

Charts go through `curate.charts` (matplotlib's object API, imported when a chart is drawn), so importing this module
changes no global state.
"""

from __future__ import annotations

import math
from pathlib import Path

from curate.charts import figure, grid, save
from curate.compare.stats import describe, fmt_p, paired_test, welch_test

BETTER, WORSE, NOT_SIGNIFICANT, UNTESTED = "#1a7f37", "#c62828", "#6e7781", "#6e7781"
TARGET = "target"


def _eval_curves(run: dict, out: Path, names: list[str]) -> dict[str, list[tuple[int, float]]]:
    """{eval set: [(tokens, bpb)]} from the run's metrics.jsonl (its `dir` is relative to OUT_DIR unless cached
    elsewhere); empty lists when the file is missing."""
    import json

    curves: dict[str, list[tuple[int, float]]] = {n: [] for n in names}
    metrics = out / run["dir"] / "metrics.jsonl"
    if not metrics.is_file():
        return curves
    for line in metrics.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("type") == "eval":
            for name in names:
                if name in record["eval"]:
                    curves[name].append((int(record["tokens"]), record["eval"][name]["bpb"]))
    return curves


def curve_points(runs: dict[str, list[dict]]) -> tuple[int, int]:
    """The fewest and most eval points of any run's target curve (what the report says about the curves)."""
    counts = [len(r["curve"]) for rs in runs.values() for r in rs]
    return (min(counts), max(counts)) if counts else (0, 0)


def band(curves: list[dict[int, float]]) -> tuple[list[int], list[float], list[float] | None]:
    """Tokens every seed has a point at, the mean over seeds there, and the half-width of the mean's 95% Student-t
    interval (None with one seed)."""
    tokens = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    stats = [describe([c[t] for c in curves]) for t in tokens]
    half = [s["ci95_half"] for s in stats] if len(curves) > 1 else None
    return tokens, [s["mean"] for s in stats], half


def plot_curves(runs: dict[str, list[dict]], path: Path) -> None:
    """loss_curves.png (see the module docstring): runs are each candidate's runs, with `curve` [[tokens, target]]
    and `dir`; per-eval-set curves come from each run's metrics.jsonl beside `path`."""
    from matplotlib.ticker import EngFormatter

    out = Path(path).parent
    names = list(dict.fromkeys(e for rs in runs.values() for r in rs for e in r.get("eval_sets", {})))
    figures = [TARGET] + (names if len(names) > 1 else [])
    per_run = {
        cand: [{TARGET: [(int(t), b) for t, b in r["curve"]], **_eval_curves(r, out, names if len(figures) > 1 else [])}
               for r in rs]
        for cand, rs in runs.items()
    }  # fmt: skip
    if not any(c[f] for curves in per_run.values() for c in curves for f in figures):
        fig, ax = figure(6, 2)
        ax.text(0.5, 0.5, "no eval points in these runs' metrics.jsonl", ha="center", va="center")
        ax.set_axis_off()
        save(fig, path, dpi=90)
        return
    fig, axes = grid(len(figures), 2, 12, 3.6 * len(figures))
    for row, shown in enumerate(figures):
        full, late = axes[2 * row], axes[2 * row + 1]
        late_lo, late_hi = math.inf, -math.inf
        for k, (cand, curves_of_runs) in enumerate(per_run.items()):
            curves = [dict(c[shown]) for c in curves_of_runs if c.get(shown)]
            tokens, mean, half = band(curves)
            if not tokens:
                continue
            colour = f"C{k}"
            cut = tokens[len(tokens) // 2] if len(tokens) > 3 else tokens[max(0, len(tokens) - 2)]
            for ax in (full, late):
                keep = [i for i, t in enumerate(tokens) if ax is full or t >= cut]
                xs = [tokens[i] for i in keep]
                for c in curves:
                    ax.plot(xs, [c[t] for t in xs], color=colour, linewidth=0.7, alpha=0.35)
                label = f"{cand}: mean of {len(curves)} seed{'s' if len(curves) != 1 else ''}"
                ax.plot(xs, [mean[i] for i in keep], "o-", color=colour, markersize=3.5, linewidth=1.8, label=label)
                if half is not None:
                    lo, hi = [mean[i] - half[i] for i in keep], [mean[i] + half[i] for i in keep]
                    ax.fill_between(xs, lo, hi, color=colour, alpha=0.18, linewidth=0)
                    if ax is late:
                        late_lo, late_hi = min(late_lo, *lo), max(late_hi, *hi)
                if ax is late:
                    values = [c[t] for c in curves for t in xs]
                    late_lo, late_hi = min(late_lo, *values), max(late_hi, *values)
        if math.isfinite(late_lo) and late_hi > late_lo:
            pad = 0.08 * (late_hi - late_lo)
            late.set_ylim(late_lo - pad, late_hi + pad)
        what = f"{shown} bpb"
        if shown == TARGET:
            what = "target bpb (weighted mean of the eval sets)" if len(names) > 1 else f"target bpb (= {names[0]})"
        full.set_title(f"{what}: the whole run", fontsize=10)
        late.set_title(f"{what}: second half, zoomed", fontsize=10)
        for ax in (full, late):
            ax.set_xlabel("training tokens")
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.set_ylabel("bits per byte (lower is better)")
            ax.grid(alpha=0.3)
        if row == 0 and full.has_data():
            full.legend(fontsize=8, title="line: mean; band: its 95% t-interval; thin: each seed", title_fontsize=8)
    save(fig, path, dpi=90)


def panels(result: dict) -> list[tuple[str, str, str | None]]:
    """(title, kind, key) of each panel: the target, every eval set (when there are several), and the domains of
    every eval set that has two or more (an eval set of one domain would repeat itself)."""
    esets = list(result["eval_sets"])
    out: list[tuple[str, str, str | None]] = [(TARGET, TARGET, None)]
    if len(esets) > 1:
        out += [(f"{e} (w {result['eval_sets'][e]['weight']:g})", "eval", e) for e in esets]
    by_set: dict[str, list[str]] = {}
    for d in result["domains"]:
        by_set.setdefault(d.split("/", 1)[0] if len(esets) > 1 else esets[0], []).append(d)
    out += [(f"domain {d}", "domain", d) for ds in by_set.values() if len(ds) > 1 for d in ds]
    return out


def difference(result: dict, name: str, kind: str, key: str | None) -> dict | None:
    """name − reference on one figure: {diff, ci (list or None), significant (None: not tested), p_holm}. The target
    and the eval sets use the compare's pairwise test; a domain the same test (Welch, or paired by seed) on its
    per-run figures, unadjusted and outside the Holm family."""
    ref = result["reference"]
    if kind != "domain":
        block = result if kind == TARGET or len(result["eval_sets"]) == 1 else result["eval_sets"][key]
        pair = next((p for p in block["pairwise"] if {p["a"], p["b"]} == {name, ref}), None)
        if pair is None:
            return None
        sign = 1.0 if pair["a"] == ref else -1.0  # diff_mean is b − a
        ci = pair["diff_ci95"]
        return {
            "diff": sign * pair["diff_mean"],
            "ci": None if ci is None else sorted((sign * ci[0], sign * ci[1])),
            "significant": bool(pair["significant"]),
            "p_holm": pair.get("p_holm"),
        }
    mine = {r["seed"]: r["domains"].get(key) for r in result["candidates"][name]["runs"]}
    theirs = {r["seed"]: r["domains"].get(key) for r in result["candidates"][ref]["runs"]}
    if result["test"] == "paired":
        seeds = sorted(s for s in set(mine) & set(theirs) if mine[s] is not None and theirs[s] is not None)
        test = paired_test([theirs[s] for s in seeds], [mine[s] for s in seeds]) if seeds else None
    else:
        a, b = [v for v in theirs.values() if v is not None], [v for v in mine.values() if v is not None]
        test = welch_test(a, b) if a and b else None
    if test is None:
        return None
    return {"diff": test["diff_mean"], "ci": test["diff_ci95"], "significant": None, "p_holm": None}


def plot_domains(result: dict, path: Path) -> None:
    """domain_bpb.png (see the module docstring); with one seed the points have no interval."""
    ref = result["reference"]
    names = [r["candidate"] for r in result["ranking"] if r["candidate"] != ref]
    shown = panels(result)
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = grid(rows, cols, 4.4 * cols, 0.6 + (1.0 + 0.85 * len(names)) * rows)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    for ax, (title, kind, key) in zip(axes, shown):
        lo, hi = 0.0, 0.0
        labels = []
        for y, name in enumerate(names):
            d = difference(result, name, kind, key)
            labels.append(name)
            if d is None:
                continue
            colour = UNTESTED if d["significant"] is None else NOT_SIGNIFICANT
            if d["significant"]:
                colour = BETTER if d["diff"] < 0 else WORSE
            ci = d["ci"]
            err = None if ci is None else [[d["diff"] - ci[0]], [ci[1] - d["diff"]]]
            hollow = d["significant"] is None
            ax.errorbar(
                [d["diff"]], [y], xerr=err, fmt="o", color=colour, capsize=4, markersize=6,
                markerfacecolor="white" if hollow else colour,
            )  # fmt: skip
            labels[-1] += f"\n{d['diff']:+.4f}" + ("" if ci is None else f"\n[{ci[0]:+.4f}, {ci[1]:+.4f}]")
            if d["p_holm"] is not None:
                labels[-1] += f"\nHolm p {fmt_p(d['p_holm'])}"
            lo, hi = min(lo, d["diff"], *(ci or [])), max(hi, d["diff"], *(ci or []))
        span = (hi - lo) or 0.01
        ax.set_xlim(lo - 0.15 * span, hi + 0.15 * span)
        ax.axvline(0.0, color="black", linewidth=1)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_ylim(-0.6, len(names) - 0.3)
        ax.invert_yaxis()
        ax.set_title(title if kind != "domain" else f"{title} (not tested)", fontsize=10)
        ax.set_xlabel(f"bpb − {ref}'s (left of 0: better)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"difference from the reference {ref}: mean over seeds and its 95% interval; green / red: significantly "
        "better / worse (Holm), grey: not significant, hollow: not tested",
        fontsize=9,
    )
    save(fig, path, dpi=100)
