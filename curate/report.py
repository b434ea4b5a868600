"""report.html: a one-page, self-contained view of a finished run, for deciding whether the filters did the right thing.

Counts come from stats.json (the conservation-checked funnel); the Parquet outputs are read only for what stats.json
cannot give: example URLs per drop reason, languages and document lengths. Only the needed columns are read, because
documents/ and rejected/ can be large. Charts are PNGs under RUN_DIR/report/, linked relatively so the folder can be
copied or served as is.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from matplotlib.ticker import FuncFormatter, MaxNLocator

from curate.charts import figure, save
from curate.runfolder import atomic_write_text

DPI = 110
EXAMPLES = 3
TOP_LANGUAGES = 20

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.banner { padding: 0.6em 1em; border-radius: 4px; font-weight: bold; color: #fff; }
.ok { background: #2e7d32; } .lost { background: #c62828; }
.detail { color: #666; font-size: 0.85em; }
a { word-break: break-all; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _read(path: Path, columns: list[str]) -> pa.Table:
    """Only `columns` that the file has, so a large text column is never loaded by accident."""
    names = pq.read_schema(path).names
    return pq.read_table(path, columns=[c for c in columns if c in names])


def _value_counts(column: pa.ChunkedArray) -> Counter:
    return Counter({str(v["values"]): v["counts"] for v in pc.value_counts(column).to_pylist()})


def _document_lengths(folder: Path) -> np.ndarray:
    """Character length of each kept document, computed file by file in Arrow to bound memory."""
    parts = [
        pc.utf8_length(_read(p, ["text"]).column("text")).to_numpy(zero_copy_only=False) for p in _parquet_files(folder)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _kept_languages(folder: Path) -> Counter:
    counts: Counter = Counter()
    for path in _parquet_files(folder):
        table = _read(path, ["language"])
        if "language" in table.column_names:
            counts.update(_value_counts(pc.fill_null(table.column("language"), "(none)")))
    return counts


def _scan_rejected(folder: Path, language_stages: list[str]) -> tuple[dict[tuple[str, str], list[dict]], Counter]:
    """First EXAMPLES distinct URLs per (stage, reason); languages of rows rejected at/after language ID.

    Works in Arrow, reading url/detail only for the few rows shown, since rejected/ can hold most of a crawl.
    """
    examples: dict[tuple[str, str], list[dict]] = {}
    languages: Counter = Counter()
    for path in _parquet_files(folder):
        table = _read(path, ["stage", "reason", "language"])
        if not {"stage", "reason"} <= set(table.column_names):
            continue
        if language_stages and "language" in table.column_names:
            mask = pc.is_in(table.column("stage"), value_set=pa.array(language_stages))
            languages.update(_value_counts(pc.drop_null(pc.filter(table.column("language"), mask))))
        details = None
        for pair in table.group_by(["stage", "reason"]).aggregate([]).to_pylist():
            rows = examples.setdefault((pair["stage"], pair["reason"]), [])
            if len(rows) >= EXAMPLES:
                continue
            if details is None:
                details = _read(path, ["url", "detail"])
            mask = pc.and_(
                pc.equal(table.column("stage"), pair["stage"]), pc.equal(table.column("reason"), pair["reason"])
            )
            for row in details.filter(mask).slice(0, 10 * EXAMPLES).to_pylist():
                # distinct URLs: a WARC request and its metadata record share one
                if len(rows) < EXAMPLES and all(r["url"] != row.get("url") for r in rows):
                    rows.append({"url": row.get("url"), "detail": row.get("detail")})
    return examples, languages


def _save(fig, path: Path) -> None:
    save(fig, path, DPI)


def _funnel_chart(stats: dict, path: Path) -> None:
    """Records remaining after each stage, top to bottom, so the biggest drops stand out."""
    labels = ["input"] + [s["stage"] for s in stats["stages"]]
    values = [stats["input_records"]] + [s["out"] for s in stats["stages"]]
    fig, ax = figure(8, 0.45 * len(labels) + 1.2)
    bars = ax.barh(labels, values, color="#4c78a8")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("records remaining after stage")
    ax.set_xlim(0, max(values + [1]) * 1.12)
    ax.set_title("Funnel")
    _save(fig, path)


def _language_chart(kept: Counter, rejected: Counter, path: Path) -> None:
    """Kept vs. rejected-after-language-ID per language: shows which languages the later filters hit hardest."""
    top = [lang for lang, _ in (kept + rejected).most_common(TOP_LANGUAGES)]
    y = np.arange(len(top))
    fig, ax = figure(8, 0.32 * len(top) + 1.5)
    ax.barh(y, [kept[lang] for lang in top], color="#4c78a8", label="kept")
    if rejected:
        left = [kept[lang] for lang in top]
        ax.barh(y, [rejected[lang] for lang in top], left=left, color="#e45756", label="rejected at/after language")
        ax.legend(loc="lower right")
    ax.set_yticks(y, top)
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title(f"Languages (top {len(top)})")
    _save(fig, path)


def _domain_chart(domains: dict[str, int], path: Path) -> None:
    """Kept documents per domain: the raw material a mix is weighted from."""
    items = sorted(domains.items(), key=lambda kv: -kv[1])
    fig, ax = figure(8, 0.4 * len(items) + 1.2)
    bars = ax.barh([k for k, _ in items], [v for _, v in items], color="#72b7b2")
    ax.bar_label(bars, labels=[f"{v:,}" for _, v in items], padding=3, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max([v for _, v in items] + [1]) * 1.15)
    ax.set_xlabel("kept documents")
    ax.set_title("Domains")
    _save(fig, path)


def _extra_tables(stats: dict) -> str:
    """PII replacements per type and the dedup decision counts, when the pipeline had those stages."""
    parts = []
    if stats.get("pii_replacements"):
        rows = [[escape(k), f"{v:,}"] for k, v in sorted(stats["pii_replacements"].items())]
        parts += ["<h2>PII replaced</h2>", _table(["type", "replacements"], rows)]
    if stats.get("dedup"):
        rows = [[escape(k), f"{v:,}"] for k, v in stats["dedup"].items()]
        parts += ["<h2>Dedup</h2>", _table(["", "documents"], rows)]
    return "\n".join(parts)


def _length_chart(lengths: np.ndarray, path: Path) -> None:
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
    _save(fig, path)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Cells are pre-rendered HTML; numeric-looking cells are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if _numeric(c) else f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").replace("%", "").lstrip("-").isdigit()


def _link(url: str | None) -> str:
    if not url:
        return "(no url)"
    safe = escape(url)
    return f'<a href="{safe}" rel="nofollow noreferrer">{safe}</a>' if url.startswith(("http://", "https://")) else safe


def _header(stats: dict) -> str:
    seconds = stats.get("seconds") or 0
    rate = f"{stats['input_records'] / seconds:,.1f}" if seconds else "n/a"
    if stats.get("conserved") and not stats.get("problems"):
        banner = '<p class="banner ok">conserved: every input byte and record is kept or rejected with a reason</p>'
    else:
        items = "".join(f"<li>{escape(p)}</li>" for p in stats.get("problems") or ["(no problems listed)"])
        banner = f'<div class="banner lost">RECORDS LOST<ul>{items}</ul></div>'
    return (
        f"<h1>curate run: {escape(str(stats.get('name')))}</h1>"
        f"<p>pipeline <code>{escape(str(stats.get('pipeline')))}</code>"
        f" &middot; {len(stats.get('inputs') or [])} inputs"
        f" &middot; {stats.get('workers')} workers, {stats.get('tasks')} tasks &middot; {seconds:,.1f} s wall"
        f" &middot; {rate} records/s</p>"
        f"<p><b>input_records {stats['input_records']:,} = kept {stats['kept']:,}"
        f" + rejected {stats['rejected']:,}</b></p>{_bytes_line(stats)}{banner}"
        f"<p>word splitter: {escape(str(stats.get('word_splitter') or 'n/a (no word-based filters)'))}</p>"
    )


def _bytes_line(stats: dict) -> str:
    """Where the input bytes went (the byte ledger); skipped ranges named by reason, in a colour that says so."""
    section = stats.get("bytes")
    if not section:
        return ""
    skipped = ", ".join(f"{escape(k)} {v:,}" for k, v in section["skipped_by_reason"].items())
    unread = f" + not read (--limit) {section['unread']:,}" if section.get("unread") else ""
    line = (
        f"<b>input bytes {section['input']:,} = in records {section['in_records']:,}"
        f" + skipped {section['skipped']:,}{unread}</b>" + (f" (skipped: {skipped})" if skipped else "")
    )
    css = "ok" if section["accounted"] and not section["skipped"] else "lost"
    return f'<p class="banner {css}">{line}</p>'


def _stage_table(stats: dict) -> str:
    rows = [
        [
            escape(s["stage"]),
            f"{s['in']:,}",
            f"{s['out']:,}",
            f"{sum(s['dropped'].values()):,}",
            f"{s['seconds']:.1f}",
        ]
        for s in stats["stages"]
    ]
    return _table(["stage", "in", "out", "dropped", "seconds (summed over tasks)"], rows)


def _reasons_table(stats: dict, examples: dict[tuple[str, str], list[dict]]) -> str:
    total = stats["input_records"] or 1
    rows = []
    for s in stats["stages"]:
        for reason, count in sorted(s["dropped"].items(), key=lambda kv: -kv[1]):
            found = examples.get((s["stage"], reason), [])
            links = "<br>".join(_link(e["url"]) for e in found) or "(no rows on disk)"
            if found and found[0]["detail"]:
                links += f'<div class="detail">detail: {escape(str(found[0]["detail"]))}</div>'
            rows.append([escape(s["stage"]), escape(reason), f"{count:,}", f"{100 * count / total:.1f}%", links])
    if not rows:
        return "<p>Nothing dropped.</p>"
    return _table(["stage", "reason", "count", "share of input", "examples"], rows)


def write_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report.html and its charts under RUN_DIR/report/; return the HTML path."""
    run_dir = Path(run_dir)
    stats = json.loads((run_dir / "stats.json").read_text())
    charts = run_dir / "report"
    charts.mkdir(exist_ok=True)
    for old in charts.glob("*.png"):  # a rerun must not leave a stale chart behind
        old.unlink()

    names = [s["stage"] for s in stats["stages"]]
    language_stages = names[names.index("language") :] if "language" in names else []
    examples, rejected_languages = _scan_rejected(run_dir / "rejected", language_stages)
    kept_languages = _kept_languages(run_dir / "documents")
    lengths = _document_lengths(run_dir / "documents")

    _funnel_chart(stats, charts / "funnel.png")
    parts = [_header(stats), "<h2>Funnel</h2>", '<img src="report/funnel.png" alt="funnel">', _stage_table(stats)]
    parts += ["<h2>Drop reasons</h2>", _reasons_table(stats, examples), "<h2>Languages</h2>"]
    if kept_languages or rejected_languages:
        _language_chart(kept_languages, rejected_languages, charts / "languages.png")
        parts.append('<img src="report/languages.png" alt="language distribution">')
    else:
        parts.append("<p>No language information (nothing kept or language-identified).</p>")
    if stats.get("domains"):
        _domain_chart(stats["domains"], charts / "domains.png")
        parts += ["<h2>Domains</h2>", '<img src="report/domains.png" alt="domain distribution">']
    parts.append(_extra_tables(stats))
    parts.append("<h2>Document length</h2>")
    if len(lengths):
        _length_chart(lengths, charts / "lengths.png")
        parts.append('<img src="report/lengths.png" alt="document length histogram">')
    else:
        parts.append("<p>No documents kept.</p>")

    title = escape(f"curate report: {stats.get('name')}")
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    return atomic_write_text(run_dir / "report.html", html)
