"""`curate compare`: clean vs corrupted text ranks significantly, two halves of one corpus do not, finished runs
are reused, spec errors name the key, identical candidates are named and show no difference with a finite MDD, and
the declared eval-set weights (not bytes) decide the ranking. CPU, tiny model, fixed steps."""

from __future__ import annotations

import json
import math
import shutil
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_TRAIN as TRAIN
from conftest import write_compare_spec as write_spec

from curate.compare import config_hash, load_spec, mdd, paired_test, run_compare, welch_test
from curate.compare.spec import trainer_config
from curate.config import ConfigError

pytestmark = pytest.mark.slow  # runs pipelines or trains models: not in `make test-fast`

torch.set_num_threads(2)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def corpus(compare_corpus) -> dict:
    return compare_corpus


def _section(html: str, key: str) -> str:
    """The HTML of report.html's <section id="key">."""
    start = html.index(f'<section id="{key}">')
    return html[start : html.index("</section>", start)]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def clean_vs_corrupted_cache(tmp_path_factory) -> Path:
    """One runs folder for the clean-vs-corrupted compare in this session: test_compare_browser.py opens the report
    of the same compare and reuses these runs instead of training them again."""
    return tmp_path_factory.getbasetemp() / "clean-vs-corrupted-runs"


def test_clean_beats_corrupted_significantly(corpus, tmp_path, tmp_path_factory):
    cache = clean_vs_corrupted_cache(tmp_path_factory)
    spec = write_spec(
        tmp_path / "clean-vs-corrupted.yaml",
        [{"name": "corrupted", "tokens": str(corpus["corrupted"])}, {"name": "clean", "tokens": str(corpus["clean"])}],
        corpus,
        cache=str(cache),
    )
    out = tmp_path / "out"
    result = run_compare(spec, out, log=None)
    print("\n", result["summary"])
    for r in result["ranking"]:
        print(f"  {r['rank']}. {r['candidate']}: {r['bpb_mean']:.4f} ± {r['bpb_std']:.4f} bpb")
    assert [r["candidate"] for r in result["ranking"]] == ["clean", "corrupted"]
    assert [r["rank"] for r in result["ranking"]] == [1, 2]
    (pair,) = result["pairwise"]
    assert pair["a"] == "clean" and pair["b"] == "corrupted"
    assert pair["diff_mean"] > 0 and pair["p_value"] < 0.05 and pair["significant"]
    assert pair["diff_ci95"][0] > 0
    assert result["verdicts"][0].startswith("clean is better than corrupted")
    clean = result["candidates"]["clean"]
    assert clean["overall"]["n"] == 3 and len(clean["runs"]) == 3
    assert set(clean["domains"]) == {"prose", "verse"}
    lo, hi = clean["overall"]["ci95"]
    assert lo <= clean["overall"]["mean"] <= hi
    assert all(len(r["curve"]) == 4 for r in clean["runs"])  # eval at steps 10, 20, 30 and the end

    loaded = json.loads((out / "comparison.json").read_text())
    assert loaded["ranking"] == result["ranking"]
    for png in ("loss_curves.png", "domain_bpb.png"):
        assert (out / png).read_bytes()[:8] == PNG
    html = (out / "report.html").read_text()
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.tags.count("img") == 2 and "table" in parser.tags
    verdicts = _section(html, "verdicts")
    assert html.index("<h2>") == html.index('<section id="verdicts">') + len('<section id="verdicts">')  # first
    assert "clean is better than corrupted" in verdicts and "1 of 1 tests significant" in verdicts
    seen = result["candidates"]["clean"]["sample"]
    assert f"{seen['tokens_seen']:,.0f}" in _section(html, "trained-on") and f"{seen['epochs']:,.2f}" in html
    assert "4 eval points a run" in _section(html, "curves")  # eval_every 10 of 40 steps, and the final eval
    assert len(list(cache.iterdir())) == 6

    # the paired test on the same runs (reused: the test is not part of a run's hash) agrees
    write_spec(
        spec,
        [{"name": "corrupted", "tokens": str(corpus["corrupted"])}, {"name": "clean", "tokens": str(corpus["clean"])}],
        corpus,
        test="paired",
        cache=str(cache),
    )
    paired = run_compare(spec, out, log=None)
    assert all(r["reused"] for c in paired["candidates"].values() for r in c["runs"])
    assert paired["test"] == "paired" and paired["pairwise"][0]["significant"]
    print(" paired:", paired["summary"])


