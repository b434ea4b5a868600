"""The comparison's two charts: the target's loss curves (loss_curves.png) and the final bpb per eval set
(domain_bpb.png, one panel per figure, each with its own y range so that differences of a few thousandths of a bit
are visible: bars from 0 would hide them).

Charts go through `curate.charts` (matplotlib's object API, imported when a chart is drawn), so importing this module
changes no global state.
"""

from __future__ import annotations

import math
from pathlib import Path

from curate.charts import figure, save

MARKS = {"better": ("▲", "#1a7f37"), "worse": ("▼", "#c62828")}


def plot_curves(runs: dict[str, list[dict]], path: Path) -> None:
    """Target bpb vs training tokens: the mean over seeds per candidate, with the min–max band across seeds."""
    import numpy as np

    fig, ax = figure(8, 4.5)
    for name, rs in runs.items():
        curves = [dict((int(t), b) for t, b in r["curve"]) for r in rs if r["curve"]]
        if not curves:
            continue
        tokens = sorted(set.intersection(*(set(c) for c in curves)))
        if not tokens:
            continue
        values = np.array([[c[t] for t in tokens] for c in curves])
        (line,) = ax.plot(tokens, values.mean(axis=0), marker="o", markersize=3, label=f"{name} ({len(curves)} seeds)")
        ax.fill_between(tokens, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("training tokens")
    ax.set_ylabel("target bpb (weighted mean of the eval sets)")
    ax.set_title("Target bpb: mean over seeds, band = min–max")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend()
    save(fig, path, dpi=100)


def panels(result: dict) -> list[tuple[str, str, str | None]]:
    """(title, kind, key) of each panel: the target, every eval set (when there are several), and the domains of
    every eval set that has two or more (an eval set of one domain would repeat itself)."""
    esets = list(result["eval_sets"])
    out: list[tuple[str, str, str | None]] = [("target", "target", None)]
    if len(esets) > 1:
        out += [(f"{e} (w {result['eval_sets'][e]['weight']:g})", "eval", e) for e in esets]
    by_set: dict[str, list[str]] = {}
    for d in result["domains"]:
        by_set.setdefault(d.split("/", 1)[0] if len(esets) > 1 else esets[0], []).append(d)
    out += [(d, "domain", d) for ds in by_set.values() if len(ds) > 1 for d in ds]
    return out


def plot_domains(result: dict, path: Path) -> None:
    """Final bpb per candidate, one panel each for the target, every eval set and the domains: mean ± 95% CI
    half-width (± std with one seed: none), ▲/▼ where significantly better / worse than the reference."""
    names = [r["candidate"] for r in result["ranking"]]
    colour = {name: f"C{k}" for k, name in enumerate(result["candidates"])}  # as on the loss curves
    shown = panels(result)
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, first = figure(max(4.0, 3.0 * cols + 0.4 * len(names)), 3.2 * rows)
    fig.delaxes(first)
    for k, (title, kind, key) in enumerate(shown):
        ax = fig.add_subplot(rows, cols, k + 1)
        lows, highs = [], []
        for i, name in enumerate(names):
            cand = result["candidates"][name]
            s = (
                cand["target"]
                if kind == "target"
                else (cand["eval_sets"] if kind == "eval" else cand["domains"]).get(key)
            )
            if not s:
                continue
            half = s["ci95_half"] if s.get("ci95_half") is not None else s["std"]
            ax.errorbar([i], [s["mean"]], yerr=[half], fmt="o", color=colour[name], capsize=4)
            lows.append(s["mean"] - half)
            highs.append(s["mean"] + half)
            mark = MARKS.get(cand["vs_reference"].get(key or "target") or "") if kind != "domain" else None
            if mark:
                ax.annotate(mark[0], (i, s["mean"]), xytext=(7, -4), textcoords="offset points", color=mark[1])
        if lows:
            span = max(highs) - min(lows) or 0.01 * max(abs(max(highs)), 1e-9)
            ax.set_ylim(min(lows) - 0.15 * span, max(highs) + 0.15 * span)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
        ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(
        f"final bpb (mean ± 95% CI over seeds; ▲/▼ significantly better/worse than {result['reference']})",
        fontsize=10,
    )
    save(fig, path, dpi=100)
