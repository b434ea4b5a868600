"""Every reader opens curate's outputs as folders and sees the same rows.

A token folder (`curate tokenize`, a run's `tokens/`, a mix's `curate_train/`) is read as it stands by pandas,
pyarrow.dataset, pq.read_table and `datasets` (its manifest is hidden, so none takes it for data), by DuckDB and
polars with a glob (`DIR/*.parquet`: both read every file of a folder they are given, hidden ones too);
`num_tokens`/`num_bytes` are int64. A run's `documents/` and `rejected/` read the same way, `crawl_date` a UTC
timestamp. Rows are compared as plain Python values with what curate's own readers give.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, read_rows

from curate.cli import main
from curate.outputs import ParquetRows, write_documents
from curate.runfolder import prepare
from curate.tokenize import TOKENS
from curate.tokens import LEGACY_MANIFEST, MANIFEST, iter_rows, read_manifest

TOKEN_COLUMNS = ["input_ids", "num_tokens", "num_bytes", "doc_id", "domain"]
UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


def plain(value):
    """A reader's value as plain Python: lists, ints, floats, str, aware datetimes, None."""
    import pandas as pd

    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def read_pandas(folder: Path, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    import pandas as pd

    frame = pd.read_parquet(folder)
    return frame.to_dict("records"), {c: str(t) for c, t in frame.dtypes.items()}


def read_pyarrow_dataset(folder: Path, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    import pyarrow.dataset as ds

    table = ds.dataset(folder, format="parquet").to_table()
    return table.to_pylist(), {f.name: str(f.type) for f in table.schema}


def read_parquet_table(folder: Path, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    table = pq.read_table(folder)
    return table.to_pylist(), {f.name: str(f.type) for f in table.schema}


def read_polars(folder: Path, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    import polars as pl

    # polars reads every file under a folder it is given, hidden ones too (and refuses mixed extensions): a folder
    # with any file beside its Parquet files is read by a glob, as polars' own error message advises
    frame = pl.read_parquet(f"{folder}/*.parquet")
    return frame.to_dicts(), {c: str(t) for c, t in frame.schema.items()}


def read_duckdb(folder: Path, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    import duckdb

    con = duckdb.connect()
    result = con.execute(f"SELECT * FROM read_parquet('{folder}/*.parquet')")
    names = [d[0] for d in result.description]
    rows = [dict(zip(names, r)) for r in result.fetchall()]
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{folder}/*.parquet')").fetchall()}
    return rows, types


def read_datasets(folder: Path, tmp: Path, **kw) -> tuple[list[dict], dict[str, str]]:
    from datasets import load_dataset

    where = kw or {"data_dir": str(folder)}
    hf = load_dataset("parquet", **where, split="train", cache_dir=str(tmp / "hf-cache"))
    types = {name: str(getattr(f, "dtype", getattr(f, "feature", f))) for name, f in hf.features.items()}
    return hf.to_list(), types


READERS = {
    "pandas": read_pandas,
    "pyarrow.dataset": read_pyarrow_dataset,
    "pq.read_table": read_parquet_table,
    "polars": read_polars,
    "duckdb": read_duckdb,
    "datasets": read_datasets,
}
INT64 = {"pandas": "int64", "polars": "Int64", "duckdb": "BIGINT"}  # the others: "int64"
TIMESTAMP = {
    "pandas": "datetime64[us, UTC]",
    "polars": "Datetime(time_unit='us', time_zone='UTC')",
    "duckdb": "TIMESTAMP WITH TIME ZONE",
}  # the others: "timestamp[us, tz=UTC]"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def read(reader: str, folder: Path, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    rows, types = READERS[reader](folder, tmp)
    return [{k: plain(v) for k, v in row.items()} for row in rows], types


@pytest.fixture(scope="module")
def tokens_dir(data, tmp_path_factory) -> Path:
    """`curate tokenize` of real text (two domains) with the GPT-NeoX tokenizer, in several shards."""
    root = tmp_path_factory.mktemp("readers")
    paragraphs = [p for p in (data / "text" / "tinyshakespeare.txt").read_text().split("\n\n") if p.strip()][:400]
    rows = [{"id": f"doc{i}", "text": t, "domain": "verse" if i % 3 else "prose"} for i, t in enumerate(paragraphs)]
    write_documents(root / "docs", rows)
    out = root / "tokens"
    tokenizer = data / "tokenizer" / "gpt-neox-bpe-50k.json"
    argv = ["tokenize", str(root / "docs"), "--tokenizer", str(tokenizer), "-o", str(out)]
    assert main([*argv, "--max-tokens-per-shard", "5000"]) == 0
    return out


def check_token_folder(reader: str, folder: Path, tmp: Path) -> None:
    expected = list(iter_rows(folder))
    rows, types = read(reader, folder, tmp)
    assert [{c: r[c] for c in TOKEN_COLUMNS} for r in rows] == expected  # same rows, in manifest order
    assert types["num_tokens"] == types["num_bytes"] == INT64.get(reader, "int64")
    totals = read_manifest(folder)["totals"]
    assert sum(r["num_tokens"] for r in rows) == totals["tokens"] and len(rows) == totals["rows"]


def test_the_manifest_is_hidden_beside_the_shards(tokens_dir):
    names = sorted(p.name for p in tokens_dir.iterdir())
    assert MANIFEST == ".manifest.json" and MANIFEST in names
    assert all(n.startswith(".") or n.endswith(".parquet") for n in names), names
    assert len([n for n in names if n.endswith(".parquet")]) == len(read_manifest(tokens_dir)["shards"]) > 2


@pytest.mark.parametrize("reader", list(READERS))
def test_a_token_folder_opens_as_a_folder(reader, tokens_dir, tmp_path):
    check_token_folder(reader, tokens_dir, tmp_path)


def test_polars_sums_counts_without_wrapping(tokens_dir):
    import polars as pl

    sums = pl.scan_parquet(tokens_dir / "*.parquet").select(pl.col("num_tokens").sum(), pl.col("num_bytes").sum())
    frame = sums.collect()
    assert frame.schema["num_tokens"] == pl.Int64
    totals = read_manifest(tokens_dir)["totals"]
    assert frame.row(0) == (totals["tokens"], totals["bytes"])


def test_a_folder_with_the_old_manifest_name_is_still_read(tokens_dir, tmp_path):
    from curate_train.data import check_tokenizers, document_index

    old = tmp_path / "old"
    shutil.copytree(tokens_dir, old)
    (old / MANIFEST).rename(old / LEGACY_MANIFEST)
    assert read_manifest(old) == read_manifest(tokens_dir)
    assert list(iter_rows(old)) == list(iter_rows(tokens_dir))
    tokenizer = check_tokenizers({"old": str(old)})  # the trainer's own reader (curate_train/ never imports curate)
    assert document_index([str(old)], tokenizer["sha256"]).documents == read_manifest(old)["totals"]["rows"]
    # `curate tokenize --overwrite` takes the old manifest for its marker and removes it with the shards
    (old / ".curate-tokenize").unlink()
    prepare(old, TOKENS, overwrite=True)
    assert sorted(p.name for p in old.iterdir()) == [".curate-tokenize"]


def test_timestamp_columns_take_iso_text(tmp_path):
    schema = pa.schema([("id", pa.string()), ("crawl_date", UTC_TIMESTAMP)])
    given = [
        "2024-05-18T01:58:10Z",  # the WARC reader's form
        "2024-05-18T03:58:10+02:00",
        "2024-01-01",  # a date alone: midnight UTC
        "2008-10-294",  # not a date: null
        None,
        datetime(2024, 5, 18, 1, 58, 10),  # no zone: UTC
        datetime(2024, 5, 18, 1, 58, 10, tzinfo=timezone.utc),  # as read back from Parquet
    ]
    with ParquetRows(tmp_path / "out", schema) as rows:
        for i, value in enumerate(given):
            rows.add({"id": str(i), "crawl_date": value})
    table = pq.read_table(tmp_path / "out" / "00000.parquet")
    assert table.schema.field("crawl_date").type == UTC_TIMESTAMP
    when = datetime(2024, 5, 18, 1, 58, 10, tzinfo=timezone.utc)
    midnight = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert table.column("crawl_date").to_pylist() == [when, when, midnight, None, None, when, when]


@pytest.fixture(scope="module")
def run_dir(data, tmp_path_factory) -> Path:
    """A real `curate run` of the FineWeb recipe (with its tokenize stage) on one small crawl file."""
    out = tmp_path_factory.mktemp("readers-run") / "run"
    argv = ["run", str(REPO / "pipelines" / "fineweb.yaml"), "--input", str(data / "warc" / "wget-sample-0000.warc.gz")]
    assert main([*argv, "--output", str(out), "--workers", "1", "--no-progress"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] > 0 and stats["rejected"] > 0
    return out


def order(row: dict) -> tuple[str, str]:
    return str(row["id"]), str(row.get("stage"))


@pytest.mark.slow
@pytest.mark.parametrize("reader", list(READERS))
def test_a_run_folder_reads_folder_by_folder(reader, run_dir, tmp_path):
    for folder in ("documents", "rejected"):
        expected = read_rows(run_dir / folder)  # file by file, with pyarrow
        assert expected
        rows, types = read(reader, run_dir / folder, tmp_path)
        # sorted by (id, stage); aware datetimes are equal when their instants are, whatever the reader's zone
        assert sorted(rows, key=order) == sorted(expected, key=order)
        assert types["crawl_date"] == TIMESTAMP.get(reader, "timestamp[us, tz=UTC]")
        dates = [r["crawl_date"] for r in rows if r["crawl_date"] is not None]
        assert dates and all(isinstance(d, datetime) and d.tzinfo is not None for d in dates)
    check_token_folder(reader, run_dir / "tokens", tmp_path)
    kept = {r["id"] for r in read_rows(run_dir / "documents", ["id"])}
    assert {r["doc_id"] for r in iter_rows(run_dir / "tokens", ["doc_id"])} == kept


@pytest.mark.slow
def test_the_documented_way_to_load_a_run(run_dir, tmp_path):
    import pandas as pd
    import polars as pl

    ids = sorted(r["id"] for r in read_rows(run_dir / "documents", ["id"]))
    rows, _ = read_datasets(run_dir, tmp_path, data_files=str(run_dir / "documents" / "*.parquet"))
    assert sorted(r["id"] for r in rows) == ids
    assert sorted(pd.read_parquet(run_dir / "documents")["id"]) == ids
    assert sorted(pl.read_parquet(run_dir / "documents")["id"]) == ids  # a finished run's folder: Parquet only
    first = pd.read_parquet(run_dir / "documents")["crawl_date"].dropna().iloc[0]
    assert first.tzinfo is not None and first.utcoffset().total_seconds() == 0


@pytest.mark.slow
def test_load_dataset_opens_the_run_folder_by_its_card(run_dir, tmp_path):
    """`load_dataset(RUN)` with no builder: the run's README.md declares documents (default), rejected and tokens."""
    from datasets import load_dataset

    stats = json.loads((run_dir / "stats.json").read_text())
    cache = str(tmp_path / "hf-cache")
    docs = load_dataset(str(run_dir), cache_dir=cache)
    assert list(docs) == ["train"] and docs["train"].num_rows == stats["kept"]
    assert sorted(docs["train"]["id"]) == sorted(r["id"] for r in read_rows(run_dir / "documents", ["id"]))
    rejected = load_dataset(str(run_dir), "rejected", split="train", cache_dir=cache)
    assert rejected.num_rows == stats["rejected"] and set(rejected["stage"]) == set(stats["rejected_rows_by_stage"])
    tokens = load_dataset(str(run_dir), "tokens", split="train", cache_dir=cache)
    assert sum(tokens["num_tokens"]) == stats["tokens"]["tokens"]
    card = (run_dir / "README.md").read_text()
    assert f"{stats['kept']:,} kept" in card and 'load_dataset(RUN, "rejected"' in card
