"""Charset robustness: 400+ real pages in 50+ encodings, wrapped in WARC records with and without a charset."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY
from curate.stages.charset import codec_name, decode_html
from curate.stages.warc import WarcReader


def true_codec(folder: str) -> str | None:
    """Folder names are the true encoding, sometimes with a language suffix (`iso-8859-2-czech`)."""
    return codec_name(folder) or codec_name(folder.rsplit("-", 1)[0])


def pages(data: Path) -> list[tuple[str, str, bytes]]:
    out = []
    for folder in sorted(p for p in (data / "charset").iterdir() if p.is_dir()):
        if folder.name == "EUC-TW":  # Python has no EUC-TW codec
            continue
        codec = true_codec(folder.name)
        assert codec, f"no Python codec for {folder.name}"
        out += [(folder.name, codec, f.read_bytes()) for f in sorted(folder.iterdir()) if f.is_file()]
    return out


def write_warc(path: Path, items, with_charset: bool) -> None:
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i, (folder, _, payload) in enumerate(items):
            content_type = f"text/html; charset={folder.rsplit('-', 1)[0] if not codec_name(folder) else folder}"
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", content_type if with_charset else "text/html")], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                f"https://charset.test/{i}", "response", payload=io.BytesIO(payload), http_headers=headers
            )
            writer.write_record(record)


def decoded_through_reader(path: Path) -> list[str]:
    texts = []
    for doc in WarcReader([str(path)]).read_file(str(path)):
        if doc.metadata.get("filter_reason") is None:
            texts.append(decode_html(doc.metadata[PAYLOAD_KEY], doc.metadata[HTTP_CHARSET_KEY])[0])
        elif doc.metadata["filter_reason"] != "not_response":
            texts.append(None)
    return texts


@pytest.mark.slow
def test_charsets_with_and_without_header(data, tmp_path):
    items = pages(data)
    assert len(items) > 400
    expected = [payload.decode(codec).lstrip("\ufeff") for _, codec, payload in items]
    results = {}
    for with_charset in (True, False):
        path = tmp_path / f"charset-{with_charset}.warc.gz"
        write_warc(path, items, with_charset)
        got = decoded_through_reader(path)
        assert len(got) == len(items)
        ok = [g == e for g, e in zip(got, expected)]
        results[with_charset] = sum(ok) / len(ok)
        if with_charset:
            wrong = sorted({items[i][0] for i, good in enumerate(ok) if not good})
            assert all(ok), f"decoded wrongly despite the header: {wrong}"
    print(
        f"\n{len(items)} pages decoded as the true encoding: with header {results[True]:.3f},"
        f" without {results[False]:.3f}"
    )
    assert results[False] >= 0.90
