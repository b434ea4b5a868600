"""What makes two documents "the same": the normalizations behind exact and URL dedup.

Exact text: Unicode NFKC, lowercase, every run of whitespace → one space, stripped. Two pages that differ only in
case, spacing or compatibility forms (full-width letters, ligatures) are exact duplicates.

URL: scheme ignored (http = https), host lowercased without a leading `www.` or default port, fragment dropped,
tracking parameters (`utm_*`, `fbclid`, `gclid`, `mc_cid`, `mc_eid`) dropped, the other query parameters sorted,
a trailing `/` dropped. `https://www.Example.org/a/?b=2&a=1#top` and `http://example.org/a?a=1&b=2` are one URL.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

_SPACE = re.compile(r"\s+")
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid")


def hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def normalize_text(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def normalize_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return url.strip().lower()
    if not host:
        return url.strip().lower()
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith(_TRACKING))
    path = parts.path.rstrip("/")
    return f"{netloc}{path}" + (f"?{urlencode(query)}" if query else "")


def text_key(text: str) -> int:
    return hash64(normalize_text(text))


def url_key(url: str | None) -> int | None:
    normalized = normalize_url(url)
    return None if normalized is None else hash64(normalized)


def as_u64(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64) if values else np.zeros(0, dtype=np.uint64)
