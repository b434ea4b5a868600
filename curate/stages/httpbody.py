"""An HTTP response inside a WARC record → headers and the page's bytes, decoded with a size cap at every step.

A 4 KB record can carry `Content-Encoding: gzip` that inflates to GiBs; a check on the record's size before
decoding cannot see that. Here chunked transfer coding and each content coding (gzip, deflate, br) are undone a chunk
at a time, and decoding stops as soon as the output passes the cap, so the bytes held for one record never exceed
the cap plus one chunk.
"""

from __future__ import annotations

import re
import zlib

CHUNK = 1 << 16
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"([0-9a-fA-F]+)[^\r\n]*\r?\n")


class TooLarge(Exception):
    """The payload decodes to more than the cap."""


def split_http(content: bytes) -> tuple[dict[str, str], bytes]:
    """(headers with lower-case names, body); no headers when the content is not an HTTP response."""
    if not content.startswith(b"HTTP/"):
        return {}, content
    end = _HEAD_END.search(content, 0, 1 << 20)
    if end is None:
        return {}, content
    headers: dict[str, str] = {}
    for line in content[: end.start()].decode("latin-1").splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return headers, content[end.end() :]


def dechunk(body: bytes) -> bytes | None:
    """Undo chunked transfer coding; None when the body is not validly chunked."""
    out: list[bytes] = []
    pos = 0
    while True:
        match = _CHUNK_SIZE.match(body, pos)
        if match is None:
            return None
        size = int(match.group(1), 16)
        pos = match.end()
        if size == 0:
            return b"".join(out)
        if pos + size > len(body):  # cut short (crawlers truncate payloads): keep what is there
            out.append(body[pos:])
            return b"".join(out)
        out.append(body[pos : pos + size])
        pos += size
        while body[pos : pos + 1] in (b"\r", b"\n") and pos < len(body):
            pos += 1


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    while pending:
        try:
            out += decoder.decompress(pending, CHUNK)
        except zlib.error:
            if not out:
                raise
            break  # corrupt after a good start: keep what decoded, as a browser would
        if len(out) > cap:
            raise TooLarge
        pending = decoder.unconsumed_tail
        if decoder.eof:
            break
    return bytes(out)


def _unbrotli(data: bytes, cap: int) -> bytes:
    import brotli

    decoder = brotli.Decompressor()
    out = bytearray(decoder.process(data, output_buffer_limit=CHUNK))
    while not decoder.is_finished() and not decoder.can_accept_more_data():
        if len(out) > cap:
            raise TooLarge
        out += decoder.process(b"", output_buffer_limit=CHUNK)
    if len(out) > cap:
        raise TooLarge
    return bytes(out)


def _decode_one(data: bytes, coding: str, cap: int) -> bytes:
    """One content coding undone; the data as it is when it does not start as that coding says (servers lie)."""
    try:
        if coding in ("gzip", "x-gzip"):
            return _inflate(data, 47, cap)  # 47: gzip or zlib header
        if coding == "deflate":
            try:
                return _inflate(data, 15, cap)
            except zlib.error:
                return _inflate(data, -15, cap)
        if coding == "br":
            return _unbrotli(data, cap)
    except (zlib.error, ValueError, OSError):
        return data
    except Exception as err:  # brotli.error has no importable base here without brotli installed
        if type(err).__name__ == "error":
            return data
        raise
    return data  # identity, or a coding nobody decodes: the bytes as sent


def decode_body(body: bytes, headers: dict[str, str], cap: int) -> bytes:
    """The page's bytes: transfer coding, then content codings in reverse order. Raises TooLarge past `cap`."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        unchunked = dechunk(body)
        body = body if unchunked is None else unchunked
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",") if c.strip()]
    for coding in reversed(codings):
        body = _decode_one(body, coding, cap)
    if len(body) > cap:
        raise TooLarge
    return body
