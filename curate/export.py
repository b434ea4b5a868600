"""Export a token directory (see `curate.tokens`) to the binary formats other trainers read.

`megatron`: Megatron-LM's indexed dataset, the `MMIDIDX` layout of `megatron/core/datasets/indexed_dataset.py`,
read by Megatron-LM and NeMo (and GPT-NeoX, OLMo's and Nanotron's converters). Two files per dataset:
  `<prefix>.bin`: every document's tokens back to back (uint16 when the vocabulary has fewer than 65,500 entries,
    int32 otherwise: Megatron's `DType.optimal_dtype`), no header.
  `<prefix>.idx`: b"MMIDIDX\\x00\\x00", version <Q 1, dtype code <B (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
    6 float64, 7 float32, 8 uint16), sequence count <Q, document-index count <Q, then int32 sequence lengths,
    int64 sequence pointers (byte offsets into the .bin), int64 document indices (0, then the sequence index at
    which each document ends). Every curate row (one document, EOS included) is one sequence and one document, so
    the document indices are 0, 1, ..., n and document boundaries survive: Megatron's sampler and its
    `--reset-attention-mask` style options can see them. Pass `--data-path DIR/<prefix>` to Megatron.
`llmc`: the shard format of Karpathy's llm.c (`dev/data/data_common.py`) that modded-nanogpt reads as is:
  `<prefix>_000000.bin`, `<prefix>_000001.bin`, ..., each a 256 x int32 little-endian header (magic 20240520,
  version 1, number of tokens in the file, the rest zero) then the tokens as uint16 little-endian. The format
  has no index: documents are told apart by their EOS tokens, which curate rows already end with (llm.c's own
  scripts put the EOT before each document instead; either way it separates them). Files hold exactly
  `max_tokens_per_file` tokens (the last one fewer) and a document may run on into the next file, as in llm.c's
  and modded-nanogpt's writers. uint16 cannot hold a token id above 65,535, so larger vocabularies are refused.

Both writers stream the shards one Parquet batch at a time and write with `ndarray.tofile`, so memory stays flat
whatever the size of the token directory; outputs are written under temporary names and renamed when complete.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.tokens import read_manifest

FORMATS = ("megatron", "llmc")

MEGATRON_INDEX_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_VERSION = 1
MEGATRON_DTYPE_CODES = {
    np.dtype(np.uint8): 1,
    np.dtype(np.int8): 2,
    np.dtype(np.int16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int64): 5,
    np.dtype(np.float64): 6,
    np.dtype(np.float32): 7,
    np.dtype(np.uint16): 8,
}
MEGATRON_UINT16_BELOW = 65_500  # Megatron's DType.optimal_dtype: uint16 for a cardinality under this, else int32

LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_INTS = 256
LLMC_MAX_VOCAB = 65_535  # the bound for the uint16 format: vocabularies over 65,535 are refused
LLMC_MAX_TOKENS_PER_FILE = (1 << 31) - 1  # the count is an int32 in the header

BATCH_ROWS = 4096
CHUNK = 1 << 20  # index entries per write when assembling the .idx


def megatron_dtype(vocab_size: int) -> np.dtype:
    """The token dtype Megatron-LM's preprocess_data.py would pick for this vocabulary size."""
    return np.dtype(np.uint16) if vocab_size < MEGATRON_UINT16_BELOW else np.dtype(np.int32)


def export(
    tokens_dir: str | Path, fmt: str, out_dir: str | Path, prefix: str = "data", max_tokens_per_file: int = 100_000_000
) -> list[Path]:
    """Write the token directory `tokens_dir` to `out_dir` in format `fmt` (megatron or llmc); the files written.

    `max_tokens_per_file` applies to llmc only (Megatron's .bin is one file; Megatron blends several prefixes).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if not prefix or prefix != Path(prefix).name or prefix in (".", ".."):
        raise ValueError(f"prefix {prefix!r} must be a plain file-name prefix (no folders)")
    tokens_dir = Path(tokens_dir)
    try:
        manifest = read_manifest(tokens_dir)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from exc
    vocab_size = int(manifest["tokenizer"]["vocab_size"])
    out = Path(out_dir)
    if fmt == "megatron":
        out.mkdir(parents=True, exist_ok=True)
        return _export_megatron(tokens_dir, manifest, out, prefix, vocab_size)
    if vocab_size > LLMC_MAX_VOCAB:
        raise ValueError(
            f"{tokens_dir}: vocabulary of {vocab_size:,} tokens is too large for llm.c's uint16 tokens "
            f"(at most {LLMC_MAX_VOCAB:,}); use --format megatron"
        )
    if not 0 < max_tokens_per_file <= LLMC_MAX_TOKENS_PER_FILE:
        raise ValueError(
            f"max_tokens_per_file must be between 1 and {LLMC_MAX_TOKENS_PER_FILE:,} "
            f"(llm.c's header holds the count as an int32), not {max_tokens_per_file}"
        )
    out.mkdir(parents=True, exist_ok=True)
    return _export_llmc(tokens_dir, manifest, out, prefix, vocab_size, max_tokens_per_file)


def _batches(tokens_dir: Path, manifest: dict, vocab_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(tokens of a batch of rows flattened, int64 length of each row), in manifest order, one batch at a time.

    Columnar (read_manifest + pyarrow) rather than `iter_rows`, which would build a Python int per token.
    """
    for shard in manifest["shards"]:
        path = tokens_dir / shard["file"]
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=["input_ids"]):
            column = batch.column(0)
            if column.null_count:
                raise ValueError(f"{path}: {column.null_count} rows have no input_ids")
            lengths = pc.list_value_length(column).to_numpy().astype(np.int64)
            tokens = column.flatten().to_numpy()
            if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
                raise ValueError(
                    f"{path}: token ids outside 0..{vocab_size - 1} (the manifest's vocab_size "
                    f"{vocab_size}); the shards do not match their tokenizer"
                )
            yield tokens, lengths


