"""Benchmark: how trafilatura's time per page relates to the page's size and start tags, and what the extraction
budget (`max_html_chars`, `max_tags`) admits, so that its defaults can be checked against the wall-clock limit.

1. Ordinary pages: every HTML page of $CURATE_DATA/warc and $CURATE_DATA/extraction, decoded as the extract stage
   decodes it; characters, start tags, the budget check's time and trafilatura's time (the stage's options, best
   of --repeats). The largest and the slowest page against the limits.
2. Hostile pages: 50 MB of real paragraphs, divs nested 100,000 deep, a million tiny tags, 300,000 tiny tags in
   2.4 M characters: the extract stage's verdict and its time. With --unbudgeted, trafilatura's own time on
   them too (minutes: 26 s for the 50 MB page, 85 s for the million tags on a quiet 2-core machine).
3. The slowest pages the budget admits: pages built to sit just under both limits (paragraphs, divs, spans, list
   items, links, tables, headings, 250-deep nests, <br>-separated text, each with real Wikipedia words) and the
   largest real pages of the crawls merged up to the tag limit; trafilatura's time, best of --repeats, against
   the default wall-clock limit.

    .venv/bin/python bench/bench_extract_budget.py [--repeats 2] [--unbudgeted]
Writes bench/results/extract_budget.json. Run it alone: the figures are seconds of one process on a shared CPU.
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from benchlib import data_dir, machine, table_row, write_results
from datatrove.data import Document

from curate.outputs import RejectedWriter
from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY
from curate.stages.budget import count_start_tags
from curate.stages.charset import decode_html
from curate.stages.extract import Extract, ExtractionTimeout, time_limit
from curate.stages.warc import WarcReader

STAGE = Extract()


def best_time(html: str, repeats: int, limit: float = 0.0) -> float | None:
    """trafilatura's best time on `html` over `repeats` tries; None when a try ran past `limit` seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            with time_limit(limit):
                STAGE.extract(html)
        except ExtractionTimeout:
            return None
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def crawl_pages(data: Path) -> list[dict]:
    paths = sorted(glob.glob(str(data / "warc" / "*.warc.gz")) + glob.glob(str(data / "warc" / "*.arc.gz")))
    pages = []
    for path in [*paths, str(data / "extraction" / "articles-311.warc.gz")]:
        for doc in WarcReader([path]).read_file(path):
            if not doc.metadata.get("filter_reason"):
                html, _ = decode_html(doc.metadata[PAYLOAD_KEY], doc.metadata[HTTP_CHARSET_KEY])
                pages.append({"file": Path(path).name, "url": doc.metadata["url"], "html": html})
    return pages


