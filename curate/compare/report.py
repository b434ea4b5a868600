"""report.html: the human side of a comparison, for the person deciding which data to train on.

It opens with the verdicts: one row per test of the Holm family (the target and every eval set, each pair of
candidates), every significant one first, with the effect, its 95% interval, p, Holm's p and the smallest difference
the run could have detected (MDD), so a significant result on one eval set is never hidden behind "no significant
difference on the target". Then each candidate against the reference, what each candidate trained on (tokens seen,
epochs), the loss curves with their confidence band, the differences per eval set and domain, and the details
(seeds on demand, scales, leakage, seed spread, runs). Every figure comes from comparison.json: nothing is computed
here that `verdicts`, `stats` and `power` did not compute.
"""

from __future__ import annotations

from html import escape as e
from pathlib import Path

from curate.compare.plots import curve_points
from curate.compare.stats import fmt, fmt_p

TEST_NAMES = {"welch": "Welch's t-tests across seeds", "paired": "paired t-tests across seeds (runs paired by seed)"}
MARK = {"better": ("▲", "better"), "worse": ("▼", "worse")}
FEW_POINTS = 5  # fewer eval points a run than this: the report says how to get more

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}td{white-space:nowrap}td.text{text-align:left;white-space:normal}"
    "img{max-width:100%}"
    ".better{color:#1a7f37;font-weight:600}.worse{color:#c62828;font-weight:600}.pooled{color:#666}"
    "tr.sig td{background:#eef8f0}.legend{font-size:.9em;color:#444}.warn{background:#fff4e5;padding:.5em}"
    "section{margin-top:2em}"
)


def _cell(s: dict | None, mark: str | None = None, cls: str = "") -> str:
    """mean ± 95% CI half-width (the mean alone with one seed, when there is no interval), with a ▲/▼ mark."""
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


def _section(key: str, title: str, *body: str) -> str:
    return f'<section id="{key}"><h2>{e(title)}</h2>\n' + "\n".join(b for b in body if b) + "\n</section>"


def tested_figures(result: dict) -> list[tuple[str, dict]]:
    """(figure, block) of every figure in the Holm family: the target, then each eval set when there are several
    (one eval set is the target, so its tests are counted once)."""
    figures = [("target", result)]
    if len(result["eval_sets"]) > 1:
        figures += list(result["eval_sets"].items())
    return figures


def family_pairs(result: dict) -> list[dict]:
    """Every test of the family, the significant ones first (by Holm's p), then the rest in figure order."""
    pairs = [p for _, block in tested_figures(result) for p in block["pairwise"]]
    significant = sorted((p for p in pairs if p["significant"]), key=lambda p: p["p_holm"] or 0.0)
    return significant + [p for p in pairs if not p["significant"]]


def _figure_name(result: dict, metric: str) -> str:
    if metric != "target" and metric in result["eval_sets"] and len(result["eval_sets"]) > 1:
        return f"eval set {metric}"
    sets = list(result["eval_sets"])
    return "target" if len(sets) > 1 else f"target (= eval set {sets[0]})"


def _verdict_row(result: dict, p: dict) -> str:
    a, b = p["a"], p["b"]
    ci = p["diff_ci95"]
    if p["significant"]:
        verdict = f"{a} better"
        if p.get("look"):
            verdict += f" (decided at look {p['look']})"
    elif p["p_value"] is None:
        verdict = "no test (one seed)"
    else:
        verdict = "no significant difference"
    if p.get("identical"):
        verdict += "; identical data"
    cells = [
        _figure_name(result, p["metric"]),
        f"{a} vs {b}",
        verdict,
        f"{a} lower by {fmt(p['diff_mean'])}",
        "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]",
        fmt_p(p["p_value"]),
        fmt_p(p.get("p_holm")),
        fmt(p["mdd"]),
    ]
    cls = ' class="sig"' if p["significant"] else ""
    tds = "".join(f'<td class="text">{e(c)}</td>' if k < 3 else f"<td>{e(c)}</td>" for k, c in enumerate(cells))
    return f"<tr{cls}>{tds}</tr>"


def headline(result: dict) -> str:
    """One paragraph: how many tests were significant and which, then the target's own summary."""
    pairs = family_pairs(result)
    sig = [p for p in pairs if p["significant"]]
    fam = result["family"]
    if sig:
        named = "; ".join(f"{p['a']} better than {p['b']} {_on(p['metric'])}" for p in sig)
        first = f"{len(sig)} of {len(pairs)} tests significant at alpha {result['alpha']} after Holm's correction: "
        first += named + "."
    else:
        first = f"None of the {len(pairs)} tests is significant at alpha {result['alpha']} after Holm's correction."
    mdds = [p["mdd"] for p in pairs if not p["significant"] and p["mdd"] is not None]
    if mdds:
        first += (
            f" Where no difference was found, the run could have detected true differences of "
            f"{min(mdds):.4f}–{max(mdds):.4f} bpb (MDD at {fam['power']:.0%} power), not smaller ones."
        )
    return f"<p><b>{e(first)}</b></p><p>Target: {e(result['summary'])}.</p>"


