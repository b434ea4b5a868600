"""The WARC reader on every shared crawl file: counts from the data README, reasons, ids, dates."""

from __future__ import annotations

import gzip
import io
import os
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from curate.stages.reader import shard
from curate.stages.warc import WarcReader, is_html, iso_utc

# file (under data/warc unless a path is given): (records, HTML responses), from the shared data README
EXPECTED = {
    "cc-main-2020-34-excerpt.warc.gz": (50, 16),
    "cc-main-2024-22-wikipedia.warc.gz": (4, 1),
    "cc-main-2024-22-wikipedia.warc.wet.gz": (2, 0),
    "cc-main-2024-22-wikipedia.warc.wat.gz": (2, 0),
    "cc-truncated-record.warc.gz": (1, 1),
    "clueweb09-ja-warc018-quirks.warc.gz": (30, 29),
    "heritrix-2008-warc017.warc.gz": (822, 140),
    "heritrix-2008.arc.gz": (300, 140),
    "wget-sample-0000.warc.gz": (48, 22),
    "wget-sample-0001.warc.gz": (34, 15),
    "../extraction/articles-311.warc.gz": (312, 311),
}


def _read(path) -> list:
    return list(WarcReader([str(path)]).read_file(str(path)))


def test_every_shared_file_is_listed(data):
    on_disk = {p.name for p in (data / "warc").iterdir() if ".warc" in p.name or p.name.endswith(".arc.gz")}
    assert on_disk <= set(EXPECTED), f"files without expected counts: {on_disk - set(EXPECTED)}"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_record_counts(data, name):
    records, html_responses = EXPECTED[name]
    docs = _read(data / "warc" / name)
    reasons = Counter(d.metadata.get("filter_reason") for d in docs)
    assert len(docs) == records, reasons
    assert "read_error" not in reasons
    kept = reasons[None]
    # an HTML response with no payload is rejected as `empty` (its detail is the Content-Type)
    empty_html = sum(
        1
        for d in docs
        if d.metadata.get("filter_reason") == "empty" and "html" in (d.metadata.get("reject_detail") or "")
    )
    truncated = reasons["truncated"]
    assert kept + empty_html + truncated == html_responses, reasons
    for doc in docs:
        assert doc.id and doc.metadata["source"].endswith(name.rsplit("/", 1)[-1])


def test_truncated_record_is_rejected_not_lost(data):
    (doc,) = _read(data / "warc" / "cc-truncated-record.warc.gz")
    assert doc.metadata["filter_reason"] == "truncated"
    assert "shorter than Content-Length" in doc.metadata["reject_detail"]
    assert doc.metadata["url"].startswith("http://www.houstonpress.com/")


def test_clueweb_pages_pass_as_html_with_null_dates(data):
    docs = _read(data / "warc" / "clueweb09-ja-warc018-quirks.warc.gz")
    responses = [d for d in docs if d.metadata.get("filter_reason") != "not_response"]
    assert len(responses) == 29
    assert all(d.metadata.get("filter_reason") is None for d in responses)
    assert all(d.metadata["crawl_date"] is None for d in docs)  # 2008-10-294: malformed
    assert all(d.metadata["_http_charset"].upper() == "EUC-JP" for d in responses)


def test_ids_are_stable_across_reads_including_arc(data):
    for name in ("heritrix-2008.arc.gz", "wget-sample-0001.warc.gz"):
        first, second = _read(data / "warc" / name), _read(data / "warc" / name)
        assert [d.id for d in first] == [d.id for d in second]
        assert len({d.id for d in first}) == len(first)


def test_warc_and_arc_of_the_same_crawl_agree(data):
    def kept_urls(name):
        return sorted(d.metadata["url"] for d in _read(data / "warc" / name) if not d.metadata.get("filter_reason"))

    assert kept_urls("heritrix-2008-warc017.warc.gz") == kept_urls("heritrix-2008.arc.gz")


def test_dates_are_iso_utc():
    assert iso_utc("2024-05-18T01:58:10Z") == "2024-05-18T01:58:10Z"
    assert iso_utc("2024-05-18T03:58:10+02:00") == "2024-05-18T01:58:10Z"
    assert iso_utc("2024-05-18T01:58:10.123456Z") == "2024-05-18T01:58:10Z"
    assert iso_utc("20080430204825") == "2008-04-30T20:48:25Z"
    assert iso_utc("2008-10-294T05:21:46-0700") is None
    assert iso_utc(None) is None


