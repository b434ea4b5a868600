"""datatrove's URL and quality filters, used as they are, with the one change each needs here.

Word splitter: the Gopher, C4 and FineWeb filters split words with datatrove's English word tokenizer,
spaCy's rule-based `spacy.blank("en")` tokenizer (punctuation becomes its own token), reproduced without spaCy by
`curate.stages.words` (same tokens and sentences). Their thresholds were set with that kind of splitter; a
whitespace split would change which pages pass.
"""

from __future__ import annotations

import hashlib
import os
import tarfile

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    URLFilter,
)
from datatrove.pipeline.filters.url_filter import get_list, normalize, normalizer
from datatrove.utils._import_utils import ASSETS_PATH
from datatrove.utils.text import split_into_words

from curate.records import DETAIL_KEY
from curate.stages import filter_metrics as metrics

_BLOCKLISTS = "url_filterblacklistsv0_3_0.tar.gz"  # the archive inside datatrove's wheel

WORD_SPLITTER = (
    'datatrove\'s English word tokenizer: spaCy spacy.blank("en") rules, punctuation split off'
    " (curate.stages.words: spaCy's rules in plain Python, identical tokens and sentences, spaCy not imported)"
)


def _h64(text: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little"))


class HashedDomains:
    """datatrove's 4.6M blocklisted domains as sorted 64-bit hashes: ~35 MiB memory-mapped instead of a ~620 MiB
    Python set in every worker (and no full-GC walk over millions of strings). A false match needs a 64-bit
    collision: about 1 in 4e12 lookups. Domains the user adds stay in a plain set."""

    def __init__(self, hashes: np.ndarray, extra: set[str]):
        self.hashes = hashes
        self.extra = set(extra)

    def __contains__(self, domain: object) -> bool:
        if not isinstance(domain, str) or not domain:
            return False
        if domain in self.extra:
            return True
        key = _h64(domain)
        i = int(np.searchsorted(self.hashes, key))
        return i < len(self.hashes) and self.hashes[i] == key

    def __len__(self) -> int:
        return len(self.hashes) + len(self.extra)


def blocklist_dir() -> str:
    """Where datatrove unpacks its bundled URL blocklists (the Hugging Face assets cache); unpacks on first use."""
    from datatrove.io import safely_create_file
    from huggingface_hub import cached_assets_path

    folder = str(cached_assets_path(library_name="datatrove", namespace="filters", subfolder="url_filter"))

    def unpack():
        with tarfile.open(os.path.join(ASSETS_PATH, _BLOCKLISTS), "r:gz") as tar:
            try:
                tar.extractall(folder, filter="data")
            except TypeError:  # Python without extraction filters (< 3.10.12)
                tar.extractall(folder)

    safely_create_file(os.path.join(folder, _BLOCKLISTS), unpack)
    return folder


def domain_table(folder: str) -> np.ndarray:
    """The hashed domain list, built once per machine beside datatrove's unpacked list, then memory-mapped."""
    from datatrove.io import safely_create_file

    source = os.path.join(folder, "domains")
    table = os.path.join(folder, "domains.blake2b64.npy")

    def build():
        with open(source, encoding="utf-8") as f:  # datatrove's parsing: skip comments, strip
            hashes = np.unique(np.fromiter((_h64(line.strip()) for line in f if line[0] != "#"), dtype=np.uint64))
        partial = f"{table}.{os.getpid()}.part"
        with open(partial, "wb") as out:
            np.save(out, hashes)
        os.replace(partial, table)

    safely_create_file(table, build)
    return np.load(table, mmap_mode="r")


def public_suffixes():
    """This process's public-suffix parser: the bundled snapshot (no network fetch, no connection error in the log),
    built once per process. Each task gets its own copy of the steps, and building the suffix trie again costs
    50 ms, most of a warm process's per-task set-up."""
    global _SUFFIXES
    if _SUFFIXES is None:
        from tldextract import TLDExtract

        class SharedSuffixes(TLDExtract):
            def __reduce__(self):  # a task unpickles the process's one parser, not a new one
                return public_suffixes, ()

        _SUFFIXES = SharedSuffixes(suffix_list_urls=(), cache_dir=None)
    return _SUFFIXES


_SUFFIXES = None


class BlocklistURLFilter(URLFilter):
    """datatrove's URLFilter with its bundled blocklists, offline, recording which rule matched.

    Only how the domain list is held differs from datatrove (see HashedDomains); every rule is datatrove's code.
    """

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **kwargs)
        self.tldextractor = public_suffixes()

    def download_data(self):
        """datatrove's loading of its bundled lists, except the domain list, which is hashed and memory-mapped."""
        if self._downloaded or not self.use_integrated_lists:
            return
        folder = blocklist_dir()
        self.block_listed_domains = HashedDomains(domain_table(folder), extra=self.block_listed_domains)
        self.block_listed_url = get_list(folder, "urls", self.block_listed_url, do_normalize=False)
        self.banned_words = get_list(ASSETS_PATH, "banned_words.txt", self.banned_words)
        self.banned_subwords = get_list(ASSETS_PATH, "banned_subwords.txt", self.banned_subwords)
        self.soft_banned_words = get_list(ASSETS_PATH, "soft_banned_words.txt", self.soft_banned_words)
        for word in self.banned_subwords:
            self.banned_subwords_automaton.add_word(word, len(self.banned_subwords_automaton))
        self.banned_subwords_automaton.make_automaton()
        self._downloaded = True

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


