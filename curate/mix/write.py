"""Writing the planned rows: validation in input order, training in two passes through temporary files.

Training rows come out in a random interleave, so gathering them per output window would re-read every input shard
once per window. Instead (a) each input row group is read exactly once and every selected row (each repetition) is
scattered to its final offset in flat temporary files, then (b) those files are read front to back in bounded chunks
and fed to `ShardWriter`. Cost: temporary disk the size of the training set (4 bytes a token) and one extra read of
it; memory stays at one row group + one chunk + one output row group + the plan's index arrays.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.mix.plan import Pool, TrainOrder
from curate.mix.spec import MixSpec
from curate.runfolder import RunError
from curate.tokens import ShardWriter

TMP = ".mix-tmp"  # the temporary files' folder inside the mix folder; removed at the end
READ_CHUNK_TOKENS = 4_000_000  # tokens per read of the temporary file in the final pass


def _row_groups(pf: pq.ParquetFile) -> np.ndarray:
    """First row of every row group, plus the total, as boundaries."""
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


def write_val(spec: MixSpec, pools: list[Pool], folder: Path) -> None:
    """Every validation row once, in input order (sources in file order, rows in manifest order)."""
    with ShardWriter(folder, spec.tokenizer, spec.max_tokens_per_shard) as writer:
        for source, pool in zip(spec.sources, pools):
            for k, shard in enumerate(source.manifest["shards"]):
                rows = pool.val_rows[k]
                if not len(rows):
                    continue
                pf = pq.ParquetFile(source.path / shard["file"])
                bounds = _row_groups(pf)
                for g in range(len(bounds) - 1):
                    local = rows[(rows >= bounds[g]) & (rows < bounds[g + 1])] - bounds[g]
                    if not len(local):
                        continue
                    table = pf.read_row_group(g).take(local)
                    for rec in table.to_pylist():
                        writer.write(rec["input_ids"], rec["num_bytes"], rec["doc_id"], rec["domain"])


def write_train(
    spec: MixSpec, pools: list[Pool], domain_names: list[str], order: TrainOrder, folder: Path, tmp: Path
) -> None:
    """The training rows in `order`, through temporary files in `tmp`, which is removed afterwards, even on error."""
    tmp.mkdir(exist_ok=True)
    try:
        tok_file, id_file = tmp / "tokens.i32", tmp / "doc_ids.bin"
        for file, size in ((tok_file, order.total_tokens * 4), (id_file, order.total_id_bytes)):
            with open(file, "wb") as f:
                f.truncate(size)
        _scatter(spec, pools, order, tok_file, id_file)
        with ShardWriter(folder, spec.tokenizer, spec.max_tokens_per_shard) as writer:
            _gather(writer, pools, domain_names, order, tok_file, id_file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _scatter(spec: MixSpec, pools: list[Pool], order: TrainOrder, tok_file: Path, id_file: Path) -> None:
    """Write every training row's tokens and doc_id at its final offset, reading each input row group once."""
    with open(tok_file, "r+b", buffering=0) as ftok, open(id_file, "r+b", buffering=0) as fid:
        for s, (source, pool) in enumerate(zip(spec.sources, pools)):
            positions = np.flatnonzero(order.src == s)
            if not len(positions):
                continue
            idx = order.idx[positions]
            shard_of = pool.shard[idx]
            row_of = pool.row[idx]
            by_row = np.lexsort((row_of, shard_of))  # group by shard, then row
            positions, shard_of, row_of, idx = positions[by_row], shard_of[by_row], row_of[by_row], idx[by_row]
            for k in np.unique(shard_of):
                in_shard = shard_of == k
                pos_k, row_k, idx_k = positions[in_shard], row_of[in_shard], idx[in_shard]
                file = source.path / source.manifest["shards"][int(k)]["file"]
                pf = pq.ParquetFile(file)
                bounds = _row_groups(pf)
                for g in range(len(bounds) - 1):
                    lo, hi = np.searchsorted(row_k, [bounds[g], bounds[g + 1]])
                    if lo == hi:
                        continue
                    table = pf.read_row_group(g, columns=["input_ids", "doc_id"])
                    ids = table.column("input_ids").combine_chunks()
                    offsets = ids.offsets.to_numpy()
                    values = ids.values.to_numpy()
                    doc_ids = table.column("doc_id").to_pylist()
                    for p, r, i in zip(pos_k[lo:hi], row_k[lo:hi] - bounds[g], idx_k[lo:hi]):
                        a, b = int(offsets[r]), int(offsets[r + 1])
                        if b - a != pool.tokens[i]:
                            raise RunError(f"{file}: row {r} has {b - a} tokens, num_tokens says {pool.tokens[i]}")
                        ftok.seek(int(order.tok_off[p]) * 4)
                        ftok.write(values[a:b].astype("<i4", copy=False).tobytes())
                        fid.seek(int(order.id_off[p]))
                        fid.write(doc_ids[r].encode("utf-8"))


def _gather(
    writer: ShardWriter,
    pools: list[Pool],
    domain_names: list[str],
    order: TrainOrder,
    tok_file: Path,
    id_file: Path,
) -> None:
    """Read the temporary files front to back in bounded chunks and write the rows in their final order."""
    n = len(order.src)
    tok_off, lengths, id_off, id_lengths = order.tok_off, order.lengths, order.id_off, order.id_lengths
    with open(tok_file, "rb") as ftok, open(id_file, "rb") as fid:
        start = 0
        while start < n:
            stop = int(np.searchsorted(tok_off, tok_off[start] + READ_CHUNK_TOKENS, side="left"))
            stop = min(max(stop, start + 1), n)
            t0 = int(tok_off[start])
            ftok.seek(t0 * 4)
            t1 = int(tok_off[stop - 1] + lengths[stop - 1])
            tokens = np.frombuffer(ftok.read((t1 - t0) * 4), dtype="<i4")
            i0, i1 = int(id_off[start]), int(id_off[stop - 1] + id_lengths[stop - 1])
            fid.seek(i0)
            id_bytes = fid.read(i1 - i0)
            for p in range(start, stop):
                pool = pools[order.src[p]]
                i = order.idx[p]
                a = int(tok_off[p]) - t0
                b = int(id_off[p]) - i0
                writer.write(
                    tokens[a : a + lengths[p]].tolist(),
                    int(pool.nbytes[i]),
                    id_bytes[b : b + id_lengths[p]].decode("utf-8"),
                    domain_names[pool.domain[i]],
                )
            start = stop
