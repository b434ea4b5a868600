"""datatrove's English word splitter, same tokens and sentences, without spaCy.

datatrove's Gopher, C4 and FineWeb filters split English with `SpaCyTokenizer("en")`: `spacy.blank("en")` plus a
sentencizer, run inside a memory zone that rebuilds every word's lexeme for every document. This splitter gives the
same words (`word_tokenize`), sentences (`sent_tokenize`) and sentence spans (`span_tokenize`) from
`curate.stages.english_tokenizer`, spaCy's algorithm and rules in plain Python, so a run never imports spaCy (226 MB
installed). `tests/test_words.py` checks it against datatrove's own tokenizer on the shared corpora.
"""

from __future__ import annotations

from datatrove.utils.word_tokenizers import WordTokenizer, strip_strings

from curate.stages.english_tokenizer import EnglishTokenizer


class EnglishWords(WordTokenizer):
    def __init__(self):
        super().__init__("en")
        self._tokenizer = EnglishTokenizer()

    def word_tokenize(self, text: str) -> list[str]:
        return strip_strings([text[s:e] for s, e in self._tokenizer.tokens(text)])

    def sent_tokenize(self, text: str) -> list[str]:
        return strip_strings([text[s:e] for s, e in self._tokenizer.sentences(text)])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self._tokenizer.sentences(text)

    def __reduce__(self):  # one shared instance per process, so the filters share datatrove's split cache
        return english_words, ()


_INSTANCE: EnglishWords | None = None


def english_words() -> EnglishWords:
    global _INSTANCE
    if _INSTANCE is None:
        _INSTANCE = EnglishWords()
    return _INSTANCE