def _words(kwargs: dict) -> dict:
    """English filters split words with our spaCy-free copy of datatrove's spaCy splitter (identical tokens); any
    other language gets datatrove's splitter, whose package (spaCy for most) is checked now, not at the first page."""
    language = kwargs.get("language", "eng")
    if language in ("eng", "en"):
        from curate.stages.words import english_words

        kwargs = {**kwargs, "language": english_words()}
    elif isinstance(language, str):
        _check_splitter(language)
    return kwargs


def _check_splitter(language: str) -> None:
    from datatrove.utils.word_tokenizers import load_tokenizer_assignments

    from curate.extras import MissingExtra

    factory = load_tokenizer_assignments().get(language)
    if factory is None:
        return  # not a language datatrove splits: its own error names it
    try:
        factory()  # checks its packages; imports nothing yet
    except ImportError as err:
        raise MissingExtra(
            f"language {language!r}: datatrove splits its words with a package that is not installed ({err}); "
            "for spaCy's splitters: pip install 'curate[multilingual]'"
        ) from err


def _stage(step, kind: str) -> str:
    """The pipeline's name for this stage (its rejection writer's), else the stage kind."""
    return getattr(step.exclusion_writer, "stage", None) or kind


class GopherRepetition(GopherRepetitionFilter):
    """datatrove's Gopher repetition filter; dropped documents go to the stage's rejects, every document gets the
    filter's values (curate.stages.filter_metrics)."""

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **_words(kwargs))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        words = split_into_words(doc.text, self.language) if doc.text else []
        metrics.record(doc, _stage(self, "gopher_repetition"), metrics.gopher_repetition(doc.text, words))
        return super().filter(doc)


class GopherQuality(GopherQualityFilter):
    """datatrove's Gopher quality filter; dropped documents go to the stage's rejects, every document gets the
    filter's values (curate.stages.filter_metrics)."""

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **_words(kwargs))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        words = split_into_words(doc.text, self.language)
        metrics.record(doc, _stage(self, "gopher_quality"), metrics.gopher_quality(doc.text, words, self.stop_words))
        return super().filter(doc)


class C4Quality(C4QualityFilter):
    """datatrove's C4 quality filter; dropped documents go to the stage's rejects."""

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **_words(kwargs))


class FineWebQuality(FineWebQualityFilter):
    """datatrove's FineWeb quality filter; dropped documents go to the stage's rejects, every document gets the
    filter's values (curate.stages.filter_metrics)."""

    def __init__(self, rejects=None, **kwargs):
        super().__init__(exclusion_writer=rejects, **_words(kwargs))

    def filter(self, doc) -> bool | tuple[bool, str]:
        words = split_into_words(doc.text, self.language)
        values = metrics.fineweb_quality(doc.text, words, self.stop_chars, self.short_line_length)
        metrics.record(doc, _stage(self, "fineweb_quality"), values)
        return super().filter(doc)
