"""Shared fixtures and helpers: the real test data, read in place through one setting (CURATE_DATA), and the few
helpers several test files need (reading a folder's Parquet rows, making a token directory from texts).

Test files import the helpers by name (`from conftest import REPO, read_rows`): pytest puts this folder on the path.
"""

from __future__ import annotations

import os
import random
import string
from pathlib import Path
from typing import NoReturn

import pyarrow.parquet as pq
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# The tiny proxy the compare tests train: 2 layers, d 64, 40 steps of 512 tokens on CPU (about a second a run).
TINY_TRAIN = {
    "seq_len": 64,
    "micro_batch": 8,
    "batch_tokens": 512,
    "max_steps": 40,
    "lr": 3e-3,
    "warmup_steps": 5,
    "eval_tokens": 6000,
    "eval_every": 10,
    "device": "cpu",
    "dtype": "fp32",  # `auto` picks bf16 on CPUs with native bf16: the tests' verdicts are pinned to fp32
    "threads": 2,
}
TINY_MODEL = {"d_model": 64, "n_layers": 2, "n_heads": 4}


def data_dir() -> Path:
    return Path(os.environ.get("CURATE_DATA", REPO.parent / "shared" / "data")).resolve()


def skip_or_fail(message: str) -> NoReturn:
    """Skip a test that lacks what it needs; under CI=true fail instead, where a skip would hide a missing check."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_data() -> Path:
    """The shared data folder; skips (or fails under CI=true) when it is missing."""
    path = data_dir()
    if not (path / "README.md").exists():
        skip_or_fail(f"shared test data not found at {path}; set CURATE_DATA to the shared data folder")
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return require_data()


@pytest.fixture(scope="session")
def shakespeare(data) -> list[str]:
    """tinyshakespeare's paragraphs (blank-line separated), in order."""
    text = (data / "text" / "tinyshakespeare.txt").read_text()
    return [p for p in text.split("\n\n") if p.strip()]


@pytest.fixture(scope="session")
def bpe(tmp_path_factory, shakespeare) -> Path:
    """A small byte-level BPE (vocab 512, <|endoftext|>) trained on tinyshakespeare."""
    from curate.tokenize import train_bpe

    return train_bpe(shakespeare, 512, tmp_path_factory.mktemp("bpe") / "bpe-512.json", min_frequency=0)


def corrupt(texts: list[str], rate: float = 0.5, seed: int = 0) -> list[str]:
    """Each character replaced by a random printable one with probability `rate`: text a model should learn worse."""
    rng = random.Random(seed)
    printable = string.ascii_letters + string.digits + string.punctuation + " "
    return ["".join(rng.choice(printable) if rng.random() < rate else c for c in t) for t in texts]


def read_rows(folder: Path, columns: list[str] | None = None, schema=None) -> list[dict]:
    """Every row of a folder's Parquet files, file by file in name order ([] when the folder does not exist)."""
    files = sorted(Path(folder).glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f, columns=columns, schema=schema).to_pylist()]


def make_tokens(out: Path, texts: list[str], tokenizer: Path, domain=None, max_tokens_per_shard=None) -> Path:
    """A token directory of `texts` (ids d0, d1, ...; `domain` a name or a function of the index)."""
    from curate.tokens import DEFAULT_MAX_TOKENS_PER_SHARD, ShardWriter, encode_documents, load_tokenizer

    tok, info = load_tokenizer(tokenizer)
    docs = ((f"d{i}", t, domain(i) if callable(domain) else domain) for i, t in enumerate(texts))
    with ShardWriter(out, info, max_tokens_per_shard or DEFAULT_MAX_TOKENS_PER_SHARD) as writer:
        for ids, nbytes, doc_id, dom in encode_documents(tok, info.eos_id, docs):
            writer.write(ids, nbytes, doc_id, dom)
    return out


@pytest.fixture(scope="session")
def compare_corpus(tmp_path_factory, shakespeare, bpe) -> dict:
    """clean train (90% of paragraphs), the same text with half its characters replaced, two random halves of the
    clean train documents, the held-out 10% (domains verse/prose) and its first 20 paragraphs (a small eval set)."""
    root = tmp_path_factory.mktemp("compare-tokens")
    cut = int(len(shakespeare) * 0.9)
    train, held = shakespeare[:cut], shakespeare[cut:]
    corrupted = corrupt(train)
    order = list(range(len(train)))
    random.Random(1).shuffle(order)
    half_a = [train[i] for i in sorted(order[: len(order) // 2])]
    half_b = [train[i] for i in sorted(order[len(order) // 2 :])]
    return {
        "clean": make_tokens(root / "clean", train, bpe),
        "corrupted": make_tokens(root / "corrupted", corrupted, bpe),
        "half_a": make_tokens(root / "half_a", half_a, bpe),
        "half_b": make_tokens(root / "half_b", half_b, bpe),
        "eval": make_tokens(root / "eval", held, bpe, domain=lambda i: "verse" if i % 2 else "prose"),
        "eval_small": make_tokens(root / "eval_small", held[:20], bpe, domain="small"),
    }


def write_compare_spec(path: Path, candidates: list[dict], corpus: dict, **kw) -> Path:
    """A compare file of the tiny proxy over `compare_corpus` token dirs (held-out eval set, seeds 0-2)."""
    spec = {
        "name": path.stem,
        "candidates": candidates,
        "eval": {"heldout": str(corpus["eval"])},
        "model": TINY_MODEL,
        "train": dict(TINY_TRAIN),
        "seeds": [0, 1, 2],
    }
    spec.update(kw)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_outputs(run_dir: Path) -> dict:
    """What a `curate run` decided, independent of how the work was cut: kept (id, text), rejected (id, stage,
    reason) and the byte ledger's rows, each sorted, plus the dedup summary and the record counts."""
    import json

    stats = json.loads((Path(run_dir) / "stats.json").read_text())
    kept = sorted((r["id"], r["text"]) for r in read_rows(Path(run_dir) / "documents", ["id", "text"]))
    rejected = sorted(
        (str(r["id"]), r["stage"], r["reason"])
        for r in read_rows(Path(run_dir) / "rejected", ["id", "stage", "reason"])
    )
    ledger = sorted(
        tuple(str(r[k]) for k in ("source", "level", "offset", "length", "kind", "reason"))
        for r in read_rows(Path(run_dir) / "bytes")
    )
    counts = {k: stats[k] for k in ("input_records", "kept", "rejected", "conserved")}
    return {"kept": kept, "rejected": rejected, "ledger": ledger, "dedup": stats.get("dedup"), "counts": counts}
