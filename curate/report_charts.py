"""The run report's charts: PNG files drawn with curate.charts (no pyplot), every one with a title and labelled axes."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from curate.charts import figure, grid, save, save_laid_out
from curate.report_thresholds import Panel

DPI = 110
TOP_LANGUAGES = 20
COLUMNS = 3  # threshold panels per row
BINS = 30
PASSED, THIS_CHECK, OTHER_CHECK = "#4c78a8", "#e45756", "#bab0ac"
COLOURS = [PASSED, THIS_CHECK, OTHER_CHECK]
OUTCOMES = ["passed the stage", "dropped by this check", "dropped by another check of the stage"]


def funnel_chart(stats: dict, path: Path) -> None:
    """Records remaining after each stage, top to bottom, so the biggest drops stand out."""
    labels = ["input"] + [s["stage"] for s in stats["stages"]]
    values = [stats["input_records"]] + [s["out"] for s in stats["stages"]]
    fig, ax = figure(8, 0.45 * len(labels) + 1.2)
    bars = ax.barh(labels, values, color="#4c78a8")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("records remaining after stage")
    ax.set_ylabel("stage")
    ax.set_xlim(0, max(values + [1]) * 1.12)
    ax.set_title("Funnel: records remaining after each stage")
    save(fig, path, DPI)


def language_chart(kept: Counter, rejected: Counter, path: Path) -> None:
    """Kept vs. rejected-after-language-ID per language: shows which languages the later filters hit hardest."""
    top = [lang for lang, _ in (kept + rejected).most_common(TOP_LANGUAGES)]
    y = np.arange(len(top))
    fig, ax = figure(8, 0.32 * len(top) + 1.5)
    ax.barh(y, [kept[lang] for lang in top], color=PASSED, label="kept")
    if rejected:
        left = [kept[lang] for lang in top]
        ax.barh(y, [rejected[lang] for lang in top], left=left, color=THIS_CHECK, label="rejected at/after language")
        ax.legend(loc="lower right")
    ax.set_yticks(y, top)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("documents")
    ax.set_ylabel("language")
    ax.set_title(f"Languages (top {len(top)} of {len(kept + rejected)}; all in the table below)")
    save(fig, path, DPI)


def domain_chart(domains: dict[str, tuple[int, int]], path: Path, tokens: bool) -> None:
    """Tokens (or, without token shards, kept documents) per domain: the raw material a mix is weighted from."""
    items = sorted(domains.items(), key=lambda kv: -kv[1][0])
    total = sum(v[0] for _, v in items) or 1
    fig, ax = figure(8, 0.4 * len(items) + 1.3)
    bars = ax.barh([k for k, _ in items], [v[0] for _, v in items], color="#72b7b2")
    unit = "tokens" if tokens else "documents"
    labels = [f"{v[0]:,} {unit} ({100 * v[0] / total:.0f}%)" + (f", {v[1]:,} docs" if tokens else "") for _, v in items]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max([v[0] for _, v in items] + [1]) * 1.45)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_xlabel(f"kept {unit}")
    ax.set_ylabel("domain")
    ax.set_title(f"Kept {unit} per domain")
    save(fig, path, DPI)


def length_chart(lengths: np.ndarray, path: Path) -> None:
    """Log-x histogram: web document lengths span orders of magnitude."""
    lengths = np.maximum(lengths, 1)
    lo, hi = lengths.min(), max(lengths.max(), lengths.min() + 1)
    fig, ax = figure(8, 3.8)
    ax.hist(lengths, bins=np.logspace(np.log10(lo), np.log10(hi), 40), color="#4c78a8")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("characters per kept document (log scale)")
    ax.set_ylabel("documents")
    ax.set_title(f"Document length (n={len(lengths):,}, median {int(np.median(lengths)):,})")
    save(fig, path, DPI)


def threshold_chart(stage: str, panels: list[Panel], path: Path) -> None:
    """One histogram per filter value of a stage, every limit drawn as a dashed line: what a change would move.

    The x range is the bulk of the values (1st-99th percentile) widened to every limit; values beyond it are
    counted in the edge bins, so no document disappears from the chart.
    """
    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    legend_columns = 4 if columns >= 3 else 2
    # a fixed layout in inches, because tight_layout over many axes is slow: title, legend, then the panels
    header = 0.45 + 0.22 * math.ceil(4 / legend_columns) + 0.45
    width, height = max(7.0, 4.0 * columns + 1), 3.0 * rows + header - 0.45 + 0.55
    fig, axes = grid(rows, columns, width, height)
    for ax, panel in zip(axes, panels):
        _threshold_panel(ax, panel)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{stage}: filter values of the documents that reached it", fontsize=11, y=1 - 0.12 / height)
    handles = [Patch(color=c, label=name) for c, name in zip(COLOURS, OUTCOMES)] + [
        Line2D([], [], color="black", linestyle="--", label="limit (shaded side is dropped)")
    ]
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=legend_columns,
        fontsize=8,
        bbox_to_anchor=(0.5, 1 - 0.4 / height),
        frameon=False,
    )
    fig.subplots_adjust(
        left=0.7 / width,
        right=1 - 0.25 / width,
        bottom=0.55 / height,
        top=1 - header / height,
        wspace=0.25,
        hspace=0.45,
    )
    save_laid_out(fig, path, DPI)


def _threshold_panel(ax, panel: Panel) -> None:
    log = any(t.log for t, _ in panel.limits)
    lo, hi = _x_range(panel, log)
    values = np.clip(panel.values, lo, hi)
    edges = np.geomspace(lo, hi, BINS + 1) if log else np.linspace(lo, hi, BINS + 1)
    other = ~panel.passed & ~panel.this_check
    groups = [values[panel.passed], values[panel.this_check], values[other]]
    ax.hist(groups, bins=edges, stacked=True, color=COLOURS, histtype="stepfilled")  # one patch per group: fast
    for threshold, limit in panel.limits:
        ax.axvline(limit, color="black", linestyle="--", linewidth=1.2)
        ax.axvspan(*((lo, limit) if threshold.drop == "below" else (limit, hi)), color=THIS_CHECK, alpha=0.07)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(LogLocator() if log else MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if log or abs(x) >= 100 else f"{x:.3g}"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    limits = ", ".join(f"{t.param}{'<' if t.drop == 'below' else '>'}{limit:g} drops" for t, limit in panel.limits)
    ax.set_title(f"{panel.metric}: {int(panel.this_check.sum()):,} dropped here\n{limits}", fontsize=8)
    ax.set_xlabel(panel.label + (" (log scale)" if log else ""), fontsize=8)
    ax.set_ylabel("documents", fontsize=8)
    ax.tick_params(labelsize=7)


def _x_range(panel: Panel, log: bool) -> tuple[float, float]:
    """The bulk of the values (1st-99th percentile) and every limit, with a margin."""
    values = np.maximum(panel.values, 1) if log else panel.values
    lo, hi = (float(v) for v in np.percentile(values, [1, 99]))
    for _, limit in panel.limits:
        lo, hi = min(lo, limit), max(hi, limit)
    if log:
        return lo / 1.3, hi * 1.3
    pad = (hi - lo) * 0.04 or 0.5
    return lo - pad, hi + pad
