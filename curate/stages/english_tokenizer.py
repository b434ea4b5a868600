"""spaCy's English tokenizer and sentencizer (`spacy.blank("en")` + "sentencizer"), in plain Python, without spaCy.

datatrove's Gopher, C4 and FineWeb filters count words and sentences with that tokenizer; their thresholds only
mean what they meant with its exact tokens. spaCy is 226 MB installed for what is a few regular expressions, 1,347
exception strings and one algorithm, so this module runs spaCy's algorithm (spacy/tokenizer.pyx, 3.8: whitespace
runs, prefix/suffix stripping with exceptions checked at each step, URL match, infixes, then the exceptions that
span affixes re-applied over the tokens; spacy/pipeline/sentencizer.pyx for sentences) on spaCy's own rules, copied
into english_tokenizer.json by `write_rules()` (spaCy's rules are MIT-licensed; the file names its source).
`tests/test_words.py` checks the rules against the installed spaCy and the tokens against spaCy's on the shared
corpora.
"""

from __future__ import annotations

import json
import re
import unicodedata
from importlib.resources import files
from pathlib import Path
from typing import Any

RULES_FILE = "english_tokenizer.json"
_RUNS = re.compile(r"\s+|\S+")  # `\s` is exactly str.isspace (checked over every code point in the tests)
CACHE_LIMIT = 200_000  # distinct whitespace-free chunks remembered before the cache is emptied


def is_punct(text: str) -> bool:
    """spaCy's IS_PUNCT lexeme attribute (spacy/lang/lex_attrs.py): every character is Unicode punctuation."""
    return all(unicodedata.category(c).startswith("P") for c in text)


