"""Benchmark: the two extraction engines (trafilatura, Resiliparse) on the ground-truth article pages, in one run.

Pages: the 181 pages of $CURATE_DATA/extraction/articles-311.warc.gz that have an article body in
articles-311.groundtruth.json, decoded once as the extract stage decodes them; decoding is left out of every time.
Each engine runs through the stage's own `Extract.extract` (its options, Resiliparse's blank-line folding
included), in this one process: pages/s is per core. Both engines are timed page by page, taking turns each
repeat so that a change in the machine's load falls on both; a page's time is its best of --repeats.

- F1: mean token F1 against the article bodies (curate.evals.extraction; a page with no text scores 0), and the
  mean token precision and recall it is made of.
- pages/s: pages divided by the sum of the pages' times; median and p95 seconds per page.
- Also the F1 of Resiliparse with DCLM's published options as they are (Resiliparse's defaults for comments and
  post metadata, no blank-line folding), to show what the stage's two changes to them do.

    .venv/bin/python bench/bench_extract_engines.py [--repeats 3]
Writes bench/results/extract_engines.json. Run it alone: the figures are seconds of one process on a shared CPU.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from benchlib import data_dir, machine, table_row, write_results
from trafilatura.meta import reset_caches

from curate.evals.extraction import mean_f1
from curate.evals.extraction_eval import load_pages, load_truth
from curate.stages.engines import ENGINES, resiliparse_extract
from curate.stages.extract import Extract

WARMUP = "<html><body><article><p>warm up</p></article></body></html>"  # trafilatura's first call loads resources


def ground_truth(data: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(url → decoded HTML, url → article body) of the ground-truth pages, decoded as the extract stage does."""
    folder = data / "extraction"
    truth = load_truth(folder / "articles-311.groundtruth.json")
    return load_pages(folder / "articles-311.warc.gz", set(truth)), truth


def timed_pass(stage: Extract, pages: dict[str, str], best: dict[str, float], texts: dict[str, str | None]) -> None:
    """Extract every page once, keeping each page's best time and its text. trafilatura's caches are emptied first
    (then its resources reloaded): a later pass must not find the strings of the earlier one there, as the pages of
    a crawl are new to it."""
    reset_caches()
    stage.extract(WARMUP)
    for url, html in pages.items():
        started = time.perf_counter()
        texts[url] = stage.extract(html)
        best[url] = min(best.get(url, float("inf")), time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


def precision_recall(texts: dict[str, str | None], truth: dict[str, str]) -> tuple[float, float]:
    """Mean token precision (how much of the text is article) and recall (how much of the article is there)."""
    precision = recall = 0.0
    for url, body in truth.items():
        pred, gold = Counter((texts.get(url) or "").split()), Counter(body.split())
        overlap = sum((pred & gold).values())
        precision += overlap / max(1, sum(pred.values()))
        recall += overlap / sum(gold.values())
    return round(precision / len(truth), 4), round(recall / len(truth), 4)


def summary(seconds: dict[str, float], texts: dict[str, str | None], truth: dict[str, str]) -> dict:
    times = list(seconds.values())
    precision, recall = precision_recall(texts, truth)
    return {
        "mean_f1": round(mean_f1(texts, truth), 4),
        "mean_precision": precision,
        "mean_recall": recall,
        "pages_per_s_per_core": round(len(times) / sum(times), 1),
        "median_s_per_page": round(statistics.median(times), 5),
        "p95_s_per_page": round(percentile(times, 0.95), 5),
        "max_s_per_page": round(max(times), 4),
        "pages_without_text": sum(not (t or "").strip() for t in texts.values()),
    }


def dclm_as_published(pages: dict[str, str], truth: dict[str, str]) -> float:
    """Resiliparse with only DCLM's own settings: its defaults for comments and post metadata, text as it comes."""
    extract = resiliparse_extract()
    options = dict(main_content=True, alt_texts=False, links=False, form_fields=False, noscript=False)
    return round(mean_f1({url: extract(html, **options) for url, html in pages.items()}, truth), 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per engine; a page's best counts")
    args = parser.parse_args()
    pages, truth = ground_truth(data_dir())
    stages = {engine: Extract(engine=engine) for engine in ENGINES}
    best: dict[str, dict[str, float]] = {engine: {} for engine in ENGINES}
    texts: dict[str, dict[str, str | None]] = {engine: {} for engine in ENGINES}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for engine, stage in stages.items():
            timed_pass(stage, pages, best[engine], texts[engine])
    engines = {engine: summary(best[engine], texts[engine], truth) for engine in ENGINES}
    result = {
        "machine": machine(),
        "loadavg_1min_before": round(load_before, 2),
        "pages": len(pages),
        "repeats": args.repeats,
        "engines": engines,
        "speedup_resiliparse_over_trafilatura": round(
            engines["resiliparse"]["pages_per_s_per_core"] / engines["trafilatura"]["pages_per_s_per_core"], 1
        ),
        "resiliparse_dclm_as_published_mean_f1": dclm_as_published(pages, truth),
    }
    print(f"{len(pages)} ground-truth pages, best of {args.repeats}, one process (decoding not timed)")
    print(f"{'engine':<12} {'mean F1':>8} {'prec.':>7} {'recall':>7} {'pages/s':>8} {'median s':>9} {'p95 s':>8}")
    for engine, r in engines.items():
        print(
            f"{engine:<12} {r['mean_f1']:>8.4f} {r['mean_precision']:>7.4f} {r['mean_recall']:>7.4f}"
            f" {r['pages_per_s_per_core']:>8.1f} {r['median_s_per_page']:>9.4f} {r['p95_s_per_page']:>8.4f}"
        )
    print(f"resiliparse, DCLM's options as published: mean F1 {result['resiliparse_dclm_as_published_mean_f1']}")
    ours, other = engines["trafilatura"], engines["resiliparse"]
    table = [
        table_row(
            "extract stage, mean token F1 against the ground truth",
            ours["mean_f1"],
            "F1",
            baseline="Resiliparse engine",
            baseline_value=other["mean_f1"],
            ours_name="trafilatura, the default",
        ),
        table_row(
            "extract stage, pages/s on one core",
            ours["pages_per_s_per_core"],
            "pages/s",
            baseline="Resiliparse engine",
            baseline_value=other["pages_per_s_per_core"],
            ours_name="trafilatura, the default",
        ),
    ]
    size = f"{len(pages)} ground-truth pages, best of {args.repeats}"
    write_results("extract_engines", result, size, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
