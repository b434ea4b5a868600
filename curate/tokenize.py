"""Documents → token shards: tokenizer training, `curate tokenize`, and the `tokenize` pipeline stage.

Tokenization goes through `tokenizers`' `encode_batch` (Rust, all cores) in batches, and rows stream into bounded
shards (curate.tokens.ShardWriter), so memory does not grow with the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from curate.runfolder import Contract, RunError, atomic_write_text, prepare
from curate.settings import expand
from curate.tokens import (
    DEFAULT_MAX_TOKENS_PER_SHARD,
    EOS_TOKEN,
    LEGACY_MANIFEST,
    MANIFEST,
    ShardWriter,
    TokenizerInfo,
    build_manifest,
    encode_documents,
    iter_batches,
    load_tokenizer,
    use_jemalloc,
    write_manifest_file,
)

# What `curate tokenize` writes in its folder: --overwrite removes these, never anything else, and only where its
# marker (written first) or a manifest says curate made the folder (a folder written before .manifest.json too).
TOKENS = Contract(
    "tokenize",
    ("shard-[0-9]*.parquet", MANIFEST, LEGACY_MANIFEST),
    markers=(".curate-tokenize", MANIFEST, LEGACY_MANIFEST),
)
PART = "manifest-r{rank:05d}.part.json"  # a pipeline task's shards, until the run merges them into .manifest.json


def document_files(run_dirs: list[str | Path]) -> list[Path]:
    """documents/*.parquet of run folders (from `curate run` or `curate ingest`), in a stable order."""
    files = []
    for run_dir in run_dirs:
        folder = Path(run_dir) / "documents"
        found = sorted(folder.glob("*.parquet"))
        if not found:
            raise RunError(f"{run_dir}: no documents/*.parquet (not a `curate run` or `curate ingest` output)")
        files += found
    return files


def iter_documents(files: list[Path], batch_size: int = 512) -> Iterator[tuple[str, str, str | None]]:
    """(id, text, domain) of every document, one Parquet batch in memory at a time."""
    for path in files:
        names = pq.read_schema(path).names
        columns = ["id", "text"] + (["domain"] if "domain" in names else [])
        for batch in iter_batches(path, columns=columns, batch_size=batch_size):
            data = batch.to_pydict()
            domains = data.get("domain") or [None] * len(data["id"])
            yield from zip(data["id"], data["text"], domains)


def train_bpe(
    texts: Iterable[str], vocab_size: int, output: str | Path, min_frequency: int = 2, progress: bool = False
) -> Path:
    """Byte-level BPE (GPT-2 style, no normalization: decoding gives back the exact text) with `<|endoftext|>`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 300:
        raise ValueError(f"--vocab-size {vocab_size}: must be at least 300 (256 bytes + merges + special)")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(output))
    return output


def train_tokenizer(run_dirs: list[str | Path], vocab_size: int, output: str | Path, min_frequency: int = 2) -> Path:
    """`curate tokenizer train`: a byte-level BPE on every document of the run folders."""
    texts = (text for _, text, _ in iter_documents(document_files(run_dirs)))
    return train_bpe(texts, vocab_size, output, min_frequency, progress=True)


def tokenize_runs(
    run_dirs: list[str | Path],
    tokenizer_path: str | Path,
    out_dir: str | Path,
    max_tokens_per_shard: int = DEFAULT_MAX_TOKENS_PER_SHARD,
    overwrite: bool = False,
    progress: bool = False,
) -> dict:
    """Every document of the run folders → OUT_DIR/shard-*.parquet + .manifest.json; returns the manifest."""
    from tqdm import tqdm

    files = document_files(run_dirs)
    out = Path(out_dir)
    prepare(out, TOKENS, overwrite)
    use_jemalloc()
    tokenizer, info = load_tokenizer(tokenizer_path)
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    with (
        ShardWriter(out, info, max_tokens_per_shard) as writer,
        tqdm(total=total, unit=" docs", disable=not progress, mininterval=1.0) as bar,
    ):
        for row in encode_documents(tokenizer, info.eos_id, iter_documents(files)):
            writer.write(*row)
            bar.update()
    return json.loads((out / MANIFEST).read_text())


class Tokenize(PipelineStep):
    """The pipeline's last stage: kept documents also go to OUTPUT/tokens/ as token shards (never rejects).

    Each task writes its own shards and partial manifest; the run merges them into tokens/.manifest.json.
    """

    name = "🔢 Tokenize"
    type = "🔢 - TOKENIZER"

    def __init__(
        self,
        rejects=None,
        tokenizer: str = "",
        output: str | None = None,
        max_tokens_per_shard: int = DEFAULT_MAX_TOKENS_PER_SHARD,
        batch_size: int = 256,
    ):
        super().__init__()
        self.tokenizer_path = expand(tokenizer)
        self.output = output
        self.max_tokens_per_shard, self.batch_size = max_tokens_per_shard, batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.output is None:
            raise ValueError("the tokenize stage needs its output folder (the pipeline gives OUTPUT/tokens)")
        output = Path(self.output)
        use_jemalloc()
        tokenizer, info = load_tokenizer(self.tokenizer_path)
        pending: list = []
        with ShardWriter(output, info, self.max_tokens_per_shard, prefix=f"shard-r{rank:05d}") as writer:

            def flush():
                with self.track_time(unit="batch"):
                    triples = [(d.id, d.text, d.metadata.get("domain")) for d in pending]
                    for row in encode_documents(tokenizer, info.eos_id, triples, batch_size=len(triples)):
                        writer.write(*row)
                        self.stat_update("tokens", value=len(row[0]))
                yield from pending
                pending.clear()

            for doc in data:
                self.stat_update(StatHints.total, StatHints.forwarded)
                pending.append(doc)
                if len(pending) >= self.batch_size:
                    yield from flush()
            if pending:
                yield from flush()
            writer.close(write_manifest=False)
            atomic_write_text(
                output / PART.format(rank=rank), json.dumps({"tokenizer": info.to_dict(), "shards": writer.shards})
            )


def merge_manifests(tokens_dir: str | Path) -> dict | None:
    """Join the tasks' partial manifests (in rank order) into .manifest.json, then remove them.

    Safe to repeat after a kill: once .manifest.json exists it is the merge (the parts are only removed after it was
    written whole), so a rerun only removes the parts left over.
    """
    tokens_dir = Path(tokens_dir)
    parts = sorted(tokens_dir.glob("manifest-r*.part.json"))
    if (tokens_dir / MANIFEST).exists():
        manifest = json.loads((tokens_dir / MANIFEST).read_text())
    elif parts:
        loaded = [json.loads(p.read_text()) for p in parts]
        shards = [s for p in loaded for s in p["shards"]]
        manifest = build_manifest(TokenizerInfo.from_dict(loaded[0]["tokenizer"]), shards)
        write_manifest_file(tokens_dir, manifest)
    else:
        return None
    for p in parts:
        p.unlink()
    return manifest


def check_params(params: dict, where: str) -> None:
    """The tokenizer must load now, not after the crawl has been read and filtered."""
    from curate.limits import check_tokenizer

    path = params.get("tokenizer") or ""
    if not path:
        raise ValueError(f"{where}.tokenizer: required: a tokenizer.json (e.g. ${{CURATE_DATA}}/tokenizer/...)")
    expanded = expand(path)
    if "$" in expanded:
        raise ValueError(f"{where}.tokenizer: {path!r} names an environment variable that is not set")
    check_tokenizer(expanded, f"{where}.tokenizer")
