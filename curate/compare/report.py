"""report.html: the human side of a comparison. It leads with the verdict table (every candidate against the
reference, per eval set and for the target), because that is the question asked; the sentences, the power of the run,
the seed spread, what each run saw, the tests, the charts and the runs follow, in that order.
"""

from __future__ import annotations

from html import escape as e
from pathlib import Path

from curate.compare.stats import fmt, fmt_p

TEST_NAMES = {"welch": "Welch's t-tests across seeds", "paired": "paired t-tests across seeds (runs paired by seed)"}
MARK = {"better": ("▲", "better"), "worse": ("▼", "worse")}

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}.sig{color:#060}.ns{color:#a60}img{max-width:100%}"
    ".better{color:#1a7f37;font-weight:600}.worse{color:#c62828;font-weight:600}.pooled{color:#666}"
    ".legend{font-size:.9em;color:#444}.warn{background:#fff4e5;padding:.5em}"
)


def _cell(s: dict | None, mark: str | None = None, cls: str = "") -> str:
    """mean ± 95% CI half-width (± std with one seed, when there is no interval), with a ▲/▼ mark."""
    if s is None:
        return "<td>—</td>"
    half = s.get("ci95_half")
    text = f"{s['mean']:.4f} ± {half:.4f}" if half is not None else f"{s['mean']:.4f}"
    sign, kind = MARK.get(mark or "", ("", ""))
    classes = " ".join(c for c in (kind, cls) if c)
    return f'<td class="{classes}">{e(text)} {sign}</td>' if classes else f"<td>{e(text)}</td>"


def _table(header: list[str], rows: list[str]) -> str:
    return "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>" + "".join(rows) + "</table>"


