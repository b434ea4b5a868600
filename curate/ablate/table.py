"""The ablation table: per stage left out, what it removes and what removing it does to each eval set and the target.

effect = bpb(recipe without the stage) − bpb(recipe), from `curate compare`'s test of that pair (reference = the
recipe, `pairs: reference`, so the Holm family is (eval sets + target) × stages): above 0 the stage helps (leaving it
out raises the bits per byte), below 0 it hurts; the verdict is "helps" / "hurts" only when the test is significant,
otherwise "no evidence" with the minimal detectable difference the run had.
"""

from __future__ import annotations

from html import escape as e
from pathlib import Path

from curate.ablate.select import Candidate, Pass
from curate.compare.stats import fmt, fmt_p

FORMAT = "curate-ablate/1"
TARGET = "target"


def _pair(block: dict, a: str, b: str) -> dict | None:
    return next((p for p in block["pairwise"] if {p["a"], p["b"]} == {a, b}), None)


def _effect(pair: dict | None, reference: str) -> dict:
    """A pair's test as the effect of the stage: bpb(without) − bpb(recipe), its 95% CI and the verdict."""
    if pair is None or pair["p_value"] is None:
        return {"effect": None, "ci95": None, "p_holm": None, "mdd": None, "verdict": "no test (one seed)"}
    sign = 1.0 if pair["a"] == reference else -1.0
    bounds = pair["diff_ci95"]
    ci = None if bounds is None else sorted([sign * bounds[0], sign * bounds[1]])
    effect = sign * pair["diff_mean"]
    if pair["significant"]:
        verdict = "helps" if effect > 0 else "hurts"
    else:
        verdict = "no evidence" + (f" (MDD {fmt(pair['mdd'], 3)})" if pair["mdd"] is not None else "")
    return {"effect": effect, "ci95": ci, "p_holm": pair["p_holm"], "mdd": pair["mdd"], "verdict": verdict}


def _removes(p: Pass, cand: Candidate, recipe: Candidate) -> dict:
    extra = cand.mask & ~recipe.mask
    n = int(cand.mask.sum())
    return {"documents": int(extra.sum()), "share": float(extra.sum() / n) if n else 0.0, "of": n}


def _flags(p: Pass, stage: str | None) -> int | None:
    """Documents of the pass the stage fails (a filter) or changes (a transform); None for dedup and raw."""
    if stage is None:
        return None
    failed = sum(stage in v for v in p.verdicts)
    changed = sum(stage in c for c in p.changed)
    return failed or changed


def cand_transforms(candidates: list[Candidate]) -> set[str]:
    """The text transforms of the recipe (the first candidate keeps them all)."""
    return set(candidates[0].transforms)


def ablation_table(result: dict, candidates: list[Candidate], counts: dict[str, dict], p: Pass) -> dict:
    """ablation.json: one row per candidate other than the recipe, in the order they were asked for."""
    recipe = candidates[0]
    figures = [TARGET, *result["eval_sets"]]
    rows = []
    for cand in candidates[1:]:
        blocks = {TARGET: result, **result["eval_sets"]}
        effects = {f: _effect(_pair(blocks[f], recipe.name, cand.name), recipe.name) for f in figures}
        same = counts[cand.name].get("same_as") == recipe.name
        what = f"leaving out {cand.removed}" if cand.removed else "no filter, dedup or transform (raw)"
        row = {
            "candidate": cand.name,
            "stage": cand.removed,
            "flags": _flags(p, cand.removed),
            "removes": _removes(p, cand, recipe),
            "tokens": counts[cand.name]["tokens"],
            "same_as_recipe": same,
            "rewrites": cand.removed in cand_transforms(candidates),  # a text transform: flags = documents changed
            "effects": effects,
            "verdict": f"no evidence: {'changes' if cand.removed in cand_transforms(candidates) else 'removes'} "
            "nothing (the recipe's data, not trained again)"
            if same
            else effects[TARGET]["verdict"],
        }
        t = effects[TARGET]
        effect = "" if t["effect"] is None else f", target bpb {t['effect']:+.4f} when left out"
        if cand.removed in cand_transforms(candidates):  # a text transform removes nothing: it rewrites
            did = f"rewrites {row['flags'] or 0} documents"
        else:
            did = f"removes {row['removes']['documents']} documents ({row['removes']['share']:.1%} of {cand.name}'s)"
        row["text"] = f"{cand.removed or 'the whole recipe'}: {did}{effect}: {row['verdict']} ({what})"
        rows.append(row)
    return {
        "format": FORMAT,
        "reference": recipe.name,
        "effect": "bpb(candidate) − bpb(recipe): > 0 means the stage left out helps",
        "figures": figures,
        "alpha": result["alpha"],
        "seeds": result["seeds"],
        "recipe": {"documents": int(recipe.mask.sum()), "tokens": counts[recipe.name]["tokens"]},
        "pass": {"documents": len(p)},
        "rows": rows,
        "compare": "compare/comparison.json",
    }


def _cell(effect: dict) -> str:
    if effect["effect"] is None:
        return "<td>—</td>"
    lo, hi = effect["ci95"] or (None, None)
    cls = {"helps": "better", "hurts": "worse"}.get(effect["verdict"], "")
    return (
        f"<td class='{cls}'>{effect['effect']:+.4f}<br><small>[{fmt(lo)}, {fmt(hi)}] p {e(fmt_p(effect['p_holm']))}"
        f"<br>{e(effect['verdict'])}</small></td>"
    )


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right;vertical-align:top}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}.better{color:#1a7f37}.worse{color:#c62828}"
)


def write_report(table: dict, result: dict, path: Path) -> None:
    """report.html: the ablation table first, then how to read it and a link to the comparison's own report."""
    figures = table["figures"]
    head = ["stage left out", "documents it removes (share)", *[f"effect on {f}" for f in figures], "verdict"]
    rows = []
    for row in table["rows"]:
        removes = row["removes"]
        what = f"{removes['documents']} ({removes['share']:.1%})"
        if row["rewrites"]:
            what = f"none; rewrites {row['flags'] or 0}"
        rows.append(
            f"<tr><td>{e(row['stage'] or 'all (raw)')}</td><td>{what}</td>"
            + "".join(_cell(row["effects"][f]) for f in figures)
            + f"<td>{e(row['verdict'])}</td></tr>"
        )
    recipe = table["recipe"]
    html = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>ablation</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>Ablation: {e(result['spec'].get('name') or 'recipe')}</h1>\n"
        f"<p>{table['pass']['documents']} documents with text in one pass; the recipe keeps {recipe['documents']} "
        f"({recipe['tokens']:,} tokens). Each row is the recipe with one stage left out, trained with the same proxy "
        f"({len(table['seeds'])} seeds, alpha {table['alpha']}). Effect = bpb without the stage − bpb of the recipe "
        "(95% CI, Holm-adjusted p): above 0 the stage helps.</p>\n"
        "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>\n"
        f"<p><b>{e(result['summary'])}</b></p>\n"
        '<p>The comparison itself: <a href="compare/report.html">compare/report.html</a>.</p>\n</body></html>\n'
    )
    path.write_text(html, encoding="utf-8")