def test_two_halves_of_one_corpus_are_not_significantly_different(corpus, tmp_path):
    spec = write_spec(
        tmp_path / "halves.yaml",
        [{"name": "half_a", "tokens": str(corpus["half_a"])}, {"name": "half_b", "tokens": str(corpus["half_b"])}],
        corpus,
    )
    result = run_compare(spec, tmp_path / "out", log=None)
    (pair,) = result["pairwise"]
    print("\n", result["summary"], [round(v, 4) for c in result["candidates"].values() for v in c["overall"]["values"]])
    assert pair["p_value"] >= 0.05 and not pair["significant"]
    assert result["verdicts"][0].startswith("no significant difference between")
    assert result["summary"].startswith("no significant difference between")
    assert [r["rank"] for r in result["ranking"]] == [1, 1]
    assert "no significant difference" in (tmp_path / "out" / "report.html").read_text()


def test_zero_variance_differences_do_not_crash():
    same = paired_test([1.0, 1.1, 1.2], [1.0, 1.1, 1.2])
    assert same["p_value"] == 1.0 and same["diff_std"] == 0.0
    shifted = paired_test([1.0, 1.5, 1.2], [1.25, 1.75, 1.45])
    assert shifted["p_value"] == 0.0 and shifted["diff_mean"] == pytest.approx(0.25)
    single = paired_test([1.0], [2.0])
    assert single["p_value"] is None and single["diff_ci95"] is None
    assert welch_test([2.0, 2.0, 2.0], [2.0, 2.0, 2.0])["p_value"] == 1.0
    assert welch_test([2.0, 2.0, 2.0], [2.5, 2.5, 2.5])["p_value"] == 0.0
    assert welch_test([2.0], [2.5, 2.6])["p_value"] is None
    w = welch_test([1.0, 1.1, 1.2], [1.05, 1.2, 1.1])
    assert 0.05 < w["p_value"] < 1 and w["diff_ci95"][0] < w["diff_mean"] < w["diff_ci95"][1]
    from scipy import stats

    assert w["p_value"] == pytest.approx(stats.ttest_ind([1.05, 1.2, 1.1], [1.0, 1.1, 1.2], equal_var=False).pvalue)


def test_finished_runs_are_reused_and_a_new_candidate_trains_alone(corpus, tmp_path, monkeypatch):
    import curate_train

    calls = []
    real_run = curate_train.run

    def counting_run(cfg, *args, **kwargs):
        calls.append(cfg["out_dir"])
        return real_run(cfg, *args, **kwargs)

    monkeypatch.setattr(curate_train, "run", counting_run)
    fast = dict(TRAIN, max_steps=8, eval_every=4)
    two = [{"name": "half_a", "tokens": str(corpus["half_a"])}, {"name": "half_b", "tokens": str(corpus["half_b"])}]
    spec = write_spec(tmp_path / "reuse.yaml", two, corpus, train=fast, seeds=2)
    out = tmp_path / "out"
    first = run_compare(spec, out, log=None)
    assert len(calls) == 4
    again = run_compare(spec, out, log=None)
    assert len(calls) == 4
    assert all(r["reused"] for c in again["candidates"].values() for r in c["runs"])
    assert again["candidates"]["half_a"]["overall"] == first["candidates"]["half_a"]["overall"]

    # a third candidate, built by `curate mix` from the clean corpus: only its two seeds train
    mix = tmp_path / "mix.yaml"
    mix.write_text(
        yaml.safe_dump(
            {
                "name": "clean-mix",
                "seed": 0,
                "token_budget": 60000,
                "val_fraction": 0.0,
                "sources": [{"name": "clean", "tokens": str(corpus["clean"]), "weight": 1.0}],
            }
        )
    )
    write_spec(spec, two + [{"name": "mixed", "mix": "mix.yaml"}], corpus, train=fast, seeds=2)
    third = run_compare(spec, out, log=None)
    assert len(calls) == 6
    assert all(str(out / "runs") in c for c in calls[4:])
    assert (out / "candidates" / "mixed" / "mix" / "train" / ".manifest.json").is_file()
    assert [r["reused"] for r in third["candidates"]["mixed"]["runs"]] == [False, False]
    assert len(third["pairwise"]) == 3
    assert len(list((out / "runs").iterdir())) == 6
    run_compare(spec, out, log=None)
    assert len(calls) == 6


