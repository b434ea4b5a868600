"""MinHash signatures (curate.dedup.minhash): the word splitter, determinism, and Jaccard estimates on real text."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from curate.dedup import minhash
from curate.dedup.lsh import choose_bands_rows, detection_probability
from curate.dedup.minhash import EMPTY, MinHasher, band_keys, true_jaccard


@pytest.fixture(scope="module")
def hasher() -> MinHasher:
    return MinHasher()


@pytest.fixture(scope="module")
def paragraphs(data) -> list[str]:
    """Real paragraphs of 100+ words: wikitext-2 validation, then Shakespeare speeches."""
    wiki = (data / "text" / "wikitext2-valid.txt").read_text(encoding="utf-8").splitlines()
    out = [line.strip() for line in wiki if not line.startswith(" =") and len(line.split()) >= 100]
    shakespeare = (data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8").split("\n\n")
    out += [p for p in shakespeare if len(p.split()) >= 100]
    return out


@pytest.fixture(scope="module")
def documents(data, paragraphs) -> list[str]:
    """A mixed bag: Common Crawl documents, paragraphs, short and empty texts."""
    docs = []
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz", "provided-documents-000.json.gz"):
        with gzip.open(data / "text" / name, "rt", encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f if line.strip()]
    docs += paragraphs[:150]
    docs += ["", "  ... !!", "one", "two words", "just four words here", "exactly five words right here"]
    docs += ["Привет, мир! Это русский текст из нескольких слов.", "日本語のテキスト、です。東京"]
    return docs


# -- words and shingles -----------------------------------------------------------------------------------------------


def test_word_splitter_non_ascii_and_punctuation(hasher):
    text = "Don't-stop! Привет, МИР… 日本語のテキスト、です。 Ｆｕｌｌ ﬁne NAÏVE हिन्दी"
    text += " e-mail a_b ΟΔΟΣ οδος 3.14 cafe\u0301 😀x"
    assert hasher.words(text) == [
        "don", "t", "stop",  # apostrophe and hyphen separate words
        "привет", "мир",  # Cyrillic, lowercased
        "日本語のテキスト", "です",  # a CJK run between punctuation marks is one word
        "full", "fine",  # NFKC: full-width letters, the fi ligature
        "naïve", "हिन्दी",  # combining marks stay inside the word
        "e", "mail", "a", "b",  # hyphen, underscore
        "οδοσ", "οδοσ",  # Greek capitals and lowercase with final sigma: the same word
        "3", "14", "café", "x",  # digits are words; NFKC composes e + U+0301; an emoji separates
    ]  # fmt: skip
    assert MinHasher(nfkc=False).words("Ｆｕｌｌ ﬁne cafe\u0301") == ["ｆｕｌｌ", "ﬁne", "cafe\u0301"]
    assert hasher.words("") == [] and hasher.words(" \t\n—!?") == []
    assert hasher.words("bad \udcff surrogate") == ["bad", "surrogate"]  # a lone surrogate is a separator


def test_shingles_are_word_ngrams(hasher, paragraphs):
    words = hasher.words(paragraphs[0])
    assert len(hasher.shingles(paragraphs[0])) == len(words) - 4
    # case, punctuation and spacing do not matter; the same 5 words hash the same anywhere in any document
    assert np.array_equal(hasher.shingles("A, b. C  d\n e!"), hasher.shingles("a b c d e"))
    assert hasher.shingles("x y a b c d e z")[2] == hasher.shingles("a b c d e")[0]
    assert np.array_equal(hasher.shingles(" ".join(words)), hasher.shingles(paragraphs[0]))
    # fewer than 5 words: one shingle of all of them, distinct from the longer n-grams that start the same way
    short = [hasher.shingles(t) for t in ("a", "a b", "a b c", "a b c d", "a b c d e")]
    assert [len(s) for s in short] == [1, 1, 1, 1, 1]
    assert len({int(s[0]) for s in short}) == 5
    assert len(hasher.shingles("")) == 0 and hasher.shingles("").dtype == np.uint64
    # word order matters
    assert hasher.shingles("a b c d e")[0] != hasher.shingles("b a c d e")[0]


# -- determinism ------------------------------------------------------------------------------------------------------

# Fixed values: a change in the word splitter, the normalization or any hashing constant changes these, and with them
# every signature ever stored. Update them only on purpose.
GOLDEN_SHINGLES = [6683625410963539616, 15199728322159944883, 7921532505582313832, 2252408500918596100,
                   13244461768296791515]  # fmt: skip
GOLDEN_SIGNATURE_HEAD = [620769262, 361750438, 483910994, 234316487]


def test_golden_values(hasher):
    text = "The quick brown fox jumps over the lazy dog."
    assert hasher.shingles(text).tolist() == GOLDEN_SHINGLES
    assert hasher.signatures([text])[0, :4].tolist() == GOLDEN_SIGNATURE_HEAD


def test_deterministic_across_instances_and_processes(documents, tmp_path):
    sigs = MinHasher().signatures(documents)
    assert sigs.shape == (len(documents), 112) and sigs.dtype == np.uint32
    assert np.array_equal(sigs, MinHasher().signatures(documents))
    assert not np.array_equal(sigs[:3], MinHasher(seed=2).signatures(documents[:3]))

    (tmp_path / "docs.json").write_text(json.dumps(documents), encoding="utf-8")
    code = (
        "import json, sys; from curate.dedup.minhash import MinHasher; "
        "docs = json.load(open(sys.argv[1], encoding='utf-8')); "
        "open(sys.argv[2], 'wb').write(MinHasher().signatures(docs).tobytes())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "docs.json"), str(tmp_path / "sigs.bin")],
                   check=True, env=env, cwd=tmp_path)  # fmt: skip
    assert (tmp_path / "sigs.bin").read_bytes() == sigs.tobytes()


def test_pickled_hasher_gives_the_same_signatures(hasher, documents):
    clone = pickle.loads(pickle.dumps(hasher))
    assert len(pickle.dumps(hasher)) < 10_000  # the code-point table stays behind
    assert np.array_equal(clone.signatures(documents[:20]), hasher.signatures(documents[:20]))


def test_identical_texts_identical_signatures(hasher, documents):
    doc = documents[0]
    variant = doc.upper().replace(" ", "  \n")  # same words: case and spacing differ
    sigs = hasher.signatures([doc, documents[1], doc, variant])
    assert np.array_equal(sigs[0], sigs[2]) and np.array_equal(sigs[0], sigs[3])
    assert not np.array_equal(sigs[0], sigs[1])
    empty = hasher.signatures(["", "...", "one"])
    assert (empty[:2] == EMPTY).all() and not (empty[2] == EMPTY).any()


def test_batches_equal_one_at_a_time(hasher, documents, monkeypatch):
    whole = hasher.signatures(documents)
    single = np.stack([hasher.signatures([d])[0] for d in documents])
    assert np.array_equal(whole, single)
    # tiny batches and permutation chunks: documents split between chunks, batches of one
    monkeypatch.setattr(minhash, "_BATCH_CHARS", 3000)
    monkeypatch.setattr(minhash, "_CHUNK_SHINGLES", 7)
    assert np.array_equal(MinHasher().signatures(documents), whole)
    assert hasher.signatures([]).shape == (0, 112)


def test_signature_is_the_minimum_over_shingles(hasher, documents):
    """Against a plain-Python computation of the definition: min over shingles of a_i * (x >> 32) mod 2**32."""
    sigs = hasher.signatures(documents)
    for i in (0, 5, len(documents) - 3, len(documents) - 1):
        x = [int(h) >> 32 for h in hasher.shingles(documents[i])]
        expected = [min((int(a) * v) & 0xFFFFFFFF for v in x) for a in hasher.a]
        assert sigs[i].tolist() == expected


# -- estimates --------------------------------------------------------------------------------------------------------


def edit(words: list[str], rate: float, vocabulary: list[str], rng: random.Random) -> list[str]:
    """Each word is, with probability `rate`, replaced (half the time), dropped or followed by an inserted word."""
    out = []
    for word in words:
        r = rng.random()
        if r < rate / 2:
            out.append(rng.choice(vocabulary))
        elif r < 3 * rate / 4:
            continue
        elif r < rate:
            out += [word, rng.choice(vocabulary)]
        else:
            out.append(word)
    return out


def test_agreement_estimates_true_jaccard(hasher, paragraphs):
    rng = random.Random(7)
    vocabulary = sorted({w for p in paragraphs[:300] for w in hasher.words(p)})
    rates = [0.005, 0.02, 0.05, 0.1, 0.2, 0.35]
    originals, edited = [], []
    for i, paragraph in enumerate(paragraphs[:480]):
        originals.append(paragraph)
        edited.append(" ".join(edit(hasher.words(paragraph), rates[i % len(rates)], vocabulary, rng)))
    sig_a, sig_b = hasher.signatures(originals), hasher.signatures(edited)
    estimate = (sig_a == sig_b).mean(axis=1)
    truth = np.array([true_jaccard(hasher.shingles(a), hasher.shingles(b)) for a, b in zip(originals, edited)])
    error = estimate - truth
    assert truth.min() < 0.3 and truth.max() > 0.9  # the pairs span the range
    assert np.abs(error).mean() < 0.05
    assert abs(error.mean()) < 0.01  # unbiased
    # the spread is the binomial one of 112 independent permutations (z-scores of variance ~1)
    inner = (truth > 0.02) & (truth < 0.98)
    z = error[inner] / np.sqrt(truth[inner] * (1 - truth[inner]) / 112)
    assert 0.7 < z.var() < 1.3


def test_unrelated_documents_rarely_agree(hasher, paragraphs):
    a, b = paragraphs[:200], paragraphs[200:400]
    agreement = (hasher.signatures(a) == hasher.signatures(b)).mean(axis=1)
    truth = np.array([true_jaccard(hasher.shingles(x), hasher.shingles(y)) for x, y in zip(a, b)])
    assert truth.max() < 0.01
    assert agreement.mean() < 0.005 and agreement.max() <= 3 / 112


def test_true_jaccard():
    a = np.array([1, 2, 3, 3], dtype=np.uint64)
    assert true_jaccard(a, np.array([2, 3, 4], dtype=np.uint64)) == 0.5
    assert true_jaccard(a, a) == 1.0
    empty = np.zeros(0, dtype=np.uint64)
    assert true_jaccard(empty, empty) == 1.0 and true_jaccard(a, empty) == 0.0


# -- LSH parameters ---------------------------------------------------------------------------------------------------


def crossing(bands: int, rows: int) -> float:
    """The similarity at which the S-curve 1 - (1 - s**rows)**bands is 1/2."""
    return (1 - 0.5 ** (1 / bands)) ** (1 / rows)


def test_choose_bands_rows_follows_the_threshold():
    bands, rows = choose_bands_rows(0.8)
    assert bands * rows <= 112
    assert abs(crossing(bands, rows) - 0.8) < 0.05
    assert detection_probability(crossing(bands, rows), bands, rows) == pytest.approx(0.5)
    assert detection_probability(0.95, bands, rows) > 0.95 and detection_probability(0.5, bands, rows) < 0.05
    lower = choose_bands_rows(0.5)
    assert crossing(*lower) < crossing(bands, rows) and lower[0] * lower[1] <= 112
    small = choose_bands_rows(0.8, num_perm=32)
    assert small[0] * small[1] <= 32
    with pytest.raises(ValueError):
        choose_bands_rows(1.0)


def test_detection_probability():
    # FineWeb's 14 × 8: ~0.72 is the 50% point, 0.8 is caught 92.4% of the time (datatrove's comment)
    assert abs(crossing(14, 8) - 0.72) < 0.04
    assert detection_probability(0.8, 14, 8) == pytest.approx(0.924, abs=0.001)
    curve = detection_probability(np.linspace(0, 1, 11), 14, 8)
    assert curve[0] == 0.0 and curve[-1] == 1.0 and np.all(np.diff(curve) > 0)


def test_band_keys(hasher, documents):
    sigs = hasher.signatures(documents[:40])
    keys = band_keys(sigs, 14, 8)
    assert keys.shape == (40, 14) and keys.dtype == np.uint64
    assert np.array_equal(keys, band_keys(sigs.copy(), 14, 8))
    changed = sigs.copy()
    changed[0, 3 * 8 + 5] ^= 1  # one value in band 3
    moved = band_keys(changed, 14, 8)[0] != keys[0]
    assert moved.tolist() == [j == 3 for j in range(14)]
    nonempty = ~(sigs == EMPTY).all(axis=1)
    assert len(np.unique(keys[nonempty], axis=0)) == nonempty.sum()  # distinct documents, distinct keys
    assert band_keys(sigs, 9, 12).shape == (40, 9)
    with pytest.raises(ValueError):
        band_keys(sigs, 15, 8)
