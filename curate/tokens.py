"""Token shards: the contract between curation and training, and the code that writes and reads it.

A token directory holds `shard-<n>.parquet` files and a `.manifest.json`:
  row per document: input_ids list<int32> (EOS appended), num_tokens int64, num_bytes int64 (UTF-8 bytes of the
  text, for bits-per-byte), doc_id string, domain dictionary<int32, string>; zstd.
  Parquet key-value metadata: curate.tokenizer_sha256, curate.vocab_size, curate.eos_id, curate.eos_token.
  .manifest.json: the tokenizer (sha256, vocab_size, eos_id, eos_token), one entry per shard (file, rows, tokens,
  bytes, sha256 of the file, rows/tokens per domain) and the totals.
The manifest's name starts with a dot so that the folder is a Parquet dataset as it stands (the shards share one
schema): pyarrow.dataset, pandas and `datasets.load_dataset("parquet", data_dir=...)` skip hidden files
(`_manifest.json` would not do: `datasets` reads every file that is not hidden); DuckDB and polars read
`DIR/*.parquet` (polars reads every file of a folder it is given, hidden ones too). Folders written before this
name (`manifest.json`) are still read (`manifest_path`), never written.
Shards are bounded (`max_tokens_per_shard`), so writing needs memory for one shard's row group at most, whatever
the input size. The trainer (curate_train/) reads exactly this, with pyarrow only.
Shards and manifests are written under a temporary name and renamed when complete (`curate.runfolder.temporary`):
a killed writer leaves no truncated shard or manifest under a final name.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.memory import release_memory
from curate.runfolder import atomic_write_text, temporary

SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("num_tokens", pa.int64()),  # int64: sums over a corpus must not wrap (polars sums in the column's type)
        ("num_bytes", pa.int64()),
        ("doc_id", pa.string()),
        ("domain", pa.dictionary(pa.int32(), pa.string())),
    ]
)
EOS_TOKEN = "<|endoftext|>"
MANIFEST = ".manifest.json"
LEGACY_MANIFEST = "manifest.json"  # its earlier name: still read, never written (readers took it for a data file)
META_PREFIX = "curate."
DEFAULT_MAX_TOKENS_PER_SHARD = 50_000_000
ROW_GROUP_TOKENS = 2_000_000


def use_jemalloc() -> None:
    """Switch this process's Arrow memory pool to jemalloc, before streaming token shards.

    Arrow's jemalloc pool returns memory after each row group; its default (mimalloc) keeps more of it, which made
    reading a 10x larger input cost ~40% more resident memory here. A process-wide switch, so it is an explicit call
    by the commands that stream shards (tokenize, mix), never a side effect of importing this module. Respects
    ARROW_DEFAULT_MEMORY_POOL.
    """
    import os

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or pa.default_memory_pool().backend_name == "jemalloc":
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, AttributeError):  # a pyarrow build without jemalloc
        pass


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenizerInfo:
    """What a shard set says about the tokenizer that made it (so a trainer can refuse a mismatch)."""

    sha256: str
    vocab_size: int
    eos_id: int
    eos_token: str = EOS_TOKEN

    def metadata(self) -> dict[bytes, bytes]:
        return {
            f"{META_PREFIX}{k}".encode(): str(v).encode()
            for k, v in (
                ("tokenizer_sha256", self.sha256),
                ("vocab_size", self.vocab_size),
                ("eos_id", self.eos_id),
                ("eos_token", self.eos_token),
            )
        }

    def to_dict(self) -> dict:
        return {
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "eos_token": self.eos_token,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TokenizerInfo:
        return cls(data["sha256"], int(data["vocab_size"]), int(data["eos_id"]), data.get("eos_token", EOS_TOKEN))


def load_tokenizer(path: str | Path):
    """A `tokenizers` tokenizer.json and its TokenizerInfo; the EOS token must be in its vocabulary."""
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such tokenizer file")
    tokenizer = Tokenizer.from_file(str(path))
    eos_id = tokenizer.token_to_id(EOS_TOKEN)
    if eos_id is None:
        raise ValueError(f"{path}: the tokenizer has no {EOS_TOKEN} token; train one with `curate tokenizer train`")
    info = TokenizerInfo(file_sha256(path), tokenizer.get_vocab_size(with_added_tokens=True), eos_id)
    return tokenizer, info


class ShardWriter:
    """Writes rows to bounded shards and the manifest; use as a context manager.

    Rows arrive as (input_ids with EOS, num_bytes, doc_id, domain). A shard closes once it holds
    `max_tokens_per_shard` tokens; row groups are flushed every ROW_GROUP_TOKENS so memory stays flat. An exception
    inside the `with` discards the open shard and writes no manifest.
    """

    def __init__(
        self,
        out_dir: str | Path,
        tokenizer: TokenizerInfo,
        max_tokens_per_shard: int = DEFAULT_MAX_TOKENS_PER_SHARD,
        prefix: str = "shard",
    ):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.tokenizer, self.max_tokens, self.prefix = tokenizer, max_tokens_per_shard, prefix
        self.shards: list[dict] = []
        self._writer: pq.ParquetWriter | None = None
        self._reset()
        self._current: dict[str, Any] = {}  # the open shard's manifest entry ({} when none is open)
        self._closed = False  # a second close (the `with` after an explicit close) does nothing

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):05d}.parquet"
        schema = SCHEMA.with_metadata(self.tokenizer.metadata())
        self._writer = pq.ParquetWriter(temporary(self.out / name), schema, compression="zstd")
        self._current = {"file": name, "rows": 0, "tokens": 0, "bytes": 0, "domains": {}}

    def _reset(self) -> None:
        # token ids go into one flat int32 buffer + offsets: Arrow builds the list column without a Python object
        # per token (nested Python lists cost several times the tokenizer's own time)
        self._flat, self._offsets = array("i"), array("i", [0])
        self._num_tokens, self._num_bytes = array("q"), array("q")
        self._doc_ids: list[str] = []
        self._domains: list[str] = []
        self._buffer_tokens = 0

    def _flush(self) -> None:
        if not self._doc_ids:
            return
        ids = pa.ListArray.from_arrays(pa.array(self._offsets, pa.int32()), pa.array(self._flat, pa.int32()))
        arrays = [
            ids,
            pa.array(self._num_tokens, pa.int64()),
            pa.array(self._num_bytes, pa.int64()),
            pa.array(self._doc_ids, pa.string()),
            pa.array(self._domains, pa.string()).dictionary_encode(),
        ]
        assert self._writer is not None, "rows are only buffered while a shard is open"
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA))
        self._reset()
        release_memory()

    def _close_shard(self) -> None:
        if self._writer is None:
            return
        self._flush()
        self._writer.close()
        self._writer = None
        path = self.out / self._current["file"]
        self._current["sha256"] = file_sha256(temporary(path))
        os.replace(temporary(path), path)
        self.shards.append(self._current)
        self._current = {}

    def abort(self) -> None:
        """Drop the open shard (closed shards stay; no manifest names them)."""
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            temporary(self.out / self._current["file"]).unlink(missing_ok=True)
        self._reset()
        self._current = {}

    def write(self, input_ids, num_bytes: int, doc_id: str, domain: str | None) -> None:
        if self._writer is None:
            self._open()
        domain = domain or "other"
        n = len(input_ids)
        self._flat.extend(input_ids)
        self._offsets.append(len(self._flat))
        self._num_tokens.append(n)
        self._num_bytes.append(num_bytes)
        self._doc_ids.append(doc_id)
        self._domains.append(domain)
        self._buffer_tokens += n
        shard = self._current
        shard["rows"] += 1
        shard["tokens"] += n
        shard["bytes"] += num_bytes
        per = shard["domains"].setdefault(domain, {"rows": 0, "tokens": 0})
        per["rows"] += 1
        per["tokens"] += n
        if self._buffer_tokens >= ROW_GROUP_TOKENS:
            self._flush()
        if shard["tokens"] >= self.max_tokens:
            self._close_shard()

    def close(self, write_manifest: bool = True) -> dict | None:
        if self._closed:
            return None
        self._closed = True
        self._close_shard()
        if not write_manifest:
            return None
        manifest = build_manifest(self.tokenizer, self.shards)
        write_manifest_file(self.out, manifest)
        return manifest


def build_manifest(tokenizer: TokenizerInfo, shards: list[dict]) -> dict:
    totals: dict[str, Any] = {"rows": 0, "tokens": 0, "bytes": 0, "domains": {}}
    for shard in shards:
        for key in ("rows", "tokens", "bytes"):
            totals[key] += shard[key]
        for domain, counts in shard["domains"].items():
            per = totals["domains"].setdefault(domain, {"rows": 0, "tokens": 0})
            per["rows"] += counts["rows"]
            per["tokens"] += counts["tokens"]
    return {"format": "curate-token-shards/2", "tokenizer": tokenizer.to_dict(), "shards": shards, "totals": totals}


def write_manifest_file(tokens_dir: str | Path, manifest: dict) -> Path:
    """.manifest.json, whole or not at all: the file readers trust to list complete shards."""
    return atomic_write_text(Path(tokens_dir) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))


def manifest_path(tokens_dir: str | Path) -> Path:
    """The manifest of a token directory: `.manifest.json`, or `manifest.json` in a folder written before."""
    path = Path(tokens_dir) / MANIFEST
    legacy = path.with_name(LEGACY_MANIFEST)
    return legacy if not path.is_file() and legacy.is_file() else path


def read_manifest(tokens_dir: str | Path) -> dict:
    path = manifest_path(tokens_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{tokens_dir}: no {MANIFEST} (not a token directory made by curate)")
    return json.loads(path.read_text())


def iter_batches(path, columns: list[str] | None = None, batch_size: int = 1024):
    """Record batches of a Parquet file one row group at a time: pyarrow's own iter_batches may buffer the whole
    file ahead, so memory would grow with the input."""
    parquet = pq.ParquetFile(path, pre_buffer=False)
    for group in range(parquet.num_row_groups):
        yield from parquet.read_row_group(group, columns=columns).to_batches(max_chunksize=batch_size)


def iter_rows(tokens_dir: str | Path, columns: list[str] | None = None, batch_size: int = 1024) -> Iterator[dict]:
    """Rows of a token directory in manifest order, one batch in memory at a time."""
    tokens_dir = Path(tokens_dir)
    for shard in read_manifest(tokens_dir)["shards"]:
        for batch in iter_batches(tokens_dir / shard["file"], columns=columns, batch_size=batch_size):
            yield from batch.to_pylist()


def encode_documents(
    tokenizer,
    eos_id: int,
    docs: Iterable[tuple[str, str, str | None]],
    batch_size: int = 256,
    batch_chars: int = 2_000_000,
):
    """(doc_id, text, domain) → (input_ids + [EOS], num_bytes, doc_id, domain), batched through encode_batch.

    A batch closes at `batch_size` documents or `batch_chars` characters, whichever comes first, so a run of huge
    documents cannot make one batch (and the memory it needs) arbitrarily large.
    """
    batch: list[tuple[str, str, str | None]] = []
    chars = 0

    def flush():
        encodings = tokenizer.encode_batch([text for _, text, _ in batch], add_special_tokens=False)
        for (doc_id, text, domain), enc in zip(batch, encodings):
            ids = enc.ids
            ids.append(eos_id)
            yield ids, len(text.encode("utf-8")), doc_id, domain
        batch.clear()

    for item in docs:
        batch.append(item)
        chars += len(item[1])
        if len(batch) >= batch_size or chars >= batch_chars:
            yield from flush()
            chars = 0
    if batch:
        yield from flush()
