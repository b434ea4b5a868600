"""The charset measurements' inputs, shared by the tests and bench/bench_charset.py: the charset corpus, real UTF-8
pages from the crawl files, and a page relabelled through its meta tag."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from pathlib import Path

from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY
from curate.stages.charset import codec_name, declared_charset
from curate.stages.warc import WarcReader

_DECLARATION = re.compile(
    rb"""(<meta[^>]+charset\s*=\s*["']?\s*)[a-zA-Z0-9_.:\-]+|(<\?xml[^>]+encoding\s*=\s*["'])[a-zA-Z0-9_.:\-]+""",
    re.IGNORECASE,
)
INVALID = "labelled UTF-8 but invalid (left out)"


def true_codec(folder: str) -> str | None:
    """Corpus folder names are the true encoding, sometimes with a language suffix (`iso-8859-2-czech`)."""
    return codec_name(folder) or codec_name(folder.rsplit("-", 1)[0])


def corpus(data: Path) -> list[tuple[str, str, bytes]]:
    """(folder, codec, bytes) of the charset corpus; EUC-TW is left out (Python has no codec for it)."""
    out = []
    for folder in sorted(p for p in (data / "charset").iterdir() if p.is_dir() and p.name != "EUC-TW"):
        codec = true_codec(folder.name)
        assert codec, f"no Python codec for {folder.name}"
        out += [(folder.name, codec, f.read_bytes()) for f in sorted(folder.iterdir()) if f.is_file()]
    return out


def with_meta(payload: bytes, charset: str) -> bytes:
    """The page with every charset declaration of its head set to `charset`, or a meta tag added if it has none."""
    head, rest = payload[:4096], payload[4096:]
    head, count = _DECLARATION.subn(lambda m: (m.group(1) or m.group(2)) + charset.encode(), head)
    if not count:
        tag = f'<meta charset="{charset}">'.encode()
        at = re.search(rb"<head[^>]*>", head, re.IGNORECASE)
        head = head[: at.end()] + tag + head[at.end() :] if at else tag + head
    relabelled = head + rest
    assert codec_name(declared_charset(relabelled)) == codec_name(charset)
    return relabelled


def utf8_pages(data: Path) -> dict[str, list[bytes]]:
    """Valid, non-ASCII UTF-8 pages by source (deduplicated): the corpus's, and the crawl files' HTML responses
    labelled UTF-8; pages labelled UTF-8 that are not valid UTF-8 are listed under INVALID (no right answer)."""
    seen: set[bytes] = set()
    out: dict[str, list[bytes]] = defaultdict(list)
    for _, codec, payload in corpus(data):
        if codec in ("utf-8", "utf-8-sig") and not payload.isascii():
            out["charset corpus"].append(payload)
    paths = [p for p in sorted((data / "warc").iterdir()) if not p.name.endswith((".wat.gz", ".wet.gz"))]
    for path in [*paths, data / "extraction" / "articles-311.warc.gz"]:
        for doc in WarcReader([str(path)]).read_file(str(path)):
            if doc.metadata.get("filter_reason") is not None:
                continue
            payload, http = doc.metadata[PAYLOAD_KEY], doc.metadata[HTTP_CHARSET_KEY]
            if "utf-8" not in (codec_name(http), codec_name(declared_charset(payload))) or payload.isascii():
                continue
            digest = hashlib.sha1(payload).digest()
            if digest in seen:
                continue
            seen.add(digest)
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                out[INVALID].append(payload)
                continue
            out[path.name].append(payload)
    return out