def test_spec_errors_name_the_key(corpus, tmp_path):
    cands = [{"name": "a", "tokens": str(corpus["half_a"])}, {"name": "b", "tokens": str(corpus["half_b"])}]
    bad = write_spec(tmp_path / "bad.yaml", cands, corpus, sedes=[0, 1])
    with pytest.raises(ConfigError, match=r"bad\.yaml: sedes: unknown key"):
        load_spec(bad)
    typo = write_spec(tmp_path / "typo.yaml", cands, corpus, train=dict(TRAIN, lrr=0.1))
    with pytest.raises(ConfigError, match=r"typo\.yaml: train: unknown key 'lrr'"):
        load_spec(typo)
    reserved = write_spec(tmp_path / "seed.yaml", cands, corpus, train=dict(TRAIN, seed=3))
    with pytest.raises(ConfigError, match=r"train\.seed: set by compare"):
        load_spec(reserved)
    missing = write_spec(tmp_path / "missing.yaml", cands[:1] + [{"name": "b", "tokens": "nowhere"}], corpus)
    with pytest.raises(ConfigError, match=r"candidates\[1\] \(b\)\.tokens: .* not a token directory"):
        load_spec(missing)
    one = write_spec(tmp_path / "one.yaml", cands[:1], corpus)
    with pytest.raises(ConfigError, match="candidates: expected a list of two or more"):
        load_spec(one)


def test_overall_bpb_is_the_byte_weighted_mean_of_the_eval_sets():
    from curate.compare import final_bpb

    overall, domains = final_bpb(
        {
            "a": {"bpb": 2.0, "bytes": 100, "domains": {"web": {"bpb": 2.0}}},
            "b": {"bpb": 4.0, "bytes": 300, "domains": {"code": {"bpb": 4.0}}},
        }
    )
    assert abs(overall - 3.5) < 1e-12
    assert domains == {"a/web": 2.0, "b/code": 4.0}


def test_a_pipeline_candidate_is_built_then_reused(corpus, bpe, data, tmp_path):
    from curate.compare import run_compare

    pipeline = tmp_path / "web.yaml"
    pipeline.write_text(f"reader: warc\nstages:\n  - extract\n  - tokenize: {{tokenizer: '{bpe}'}}\n")
    warcs = [str(data / "warc" / n) for n in ("wget-sample-0000.warc.gz", "wget-sample-0001.warc.gz")]
    spec = write_spec(
        tmp_path / "pipe.yaml",
        [{"name": "clean", "tokens": str(corpus["clean"])}, {"name": "web", "pipeline": str(pipeline), "input": warcs}],
        corpus,
        seeds=[0, 1],
    )
    messages: list[str] = []
    result = run_compare(spec, tmp_path / "out", log=messages.append)
    run_dir = tmp_path / "out" / "candidates" / "web" / "run"
    stats = json.loads((run_dir / "stats.json").read_text())
    assert stats["conserved"] and stats["tokens"]["documents"] == stats["kept"] > 0
    assert set(result["candidates"]) == {"clean", "web"}
    assert any("running pipeline candidate web" in m for m in messages)
    messages.clear()
    run_compare(spec, tmp_path / "out", log=messages.append)
    assert not any("running pipeline" in m or "training" in m for m in messages), messages