def test_html_decided_by_content_type_then_bytes():
    assert is_html("text/html; charset=utf-8", b"not really html")
    assert not is_html("image/png", b"<html><body>x</body></html>")
    assert is_html(None, b"\n  <!DOCTYPE html><html>")
    assert is_html("application/octet-stream", b"<!-- c --><html lang=en>")
    assert not is_html(None, b"20080430204825\nwww.archive.org.\t589\tIN\tA\t207.241.229.39\n")
    assert not is_html(None, b"\x89PNG\r\n\x1a\n\x00\x00")


def test_corrupt_gzip_member_is_skipped_and_the_rest_is_read(data, tmp_path):
    raw = (data / "warc" / "wget-sample-0000.warc.gz").read_bytes()
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(raw[: len(raw) // 2] + b"\x00garbage" * 64 + raw[len(raw) // 2 :])
    docs = _read(broken)
    errors = [d for d in docs if d.metadata.get("filter_reason") == "bad_gzip"]
    assert len(errors) == 1 and "skipped to the next member" in errors[0].metadata["reject_detail"]
    assert errors[0].metadata["source"] == str(broken)
    records = [d for d in docs if d.metadata.get("filter_reason") != "bad_gzip"]
    assert len(records) == 47  # every record but the one whose member the garbage broke
    clean = {d.id for d in _read(data / "warc" / "wget-sample-0000.warc.gz")}
    assert {d.id for d in records} < clean


def test_not_an_archive_and_missing_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\nthis is not a WARC file\n")
    (doc,) = _read(text)
    assert doc.metadata["filter_reason"] == "not_warc"
    (doc,) = _read(tmp_path / "missing.warc.gz")
    assert doc.metadata["filter_reason"] == "read_error" and "cannot open" in doc.metadata["reject_detail"]


def test_plain_uncompressed_warc(data, tmp_path):
    plain = tmp_path / "plain.warc"
    plain.write_bytes(gzip.decompress((data / "warc" / "wget-sample-0001.warc.gz").read_bytes()))
    docs = _read(plain)
    assert len(docs) == 34
    with open(plain, "rb") as f:
        assert sum(1 for _ in ArchiveIterator(io.BufferedReader(f))) == 34


def test_huge_record_is_rejected_as_too_large(data):
    path = data / "extraction" / "articles-311.warc.gz"
    docs = list(WarcReader([str(path)], max_record_bytes=200_000).read_file(str(path)))
    too_large = [d for d in docs if d.metadata.get("filter_reason") == "too_large"]
    assert too_large and all("max_record_bytes=200000" in d.metadata["reject_detail"] for d in too_large)
    assert len(docs) == 312


def test_shards_balance_bytes_and_cover_every_file_once(data):
    paths = sorted(str(p) for p in (data / "warc").iterdir() if p.suffix == ".gz") * 2
    paths.append(str(data / "extraction" / "articles-311.warc.gz"))
    shards = [shard(paths, rank, 3) for rank in range(3)]
    assert sorted(p for s in shards for p in s) == sorted(paths)
    loads = [sum(os.path.getsize(p) for p in s) for s in shards]
    assert max(loads) <= sum(loads) / 3 + max(os.path.getsize(p) for p in paths)  # greedy bound


def test_warc_1_1_with_microsecond_dates(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "v11.warc.gz"
    html = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>Hello there.</p></body></html>"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True, warc_version="WARC/1.1")
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            "https://example.org/",
            "response",
            payload=io.BytesIO(html),
            http_headers=headers,
            warc_headers_dict={"WARC-Date": "2024-05-18T01:58:10.123456Z"},
        )
        writer.write_record(record)
    (doc,) = _read(path)
    assert doc.metadata.get("filter_reason") is None
    assert doc.metadata["crawl_date"] == "2024-05-18T01:58:10Z"
    assert doc.metadata["_payload"] == html and doc.metadata["_http_charset"] == "utf-8"
