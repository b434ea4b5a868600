"""report.html: the human side of a comparison, for the person deciding which data to train on.

It opens with the verdicts (report_verdicts.py: every test of the Holm family, the significant ones first), then
each candidate against the reference, what each candidate trained on (tokens seen, epochs), the loss curves with
their confidence band, the differences per eval set and domain, and the details (seeds on demand, scales, leakage,
seed spread, runs). Every figure comes from comparison.json: nothing is computed here that `verdicts`, `stats` and
`power` did not compute; html.py holds the pieces of markup the sections share."""

from __future__ import annotations

from html import escape as e
from pathlib import Path

from curate.compare.html import STYLE, TEST_NAMES, cell, num, section, seeds_text, table
from curate.compare.plots import curve_points
from curate.compare.report_verdicts import verdicts

FEW_POINTS = 5  # fewer eval points a run than this: the report says how to get more


def standing(result: dict) -> str:
    """Rows = candidates (target ranking), columns = each eval set, the target and the pooled figure."""
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
        cells = [cell(cand["eval_sets"][x], marks.get(x)) for x in esets]
        cells += [cell(cand["target"], marks.get("target")), cell(cand["pooled"], cls="pooled")]
        rows.append(f"<tr><td>{e(label)}</td>{''.join(cells)}</tr>")
    weights = ", ".join(f"{x} {w:.3g}" for x, w in result["target"]["shares"].items())
    legend = (
        f"Each cell: bpb mean over seeds ± the half-width of its 95% Student-t interval (lower is better); rank by "
        f"the target (a candidate shares the rank above unless the two differ significantly). "
        f"<span class='better'>▲</span> significantly better than the reference {e(ref)}, "
        f"<span class='worse'>▼</span> significantly worse (the rows of the verdict table that involve {e(ref)}). "
        f"Target = Σ w·bpb / Σ w over the eval sets (shares: {e(weights)}). Pooled by bytes = total nats / total "
        "bytes over every eval set, so the largest set decides it; shown for reference, not tested."
    )
    return section(
        "standing",
        f"Each candidate against the reference ({ref})",
        table(header, rows),
        f"<p class='legend'>{legend}</p>",
    )


def trained_on(result: dict) -> str:
    """Per candidate the tokens its runs saw and how many epochs of its data that was; per eval set what was scored."""
    rows = []
    for name, cand in result["candidates"].items():
        s = cand.get("sample") or {}
        epochs = s.get("epochs")
        repeat = epochs is not None and epochs > 1
        cells = [
            num(s.get("tokens_seen")),
            num(s.get("candidate_tokens")),
            f'<td class="{"worse" if repeat else ""}">{num(epochs, 2)}</td>',
            num(s.get("documents_seen")),
            num(s.get("distinct_documents")),
            num(s.get("candidate_documents")),
            e(", ".join(cand.get("identical_to", [])) or "—"),
        ]
        tds = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
        rows.append(f"<tr><td>{e(name)}</td>{tds}</tr>")
    erows = []
    for x, block in result["eval_sets"].items():
        c = block.get("coverage") or {}
        share = c.get("share")
        erows.append(
            f"<tr><td>{e(x)}</td><td>{block['weight']:g}</td><td>{result['target']['shares'][x]:.3f}</td>"
            f"<td>{num(block.get('bytes'))}</td><td>{num(c.get('documents_used'))} / {num(c.get('documents_total'))}"
            f"</td><td>{num(c.get('tokens_used'))} / {num(c.get('tokens_total'))}</td>"
            f"<td>{'—' if share is None else f'{share:.1%}'}</td></tr>"
        )
    reported = any(c.get("sample") for c in result["candidates"].values())
    note = (
        "Means over each candidate's runs. Epochs = tokens seen / the candidate's tokens: above 1 (red) its runs "
        "saw some of its documents more than once (a small candidate repeats its data where a large one does not)."
        if reported
        else "Not reported by the trainer these runs were made with."
    )
    header = ["candidate", "tokens seen", "candidate tokens", "epochs", "documents seen", "distinct documents"]
    return section(
        "trained-on",
        "What each candidate trained on",
        f"<p class='legend'>{e(note)}</p>",
        table([*header, "candidate documents", "identical data to"], rows),
        "<p class='legend'>What each eval set contributed (scored once per eval point):</p>",
        table(
            ["eval set", "weight", "share of target", "bytes scored", "documents used", "tokens used", "share used"],
            erows,
        ),
    )


