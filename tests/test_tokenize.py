"""Token shards: exact round trip for both tokenizers, manifest = shards, the contract, and readers other than ours."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.outputs import write_documents
from curate.tokens import SCHEMA, file_sha256, iter_rows, load_tokenizer, read_manifest


def texts(data: Path) -> list[tuple[str, str]]:
    """Real text with Unicode, code-like lines and odd whitespace, with two domains."""
    out = [(t, "prose") for t in (data / "text" / "tinyshakespeare.txt").read_text().split("\n\n")[:150]]
    out += [(t, "wiki") for t in (data / "text" / "wikitext2-valid.txt").read_text().split("\n \n")[:150] if t.strip()]
    with gzip.open(data / "text" / "cc_en_head-0091.jsonl.gz", "rt", encoding="utf-8") as f:
        out += [(json.loads(line)["text"], "web") for line in f]
    out.append(("naïve café — 東京 🙂\tTabs\r\nand  double  spaces  ", "web"))
    return out


@pytest.fixture(scope="module")
def run_dir(data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    rows = [{"id": f"doc{i}", "text": t, "domain": d} for i, (t, d) in enumerate(texts(data))]
    return write_documents(folder, rows)


@pytest.fixture(scope="module")
def trained(run_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    assert main(["tokenizer", "train", str(run_dir), "--vocab-size", "1000", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("which", ["trained", "gpt-neox"])
def test_round_trip_and_manifest(which, run_dir, trained, data, tmp_path):
    tokenizer_path = trained if which == "trained" else data / "tokenizer" / "gpt-neox-bpe-50k.json"
    out = tmp_path / "tokens"
    argv = [
        "tokenize",
        str(run_dir),
        "--tokenizer",
        str(tokenizer_path),
        "-o",
        str(out),
        "--max-tokens-per-shard",
        "20000",
    ]
    assert main(argv) == 0
    tokenizer, info = load_tokenizer(tokenizer_path)
    source = {r["id"]: r for r in pq.read_table(run_dir / "documents").to_pylist()}
    manifest = read_manifest(out)
    assert manifest["tokenizer"]["sha256"] == file_sha256(tokenizer_path) == info.sha256
    assert len(manifest["shards"]) > 1
    seen = 0
    for row in iter_rows(out):
        assert row["input_ids"][-1] == info.eos_id and row["num_tokens"] == len(row["input_ids"])
        assert info.eos_id not in row["input_ids"][:-1]
        text = source[row["doc_id"]]["text"]
        assert tokenizer.decode(row["input_ids"][:-1], skip_special_tokens=False) == text
        assert row["num_bytes"] == len(text.encode("utf-8")) and row["domain"] == source[row["doc_id"]]["domain"]
        seen += 1
    assert seen == len(source) == manifest["totals"]["rows"]
    for shard in manifest["shards"]:
        path = out / shard["file"]
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == SCHEMA
        meta = pq.read_schema(path).metadata
        assert meta[b"curate.tokenizer_sha256"].decode() == info.sha256
        assert int(meta[b"curate.eos_id"]) == info.eos_id and int(meta[b"curate.vocab_size"]) == info.vocab_size
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
        assert shard["rows"] == table.num_rows and shard["tokens"] == sum(table.column("num_tokens").to_pylist())
        assert shard["sha256"] == file_sha256(path)
        assert shard["tokens"] - table.column("num_tokens")[-1].as_py() < 20000  # bounded: closes once full
        by_domain = {}
        for d, n in zip(table.column("domain").to_pylist(), table.column("num_tokens").to_pylist()):
            by_domain[d] = by_domain.get(d, 0) + n
        assert {d: c["tokens"] for d, c in shard["domains"].items()} == by_domain
    assert manifest["totals"]["tokens"] == sum(s["tokens"] for s in manifest["shards"])


def test_shards_load_in_pyarrow_duckdb_and_datasets(run_dir, trained, tmp_path, monkeypatch):
    out = tmp_path / "tokens"
    assert (
        main(["tokenize", str(run_dir), "--tokenizer", str(trained), "-o", str(out), "--max-tokens-per-shard", "30000"])
        == 0
    )
    manifest = read_manifest(out)
    files = sorted(str(p) for p in out.glob("*.parquet"))
    total = manifest["totals"]["tokens"]

    dataset = ds.dataset(files, format="parquet")
    assert dataset.count_rows() == manifest["totals"]["rows"]
    assert sum(dataset.to_table(columns=["num_tokens"]).column("num_tokens").to_pylist()) == total

    import duckdb

    query = f"SELECT count(*), sum(num_tokens), sum(len(input_ids)) FROM read_parquet({files!r})"
    con = duckdb.connect()
    assert tuple(con.execute(query).fetchall()[0]) == (manifest["totals"]["rows"], total, total)
    domains = dict(con.execute(f"SELECT domain, sum(num_tokens) FROM read_parquet({files!r}) GROUP BY 1").fetchall())
    assert domains == {d: c["tokens"] for d, c in manifest["totals"]["domains"].items()}

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from datasets import load_dataset

    hf = load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert hf.num_rows == manifest["totals"]["rows"]
    assert sum(hf["num_tokens"]) == total and len(hf[0]["input_ids"]) == hf[0]["num_tokens"]


@pytest.mark.slow
def test_pipeline_stage_merges_task_manifests(data, tmp_path):
    out = tmp_path / "run"
    files = [str(data / "warc" / n) for n in ("wget-sample-0000.warc.gz", "wget-sample-0001.warc.gz")]
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "reader: warc\nstages:\n  - extract\n  - domains\n"
        "  - tokenize: {tokenizer: '${CURATE_DATA}/tokenizer/gpt-neox-bpe-50k.json'}\n"
    )
    assert main(["run", str(spec), "--input", *files, "-o", str(out), "--workers", "2", "--no-progress"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    manifest = read_manifest(out / "tokens")
    assert len({s["file"].split("-")[1] for s in manifest["shards"]}) == 2  # one shard series per task
    assert manifest["totals"]["rows"] == stats["kept"] == stats["tokens"]["documents"]
    assert not list((out / "tokens").glob("*.part.json"))
    kept = set(pq.read_table(out / "documents", columns=["id"]).column("id").to_pylist())
    assert {r["doc_id"] for r in iter_rows(out / "tokens", columns=["doc_id"])} == kept


def test_tokenize_stage_needs_a_tokenizer(tmp_path):
    from curate import config

    path = tmp_path / "p.yaml"
    path.write_text("reader: warc\nstages:\n  - extract\n  - tokenize: {tokenizer: /nonexistent/tok.json}\n")
    with pytest.raises(config.ConfigError, match=r"stages\[1\].tokenize.tokenizer"):
        config.load(path)
