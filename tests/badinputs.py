"""A corpus of hostile crawl files, built from a real WARC at test time (never committed as data).

Each case is a file plus what the reader must make of it. `GOOD` names the real file every case starts from, so a
test can check the good records of a broken file are exactly the records of the clean one.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GOOD = "warc/wget-sample-0001.warc.gz"  # 34 records in gzip-per-record members: 15 HTML responses
GIB = 1 << 30


def members(raw: bytes) -> list[bytes]:
    """The gzip members of a file, as their compressed bytes."""
    out, pos = [], 0
    while pos < len(raw):
        decoder = zlib.decompressobj(31)
        decoder.decompress(raw[pos:])
        end = len(raw) - len(decoder.unused_data)
        out.append(raw[pos:end])
        pos = end
    return out


def records(raw: bytes) -> list[bytes]:
    """Each member's decoded bytes (one WARC record and its trailing blank lines)."""
    return [gzip.decompress(m) for m in members(raw)]


def with_length(record: bytes, delta: int) -> bytes:
    """The record with its Content-Length changed by `delta` (the content itself untouched)."""

    def change(match: re.Match) -> bytes:
        return b"Content-Length: " + str(int(match.group(1)) + delta).encode()

    return re.sub(rb"Content-Length: (\d+)", change, record, count=1)


def response_index(recs: list[bytes], nth: int = 0) -> int:
    found = [i for i, r in enumerate(recs) if b"WARC-Type: response" in r and b"text/html" in r]
    return found[nth]


def warc_response(url: str, http: bytes) -> bytes:
    """A WARC/1.0 response record (and its blank lines) carrying the HTTP message `http`."""
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-05-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{zlib.crc32(url.encode()):012d}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
    )
    return head.encode() + http + b"\r\n\r\n"


def http(body: bytes, content_type: str = "text/html", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{extra}\r\n".encode() + body


def gzip_stream(size: int) -> bytes:
    """A gzip member of `size` zero bytes (a bomb: about 1000:1), made in a second: one compressed MiB, fully
    flushed so it depends on nothing before it, repeated, then the trailer's CRC and size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    body = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = size // len(block)
    tail = compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    trailer = struct.pack("<II", crc, (count * len(block)) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body * count + tail + trailer


def page(text: str) -> bytes:
    return f"<html><head><title>t</title></head><body><p>{text}</p></body></html>".encode()


@dataclass
class Case:
    """A hostile file and what must come of it."""

    name: str
    build: Callable[[bytes], bytes]
    reasons: set[str] = field(default_factory=set)  # rejection reasons the reader must give (at least these)
    good_records: bool = True  # every record of the clean file outside the damage is read, with the same id
    suffix: str = ".warc.gz"


def _members_edit(edit: Callable[[list[bytes]], list[bytes]]) -> Callable[[bytes], bytes]:
    def build(raw: bytes) -> bytes:
        recs = edit(records(raw))
        return b"".join(gzip.compress(r) for r in recs)

    return build


def _plain_edit(edit: Callable[[list[bytes]], list[bytes]]) -> Callable[[bytes], bytes]:
    return lambda raw: b"".join(edit(records(raw)))


def _lengthen(delta: int) -> Callable[[list[bytes]], list[bytes]]:
    def edit(recs: list[bytes]) -> list[bytes]:
        i = response_index(recs, 2)
        return recs[:i] + [with_length(recs[i], delta)] + recs[i + 1 :]

    return edit


def _inject(record: Callable[[], bytes]) -> Callable[[list[bytes]], list[bytes]]:
    return lambda recs: recs[:3] + [record()] + recs[3:]


def _page_record(url: str, body: Callable[[], bytes], content_type: str = "text/html", extra: str = ""):
    return lambda: warc_response(url, http(body(), content_type, extra))


def cases() -> list[Case]:
    """Every hostile case; payloads are made only when a case is built."""
    html = page("A plain paragraph of text about the weather in spring. " * 40)
    latin1 = _page_record(
        "http://example.org/mislabelled",
        lambda: page("Siméon’s café — naïve façade. " * 30),
        "text/html; charset=iso-8859-1",
    )
    unknown = _page_record("http://example.org/unknown", lambda: html, "text/html; charset=x-no-such-charset")
    binary = _page_record("http://example.org/binary", lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400)
    big = _page_record("http://example.org/big", lambda: page("word " * 11_000_000))  # a 55 MB page
    bomb = _page_record("http://example.org/bomb", lambda: gzip_stream(2 * GIB), extra="Content-Encoding: gzip\r\n")
    nested = _page_record("http://example.org/nested", lambda: b"<html><body>" + b"<div>" * 100_000 + b"x")
    return [
        Case("gzip-length-short", _members_edit(_lengthen(-100)), {"bad_length"}),
        Case("gzip-length-long", _members_edit(_lengthen(+100)), {"bad_length"}),
        Case("plain-length-short", _plain_edit(_lengthen(-100)), {"bad_length"}, suffix=".warc"),
        Case("plain-length-long", _plain_edit(_lengthen(+100)), {"bad_length"}, suffix=".warc"),
        Case(
            "plain-trailing-text", lambda raw: gzip.decompress(raw) + b"notes\n" * 400, {"not_a_record"}, True, ".warc"
        ),
        Case("gzip-trailing-garbage", lambda raw: raw + b"\x00\xffgarbage" * 500, {"not_gzip"}),
        Case("gzip-trailing-text", lambda raw: raw + b"appended text\n" * 300, {"not_gzip"}),
        Case("gzip-truncated", lambda raw: raw[: len(raw) * 2 // 3], {"truncated"}, good_records=False),
        Case(
            "gzip-corrupt-member",
            lambda raw: raw[: len(raw) // 2] + b"\x00bad" * 64 + raw[len(raw) // 2 :],
            {"bad_gzip"},
        ),
        Case("not-a-warc", lambda raw: b"%PDF-1.4\n" + bytes(range(256)) * 100, {"not_warc"}, good_records=False),
        Case("empty", lambda raw: b"", {"not_warc"}, good_records=False),
        Case("binary-labelled-html", _members_edit(_inject(binary))),
        Case("page-50mb", _members_edit(_inject(big)), {"too_large"}),
        Case("http-gzip-bomb", _members_edit(_inject(bomb)), {"too_large"}),
        Case(
            "warc-gzip-bomb",
            lambda raw: b"".join(members(raw)[:3] + [gzip_stream(GIB)] + members(raw)[3:]),
            {"not_a_record"},
        ),
        Case(
            "leading-garbage",
            lambda raw: b"garbage before the first record\n" * 50 + gzip.decompress(raw),
            {"not_warc"},
            suffix=".warc",
        ),
        Case("nested-html", _members_edit(_inject(nested))),
        Case("wrong-charset", _members_edit(_inject(latin1))),
        Case("unknown-charset", _members_edit(_inject(unknown))),
    ]


def build(data: Path, folder: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the cases (all, or `names`) under `folder`; returns name → path."""
    raw = (data / GOOD).read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for case in cases():
        if names is None or case.name in names:
            path = folder / f"{case.name}{case.suffix}"
            path.write_bytes(case.build(raw))
            out[case.name] = path
    return out


if __name__ == "__main__":  # write the corpus to a folder, e.g. for bench/bench_reader.py --hostile
    import os
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python tests/badinputs.py FOLDER")
    root = Path(os.environ.get("CURATE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    for path in build(root, Path(sys.argv[1])).values():
        print(f"{path}  {path.stat().st_size:,} bytes")