def curves(result: dict, runs: dict[str, list[dict]]) -> str:
    lo, hi = curve_points(runs)
    count = f"{lo}" if lo == hi else f"{lo}–{hi}"
    every = (result["spec"].get("train") or {}).get("eval_every")
    source = f"train.eval_every = {every} steps" if every else "compare's default, about ten a run"
    text = (
        f"{count} eval points a run ({e(source)}). Left: the whole run; right: its second half, zoomed. Line: the "
        "mean over seeds; band: the 95% Student-t interval of that mean (mean ± t<sub>0.975, n−1</sub> · s / √n); "
        "thin lines: each seed. The last point is each run's final eval of the raw weights."
    )
    warn = ""
    if lo < FEW_POINTS:
        warn = (
            f"<p class='warn'>Only {lo} eval point(s) in some runs: the curves say little about how the candidates "
            "diverge. Set a smaller <code>train.eval_every</code> in the compare file (finished runs train again, "
            "since it is part of the run's config).</p>"
        )
    return section(
        "curves",
        "Loss curves",
        f"<p class='legend'>{text}</p>",
        warn,
        '<img src="loss_curves.png" alt="bpb vs training tokens per candidate, mean over seeds with a 95% band">',
    )


def differences(result: dict) -> str:
    ref = result["reference"]
    text = (
        f"Each candidate minus the reference {e(ref)}, in bpb: left of the zero line is better. Target and eval "
        "sets: the verdict table's test and 95% interval, green / red when significant. Domains are not tested: "
        "the same test's unadjusted interval, hollow grey."
    )
    rows = []
    for r in result["ranking"]:
        cand = result["candidates"][r["candidate"]]
        cells = "".join(cell(cand["domains"].get(d)) for d in result["domains"])
        rows.append(f"<tr><td>{e(r['candidate'])}</td>{cells}</tr>")
    per_domain = ""
    if result["domains"]:
        per_domain = "<p class='legend'>bpb per domain within the eval sets: mean ± 95% CI half-width.</p>" + table(
            ["candidate", *result["domains"]], rows
        )
    return section(
        "differences",
        "Differences per eval set and domain",
        f"<p class='legend'>{text}</p>",
        '<img src="domain_bpb.png" alt="difference from the reference per figure, with 95% intervals">',
        per_domain,
    )


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
        table(["look", "seeds", "alpha at this look", "alpha spent", "trained", "newly decided", "still open"], rows),
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
        table(["candidate", *[f"{n}" for n in names]], rows),
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
        table(
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
        table(["candidate", "target", *esets, "pooled"], rows),
    ]


def _runs(result: dict) -> str:
    esets = list(result["eval_sets"])
    rows = []
    for name, cand in result["candidates"].items():
        for r in cand["runs"]:
            figs = [r["bpb"], *(r["eval_sets"][x] for x in esets), r["pooled"]]
            short = Path(r["dir"]).name[:12] + "…"  # runs/<config hash>: the hash names the run
            link = f'<a href="{e(r["dir"])}/metrics.jsonl" title="{e(r["dir"])}">{e(short)}</a>'
            rows.append(
                f"<tr><td>{e(name)}</td><td>{r['seed']}</td>" + "".join(f"<td>{v:.4f}</td>" for v in figs)
                + f"<td>{'yes' if r['reused'] else 'no'}</td><td class='text'>{link}</td></tr>"
            )  # fmt: skip
    return section(
        "runs", "Runs", table(["candidate", "seed", "target", *esets, "pooled", "reused", "run (metrics)"], rows)
    )


def _compared(result: dict) -> str:
    """What was compared, on what: the candidates and where their data came from, the eval sets and weights."""
    cands = ", ".join(
        f"{e(c['name'])} ({e(next((k for k in ('tokens', 'mix', 'pipeline') if k in c), 'data'))} "
        f"{e(str(c.get('tokens') or c.get('mix') or c.get('pipeline') or ''))})"
        for c in result["spec"]["candidates"]
    )
    esets = ", ".join(f"{e(x)} (weight {b['weight']:g})" for x, b in result["eval_sets"].items())
    return (
        f"<p>Compared: {cands}; reference {e(result['reference'])}. Scored on {e(result['metric'])} of each run's "
        f"{e(result.get('figure', 'final'))} eval on the eval sets {esets}; {seeds_text(result)}, alpha "
        f"{result['alpha']}, {e(TEST_NAMES[result['test']])}.</p>"
    )


def write_report(result: dict, path: Path) -> None:
    """report.html: verdicts, each candidate against the reference, what each trained on, the loss curves, the
    differences per eval set and domain, then seeds on demand, scales, leakage, seed spread and the runs."""
    title = f"compare: {result['spec'].get('name') or Path(result['spec']['path']).stem}"
    warnings = "".join(f"<p class='warn'>{e(g['text'])}.</p>" for g in result["identical"])
    warnings += "".join(
        f"<p class='warn'>{e(name)}: {e(c['data']['leakage_text'])}; see Leakage below.</p>"
        for name, c in result["candidates"].items()
        if (c.get("data") or {}).get("leakage_text")
    )
    runs = {name: c["runs"] for name, c in result["candidates"].items()}
    parts = [
        f"<h1>{e(title)}</h1>",
        _compared(result),
        warnings,
        verdicts(result),
        standing(result),
        trained_on(result),
        curves(result, runs),
        differences(result),
        *_sequential(result),
        *_scales(result),
        *_leakage(result),
        *_spread(result),
        _runs(result),
    ]
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n"
    )
    path.write_text(html, encoding="utf-8")