def test_identical_candidates_are_named_and_show_no_difference_with_a_finite_mdd(corpus, tmp_path):
    # a and b name the same token dir (the same runs); c is a copy of it (equal manifest, trained separately)
    copy, fast = shutil.copytree(corpus["half_a"], tmp_path / "half_a_copy"), dict(TRAIN, max_steps=8, eval_every=4)
    cands = [{"name": n, "tokens": str(d)} for n, d in (("a", corpus["half_a"]), ("b", corpus["half_a"]), ("c", copy))]
    evals = {"heldout": str(corpus["eval"]), "small": {"tokens": str(corpus["eval_small"]), "weight": 2}}
    spec = write_spec(tmp_path / "same.yaml", cands, corpus, train=fast, seeds=[0, 1], eval=evals)
    out = tmp_path / "out"
    result = run_compare(spec, out, log=None)
    assert len(list((out / "runs").iterdir())) == 4  # a and b share their two runs
    same = [(*g["candidates"], g["same_runs"]) for g in result["identical"]]
    assert same == [("a", "b", True), ("a", "c", False), ("b", "c", False)]  # a and b: the same runs
    assert result["candidates"]["a"]["identical_to"] == ["b", "c"] and result["family"]["tests"] == 9  # 3 × 3 pairs
    for figure, block in {"target": result, **result["eval_sets"]}.items():
        summary = block["summary"]
        assert summary.startswith("no significant difference between") and "(MDD at 80% power)" in summary, figure
        assert [r["rank"] for r in block["ranking"]] == [1, 1, 1], figure
        for pair in block["pairwise"]:
            assert pair["identical"] and not pair["significant"]
            assert isinstance(pair["mdd"], float) and math.isfinite(pair["mdd"]) and pair["mdd"] >= 0
            assert "no difference larger than" in pair["verdict"] and "train on identical data" in pair["verdict"]
        ab = next(p for p in block["pairwise"] if {p["a"], p["b"]} == {"a", "b"})
        assert ab["diff_mean"] == 0.0 and ab["p_value"] == 1.0 and ab["mdd"] > 0  # Welch: SE from the seed spread
    assert "a and b train on identical data" in (out / "report.html").read_text()
    assert json.loads((out / "comparison.json").read_text())["format"] == "curate-compare/2"

    # paired by seed, the same runs differ by exactly 0 on every seed: SE 0, so the MDD is 0.0 (not null)
    write_spec(spec, cands, corpus, train=fast, seeds=[0, 1], eval=evals, test="paired")
    paired = run_compare(spec, out, log=None)
    assert all(r["reused"] for c in paired["candidates"].values() for r in c["runs"])
    for block in (paired, *paired["eval_sets"].values()):
        ab = next(p for p in block["pairwise"] if {p["a"], p["b"]} == {"a", "b"})
        assert ab["mdd"] == 0.0 and ab["se"] == 0.0 and not ab["significant"]


BIG, SMALL = 90_000, 10_000  # eval bytes: byte-pooling lets `big` decide
SIZES = {"big": BIG, "small": SMALL}


def fake_runs(spec_path: Path, out: Path, figures: dict[str, dict[str, list[float]]]) -> None:
    """Finished summary.json files where run_compare looks for each (candidate, seed) run: the statistics and the
    report on chosen final figures, without training. figures: candidate → eval set → bpb per seed."""
    spec = load_spec(spec_path)
    for cand in spec.candidates:
        for k, seed in enumerate(spec.seeds):
            run_dir = out / "runs" / config_hash(trainer_config(spec, str(cand.path), seed, "pending"))
            run_dir.mkdir(parents=True)
            evals = {e: {"bpb": v[k], "bytes": SIZES[e], "domains": {}} for e, v in figures[cand.name].items()}
            sample = {"tokens_seen": 1000 * (k + 1), "distinct_documents": 50, "epochs": 0.5}
            coverage = {e: {"documents_used": 10, "documents_total": 20, "share": 0.5} for e in SIZES}
            summary = {"finished": True, "eval": evals, "sample": sample, "eval_sets": coverage}
            (run_dir / "summary.json").write_text(json.dumps(summary))


