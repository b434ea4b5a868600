"""The trainer (curate_train/): learning, resume, DDP data split, bits per byte, determinism, config errors (CPU)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, corrupt, make_tokens

pytestmark = pytest.mark.slow  # runs pipelines or trains models: not in `make test-fast`

torch.set_num_threads(2)


SHARD_TOKENS = 40_000  # several shards per token dir, so the stream crosses shard boundaries


def verse_or_prose(i: int) -> str:
    return "verse" if i % 2 else "prose"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, shakespeare, bpe) -> dict:
    """Train (first 90% of paragraphs) and held-out (last 10%) token dirs, and a noisy train dir."""
    root = tmp_path_factory.mktemp("tokens")
    cut = int(len(shakespeare) * 0.9)
    train_texts, eval_texts = shakespeare[:cut], shakespeare[cut:]
    noisy = corrupt(train_texts)
    return {
        "train": make_tokens(root / "train", train_texts, bpe, max_tokens_per_shard=SHARD_TOKENS),
        "noisy": make_tokens(root / "noisy", noisy, bpe, max_tokens_per_shard=SHARD_TOKENS),
        "eval": make_tokens(
            root / "eval",
            eval_texts,
            bpe,
            domain=lambda i: "verse" if i % 2 else "prose",
            max_tokens_per_shard=SHARD_TOKENS,
        ),
    }


def tiny_config(corpus, out: Path, **kw) -> dict:
    cfg = {
        "train": [str(corpus["train"])],
        "eval": {"heldout": str(corpus["eval"])},
        "out_dir": str(out),
        "model": {"d_model": 64, "n_layers": 2, "n_heads": 4},
        "seq_len": 64,
        "micro_batch": 8,
        "batch_tokens": 1024,
        "max_steps": 20,
        "lr": 3e-3,
        "warmup_steps": 5,
        "eval_tokens": 8000,
        "log_every": 1,
        "seed": 1,
        "device": "cpu",
        "dtype": "fp32",
        "threads": 2,
    }
    cfg.update(kw)
    return cfg


def losses(out: Path) -> list[float]:
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r["type"] == "train"]


def unigram_entropy(tokens_dir: Path) -> float:
    import pyarrow.parquet as pq

    counts = Counter()
    for path in sorted(tokens_dir.glob("shard-*.parquet")):
        counts.update(pq.read_table(path, columns=["input_ids"]).column(0).combine_chunks().flatten().to_pylist())
    p = np.array(list(counts.values()), dtype=float)
    p /= p.sum()
    return float(-(p * np.log(p)).sum())


def test_learns_below_unigram_entropy_and_noise_hurts(corpus, tmp_path):
    import curate_train

    steps = dict(max_steps=120, eval_tokens=20000)
    clean = curate_train.run(tiny_config(corpus, tmp_path / "clean", **steps), quiet=True)
    noisy = curate_train.run(tiny_config(corpus, tmp_path / "noisy", train=[str(corpus["noisy"])], **steps), quiet=True)
    h = unigram_entropy(corpus["eval"])
    clean_loss, noisy_loss = clean["eval"]["heldout"]["loss"], noisy["eval"]["heldout"]["loss"]
    print(f"unigram entropy {h:.3f} nats, clean {clean_loss:.3f}, noisy {noisy_loss:.3f}")
    assert clean_loss < h - 0.5, (clean_loss, h)
    assert noisy_loss > clean_loss + 0.1, (noisy_loss, clean_loss)
    assert set(clean["eval"]["heldout"]["domains"]) == {"prose", "verse"}
    for name in ("metrics.jsonl", "summary.json", "checkpoint.pt"):
        assert (tmp_path / "clean" / name).is_file()
    assert not (tmp_path / "clean" / "loss.png").exists()  # curate draws it from metrics.jsonl (train_chart.py)


def test_kill_and_resume_is_bitwise(corpus, tmp_path):
    import curate_train

    kw = dict(max_steps=12, eval_every=4, checkpoint_every=100)
    full = curate_train.run(tiny_config(corpus, tmp_path / "full", **kw), quiet=True)
    half = curate_train.run(tiny_config(corpus, tmp_path / "resumed", stop_at_step=6, **kw), quiet=True)
    assert not half["finished"] and half["step"] == 6
    resumed = curate_train.run(tiny_config(corpus, tmp_path / "resumed", **kw), quiet=True)
    assert resumed["finished"] and resumed["step"] == 12
    assert losses(tmp_path / "full") == losses(tmp_path / "resumed")
    assert len(losses(tmp_path / "full")) == 12
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["data"] == b["data"]
    assert full["eval"] == resumed["eval"]


def test_ddp_two_processes_get_disjoint_data(corpus, tmp_path):
    cfg = tiny_config(
        corpus,
        tmp_path / "ddp",
        max_steps=4,
        micro_batch=4,
        batch_tokens=1024,
        debug_batches=True,
        eval_tokens=2000,
        threads=1,
    )
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    with socket.socket() as probe:  # a free port: a fixed one can still be held by an earlier run
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(port),
            "-m",
            "curate_train",
            str(path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = []
    for rank in (0, 1):
        lines = (tmp_path / "ddp" / f"batches-rank{rank}.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert [r["step"] for r in records] == [1, 2, 3, 4]
        seen.append({i for r in records for i in r["indices"]})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0]) == len(seen[1]) == 4 * 4 * 2  # 4 steps × micro 4 × 2 accumulation
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["world_size"] == 2


@pytest.mark.parametrize("which", ["bpe-512", "gpt-neox-bpe-50k"])
def test_bpb_of_uniform_model(which, data, bpe, shakespeare, tmp_path):
    from curate_train.data import EvalSet, check_tokenizers
    from curate_train.evaluate import evaluate
    from curate_train.model import GPT, ModelConfig

    tokenizer = bpe if which == "bpe-512" else data / "tokenizer" / "gpt-neox-bpe-50k.json"
    texts = shakespeare[:40] + ["naïve café — ünïcödé ✓ 日本語のテキスト"]
    tokens_dir = make_tokens(
        tmp_path / "eval", texts, tokenizer, domain=lambda i: ["a", "b"][i % 2], max_tokens_per_shard=SHARD_TOKENS
    )
    tok = check_tokenizers({"eval": str(tokens_dir)})
    evalset = EvalSet("e", str(tokens_dir), tok["sha256"], tok["eos_id"], seq_len=32, max_tokens=10**9)
    model = GPT(
        ModelConfig(vocab_size=tok["vocab_size"], seq_len=32, d_model=32, n_layers=1, n_heads=2, tie_embeddings=False)
    )
    torch.nn.init.zeros_(model.head.weight)  # all logits equal: uniform prediction
    result = evaluate(model, evalset, batch=8, device=torch.device("cpu"))
    manifest = json.loads((tokens_dir / ".manifest.json").read_text())["totals"]
    expected = math.log2(tok["vocab_size"]) * manifest["tokens"] / manifest["bytes"]
    assert result["tokens"] == manifest["tokens"] and result["bytes"] == manifest["bytes"]
    assert result["bpb"] == pytest.approx(expected, rel=1e-6)  # per-token NLL is float32, summed in float64
    assert result["loss"] == pytest.approx(math.log(tok["vocab_size"]), rel=1e-6)  # per-token NLL is float32
    for dom in ("a", "b"):
        d = result["domains"][dom]
        assert d["bpb"] == pytest.approx(math.log2(tok["vocab_size"]) * d["tokens"] / d["bytes"], rel=1e-6)


def test_same_seed_same_curve(corpus, tmp_path):
    import curate_train

    curate_train.run(tiny_config(corpus, tmp_path / "a", max_steps=8), quiet=True)
    curate_train.run(tiny_config(corpus, tmp_path / "b", max_steps=8), quiet=True)
    curate_train.run(tiny_config(corpus, tmp_path / "c", max_steps=8, seed=2), quiet=True)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert losses(tmp_path / "a") != losses(tmp_path / "c")


@pytest.mark.parametrize(
    "change, key",
    [
        ({"bogus": 1}, "bogus"),
        ({"model": {"preset": "tiny", "widht": 3}}, "model.widht"),
        ({"lr": "fast"}, "lr"),
        ({"seq_len": 0}, "seq_len"),
        ({"device": "tpu"}, "device"),
        ({"spike": {"factor": -1}}, "spike.factor"),
        ({"tokens": "lots"}, "tokens"),
        ({"tokens": 1000, "chinchilla_multiple": 1.0}, "chinchilla_multiple"),
        ({"out_dir": None}, "out_dir"),
    ],
)
def test_config_errors_name_the_key(change, key, tmp_path):
    from curate_train.config import ConfigError, load_config

    cfg = {"train": [str(tmp_path)], "out_dir": str(tmp_path / "out"), "max_steps": 1}
    cfg.update(change)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        load_config(cfg)


def test_cli_exit_code_and_tokenizer_mismatch(corpus, bpe, data, tmp_path):
    import curate_train

    other = make_tokens(
        tmp_path / "other",
        ["some text", "more text"],
        data / "tokenizer" / "gpt-neox-bpe-50k.json",
        max_tokens_per_shard=SHARD_TOKENS,
    )
    cfg = tiny_config(corpus, tmp_path / "out", eval={"other": str(other)})
    from curate_train.data import DataError

    with pytest.raises(DataError, match="tokenizer sha256"):
        curate_train.run(cfg, quiet=True)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": "x", "out_dir": "y", "lr_max": 1}))
    assert curate_train.main([str(path)]) == 2


def test_spike_guard_rolls_back_and_skips(corpus, tmp_path):
    import curate_train

    calls = {"n": 0}

    def boom(model):  # a huge loss on one step: multiply the head's output by a large factor once
        def hook(module, args, output):
            calls["n"] += 1
            return output * 50 if calls["n"] == 9 else output  # micro-batch 9 = step 5 (2 micro-batches a step)

        model.head.register_forward_hook(hook)

    summary = curate_train.run(
        tiny_config(
            corpus,
            tmp_path / "spike",
            max_steps=8,
            checkpoint_every=2,
            spike={"window": 3, "factor": 1.5, "rollback": True},
        ),
        model_hook=boom,
        quiet=True,
    )
    records = [json.loads(line) for line in (tmp_path / "spike" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "spike"] == [5]
    assert [r["step"] for r in records if r["type"] == "rollback"] == [4]
    assert summary["finished"] and summary["rollbacks"] == 1 and summary["step"] == 8
    assert math.isfinite(summary["final_train_loss"])


def test_stream_packs_every_token_once_per_epoch_and_resumes(corpus):
    import pyarrow.parquet as pq

    from curate_train.data import TrainStream, check_tokenizers

    tokens_dir = corpus["eval"]
    tok = check_tokenizers({"e": str(tokens_dir)})
    total = json.loads((tokens_dir / ".manifest.json").read_text())["totals"]["tokens"]
    stream = TrainStream([str(tokens_dir)], tok["sha256"], seq_len=16, seed=3)
    seqs = []
    while stream.epoch == 0:
        seqs.append(stream.next_batch(1)[0])
    for a, b in zip(seqs, seqs[1:]):
        assert a[-1] == b[0]  # consecutive sequences overlap by exactly one token
    first_epoch = np.concatenate([s[:-1] for s in seqs])[:total]
    expected = np.concatenate(
        [
            pq.read_table(p, columns=["input_ids"]).column(0).combine_chunks().flatten().to_numpy()
            for p in sorted(tokens_dir.glob("shard-*.parquet"))
        ]
    )
    assert Counter(first_epoch.tolist()) == Counter(expected.tolist())  # a permutation of documents, all tokens
    assert not np.array_equal(first_epoch, expected)  # shuffled
    state = stream.state_dict()
    ahead = stream.next_batch(3)
    again = TrainStream([str(tokens_dir)], tok["sha256"], seq_len=16, seed=3)
    again.load_state_dict(state)
    assert np.array_equal(again.next_batch(3), ahead)


def manifest(tokens_dir: Path, key: str = "shards"):
    return json.loads((tokens_dir / ".manifest.json").read_text())[key]


def test_budget_below_candidate_samples_every_shard_in_proportion(corpus):
    """A run on 10% of its candidate draws its documents from every row group in proportion to its size (χ²)."""
    import pyarrow.parquet as pq
    from scipy.stats import chisquare

    from curate_train.data import DataError, TrainStream, check_tokenizers

    tokens_dir, samples = corpus["train"], {}  # ~14 shards of ~40k tokens, one row group each
    args = ([str(tokens_dir)], check_tokenizers({"t": str(tokens_dir)})["sha256"], 64)
    rows = np.array([s["rows"] for s in manifest(tokens_dir)])
    docs = [d.values.to_numpy() for s in manifest(tokens_dir) for d in pq.read_table(tokens_dir / s["file"])[0]]
    for seed in (0, 1):
        stream = TrainStream(*args, seed=seed, window=256)  # ~650 documents: 3 windows
        seqs = [stream.next_batch(1)[0] for _ in range(manifest(tokens_dir, "totals")["tokens"] // 640 + 1)]
        refs = stream.order(0)[: (seen := stream.seen())["distinct_documents"]]
        emitted, drawn = np.concatenate([s[:-1] for s in seqs]), np.concatenate([docs[r] for r in refs])
        assert np.array_equal(emitted, drawn[: len(emitted)])  # the stream is those documents, in that order
        assert len(drawn) - len(docs[refs[-1]]) < len(emitted) <= len(drawn)  # and all of them were started
        assert seen["tokens_seen"] == len(emitted) and seen["documents_seen"] == len(refs)
        assert seen["candidate_documents"] == rows.sum() and seen["epochs"] == pytest.approx(0.1, abs=0.001)
        observed = np.bincount(np.repeat(np.arange(len(rows)), rows)[refs], minlength=len(rows))
        chi2, p = chisquare(observed, len(refs) * rows / rows.sum())
        print(f"seed {seed}: {len(refs)} documents, per shard {observed.tolist()}, chi2 {chi2:.2f}, p {p:.3f}")
        assert p > 0.01 and observed.min() > 0, (observed, chi2, p)
        samples[seed] = set(refs.tolist())
    assert len(samples[0] & samples[1]) < 0.3 * len(samples[0])  # independent ~10% draws overlap by ~10%
    assert len(stream._windows) <= 2  # memory: the current window and the one before
    state, ahead, again = stream.state_dict(), stream.next_batch(50), TrainStream(*args, seed=1, window=100)
    again.load_state_dict(state)  # another window size (only a memory bound), resumed mid-window: the same stream
    assert np.array_equal(again.next_batch(50), ahead)
    pytest.raises(DataError, TrainStream(*args, seed=2).load_state_dict, state).match("another seed")


def test_eval_cap_is_a_fixed_uniform_sample_and_the_summary_says_so(corpus, tmp_path):
    from scipy.stats import chisquare

    import curate_train
    from curate_train.data import EvalSet, check_tokenizers

    tok = check_tokenizers({"e": str(corpus["eval"])})
    totals, candidate = manifest(corpus["eval"], "totals"), manifest(corpus["train"], "totals")
    evalset = EvalSet("heldout", str(corpus["eval"]), tok["sha256"], tok["eos_id"], seq_len=64, max_tokens=8000)
    used, usage = evalset.documents, evalset.usage()
    assert (usage["documents_total"], usage["tokens_total"]) == (totals["rows"], totals["tokens"])
    assert usage["bytes_total"] == totals["bytes"] and usage["documents_used"] == len(used)
    assert 0 < usage["tokens_used"] <= 8000 < usage["tokens_total"] and not np.array_equal(used, np.arange(len(used)))
    chi2, p = chisquare(fifths := np.bincount(used * 5 // totals["rows"], minlength=5))  # where the documents lie
    print(f"eval: {len(used)} of {totals['rows']} documents, per fifth of the set {fifths.tolist()}, chi2 {chi2:.2f}")
    assert p > 0.01 and fifths.min() > 0
    summaries = [
        curate_train.run(tiny_config(corpus, tmp_path / f"s{s}", max_steps=2, seed=s), quiet=True) for s in (1, 2)
    ]
    for summary in summaries:  # eval_tokens 8000, as above; two run seeds, the same documents
        figures, sample = summary["eval"]["heldout"], summary["sample"]
        assert summary["eval_sets"]["heldout"] == usage and usage["share"] == usage["tokens_used"] / totals["tokens"]
        assert (figures["tokens"], figures["bytes"]) == (usage["tokens_used"], usage["bytes_used"])
        assert sample["tokens_seen"] == summary["tokens"] == 2048 and sample["candidate_tokens"] == candidate["tokens"]
        assert sample["epochs"] == pytest.approx(2048 / candidate["tokens"])
        assert sample["candidate_documents"] == candidate["rows"] > sample["documents_seen"] > 0
        assert sample["distinct_documents"] == sample["documents_seen"]
    domains = [{d: (v["tokens"], v["bytes"]) for d, v in s["eval"]["heldout"]["domains"].items()} for s in summaries]
    assert domains[0] == domains[1] and set(domains[0]) == {"prose", "verse"}


def test_trainer_imports_only_its_own_dependencies():
    """curate_train/ must run on a bare GPU box: torch, numpy, pyarrow, PyYAML and the standard library only."""
    code = (
        "import sys, curate_train, curate_train.loop, curate_train.data, curate_train.model, curate_train.evaluate,"
        " curate_train.checkpoint\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'curate', 'datatrove', 'matplotlib', 'trafilatura',"
        " 'tokenizers', 'pandas', 'scipy', 'spacy'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_gpu_path_pieces_run_on_cpu(corpus, tmp_path):
    """bf16 autocast and torch.compile, the GPU settings, exercised on the CPU (no device in CI)."""
    import curate_train

    summary = curate_train.run(
        tiny_config(corpus, tmp_path / "bf16", max_steps=3, dtype="bf16", compile=True), quiet=True
    )
    assert summary["finished"] and summary["dtype"] == "bf16" and summary["compiled"]
    assert math.isfinite(summary["final_train_loss"]) and math.isfinite(summary["eval"]["heldout"]["bpb"])