def _on(metric: str) -> str:
    return "on the target" if metric == "target" else f"on {metric}"


def verdicts(result: dict) -> str:
    """The first section: the headline, the table of every test, every significant verdict in words, the legend."""
    rows = [_verdict_row(result, p) for p in family_pairs(result)]
    header = ["figure", "compared (a vs b)", "verdict", "effect (bpb)", "95% CI of b − a", "p", "p (Holm)"]
    header.append(f"MDD ({result['family']['power']:.0%} power)")
    significant = [p["verdict"] for p in family_pairs(result) if p["significant"]]
    sentences = "<ul>" + "".join(f"<li>{e(v)}</li>" for v in significant) + "</ul>" if significant else ""
    fam = result["family"]
    per_test = fam["alpha_per_test"]
    spent = fam.get("level", fam["alpha"])  # sequential seeds: what the last look spent
    level = "—" if per_test is None else f"{spent:.4g} / {fam['tests']} = {per_test:.4g}"
    tests = "The one test is" if fam["tests"] == 1 else f"The {fam['tests']} tests are"
    legend = (
        f"One row per test: {e(TEST_NAMES[result['test']])} of the final {e(result['metric'])}, {_seeds(result)}; "
        f"a is the candidate with the lower mean on that figure, effect = mean(b) − mean(a). "
        f"{tests} one family ({e(fam['correction'])}); a row is significant when Holm's p is below alpha "
        f"{result['alpha']}. MDD = (t<sub>1−α′/2, df</sub> + t<sub>{fam['power']:.2f}, df</sub>) × SE: the "
        f"smallest true difference the test had {fam['power']:.0%} power to detect at α′ = {e(level)}, the level "
        "Holm's family starts from (so a conservative figure); Welch: SE and df from Welch–Satterthwaite, paired: "
        "from the per-seed differences. A non-significant row says no difference larger than its MDD was there to "
        "see, not that there is none."
    )
    return _section(
        "verdicts",
        "Verdicts",
        headline(result),
        _table(header, rows),
        sentences,
        f"<p class='legend'>{legend}</p>",
    )


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
        cells = [_cell(cand["eval_sets"][x], marks.get(x)) for x in esets]
        cells += [_cell(cand["target"], marks.get("target")), _cell(cand["pooled"], cls="pooled")]
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
    return _section(
        "standing",
        f"Each candidate against the reference ({ref})",
        _table(header, rows),
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
            _num(s.get("tokens_seen")),
            _num(s.get("candidate_tokens")),
            f'<td class="{"worse" if repeat else ""}">{_num(epochs, 2)}</td>',
            _num(s.get("documents_seen")),
            _num(s.get("distinct_documents")),
            _num(s.get("candidate_documents")),
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
            f"<td>{_num(block.get('bytes'))}</td><td>{_num(c.get('documents_used'))} / {_num(c.get('documents_total'))}"
            f"</td><td>{_num(c.get('tokens_used'))} / {_num(c.get('tokens_total'))}</td>"
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
    return _section(
        "trained-on",
        "What each candidate trained on",
        f"<p class='legend'>{e(note)}</p>",
        _table([*header, "candidate documents", "identical data to"], rows),
        "<p class='legend'>What each eval set contributed (scored once per eval point):</p>",
        _table(
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
    return _section(
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
        cells = "".join(_cell(cand["domains"].get(d)) for d in result["domains"])
        rows.append(f"<tr><td>{e(r['candidate'])}</td>{cells}</tr>")
    table = ""
    if result["domains"]:
        table = "<p class='legend'>bpb per domain within the eval sets: mean ± 95% CI half-width.</p>" + _table(
            ["candidate", *result["domains"]], rows
        )
    return _section(
        "differences",
        "Differences per eval set and domain",
        f"<p class='legend'>{text}</p>",
        '<img src="domain_bpb.png" alt="difference from the reference per figure, with 95% intervals">',
        table,
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
    return _section(
        "runs", "Runs", _table(["candidate", "seed", "target", *esets, "pooled", "reused", "run (metrics)"], rows)
    )


def _seeds(result: dict) -> str:
    seq = result.get("sequential")
    if not seq:
        return f"{len(result['seeds'])} seeds per candidate ({e(str(result['seeds']))})"
    return f"{min(seq['runs'].values())}–{max(seq['runs'].values())} seeds per candidate (added on demand)"


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
        f"{e(result.get('figure', 'final'))} eval on the eval sets {esets}; {_seeds(result)}, alpha "
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