class EnglishTokenizer:
    """Token offsets and sentence spans exactly as spaCy's blank English pipeline with a sentencizer gives them."""

    def __init__(self, rules: dict[str, Any] | None = None):
        rules = rules if rules is not None else load_rules()
        self._prefix = re.compile(rules["prefix"], rules["flags"]).search
        self._suffix = re.compile(rules["suffix"], rules["flags"]).search
        self._infix = re.compile(rules["infix"], rules["flags"]).finditer
        self._url = re.compile(rules["url"], rules["url_flags"]).match
        self.specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in rules["specials"].items()}
        self.punct_chars = frozenset(rules["punct_chars"])
        self._cache: dict[str, tuple[str, ...]] = {}
        self._phrases: dict[str, list[tuple[str, ...]]] | None = None
        self._punct: dict[str, bool] = {}

    # --- one chunk (a run of non-space or of space characters) -------------------------------------------------

    def _prefix_len(self, string: str) -> int:
        m = self._prefix(string)
        return m.end() - m.start() if m else 0

    def _suffix_len(self, string: str) -> int:
        m = self._suffix(string)
        return m.end() - m.start() if m else 0

    def _chunk(self, string: str, specials: bool) -> tuple[str, ...]:
        """Tokenizer._tokenize: affixes stripped (stopping at an exception), then the rest split on infixes."""
        if specials and string in self.specials:
            return self.specials[string]
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        while string and len(string) != last_size:
            if specials and string in self.specials:
                break
            last_size = len(string)
            pre_len = self._prefix_len(string)
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and specials and minus_pre in self.specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._suffix_len(string[pre_len:])
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and specials and minus_suf in self.specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        tokens = prefixes
        if string:
            if specials and string in self.specials:
                tokens.extend(self.specials[string])
            elif self._url(string):
                tokens.append(string)
            else:
                tokens.extend(self._split_infixes(string))
        tokens.extend(reversed(suffixes))
        return tuple(tokens)

    def _split_infixes(self, string: str) -> list[str]:
        out = []
        start = 0
        for m in self._infix(string):
            infix_start, infix_end = m.start(), m.end()
            if infix_start == 0:  # spaCy never splits an infix off the start
                continue
            if infix_start != start:
                out.append(string[start:infix_start])
            if infix_start != infix_end:
                out.append(string[infix_start:infix_end])
            start = infix_end
        if string[start:]:
            out.append(string[start:])
        return out

    def _chunks(self, text: str, specials: bool) -> list[tuple[int, int]]:
        """Tokenizer._tokenize_affixes: whitespace runs are chunks too, except the one space after a word."""
        spans: list[tuple[int, int]] = []
        cache = self._cache if specials else {}
        for m in _RUNS.finditer(text):
            start, end = m.span()
            if start and text[start] == " ":
                start += 1
                if start == end:
                    continue
            chunk = text[start:end]
            tokens = cache.get(chunk)
            if tokens is None:
                tokens = self._chunk(chunk, specials)
                if specials:
                    if len(cache) >= CACHE_LIMIT:
                        cache.clear()
                    cache[chunk] = tokens
            for token in tokens:
                spans.append((start, start + len(token)))
                start += len(token)
        return spans

    # --- exceptions that span affixes (spaCy's PhraseMatcher pass) ---------------------------------------------

    def _phrase_table(self) -> dict[str, list[tuple[str, ...]]]:
        """The exceptions spaCy also matches over tokens (Tokenizer.add_special_case with faster_heuristics): those
        with a prefix, suffix, infix or space, as the token sequences their text splits into without exceptions."""
        if self._phrases is None:
            table: dict[str, set[tuple[str, ...]]] = {}
            for string in self.specials:
                if (
                    self._prefix_len(string)
                    or self._suffix_len(string)
                    or next(self._infix(string), None)
                    or " " in string
                ):
                    phrase = tuple(string[s:e] for s, e in self._chunks(string, specials=False))
                    table.setdefault(phrase[0], set()).add(phrase)
            self._phrases = {first: sorted(p, key=len) for first, p in table.items()}
        return self._phrases

    def _apply_phrases(self, text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        table = self._phrase_table()
        words = [text[s:e] for s, e in spans]
        matches = []
        for i, word in enumerate(words):
            for phrase in table.get(word, ()):
                if tuple(words[i : i + len(phrase)]) == phrase:
                    matches.append((i, i + len(phrase)))
        if not matches:
            return spans
        # longest first, then earliest; a match whose first or last token an earlier pick covers is dropped
        seen: set[int] = set()
        picked = []
        for start, end in sorted(set(matches), key=lambda m: (m[0] - m[1], m[0])):
            if start not in seen and end - 1 not in seen:
                picked.append((start, end))
            seen.update(range(start, end))
        out: list[tuple[int, int]] = []
        i = 0
        for start, end in sorted(picked):
            out.extend(spans[i:start])
            pieces = self.specials.get(text[spans[start][0] : spans[end - 1][1]])
            if pieces is None:
                out.extend(spans[start:end])
            else:
                at = spans[start][0]
                for piece in pieces:
                    out.append((at, at + len(piece)))
                    at += len(piece)
            i = end
        out.extend(spans[i:])
        return out

    # --- the public answers ------------------------------------------------------------------------------------

    def tokens(self, text: str) -> list[tuple[int, int]]:
        """Every token's (start, end) character offsets, whitespace tokens included (as spaCy's Doc has them)."""
        return self._apply_phrases(text, self._chunks(text, specials=True))

    def _is_punct(self, token: str) -> bool:
        known = self._punct.get(token)
        if known is None:
            known = self._punct[token] = is_punct(token)
        return known

    def sentences(self, text: str) -> list[tuple[int, int]]:
        """Sentence (start, end) offsets: spaCy's Sentencizer (a sentence ends after its punct_chars, at the first
        token that is neither punctuation nor one of them)."""
        spans = self.tokens(text)
        if not spans:
            return []
        starts = [0]
        seen_period = False
        for i, (s, e) in enumerate(spans):
            token = text[s:e]
            in_punct_chars = token in self.punct_chars
            if seen_period and not in_punct_chars and not self._is_punct(token):
                starts.append(i)
                seen_period = False
            elif in_punct_chars:
                seen_period = True
        ends = starts[1:] + [len(spans)]
        return [(spans[a][0], spans[b - 1][1]) for a, b in zip(starts, ends)]


def load_rules() -> dict[str, Any]:
    return json.loads(files("curate.stages").joinpath(RULES_FILE).read_text(encoding="utf-8"))


def rules_from_spacy() -> dict[str, Any]:
    """The installed spaCy's English rules, in english_tokenizer.json's format (needs spaCy: the `test` extra)."""
    import spacy
    from spacy.attrs import ORTH, intify_attrs
    from spacy.pipeline import Sentencizer

    tokenizer: Any = spacy.blank("en").tokenizer  # a Cython class: its attributes are not typed
    if tokenizer.token_match is not None or not tokenizer.faster_heuristics:
        raise ValueError("spaCy's English tokenizer changed (token_match or faster_heuristics): port it again")
    patterns = [tokenizer.prefix_search, tokenizer.suffix_search, tokenizer.infix_finditer]
    flags = {p.__self__.flags for p in patterns}
    if len(flags) != 1:
        raise ValueError(f"spaCy's affix patterns have different flags: {flags}")
    specials = {
        string: [intify_attrs(piece, _do_deprecated=True)[ORTH] for piece in pieces]
        for string, pieces in sorted(tokenizer.rules.items())
    }
    return {
        "source": "spaCy (MIT License, Copyright (C) 2016-2024 ExplosionAI GmbH, 2016 spaCy GmbH, 2015 Matthew "
        'Honnibal): spacy.blank("en") tokenizer rules and the Sentencizer\'s default punct_chars',
        "spacy_version": spacy.__version__,
        "prefix": tokenizer.prefix_search.__self__.pattern,
        "suffix": tokenizer.suffix_search.__self__.pattern,
        "infix": tokenizer.infix_finditer.__self__.pattern,
        "flags": flags.pop(),
        "url": tokenizer.url_match.__self__.pattern,
        "url_flags": tokenizer.url_match.__self__.flags,
        "specials": specials,
        "punct_chars": sorted(Sentencizer.default_punct_chars),
    }


def write_rules(path: str | Path | None = None) -> Path:
    """Regenerate english_tokenizer.json from the installed spaCy (after a spaCy upgrade changes its rules)."""
    target = Path(path) if path else Path(__file__).with_name(RULES_FILE)
    target.write_text(json.dumps(rules_from_spacy(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target
