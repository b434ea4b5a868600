"""The run report of a real `curate run` (the FineWeb recipe on four small crawl files), opened in headless Chromium
as a data engineer would open it: no console errors, every image rendered, every section there, built from the run's
own rows. The full-page screenshot is kept as a test artifact: `run-report.png` under the folder named by the
environment variable CURATE_ARTIFACTS (created if missing), else under the test's tmp_path.

The same run checks that the filter values stored for the report (the `filter_metrics` column) are the ones
datatrove's filters decided with: every rejection's own check fails on its stored value, and no check of a stage
fails for a document that passed it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from browser import browser, check_page  # noqa: F401  (the fixture: skips, or fails under CI=true, without chromium)
from conftest import REPO, read_rows

from curate.cli import main
from curate.report_data import excerpt
from curate.report_thresholds import stage_params
from curate.stages.filter_metrics import THRESHOLDS, limit_of

pytestmark = pytest.mark.slow  # runs a pipeline

FILES = [
    "warc/cc-main-2020-34-excerpt.warc.gz",  # Chinese and Russian pages: language drops
    "warc/cc-truncated-record.warc.gz",  # a truncated record: skipped bytes
    "warc/wget-sample-0000.warc.gz",  # English pages: kept documents, Gopher drops
    "warc/wget-sample-0001.warc.gz",
]
SECTIONS = [
    "Funnel",
    "Drop reasons",
    "Kept examples",
    "Filter thresholds",
    "Languages",
    "Domains",
    "Input files",
    "Document length",
    "Pipeline as run",
]


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-run") / "run"
    argv = ["run", str(REPO / "pipelines" / "fineweb.yaml"), "--input", *[str(data / f) for f in FILES]]
    assert main([*argv, "--output", str(out), "--no-progress", "--workers", "1"]) == 0
    return out


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CURATE_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.usefixtures("browser")
def test_run_report_renders_in_a_browser(run: Path, tmp_path: Path) -> None:
    screenshot = _artifacts(tmp_path) / "run-report.png"
    page = check_page(run / "report.html", screenshot)

    assert page.console_errors == []
    assert page.title == "curate report: fineweb"
    assert len(page.images) >= 6, page.images  # funnel, threshold charts, languages, domains, lengths
    for src, width, height in page.images:
        assert width > 0 and height > 0, f"{src} did not render"
        assert (run / src).is_file()
    assert "report/thresholds-gopher_quality.png" in {s for s, _, _ in page.images}  # its drops, near the limits
    for section in SECTIONS:
        assert section in page.text, section
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 50_000

    text = " ".join(page.text.split())
    stats = json.loads((run / "stats.json").read_text())
    for stage in stats["stages"]:  # every drop reason, counted against what reached its stage
        for reason, count in stage["dropped"].items():
            assert f"{reason} {count:,} of {stage['in']:,} {100 * count / stage['in']:.1f}%" in text, reason
    rejected = read_rows(run / "rejected", ["stage", "reason", "text", "url"])
    for reason in ("wrong_language", "gopher_below_alpha_threshold"):  # dropped texts, from the run's own rows
        first = next(r for r in rejected if r["reason"] == reason)
        assert excerpt(first["text"])[:80] in text, reason
    kept = read_rows(run / "documents", ["text"])
    assert any(excerpt(r["text"])[:80] in text for r in kept)
    tokens = read_rows(run / "tokens", ["num_tokens", "domain"])
    for domain in {r["domain"] for r in tokens}:
        total = sum(r["num_tokens"] for r in tokens if r["domain"] == domain)
        assert f"{domain} {total:,}" in text  # tokens per domain, not documents
    assert "zh" in text and "ru" in text  # small languages listed
    assert "cc-truncated-record.warc.gz 18,184 18,184 1 0 1" in text  # per file: bytes, skipped, records, kept
    assert "min_score: 0.65" in text  # the pipeline as run


def test_stored_filter_values_reproduce_every_verdict(run: Path) -> None:
    spec = json.loads((run / "run.json").read_text())["spec"]
    params = stage_params(spec)
    rows = [(r, None) for r in read_rows(run / "documents", ["filter_metrics"])]
    rows += [(r, r["stage"]) for r in read_rows(run / "rejected", ["filter_metrics", "stage", "reason"])]
    checked = 0
    for row, rejected_at in rows:
        for stage, values in json.loads(row["filter_metrics"] or "{}").items():
            kind, stage_params_ = params[stage]
            failing = []
            for threshold in THRESHOLDS[kind]:
                limit, value = limit_of(threshold, stage_params_), values.get(threshold.metric)
                if limit is not None and value is not None:
                    if (value < limit) if threshold.drop == "below" else (value > limit):
                        failing.append(threshold.reason)
            if rejected_at == stage:
                known = {t.reason for t in THRESHOLDS[kind] if t.metric in values}
                assert row["reason"] in failing or row["reason"] not in known, (stage, row["reason"], values)
            else:  # it passed this stage (kept, or dropped by a later one)
                assert failing == [], (stage, failing, values)
            checked += 1
    assert checked > 100  # every kept document and every rejection after extraction carries values
    assert pq.read_schema(next((run / "documents").glob("*.parquet"))).field("filter_metrics")


@pytest.mark.usefixtures("browser")
def test_check_page_sees_what_a_user_would_miss(tmp_path: Path) -> None:
    """The harness itself: a broken image, a console error and an uncaught exception are all reported."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>broken</title></head><body><p>visible</p><img src="missing.png">'
        '<script>console.error("boom"); undefinedFunction();</script></body></html>'
    )
    check = check_page(page, tmp_path / "broken.png")
    assert check.title == "broken" and check.text == "visible"
    assert check.images == [("missing.png", 0, 0)]
    assert any("missing.png" in e for e in check.console_errors)
    assert any("boom" in e for e in check.console_errors)
    assert any("undefinedFunction" in e for e in check.console_errors)
    assert (tmp_path / "broken.png").read_bytes().startswith(b"\x89PNG")
