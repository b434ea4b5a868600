"""Leakage between training token directories and eval sets (`curate.compare.leakage`): eval documents planted in a
training set (verbatim, with a few words changed, inside a longer page) are found and removed naming the eval
document; a partial copy below the threshold and unrelated text are not; the output is a token directory the trainer
reads; a second run with the same inputs is skipped."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import make_tokens

from curate.compare.leakage import decontaminate_tokens, leakage
from curate.stages.decontaminate import containments, index_grams, overlap
from curate.tokens import iter_rows, read_manifest

UNITS = ["words", "token ids"]


@pytest.fixture(scope="module")
def texts(shakespeare) -> dict[str, list[str]]:
    long = [p for p in shakespeare if len(p.split()) >= 80]
    evals = long[:20]
    other = [p for p in shakespeare[3000:3300] if p not in evals]
    return {"eval": evals, "other": other}


@pytest.fixture(scope="module")
def planted(texts) -> dict[int, tuple[str, str]]:
    """Training row → (what was planted, the text); every other row is unrelated text."""
    parts = re.split(r"(\s+)", texts["eval"][7])  # words at even places, the whitespace between them kept
    for i in (10, 30, 50):  # a few words changed: still ≥ 0.5 of the 13-grams
        parts[2 * i] = "zounds"
    partial = re.split(r"(\s+)", texts["eval"][15])
    return {
        5: ("exact", texts["eval"][3]),
        40: ("near", "".join(parts)),
        150: ("inside", texts["other"][0] + "\n\n" + texts["eval"][12] + "\n\n" + texts["other"][1]),
        260: ("reflowed", " ".join(texts["eval"][9].split())),  # line breaks → spaces: other tokens, same words
        120: ("partial", "".join(partial[: len(partial) // 3])),  # a third of an eval document: below 0.5
    }


@pytest.fixture(scope="module")
def dirs(texts, planted, bpe, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("leakage")
    train = list(texts["other"][2:])
    for row in sorted(planted):
        train.insert(row, planted[row][1])
    assert [train[r] for r in sorted(planted)] == [planted[r][1] for r in sorted(planted)]
    # small shards (~100 rows each): planted rows in all three, so the scan's row numbering must hold across shards
    make_tokens(root / "train", train, bpe, domain=lambda i: "even" if i % 2 == 0 else "odd", max_tokens_per_shard=9000)
    make_tokens(root / "clean", texts["other"], bpe)
    make_tokens(root / "eval", texts["eval"], bpe)
    make_tokens(root / "eval2", texts["eval"][3:4], bpe)  # a second eval set holding eval document 3 again
    return {"root": root, "train": root / "train", "clean": root / "clean", "eval": root / "eval", "rows": len(train)}


def _tokenizer(unit: str, bpe):
    return bpe if unit == "words" else None


# training row → eval document found there; token-id n-grams miss the reflowed copy (each line break became a
# space, so nearly every 13 tokens differ), word n-grams do not: why the words of the decoded text are the default
FOUND = {"words": {5: "d3", 40: "d7", 150: "d12", 260: "d9"}, "token ids": {5: "d3", 40: "d7", 150: "d12"}}


@pytest.mark.parametrize("unit", UNITS)
def test_planted_eval_documents_are_found(dirs, planted, bpe, unit):
    report = leakage(dirs["train"], {"heldout": str(dirs["eval"])}, tokenizer=_tokenizer(unit, bpe), examples=10)
    assert report["unit"] == unit
    assert len(read_manifest(dirs["train"])["shards"]) > 1
    assert report["train"]["documents"] == dirs["rows"]
    found, expected = report["eval"]["heldout"], FOUND[unit]
    assert found["documents"] == 20
    assert found["contaminated"] == len(expected) and found["exact"] == 1
    assert found["train_documents"] == len(expected) and found["exact_train_documents"] == 1
    assert found["train_share"] == pytest.approx(len(expected) / dirs["rows"])
    examples = {e["train_row"]: e for e in found["examples"]}
    assert {row: e["eval_doc_id"] for row, e in examples.items()} == expected
    assert all(examples[row]["train_doc_id"] == f"d{row}" for row in expected)
    assert examples[5]["exact"] and examples[5]["containment"] == 1.0
    assert 0.5 <= examples[40]["containment"] < 1.0 and not examples[40]["exact"]
    assert examples[150]["containment"] > 0.95 and not examples[150]["exact"]
    tokens = {r["doc_id"]: r["num_tokens"] for r in iter_rows(dirs["train"], ["doc_id", "num_tokens"])}
    assert found["train_tokens"] == sum(tokens[f"d{r}"] for r in expected)
    assert report["overlapping"]["documents"] == len(expected)
    assert report["overlapping"]["tokens"] == found["train_tokens"]
    assert leakage(dirs["train"], {"heldout": str(dirs["eval"])}, tokenizer=_tokenizer(unit, bpe), examples=1)["eval"][
        "heldout"
    ]["examples"] == [found["examples"][0]]


@pytest.mark.parametrize("unit", UNITS)
def test_a_clean_training_set_reports_no_overlap(dirs, bpe, unit):
    report = leakage(dirs["clean"], {"heldout": str(dirs["eval"])}, tokenizer=_tokenizer(unit, bpe))
    found = report["eval"]["heldout"]
    assert (found["contaminated"], found["exact"], found["train_documents"], found["examples"]) == (0, 0, 0, [])
    assert report["overlapping"] == {"documents": 0, "share": 0.0, "tokens": 0, "tokens_share": 0.0}


def test_decontaminate_removes_exactly_the_planted_documents(dirs, planted, bpe, tmp_path):
    import curate_train.data as data

    evals = {"heldout": str(dirs["eval"]), "again": str(dirs["root"] / "eval2")}
    out = tmp_path / "clean"
    result = decontaminate_tokens(dirs["train"], evals, out, tokenizer=bpe, max_tokens_per_shard=9000)
    assert not result["reused"]
    assert result["removed"]["documents"] == 4
    assert result["removed"]["by_eval_set"] == {"heldout": 4, "again": 0}  # a tie names the first eval set
    assert result["kept"]["documents"] == dirs["rows"] - 4
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [(r["row"], r["doc_id"], r["reason"], r["eval_set"], r["eval_doc_id"]) for r in rejected] == [
        (5, "d5", "eval_overlap", "heldout", "d3"),
        (40, "d40", "eval_overlap", "heldout", "d7"),
        (150, "d150", "eval_overlap", "heldout", "d12"),
        (260, "d260", "eval_overlap", "heldout", "d9"),
    ]
    assert rejected[0]["exact"] and "identical to eval document d3" in rejected[0]["detail"]
    assert "of the 13-grams of eval document d7 (heldout)" in rejected[1]["detail"]

    source = list(iter_rows(dirs["train"]))
    kept = list(iter_rows(out))
    assert kept == [
        row for i, row in enumerate(source) if i not in (5, 40, 150, 260)
    ]  # same rows, same order, partial kept
    manifest = read_manifest(out)
    assert manifest["tokenizer"] == read_manifest(dirs["train"])["tokenizer"]
    assert manifest["totals"]["rows"] == len(kept) and manifest["totals"]["tokens"] == result["kept"]["tokens"]
    assert manifest["totals"]["domains"]["even"]["rows"] + manifest["totals"]["domains"]["odd"]["rows"] == len(kept)

    # the trainer's reader opens it and draws batches from it
    tok = data.check_tokenizers({"train": str(out), "eval": str(dirs["eval"])})
    stream = data.TrainStream([str(out)], tok["sha256"], seq_len=32, seed=0)
    assert stream.index.documents == len(kept)
    assert stream.next_batch(4).shape == (4, 33)
    assert leakage(out, {"heldout": str(dirs["eval"])}, tokenizer=bpe)["overlapping"]["documents"] == 0

    again = decontaminate_tokens(dirs["train"], evals, out, tokenizer=bpe, max_tokens_per_shard=9000)
    assert again["reused"] and again["manifest_sha256"] == result["manifest_sha256"]
    strict = decontaminate_tokens(dirs["train"], evals, out, tokenizer=bpe, threshold=0.2)  # the partial copy too
    assert not strict["reused"] and strict["removed"]["documents"] == 5
    assert json.loads((out / "rejected.jsonl").read_text().splitlines()[2])["row"] == 120
    assert len(list(iter_rows(out))) == dirs["rows"] - 5


def test_a_mismatched_tokenizer_or_output_dir_is_refused(dirs, tmp_path, data):
    with pytest.raises(ValueError, match="is not the token directories' tokenizer"):
        leakage(dirs["train"], {"heldout": str(dirs["eval"])}, tokenizer=data / "tokenizer" / "gpt-neox-bpe-50k.json")
    with pytest.raises(ValueError, match="must not be the training directory"):
        decontaminate_tokens(dirs["train"], {"heldout": str(dirs["eval"])}, dirs["train"])


def test_batched_containments_match_the_stage_per_document():
    rng = np.random.default_rng(0)
    evals = [rng.integers(0, 500, size=n).astype(np.uint64) for n in (40, 1, 0, 25)]
    index = index_grams(evals, [f"e{i}" for i in range(len(evals))])
    docs = [rng.integers(0, 500, size=n).astype(np.uint64) for n in (0, 30, 200, 5)] + [evals[0], evals[1]]
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    d, e, c = containments(index, np.concatenate(docs), offsets)
    for k, doc in enumerate(docs):
        best, share = overlap(index, doc)
        mine = c[d == k]
        assert share == (mine.max() if len(mine) else 0.0)
        if len(mine):
            assert best == e[d == k][np.argmax(mine)]
        for j, grams in enumerate(evals):
            expected = len(np.intersect1d(doc, grams)) / max(len(np.unique(grams)), 1)
            assert (c[(d == k) & (e == j)].sum() if expected else 0.0) == pytest.approx(expected)
    assert overlap(index, evals[0]) == (0, 1.0)


@pytest.mark.slow
def test_compare_reports_leakage_and_trains_without_it_when_asked(compare_corpus, shakespeare, bpe, tmp_path):
    """A candidate with 20 held-out paragraphs planted in it: compare names the leak; with `decontaminate: true` it
    trains on the data without them and the report says how many were removed."""
    from conftest import write_compare_spec

    from curate.compare import run_compare

    held = shakespeare[int(len(shakespeare) * 0.9) :]  # compare_corpus's eval set
    train = shakespeare[: int(len(shakespeare) * 0.9)]
    leaky = make_tokens(tmp_path / "leaky", train[:400] + [p for p in held[:60] if len(p.split()) >= 20], bpe)
    planted = sum(len(p.split()) >= 20 for p in held[:60])
    candidates = [
        {"name": "clean", "tokens": str(compare_corpus["half_a"])},
        {"name": "leaky", "tokens": str(leaky)},
    ]
    spec = write_compare_spec(tmp_path / "leak.yaml", candidates, compare_corpus, seeds=2, tokenizer=str(bpe))
    result = run_compare(spec, tmp_path / "out", log=None)
    found = result["candidates"]["leaky"]["data"]["leakage"]
    assert found["unit"] == "words" and found["overlapping"]["documents"] == planted
    assert found["eval"]["heldout"]["exact"] == planted
    assert result["candidates"]["clean"]["data"]["leakage"]["overlapping"]["documents"] == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert f"leaky: {planted} training documents" in html and "Leakage: eval documents" in html

    write_compare_spec(spec, candidates, compare_corpus, seeds=2, tokenizer=str(bpe), decontaminate=True)
    clean = run_compare(spec, tmp_path / "out", log=None)
    removed = clean["candidates"]["leaky"]["data"]["decontaminated"]
    assert removed["removed"]["documents"] == planted
    rejected = [json.loads(line) for line in open(removed["rejected"])]
    assert {r["reason"] for r in rejected} == {"eval_overlap"} and all(r["eval_doc_id"] for r in rejected)
    runs = clean["candidates"]["leaky"]["runs"]
    assert all(not r["reused"] and "decontaminated" in r["train_dir"] for r in runs)
    assert f"{planted} documents removed" in (tmp_path / "out" / "report.html").read_text()