def _check_totals(tokens_dir: Path, manifest: dict, rows: int, tokens: int) -> None:
    totals = manifest.get("totals", {})
    expected = (totals.get("rows", rows), totals.get("tokens", tokens))
    if (rows, tokens) != expected:
        raise ValueError(
            f"{tokens_dir}: read {rows} rows / {tokens} tokens but the manifest says {expected[0]} / {expected[1]}"
        )


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _export_megatron(tokens_dir: Path, manifest: dict, out: Path, prefix: str, vocab_size: int) -> list[Path]:
    dtype = megatron_dtype(vocab_size)
    bin_path, idx_path = out / f"{prefix}.bin", out / f"{prefix}.idx"
    lengths_path = out / f".{prefix}.lengths.tmp"  # the int32 sequence lengths, kept on disk, not in memory
    sequences = total_tokens = 0
    try:
        with open(_tmp(bin_path), "wb") as data, open(lengths_path, "wb") as lengths_file:
            for tokens, lengths in _batches(tokens_dir, manifest, vocab_size):
                tokens.astype(dtype, copy=False).tofile(data)
                lengths.astype(np.int32).tofile(lengths_file)
                sequences += lengths.size
                total_tokens += tokens.size
        _check_totals(tokens_dir, manifest, sequences, total_tokens)
        with open(_tmp(idx_path), "wb") as index:
            index.write(MEGATRON_INDEX_HEADER)
            index.write(struct.pack("<Q", MEGATRON_VERSION))
            index.write(struct.pack("<B", MEGATRON_DTYPE_CODES[dtype]))
            index.write(struct.pack("<Q", sequences))
            index.write(struct.pack("<Q", sequences + 1))  # document indices: 0 plus one end per document
            with open(lengths_path, "rb") as lengths_file:  # sequence lengths, int32
                while block := lengths_file.read(CHUNK * 4):
                    index.write(block)
            pointer = 0  # sequence pointers, int64 byte offsets into the .bin
            for lengths in _read_chunks(lengths_path, np.int32):
                ends = np.cumsum(lengths, dtype=np.int64) * dtype.itemsize + pointer
                starts = np.empty_like(ends)
                starts[0] = pointer
                starts[1:] = ends[:-1]
                starts.astype("<i8").tofile(index)
                pointer = int(ends[-1])
            for start in range(0, sequences + 1, CHUNK):  # document indices, int64: document i ends at sequence i+1
                np.arange(start, min(start + CHUNK, sequences + 1), dtype="<i8").tofile(index)
        os.replace(_tmp(bin_path), bin_path)
        os.replace(_tmp(idx_path), idx_path)
    finally:
        for path in (lengths_path, _tmp(bin_path), _tmp(idx_path)):
            path.unlink(missing_ok=True)
    return [bin_path, idx_path]


def _read_chunks(path: Path, dtype) -> Iterator[np.ndarray]:
    with open(path, "rb") as f:
        while (chunk := np.fromfile(f, dtype=dtype, count=CHUNK)).size:
            yield chunk


class _LlmcFile:
    """One llm.c shard being written: a zero header first, the real one (with the count) on close."""

    def __init__(self, path: Path):
        self.path, self.count = path, 0
        self.file = open(_tmp(path), "wb")
        np.zeros(LLMC_HEADER_INTS, dtype="<i4").tofile(self.file)

    def write(self, tokens: np.ndarray) -> None:
        tokens.astype("<u2").tofile(self.file)
        self.count += tokens.size

    def close(self) -> None:
        header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
        header[:3] = (LLMC_MAGIC, LLMC_VERSION, self.count)
        self.file.seek(0)
        header.tofile(self.file)
        self.file.close()
        os.replace(_tmp(self.path), self.path)

    def abort(self) -> None:
        self.file.close()
        _tmp(self.path).unlink(missing_ok=True)


def _export_llmc(
    tokens_dir: Path, manifest: dict, out: Path, prefix: str, vocab_size: int, max_tokens: int
) -> list[Path]:
    written: list[Path] = []
    current: _LlmcFile | None = None
    rows = total_tokens = 0
    try:
        for tokens, lengths in _batches(tokens_dir, manifest, vocab_size):
            rows += lengths.size
            total_tokens += tokens.size
            while tokens.size:
                if current is None:
                    current = _LlmcFile(out / f"{prefix}_{len(written):06d}.bin")
                take = min(max_tokens - current.count, tokens.size)
                current.write(tokens[:take])
                tokens = tokens[take:]
                if current.count == max_tokens:
                    current.close()
                    written.append(current.path)
                    current = None
        if current is not None:
            current.close()
            written.append(current.path)
            current = None
        _check_totals(tokens_dir, manifest, rows, total_tokens)
    except BaseException:
        if current is not None:
            current.abort()
        for path in written:  # a half export must not pass for a whole one
            path.unlink(missing_ok=True)
        raise
    # numbered files left by an earlier, longer export with the same prefix would be read as part of this one
    pattern = re.compile(rf"{re.escape(prefix)}_(\d{{6}})\.bin")
    for path in out.iterdir():
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) >= len(written):
            path.unlink()
    return written
