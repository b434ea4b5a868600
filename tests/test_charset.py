"""Charset robustness: 400+ real pages in 50+ encodings, wrapped in WARC records with and without a charset, and
real UTF-8 pages given a wrong single-byte label (HTTP or meta), which must still come out as UTF-8."""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.evals.charset import INVALID, with_meta
from curate.evals.charset import corpus as charset_corpus
from curate.evals.charset import utf8_pages as real_utf8_pages
from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY
from curate.stages.charset import codec_name, decode_html, is_single_byte
from curate.stages.warc import WarcReader


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


def decoded_through_reader(path: Path) -> list[str | None]:
    texts: list[str | None] = []
    for doc in WarcReader([str(path)]).read_file(str(path)):
        if doc.metadata.get("filter_reason") is None:
            texts.append(decode_html(doc.metadata[PAYLOAD_KEY], doc.metadata[HTTP_CHARSET_KEY])[0])
        elif doc.metadata["filter_reason"] != "not_response":
            texts.append(None)
    return texts


@pytest.mark.slow
def test_charsets_with_and_without_header(data, tmp_path):
    items = charset_corpus(data)
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


# -- labels against bytes: a single-byte label on UTF-8 bytes ------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(data) -> list[tuple[str, str, bytes]]:
    return charset_corpus(data)


@pytest.fixture(scope="module")
def utf8_pages(data) -> list[bytes]:
    """Real UTF-8 pages with non-ASCII bytes: the corpus's, and the crawl files' HTML labelled UTF-8 (deduplicated)."""
    by_source = real_utf8_pages(data)
    return [page for source, pages in by_source.items() if source != INVALID for page in pages]


def test_single_byte_codecs_are_told_by_the_codec():
    single = ["iso-8859-1", "windows-1252", "iso-8859-2", "iso-8859-15", "windows-1251", "koi8-r", "koi8-u"]
    single += ["macintosh", "x-mac-cyrillic", "ibm866", "tis-620", "windows-874"]
    multi = ["utf-8", "us-ascii", "shift_jis", "euc-jp", "gb18030", "big5", "euc-kr", "iso-2022-jp", "utf-16le"]
    for label in single:
        assert is_single_byte(codec_name(label)), label
    for label in multi:
        assert not is_single_byte(codec_name(label)), label
    assert not is_single_byte("base64_codec")  # a label Python knows that is not a text encoding


def test_corpus_figures_hold(corpus):
    """The true label decodes every corpus page; without one, at least as many pages as before (398 of 424)."""
    truth = [payload.decode(codec).lstrip("\ufeff") for _, codec, payload in corpus]
    labelled = [decode_html(p, f if codec_name(f) else f.rsplit("-", 1)[0])[0] for f, _, p in corpus]
    unlabelled = [decode_html(p, None)[0] for _, _, p in corpus]
    assert [i for i, (got, want) in enumerate(zip(labelled, truth)) if got != want] == []
    right = sum(got == want for got, want in zip(unlabelled, truth))
    print(f"\n{len(corpus)} corpus pages right: with the label {len(corpus)}, without {right}")
    assert right >= 398


@pytest.mark.parametrize("relabel", ["http iso-8859-1", "http windows-1252", "meta iso-8859-1"])
def test_utf8_pages_with_a_single_byte_label_stay_utf8(utf8_pages, relabel):
    assert len(utf8_pages) >= 250  # 21 corpus pages, 268 crawl pages
    wrong = []
    for page in utf8_pages:
        where, charset = relabel.split()
        payload, http = (page, charset) if where == "http" else (with_meta(page, charset), None)
        text, how = decode_html(payload, http)
        if text != payload.decode("utf-8").lstrip("\ufeff") or how not in ("utf-8-sniffed", "bom"):
            wrong.append((how, text[:80]))
    print(f"\n{relabel}: {len(utf8_pages) - len(wrong)}/{len(utf8_pages)} UTF-8 pages decoded as UTF-8")
    assert wrong == []


def test_genuine_single_byte_pages_keep_their_label(corpus):
    """No single-byte page of the corpus (Latin-1, windows-125x, KOI8-R, Mac, DOS, TIS-620) is taken for UTF-8."""
    checked = 0
    for folder, codec, payload in corpus:
        if not is_single_byte(codec):
            continue
        label = folder if codec_name(folder) else folder.rsplit("-", 1)[0]
        assert decode_html(payload, label) == (payload.decode(codec), "http"), folder
        relabelled = with_meta(payload, label)
        assert decode_html(relabelled, None) == (relabelled.decode(codec), "declared"), folder
        checked += 1
    assert checked >= 150


def test_ascii_pages_and_clear_cases(corpus):
    for folder, _, payload in corpus:
        if folder == "ascii":
            assert decode_html(payload, "iso-8859-1") == (payload.decode("ascii"), "http")
    utf8, latin1 = "Siméon: I’m here".encode(), "Siméon: je suis là".encode("latin-1")
    assert decode_html(utf8, "iso-8859-1") == ("Siméon: I’m here", "utf-8-sniffed")
    assert decode_html(utf8, "windows-1252") == ("Siméon: I’m here", "utf-8-sniffed")
    assert decode_html(latin1, "iso-8859-1") == ("Siméon: je suis là", "http")
    assert decode_html(b'<meta charset="koi8-r">' + "Привет".encode(), None)[1] == "utf-8-sniffed"
    assert decode_html(codecs.BOM_UTF8 + utf8, "iso-8859-1") == ("Siméon: I’m here", "utf-8-sniffed")


def test_ascii_page_declaring_utf16_is_read_as_utf8():
    """A meta tag naming UTF-16 on a page whose bytes read as ASCII is a mislabel (the tag itself is 8-bit)."""
    page = b'<meta charset="utf-16"><p>caf\xc3\xa9 ok</p>'
    assert decode_html(page) == ('<meta charset="utf-16"><p>café ok</p>', "declared")
