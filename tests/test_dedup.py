"""Dedup on real text: exact/URL keys, the near-dup recall S-curve, sharding independence, one survivor per cluster."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.dedup.keys import normalize_text, normalize_url
from curate.dedup.lsh import detection_probability
from curate.dedup.minhash import MinHasher, true_jaccard
from curate.evals.dedup_eval import edit

pytestmark = pytest.mark.slow  # runs pipelines or trains models: not in `make test-fast`

RATES = [0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.065, 0.08, 0.11, 0.15]
PAIRS_PER_RATE = 24
BINS = [(0.0, 0.3), (0.3, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]


def test_normalizations():
    assert normalize_text("  Hello\tWORLD\n\n x ") == normalize_text("hello world x")
    assert normalize_text("Ｆｕｌｌ width") == "full width"  # NFKC
    assert normalize_url("https://www.Example.org:443/a/?b=2&a=1&utm_source=x#top") == normalize_url(
        "http://example.org/a?a=1&b=2"
    )
    assert normalize_url("https://example.org/a") != normalize_url("https://example.org/b")
    assert normalize_url(None) is None


def chunks(data: Path, words_per_chunk: int, count: int) -> list[str]:
    """Distinct real passages: Shakespeare and Wikipedia text cut into ~equal word windows."""
    out = []
    for name in ("tinyshakespeare.txt", "wikitext2-valid.txt"):
        words = (data / "text" / name).read_text(encoding="utf-8").split()
        starts = range(0, len(words) - words_per_chunk, words_per_chunk)
        out += [" ".join(words[i : i + words_per_chunk]) for i in starts]
    random.Random(7).shuffle(out)
    assert len(out) >= count
    return out[:count]


@pytest.fixture(scope="module")
def corpus(data, tmp_path_factory):
    rng = random.Random(11)
    passages = chunks(data, 220, len(RATES) * PAIRS_PER_RATE + 120)
    vocabulary = " ".join(passages[:50]).split()
    rows, pairs = [], []
    for i, rate in enumerate(r for r in RATES for _ in range(PAIRS_PER_RATE)):
        base, copy = passages[i], edit(passages[i], rate, rng, vocabulary)
        rows += [{"id": f"p{i}-a", "text": base}, {"id": f"p{i}-b", "text": copy}]
        pairs.append((f"p{i}-a", f"p{i}-b"))
    singles = [{"id": f"s{j}", "text": t} for j, t in enumerate(passages[len(RATES) * PAIRS_PER_RATE :])]
    rows += singles
    for row in rows:
        row["url"] = f"https://corpus.test/{row['id']}"
    rng.shuffle(rows)
    folder = tmp_path_factory.mktemp("corpus")
    third = len(rows) // 3
    paths = []
    for k, part in enumerate((rows[:third], rows[third : 2 * third], rows[2 * third :])):
        path = folder / f"part{k}.parquet"
        pq.write_table(pa.Table.from_pylist(part), path)
        paths.append(str(path))
    texts = {r["id"]: r["text"] for r in rows}
    return {"paths": paths, "pairs": pairs, "texts": texts, "singles": [s["id"] for s in singles], "folder": folder}


def run_dedup(corpus, out: Path, workers: int, params: str) -> tuple[dict, list[dict], set[str]]:
    spec = out.parent / f"{out.name}.yaml"
    spec.write_text(f"reader: documents\nstages:\n  - dedup: {params}\n")
    argv = [
        "run",
        str(spec),
        "--input",
        *corpus["paths"],
        "--output",
        str(out),
        "--workers",
        str(workers),
        "--no-progress",
    ]
    assert main(argv) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conserved"] and stats["input_records"] == stats["kept"] + stats["rejected"] == len(corpus["texts"])
    removed = pq.read_table(out / "rejected").to_pylist() if (out / "rejected").exists() else []
    kept = set(pq.read_table(out / "documents", columns=["id"]).column("id").to_pylist())
    return stats, removed, kept


def test_near_dup_recall_follows_the_s_curve(corpus, tmp_path):
    stats, removed, kept = run_dedup(corpus, tmp_path / "run", 2, "{exact: false, url: false}")
    bands, rows = 14, 8
    assert all(r["reason"] == "near_duplicate" for r in removed)
    partner = {a: b for a, b in corpus["pairs"]} | {b: a for a, b in corpus["pairs"]}
    # unrelated documents are never merged; each cluster keeps exactly one survivor
    for r in removed:
        assert r["duplicate_of"] == partner.get(r["id"]), r
        assert r["duplicate_of"] in kept
    assert set(corpus["singles"]) <= kept
    caught = {frozenset((r["id"], r["duplicate_of"])) for r in removed}
    hasher = MinHasher(n_grams=5)
    lines = [f"{'jaccard':>11} {'pairs':>5} {'caught':>7} {'theory':>7} {'tolerance':>9}"]
    for lo, hi in BINS:
        members = []
        for a, b in corpus["pairs"]:
            s = true_jaccard(hasher.shingles(corpus["texts"][a]), hasher.shingles(corpus["texts"][b]))
            if lo <= s < hi:
                members.append((s, frozenset((a, b)) in caught))
        if not members:
            continue
        n = len(members)
        observed = sum(c for _, c in members) / n
        probabilities = [detection_probability(s, bands, rows) for s, _ in members]
        expected = sum(probabilities) / n
        sd = (sum(p * (1 - p) for p in probabilities) ** 0.5) / n
        tolerance = 3 * sd + 0.03
        lines.append(f"[{lo:.1f}, {min(hi, 1):.1f}) {n:>5} {observed:>7.3f} {expected:>7.3f} {tolerance:>9.3f}")
        assert abs(observed - expected) <= tolerance, lines[-1]
    print("\nnear-dup recall by true word-5-gram Jaccard (14 bands x 8 rows):\n" + "\n".join(lines))
    assert len(lines) >= 6


def test_same_result_with_one_and_three_workers(corpus, tmp_path):
    results = []
    for workers in (1, 3):
        stats, removed, kept = run_dedup(corpus, tmp_path / f"w{workers}", workers, "{}")
        assert stats["workers"] == workers and stats["tasks"] >= workers
        results.append(({(r["id"], r["reason"], r["duplicate_of"]) for r in removed}, kept))
    assert results[0] == results[1]
    assert len(results[0][0]) > 0


def test_exact_and_url_duplicates(tmp_path):
    rows = [
        {"id": "a", "text": "The same text.  With odd   spacing.", "url": "https://x.test/1"},
        {"id": "b", "text": "the same text. with odd spacing.", "url": "https://x.test/2"},
        {"id": "c", "text": "A different page entirely, about bread.", "url": "http://www.x.test/3/?utm_source=feed"},
        {"id": "d", "text": "Nothing alike here: rivers and mountains.", "url": "https://x.test/3"},
        {"id": "e", "text": "Unique words about the sea and its tides.", "url": "https://x.test/5"},
        # f is an exact copy of e; g shares f's URL: whichever of e/f survives the text rule, every removed
        # document must point at a kept one
        {"id": "f", "text": "unique words about the sea and its tides.", "url": "https://x.test/6"},
        {"id": "g", "text": "Yet another page, on mountains and snow.", "url": "https://x.test/6#top"},
    ]
    path = tmp_path / "small.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    stats, removed, kept = run_dedup({"paths": [str(path)], "texts": rows}, tmp_path / "run", 1, "{near: false}")
    reasons = {r["id"]: (r["reason"], r["duplicate_of"]) for r in removed}
    assert len({"a", "b"} & kept) == 1 and len({"c", "d"} & kept) == 1
    (ab,), (cd,) = {"a", "b"} & kept, {"c", "d"} & kept
    assert reasons[({"a", "b"} - {ab}).pop()] == ("exact_duplicate", ab)
    assert reasons[({"c", "d"} - {cd}).pop()] == ("url_duplicate", cd)
    assert all(r["duplicate_of"] in kept for r in removed)
    assert all("itself a duplicate of" in r["detail"] for r in removed if r["id"] in "ef" and r["duplicate_of"] == "g")
    assert len(kept) + len(removed) == len(rows)
    assert stats["dedup"]["exact_duplicate"] == 2 and stats["dedup"]["url_duplicate"] >= 1
