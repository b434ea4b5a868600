"""report.html: a one-page, self-contained view of a finished run, opened instead of the logs to decide whether the
filters did the right thing.

Counts come from stats.json (the conservation-checked funnel); the Parquet outputs give what stats.json cannot:
example texts per drop reason and kept examples (curate.report_data), the filter values near each threshold
(curate.report_thresholds), languages, tokens per domain, per-input-file counts and document lengths. Only the
needed columns are read, because documents/ and rejected/ can be large. Charts are PNGs under RUN_DIR/report/,
linked relatively so the folder can be copied or served as is; the pipeline is shown as run.json recorded it.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import yaml

from curate import report_charts as charts
from curate import report_data as data
from curate import report_html as html
from curate.report_thresholds import panels, what_if
from curate.runfolder import atomic_write_text

SECTIONS = [
    ("funnel", "Funnel"),
    ("reasons", "Drop reasons"),
    ("kept", "Kept examples"),
    ("thresholds", "Filter thresholds"),
    ("languages", "Languages"),
    ("domains", "Domains"),
    ("inputs", "Input files"),
    ("lengths", "Document length"),
    ("pipeline", "Pipeline as run"),
]


def _img(name: str, alt: str) -> str:
    return f'<img src="report/{name}" alt="{escape(alt)}">'


def _thresholds(run_dir: Path, stats: dict, spec: dict, out: Path) -> list[str]:
    """Per filter stage whose values the run stored: a chart of the checks that matter here, and a what-if table of
    every check. A check matters when it dropped documents or a limit 10% stricter or looser would change a verdict;
    the others stay in the table only (drawing a dozen empty histograms per run costs seconds and hides the rest)."""
    names = [s["stage"] for s in stats["stages"]]
    language = "language" if "language" in names else None
    found = panels(spec, data.stage_values(run_dir, names, language))
    if not found:
        return ["<p>No filter values stored (no language or quality filter stage, or a run from before they were).</p>"]
    parts = [
        "<p>Each chart shows one value a filter compares with a limit, for every document that reached the stage:"
        " passed (blue), dropped by this check (red), dropped by another check of the stage (grey). Only checks"
        " that dropped something, or would with a limit 10% stricter or looser, are drawn; the table below each"
        " stage lists every check and what moving its limit by 10% would change.</p>"
    ]
    for stage in dict.fromkeys(p.stage for p in found):
        rows = {id(p): what_if(p) for p in found if p.stage == stage}
        active = [p for p in found if id(p) in rows and any(_changes(r) for r in rows[id(p)])]
        parts.append(f"<h3>{escape(stage)}</h3>")
        if active:
            name = f"thresholds-{stage}.png"
            charts.threshold_chart(stage, active, out / name)
            parts.append(_img(name, f"{stage} filter values and limits"))
        else:
            parts.append("<p>No document near any limit: no check dropped one, none would at ±10%.</p>")
        parts.append(html.what_if_table([row for found_rows in rows.values() for row in found_rows]))
    return parts


def _changes(row: dict) -> bool:
    return bool(row["dropped_here"] or row["more_dropped"] or row["fewer_dropped"])


def _pipeline(run_dir: Path, stats: dict) -> tuple[dict, str]:
    """The spec the run used (run.json) as YAML text, and where it came from."""
    run_json = run_dir / "run.json"
    if run_json.exists():
        spec = json.loads(run_json.read_text()).get("spec") or {}
        if spec:
            text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
            return spec, html.pipeline_yaml(text, f"run.json (from {stats.get('pipeline')}; omitted keys: defaults)")
    return {}, "<p>No run.json in this folder (not a `curate run` output).</p>"


def write_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.html and its charts under RUN_DIR/report/; return the HTML path."""
    run_dir = Path(run_dir)
    stats = json.loads((run_dir / "stats.json").read_text())
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.png"):  # a rerun must not leave a stale chart behind
        old.unlink()
    names = [s["stage"] for s in stats["stages"]]
    spec, pipeline = _pipeline(run_dir, stats)

    charts.funnel_chart(stats, out / "funnel.png")
    parts = [html.header(stats), html.nav(SECTIONS)]
    parts += ['<h2 id="funnel">Funnel</h2>', _img("funnel.png", "funnel"), html.stage_table(stats)]
    parts += [
        '<h2 id="reasons">Drop reasons</h2>',
        "<p>Shares are of the records that reached the stage (its input), then of all input records.</p>",
        html.reasons_table(stats, data.rejected_examples(run_dir / "rejected")),
    ]
    parts += ['<h2 id="kept">Kept examples</h2>', html.kept_section(data.kept_examples(run_dir / "documents"))]
    parts += ['<h2 id="thresholds">Filter thresholds</h2>', *_thresholds(run_dir, stats, spec, out)]

    language_stages = names[names.index("language") :] if "language" in names else []
    kept_languages, rejected_languages = data.languages(run_dir, language_stages)
    parts.append('<h2 id="languages">Languages</h2>')
    if kept_languages or rejected_languages:
        charts.language_chart(kept_languages, rejected_languages, out / "languages.png")
        parts += [_img("languages.png", "language distribution"), html.table_note("every language, small ones too:")]
        parts.append(html.language_table(kept_languages, rejected_languages))
    else:
        parts.append("<p>No language information (nothing kept or language-identified).</p>")

    parts.append('<h2 id="domains">Domains</h2>')
    tokens = data.tokens_per_domain(run_dir / "tokens")
    domains = tokens or {k: (v, v) for k, v in (stats.get("domains") or {}).items()}
    if domains:
        charts.domain_chart(domains, out / "domains.png", tokens=bool(tokens))
        parts += [_img("domains.png", "domain distribution"), html.domain_table(domains, tokens=bool(tokens))]
    else:
        parts.append("<p>No domain tags (the pipeline has no `domains` stage).</p>")

    parts += [
        '<h2 id="inputs">Input files</h2>',
        html.source_table(data.per_source(run_dir, stats.get("inputs") or [])),
    ]
    parts.append(html.extra_tables(stats))
    parts.append('<h2 id="lengths">Document length</h2>')
    lengths = data.document_lengths(run_dir / "documents")
    if len(lengths):
        charts.length_chart(lengths, out / "lengths.png")
        parts.append(_img("lengths.png", "document length histogram"))
    else:
        parts.append("<p>No documents kept.</p>")
    parts += ['<h2 id="pipeline">Pipeline as run</h2>', pipeline]

    title = escape(f"curate report: {stats.get('name')}")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{html.STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    return atomic_write_text(run_dir / "report.html", page)
