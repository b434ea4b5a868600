"""Each quality filter drops a document that breaks exactly one of its rules and keeps one that breaks none,
with the reason recorded in `rejected/<stage>-<rank>.parquet`.

The clean document is real prose (five paragraphs of wikitext-2's "Military history of Australia", one sentence
per line). Every case derives a document from it that breaks one rule, runs the stage exactly as the pipeline
builds it (recipe defaults from `curate.config`), and checks the rejected row. Where the rule can be switched off
through its own parameter, the same document must then be kept: proof that no other rule of that filter broke.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import require_data
from datatrove.data import Document

from curate.config import parse
from curate.outputs import RejectedWriter

TITLE = "Military history of Australia"
FILTERS = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")
TOP = {2: 0.2, 3: 0.18, 4: 0.16}  # datatrove's Gopher defaults (Table A1 of the Gopher paper)
DUP = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}


def _detokenize(line: str) -> str:
    line = " ".join(t for t in line.split() if t not in {'"', "'", "..."})
    line = re.sub(r" @(.)@ ", r"\1", line)  # 7 @,@ 000 -> 7,000; British @-@ born -> British-born
    line = re.sub(r" (?=[.,;:!?)%]|'s\b)", "", line)
    return line.replace("( ", "(")


@pytest.fixture(scope="module")
def paras() -> list[list[str]]:
    """The clean document as paragraphs of sentences."""
    raw = (require_data() / "text" / "wikitext2-valid.txt").read_text(encoding="utf-8")
    title, out = None, []
    for line in raw.splitlines():
        line = line.strip()
        if re.fullmatch(r"= [^=].* =", line):
            title = line[2:-2]
        elif title == TITLE and len(line.split()) >= 25 and line.endswith(" .") and "<unk>" not in line:
            out.append(re.split(r"(?<=\.) (?=[A-Z])", _detokenize(line)))
    assert 400 <= len(_text(out).split()) <= 800, "expected a 400-800 word document"
    return out


def _text(paras: list[list[str]], sep: str = "\n\n") -> str:
    return sep.join("\n".join(p) for p in paras)


def _sentences(paras: list[list[str]]) -> list[str]:
    return [s for p in paras for s in p]


def _run(kind: str, text: str, folder: Path, **params) -> tuple[list[Document], list[dict]]:
    """Run one stage, built as the pipeline builds it, on one document; returns (kept, rejected rows)."""
    spec = parse({"reader": "warc", "stages": ["extract", {kind: params}]}, "test.yaml").stages[1]
    stage = spec.build(rejects=RejectedWriter(str(folder), spec.name))
    doc = Document(text=text, id=f"doc-{kind}", metadata={"url": "https://example.org/x", "source": "test"})
    kept = list(stage.run(iter([doc]), rank=0, world_size=1))
    rows = [r for f in sorted(folder.glob(f"{spec.name}-*.parquet")) for r in pq.read_table(f).to_pylist()]
    return kept, [{k: r[k] for k in ("id", "stage", "reason")} for r in rows]


def _each_sentence(paras, edit) -> str:
    return _text([[edit(s) for s in p] for p in paras])


def _shortest_sentence(paras) -> str:
    return min(_sentences(paras), key=len)


# --- gopher_repetition: lines split on "\n+", paragraphs on "\n{2,}" ------------------------------------------


def _title_paragraphs(paras) -> str:
    """The title as its own paragraph above every paragraph: 4 of 10 paragraphs repeat, but only 4 of 20 lines."""
    return "\n\n".join(f"{TITLE}\n\n" + "\n".join(p) for p in paras)


def _title_lines(paras) -> str:
    """The title as a running header after every sentence: lines repeat, paragraphs do not."""
    return _each_sentence(paras, lambda s: f"{s}\n{TITLE}")


def _longest_paragraphs_twice(paras) -> str:
    """The two longest paragraphs, each on one line, repeated: 2 of 7 paragraphs (under 30%) and 2 of 12 lines, but
    over 20% of the characters. Repeated paragraphs are repeated lines and n-grams, so dup_line_char_frac and the
    duplicated n-gram rules (checked later) necessarily break too; the no-other-rule check switches them off."""
    longest = sorted(range(len(paras)), key=lambda i: -len(" ".join(paras[i])))[:2]
    flat = [[" ".join(p)] if i in longest else p for i, p in enumerate(paras)]
    return _text(flat + [flat[i] for i in longest])


def _longest_lines_twice(paras) -> str:
    """Reflow into 4-word lines and repeat the longest all-word lines at the end: a line too short to hold a 5-gram
    raises the duplicated characters while duplicated n-grams and the duplicated line count stay low."""
    words = _text(paras, " ").split()
    lines = [" ".join(words[i : i + 4]) for i in range(0, len(words), 4)]
    plain = sorted({ln for ln in lines if all(w.isalpha() for w in ln.split())}, key=lambda ln: (-len(ln), ln))
    text = "\n".join(lines)
    for k in range(1, len(plain)):
        if sum(map(len, plain[:k])) / (len(text) + sum(map(len, plain[:k]))) > 0.25:
            return text + "\n\n" + "\n".join(plain[:k])
    raise AssertionError("not enough plain lines")


def _phrase(paras, n: int) -> str:
    """The first run of n plain words whose last word is long (so the shorter n-grams inside it weigh less)."""
    for sentence in _sentences(paras):
        words = sentence.split()
        for i in range(len(words) - n + 1):
            if all(w.isalpha() for w in words[i : i + n]) and len(words[i + n - 1]) >= 10:
                return " ".join(words[i : i + n])
    raise AssertionError(f"no {n}-word phrase")


def _repeated_phrase(n: int, target: float, dup: bool):
    """Append a paragraph repeating an n-word phrase of the text, each time followed by a different word of the
    text, until the phrase's share of the characters (as the top n-gram, or as duplicated n-grams, counted without
    spaces) just passes `target`. The distinct fillers keep every longer n-gram unique."""

    def mutate(paras) -> str:
        phrase, base = _phrase(paras, n), _text(paras)
        fillers = [w for w in dict.fromkeys(base.split()) if w.isalpha() and w.islower() and w not in phrase.split()]
        size = len(phrase.replace(" ", "")) if dup else len(phrase)
        units = []
        for filler in fillers:
            units.append(f"{phrase} {filler}")
            text = f"{base}\n\n{' '.join(units)}."
            if (len(units) - dup) * size / len(text) > target:
                return text
        raise AssertionError("ran out of filler words")

    return mutate


# --- gopher_quality -------------------------------------------------------------------------------------------


def _short_words_only(sentence: str) -> str:
    return " ".join(w for w in re.findall(r"\w+", sentence) if len(w) <= 3) + "."


def _glued(sentence: str) -> str:
    """Spaces and punctuation lost in extraction, except around `the` and `of`: long run-together words."""
    out = ""
    for word in re.findall(r"\w+", sentence):
        out += f" {word}" if not out or {word, out.split(" ")[-1]} & {"the", "of"} else word
    return out.strip() + "."


def _hashtags(sentence: str) -> str:
    """The sentence's capitalised words appended as run-together hashtags: '#' + one word token per sentence, so
    words with letters stay above Gopher's 80% while '#' passes 10% of the words."""
    return sentence + " " + "".join(f"#{w}" for w in dict.fromkeys(re.findall(r"\b[A-Z][a-z]+\b", sentence)))


