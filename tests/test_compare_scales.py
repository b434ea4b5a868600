"""`scales:` in a compare file: the same candidates at two proxy sizes, each ranked, Kendall τ between them and the
verdicts that flip; bad scales name the key. CPU, tiny models."""

from __future__ import annotations

import pytest
from conftest import write_compare_spec

from curate.compare import load_spec, run_compare
from curate.config import ConfigError


def candidates(corpus) -> list[dict]:
    return [
        {"name": "corrupted", "tokens": str(corpus["corrupted"])},
        {"name": "clean", "tokens": str(corpus["clean"])},
        {"name": "half", "tokens": str(corpus["half_a"])},
    ]


@pytest.mark.parametrize(
    ("scales", "key"),
    [
        ([{"name": "one"}], "scales"),
        ([{"name": "a"}, {"name": "a"}], r"scales\[1\]\.name"),
        ([{"name": "a"}, {"name": "b", "size": 3}], r"scales\[1\]\.size"),
        ([{"name": "a"}, {"name": "b", "model": {"d_model": -4}}], r"model.*scale b"),
    ],
)
@pytest.mark.slow
def test_bad_scales_name_the_key(compare_corpus, tmp_path, scales, key):
    spec = write_compare_spec(tmp_path / "bad.yaml", candidates(compare_corpus), compare_corpus, scales=scales)
    with pytest.raises(ConfigError, match=key):
        load_spec(spec)


@pytest.mark.slow
def test_two_scales_rank_and_agree_on_the_large_effect(compare_corpus, tmp_path):
    spec = write_compare_spec(
        tmp_path / "scales.yaml",
        candidates(compare_corpus),
        compare_corpus,
        seeds=2,
        scales=[{"name": "d32", "model": {"d_model": 32}}, {"name": "d64"}],
    )
    result = run_compare(spec, tmp_path / "out", log=None)
    sc = result["scales"]
    assert sc["names"] == ["d32", "d64"] and sc["leading"] == "d64"
    for name in sc["names"]:
        ranking = sc["per_scale"][name]["ranking"]
        assert ranking[-1]["candidate"] == "corrupted"  # half of every character replaced: last at both sizes
    (pair,) = sc["agreement"]
    assert pair["scales"] == ["d32", "d64"]
    assert pair["kendall_tau"] is not None and pair["kendall_tau"] >= 1 / 3 - 1e-9
    assert not any(set(r["pair"]) == {"clean", "corrupted"} for r in pair["reversed"])
    # two scales never share a run: 2 sizes × 3 candidates × 2 seeds
    assert len(list((tmp_path / "out" / "runs").iterdir())) == 12
    assert result["ranking"] == sc["per_scale"]["d64"]["ranking"]
    assert "Scales: does the ranking hold?" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.slow
def test_compares_naming_one_cache_share_their_runs(compare_corpus, tmp_path):
    cache = tmp_path / "cache"
    first = write_compare_spec(
        tmp_path / "a.yaml",
        [
            {"name": "half", "tokens": str(compare_corpus["half_a"])},
            {"name": "b", "tokens": str(compare_corpus["half_b"])},
        ],
        compare_corpus,
        seeds=2,
        cache=str(cache),
    )
    run_compare(first, tmp_path / "a", log=None)
    second = write_compare_spec(
        tmp_path / "b.yaml",
        [
            {"name": "clean", "tokens": str(compare_corpus["clean"])},
            {"name": "half", "tokens": str(compare_corpus["half_a"])},
        ],
        compare_corpus,
        seeds=2,
        cache="cache",  # relative to the compare file's folder: the same folder
    )
    result = run_compare(second, tmp_path / "b", log=None)
    assert [r["reused"] for r in result["candidates"]["half"]["runs"]] == [True, True]
    assert [r["reused"] for r in result["candidates"]["clean"]["runs"]] == [False, False]
    assert len(list(cache.iterdir())) == 6 and not (tmp_path / "b" / "runs").exists()
