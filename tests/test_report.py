"""report.html renders from a run folder: synthetic stats.json + tiny Parquet files, so every number the page shows
is known here (rendering, shares, threshold what-ifs, per-file and per-domain sums). The report of a real run, in a
real browser, is tests/test_report_browser.py."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.report import write_report

DOC_COLUMNS = ["id", "text", "url", "language", "language_score", "source", "crawl_date", "domain", "filter_metrics"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(i: int, text: str, url: str, language: str | None, **extra) -> dict:
    row = {
        "id": f"doc-{i}",
        "text": text,
        "url": url,
        "language": language,
        "language_score": 0.9 if language else None,
        "source": "a.warc.gz",
        "crawl_date": "2024-01-01",
        "domain": None,
        "filter_metrics": None,
    }
    return row | extra


def _gopher(words: int, stop_words: int = 5) -> str:
    """filter_metrics JSON as curate.stages.filter_metrics stores it (only the values this test looks at)."""
    return json.dumps({"gopher_quality": {"words": words, "stop_words": stop_words}})


def _write(path: Path, rows: list[dict], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([(c, _type(c)) for c in columns])), path)


def _type(column: str) -> pa.DataType:
    return {"language_score": pa.float64(), "num_tokens": pa.int64()}.get(column, pa.string())


def _stats(kept: int, rejected: int, stages: list[dict], **extra) -> dict:
    stats = {
        "pipeline": "pipelines/test.yaml",
        "name": "test<pipe>",
        "inputs": ["a.warc.gz", "b.warc.gz"],
        "workers": 2,
        "tasks": 2,
        "limit": -1,
        "seconds": 1.5,
        "input_records": kept + rejected,
        "kept": kept,
        "rejected": rejected,
        "conserved": True,
        "problems": [],
        "stages": stages,
        "rejected_rows_by_stage": {},
        "word_splitter": "test splitter",
    }
    return stats | extra


class _Checker(HTMLParser):
    """Collects <img src> values and fails on unbalanced tags, as a cheap well-formedness check."""

    VOID = {"img", "br", "meta", "hr", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>, open: {self.stack}"
        self.stack.pop()


def _text(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed, as a reader sees the table cells in a row."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.stack == [], checker.stack
    return checker


@pytest.mark.slow
def test_report_renders_funnel_reasons_examples_thresholds_and_tables(tmp_path: Path) -> None:
    stages = [
        {"stage": "read", "in": 7, "out": 6, "dropped": {"not_html": 1}, "seconds": 0.1},
        {"stage": "language", "in": 6, "out": 4, "dropped": {"wrong_language": 2}, "seconds": 0.2},
        {"stage": "gopher_quality", "in": 4, "out": 2, "dropped": {"gopher_short_doc": 2}, "seconds": 0.3},
    ]
    (tmp_path / "stats.json").write_text(json.dumps(_stats(2, 5, stages)))
    spec = {"name": "test", "reader": {"warc": {}}, "stages": [{"language": {}}, {"gopher_quality": {}}]}
    (tmp_path / "run.json").write_text(json.dumps({"pipeline": "pipelines/test.yaml", "spec": spec}))
    docs = [
        _row(0, "hello world " * 50, "https://ok.example/a", "en", domain="wiki", filter_metrics=_gopher(100)),
        _row(1, "kept text number two", "https://ok.example/b", "en", domain="news", filter_metrics=_gopher(54)),
    ]
    _write(tmp_path / "documents" / "00000.parquet", docs, DOC_COLUMNS)
    rejected_columns = DOC_COLUMNS + ["stage", "reason", "detail"]
    _write(
        tmp_path / "rejected" / "read-00000.parquet",
        [_row(2, "", "https://img.example/x.png", None, stage="read", reason="not_html", detail="image/png")],
        rejected_columns,
    )
    _write(
        tmp_path / "rejected" / "language-00000.parquet",
        [
            _row(3, "bonjour", "https://fr.example/?a=1&b=<2>", "fr", stage="language", reason="wrong_language"),
            _row(
                4, "hallo", "https://de.example/", "de", stage="language", reason="wrong_language", source="b.warc.gz"
            ),
        ],
        rejected_columns,
    )
    short = [
        _row(5, "<script>alert(1)</script> hi", "https://short.example/", "en", filter_metrics=_gopher(3)),
        _row(6, "x " * 400, "https://long.example/", "en", filter_metrics=_gopher(48)),
    ]
    for row in short:
        row.update(stage="gopher_quality", reason="gopher_short_doc")
    _write(tmp_path / "rejected" / "gopher_quality-00000.parquet", short, rejected_columns)
    tokens = [{"num_tokens": 700, "domain": "wiki"}, {"num_tokens": 300, "domain": "news"}]
    _write(tmp_path / "tokens" / "shard-00000.parquet", tokens, ["num_tokens", "domain"])

    path = write_report(tmp_path)

    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    checker = _parse(html)
    text = _text(html)
    for word in ["read", "language", "gopher_quality", "not_html", "wrong_language", "gopher_short_doc"]:
        assert word in html
    assert "https://img.example/x.png" in html and "image/png" in html  # a record without text: URL and detail
    assert "https://fr.example/?a=1&amp;b=&lt;2&gt;" in html  # URLs from the web are escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hi" in html and "<script>" not in html  # and texts
    assert "bonjour" in text and "hallo" in text and "hello world" in text  # dropped and kept excerpts
    assert "x x x" in text and ("x " * 200) not in text  # excerpts are cut short
    # shares of the stage's input: 2 of the 6 that reached language ID, 2 of the 4 that reached Gopher
    assert "2 of 6 33.3%" in text and "2 of 4 50.0%" in text and "1 of 7 14.3%" in text
    assert "test&lt;pipe&gt;" in html and "<pipe>" not in html
    assert "conserved" in html and "RECORDS LOST" not in html
    assert "test splitter" in html
    # Gopher's min_doc_words (50, the default): 54 passes; 10% stricter (55) drops it; 10% looser (45) keeps 48
    assert "gopher_short_doc min_doc_words 50 drop below 2 of 4 55: +1 45: −1" in text
    assert "wiki 700 70.0% 1 700" in text and "news 300 30.0% 1 300" in text  # tokens per domain
    # per input file: bytes, skipped bytes, records, kept, rejected, kept share, top reasons
    assert "a.warc.gz 0 0 6 2 4 33.3% gopher_quality: gopher_short_doc 2," in text
    assert "b.warc.gz 0 0 1 0 1 0.0% language: wrong_language 1" in text
    assert "fr 0 0.0% 1" in text and "de 0 0.0% 1" in text  # every language, the small ones too
    assert "gopher_quality: {}" in text  # the pipeline as run
    expected = {"funnel", "languages", "lengths", "domains", "thresholds-gopher_quality"}
    assert {f"report/{name}.png" for name in expected} <= set(checker.images)
    # every language score (0.9) is far from min_score 0.65: no chart, only the table
    assert "report/thresholds-language.png" not in checker.images and "low_language_score min_score 0.65" in text
    for src in checker.images:
        assert (tmp_path / src).read_bytes().startswith(PNG_MAGIC), src


def test_report_with_nothing_kept_and_records_lost(tmp_path: Path) -> None:
    stages = [{"stage": "read", "in": 3, "out": 0, "dropped": {"empty": 3}, "seconds": 0.0}]
    problems = ["input_records 3 != kept 0 + rejected 2"]
    stats = _stats(0, 2, stages, input_records=3, conserved=False, problems=problems, seconds=0, word_splitter=None)
    (tmp_path / "stats.json").write_text(json.dumps(stats))
    (tmp_path / "documents").mkdir()  # empty: nothing kept
    rows = [_row(i, "", f"https://e.example/{i}", None, stage="read", reason="empty") for i in range(2)]
    _write(tmp_path / "rejected" / "read-00000.parquet", rows, DOC_COLUMNS + ["stage", "reason", "detail"])

    html = write_report(tmp_path).read_text(encoding="utf-8")

    checker = _parse(html)
    assert "RECORDS LOST" in html and "input_records 3 != kept 0 + rejected 2" in html
    assert "https://e.example/0" in html
    assert checker.images == ["report/funnel.png"]
    assert (tmp_path / "report" / "funnel.png").read_bytes().startswith(PNG_MAGIC)
    assert not re.search(r"report/(languages|lengths)\.png", html)


def test_report_with_no_output_folders(tmp_path: Path) -> None:
    (tmp_path / "stats.json").write_text(json.dumps(_stats(0, 0, [])))
    html = write_report(tmp_path).read_text(encoding="utf-8")
    _parse(html)
    assert "Nothing dropped" in html
