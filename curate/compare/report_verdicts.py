"""The compare report's first section: one row per test of the Holm family (the target and every eval set, each
pair of candidates), every significant one first, so a significant result on one eval set is never hidden behind
"no significant difference on the target"; the headline, the verdicts in words and the legend."""

from __future__ import annotations

from html import escape as e

from curate.compare.html import TEST_NAMES, section, seeds_text, table
from curate.compare.stats import fmt, fmt_p
from curate.compare.verdicts import on_figure


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


def figure_name(result: dict, metric: str) -> str:
    if metric != "target" and metric in result["eval_sets"] and len(result["eval_sets"]) > 1:
        return f"eval set {metric}"
    sets = list(result["eval_sets"])
    return "target" if len(sets) > 1 else f"target (= eval set {sets[0]})"


def verdict_row(result: dict, p: dict) -> str:
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
        figure_name(result, p["metric"]),
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
        named = "; ".join(f"{p['a']} better than {p['b']} {on_figure(p['metric'])}" for p in sig)
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


def verdicts(result: dict) -> str:
    """The first section: the headline, the table of every test, every significant verdict in words, the legend."""
    rows = [verdict_row(result, p) for p in family_pairs(result)]
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
        f"One row per test: {e(TEST_NAMES[result['test']])} of the final {e(result['metric'])}, {seeds_text(result)}; "
        f"a is the candidate with the lower mean on that figure, effect = mean(b) − mean(a). "
        f"{tests} one family ({e(fam['correction'])}); a row is significant when Holm's p is below alpha "
        f"{result['alpha']}. MDD = (t<sub>1−α′/2, df</sub> + t<sub>{fam['power']:.2f}, df</sub>) × SE: the "
        f"smallest true difference the test had {fam['power']:.0%} power to detect at α′ = {e(level)}, the level "
        "Holm's family starts from (so a conservative figure); Welch: SE and df from Welch–Satterthwaite, paired: "
        "from the per-seed differences. A non-significant row says no difference larger than its MDD was there to "
        "see, not that there is none."
    )
    return section(
        "verdicts",
        "Verdicts",
        headline(result),
        table(header, rows),
        sentences,
        f"<p class='legend'>{legend}</p>",
    )
