"""Export a token directory (see `curate.tokens`) to the binary formats other trainers read.

`megatron`: Megatron-LM's indexed dataset, the `MMIDIDX` layout of `megatron/core/datasets/indexed_dataset.py`,
read by Megatron-LM and NeMo (and GPT-NeoX, OLMo's and Nanotron's converters). Two files per dataset, always one
pair whatever the size (Megatron blends several prefixes itself):
  `<prefix>.bin`: every document's tokens back to back (uint16 when the vocabulary has fewer than 65,500 entries,
    int32 otherwise: Megatron's `DType.optimal_dtype`), no header.
  `<prefix>.idx`: b"MMIDIDX\\x00\\x00", version <Q 1, dtype code <B (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
    6 float64, 7 float32, 8 uint16), sequence count <Q, document-index count <Q, then int32 sequence lengths,
    int64 sequence pointers (byte offsets into the .bin), int64 document indices (0, then the sequence index at
    which each document ends). Every curate row (one document, EOS included) is one sequence and one document, so
    the document indices are 0, 1, ..., n and document boundaries survive: Megatron's sampler and its
    `--reset-attention-mask` style options can see them. Pass `--data-path DIR/<prefix>` to Megatron.
`llmc`: the shard format of Karpathy's llm.c (`dev/data/data_common.py`, read by `llmc/dataloader.h`):
  `<prefix>_000000.bin`, `<prefix>_000001.bin`, ..., each a 256 x int32 little-endian header (magic 20240520,
  version 1, number of tokens in the file, the rest zero) then the tokens as uint16 little-endian, in llm.c's
  layout: the EOS token *before* each document (as llm.c's `fineweb.py` writes it; curate rows end with it, so each
  file is its rows rotated by one token). llm.c's loader looks at no token id (it reads windows of B*T+1 tokens and
  asserts every file holds at least processes*B*T+1 of them). modded-nanogpt reads the same files but starts every
  sequence at GPT-2's `<|endoftext|>`, id 50256, and its model embeds GPT-2's 50,257 ids: for any other tokenizer
  the export warns that modded-nanogpt cannot use the files (it would stop at once or cut sequences at an ordinary
  token), as it warns when llm.c's GPT-2 models (50,257 ids) cannot embed the vocabulary. uint16 cannot hold a
  token id above 65,535, so larger vocabularies are refused.
`datatrove`: the tokenized files of datatrove's `DocumentTokenizer` (`pipeline/tokens/tokenizer.py`), read by
  `datatrove.utils.dataset.DatatroveFolderDataset` (nanotron's Nanoset reads through it): `<prefix>_000000.ds`
  (tokens, uint16, or uint32 above 65,536 ids: the reader's `token_size` 2 or 4), `.ds.index` (uint64 document
  ends) and `.ds.metadata` (see `curate.export_formats.DatatroveFile`). EOS ends each document, as datatrove's
  `eos_token` option writes it.
llmc and datatrove files hold whole documents, at most `max_tokens_per_file` tokens each (see
`curate.export_formats`).

All writers stream the shards one Parquet batch at a time and write with `ndarray.tofile`, so memory stays flat
whatever the size of the token directory; outputs are written under temporary names and renamed when complete.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.export_formats import DATATROVE_UINT16_MAX_VOCAB, DatatroveFile, LlmcFile, tmp, write_series
from curate.tokens import read_manifest

FORMATS = ("megatron", "llmc", "datatrove")

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

LLMC_MAX_VOCAB = 65_535  # the bound for the uint16 format: vocabularies over 65,535 are refused
LLMC_MAX_TOKENS_PER_FILE = (1 << 31) - 1  # the count is an int32 in the header
GPT2_EOT_ID = 50256  # modded-nanogpt's BOS_ID: GPT-2's <|endoftext|>
GPT2_VOCAB = 50257  # modded-nanogpt's GPT(vocab_size=50257); llm.c's train_gpt2 models built from -e d12 etc.
DEFAULT_MAX_TOKENS_PER_FILE = 100_000_000  # llm.c's fineweb.py shard size

BATCH_ROWS = 4096
CHUNK = 1 << 20  # index entries per write when assembling the .idx


class ExportWarning(UserWarning):
    """A named reader of the exported format cannot use the files as they are (the export still succeeds)."""


def megatron_dtype(vocab_size: int) -> np.dtype:
    """The token dtype Megatron-LM's preprocess_data.py would pick for this vocabulary size."""
    return np.dtype(np.uint16) if vocab_size < MEGATRON_UINT16_BELOW else np.dtype(np.int32)


