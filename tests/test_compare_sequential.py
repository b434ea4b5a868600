"""Seeds on demand (`seeds: {min, max}`): the spending levels add up to alpha, a large effect stops at the first
look, a null runs to max with a finite MDD, identical candidates never ask for seeds, added runs come from the cache,
and bad `seeds` mappings name the key. CPU, tiny model."""

from __future__ import annotations

import math

import pytest
from conftest import write_compare_spec

from curate.compare import load_spec, run_compare
from curate.compare.sequential import look_levels, spent
from curate.config import ConfigError


def test_the_looks_spend_exactly_alpha_pocock_style():
    looks = look_levels(3, 10, 0.05)
    assert [look["seeds"] for look in looks] == list(range(3, 11))
    assert math.isclose(sum(look["level"] for look in looks), 0.05, rel_tol=1e-12)
    assert all(look["level"] > 0 for look in looks)
    # Pocock-type: a large share early (what lets a big effect stop at the first look), less at each later look
    assert looks[0]["level"] > 0.4 * 0.05
    assert all(a["level"] > b["level"] for a, b in zip(looks[1:], looks[2:]))
    assert spent(0.0, 0.05) == 0.0 and math.isclose(spent(1.0, 0.05), 0.05)


@pytest.mark.parametrize(
    ("seeds", "key"),
    [
        ({"min": 1, "max": 4}, "seeds.min"),
        ({"min": 3, "max": 3}, "seeds.max"),
        ({"min": 3}, "seeds.max"),
        ({"min": 3, "max": 100}, "seeds.max"),
        ({"min": 3, "max": 5, "step": 2}, "seeds.step"),
    ],
)
def test_bad_sequential_seeds_name_the_key(compare_corpus, tmp_path, seeds, key):
    spec = write_compare_spec(
        tmp_path / "bad.yaml",
        [
            {"name": "a", "tokens": str(compare_corpus["half_a"])},
            {"name": "b", "tokens": str(compare_corpus["half_b"])},
        ],
        compare_corpus,
        seeds=seeds,
    )
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_spec(spec)


@pytest.mark.slow
def test_a_large_effect_stops_at_the_first_look(compare_corpus, tmp_path):
    spec = write_compare_spec(
        tmp_path / "large.yaml",
        [
            {"name": "corrupted", "tokens": str(compare_corpus["corrupted"])},
            {"name": "clean", "tokens": str(compare_corpus["clean"])},
            {"name": "clean_again", "tokens": str(compare_corpus["clean"])},  # identical data: never open
        ],
        compare_corpus,
        seeds={"min": 2, "max": 6},
    )
    result = run_compare(spec, tmp_path / "out", log=None)
    seq = result["sequential"]
    print("\n", result["summary"], seq["looks"][0]["level"])
    assert seq["stopped"] == "every target pair decided"
    assert len(seq["looks"]) == 1 and seq["runs"] == {"corrupted": 2, "clean": 2, "clean_again": 2}
    decided = [p for p in result["pairwise"] if p["significant"]]
    assert {frozenset((p["a"], p["b"])) for p in decided} == {
        frozenset(("clean", "corrupted")),
        frozenset(("clean_again", "corrupted")),
    }
    assert all(p["look"] == 1 and "decided at look 1" in p["verdict"] for p in decided)
    assert result["family"]["level"] == pytest.approx(seq["looks"][0]["level"])
    assert "decided at look 1" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.slow
def test_a_null_runs_to_max_and_reuses_its_runs(compare_corpus, tmp_path):
    spec = write_compare_spec(
        tmp_path / "null.yaml",
        [
            {"name": "half_a", "tokens": str(compare_corpus["half_a"])},
            {"name": "half_b", "tokens": str(compare_corpus["half_b"])},
        ],
        compare_corpus,
        seeds={"min": 2, "max": 4},
    )
    out = tmp_path / "out"
    result = run_compare(spec, out, log=None)
    seq = result["sequential"]
    assert seq["stopped"] == "seeds.max reached"
    assert [look["seeds"] for look in seq["looks"]] == [2, 3, 4]
    assert seq["runs"] == {"half_a": 4, "half_b": 4} and result["seeds"] == [0, 1, 2, 3]
    (pair,) = result["pairwise"]
    assert not pair["significant"] and pair["n"] == 4
    assert pair["mdd"] is not None and math.isfinite(pair["mdd"]) and pair["mdd"] > 0
    assert "no difference larger than" in pair["verdict"]
    assert len(list((out / "runs").iterdir())) == 8

    again = run_compare(spec, out, log=None)  # every look's runs come from the cache
    assert all(r["reused"] for c in again["candidates"].values() for r in c["runs"])
    assert again["pairwise"][0]["p_value"] == pair["p_value"]
