"""Our English word splitter gives exactly datatrove's tokens and sentence spans, on real text."""

from __future__ import annotations

import copy
import gzip
import json
import pickle

import pytest
from datatrove.utils.word_tokenizers import SpaCyTokenizer

from curate.stages import words
from curate.stages.filters import GopherQuality, GopherRepetition


def texts(data) -> list[str]:
    out = [p for p in (data / "text" / "tinyshakespeare.txt").read_text().split("\n\n")[:150] if p.strip()]
    out += [p for p in (data / "text" / "wikitext2-valid.txt").read_text().split("\n \n")[:150] if p.strip()]
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        with gzip.open(data / "text" / name, "rt", encoding="utf-8") as f:
            out += [json.loads(line)["text"] for line in f]
    out += ["IS_ALPHA breaks spaCy", "", "   ", "e-mail me at a@b.io... (ok?) #tag 3.14 U.S.A. don't"]
    return out


@pytest.mark.slow
def test_identical_to_datatrove(data, monkeypatch):
    monkeypatch.setattr(words, "RESET_EVERY", 7)  # exercise the vocabulary reset too
    ours, theirs = words.EnglishWords(), SpaCyTokenizer("en")
    for text in texts(data):
        if "IS_ALPHA" in text:  # the string that breaks spaCy: datatrove's own answer for it depends on its state
            continue  # (measured: [(0, 21)] on a first call, [(0, 13)] on the next); checked separately below
        assert ours.word_tokenize(text) == theirs.word_tokenize(text)
        assert ours.span_tokenize(text) == theirs.span_tokenize(text)
        assert ours.sent_tokenize(text) == theirs.sent_tokenize(text)


def _answers(method: str, text: str) -> list:
    """datatrove's answers for `text` from fresh and reused tokenizers; the ones where spaCy itself crashes (which
    depends on what the process interned before: KeyError E018) are left out, that crash being what ours avoids."""
    calls = [(SpaCyTokenizer("en"), t) for t in (text, text.replace("IS_ALPHA", ""))]
    theirs = SpaCyTokenizer("en")
    calls += [(theirs, text), (theirs, text)]  # a second call takes its fallback
    answers = []
    for tokenizer, t in calls:
        try:
            answers.append(getattr(tokenizer, method)(t))
        except KeyError:
            continue
    return answers


def test_the_string_that_breaks_spacy_gives_one_of_datatroves_answers():
    text = "IS_ALPHA breaks spaCy"
    ours = words.EnglishWords()
    for method in ("word_tokenize", "span_tokenize", "sent_tokenize"):
        answers = _answers(method, text)
        assert answers and getattr(ours, method)(text) in answers


def test_one_shared_instance_survives_pickling_and_copying():
    first = GopherRepetition().language
    assert first is words.english_words() is GopherQuality().language
    assert pickle.loads(pickle.dumps(first)) is first
    assert copy.deepcopy([first, first])[0] is first
    assert GopherQuality(language="fra").language == "fra"
