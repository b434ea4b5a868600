"""`curate ablate` on real crawl files: the recipe it selects from one recording pass is exactly what `curate run`
keeps, and so is "the recipe without a filter"; a stage that removes nothing shares the recipe's data and runs and is
"no evidence"; the table has a row per stage with its effect on every figure. CPU, tiny proxy."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import TINY_MODEL, TINY_TRAIN, read_rows

from curate import config
from curate.ablate import run_ablate
from curate.ablate.run import plan_candidates
from curate.pipeline import RunOptions, run
from curate.runfolder import RunError

pytestmark = pytest.mark.slow


def pipeline(path, bpe, drop: str | None = None):
    stages = [
        {"extract": {"timeout": 60.0}},
        {"language": {"languages": None, "min_score": 0.0}},  # labels every page, removes none
        {"gopher_quality": {}},
        {"c4_quality": {"filter_no_terminal_punct": False}},
        {"dedup": {}},
        {"pii": {}},
        {"tokenize": {"tokenizer": str(bpe)}},
    ]
    spec = {"name": "small", "reader": {"warc": {}}, "stages": [s for s in stages if drop not in s]}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def inputs(data):
    return [str(data / "warc" / "cc-main-2020-34-excerpt.warc.gz"), str(data / "warc" / "wget-sample-0000.warc.gz")]


@pytest.fixture(scope="module")
def ablated(tmp_path_factory, inputs, bpe, compare_corpus):
    root = tmp_path_factory.mktemp("ablate")
    settings = root / "settings.yaml"
    train = {**TINY_TRAIN, "max_steps": 20, "eval_every": 10}
    settings.write_text(
        yaml.safe_dump(
            {"eval": {"heldout": str(compare_corpus["eval"])}, "model": TINY_MODEL, "train": train, "seeds": 2}
        )
    )
    table = run_ablate(pipeline(root / "p.yaml", bpe), inputs, root / "out", settings, workers=2, log=None)
    return root, table


def ids(folder):
    return {r["id"] for r in read_rows(folder / "documents", ["id"])}


def test_the_recipe_and_the_recipe_without_a_filter_are_what_curate_run_keeps(ablated, inputs, bpe):
    root, table = ablated
    for drop in (None, "gopher_quality"):
        out = root / f"run-{drop}"
        run(config.load(pipeline(root / f"{drop}.yaml", bpe, drop)), RunOptions(inputs, out, workers=2, progress=False))
        kept = ids(out)
        name = "recipe" if drop is None else f"without-{drop}"
        selected = {r["doc_id"] for r in read_rows(root / "out" / "candidates" / name, ["doc_id"])}
        assert selected == kept, f"{name}: {len(selected ^ kept)} documents differ from `curate run` without {drop}"


def test_a_stage_that_removes_nothing_shares_the_recipes_runs_and_is_no_evidence(ablated):
    root, table = ablated
    rows = {r["stage"]: r for r in table["rows"]}
    assert list(rows) == ["language", "gopher_quality", "c4_quality", "dedup", "pii"]
    lang = rows["language"]
    assert lang["same_as_recipe"] and lang["removes"]["documents"] == 0
    assert lang["verdict"].startswith("no evidence: removes nothing")
    comparison = json.loads((root / "out" / "compare" / "comparison.json").read_text())
    recipe_runs = {r["hash"] for r in comparison["candidates"]["recipe"]["runs"]}
    assert {r["hash"] for r in comparison["candidates"]["without-language"]["runs"]} == recipe_runs
    assert not (root / "out" / "candidates" / "without-language").exists()
    # every distinct selection trains once per seed, no more
    distinct = {json.dumps(sorted(r["hash"] for r in c["runs"])) for c in comparison["candidates"].values()}
    assert len(list((root / "out" / "compare" / "runs").iterdir())) == 2 * len(distinct)

    gopher = rows["gopher_quality"]
    assert gopher["removes"]["documents"] > 0 and not gopher["same_as_recipe"]
    for figure in ("target", "heldout"):
        effect = gopher["effects"][figure]
        assert effect["effect"] is not None and effect["ci95"][0] <= effect["effect"] <= effect["ci95"][1]
        assert effect["verdict"] in ("helps", "hurts") or effect["verdict"].startswith("no evidence (MDD")
    assert comparison["spec"]["pairs"] == "reference" and comparison["reference"] == "recipe"
    assert all("recipe" in (p["a"], p["b"]) for p in comparison["pairwise"])
    html = (root / "out" / "report.html").read_text()
    assert "gopher_quality" in html and "compare/report.html" in html


def test_ablate_reuses_everything_and_refuses_stages_it_cannot_leave_out(ablated, inputs, bpe, tmp_path):
    root, table = ablated
    settings = root / "settings.yaml"
    again = run_ablate(root / "p.yaml", inputs, root / "out", settings, workers=2, log=None)
    assert again["rows"] == table["rows"]
    comparison = json.loads((root / "out" / "compare" / "comparison.json").read_text())
    assert all(r["reused"] for c in comparison["candidates"].values() for r in c["runs"])
    spec = config.load(root / "p.yaml")
    with pytest.raises(RunError, match="extract: a text stage cannot be left out"):
        plan_candidates(spec, ["extract"], raw=False)
    with pytest.raises(RunError, match="not a stage"):
        plan_candidates(spec, ["nonsense"], raw=False)