def test_declared_weights_not_bytes_decide_the_ranking(corpus, tmp_path):
    # broad helps on the big eval set and hurts on the small one: pooled by bytes it wins, with equal weights it loses
    figures = {
        "broad": {"big": [2.00, 2.01, 1.99], "small": [3.00, 3.02, 2.99]},
        "focused": {"big": [2.20, 2.19, 2.21], "small": [2.50, 2.51, 2.48]},
    }
    cands = [{"name": "broad", "tokens": str(corpus["half_a"])}, {"name": "focused", "tokens": str(corpus["half_b"])}]
    evals = {"big": str(corpus["eval"]), "small": str(corpus["eval_small"])}
    spec = write_spec(tmp_path / "weights.yaml", cands, corpus, eval=evals)
    out = tmp_path / "out"
    fake_runs(spec, out, figures)
    result = run_compare(spec, out, log=None)
    for name, figs in figures.items():
        cand = result["candidates"][name]
        equal = [(b + s) / 2 for b, s in zip(figs["big"], figs["small"])]
        pooled = [(b * BIG + s * SMALL) / (BIG + SMALL) for b, s in zip(figs["big"], figs["small"])]
        assert cand["target"]["values"] == pytest.approx(equal) and cand["overall"] == cand["target"]
        assert cand["pooled"]["values"] == pytest.approx(pooled)
        assert cand["eval_sets"]["big"]["values"] == figs["big"] and cand["sample"]["tokens_seen"] == 2000
    broad, focused = result["candidates"]["broad"], result["candidates"]["focused"]
    # pooled by bytes, broad would win; with equal weights, focused does
    assert broad["pooled"]["mean"] < focused["pooled"]["mean"] and broad["target"]["mean"] > focused["target"]["mean"]
    assert [(r["candidate"], r["rank"]) for r in result["ranking"]] == [("focused", 1), ("broad", 2)]
    assert result["verdicts"][0].startswith("focused is better than broad on the target")
    assert result["eval_sets"]["big"]["verdicts"][0].startswith("broad is better than focused on big")
    assert result["eval_sets"]["small"]["verdicts"][0].startswith("focused is better than broad on small")
    assert result["reference"] == "broad" and result["family"]["tests"] == 3 and focused["sample"]["epochs"] == 0.5
    assert focused["vs_reference"] == {"target": "better", "big": "worse", "small": "better"}
    html = (out / "report.html").read_text()
    table = _section(html, "standing")
    assert all(t in table for t in ("pooled by bytes", "▲", "▼", f"{focused['pooled']['mean']:.4f}"))
    verdicts = _section(html, "verdicts")
    assert "3 of 3 tests significant" in verdicts and verdicts.count('<tr class="sig">') == 3
    assert result["eval_sets"]["small"]["coverage"]["share"] == 0.5 and "50.0%" in html
    assert (out / "domain_bpb.png").read_bytes()[:8] == PNG

    # big weighs 9 to small's 1: the target is the pooled figure here and broad wins; the runs are reused
    evals = {"big": {"tokens": str(corpus["eval"]), "weight": 9}, "small": str(corpus["eval_small"])}
    write_spec(spec, cands, corpus, eval=evals, reference="focused")
    weighted = run_compare(spec, out, log=None)
    assert all(r["reused"] for c in weighted["candidates"].values() for r in c["runs"])
    assert weighted["target"]["weights"] == {"big": 9.0, "small": 1.0}
    for cand in weighted["candidates"].values():
        assert cand["target"]["mean"] == pytest.approx(cand["pooled"]["mean"])
    assert [r["candidate"] for r in weighted["ranking"]] == ["broad", "focused"]
    assert [c["vs_reference"]["target"] for c in weighted["candidates"].values()] == ["better", "reference"]


