"""Uniform document samples of token shards in bounded memory: the document index, the per-epoch permutation, the
window reader behind TrainStream, and the eval set's fixed sample.

Documents are numbered 0..N-1 in (dir, shard, row group, row) order; the row counts come from Parquet metadata, so
the index costs O(row groups), not O(documents). A permutation of those numbers is what decides which documents a
run sees: it is held as one int array of N (4 bytes a document, 8 above 2**31 documents; drawn as int64, so 12
bytes a document for a moment while it is drawn), and a number maps back to (row group, row) by a binary search of the
cumulative row counts. Reading a window of the permutation reads every row group holding one of its documents once
(the `input_ids` column only), takes the needed rows and releases the group: in memory at a time are one row group
and the window's documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# What a run trains and evaluates on, as a version: a change to how documents are drawn changes results, so callers
# that cache finished runs (`curate compare`) key them by it.
DATA_FORMAT = "uniform-documents/1"
# documents per read window. A window reads each row group holding one of its documents once, so a row group is read
# at most ceil(N / WINDOW_DOCS) times an epoch (only the windows a run reaches are read); memory is one row group
# plus the window's documents (~16k × mean document length × 4 bytes: 64 MiB at 1,000 tokens a document).
WINDOW_DOCS = 16_384
# the eval sample's permutation seed: fixed, never the run's, so every run and every candidate evaluates on the
# same documents of an eval set
EVAL_SEED = 0x5EED_E7A1


class DocumentIndex:
    """Every document of a list of row groups ("units"), numbered in unit order; built from metadata only."""

    def __init__(self, units: list[tuple[Path, int]], rows: list[int], tokens: int):
        self.units = units
        self.rows = np.asarray(rows, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)
        self.documents = int(self.starts[-1])
        self.tokens = tokens

    def locate(self, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unit, row) of each document number."""
        refs = np.asarray(refs, dtype=np.int64)
        unit = np.searchsorted(self.starts, refs, side="right") - 1
        return unit, refs - self.starts[unit]

    def fingerprint(self) -> str:
        """A digest of the row groups' file names and row counts: a checkpoint's data position is only valid for the
        same documents in the same order."""
        h = hashlib.sha256(self.rows.tobytes())
        for path, group in self.units:
            h.update(f"{path.name}:{group};".encode())
        return h.hexdigest()[:16]


def permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """Epoch `epoch`'s order of the n document numbers, drawn from (seed, epoch)."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm.astype(np.int32) if n < 2**31 else perm


def read_group(path: Path, group: int, columns: list[str]) -> pa.Table:
    return pq.ParquetFile(path, pre_buffer=False).read_row_group(group, columns=columns)


def list_column(column) -> tuple[np.ndarray, np.ndarray]:
    """A list column's flat values and its offsets from 0."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = arr.offsets.to_numpy().astype(np.int64)
    return arr.flatten().to_numpy(), offsets - offsets[0]


def take_rows(index: DocumentIndex, refs: np.ndarray, columns: list[str]) -> Iterator[tuple[np.ndarray, pa.Table]]:
    """For each row group holding documents of `refs` (in unit order), once: (their positions in refs, their rows of
    `columns`, in that order). The group itself is released before the next is read."""
    unit, row = index.locate(refs)
    order = np.argsort(unit, kind="stable")
    for where in np.split(order, np.flatnonzero(np.diff(unit[order])) + 1):
        if not len(where):
            continue
        path, group = index.units[int(unit[where[0]])]
        yield where, read_group(path, group, columns).take(pa.array(row[where]))


class Window:
    """Documents refs[0..n-1] of a permutation, readable by their position in it: doc(i) is a view, not a copy."""

    def __init__(self, index: DocumentIndex, refs: np.ndarray):
        n = len(refs)
        self.part = np.zeros(n, dtype=np.int64)
        self.start = np.zeros(n, dtype=np.int64)
        self.end = np.zeros(n, dtype=np.int64)
        self.parts: list[np.ndarray] = []
        for where, table in take_rows(index, refs, ["input_ids"]):
            values, offsets = list_column(table.column("input_ids"))
            self.part[where] = len(self.parts)
            self.start[where], self.end[where] = offsets[:-1], offsets[1:]
            self.parts.append(values)
        pa.default_memory_pool().release_unused()

    def __len__(self) -> int:
        return len(self.part)

    def doc(self, i: int) -> np.ndarray:
        return self.parts[self.part[i]][self.start[i] : self.end[i]]


def eval_sample(lengths: np.ndarray, max_tokens: int) -> np.ndarray:
    """The document numbers an eval set uses, ascending: all when they fit in max_tokens; else the longest prefix of
    a fixed permutation (EVAL_SEED) that fits, at least one document. A prefix, not a first-fit packing, so the
    sample stays uniform (skipping what does not fit would favour short documents)."""
    n = len(lengths)
    if int(lengths.sum()) <= max_tokens:
        return np.arange(n, dtype=np.int64)
    perm = np.random.default_rng(EVAL_SEED).permutation(n)
    fits = np.cumsum(lengths[perm]) <= max_tokens
    k = max(int(np.argmin(fits)), 1)  # the first that does not fit (there is one: the total does not fit)
    return np.sort(perm[:k])
