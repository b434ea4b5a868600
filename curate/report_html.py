"""The run report's HTML pieces: tables and sections rendered from plain data, every value from the web escaped."""

from __future__ import annotations

from collections import Counter
from html import escape

from curate.report_data import SourceCounts, excerpt

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { background: #f3f3f3; }
.banner { padding: 0.6em 1em; border-radius: 4px; font-weight: bold; color: #fff; }
.ok { background: #2e7d32; } .lost { background: #c62828; }
.detail, .meta { color: #666; font-size: 0.85em; }
.example { margin: 0 0 0.6em 0; }
.excerpt { margin: 0.2em 0 0 0; padding: 0.2em 0.5em; border-left: 3px solid #ddd; background: #fafafa;
           font-size: 0.85em; white-space: pre-wrap; overflow-wrap: anywhere; }
a, .url { word-break: break-all; }
img { max-width: 100%; border: 1px solid #eee; }
nav { font-size: 0.9em; } nav a { margin-right: 0.8em; }
pre.yaml { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Cells are pre-rendered HTML; numeric-looking cells are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if _numeric(c) else f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").replace("%", "").lstrip("-").isdigit()


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def link(url: str | None) -> str:
    """A URL as text (the example itself is in the report); a link beside it only for http(s)."""
    if not url:
        return "(no url)"
    safe = escape(url)
    if url.startswith(("http://", "https://")):
        return f'<a class="url" href="{safe}" rel="nofollow noreferrer">{safe}</a>'
    return f'<span class="url">{safe}</span>'


def header(stats: dict) -> str:
    seconds = stats.get("seconds") or 0
    rate = f"{stats['input_records'] / seconds:,.1f}" if seconds else "n/a"
    if stats.get("conserved") and not stats.get("problems"):
        banner = '<p class="banner ok">conserved: every input byte and record is kept or rejected with a reason</p>'
    else:
        items = "".join(f"<li>{escape(p)}</li>" for p in stats.get("problems") or ["(no problems listed)"])
        banner = f'<div class="banner lost">RECORDS LOST<ul>{items}</ul></div>'
    tokens = stats.get("tokens")
    token_line = f" &middot; {tokens['tokens']:,} tokens in {tokens['documents']:,} documents" if tokens else ""
    return (
        f"<h1>curate run: {escape(str(stats.get('name')))}</h1>"
        f"<p>pipeline <code>{escape(str(stats.get('pipeline')))}</code>"
        f" &middot; {len(stats.get('inputs') or [])} inputs"
        f" &middot; {stats.get('workers')} workers, {stats.get('tasks')} tasks &middot; {seconds:,.1f} s wall"
        f" &middot; {rate} records/s{token_line}</p>"
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


def nav(sections: list[tuple[str, str]]) -> str:
    return "<nav>" + "".join(f'<a href="#{anchor}">{escape(title)}</a>' for anchor, title in sections) + "</nav>"


def stage_table(stats: dict) -> str:
    rows = [
        [
            escape(s["stage"]),
            f"{s['in']:,}",
            f"{s['out']:,}",
            f"{sum(s['dropped'].values()):,}",
            percent(sum(s["dropped"].values()), s["in"]),
            f"{s['seconds']:.1f}",
        ]
        for s in stats["stages"]
    ]
    return table(
        ["stage", "in", "out", "dropped", "dropped (share of stage input)", "seconds (summed over tasks)"], rows
    )


def example(row: dict, text_label: str = "text") -> str:
    """One document: URL, where it came from, and the start of its text (or what the record had instead)."""
    meta = [f"from {escape(str(row['source']))}"] if row.get("source") else []
    if row.get("language"):
        score = row.get("language_score")
        meta.append(f"language {escape(row['language'])}" + (f" {score:.2f}" if score is not None else ""))
    if row.get("domain"):
        meta.append(f"domain {escape(row['domain'])}")
    if row.get("detail"):
        meta.append(f"detail: {escape(excerpt(str(row['detail']), 200))}")
    text = excerpt(row.get("text"))
    body = (
        f'<div class="excerpt">{escape(text)}</div>'
        if text
        else f'<div class="excerpt">(no {text_label}: the record never had extracted text)</div>'
    )
    return f'<div class="example">{link(row.get("url"))}<div class="meta">{"; ".join(meta)}</div>{body}</div>'


def reasons_table(stats: dict, examples: dict[tuple[str, str], list[dict]]) -> str:
    """Every drop reason with its count, its share of what reached the stage, and a few of the dropped records."""
    total = stats["input_records"]
    rows = []
    for s in stats["stages"]:
        for reason, count in sorted(s["dropped"].items(), key=lambda kv: -kv[1]):
            found = examples.get((s["stage"], reason), [])
            shown = "".join(example(e) for e in found) or "(no rows on disk)"
            rows.append(
                [
                    escape(s["stage"]),
                    escape(reason),
                    f"{count:,} of {s['in']:,}",
                    percent(count, s["in"]),
                    percent(count, total),
                    shown,
                ]
            )
    if not rows:
        return "<p>Nothing dropped.</p>"
    headers = ["stage", "reason", "dropped of stage input", "share of stage input", "share of all input", "examples"]
    return table(headers, rows)


def kept_section(rows: list[dict]) -> str:
    if not rows:
        return "<p>No documents kept.</p>"
    return "".join(example(r) for r in rows)


def what_if_table(rows: list[dict]) -> str:
    """What moving each limit by the report's step would change, from the values stored for every document."""
    if not rows:
        return ""
    cells = []
    for r in rows:
        cells.append(
            [
                escape(r["reason"]),
                escape(r["param"]),
                _number(r["limit"]),
                f"drop {r['drop']}",
                f"{r['dropped_here']:,} of {r['reached']:,}",
                f"{_number(r['stricter'])}: +{r['more_dropped']:,}",
                f"{_number(r['looser'])}: −{r['fewer_dropped']:,}",
            ]
        )
    headers = [
        "reason",
        "parameter",
        "limit",
        "rule",
        "dropped by it",
        "10% stricter: more dropped",
        "10% looser: fewer dropped here",
    ]
    return table(headers, cells)


def _number(value: float) -> str:
    """A limit as a person writes it: 100,000 and 0.715, not 1e+05 or 0.7150000001."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def language_table(kept: Counter, rejected: Counter) -> str:
    total_kept = sum(kept.values())
    rows = [
        [escape(lang), f"{kept[lang]:,}", percent(kept[lang], total_kept), f"{rejected[lang]:,}"]
        for lang, _ in (kept + rejected).most_common()
    ]
    return table(["language", "kept documents", "share of kept", "rejected at/after language ID"], rows)


def domain_table(domains: dict[str, tuple[int, int]], tokens: bool) -> str:
    total = sum(v[0] for v in domains.values())
    if tokens:
        rows = [
            [escape(d), f"{t:,}", percent(t, total), f"{n:,}", f"{t / n:,.0f}" if n else "n/a"]
            for d, (t, n) in domains.items()
        ]
        return table(["domain", "tokens", "share of tokens", "documents", "tokens per document"], rows)
    rows = [[escape(d), f"{n:,}", percent(n, total)] for d, (n, _) in domains.items()]
    return table(["domain", "documents", "share of documents"], rows)


def source_table(sources: list[SourceCounts]) -> str:
    rows = []
    for s in sources:
        top = ", ".join(f"{escape(k)} {v:,}" for k, v in s.reasons.most_common(3))
        rows.append(
            [
                f'<span class="url">{escape(s.source)}</span>',
                f"{s.bytes:,}",
                f"{s.skipped_bytes:,}",
                f"{s.records:,}",
                f"{s.kept:,}",
                f"{s.rejected:,}",
                percent(s.kept, s.records),
                top or "-",
            ]
        )
    headers = ["input file", "bytes", "bytes skipped", "records", "kept", "rejected", "kept share", "top reasons"]
    return table(headers, rows)


def extra_tables(stats: dict) -> str:
    """PII replacements per type and the dedup decision counts, when the pipeline had those stages."""
    parts = []
    if stats.get("pii_replacements"):
        rows = [[escape(k), f"{v:,}"] for k, v in sorted(stats["pii_replacements"].items())]
        parts += ['<h2 id="pii">PII replaced</h2>', table(["type", "replacements"], rows)]
    if stats.get("dedup"):
        rows = [[escape(k), f"{v:,}"] for k, v in stats["dedup"].items()]
        parts += ['<h2 id="dedup">Dedup</h2>', table(["", "documents"], rows)]
    return "\n".join(parts)


def pipeline_yaml(text: str, source: str) -> str:
    return f'<p class="detail">{escape(source)}</p><pre class="yaml">{escape(text)}</pre>'


def table_note(text: str) -> str:
    return f'<p class="detail">{escape(text)}</p>'
