"""WARC/ARC reader on warcio: every record read becomes a document or a rejection with a reason.

datatrove's own WarcReader trusts `WARC-Identified-Payload-Type` (empty or missing in older crawls), ignores the
HTTP charset, and crashes on a truncated record; this one decides from the HTTP Content-Type, then the bytes,
checks each payload against its Content-Length, and turns an unreadable file into a rejection naming the file
and the record instead of a crashed run.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone

from datatrove.data import Document
from datatrove.utils.logging import logger

from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY, reject
from curate.stages.charset import charset_from_content_type
from curate.stages.reader import AccountedReader, open_binary, stable_id

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

    Rejection reasons: `not_response`, `not_html`, `empty`, `truncated` (payload shorter than its
    Content-Length), `too_large` (over `max_record_bytes`), `read_error` (a file or record that cannot be read;
    records after a corrupt point of a file cannot be counted and are represented by this one rejection).
    """

    name = "📖 WARC reader"

    def __init__(
        self,
        paths: list[str],
        rejects=None,
        limit: int = -1,
        max_record_bytes: int = 10 * 2**20,
        progress: bool = False,
    ):
        super().__init__(paths, rejects, limit, progress)
        self.max_record_bytes = max_record_bytes

    # -- one file -------------------------------------------------------------------------------------------
    def read_file(self, path: str) -> Iterator[Document]:
        """Yield one document per record; rejected ones carry their reason in metadata."""
        from warcio.archiveiterator import ArchiveIterator

        index, offset = -1, 0
        self._date_warnings = 0
        try:
            stream = open_binary(path)
        except OSError as err:
            yield self._error_doc(path, 0, f"cannot open: {err}")
            return
        with stream:
            stream = io.BufferedReader(stream) if not hasattr(stream, "peek") else stream
            kind = _archive_kind(stream.peek(4096)[:4096])
            if kind is None:
                head = stream.peek(64)[:64]
                yield self._error_doc(path, 0, f"not a WARC or ARC file (it starts with {head[:32]!r})")
                return
            is_arc = kind == "arc"
            iterator = ArchiveIterator(stream, arc2warc=True)
            try:
                for index, record in enumerate(iterator):
                    doc = self._record_doc(record, path, index)
                    offset = iterator.get_record_offset()  # reads the record to its end: only after the payload
                    if is_arc or not doc.id:  # ARC ids are random: derive a stable one
                        doc.id = stable_id(path, offset)
                    yield doc
            except Exception as err:  # corrupt gzip, not an archive, malformed headers: name file and record
                message = f"unreadable after record #{index} (offset {offset}): {type(err).__name__}: {err}"
                logger.error(f"{path}: {message[:300]}")
                yield self._error_doc(path, offset, message[:1000])
        if self._date_warnings > _MAX_DATE_WARNINGS:
            logger.warning(f"{path}: {self._date_warnings} records with a malformed WARC-Date (crawl_date=null)")

    def _error_doc(self, path: str, offset: int, message: str) -> Document:
        doc = Document(text="", id=stable_id(path, offset, "read_error"), metadata={"source": path})
        return reject(doc, "read_error", message)

    def _record_doc(self, record, path: str, index: int) -> Document:
        headers = record.rec_headers
        doc_id = (headers.get_header("WARC-Record-ID") or "").strip().strip("<>").removeprefix("urn:uuid:")
        raw_date = headers.get_header("WARC-Date")
        crawl_date = iso_utc(raw_date)
        if raw_date and crawl_date is None:
            self._date_warnings += 1
            if self._date_warnings <= _MAX_DATE_WARNINGS:
                logger.warning(f"{path}: record #{index}: malformed WARC-Date {raw_date!r}; crawl_date set to null")
        doc = Document(
            text="",
            id=doc_id,
            metadata={"url": headers.get_header("WARC-Target-URI"), "source": path, "crawl_date": crawl_date},
        )
        if record.rec_type != "response":
            return reject(doc, "not_response", record.rec_type)
        length = headers.get_header("Content-Length")
        if length and length.isdigit() and int(length) > self.max_record_bytes:
            return reject(doc, "too_large", f"{int(length)} bytes > max_record_bytes={self.max_record_bytes}")
        content_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
        try:
            payload = record.content_stream().read()
        except Exception as err:  # broken chunked or content encoding inside one record
            return reject(doc, "read_error", f"record #{index}: payload unreadable: {type(err).__name__}: {err}")
        while record.raw_stream.read(1 << 16):  # drain what content decoding left, so the length check is exact
            pass
        missing = getattr(record.raw_stream, "limit", 0)
        if missing > 0:
            return reject(doc, "truncated", f"payload {missing} bytes shorter than Content-Length {length}")
        if not payload:
            return reject(doc, "empty", content_type or "no content type")
        if not is_html(content_type, payload):
            return reject(doc, "not_html", (content_type or "no content type")[:100])
        doc.metadata[PAYLOAD_KEY] = payload
        doc.metadata[HTTP_CHARSET_KEY] = charset_from_content_type(content_type)
        return doc


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
