"""Where each WARC/ARC record starts and ends, checked, so every byte of a file is a record or a skipped range.

warcio trusts each record's Content-Length: a length that is wrong by a few bytes cuts the record short, invents a
record from the leftover bytes, then stops reading the file without saying so. Framing here checks that every record
ends where the next one starts (or where its gzip member ends), and when it does not, rejects that record as
`bad_length` and resynchronises on the next record header, so the records after it are read as usual.

Two levels of bytes, both tiled exactly (`Span`s): a file is gzip members and skipped ranges (in file bytes); the
bytes a member decodes to (or a plain file's bytes) are records and skipped ranges. Memory is bounded: a record's
content is held only up to `cap` bytes, scanning for the next header looks at a window at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

CHUNK = 1 << 16
MAX_HEADER = 1 << 16  # a WARC header block, or an ARC header line, longer than this is not one
_FIRST_LOOK = 4096
_SCAN = 1 << 20  # window when scanning for the next header
_WARC_VERSION = re.compile(rb"WARC/\d+\.\d+\r?\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ARC_LINE = re.compile(rb"([a-zA-Z][a-zA-Z0-9+.\-]*:\S*) (\S+) (\d{12,14}) ?(\S*)(?: \S+)* (\d+)\r?\n")
_ARC_CANDIDATE = re.compile(rb"\n[a-zA-Z][a-zA-Z0-9+.\-]*:\S* \S+ \d{12,14} ")
_SEPARATOR = b"\r\n"


class Stream:
    """The bytes of one unit (a gzip member's output, or a plain file) read forward, with peek and push-back."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = bytearray()
        self._done = False
        self.pos = 0

    def _fill(self, n: int) -> None:
        while len(self._buf) < n and not self._done:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buf += chunk

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return bytes(self._buf[:n])

    def read(self, n: int) -> bytes:
        data = self.peek(n)
        del self._buf[: len(data)]
        self.pos += len(data)
        return data

    def skip(self, n: int) -> int:
        """Discard up to `n` bytes without holding more than a chunk of them."""
        skipped = 0
        while skipped < n:
            got = len(self.read(min(CHUNK, n - skipped)))
            if not got:
                break
            skipped += got
        return skipped

    def unread(self, data: bytes) -> None:
        self._buf[:0] = data
        self.pos -= len(data)

    def at_end(self) -> bool:
        self._fill(1)
        return not self._buf


@dataclass
class Header:
    """A record's header: WARC named fields, or an ARC line's fields under WARC-like names."""

    size: int  # bytes of the header block, blank line included
    fields: dict[str, str]
    content_length: int
    arc: bool = False

    def get(self, name: str) -> str | None:
        return self.fields.get(name.lower())


def parse_warc_header(buf: bytes) -> Header | None:
    """A WARC header block at the start of `buf`, or None when there is none (or no Content-Length)."""
    if not _WARC_VERSION.match(buf):
        return None
    end = _HEADER_END.search(buf)
    if end is None:
        return None
    fields: dict[str, str] = {}
    last = None
    for raw in buf[: end.start()].decode("utf-8", "replace").splitlines()[1:]:
        if raw[:1] in (" ", "\t") and last:  # a folded continuation line
            fields[last] += " " + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            return None
        last = name.strip().lower()
        fields[last] = value.strip()
    length = fields.get("content-length", "")
    if not length.isdigit():
        return None
    return Header(end.end(), fields, int(length))


def parse_arc_header(buf: bytes) -> Header | None:
    """An ARC v1/v2 header line (URL IP date type ... length) at the start of `buf`."""
    match = _ARC_LINE.match(buf)
    if match is None:
        return None
    url, ip, date, mime, length = (g.decode("utf-8", "replace") for g in match.groups())
    rec_type = "warcinfo" if url.startswith("filedesc:") else "response"
    fields = {"warc-type": rec_type, "warc-target-uri": url, "warc-date": date, "content-type": mime, "ip": ip}
    return Header(match.end(), fields, int(length), arc=True)


@dataclass
class Frame:
    """One record, or one range of bytes that is not a record, at `start` of its unit (a member or a plain file)."""

    start: int
    length: int
    header: Header | None = None
    content: bytes | None = None  # None when over the cap (or not a record)
    reason: str | None = None  # not_a_record, bad_length, truncated, too_large
    detail: str | None = None


@dataclass
class Framer:
    """Records of one unit in order; every byte of the unit falls in exactly one frame."""

    arc: bool
    cap: int
    member: bool = False  # the unit is one gzip member: nothing but blank lines may follow a record's content

    def header_at(self, stream: Stream, skip: int = 0) -> Header | None:
        """The header `skip` bytes ahead, if one starts there (a short look first: most headers are < 1 KiB)."""
        parse = parse_arc_header if self.arc else parse_warc_header
        head = stream.peek(skip + _FIRST_LOOK)[skip:]
        found = parse(head)
        if found is None and len(head) == _FIRST_LOOK and (self.arc or head.startswith(b"WARC/")):
            found = parse(stream.peek(skip + MAX_HEADER)[skip:])
        return found

    def frames(self, stream: Stream) -> Iterator[Frame]:
        while True:
            start = stream.pos
            _skip_separators(stream)
            if stream.at_end():
                if stream.pos > start:  # blank lines only (a unit that holds no record)
                    yield Frame(start, stream.pos - start, reason="blank")
                return
            header = self.header_at(stream)
            if header is None:
                skipped = self.skip_to_header(stream)
                yield Frame(start, stream.pos - start, reason="not_a_record", detail=f"{skipped} bytes")
                continue
            yield self._record(stream, start, header)

    def _record(self, stream: Stream, start: int, header: Header) -> Frame:
        stream.skip(header.size)
        wanted = header.content_length
        if wanted > self.cap:
            got = stream.skip(wanted)
            content = None
        else:
            content = stream.read(wanted)
            got = len(content)
        if got < wanted:
            detail = f"payload {wanted - got} bytes shorter than Content-Length {wanted}"
            return Frame(start, stream.pos - start, header, None, "truncated", detail)
        separators, followed = self._boundary(stream)
        if followed or (separators >= 2 and not self.member):
            # Ends where the next record (or the unit) starts; in a plain file, a record closed by a blank line
            # but followed by something else is kept, and what follows becomes a `not_a_record` range.
            stream.skip(separators)
            if content is None:
                detail = f"{wanted} bytes > max_record_bytes={self.cap}"
                return Frame(start, stream.pos - start, header, None, "too_large", detail)
            return Frame(start, stream.pos - start, header, content)
        # The record does not end where its Content-Length says: reject it, resynchronise on the next header.
        body_start = stream.pos - wanted
        if content is not None:
            stream.unread(content)  # look for the next header from the first byte after this header on
        self.skip_to_header(stream, here=content is not None)
        after = stream.pos - body_start
        what = f"Content-Length {wanted} does not end the record"
        if stream.at_end():
            detail = f"{what}; {after} bytes follow its header and no record after them"
        else:
            detail = f"{what}: the next record starts {after} bytes after its header"
        return Frame(start, stream.pos - start, header, None, "bad_length", detail)

    def _boundary(self, stream: Stream) -> tuple[int, bool]:
        """(bytes of CR/LF ahead, whether the end of the unit or a record header follows them)."""
        head = stream.peek(_FIRST_LOOK)
        n = len(head) - len(head.lstrip(_SEPARATOR))
        if n == len(head):
            if len(head) == _FIRST_LOOK:  # a long run of blank lines: look further before deciding
                head = stream.peek(MAX_HEADER)
                n = len(head) - len(head.lstrip(_SEPARATOR))
            if n == len(head):
                return n, len(head) < MAX_HEADER  # the end of the unit (or a sea of blank lines)
        return n, self.header_at(stream, n) is not None

    def skip_to_header(self, stream: Stream, here: bool = False) -> int:
        """Move to the next line that starts a valid record header (or to the end); returns bytes passed.

        With `here`, a header right at the current position counts too.
        """
        if here and self.header_at(stream) is not None:
            return 0
        passed = 0
        while True:
            window = stream.peek(_SCAN)
            if not window:
                return passed
            at = self._candidate(window)
            if at < 0:
                step = len(window) if len(window) < _SCAN else len(window) - MAX_HEADER
                passed += stream.skip(step)
                continue
            passed += stream.skip(at)
            if self.header_at(stream) is not None:
                return passed
            passed += stream.skip(1)

    def _candidate(self, window: bytes) -> int:
        """Index of the first line start after byte 0 that could open a record header, or -1."""
        if self.arc:
            match = _ARC_CANDIDATE.search(window)
            return -1 if match is None else match.start() + 1
        at = window.find(b"\nWARC/")
        return -1 if at < 0 else at + 1


def _skip_separators(stream: Stream) -> None:
    while True:
        head = stream.peek(CHUNK)
        stripped = len(head) - len(head.lstrip(_SEPARATOR))
        if stripped == 0:
            return
        stream.skip(stripped)
        if stripped < len(head):
            return