def ordinary(pages: list[dict], repeats: int) -> dict:
    rows = []
    for page in pages:
        html = page["html"]
        started = time.perf_counter()
        over = STAGE.budget.check(html)
        check_ms = (time.perf_counter() - started) * 1000
        rows.append(
            {
                "file": page["file"],
                "url": page["url"],
                "chars": len(html),
                "start_tags": count_start_tags(html),
                "over_budget": over,
                "budget_check_ms": round(check_ms, 2),
                "seconds": best_time(html, repeats),
            }
        )
    seconds = sorted(r["seconds"] for r in rows)
    return {
        "pages": len(rows),
        "over_budget": [r for r in rows if r["over_budget"]],
        "largest": max(rows, key=lambda r: r["chars"]),
        "most_tags": max(rows, key=lambda r: r["start_tags"]),
        "slowest": sorted(rows, key=lambda r: -r["seconds"])[:5],
        "seconds_median": seconds[len(seconds) // 2],
        "seconds_p99": seconds[int(len(seconds) * 0.99)],
        "seconds_total": round(sum(seconds), 1),
        "budget_check_ms_max": max(r["budget_check_ms"] for r in rows),
    }


def words(data: Path) -> list[str]:
    text = (data / "text" / "wikitext2-valid.txt").read_text(encoding="utf-8")
    return [w for w in text.split() if "<" not in w and ">" not in w and w != "@-@"]


def paragraphs_page(vocab: list[str], chars: int) -> str:
    out, size, i = [], 0, 0
    while size < chars:
        p = "<p>" + " ".join(vocab[i : i + 90]) + "</p>\n"
        out.append(p)
        size, i = size + len(p), (i + 90) % (len(vocab) - 90)
    return "<html><head><title>t</title></head><body>" + "".join(out) + "</body></html>"


HOSTILE: dict[str, Callable[[list[str]], str]] = {
    "50 MB of real paragraphs": lambda v: paragraphs_page(v, 50_000_000),
    "divs nested 100,000 deep": lambda v: "<html><body>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000,
    "a million tiny tags": lambda v: "<html><body>" + "<i>a</i>" * 1_000_000,
    "300,000 tiny tags in 2.4 M characters": lambda v: "<html><body>" + "<i>a</i>" * 300_000,
}


def hostile(vocab: list[str], unbudgeted: bool) -> list[dict]:
    rows = []
    for name, build in HOSTILE.items():
        html = build(vocab)
        doc = Document(text="", id=name, metadata={PAYLOAD_KEY: html.encode(), HTTP_CHARSET_KEY: "utf-8"})
        with tempfile.TemporaryDirectory() as folder:
            stage = Extract(rejects=RejectedWriter(folder, "extract"))
            started = time.perf_counter()
            kept = list(stage.run(iter([doc])))
            seconds = time.perf_counter() - started
            rejected = [r for f in sorted(Path(folder).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        row = {
            "page": name,
            "chars": len(html),
            "kept": bool(kept),
            "rejected": [(r["reason"], r["detail"]) for r in rejected],
            "stage_seconds": round(seconds, 3),
        }
        if unbudgeted:
            started = time.perf_counter()
            row["trafilatura_seconds"] = best_time(html, 1, limit=300.0)
            row["trafilatura_wall_seconds"] = round(time.perf_counter() - started, 1)  # the timer waits for C code
        rows.append(row)
        print(row, flush=True)
    return rows


def at_limits(vocab: list[str], shape: Callable[..., str], tags_per_unit: int, texts: int, pre="", post="") -> str:
    """Units of `shape` repeated up to the tag limit, their text spread to fill the character limit."""
    tags, chars = STAGE.budget.max_tags, STAGE.budget.max_html_chars
    units = (tags - 10) // tags_per_unit
    per = max(1, (chars - 1000 - units * len(shape(*[""] * texts))) // (units * texts))
    parts, w = [], 0
    for _ in range(units):
        cells = []
        for _ in range(texts):
            cell: list[str] = []
            size = 0
            while size < per:
                cell.append(vocab[w % len(vocab)])
                size, w = size + len(cell[-1]) + 1, w + 1
            cells.append(" ".join(cell)[:per])
        parts.append(shape(*cells))
    return f"<html><head><title>t</title></head><body>{pre}{''.join(parts)}{post}</body></html>"


SHAPES: dict[str, tuple] = {  # name: (shape, start tags per unit, texts per unit, before, after)
    "paragraphs": (lambda t: f"<p>{t}</p>", 1, 1),
    "divs": (lambda t: f"<div>{t}</div>", 1, 1),
    "spans in one paragraph": (lambda t: f"<span>{t}</span>", 1, 1, "<p>", "</p>"),
    "list items": (lambda t: f"<li>{t}</li>", 1, 1, "<ul>", "</ul>"),
    "links in a list": (lambda t: f"<li><a href='/x'>{t}</a></li>", 2, 1, "<ul>", "</ul>"),
    "table rows": (lambda a, b: f"<tr><td>{a}</td><td><a href='/y'>{b}</a></td></tr>", 4, 2, "<table>", "</table>"),
    "headings and paragraphs": (lambda h, t: f"<h2>{h}</h2><p>{t}</p>", 2, 2),
    "250-deep nests": (lambda t: "<div>" * 250 + f"<p>{t}</p>" + "</div>" * 250, 251, 1),
    "text and <br>": (lambda t: f"{t}<br>", 1, 1, "<p>", "</p>"),
}


def merged_real(pages: list[dict]) -> str:
    """The real pages with the most start tags, their bodies merged into the first up to the tag limit."""
    ranked = sorted(pages, key=lambda p: -count_start_tags(p["html"]))
    html, tags = ranked[0]["html"], count_start_tags(ranked[0]["html"])
    for page in ranked[1:]:
        lower = page["html"].lower()
        start, end = lower.find("<body"), lower.rfind("</body>")
        if start < 0 or end < 0:
            continue
        body = page["html"][page["html"].index(">", start) + 1 : end]
        more = count_start_tags(body)
        if tags + more > STAGE.budget.max_tags or len(html) + len(body) > STAGE.budget.max_html_chars:
            continue
        cut = html.lower().rfind("</body>")
        html, tags = html[:cut] + body + html[cut:], tags + more
    return html


def worst_admitted(pages: list[dict], vocab: list[str], repeats: int) -> dict:
    built = {name: at_limits(vocab, *spec) for name, spec in SHAPES.items()}
    built["largest real pages merged"] = merged_real(pages)
    rows: list[dict[str, Any]] = []
    for name, html in built.items():
        assert STAGE.budget.check(html) is None, name
        row = {
            "page": name,
            "chars": len(html),
            "start_tags": count_start_tags(html),
            "seconds": best_time(html, repeats),
        }
        rows.append(row)
        print(row, flush=True)
    slowest = max(rows, key=lambda r: r["seconds"])
    return {"pages": rows, "slowest": slowest, "fraction_of_timeout": round(slowest["seconds"] / STAGE.timeout, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="tries per page; the best counts")
    parser.add_argument("--unbudgeted", action="store_true", help="also time trafilatura on the hostile pages")
    args = parser.parse_args()
    data = data_dir()
    load_before = os.getloadavg()[0]
    STAGE.extract("<html><body><p>warm up</p></body></html>")
    pages = crawl_pages(data)
    vocab = words(data)
    o, h = ordinary(pages, args.repeats), hostile(vocab, args.unbudgeted)
    w = worst_admitted(pages, vocab, args.repeats)
    result = {
        "machine": machine(),
        "loadavg_1min_before": round(load_before, 2),
        "defaults": {
            "max_html_chars": STAGE.budget.max_html_chars,
            "max_tags": STAGE.budget.max_tags,
            "timeout": STAGE.timeout,
        },
        "hostile": h,
        "ordinary": o,
        "worst_admitted": w,
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
    }
    print(
        f"ordinary: {o['pages']} pages, {len(o['over_budget'])} over the budget;"
        f" largest {o['largest']['chars']:,} chars,"
        f" most start tags {o['most_tags']['start_tags']:,}; slowest {o['slowest'][0]['seconds']} s"
        f"\nworst admitted: {w['slowest']['page']} {w['slowest']['seconds']} s"
        f" = {w['fraction_of_timeout']} of the {STAGE.timeout} s limit"
    )
    limit = f"the stage's {STAGE.timeout:g} s wall-clock limit"
    table = [
        table_row(
            f"trafilatura seconds on the slowest page the budget admits ({w['slowest']['page']})",
            w["slowest"]["seconds"],
            "s",
            baseline=limit,
            baseline_value=STAGE.timeout,
            goal="< 1×",
        ),
        table_row(
            f"trafilatura seconds on the slowest real page ({o['pages']} pages, {len(o['over_budget'])} over budget)",
            o["slowest"][0]["seconds"],
            "s",
            baseline=limit,
            baseline_value=STAGE.timeout,
            goal="< 1×",
        ),
        table_row(
            f"hostile pages refused by the budget before trafilatura runs (of {len(h)})",
            sum(not r["kept"] for r in h),
            f"of {len(h)}",
        ),
    ]
    size = f"{o['pages']} crawl pages, {len(h)} hostile, {len(w['pages'])} at the limits; best of {args.repeats}"
    write_results("extract_budget", result, size, table)


if __name__ == "__main__":
    main()
