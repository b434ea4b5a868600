"""`curate compare --plan`: a fresh folder trains exactly the two pilot seeds per candidate and the compare reuses
them; σ and MDD are finite and positive; the seeds a minimal effect needs fall as the effect grows; a plan over a
finished compare trains nothing. CPU, the tiny model of test_compare."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_MODEL as MODEL
from conftest import TINY_TRAIN as TRAIN
from conftest import corrupt, make_tokens

from curate.cli import main
from curate.compare import mdd_for_seeds, plan_compare, run_compare, seeds_for_effect

pytestmark = pytest.mark.slow  # trains models: not in `make test-fast`

torch.set_num_threads(2)


def _runs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "runs").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory, shakespeare, bpe) -> Path:
    """clean vs corrupted training text, two eval sets (so the family is 3 figures × 1 pair), seeds 0..2."""
    root = tmp_path_factory.mktemp("plan-tokens")
    cut = int(len(shakespeare) * 0.9)
    train, held = shakespeare[:cut], shakespeare[cut:]
    spec = {
        "name": "plan",
        "candidates": [
            {"name": "clean", "tokens": str(make_tokens(root / "clean", train, bpe))},
            {"name": "corrupted", "tokens": str(make_tokens(root / "corrupted", corrupt(train), bpe))},
        ],
        "eval": {
            "heldout": str(make_tokens(root / "eval", held, bpe, domain="prose")),
            "small": {"tokens": str(make_tokens(root / "eval_small", held[:20], bpe, domain="small")), "weight": 0.5},
        },
        "model": MODEL,
        "train": dict(TRAIN),
        "seeds": [0, 1, 2],
    }
    path = root / "plan.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def piloted(tmp_path_factory, spec_path) -> tuple[Path, dict, list[str]]:
    """`curate compare --plan` on a fresh folder, through the CLI: the folder, plan.json and the printed lines."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("plan-out") / "out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["compare", str(spec_path), "-o", str(out), "--plan", "--min-effect", "0.05"]) == 0
    printed = buffer.getvalue().splitlines()
    print("\n" + "\n".join(printed))
    return out, json.loads((out / "plan.json").read_text()), printed


def test_plan_trains_pilot_only_and_compare_reuses_it(piloted, spec_path, tmp_path):
    pilot_dir, plan, printed = piloted
    assert len(_runs(pilot_dir)) == 4  # 2 candidates × the first 2 seeds, nothing else
    assert sorted(p.name for p in pilot_dir.iterdir()) == [".curate-compare", "plan.json", "runs"]
    assert sorted((r["candidate"], r["seed"]) for r in plan["pilot"]["trained"]) == [
        ("clean", 0),
        ("clean", 1),
        ("corrupted", 0),
        ("corrupted", 1),
    ]
    assert plan["pilot"]["cached"] == 0 and plan["n"] == 3
    assert plan["family"] == {
        "figures": ["target", "heldout", "small"],
        "pairs": 1,
        "tests": 3,
        "alpha_per_test": pytest.approx(0.05 / 3),
    }
    for name, row in plan["figures"].items():
        assert row["candidates"] == 2, name
        assert math.isfinite(row["sigma"]) and row["sigma"] > 0, name
        assert math.isfinite(row["mdd"]) and row["mdd"] > 0, name
        assert row["mdd"] == pytest.approx(mdd_for_seeds(row["sigma"], 3, 0.05 / 3))
    assert plan["seconds_per_run"] > 0 and plan["runs_to_train"] == 2  # seed 2 of each candidate
    assert plan["wall_s"] == pytest.approx(2 * plan["seconds_per_run"])
    assert printed[0].startswith("figure") and any(line.startswith("target ") for line in printed)

    out = tmp_path / "out"
    shutil.copytree(pilot_dir, out)  # the run cache is keyed by config hash, not by folder
    result = run_compare(spec_path, out, log=None)
    for name in ("clean", "corrupted"):
        assert [r["reused"] for r in result["candidates"][name]["runs"]] == [True, True, False]
    assert len(_runs(out)) == 6

    # (c) a plan over the finished compare trains nothing and measures σ on all three seeds
    again = plan_compare(spec_path, out, log=None)
    assert len(_runs(out)) == 6
    assert again["pilot"] == {"trained": [], "cached": 6}
    assert again["runs_to_train"] == 0 and again["wall_s"] == 0
    assert all(math.isfinite(row["sigma"]) and row["sigma"] > 0 for row in again["figures"].values())
    assert (out / "comparison.json").is_file() and (out / "plan.json").is_file()


def test_seeds_for_min_effect_are_monotone(piloted, tmp_path, spec_path):
    out = tmp_path / "out"
    shutil.copytree(piloted[0], out)
    base = plan_compare(spec_path, out, log=None)
    assert len(_runs(out)) == 4  # cache only: the pilot's runs
    target = base["figures"]["target"]
    big = plan_compare(spec_path, out, min_effect=2 * target["mdd"], log=None)["figures"]["target"]
    assert big["seeds_for_effect"] is not None and 2 <= big["seeds_for_effect"] <= 3
    small_effect = target["mdd"] / 3
    small = plan_compare(spec_path, out, min_effect=small_effect, log=None)["figures"]["target"]
    assert small["seeds_for_effect"] is not None and small["seeds_for_effect"] > 3
    need = small["seeds_for_effect"]
    assert (
        mdd_for_seeds(target["sigma"], need, 0.05 / 3)
        <= small_effect
        < mdd_for_seeds(target["sigma"], need - 1, 0.05 / 3)
    )
    # runs still to train for that many seeds: all but the 2 cached per candidate
    assert small["runs_for_effect"] == 2 * (need - 2)
    assert len(_runs(out)) == 4  # planning more seeds trains none of them
    effects = [target["mdd"] * f for f in (0.1, 0.3, 0.6, 1.0, 3.0)]
    needs = [seeds_for_effect(target["sigma"], e, 0.05 / 3) or 65 for e in effects]
    assert needs == sorted(needs, reverse=True)
    assert seeds_for_effect(target["sigma"], target["mdd"] / 1000, 0.05 / 3) is None  # beyond 64 seeds


def test_min_effect_needs_plan_and_a_positive_value(spec_path, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", str(spec_path), "-o", str(out), "--min-effect", "0.1"]) == 2
    with pytest.raises(SystemExit):
        main(["compare", str(spec_path), "-o", str(out), "--plan", "--min-effect", "-1"])
    assert not (out / "runs").exists()
