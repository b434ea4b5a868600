"""Less noise per run: the trainer's EMA of the weights (`ema_halflife`), its figures in the summary and which figure
a compare run contributes (`curate.compare.stats.summary_figures`). CPU only, a few seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import make_tokens

from curate.compare.stats import run_evals, summary_figures, target_bpb
from curate_train.config import ConfigError, load_config
from curate_train.loop import run

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shakespeare, bpe) -> dict:
    root = tmp_path_factory.mktemp("noise-tokens")
    cut = int(len(shakespeare) * 0.9)
    return {
        "train": make_tokens(root / "train", shakespeare[:cut], bpe),
        "eval": make_tokens(root / "eval", shakespeare[cut:], bpe, domain=lambda i: "verse" if i % 2 else "prose"),
    }


def tiny(corpus, out: Path, **kw) -> dict:
    cfg = {
        "train": [str(corpus["train"])],
        "eval": {"heldout": str(corpus["eval"])},
        "out_dir": str(out),
        "model": {"d_model": 32, "n_layers": 1, "n_heads": 2},
        "seq_len": 32,
        "micro_batch": 8,
        "max_steps": 12,
        "lr": 3e-3,
        "warmup_steps": 2,
        "eval_tokens": 3000,
        "device": "cpu",
        "threads": 2,
        "seed": 3,
    }
    cfg.update(kw)
    return cfg


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.1", True])
def test_ema_halflife_is_validated(bad, tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config({"train": str(tmp_path), "out_dir": str(tmp_path / "o"), "max_steps": 1, "ema_halflife": bad})
    assert err.value.key == "ema_halflife"
    assert "ema_halflife" in str(err.value)


def test_ema_halflife_range_is_in_the_message(tmp_path):
    with pytest.raises(ConfigError, match=r"between 0 \(no EMA\) and 1"):
        load_config({"train": str(tmp_path), "out_dir": str(tmp_path / "o"), "max_steps": 1, "ema_halflife": 2})
    for ok in (0, 0.1, 1):
        cfg = load_config({"train": str(tmp_path), "out_dir": str(tmp_path / "o"), "max_steps": 1, "ema_halflife": ok})
        assert cfg["ema_halflife"] == ok


@pytest.mark.slow
def test_no_ema_by_key_zero(corpus, tmp_path):
    summary = run(tiny(corpus, tmp_path / "r", ema_halflife=0), quiet=True)
    assert summary["eval_ema"] is None and summary["ema"] is None
    assert run_evals(summary) == (summary["eval"], "final")


def test_ema_with_decay_zero_equals_the_raw_weights(corpus, tmp_path):
    """A half-life far below one step: decay 0.5^(1/(h·T)) == 0.0, the shadow is the weights after every step."""
    summary = run(tiny(corpus, tmp_path / "r", ema_halflife=1e-6), quiet=True)
    assert summary["ema"]["decay"] == 0.0
    assert summary["eval_ema"] == summary["eval"]
    record = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()][-1]
    assert record["type"] == "eval" and record["eval_ema"] == record["eval"]


def test_ema_is_the_exponential_average_of_the_step_weights(corpus, tmp_path):
    """The checkpoint's shadow equals ema_t = d·ema_{t−1} + (1−d)·w_t computed here from the weights after every step
    (ema_0 = the initial weights); a long half-life keeps much of the untrained weights, so it scores worse."""
    model = {}
    trail: list[dict[str, torch.Tensor]] = []

    def keep(m):
        model["m"] = m
        trail.append({k: v.detach().clone() for k, v in m.named_parameters()})

    def after_step(step: int) -> bool:
        trail.append({k: v.detach().clone() for k, v in model["m"].named_parameters()})
        return False

    cfg = tiny(corpus, tmp_path / "r", ema_halflife=0.25)
    summary = run(cfg, stop_hook=after_step, model_hook=keep, quiet=True)
    steps = summary["total_steps"]
    decay = 0.5 ** (1 / (0.25 * steps))
    assert summary["ema"] == {"halflife": 0.25, "decay": pytest.approx(decay)}
    expected = dict(trail[0])
    for weights in trail[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] for k in expected}
    shadow = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["ema"]
    for k, v in expected.items():
        torch.testing.assert_close(shadow[k], v, rtol=1e-5, atol=1e-6)
    raw, ema = summary["eval"]["heldout"]["bpb"], summary["eval_ema"]["heldout"]["bpb"]
    assert raw != ema and math.isfinite(ema)

    # half-life = the whole run: the initial weights keep half the average, far worse than the trained weights
    long = run(tiny(corpus, tmp_path / "long", ema_halflife=1.0), quiet=True)
    assert long["eval_ema"]["heldout"]["bpb"] > long["eval"]["heldout"]["bpb"] + 0.1


def test_ema_survives_a_stop_and_resume(corpus, tmp_path):
    """Stopped at step 5 and resumed: the shadow comes back from the checkpoint, so the figures are the same."""
    whole = run(tiny(corpus, tmp_path / "a", ema_halflife=0.2), quiet=True)
    first = run(tiny(corpus, tmp_path / "b", ema_halflife=0.2, stop_at_step=5), quiet=True)
    assert not first["finished"] and first["eval_ema"] is None
    second = run(tiny(corpus, tmp_path / "b", ema_halflife=0.2), quiet=True)
    assert second["finished"]
    assert second["eval_ema"]["heldout"]["bpb"] == pytest.approx(whole["eval_ema"]["heldout"]["bpb"], abs=1e-9)
    assert second["eval"]["heldout"]["bpb"] == pytest.approx(whole["eval"]["heldout"]["bpb"], abs=1e-9)


def fig(bpb: float, nbytes: int = 100) -> dict:
    return {"bpb": bpb, "bytes": nbytes, "loss": bpb, "tokens": 10, "domains": {}}


def test_compare_figure_is_the_ema_when_the_run_has_one():
    raw = {"a": fig(2.0), "b": fig(3.0)}
    ema = {"a": fig(1.9), "b": fig(2.7)}
    summary = {"eval": raw, "eval_ema": ema, "ema": {"halflife": 0.1, "decay": 0.9}}
    out = summary_figures(summary, {"a": 1.0, "b": 1.0})
    assert out["figure"] == "ema (half-life 0.1 of the steps)"
    assert out["bpb"] == pytest.approx(target_bpb(ema)) == pytest.approx(2.3)
    assert out["eval_sets"] == {"a": 1.9, "b": 2.7}
    assert out["final_raw"] == {"bpb": pytest.approx(2.5), "eval_sets": {"a": 2.0, "b": 3.0}}
    # an older trainer's summary (no eval_ema) or a run without EMA: the raw final eval, named as such
    for old in ({"eval": raw}, {"eval": raw, "eval_ema": None, "ema": None}):
        out = summary_figures(old)
        assert out["figure"] == "final" and out["bpb"] == pytest.approx(2.5)