def reader_problems(fmt: str, eos_id: int, vocab_size: int) -> list[str]:
    """One line per named reader of `fmt` that cannot use files made with this tokenizer."""
    if fmt != "llmc":  # Megatron and datatrove take the tokenizer's own ids and sizes
        return []
    problems = []
    if eos_id != GPT2_EOT_ID or vocab_size > GPT2_VOCAB:
        problems.append(
            f"modded-nanogpt cannot use these files: it starts sequences at GPT-2's <|endoftext|> id {GPT2_EOT_ID} "
            f"and embeds {GPT2_VOCAB:,} ids, but this tokenizer's EOS id is {eos_id} of {vocab_size:,} ids "
            "(llm.c's loader reads them)"
        )
    if vocab_size > GPT2_VOCAB:
        problems.append(
            f"llm.c's train_gpt2 builds GPT-2 models of {GPT2_VOCAB:,} ids from a descriptor (-e d12); a vocabulary "
            f"of {vocab_size:,} needs a checkpoint (-e FILE) of that size"
        )
    return problems


def export(
    tokens_dir: str | Path,
    fmt: str,
    out_dir: str | Path,
    prefix: str = "data",
    max_tokens_per_file: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the token directory `tokens_dir` to `out_dir` in format `fmt` (megatron, llmc, datatrove); the files.

    `max_tokens_per_file` (llmc and datatrove; default 100,000,000) bounds each file; Megatron's .bin is one file.
    `warn` receives `reader_problems` lines (default: `warnings.warn` with ExportWarning).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if not prefix or prefix != Path(prefix).name or prefix in (".", ".."):
        raise ValueError(f"prefix {prefix!r} must be a plain file-name prefix (no folders)")
    if fmt == "megatron" and max_tokens_per_file is not None:
        raise ValueError("--max-tokens-per-file applies to llmc and datatrove; megatron writes one .bin/.idx pair")
    per_file = DEFAULT_MAX_TOKENS_PER_FILE if max_tokens_per_file is None else max_tokens_per_file
    if not 0 < per_file <= LLMC_MAX_TOKENS_PER_FILE:
        raise ValueError(
            f"--max-tokens-per-file must be between 1 and {LLMC_MAX_TOKENS_PER_FILE:,} "
            f"(llm.c's header holds the count as an int32), not {per_file}"
        )
    tokens_dir = Path(tokens_dir)
    try:
        manifest = read_manifest(tokens_dir)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from exc
    tokenizer = manifest["tokenizer"]
    vocab_size, eos_id = int(tokenizer["vocab_size"]), int(tokenizer["eos_id"])
    if fmt == "llmc" and vocab_size > LLMC_MAX_VOCAB:
        raise ValueError(
            f"{tokens_dir}: vocabulary of {vocab_size:,} tokens is too large for llm.c's uint16 tokens "
            f"(at most {LLMC_MAX_VOCAB:,}); use --format megatron or datatrove"
        )
    for problem in reader_problems(fmt, eos_id, vocab_size):
        if warn is None:
            warnings.warn(problem, ExportWarning, stacklevel=2)
        else:
            warn(problem)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "megatron":
        return _export_megatron(tokens_dir, manifest, out, prefix, vocab_size)
    if fmt == "llmc":
        opener: Callable = partial(LlmcFile, eos_id=eos_id)
        suffix = ".bin"
    else:
        token_size = 2 if vocab_size <= DATATROVE_UINT16_MAX_VOCAB else 4
        opener = partial(DatatroveFile, token_size=token_size, tokenizer_name=f"curate-{tokenizer['sha256']}")
        suffix = ".ds"
    batches = _batches(tokens_dir, manifest, vocab_size)
    written, rows, total = write_series(batches, out, prefix, suffix, per_file, opener)
    try:
        _check_totals(tokens_dir, manifest, rows, total)
    except ValueError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


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


def _export_megatron(tokens_dir: Path, manifest: dict, out: Path, prefix: str, vocab_size: int) -> list[Path]:
    dtype = megatron_dtype(vocab_size)
    bin_path, idx_path = out / f"{prefix}.bin", out / f"{prefix}.idx"
    lengths_path = out / f".{prefix}.lengths.tmp"  # the int32 sequence lengths, kept on disk, not in memory
    sequences = total_tokens = 0
    try:
        with open(tmp(bin_path), "wb") as data, open(lengths_path, "wb") as lengths_file:
            for tokens, lengths in _batches(tokens_dir, manifest, vocab_size):
                tokens.astype(dtype, copy=False).tofile(data)
                lengths.astype(np.int32).tofile(lengths_file)
                sequences += lengths.size
                total_tokens += tokens.size
        _check_totals(tokens_dir, manifest, sequences, total_tokens)
        with open(tmp(idx_path), "wb") as index:
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
        os.replace(tmp(bin_path), bin_path)
        os.replace(tmp(idx_path), idx_path)
    finally:
        for path in (lengths_path, tmp(bin_path), tmp(idx_path)):
            path.unlink(missing_ok=True)
    return [bin_path, idx_path]


def _read_chunks(path: Path, dtype) -> Iterator[np.ndarray]:
    with open(path, "rb") as f:
        while (chunk := np.fromfile(f, dtype=dtype, count=CHUNK)).size:
            yield chunk