def _num(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def verdict_table(result: dict) -> str:
    """Rows = candidates (target ranking), columns = each eval set, the target and the pooled figure; a legend."""
    esets = list(result["eval_sets"])
    ref = result["reference"]
    header = ["candidate"] + [f"{x} (w {result['eval_sets'][x]['weight']:g})" for x in esets]
    header += ["target", "pooled by bytes (not tested)"]
    rows = []
    for r in result["ranking"]:
        name = r["candidate"]
        cand = result["candidates"][name]
        marks = cand["vs_reference"]
        label = f"{r['rank']}. {name}" + (" (reference)" if name == ref else "")
        cells = [_cell(cand["eval_sets"][x], marks.get(x)) for x in esets]
        cells += [_cell(cand["target"], marks.get("target")), _cell(cand["pooled"], cls="pooled")]
        rows.append(f"<tr><td>{e(label)}</td>{''.join(cells)}</tr>")
    fam = result["family"]
    weights = ", ".join(f"{x} {w:.3g}" for x, w in result["target"]["shares"].items())
    legend = (
        f"Each cell: bpb mean over {len(result['seeds'])} seeds ± the half-width of its 95% Student-t interval "
        f"(lower is better). <span class='better'>▲</span> significantly better than the reference {e(ref)}, "
        f"<span class='worse'>▼</span> significantly worse: {e(TEST_NAMES[result['test']])}, "
        f"{e(fam['correction'])} ({fam['tests']} test{'' if fam['tests'] == 1 else 's'}) at alpha {result['alpha']}. "
        "Target = Σ w·bpb / Σ w over the "
        f"eval sets (shares: {e(weights)}): the ranking and its verdicts. Pooled by bytes = total nats / total bytes "
        "over every eval set, so the largest set decides it; shown for reference, not tested."
    )
    return _table(header, rows) + f"<p class='legend'>{legend}</p>"


def _verdicts(result: dict) -> list[str]:
    parts = ["<h2>Verdicts</h2>", f"<h3>Target</h3><p>{e(result['summary'])}</p>"]
    parts.append("<ul>" + "".join(f"<li>{e(v)}</li>" for v in result["verdicts"]) + "</ul>")
    if len(result["eval_sets"]) == 1:
        parts.append(f"<p>One eval set ({e(next(iter(result['eval_sets'])))}): the target is its bpb.</p>")
        return parts
    for x, block in result["eval_sets"].items():
        parts.append(f"<h3>{e(x)} (weight {block['weight']:g})</h3><p>{e(block['summary'])}</p>")
        parts.append("<ul>" + "".join(f"<li>{e(v)}</li>" for v in block["verdicts"]) + "</ul>")
    return parts


def _power(result: dict) -> list[str]:
    fam = result["family"]
    metrics = ["target"] + (list(result["eval_sets"]) if len(result["eval_sets"]) > 1 else [])
    pairs: dict[tuple[str, str], dict[str, float | None]] = {}
    for metric in metrics:
        block = result if metric == "target" else result["eval_sets"][metric]
        for p in block["pairwise"]:
            pairs.setdefault((min(p["a"], p["b"]), max(p["a"], p["b"])), {})[metric] = p["mdd"]
    rows = [
        f"<tr><td>{e(a)} vs {e(b)}</td>" + "".join(f"<td>{e(fmt(m.get(x)))}</td>" for x in metrics) + "</tr>"
        for (a, b), m in pairs.items()
    ]
    per_test = fam["alpha_per_test"]
    spent = fam.get("level", fam["alpha"])  # sequential seeds: what the last look spent
    level = "—" if per_test is None else f"{spent:.4g} / {fam['tests']} = {per_test:.4g}"
    return [
        "<h2>Power: minimal detectable differences</h2>",
        f"<p>MDD = (t<sub>1−α′/2, df</sub> + t<sub>{fam['power']:.2f}, df</sub>) × SE: the smallest true difference "
        f"(bpb) each test had {fam['power']:.0%} power to detect, at α′ = {e(level)}, the per-comparison level "
        "Holm's family starts from (so a conservative figure). Welch: SE and df from Welch–Satterthwaite; paired: "
        "from the per-seed differences. SE = 0 gives 0.0; one seed gives none.</p>",
        _table(["pair"] + metrics, rows),
    ]


def _sequential(result: dict) -> list[str]:
    """Seeds on demand: every look, what it spent, trained and decided."""
    seq = result.get("sequential")
    if not seq:
        return []
    rows = [
        f"<tr><td>{look['look']}</td><td>{look['seeds']}</td><td>{look['level']:.4g}</td><td>{look['spent']:.4g}</td>"
        f"<td>{e(', '.join(look['trained']) or '—')}</td><td>{len(look['decided'])}</td>"
        f"<td>{e(', '.join(look['open']) or '—')}</td></tr>"
        for look in seq["looks"]
    ]
    runs = ", ".join(f"{e(n)} {k}" for n, k in seq["runs"].items())
    return [
        "<h2>Seeds on demand</h2>",
        f"<p>seeds {seq['min']} to {seq['max']}: {e(seq['stopped'])}; runs per candidate: {runs}. "
        f"Stopping rule: {e(seq['method'])}.</p>",
        _table(["look", "seeds", "alpha at this look", "alpha spent", "trained", "newly decided", "still open"], rows),
    ]


def _scales(result: dict) -> list[str]:
    """Per scale the target ranking side by side, then τ and the verdicts that change between scales."""
    sc = result.get("scales")
    if not sc:
        return []
    names = sc["names"]
    cands = list(result["candidates"])
    rows = []
    for cand in cands:
        cells = []
        for scale in names:
            per = sc["per_scale"][scale]
            rank = next(r["rank"] for r in per["ranking"] if r["candidate"] == cand)
            cells.append(f"<td>{rank}. {per['target'][cand]['mean']:.4f}</td>")
        rows.append(f"<tr><td>{e(cand)}</td>" + "".join(cells) + "</tr>")
    lines = []
    for pair in sc["agreement"]:
        lines.append(f"<li>{e(pair['text'])}" + "".join(f"<br>reversed: {e(x['text'])}" for x in pair["reversed"]))
        lines[-1] += "".join(f"<br>{e(x['text'])}" for x in pair["changed"]) + "</li>"
    return [
        "<h2>Scales: does the ranking hold?</h2>",
        f"<p>The same candidates at {len(names)} proxy sizes (rank and target bpb); the tables above are the "
        f"{e(sc['leading'])} scale's. Kendall τ compares the target rankings; a reversed verdict is significant at "
        "both scales with opposite winners.</p>",
        _table(["candidate", *[f"{n}" for n in names]], rows),
        "<ul>" + "".join(lines) + "</ul>",
    ]


def _leakage(result: dict) -> list[str]:
    """Per candidate how many eval documents its training data holds, and what decontamination removed."""
    esets = list(result["eval_sets"])
    rows, rule = [], ""
    for name, cand in result["candidates"].items():
        data = cand.get("data") or {}
        found, removed = data.get("leakage"), data.get("decontaminated")
        if not found:
            continue
        rule = f"containment ≥ {found['threshold']} of an eval document's {found['unit']} {found['n_grams']}-grams"
        over = found["overlapping"]
        cells = [f"{over['documents']} ({over['tokens_share']:.2%} of tokens)"]
        for x in esets:
            s = found["eval"].get(x)
            cells.append("—" if s is None else f"{s['contaminated']} / {s['documents']} ({s['exact']} exact)")
        cells.append("not asked" if removed is None else f"{removed['removed']['documents']} documents removed")
        rows.append(f"<tr><td>{e(name)}</td>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        return []
    return [
        "<h2>Leakage: eval documents in the training data</h2>",
        f"<p>Training documents that hold {e(rule)} (the decontaminate stage's rule), checked before training; "
        "per eval set, its documents found in the candidate's training data. <code>decontaminate: true</code> "
        "trains on the data without them (candidates/&lt;name&gt;/decontaminated/rejected.jsonl names each eval "
        "document).</p>",
        _table(
            ["candidate", "training documents overlapping", *[f"{x} documents found" for x in esets], "removed"], rows
        ),
    ]


def _spread(result: dict) -> list[str]:
    esets = list(result["eval_sets"])
    rows = []
    for name, cand in result["candidates"].items():
        figs = [cand["target"]] + [cand["eval_sets"][x] for x in esets] + [cand["pooled"]]
        rows.append(f"<tr><td>{e(name)}</td>" + "".join(f"<td>{s['std']:.4f}</td>" for s in figs) + "</tr>")
    return [
        "<h2>Seed spread</h2><p>standard deviation of the final bpb across seeds (ddof 1).</p>",
        _table(["candidate", "target", *esets, "pooled"], rows),
    ]


def _seen(result: dict) -> list[str]:
    """Per candidate what its runs trained on, per eval set how much of it was scored (trainer figures, when the
    trainer reports them)."""
    rows = []
    for name, cand in result["candidates"].items():
        s = cand.get("sample") or {}
        cells = [_num(s.get(k)) for k in ("tokens_seen", "documents_seen", "distinct_documents", "candidate_documents")]
        rows.append(
            f"<tr><td>{e(name)}</td>"
            + "".join(f"<td>{c}</td>" for c in [*cells, _num(s.get("epochs"), 2)])
            + f"<td>{e(', '.join(cand.get('identical_to', [])) or '—')}</td></tr>"
        )
    erows = []
    for x, block in result["eval_sets"].items():
        c = block.get("coverage") or {}
        share = c.get("share")
        erows.append(
            f"<tr><td>{e(x)}</td><td>{block['weight']:g}</td><td>{result['target']['shares'][x]:.3f}</td>"
            f"<td>{_num(block.get('bytes'))}</td><td>{_num(c.get('documents_used'))} / {_num(c.get('documents_total'))}"
            f"</td><td>{_num(c.get('tokens_used'))} / {_num(c.get('tokens_total'))}</td>"
            f"<td>{'—' if share is None else f'{share:.1%}'}</td></tr>"
        )
    note = "" if any(c.get("sample") for c in result["candidates"].values()) else " (not reported by this trainer)"
    return [
        f"<h2>What each run saw</h2><p>means over seeds{e(note)}.</p>",
        _table(
            [
                "candidate",
                "tokens seen",
                "documents seen",
                "distinct documents",
                "candidate documents",
                "epochs",
                "identical data to",
            ],
            rows,
        ),  # fmt: skip
        _table(
            ["eval set", "weight", "share of target", "bytes scored", "documents used", "tokens used", "share used"],
            erows,
        ),
    ]


def _tests(result: dict) -> list[str]:
    metrics = ["target"] + (list(result["eval_sets"]) if len(result["eval_sets"]) > 1 else [])
    rows = []
    for metric in metrics:
        block = result if metric == "target" else result["eval_sets"][metric]
        for p in block["pairwise"]:
            ci = p["diff_ci95"]
            ci_text = "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"
            cls = "sig" if p["significant"] else "ns"
            rows.append(
                f"<tr><td>{e(metric)}</td><td>{e(p['a'])} vs {e(p['b'])}</td><td>{e(fmt(p['diff_mean']))}</td>"
                f"<td>{e(ci_text)}</td><td>{e(fmt_p(p['p_value']))}</td><td>{e(fmt_p(p['p_holm']))}</td>"
                f'<td class="{cls}">{"yes" if p["significant"] else "no"}</td><td>{e(fmt(p["mdd"]))}</td></tr>'
            )
    return [
        "<h2>Pairwise tests</h2><p>difference = b − a in bpb (positive: a is better).</p>",
        _table(["figure", "a vs b", "mean diff", "95% CI", "p", "p (Holm)", "significant", "MDD"], rows),
    ]


def _domains(result: dict) -> list[str]:
    if not result["domains"]:
        return []
    rows = []
    for r in result["ranking"]:
        cand = result["candidates"][r["candidate"]]
        cells = "".join(_cell(cand["domains"].get(d)) for d in result["domains"])
        rows.append(f"<tr><td>{e(r['candidate'])}</td>{cells}</tr>")
    return [
        "<h2>Per domain</h2><p>bpb mean ± 95% CI half-width per domain within the eval sets (not tested).</p>",
        _table(["candidate", *result["domains"]], rows),
    ]


def _runs(result: dict) -> list[str]:
    esets = list(result["eval_sets"])
    rows = []
    for name, cand in result["candidates"].items():
        for r in cand["runs"]:
            figs = [r["bpb"], *(r["eval_sets"][x] for x in esets), r["pooled"]]
            rows.append(
                f"<tr><td>{e(name)}</td><td>{r['seed']}</td>" + "".join(f"<td>{v:.4f}</td>" for v in figs)
                + f"<td>{'yes' if r['reused'] else 'no'}</td><td>{e(r['dir'])}</td></tr>"
            )  # fmt: skip
    return ["<h2>Runs</h2>", _table(["candidate", "seed", "target", *esets, "pooled", "reused", "run dir"], rows)]


def _seeds(result: dict) -> str:
    seq = result.get("sequential")
    if not seq:
        return f"{len(result['seeds'])} seeds per candidate ({e(str(result['seeds']))})"
    return f"{min(seq['runs'].values())}–{max(seq['runs'].values())} seeds per candidate (added on demand)"


def write_report(result: dict, path: Path) -> None:
    """report.html: verdict table and legend, verdicts (target, then each eval set), power, seed spread, what each
    run saw, pairwise tests, per-domain figures, the two charts, the runs."""
    title = f"compare: {result['spec'].get('name') or Path(result['spec']['path']).stem}"
    identical = "".join(f"<p class='warn'>{e(g['text'])}.</p>" for g in result["identical"])
    identical += "".join(
        f"<p class='warn'>{e(name)}: {e(c['data']['leakage_text'])}; see Leakage below.</p>"
        for name, c in result["candidates"].items()
        if (c.get("data") or {}).get("leakage_text")
    )
    parts = [
        f"<h1>{e(title)}</h1>",
        f"<p><b>{e(result['summary'])}</b></p>",
        identical,
        f"<p>{e(result['metric'])} of each run's {e(result.get('figure', 'final'))} eval; {_seeds(result)}, "
        f"alpha {result['alpha']}, {e(TEST_NAMES[result['test']])}, reference {e(result['reference'])}.</p>",
        "<h2>Verdict table</h2>",
        verdict_table(result),
        *_verdicts(result),
        *_sequential(result),
        *_scales(result),
        *_leakage(result),
        *_power(result),
        *_spread(result),
        *_seen(result),
        *_tests(result),
        *_domains(result),
        "<h2>Loss curves</h2>",
        '<img src="loss_curves.png" alt="target bpb vs training tokens">',
        "<h2>Final bpb per eval set</h2>",
        '<img src="domain_bpb.png" alt="final bpb per eval set and domain">',
        *_runs(result),
    ]
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n"
    )
    path.write_text(html, encoding="utf-8")
