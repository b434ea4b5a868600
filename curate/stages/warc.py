"""WARC/ARC reader: every byte of a file becomes a record (a document or a rejection) or a rejected range.

datatrove's own WarcReader trusts `WARC-Identified-Payload-Type` (empty or missing in older crawls), ignores the
HTTP charset, and crashes on a truncated record; warcio, under it, trusts each Content-Length and stops a file
silently at the first wrong one. This reader frames records itself (curate.stages.warcframe), resynchronises after a
bad one, writes where every byte went to the run's byte ledger (curate.ledger), decodes HTTP content codings with a
size cap (curate.stages.httpbody), and decides HTML from the HTTP Content-Type, then the bytes.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from datatrove.data import Document
from datatrove.utils.logging import logger

from curate.crawl import Unreachable
from curate.ledger import file_size
from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY, reject
from curate.stages.charset import charset_from_content_type
from curate.stages.httpbody import TooLarge, decode_body, split_http
from curate.stages.reader import AccountedReader, open_binary, stable_id
from curate.stages.warcframe import Frame, Framer
from curate.stages.warcunits import Unit, units

# Types that are HTML for certain; any other declared type is not, except these that say nothing.
_HTML_MARKERS = ("html",)
_UNINFORMATIVE = {"", "application/octet-stream", "binary/octet-stream", "unknown/unknown", "application/unknown"}
_SNIFF = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|title|meta|div|p\b)", re.I | re.S)
_MAX_DATE_WARNINGS = 3


def is_html(content_type: str | None, payload: bytes) -> bool:
    """HTML from the HTTP Content-Type when it says something, else from the first bytes."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in _UNINFORMATIVE:
        return any(marker in mime for marker in _HTML_MARKERS)
    head = payload[:2048].lstrip(b"\xef\xbb\xbf")
    if b"\x00" in head[:64]:  # UTF-16/32 text: look at it without the zero bytes
        head = head.replace(b"\x00", b"")
    return bool(_SNIFF.match(head))


