"""Bytes → text for web pages: the HTTP charset, then the page's own declaration, then detection.

Why not just UTF-8 then a detector (datatrove's reader)? A detector guesses wrong on short or mixed pages,
while the server's header and the page's meta tag are right nearly always; detection is the last resort.
The one label not trusted blindly is a single-byte one (iso-8859-x, windows-125x, koi8-r, ...): such a codec
decodes any bytes, so a UTF-8 page mislabelled Latin-1 would become mojibake (`SimÃ©on`) that no later filter
notices. As browsers do, bytes that are valid UTF-8 with multi-byte sequences are read as UTF-8 instead: real
single-byte text with non-ASCII letters is practically never valid UTF-8.
"""

from __future__ import annotations

import codecs
import functools
import re

# Codecs a declared charset is widened to when the strict decode fails (servers often name the subset).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "latin_1": "cp1252",
    "ascii": "utf-8",
    "iso8859_9": "cp1254",
}
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_DECLARED = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)"""  # <meta charset> and http-equiv content
    rb"""|<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:\-]+)""",  # XML declaration (feeds, XHTML)
    re.IGNORECASE,
)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^"'\s;,]+)""", re.IGNORECASE)


def codec_name(label: str | None) -> str | None:
    """Python's canonical codec name for a charset label, or None when Python has no such codec."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in ("x-sjis", "sjis", "x-shift_jis", "windows-31j"):
        label = "cp932"
    elif label in ("x-euc-jp",):
        label = "euc_jp"
    elif label in ("x-mac-cyrillic",):
        label = "mac_cyrillic"
    elif label in ("windows-874",):  # WHATWG's name for Thai (tis-620 plus cp1252's punctuation)
        label = "cp874"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CHARSET_PARAM.search(content_type)
    return match.group(1) if match else None


@functools.cache
def is_single_byte(codec: str) -> bool:
    """Whether a codec maps each byte to one character on its own, bytes above 0x7F included (not ASCII or UTF-8).

    Decided from the codec itself rather than a list of names, so every iso-8859-x, windows-125x, koi8, mac and
    DOS code page counts; cached per codec name.
    """
    every_byte = bytes(range(256))
    try:
        whole = every_byte.decode(codec, "replace")
        alone = [bytes([b]).decode(codec, "replace") for b in every_byte]
    except (LookupError, ValueError):  # not a text encoding (base64, rot13, ...)
        return False
    stateless = len(whole) == 256 and whole == "".join(alone)  # no byte combines with its neighbours
    return stateless and any(char != "\ufffd" for char in whole[128:])


def _utf8_despite(payload: bytes, codec: str | None) -> str | None:
    """The UTF-8 text of a page labelled with a single-byte codec whose non-ASCII bytes are valid UTF-8, else None.

    Costs one pass in C (`isascii`) for an ASCII page and, for a genuine single-byte page, a UTF-8 decode that
    stops at its first invalid byte.
    """
    if codec is None or payload.isascii() or not is_single_byte(codec):
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _try(payload: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    for name in (codec, _SUPERSETS.get(codec)):
        if name is None:
            continue
        try:
            return payload.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def declared_charset(payload: bytes) -> str | None:
    """The charset a page declares in a meta tag or XML declaration within its first 4 KiB."""
    head = payload[:4096]
    if b"\x00" in head[:200]:  # UTF-16/32 without BOM: an ASCII scan cannot see the declaration
        head = head.replace(b"\x00", b"")
    match = _DECLARED.search(head)
    if not match:
        return None
    return (match.group(1) or match.group(2)).decode("ascii", "ignore")


def detect(payload: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    return codec_name(best.encoding) if best else None


def decode_html(payload: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """Decode a page; returns (text, how) where how names the source of the charset that worked.

    how is `http`, `bom`, `declared`, `utf-8` (no usable label), `detected`, `utf-8-replace` (nothing decoded
    cleanly), or `utf-8-sniffed` when a single-byte label (HTTP or declared) was overridden by valid UTF-8.
    """
    http = codec_name(http_charset)
    text = _utf8_despite(payload, http)
    if text is not None:
        return text.lstrip("\ufeff"), "utf-8-sniffed"
    text = _try(payload, http)
    if text is not None:
        return text.lstrip("\ufeff"), "http"
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            text = _try(payload, codec)
            if text is not None:
                return text.lstrip("\ufeff"), "bom"
    declared = codec_name(declared_charset(payload))
    wide = ("utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")  # names as codec_name gives
    if declared in wide and b"\x00" not in payload[:200]:
        declared = "utf-8"  # a page that reads as ASCII cannot really be UTF-16/32 (common mislabel)
    text = _utf8_despite(payload, declared)
    if text is not None:
        return text.lstrip("\ufeff"), "utf-8-sniffed"
    text = _try(payload, declared)
    if text is not None:
        return text.lstrip("\ufeff"), "declared"
    text = _try(payload, "utf-8")
    if text is not None:
        return text.lstrip("\ufeff"), "utf-8"
    text = _try(payload, detect(payload))
    if text is not None:
        return text.lstrip("\ufeff"), "detected"
    return payload.decode("utf-8", errors="replace").lstrip("\ufeff"), "utf-8-replace"
