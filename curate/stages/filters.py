"""datatrove's URL and quality filters, used as they are, with the one change each needs here.

Word splitter: the Gopher, C4 and FineWeb filters split words with datatrove's English word tokenizer,
spaCy's rule-based `spacy.blank("en")` tokenizer (punctuation becomes its own token). Their thresholds were set
with that kind of splitter; a whitespace split would change which pages pass.
"""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    URLFilter,
)
from datatrove.pipeline.filters.url_filter import normalize, normalizer

from curate.records import DETAIL_KEY

WORD_SPLITTER = 'datatrove English word tokenizer (spaCy spacy.blank("en"), punctuation split off)'


class BlocklistURLFilter(URLFilter):
    """datatrove's URLFilter with its bundled blocklists, offline, recording which rule matched."""

    stage = "url_filter"

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **kwargs)
        from tldextract import TLDExtract

        # the bundled public-suffix snapshot: no network fetch, no connection error in the log
        self.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)

    def filter(self, document: Document) -> bool | tuple[bool, str]:
        if not document.metadata.get("url"):
            return True  # nothing to judge by; later stages decide
        result = super().filter(document)
        if result is not True:
            document.metadata[DETAIL_KEY] = self._matched(document.metadata["url"], result[1])
        return result

    def _matched(self, url: str, reason: str) -> str:
        info = self.tldextractor(url)
        if reason == "domain":
            return getattr(info, "top_domain_under_public_suffix", None) or info.registered_domain
        if reason == "subdomain":
            return info.fqdn
        words = set(normalizer.split(url))
        if reason == "hard_blacklisted":
            return " ".join(sorted(words & self.banned_words))
        if reason == "soft_blacklisted":
            return " ".join(sorted(words & self.soft_banned_words))
        if reason == "blacklisted_subword":
            flat = normalize(url)
            return " ".join(sorted(w for w in self.banned_subwords if w in flat))
        return url


class GopherRepetition(GopherRepetitionFilter):
    stage = "gopher_repetition"

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **kwargs)


class GopherQuality(GopherQualityFilter):
    stage = "gopher_quality"

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **kwargs)


class C4Quality(C4QualityFilter):
    stage = "c4_quality"

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **kwargs)


class FineWebQuality(FineWebQualityFilter):
    stage = "fineweb_quality"

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **kwargs)
