"""Dedup phase 2: documents that share a MinHash band key become candidate pairs, in memory set by `max_memory`.

A band task reads every document's band keys once, a chunk at a time, and spills (key, document index) records into
partition files by key hash, sized so one partition fits the budget. Each partition is then read twice, a chunk at
a time: first for each key's smallest document index (a running table: a key shared by a million exact copies costs
one row), then to pair every other member with it. A bucket of k documents becomes a star of k - 1 pairs around
its first member: the same connected components as any other spanning tree of the bucket, and the shortest paths
for the cluster phase's label propagation.

Memory: the chunk being spilled, then the running table of one partition (its distinct keys); neither grows with the
corpus. Disk: 16 bytes per document per band while the task runs, then 16 bytes per pair.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.dedup.spill import Column, Spill, array_rows, hash_part, release

RECORD = np.dtype([("k", "<u8"), ("i", "<i8")])
RECORD_BYTES = 64  # a spilled record while a partition is reduced: the record, its sort order, the sorted copies


class LSHBuckets(PipelineStep):
    """Phase 2: for each band this task owns, star pairs of documents with the same band key → pairs/BAND-PART.npy."""

    name = "🪣 LSH buckets"
    type = "🫂 - DEDUP"

    def __init__(self, workdir: str, bands: int, max_memory: int = 2**30):
        super().__init__()
        self.workdir, self.bands, self.max_memory = workdir, bands, max_memory

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        workdir = Path(self.workdir)
        out = workdir / "pairs"
        out.mkdir(parents=True, exist_ok=True)
        files = sorted((workdir / "keys").glob("*.npz"))
        mine = list(range(rank, self.bands, world_size))
        docs = sum(array_rows(f, "bands") for f in files)
        parts = max(1, math.ceil(docs * RECORD_BYTES / self.max_memory))
        chunk = max(1024, self.max_memory // (4 * RECORD_BYTES * max(len(mine), 1)))
        spill = Spill(workdir / "buckets" / f"{rank:05d}", RECORD)
        spill.drop()  # a killed attempt's records: appending to them would pair documents twice
        spill.folder.mkdir(parents=True)
        with self.track_time():
            _spill_bands(files, self.bands, mine, parts, chunk, spill)
            for slot, band in enumerate(mine):
                count = 0
                for part in range(parts):
                    pairs = _star_pairs(spill, slot * parts + part, chunk)
                    np.save(out / f"{band:03d}-{part:05d}.npy", pairs)
                    count += len(pairs)
                    release()
                self.stat_update("pairs", value=count)
            spill.drop()
        if data:
            yield from data


def _spill_bands(files: list[Path], width: int, bands: list[int], parts: int, chunk: int, spill: Spill) -> None:
    """Every document's key in each of `bands`, with its index, into partition band_slot * parts + hash(key)."""
    start = 0
    with Column(files, "bands") as column:
        while len(block := column.take(chunk).reshape(-1, width)):  # (rows, every band), one band: 1-D
            index = np.arange(start, start + len(block), dtype=np.int64)
            start += len(block)
            for slot, band in enumerate(bands):
                records = np.empty(len(block), RECORD)
                records["k"], records["i"] = block[:, band], index
                spill.write(slot * parts + hash_part(records["k"], parts), records)


def _first_of_each_key(spill: Spill, part: int, chunk: int) -> np.ndarray:
    """(key, smallest index) for every key of the partition, sorted by key."""
    table = np.zeros(0, RECORD)
    for records in spill.read(part, chunk):
        merged = np.concatenate([table, records])
        merged = merged[np.lexsort((merged["i"], merged["k"]))]
        first = np.concatenate([[True], merged["k"][1:] != merged["k"][:-1]])
        table = merged[first]
    return table


def _star_pairs(spill: Spill, part: int, chunk: int) -> np.ndarray:
    """(first member, member) for every member of a bucket but its first, as (P, 2) int64."""
    table = _first_of_each_key(spill, part, chunk)
    pieces = []
    for records in spill.read(part, chunk):
        hub = table["i"][np.searchsorted(table["k"], records["k"])]
        other = records["i"] != hub
        pieces.append(np.stack([hub[other], records["i"][other]], axis=1))
    return np.concatenate(pieces).astype(np.int64) if pieces else np.zeros((0, 2), dtype=np.int64)