def iso_utc(value: str | None) -> str | None:
    """A WARC/ARC date as ISO 8601 UTC (`2024-05-18T01:58:10Z`); None when it cannot be parsed."""
    if not value:
        return None
    value = value.strip()
    try:
        if value.isdigit() and len(value) in (12, 14):  # ARC: YYYYmmddHHMM[SS]
            parsed = datetime.strptime(value.ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class WarcReader(AccountedReader):
    """Reads WARC/1.0–1.1, WARC/0.17–0.18 and ARC files, gzip or plain; keeps HTML responses.

    Every byte of a file ends up in a record or in a rejected range (see curate.stages.warcframe): rejection
    reasons are `not_response`, `not_html`, `empty`, `truncated` (the file or member ends inside the record),
    `bad_length` (the record does not end where its Content-Length says), `too_large` (over `max_record_bytes`
    as stored, or once its HTTP content coding is undone), `read_error` (a local file that cannot be opened),
    `unreachable` (a URL that cannot be opened, or whose stream fails for good midway: the rest of the file from
    there), and for bytes that are no record: `not_warc`, `not_a_record`, `not_gzip`, `bad_gzip`, `blank`.
    """

    name = "📖 WARC reader"

    def __init__(
        self,
        paths: list[str],
        rejects=None,
        limit: int = -1,
        max_record_bytes: int = 10 * 2**20,
        progress: bool = False,
        ledger: str | None = None,
    ):
        super().__init__(paths, rejects, limit, progress, ledger)
        self.max_record_bytes = max_record_bytes

    # -- one file -------------------------------------------------------------------------------------------
    def read_file(self, path: str) -> Generator[Document, None, None]:
        """Yield one document per record and per skipped range; rejected ones carry their reason in metadata."""
        self._date_warnings = 0
        try:
            handle = open_binary(path)
        except Unreachable as err:
            yield from self._unreachable(path, 0, err)
            return
        except OSError as err:
            yield self._range_doc(path, 0, "read_error", f"cannot open: {err}")
            return
        with handle:
            buffered = io.BufferedReader(handle) if not hasattr(handle, "peek") else handle
            try:
                head = buffered.peek(4096)[:4096]
            except Unreachable as err:
                yield from self._unreachable(path, 0, err)
                return
            if not head:
                self.account(path, "file", 0, 0, 0, "plain", decoded=0)
                yield self._range_doc(path, 0, "not_warc", "an empty file")
                return
            yield from self._read_units(path, buffered, _archive_kind(head) == "arc")
        if self._date_warnings > _MAX_DATE_WARNINGS:
            logger.warning(f"{path}: {self._date_warnings} records with a malformed WARC-Date (crawl_date=null)")

    def _read_units(self, path: str, handle, arc: bool) -> Iterator[Document]:
        at: _Cursor | None = _Cursor()
        index = 0
        seen_record = False
        try:
            for unit in units(handle):
                at = _Cursor(unit)
                if unit.stream is None:  # bytes between members that are not gzip
                    self.account(path, "file", unit.offset, unit.offset, unit.length, "skipped", unit.reason)
                    at.written = True
                    yield self._range_doc(path, unit.offset, unit.reason or "not_gzip", unit.detail)
                    continue
                framer = Framer(arc=arc, cap=self.max_record_bytes, member=unit.gzip)
                for frame in framer.frames(unit.stream):
                    if frame.reason == "truncated" and unit.gzip and unit.reason != "truncated":
                        # the member is whole: it is the record's length that is wrong, not the file
                        frame.reason = "bad_length"
                        frame.detail = f"the gzip member ends first: {frame.detail}"
                    if frame.header is None and not seen_record:
                        frame.reason = "not_warc"  # bytes before any record: not WARC (or ARC) at all
                    seen_record = seen_record or frame.header is not None
                    doc = self._frame_doc(frame, unit, path, index)
                    index += 1
                    kind = "record" if frame.header is not None else "skipped"
                    self.account(path, "unit", unit.offset, frame.start, frame.length, kind, frame.reason, doc.id)
                    at.framed = frame.start + frame.length
                    yield doc
                at.written = True
                yield from self._account_unit(path, unit)
            at = None
        except Unreachable as err:  # the stream failed for good: what was read stays, the rest is rejected
            start = self._cut(path, at)
            at = None
            yield from self._unreachable(path, start, err)
        finally:
            if at is not None and at.unit is not None:  # stopped early (--limit): the rest of the file is unread
                start = at.covered()
                self.account(path, "file", at.unit.offset, start, _size_after(path, start), "unread", "limit")

    def _cut(self, path: str, at: _Cursor | None) -> int:
        """Where the ledger's rows of a file whose stream failed end. A plain file keeps the records framed so far (its
        bytes are the frames' bytes); a gzip member read in part is lost whole (its records already yielded stay)."""
        if at is None or at.unit is None:
            return 0
        unit = at.unit
        if not at.written and not unit.gzip and at.framed:
            self.account(path, "file", unit.offset, unit.offset, at.framed, "plain", decoded=at.framed)
            return unit.offset + at.framed
        return at.covered()

    def _unreachable(self, path: str, start: int, err: Unreachable) -> Iterator[Document]:
        """A URL that failed for good from byte `start`: one rejected range to the end of the file (its size from
        Content-Length when the server gave one), and one rejected record naming the URL and the last error."""
        size = err.size if err.size is not None else file_size(path)
        length = max((size if size is not None else err.offset) - start, 0)
        self.account(path, "file", start, start, length, "skipped", "unreachable")
        rest = f"; bytes {start} to {start + length} not read" if length else ""
        yield self._range_doc(path, start, "unreachable", f"{err}{rest}")

    def _account_unit(self, path: str, unit) -> Iterator[Document]:
        """The unit's own ledger row; a corrupt member's undecodable bytes become a rejected range."""
        kind = "member" if unit.gzip else "plain"
        length = unit.length if unit.good is None else unit.good
        self.account(path, "file", unit.offset, unit.offset, length, kind, unit.reason, decoded=unit.decoded)
        if unit.good is not None:
            start, rest = unit.offset + unit.good, unit.length - unit.good
            self.account(path, "file", unit.offset, start, rest, "skipped", "bad_gzip")
            message = f"gzip member at byte {unit.offset}: {unit.detail}; {rest} bytes skipped to the next member"
            yield self._range_doc(path, start, "bad_gzip", message)

    def _range_doc(self, path: str, offset: int, reason: str, message: str | None) -> Document:
        doc = Document(text="", id=stable_id(path, offset, reason), metadata={"source": path})
        return reject(doc, reason, f"byte {offset}: {message}" if message else f"byte {offset}")

    def _frame_doc(self, frame: Frame, unit, path: str, index: int) -> Document:
        where = unit.offset if unit.gzip else frame.start
        if unit.gzip and frame.start:  # a gzip member holding several records
            where = f"{unit.offset}+{frame.start}"
        header = frame.header
        if header is None:
            what = "not a WARC or ARC file" if frame.reason == "not_warc" else "no WARC or ARC record"
            message = f"{what}: {frame.length} bytes"
            return self._range_doc(path, unit.offset + (0 if unit.gzip else frame.start), frame.reason or "", message)
        doc_id = (header.get("WARC-Record-ID") or "").strip().strip("<>").removeprefix("urn:uuid:")
        raw_date = header.get("WARC-Date")
        crawl_date = iso_utc(raw_date)
        if raw_date and crawl_date is None:
            self._date_warnings += 1
            if self._date_warnings <= _MAX_DATE_WARNINGS:
                logger.warning(f"{path}: record #{index}: malformed WARC-Date {raw_date!r}; crawl_date set to null")
        url = (header.get("WARC-Target-URI") or "").strip().removeprefix("<").removesuffix(">") or None
        doc = Document(
            text="",
            id=doc_id if doc_id and not header.arc else stable_id(path, where),
            metadata={"url": url, "source": path, "crawl_date": crawl_date},
        )
        at = f"record at byte {where}" if not unit.gzip else f"gzip member at byte {unit.offset}"
        if frame.reason in ("bad_length", "truncated"):
            return reject(doc, frame.reason, f"{at}: {frame.detail}")
        rec_type = (header.get("WARC-Type") or "").lower()
        if rec_type != "response":
            return reject(doc, "not_response", rec_type or "no WARC-Type")
        if frame.reason:
            return reject(doc, frame.reason, f"{at}: {frame.detail}")
        content = frame.content or b""
        is_http = "application/http" in (header.get("Content-Type") or "").lower() or (
            header.arc and (url or "").startswith("http")
        )
        headers, body = split_http(content) if is_http else ({}, content)
        content_type = headers.get("content-type")
        try:
            payload = decode_body(body, headers, self.max_record_bytes)
        except TooLarge:
            coding = headers.get("content-encoding", "")
            detail = f"{at}: payload ({coding}) decodes to more than max_record_bytes={self.max_record_bytes}"
            return reject(doc, "too_large", detail)
        if not payload:
            return reject(doc, "empty", content_type or "no content type")
        if not is_html(content_type, payload):
            return reject(doc, "not_html", (content_type or "no content type")[:100])
        doc.metadata[PAYLOAD_KEY] = payload
        doc.metadata[HTTP_CHARSET_KEY] = charset_from_content_type(content_type)
        return doc


@dataclass
class _Cursor:
    """How far a file's ledger rows go, for a reading that stops early: the unit being read, whether its file row is
    written, and the bytes of it its frame rows cover."""

    unit: Unit | None = None
    written: bool = False
    framed: int = 0

    def covered(self) -> int:
        if self.unit is None:
            return 0
        return self.unit.offset + (self.unit.length if self.written else 0)


def _size_after(path: str, offset: int) -> int:
    size = file_size(path)
    return max((size or offset) - offset, 0)


def _archive_kind(head: bytes) -> str | None:
    """ "warc", "arc" or None from a file's first bytes (gzip or plain).

    warcio would take any line of five words for an ARC header, and converts ARC without saying so; ARC files
    open with a `filedesc://` record, WARC files with a version line.
    """
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(47).decompress(head, 64)
        except zlib.error:
            return None
    head = head.lstrip()
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"filedesc://"):
        return "arc"
    return None
