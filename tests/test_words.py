"""Our English word splitter gives exactly datatrove's spaCy tokens and sentence spans, on real text, without spaCy.

spaCy is in the `test` extra only: it is the reference here, never imported by a run.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import pickle
import re
import subprocess
import sys

import pytest
from conftest import REPO, read_rows
from datatrove.utils.word_tokenizers import SpaCyTokenizer

from curate.stages import words
from curate.stages.english_tokenizer import EnglishTokenizer, load_rules, rules_from_spacy
from curate.stages.filters import GopherQuality, GopherRepetition

WORD_STAGES = {"gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"}
EDGE_CASES = [
    "",
    "   ",
    " \n\t x  y\u00a0 z \u3000",
    "e-mail me at a@b.io... (ok?) #tag 3.14 U.S.A. don't",
    "(a.m.) don't. 'Cause we're 10a.m. :) (: 8-) ._. ¯\\_(ツ)_/¯ https://example.com/a?b=c.",
    "He said: “No!” Then left... Really?! Yes.\n\nNew paragraph",
]


def texts(data) -> list[str]:
    out = [p for p in (data / "text" / "tinyshakespeare.txt").read_text().split("\n\n")[:150] if p.strip()]
    out += [p for p in (data / "text" / "wikitext2-valid.txt").read_text().split("\n \n")[:150] if p.strip()]
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz", "provided-documents-000.json.gz"):
        with gzip.open(data / "text" / name, "rt", encoding="utf-8") as f:
            out += [json.loads(line)["text"] for line in f if line.strip()]
    truth = json.loads((data / "extraction" / "articles-311.groundtruth.json").read_text())
    out += [page["articleBody"] for page in truth.values() if page.get("articleBody")]  # extracted article text
    out += [line.split("\t")[-1] for line in (data / "langid" / "tatoeba_long.txt").read_text().splitlines()]
    out += [p.read_text() for p in sorted((data / "pii" / "nemo").glob("*.txt"))]
    return out + EDGE_CASES


def spacy_answers(reference: SpaCyTokenizer, text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """spaCy's token offsets and sentence spans for `text` (datatrove's tokenizer: blank English + sentencizer)."""
    nlp = reference.tokenizer
    nlp.max_length = len(text) + 10
    with nlp.memory_zone():
        doc = nlp(text)
        return [(t.idx, t.idx + len(t.text)) for t in doc], [(s.start_char, s.end_char) for s in doc.sents]


def assert_identical(all_texts: list[str]) -> tuple[int, int]:
    """Every text: the same tokens, whitespace tokens included, and the same sentence spans; (texts, tokens)."""
    ours, reference = EnglishTokenizer(), SpaCyTokenizer("en")
    tokens = 0
    for text in all_texts:
        if "IS_ALPHA" in text:
            continue  # the string that breaks spaCy itself: see test_the_string_that_breaks_spacy...
        expected_tokens, expected_sentences = spacy_answers(reference, text)
        assert ours.tokens(text) == expected_tokens, text[:200]
        assert ours.sentences(text) == expected_sentences, text[:200]
        tokens += len(expected_tokens)
    return len(all_texts), tokens


@pytest.mark.slow
def test_rules_are_the_installed_spacys():
    """english_tokenizer.json holds the installed spaCy's rules (after a spaCy upgrade: write_rules())."""
    shipped, installed = load_rules(), rules_from_spacy()
    shipped.pop("spacy_version"), installed.pop("spacy_version")
    assert shipped == installed
    assert len(shipped["specials"]) > 1000 and "don't" in shipped["specials"]


def test_whitespace_runs_are_str_isspace():
    """The splitter finds whitespace runs with `\\s`; spaCy cuts on str.isspace(). Same set, every code point."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    assert {m.start() for m in re.finditer(r"\s", every)} == {i for i, c in enumerate(every) if c.isspace()}


def test_identical_to_datatrove_on_edge_cases():
    assert_identical(EDGE_CASES)
    splitter = words.english_words()
    reference = SpaCyTokenizer("en")
    for text in EDGE_CASES:
        assert splitter.word_tokenize(text) == reference.word_tokenize(text)
        assert splitter.sent_tokenize(text) == reference.sent_tokenize(text)
        assert splitter.span_tokenize(text) == reference.span_tokenize(text)


@pytest.mark.slow
def test_identical_to_datatrove(data):
    count, tokens = assert_identical(texts(data))
    assert count > 900 and tokens > 200_000  # the corpora were read (988 texts, 261,546 tokens measured)


def _answers(method: str, text: str) -> list:
    """datatrove's answers for `text` from fresh and reused tokenizers; the ones where spaCy itself crashes (which
    depends on what the process interned before: KeyError E018) are left out."""
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_run_never_imports_spacy_and_its_texts_split_as_spacy_does(data, tmp_path):
    """The FineWeb recipe runs with spaCy blocked from import in every Python process it starts (sitecustomize); the
    texts its word-based filters saw then split identically with spaCy and with ours."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text("import sys\nsys.modules['spacy'] = None  # `import spacy` fails\n")
    env = {**os.environ, "CURATE_DATA": str(data), "PYTHONPATH": os.pathsep.join([str(block), str(REPO)])}
    code = (
        "import sys\n"
        "try:\n    import spacy\nexcept ImportError:\n    pass\nelse:\n    sys.exit('spacy was importable')\n"
        "from curate.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    files = ["wget-sample-0001.warc.gz"]  # 15 English pages: every word-based filter sees some
    out = tmp_path / "run"
    argv = ["run", str(REPO / "pipelines" / "fineweb.yaml"), "--input", *(str(data / "warc" / f) for f in files)]
    argv += ["--output", str(out), "--workers", "1", "--no-progress"]
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    seen = {row["stage"]: row["in"] for row in stats["stages"] if row["stage"] in WORD_STAGES}
    assert set(seen) == WORD_STAGES and min(seen.values()) > 0
    filtered = [r["text"] for r in read_rows(out / "rejected", ["stage", "text"]) if r["stage"] in WORD_STAGES]
    kept = [r["text"] for r in read_rows(out / "documents", ["text"])]
    assert filtered and kept
    assert_identical(filtered + kept)


@pytest.mark.slow
def test_without_spacy_english_filters_build_and_other_languages_name_the_extra():
    code = (
        "import sys\nsys.modules['spacy'] = None\n"
        "from curate.extras import MissingExtra\nfrom curate.stages.filters import C4Quality, GopherQuality\n"
        "assert GopherQuality().language.word_tokenize(\"Don't stop.\") == ['Do', \"n't\", 'stop', '.']\n"
        "C4Quality(language='eng')\n"
        "try:\n    GopherQuality(language='fra')\nexcept MissingExtra as err:\n    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "language 'fra'" in done.stdout and "pip install 'curate[multilingual]'" in done.stdout
