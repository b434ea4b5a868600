"""report.html renders from a run folder: synthetic stats.json + tiny Parquet files (this tests rendering only)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.report import write_report

DOC_COLUMNS = ["id", "text", "url", "language", "language_score", "source", "crawl_date"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(i: int, text: str, url: str, language: str | None, **extra) -> dict:
    row = {
        "id": f"doc-{i}",
        "text": text,
        "url": url,
        "language": language,
        "language_score": 0.9 if language else None,
        "source": "test.warc.gz",
        "crawl_date": "2024-01-01",
    }
    return row | extra


def _write(path: Path, rows: list[dict], columns: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([(c, _type(c)) for c in columns])), path)


def _type(column: str) -> pa.DataType:
    return pa.float64() if column == "language_score" else pa.string()


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


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.stack == [], checker.stack
    return checker


def test_report_renders_funnel_reasons_and_charts(tmp_path: Path) -> None:
    stages = [
        {"stage": "read", "in": 6, "out": 5, "dropped": {"not_html": 1}, "seconds": 0.1},
        {"stage": "language", "in": 5, "out": 3, "dropped": {"wrong_language": 2}, "seconds": 0.2},
        {"stage": "gopher_quality", "in": 3, "out": 2, "dropped": {"gopher_short_doc": 1}, "seconds": 0.3},
    ]
    (tmp_path / "stats.json").write_text(json.dumps(_stats(2, 4, stages)))
    docs = [
        _row(0, "hello world " * 50, "https://ok.example/a", "en"),
        _row(1, "short text", "https://ok.example/b", "en"),
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
            _row(4, "hallo", "https://de.example/", "de", stage="language", reason="wrong_language", detail="de 0.9"),
        ],
        rejected_columns,
    )
    _write(
        tmp_path / "rejected" / "gopher_quality-00000.parquet",
        [_row(5, "hi", "https://short.example/", "en", stage="gopher_quality", reason="gopher_short_doc")],
        rejected_columns,
    )

    path = write_report(tmp_path)

    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    checker = _parse(html)
    for text in ["read", "language", "gopher_quality", "not_html", "wrong_language", "gopher_short_doc"]:
        assert text in html
    assert "https://img.example/x.png" in html
    assert "https://fr.example/?a=1&amp;b=&lt;2&gt;" in html  # URLs from the web are escaped
    assert "test&lt;pipe&gt;" in html and "<pipe>" not in html
    assert "conserved" in html and "RECORDS LOST" not in html
    assert "test splitter" in html
    assert {"report/funnel.png", "report/languages.png", "report/lengths.png"} <= set(checker.images)
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