def _without_stop_words(sentence: str) -> str:
    return " ".join(w for w in sentence.split() if w not in STOP_WORDS)


def case(kind: str, reason: str, mutate, switch_off: dict | None):
    """switch_off: the parameters that turn this rule off, for the check that no other rule broke (None: skip it)."""
    return pytest.param(kind, reason, mutate, switch_off, id=f"{kind}-{reason}")


GR, GQ, C4, FW = FILTERS
CASES = [
    case(GR, "dup_para_frac", _title_paragraphs, {"dup_para_frac": None}),
    case(
        GR,
        "dup_para_char_frac",
        _longest_paragraphs_twice,
        {"dup_para_char_frac": None, "dup_line_char_frac": None, "dup_n_grams": []},
    ),
    case(GR, "dup_line_frac", _title_lines, {"dup_line_frac": None}),
    case(GR, "dup_line_char_frac", _longest_lines_twice, {"dup_line_char_frac": None}),
    *[
        case(
            GR,
            f"top_{n}_gram",
            _repeated_phrase(n, TOP[n] + 0.01, dup=False),
            {"top_n_grams": [[k, v] for k, v in TOP.items() if k != n]},
        )
        for n in TOP
    ],
    *[
        case(
            GR,
            f"duplicated_{n}_n_grams",
            _repeated_phrase(n, DUP[n] + 0.01, dup=True),
            {"dup_n_grams": [[k, v] for k, v in DUP.items() if k != n]},
        )
        for n in DUP
    ],
    case(GR, "empty", lambda p: "", None),
    case(GQ, "gopher_short_doc", _shortest_sentence, {"min_doc_words": None}),
    case(
        GQ,
        "gopher_long_doc",
        lambda p: "\n\n".join([_text(p)] * (110_000 // len(_text(p).split()))),
        {"max_doc_words": None},
    ),
    case(
        GQ, "gopher_below_avg_threshold", lambda p: _each_sentence(p, _short_words_only), {"min_avg_word_length": None}
    ),
    case(GQ, "gopher_above_avg_threshold", lambda p: _each_sentence(p, _glued), {"max_avg_word_length": None}),
    # one switch covers both the '#' and the '...' ratio; the other symbol is absent from each document
    case(GQ, "gopher_too_many_hashes", lambda p: _each_sentence(p, _hashtags), {"max_symbol_word_ratio": None}),
    case(GQ, "gopher_too_many_ellipsis", lambda p: _text(p).replace(",", "........."), {"max_symbol_word_ratio": None}),
    case(
        GQ,
        "gopher_too_many_bullets",
        lambda p: "\n".join(f"- {s}" for s in _sentences(p)),
        {"max_bullet_lines_ratio": None},
    ),
    case(
        GQ,
        "gopher_too_many_end_ellipsis",
        lambda p: _each_sentence(p, lambda s: s[:-1] + "…"),
        {"max_ellipsis_lines_ratio": None},
    ),
    case(
        GQ,
        "gopher_below_alpha_threshold",
        lambda p: _text(p + [[" ".join(map(str, range(1901, 2001))) + "."]]),
        {"max_non_alpha_words_ratio": None},
    ),
    case(GQ, "gopher_enough_stop_words", lambda p: _each_sentence(p, _without_stop_words), {"min_stop_words": None}),
    case(C4, "lorem_ipsum", lambda p: _text(p) + "\nLorem ipsum dolor sit amet.", {"filter_lorem_ipsum": False}),
    case(
        C4,
        "curly_bracket",
        lambda p: _each_sentence(p, lambda s: s.replace(" was ", " {{citation needed}} was ")),
        {"filter_curly_bracket": False},
    ),
    case(C4, "too_few_sentences", lambda p: _text(p[:1]), {"min_num_sentences": -1}),
    case(FW, "line_punct_ratio", lambda p: _each_sentence(p, lambda s: s.rstrip(".")), {"line_punct_thr": 0.0}),
    case(
        FW,
        "short_line_ratio",
        lambda p: _each_sentence(p, lambda s: "\n".join(textwrap.wrap(s, 30))),
        {"short_line_thr": 1.0},
    ),
    case(FW, "char_dup_ratio", lambda p: _text(p + [[_shortest_sentence(p)]]), {"char_duplicates_ratio": 1.0}),
    # FineWeb counts every "\n" against the words, blank lines included, while its other rules skip blank lines
    case(FW, "list_ratio", lambda p: _text(p, "\n" * 60), {"new_line_ratio": 10.0}),
    case(FW, "empty", lambda p: "\n \n", None),
]


@pytest.mark.parametrize("kind", FILTERS)
def test_clean_document_is_kept(kind, paras, tmp_path):
    kept, rejected = _run(kind, _text(paras), tmp_path)
    assert rejected == []
    assert [d.id for d in kept] == [f"doc-{kind}"]


@pytest.mark.parametrize(("kind", "reason", "mutate", "switch_off"), CASES)
def test_document_breaking_one_rule_is_dropped_with_reason(kind, reason, mutate, switch_off, paras, tmp_path):
    text = mutate(paras)
    assert text != _text(paras)
    kept, rejected = _run(kind, text, tmp_path / "defaults")
    assert kept == []
    assert rejected == [{"id": f"doc-{kind}", "stage": kind, "reason": reason}]
    if switch_off is not None:  # with this rule off, the same document is kept: no other rule of the filter broke
        kept, rejected = _run(kind, text, tmp_path / "rule_off", **switch_off)
        assert rejected == []
        assert len(kept) == 1
