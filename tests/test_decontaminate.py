"""The `decontaminate` stage: eval documents planted in training data (verbatim, inside a longer page, or in part)
are removed with reason `eval_overlap` naming the eval document; unrelated real text is kept; the run conserves."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import REPO, read_rows

from curate import config
from curate.cli import main
from curate.outputs import write_documents
from curate.stages.decontaminate import build_index, overlap


@pytest.fixture(scope="module")
def texts(data) -> dict[str, list[str]]:
    wiki = (data / "text" / "wikitext2-valid.txt").read_text(encoding="utf-8")
    articles = [line.strip() for line in wiki.splitlines() if len(line.split()) > 80]
    plays = (data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8").split("\n\n")
    return {"eval": articles[:30], "other": articles[30:60], "plays": [p for p in plays if len(p.split()) > 40][:40]}


@pytest.fixture(scope="module")
def eval_dir(texts, tmp_path_factory):
    rows = [{"id": f"wiki-{i}", "text": t} for i, t in enumerate(texts["eval"])]
    return write_documents(tmp_path_factory.mktemp("eval"), rows)


def test_containment_is_measured_on_the_eval_side(texts, eval_dir):
    index = build_index([str(eval_dir)])
    from curate.dedup.minhash import MinHasher

    hasher = MinHasher(n_grams=13)
    article = texts["eval"][3]
    page = texts["plays"][0] + "\n\n" + article + "\n\n" + texts["plays"][1]  # a small part of a longer page
    best, containment = overlap(index, hasher.shingles(page))
    assert index.names[best].startswith("wiki-3 ") and containment == pytest.approx(1.0)
    best, containment = overlap(index, hasher.shingles(texts["other"][0]))
    assert containment < 0.05  # another article of the same encyclopedia shares (almost) no 13-gram


@pytest.mark.slow
def test_planted_eval_documents_are_removed(texts, eval_dir, tmp_path):
    words = texts["eval"][7].split()
    train = [{"id": f"play-{i}", "text": t} for i, t in enumerate(texts["plays"])]
    train += [{"id": f"other-{i}", "text": t} for i, t in enumerate(texts["other"])]
    planted = {
        "verbatim": texts["eval"][5],
        "inside": texts["plays"][2] + "\n\n" + texts["eval"][12] + "\n\n" + texts["plays"][3],
        "most": " ".join(words[: int(len(words) * 0.7)]),  # 70% of an article: above the 0.5 threshold
    }
    train += [{"id": name, "text": text} for name, text in planted.items()]
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in train))
    pipeline = tmp_path / "decon.yaml"
    pipeline.write_text(f"reader: documents\nstages:\n  - decontaminate: {{eval: [{eval_dir}]}}\n")
    assert main(["check", str(pipeline)]) == 0
    out = tmp_path / "run"
    assert main(["run", str(pipeline), "--input", str(source), "--output", str(out), "--no-progress"]) == 0

    stats = json.loads((out / "stats.json").read_text())
    assert stats["conserved"] and stats["input_records"] == len(train)
    rejected = {r["id"]: r for r in read_rows(out / "rejected")}
    assert set(rejected) == set(planted)
    assert {r["reason"] for r in rejected.values()} == {"eval_overlap"}
    assert "wiki-5 " in rejected["verbatim"]["detail"] and "wiki-12 " in rejected["inside"]["detail"]
    assert "wiki-7 " in rejected["most"]["detail"]
    kept = {r["id"] for r in read_rows(out / "documents")}
    assert kept == {row["id"] for row in train} - set(planted)


def test_bad_parameters_name_the_key(tmp_path):
    for stage, message in (
        ("decontaminate: {}", "decontaminate.eval: required"),
        (f"decontaminate: {{eval: [{tmp_path / 'nowhere'}]}}", "no such file or folder"),
        (f"decontaminate: {{eval: [{REPO / 'README.md'}], threshold: 0}}", "decontaminate.threshold"),
    ):
        with pytest.raises(config.ConfigError, match=message):
            config.parse({"reader": "documents", "stages": [yaml.safe_load(stage)]}, "p.yaml")
