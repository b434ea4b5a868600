"""`curate.export`: Megatron-LM indexed datasets and llm.c shards, read back with readers written from the formats."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from curate.export import export
from curate.tokens import ShardWriter, TokenizerInfo, encode_documents, iter_rows, load_tokenizer, read_manifest

MEGATRON_DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}


@pytest.fixture(scope="module")
def tokens_dir(data, tmp_path_factory) -> Path:
    """300 real paragraphs of Shakespeare in two domains, tokenized into several small shards."""
    tokenizer, info = load_tokenizer(data / "tokenizer" / "gpt-neox-bpe-50k.json")
    text = (data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()][:300]
    docs = ((f"doc-{i}", p, "wiki" if i % 3 else "forum") for i, p in enumerate(paragraphs))
    out = tmp_path_factory.mktemp("tokens")
    with ShardWriter(out, info, max_tokens_per_shard=2_000) as writer:
        for row in encode_documents(tokenizer, info.eos_id, docs):
            writer.write(*row)
    manifest = read_manifest(out)
    assert len(manifest["shards"]) >= 3 and manifest["totals"]["rows"] == 300
    return out


def rows_of(tokens_dir: Path) -> list[list[int]]:
    return [row["input_ids"] for row in iter_rows(tokens_dir, columns=["input_ids"])]


def read_megatron(prefix: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, int]:
    """A reader written from the MMIDIDX layout: (documents, lengths, pointers, document indices, dtype code)."""
    raw = prefix.with_suffix(".idx").read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack_from("<Q", raw, 9)
    (code,) = struct.unpack_from("<B", raw, 17)
    sequences, documents = struct.unpack_from("<QQ", raw, 18)
    assert version == 1
    offset = 34
    lengths = np.frombuffer(raw, dtype="<i4", count=sequences, offset=offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(raw, dtype="<i8", count=sequences, offset=offset)
    offset += pointers.nbytes
    doc_index = np.frombuffer(raw, dtype="<i8", count=documents, offset=offset)
    assert offset + doc_index.nbytes == len(raw), "trailing bytes after the document indices"
    dtype = np.dtype(MEGATRON_DTYPES[code]).newbyteorder("<")
    tokens = np.memmap(prefix.with_suffix(".bin"), dtype=dtype, mode="r")
    itemsize = dtype.itemsize
    sequence_tokens = [np.asarray(tokens[p // itemsize : p // itemsize + n]) for p, n in zip(pointers, lengths)]
    docs = [np.concatenate(sequence_tokens[a:b]) for a, b in zip(doc_index[:-1], doc_index[1:])]
    return docs, lengths, pointers, doc_index, code


def test_megatron_reads_back_same_documents(tokens_dir, tmp_path):
    paths = export(tokens_dir, "megatron", tmp_path / "out", prefix="shakespeare")
    assert [p.name for p in paths] == ["shakespeare.bin", "shakespeare.idx"]
    rows = rows_of(tokens_dir)
    docs, lengths, pointers, doc_index, code = read_megatron(tmp_path / "out" / "shakespeare")
    assert code == 8  # uint16: the 50,280-entry vocabulary is under Megatron's 65,500 cut
    assert len(docs) == len(rows) == 300
    for doc, row in zip(docs, rows):
        assert doc.tolist() == row
    eos = read_manifest(tokens_dir)["tokenizer"]["eos_id"]
    assert all(doc[-1] == eos for doc in docs)
    assert lengths.tolist() == [len(r) for r in rows]
    assert pointers[0] == 0 and np.array_equal(np.diff(pointers), lengths[:-1].astype(np.int64) * 2)
    assert doc_index.tolist() == list(range(301))  # 0, then where each document ends (one sequence each)
    assert (tmp_path / "out" / "shakespeare.bin").stat().st_size == 2 * sum(len(r) for r in rows)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["shakespeare.bin", "shakespeare.idx"]


def test_llmc_headers_counts_and_tokens(tokens_dir, tmp_path):
    manifest = read_manifest(tokens_dir)
    total = manifest["totals"]["tokens"]
    per_file = 3_000
    paths = export(tokens_dir, "llmc", tmp_path, prefix="fw", max_tokens_per_file=per_file)
    assert len(paths) == -(-total // per_file) >= 2
    assert [p.name for p in paths] == [f"fw_{i:06d}.bin" for i in range(len(paths))]
    chunks = []
    for i, path in enumerate(paths):
        header = np.fromfile(path, dtype="<i4", count=256)
        count = int(header[2])
        assert (header[0], header[1]) == (20240520, 1) and not header[3:].any()
        assert count == (per_file if i < len(paths) - 1 else total - per_file * (len(paths) - 1))
        assert path.stat().st_size == 1024 + 2 * count
        chunks.append(np.fromfile(path, dtype="<u2", offset=1024))
    expected = [token for row in rows_of(tokens_dir) for token in row]
    assert np.concatenate(chunks).tolist() == expected
    assert np.count_nonzero(np.concatenate(chunks) == manifest["tokenizer"]["eos_id"]) >= 300

    # a later export with larger files replaces the earlier one; no stale numbered file is left to be read
    again = export(tokens_dir, "llmc", tmp_path, prefix="fw", max_tokens_per_file=total)
    assert sorted(tmp_path.glob("fw_*.bin")) == again == [tmp_path / "fw_000000.bin"]


def big_vocab_dir(tmp_path: Path) -> Path:
    out = tmp_path / "big"
    with ShardWriter(out, TokenizerInfo(sha256="x", vocab_size=100_000, eos_id=99_999)) as writer:
        writer.write([5, 70_000, 99_999], 10, "a", "wiki")
        writer.write([65_535, 65_536, 99_999], 12, "b", None)
    return out


def test_llmc_refuses_large_vocabulary(tmp_path):
    tokens = big_vocab_dir(tmp_path)
    with pytest.raises(ValueError, match="too large for llm.c's uint16"):
        export(tokens, "llmc", tmp_path / "out")
    assert not list(tmp_path.rglob("*.bin"))
    # Megatron takes it, with int32 tokens (dtype code 4)
    export(tokens, "megatron", tmp_path / "mt")
    docs, _, _, doc_index, code = read_megatron(tmp_path / "mt" / "data")
    assert code == 4 and doc_index.tolist() == [0, 1, 2]
    assert [d.tolist() for d in docs] == [[5, 70_000, 99_999], [65_535, 65_536, 99_999]]


def test_bad_format_and_missing_manifest(tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'parquet'"):
        export(big_vocab_dir(tmp_path), "parquet", tmp_path / "out")
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        export(tmp_path, "megatron", tmp_path / "out")
