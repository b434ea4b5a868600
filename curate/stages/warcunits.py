"""A crawl file as units: its gzip members one by one (or the whole file when it is plain), and the ranges between.

The file level of byte accounting: members and skipped ranges tile the file's bytes exactly. A corrupt member ends
where the next valid gzip member starts (found by scanning for the gzip magic and test-decoding there); bytes after
the last member that are not gzip are a skipped range. A member is decoded a chunk at a time, so a gzip bomb costs
time, never memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from curate.stages.warcframe import CHUNK, Stream

_MAGIC = b"\x1f\x8b\x08"
_SCAN = 1 << 20


class Raw:
    """A binary file read forward, with push-back and the position in the file."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.pos = 0
        self._back = b""

    def read(self, n: int) -> bytes:
        data, self._back = self._back[:n], self._back[n:]
        if len(data) < n:
            data += self.handle.read(n - len(data))
        self.pos += len(data)
        return data

    def unread(self, data: bytes) -> None:
        self._back = data + self._back
        self.pos -= len(data)

    def seek(self, pos: int) -> bool:
        """Go back to `pos`; False when the file cannot seek (a stream)."""
        try:
            self.handle.seek(pos)
        except (OSError, ValueError, AttributeError):
            return False
        self._back, self.pos = b"", pos
        return True


@dataclass
class Unit:
    """A gzip member, a plain file, or a skipped range of the file (`reason` set, no `stream`)."""

    offset: int
    gzip: bool
    stream: Stream | None = None
    length: int = 0  # file bytes; final once `stream` is consumed
    decoded: int = 0  # bytes `stream` gave
    reason: str | None = None  # skipped range: not_gzip; for a member: bad_gzip, truncated
    detail: str | None = None
    good: int | None = None  # bad_gzip: file bytes that decoded before the corrupt chunk (the rest is skipped)
    done: bool = False  # the stream was read to its end and `length` is final


def units(handle: BinaryIO) -> Iterator[Unit]:
    """The file's units in order. Consume each unit's stream before asking for the next unit."""
    raw = Raw(handle)
    head = raw.read(3)
    raw.unread(head)
    if head != _MAGIC:
        unit = Unit(0, gzip=False)
        unit.stream = Stream(_plain(raw, unit))
        yield unit
        return
    while True:
        head = raw.read(3)
        raw.unread(head)
        if not head:
            return
        start = raw.pos
        if head != _MAGIC:  # a member that starts with the magic but does not decode ends as `bad_gzip`
            passed = _skip_to_member(raw)
            detail = f"{passed} bytes that are not a gzip member"
            yield Unit(start, True, length=raw.pos - start, reason="not_gzip", detail=detail, done=True)
            continue
        unit = Unit(start, gzip=True)
        unit.stream = Stream(_member(raw, unit))
        yield unit
        if not unit.done:
            return  # the reader stopped inside this member (--limit)


def _plain(raw: Raw, unit: Unit) -> Iterator[bytes]:
    while chunk := raw.read(CHUNK):
        unit.decoded += len(chunk)
        yield chunk
    unit.length, unit.done = raw.pos, True


def _member(raw: Raw, unit: Unit) -> Iterator[bytes]:
    """Decoded chunks of the member at `unit.offset`; at its end, `unit.length` covers it (and, when corrupt, the
    bytes up to the next member that decodes)."""
    decoder = zlib.decompressobj(31)
    data = b""
    good = 0  # file bytes fed to the decoder without error
    while True:
        if not data:
            data = raw.read(CHUNK)
            if not data:
                unit.reason, unit.detail = "truncated", "the file ends inside this gzip member"
                break
        try:
            out = decoder.decompress(data, CHUNK)
        except zlib.error as err:
            unit.reason, unit.detail, unit.good = "bad_gzip", f"corrupt gzip data: {err}", good
            if raw.seek(unit.offset + 1):  # resynchronise on the next member after this one's start
                _skip_to_member(raw)
            else:
                _drain(raw)
            break
        good = raw.pos - unit.offset - len(decoder.unconsumed_tail)
        data = decoder.unconsumed_tail
        if out:
            unit.decoded += len(out)
            yield out
        if decoder.eof:
            raw.unread(decoder.unused_data)
            break
    unit.length, unit.done = raw.pos - unit.offset, True


def _decodes_at(raw: Raw) -> bool:
    """Whether a gzip member that decodes starts here (the magic alone can occur inside compressed data)."""
    head = raw.read(CHUNK)
    raw.unread(head)
    if len(head) < 10 or head[3] & 0xE0:  # reserved flag bits must be zero
        return False
    try:
        zlib.decompressobj(31).decompress(head, 1)
    except zlib.error:
        return False
    return True


def _skip_to_member(raw: Raw) -> int:
    """Move past bytes up to the next decodable gzip member (or the end); returns bytes passed."""
    passed = 0
    while True:
        window = raw.read(_SCAN)
        if not window:
            return passed
        at = window.find(_MAGIC, 1 if passed == 0 else 0)
        while at >= 0:
            raw.unread(window[at:])
            if _decodes_at(raw):
                return passed + at
            raw.read(len(window) - at)
            at = window.find(_MAGIC, at + 1)
        keep = min(len(_MAGIC) - 1, len(window))
        raw.unread(window[len(window) - keep :] if len(window) == _SCAN else b"")
        passed += len(window) - (keep if len(window) == _SCAN else 0)
        if len(window) < _SCAN:
            return passed


def _drain(raw: Raw) -> None:
    while raw.read(CHUNK):
        pass