def test_the_verdicts_section_lists_every_significant_pair_of_every_figure(corpus, tmp_path):
    # nothing differs on the target, but c beats a (the reference) and b on the small eval set: the report's first
    # section once said only "no significant difference on the target" and dropped c vs b (it involves no reference)
    figures = {
        "a": {"big": [2.00, 2.30, 1.70], "small": [3.00, 3.02, 2.98]},
        "b": {"big": [2.05, 2.35, 1.75], "small": [3.01, 3.03, 2.99]},
        "c": {"big": [2.40, 2.10, 2.70], "small": [2.80, 2.81, 2.79]},
    }
    cands = [{"name": n, "tokens": str(corpus[d])} for n, d in (("a", "half_a"), ("b", "half_b"), ("c", "clean"))]
    evals = {"big": str(corpus["eval"]), "small": str(corpus["eval_small"])}
    spec = write_spec(tmp_path / "hidden.yaml", cands, corpus, eval=evals)
    out = tmp_path / "out"
    fake_runs(spec, out, figures)
    result = run_compare(spec, out, log=None)
    tested = [p for block in (result, *result["eval_sets"].values()) for p in block["pairwise"]]
    significant = [p for p in tested if p["significant"]]
    assert not any(p["significant"] for p in result["pairwise"])
    assert {(p["metric"], p["a"], p["b"]) for p in significant} == {("small", "c", "a"), ("small", "c", "b")}
    verdicts = _section((out / "report.html").read_text(), "verdicts")
    assert f"2 of {len(tested)} tests significant" in verdicts and "c better than b on small" in verdicts
    rows = verdicts.split("<tr")[2:]  # after the header row
    assert len(rows) == len(tested) == result["family"]["tests"]
    for p in significant:  # listed first, as a row and as a sentence
        row = next(r for r in rows[: len(significant)] if f"{p['a']} vs {p['b']}" in r)
        assert "eval set small" in row and f"{p['p_holm']:.4f}" in row and f"{p['mdd']:.4f}" in row
        assert html_escape(p["verdict"]) in verdicts


def test_eval_weights_and_reference_errors_name_the_key(corpus, tmp_path):
    cands = [{"name": "a", "tokens": str(corpus["half_a"])}, {"name": "b", "tokens": str(corpus["half_b"])}]
    ev = str(corpus["eval"])
    cases = [
        ({"eval": {"e": {"tokens": ev, "weight": 0}}}, r"w\.yaml: eval\.e\.weight: expected a positive"),
        ({"eval": {"e": {"tokens": ev, "weight": "x"}}}, r"eval\.e\.weight: expected a positive"),
        ({"eval": {"e": {"tokens": ev, "wieght": 2}}}, r"eval\.e\.wieght: unknown key"),
        ({"eval": {"e": {"weight": 2}}}, r"eval\.e\.tokens: missing"),
        ({"eval": {"e": {"tokens": "nowhere"}}}, r"eval\.e\.tokens: .* not a token directory"),
        ({"eval": {"target": ev}}, r"eval\.target: 'target' names a figure"),
        ({"reference": "z"}, r"w\.yaml: reference: expected one of the candidates \(a, b\), got 'z'"),
    ]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message):
            load_spec(write_spec(tmp_path / "w.yaml", cands, corpus, **extra))
    ok = load_spec(write_spec(tmp_path / "w.yaml", cands, corpus, eval={"e": {"tokens": ev}}))
    assert ok.weights == {"e": 1.0} and ok.reference == "a"


def test_mdd_is_the_t_power_formula():
    from scipy import stats

    w = welch_test([1.0, 1.1, 1.2], [1.05, 1.2, 1.1])
    expected = (stats.t.ppf(1 - 0.01 / 2, w["df"]) + stats.t.ppf(0.8, w["df"])) * w["se"]
    assert mdd(w["se"], w["df"], 0.01) == pytest.approx(expected)
    p = paired_test([1.0, 1.5, 1.2], [1.1, 1.55, 1.4])
    assert p["df"] == 2 and p["se"] == pytest.approx(p["diff_std"] / math.sqrt(3))
    assert mdd(0.0, None, 0.05) == 0.0 and mdd(None, None, 0.05) is None  # SE 0: any difference shows; one seed
