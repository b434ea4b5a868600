"""`curate run` end to end on real crawl files: the output contract, conservation, workers, bad input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO, read_rows

from curate.cli import main
from curate.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA

pytestmark = pytest.mark.slow  # runs pipelines or trains models: not in `make test-fast`

FILES = [
    "warc/cc-main-2020-34-excerpt.warc.gz",
    "warc/cc-truncated-record.warc.gz",
    "warc/clueweb09-ja-warc018-quirks.warc.gz",
    "warc/heritrix-2008.arc.gz",
    "warc/wget-sample-0000.warc.gz",
    "warc/wget-sample-0001.warc.gz",
]


def utc(value) -> bool:
    """crawl_date as read back: a UTC timestamp."""
    return isinstance(value, datetime) and value.utcoffset() == timedelta(0)


def curate_run(data: Path, out: Path, *extra: str, pipeline: str = "fineweb.yaml", files=FILES) -> dict:
    argv = [
        "run",
        str(REPO / "pipelines" / pipeline),  # an absolute path stays as it is
        "--input",
        *[str(data / f) for f in files],
        "--output",
        str(out),
        "--no-progress",
        *extra,
    ]
    assert main(argv) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conserved"] and stats["input_records"] == stats["kept"] + stats["rejected"]
    return stats


@pytest.fixture(scope="module")
def one_worker(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fineweb1") / "run"
    curate_run(data, out, "--workers", "1")
    return out


def test_output_contract(one_worker):
    stats = json.loads((one_worker / "stats.json").read_text())
    assert stats["input_records"] == 50 + 1 + 30 + 300 + 48 + 34
    names = [s["stage"] for s in stats["stages"]]
    assert names == [
        "read",
        "url_filter",
        "extract",
        "language",
        "gopher_repetition",
        "gopher_quality",
        "c4_quality",
        "fineweb_quality",
        "dedup",
        "pii",
        "domains",
        "tokenize",
    ]
    for stage in stats["stages"]:
        assert stage["in"] == stage["out"] + sum(stage["dropped"].values())
        assert stage["seconds"] >= 0
    assert stats["stages"][0]["dropped"]["truncated"] == 1
    assert "spaCy" in stats["word_splitter"]

    for path in (one_worker / "documents").glob("*.parquet"):
        assert pq.read_schema(path).remove_metadata() == DOCUMENT_SCHEMA
    for path in (one_worker / "rejected").glob("*.parquet"):
        assert pq.read_schema(path).remove_metadata() == REJECTED_SCHEMA
    kept = read_rows(one_worker / "documents")
    assert len(kept) == stats["kept"] > 0
    assert len({r["id"] for r in kept}) == len(kept)
    for r in kept:
        assert r["text"].strip() and r["url"] and r["language"] == "en" and 0.65 <= r["language_score"] <= 1.0
        assert r["source"].endswith(".gz") and (r["crawl_date"] is None or utc(r["crawl_date"]))
        assert r["domain"] in stats["domains"]
    rejected = read_rows(one_worker / "rejected")
    assert len(rejected) == stats["rejected"]
    assert all(r["stage"] and r["reason"] for r in rejected)
    assert {"not_response", "not_html", "truncated"} <= {r["reason"] for r in rejected if r["stage"] == "read"}
    # ClueWeb's malformed dates are null, everything else parses
    assert all(r["crawl_date"] is None for r in rejected if "clueweb" in r["source"])
    assert all(utc(r["crawl_date"]) for r in rejected if "wget" in r["source"])
    assert (one_worker / "report.html").stat().st_size > 1000


def test_existing_output_needs_overwrite(data, one_worker, tmp_path, capsys):
    out = tmp_path / "again"
    curate_run(data, out, files=FILES[4:5])
    argv = ["run", str(REPO / "pipelines" / "extract.yaml"), "--input", str(data / FILES[4]), "--output", str(out)]
    assert main(argv) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--no-progress"]) == 0


def test_bad_files_are_rejections_not_crashes(data, tmp_path):
    raw = (data / FILES[4]).read_bytes()
    corrupt = tmp_path / "corrupt.warc.gz"
    corrupt.write_bytes(raw[: len(raw) // 2] + b"\x00" * 512 + raw[len(raw) // 2 :])
    notes = tmp_path / "notes.warc.gz"
    notes.write_text("definitely not a WARC file\n" * 20)
    stats = curate_run(data, tmp_path / "run", "--workers", "2", files=[str(corrupt), str(notes), FILES[1]])
    rows = read_rows(tmp_path / "run" / "rejected")
    errors = {Path(r["source"]).name: r for r in rows if r["reason"] in ("bad_gzip", "not_warc")}
    assert errors["corrupt.warc.gz"]["reason"] == "bad_gzip"
    assert "skipped to the next member" in errors["corrupt.warc.gz"]["detail"]
    assert errors["notes.warc.gz"]["reason"] == "not_warc"
    assert "not a WARC or ARC file" in errors["notes.warc.gz"]["detail"]
    # every byte of the three files is accounted for, the broken ones included
    section = stats["bytes"]
    assert section["accounted"] and section["input"] == sum(Path(p).stat().st_size for p in stats["inputs"])
    assert section["skipped_by_reason"]["not_warc"] == notes.stat().st_size
    assert section["skipped_by_reason"]["bad_gzip"] > 0


def test_limit_reads_about_n_records(data, tmp_path):
    stats = curate_run(data, tmp_path / "run", "--limit", "20", pipeline="extract.yaml")
    # at most 20, shared between the tasks; a task whose files hold fewer than its share reads them all
    assert 10 <= stats["input_records"] <= 20 and stats["conserved"]
    one = curate_run(data, tmp_path / "one", "--limit", "20", "--tasks", "1", pipeline="extract.yaml")
    assert one["input_records"] == 20 and one["bytes"]["unread"] > 0


def test_extract_pipeline_keeps_every_language(data, tmp_path):
    stats = curate_run(data, tmp_path / "run", pipeline="extract.yaml", files=FILES[:1])
    languages = {r["language"] for r in read_rows(tmp_path / "run" / "documents", ["language"])}
    assert {"zh", "ru"} <= languages, languages  # the CC-MAIN-2020-34 excerpt is mostly Chinese and Russian
    assert [s["stage"] for s in stats["stages"]] == ["read", "extract", "language"]


def test_report_command(one_worker, capsys):
    (one_worker / "report.html").unlink()
    assert main(["report", str(one_worker)]) == 0
    assert (one_worker / "report.html").exists()
    assert main(["report", str(one_worker / "documents")]) == 2
