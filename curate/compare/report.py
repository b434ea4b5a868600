"""The human side of a comparison: report.html (verdict, ranking, pairwise tests, runs) and its two charts.

Charts go through `curate.charts` (matplotlib's object API, imported when a chart is drawn), so importing this module
changes no global state.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from curate.charts import figure, save
from curate.compare.stats import fmt, fmt_p

TEST_NAMES = {"welch": "Welch's t-tests across seeds", "paired": "paired t-tests across seeds (runs paired by seed)"}


def plot_curves(runs: dict[str, list[dict]], path: Path) -> None:
    """Eval bpb vs training tokens: the mean over seeds per candidate, with the min–max band across seeds."""
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
    ax.set_ylabel("held-out bits per byte")
    ax.set_title("Eval bpb: mean over seeds, band = min–max")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend()
    save(fig, path, dpi=100)


def plot_domains(result: dict, path: Path) -> None:
    """Grouped bars: bpb per domain (and overall) per candidate, error bars = std across seeds."""
    import numpy as np

    groups = ["overall"] + result["domains"]
    names = [r["candidate"] for r in result["ranking"]]
    width = 0.8 / max(1, len(names))
    fig, ax = figure(max(6, 1.2 * len(groups) * max(1, len(names)) / 2 + 3), 4.5)
    x = np.arange(len(groups))
    for k, name in enumerate(names):
        cand = result["candidates"][name]
        figs = [cand["overall"]] + [cand["domains"].get(d) for d in result["domains"]]
        means = [f["mean"] if f else np.nan for f in figs]
        stds = [f["std"] if f else 0.0 for f in figs]
        ax.bar(x + (k - (len(names) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
    ax.set_ylabel("held-out bits per byte")
    ax.set_title("bpb per domain (error bars: std across seeds)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    save(fig, path, dpi=100)


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}.sig{color:#060}.ns{color:#a60}img{max-width:100%}"
)


def _ci(stats_: dict) -> str:
    ci = stats_.get("ci95")
    return "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def write_report(result: dict, path: Path) -> None:
    """report.html: the verdict, the ranking (bpb mean ± std and 95% CI per domain), the pairwise tests, the charts."""
    e = escape
    title = f"compare: {result['spec'].get('name') or Path(result['spec']['path']).stem}"
    groups = ["overall"] + result["domains"]
    head = "".join(f"<th>{e(g)}</th>" for g in groups)
    rows = []
    for r in result["ranking"]:
        cand = result["candidates"][r["candidate"]]
        cells = []
        for g in groups:
            s = cand["overall"] if g == "overall" else cand["domains"].get(g)
            cells.append(
                "<td>—</td>"
                if s is None
                else f"<td>{s['mean']:.4f} ± {s['std']:.4f}<br><small>{e(_ci(s))}</small></td>"
            )
        rows.append(f"<tr><td>{r['rank']}. {e(r['candidate'])}</td>{''.join(cells)}</tr>")
    pair_rows = []
    for p in result["pairwise"]:
        cls = "sig" if p["significant"] else "ns"
        ci = p["diff_ci95"]
        ci_text = "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"
        pair_rows.append(
            f"<tr><td>{e(p['a'])} vs {e(p['b'])}</td><td>{e(fmt(p['diff_mean']))}</td><td>{e(ci_text)}</td>"
            f"<td>{e(fmt_p(p['p_value']))}</td><td>{e(fmt_p(p['p_holm']))}</td>"
            f'<td class="{cls}">{"yes" if p["significant"] else "no"}</td><td>{e(p["verdict"])}</td></tr>'
        )
    runs_rows = []
    for name, cand in result["candidates"].items():
        for r in cand["runs"]:
            runs_rows.append(
                f"<tr><td>{e(name)}</td><td>{r['seed']}</td><td>{r['bpb']:.4f}</td>"
                f"<td>{'yes' if r['reused'] else 'no'}</td><td>{e(r['dir'])}</td></tr>"
            )
    parts = [
        f"<h1>{e(title)}</h1>",
        f"<p><b>{e(result['summary'])}</b></p>",
        "<ul>" + "".join(f"<li>{e(v)}</li>" for v in result["verdicts"]) + "</ul>",
        f"<p>{e(result['metric'])}; {len(result['seeds'])} seeds per candidate ({e(str(result['seeds']))}), "
        f"alpha {result['alpha']}, {e(TEST_NAMES[result['test']])}, Holm-corrected over all pairs.</p>",
        "<h2>Ranking</h2><p>bpb mean ± std across seeds, 95% t-interval below; a candidate shares the rank above "
        "it unless the two differ significantly.</p>",
        f"<table><tr><th>candidate</th>{head}</tr>{''.join(rows)}</table>",
        "<h2>Pairwise differences</h2><p>difference = b − a in bpb (positive: a is better).</p>",
        "<table><tr><th>a vs b</th><th>mean diff</th><th>95% CI</th><th>p</th><th>p (Holm)</th>"
        f"<th>significant</th><th>verdict</th></tr>{''.join(pair_rows)}</table>",
        "<h2>Loss curves</h2>",
        '<img src="loss_curves.png" alt="eval bpb vs training tokens">',
        "<h2>Per domain</h2>",
        '<img src="domain_bpb.png" alt="bpb per domain">',
        "<h2>Runs</h2><table><tr><th>candidate</th><th>seed</th><th>bpb</th><th>reused</th><th>run dir</th></tr>"
        f"{''.join(runs_rows)}</table>",
    ]
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path.write_text(html, encoding="utf-8")
