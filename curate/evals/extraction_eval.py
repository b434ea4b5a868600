"""`curate eval extraction`: the extract stage's text against ground-truth article bodies, page by page.

Pages are matched to the ground truth by URL, as bench/bench_extract_engines.py does: the ground-truth file maps a
URL to `{articleBody}` (the article-extraction-benchmark's format; entries without an article body are left out),
and every WARC response whose URL has one is decoded as the stage decodes it and extracted by the stage's own code
(`Extract`: its engine and options, its budget, its time limit). A page the stage would reject (`too_complex`,
`timeout`, `extract_error`, `no_text`) has no text and scores 0. A ground-truth URL that no record of the WARC holds
is counted as missing, and it too scores 0 (as `curate.evals.extraction.mean_f1` counts it).

Tokens are whitespace-separated words compared as bags: precision is the share of the extracted words that are in
the article, recall the share of the article's words that were extracted, F1 `curate.evals.extraction.token_f1`.
Overall figures are means over pages (every page weighs the same, as in the benchmark).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from curate.evals.extraction import mean_f1, token_f1

FAVOR = ("precision", "recall", "balanced")  # trafilatura's favor_precision / favor_recall / neither


def load_truth(path: str | Path) -> dict[str, str]:
    """URL → article body, from an article-extraction-benchmark ground-truth file; ValueError when it is not one."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a JSON ground-truth file ({err})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object of URL → {{articleBody: ...}}")
    truth = {
        url: page["articleBody"]
        for url, page in raw.items()
        if isinstance(page, dict) and isinstance(page.get("articleBody"), str) and page["articleBody"].strip()
    }
    if not truth:
        raise ValueError(f"{path}: no entry has an `articleBody`")
    return truth


def load_pages(warc: str | Path, urls: set[str]) -> dict[str, str]:
    """URL → decoded HTML of the WARC's responses whose URL is in `urls` (the first record of a URL wins); stops
    reading once every URL is found."""
    from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY
    from curate.stages.charset import decode_html
    from curate.stages.warc import WarcReader

    path = str(warc)
    if not Path(path).is_file():
        raise FileNotFoundError(2, "No such file", path)
    pages: dict[str, str] = {}
    for doc in WarcReader([path]).read_file(path):
        url = doc.metadata.get("url")
        if url in urls and url not in pages and doc.metadata.get("filter_reason") is None:
            pages[url] = decode_html(doc.metadata[PAYLOAD_KEY], doc.metadata.get(HTTP_CHARSET_KEY))[0]
            if len(pages) == len(urls):
                break
    return pages


def make_stage(engine: str, favor: str = "precision", include_comments: bool = False) -> Any:
    """The extract stage with the options under evaluation (the stage's defaults otherwise)."""
    from curate.stages.extract import Extract

    return Extract(
        engine=engine,
        favor_precision=favor == "precision",
        favor_recall=favor == "recall",
        include_comments=include_comments,
    )


def extract_page(stage: Any, html: str) -> tuple[str | None, str | None]:
    """(text, None), or (None, the stage's reject reason) as the stage decides it: budget, time limit, errors."""
    from curate.stages.extract import ExtractionTimeout, time_limit

    if stage.budget.check(html) is not None:
        return None, "too_complex"
    try:
        with time_limit(stage.timeout):
            text = stage.extract(html)
    except (ExtractionTimeout, TimeoutError):
        return None, "timeout"
    except Exception:  # the stage rejects such a page as extract_error
        return None, "extract_error"
    if not (text and text.strip()):
        return None, "no_text"
    return text, None


def page_scores(text: str | None, truth: str) -> dict[str, Any]:
    """Token precision, recall and F1 of one page, with the word counts they come from."""
    pred, gold = Counter((text or "").split()), Counter(truth.split())
    overlap = sum((pred & gold).values())
    return {
        "precision": overlap / sum(pred.values()) if pred else 0.0,
        "recall": overlap / sum(gold.values()),
        "f1": token_f1(text, truth),
        "words": sum(pred.values()),
        "truth_words": sum(gold.values()),
    }


def evaluate(
    warc: str | Path,
    groundtruth: str | Path,
    engine: str = "trafilatura",
    favor: str = "precision",
    include_comments: bool = False,
    limit: int | None = None,
    worst: int = 10,
) -> dict[str, Any]:
    """Per-page and mean precision/recall/F1 of the stage on the ground-truth pages (the first `limit` of them in
    the ground-truth file's order when given), and the `worst` pages by F1."""
    truth = load_truth(groundtruth)
    if limit is not None:
        truth = dict(list(truth.items())[:limit])
    pages = load_pages(warc, set(truth))
    if not pages:
        raise ValueError(f"{warc}: no record has a URL of the ground truth ({len(truth)} URLs)")
    stage = make_stage(engine, favor, include_comments)
    texts: dict[str, str | None] = {}
    rows = []
    for url, body in truth.items():
        text, reason = extract_page(stage, pages[url]) if url in pages else (None, "missing")
        texts[url] = text
        rows.append({"url": url, **page_scores(text, body), "reason": reason})
    n = len(rows)
    overall = {
        "pages": n,
        "precision": sum(r["precision"] for r in rows) / n,
        "recall": sum(r["recall"] for r in rows) / n,
        "f1": mean_f1(texts, truth),
        "pages_without_text": sum(r["reason"] is not None for r in rows),
        "missing_from_warc": sum(r["reason"] == "missing" for r in rows),
    }
    return {
        "warc": str(warc),
        "groundtruth": str(groundtruth),
        "config": {"engine": engine, "favor": favor, "include_comments": include_comments, "limit": limit},
        "overall": overall,
        "worst": sorted(rows, key=lambda r: (r["f1"], r["url"]))[:worst],
        "pages": rows,
    }


def format_table(result: dict[str, Any]) -> list[str]:
    """The overall line and the worst pages, for a terminal."""
    o, c = result["overall"], result["config"]
    options = [f"favor {c['favor']}"] if c["engine"] == "trafilatura" else []  # favor_* are trafilatura's
    options += ["comments"] if c["include_comments"] else []
    described = f"{c['engine']} ({', '.join(options)})" if options else c["engine"]
    lines = [
        f"extraction: {described} on {o['pages']} ground-truth pages",
        f"{'':<44} {'prec.':>6} {'recall':>6} {'F1':>6} {'words':>6} {'truth':>6}",
        f"{'mean over pages':<44} {o['precision']:>6.3f} {o['recall']:>6.3f} {o['f1']:>6.3f}",
    ]
    if o["pages_without_text"]:
        lines.append(f"pages without text: {o['pages_without_text']} (scored 0; {o['missing_from_warc']} not in WARC)")
    if result["worst"]:
        lines.append(f"worst {len(result['worst'])} pages by F1:")
    for r in result["worst"]:
        url = r["url"] if len(r["url"]) <= 44 else r["url"][:43] + "…"
        note = f"  {r['reason']}" if r["reason"] else ""
        lines.append(
            f"{url:<44} {r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1']:>6.3f} {r['words']:>6} "
            f"{r['truth_words']:>6}{note}"
        )
    return lines
