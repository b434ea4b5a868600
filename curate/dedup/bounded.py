"""The dedup cluster phase in memory set by `max_memory`, whatever the number of documents: the decisions of
`steps.decide` and the kept-pointer resolution of `DedupCluster`, computed over files in the dedup workdir
(`cluster/`, deleted at the end), with the same remove/<rank>.parquet and summary counts as the in-memory path.

  exact, URL   (key, id hash, index) rows hash-partitioned by key, about a chunk each; per partition a running
               table of each key's smallest (id hash, index), so a key with millions of copies costs one row, then
               a second read sends every other member to it
  near         the LSH pairs with exact/URL duplicates standing for their survivor (a join by index range),
               connected components (curate.dedup.components), then groups by component label as above
  kept ids     (curate.dedup.removals) pointers followed to a kept document, ids joined by index range from the
               staged documents, rows written per task in index order
Per document state (reason, the document it was found to duplicate) lives in one file per range of documents.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.dedup.components import EDGE, POINTER, label_components, pointers, relabel
from curate.dedup.removals import write_removals
from curate.dedup.spill import Column, Dense, Plan, Spill, array_rows, hash_part, release, walk

ROW = np.dtype([("k", "<u8"), ("r", "<u8"), ("i", "<i8")])  # group key, id hash (the rank), document index


@dataclass(frozen=True)
class Inputs:
    """What phases 1 and 2 left: keys per task, pairs per band, staged documents per task."""

    keys: list[Path]
    pairs: list[Path]
    staged: Path
    offsets: np.ndarray  # first document of each task, then the total

    @classmethod
    def find(cls, workdir: Path, staged: Path, near: bool = True) -> Inputs:
        keys = sorted((workdir / "keys").glob("*.npz"))
        pairs = sorted((workdir / "pairs").glob("*.npy")) if near else []
        counts = [array_rows(k, "id") for k in keys]
        return cls(keys, pairs, staged, np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64))

    @property
    def docs(self) -> int:
        return int(self.offsets[-1])

    def pair_count(self) -> int:
        return sum(array_rows(p) for p in self.pairs)


def cluster(workdir: Path, staged: Path, dedup, max_memory: int) -> dict[str, int]:
    """Decide and write remove/<rank>.parquet like DedupCluster's in-memory path; returns the count per reason."""
    inputs = Inputs.find(workdir, staged, dedup.near)
    work = workdir / "cluster"
    shutil.rmtree(work, ignore_errors=True)  # a killed attempt's files: this step's own
    plan = Plan.of(max_memory, inputs.docs)
    reason = Dense(work / "reason", plan, np.int8, 0)
    first = Dense(work / "first", plan, np.int64, -1)
    if dedup.exact:
        _group(_exact_rows(inputs, plan), plan, 1, reason, first, work)
    if dedup.url:
        _group(_url_rows(inputs, plan, reason), plan, 2, reason, first, work)
    if dedup.near and inputs.docs:
        labels = _components(inputs, plan, reason, first, work)
        _group(_near_rows(inputs, plan, reason, labels), plan, 3, reason, first, work)
    counts = write_removals(inputs, plan, reason, first, work, max_memory)
    shutil.rmtree(work)
    return counts


def _rows(keys: np.ndarray, ranks: np.ndarray, index: np.ndarray) -> np.ndarray:
    out = np.empty(len(index), ROW)
    out["k"], out["r"], out["i"] = keys, ranks, index
    return out


def _exact_rows(inputs: Inputs, plan: Plan) -> Iterator[np.ndarray]:
    with Column(inputs.keys, "text") as text, Column(inputs.keys, "id") as ids:
        for lo, hi, _ in walk(plan):
            yield _rows(text.take(hi - lo), ids.take(hi - lo), np.arange(lo, hi))


def _url_rows(inputs: Inputs, plan: Plan, reason: Dense) -> Iterator[np.ndarray]:
    """The documents still there after the exact rule that have a URL."""
    with Column(inputs.keys, "url") as url, Column(inputs.keys, "has_url") as has, Column(inputs.keys, "id") as ids:
        for lo, hi, (gone,) in walk(plan, reason):
            keys, present, ranks = url.take(hi - lo), has.take(hi - lo), ids.take(hi - lo)
            alive = np.flatnonzero((gone == 0) & present.astype(bool))
            yield _rows(keys[alive], ranks[alive], alive + lo)


def _near_rows(inputs: Inputs, plan: Plan, reason: Dense, labels: Dense) -> Iterator[np.ndarray]:
    """The documents still there after the exact and URL rules, keyed by component label."""
    with Column(inputs.keys, "id") as ids:
        for lo, hi, (gone, label) in walk(plan, reason, labels):
            ranks = ids.take(hi - lo)
            alive = np.flatnonzero(gone == 0)
            yield _rows(label[alive].astype(np.uint64), ranks[alive], alive + lo)


def _components(inputs: Inputs, plan: Plan, reason: Dense, first: Dense, work: Path) -> Dense:
    """Component label of every document: the LSH pairs, each exact/URL duplicate standing for the document it
    was found to duplicate (as in `decide`), through curate.dedup.components."""
    pairs = Spill(work / "pairs", EDGE)
    with Column(inputs.pairs) as column:
        while len(chunk := column.take(plan.chunk)):
            records = np.empty(len(chunk), EDGE)
            records["a"], records["b"] = chunk[:, 0], chunk[:, 1]
            pairs.write(plan.range_of(records["a"]), records)

    def represent(r: int) -> np.ndarray:
        lo, hi = plan.bounds(r)
        return np.where(reason.load(r) > 0, first.load(r), np.arange(lo, hi))

    edges = relabel(pairs, represent, plan, work / "represent", both_ways=True)
    labels, _ = label_components(edges, plan, work / "components")
    return labels


def _first_per_key(rows: np.ndarray) -> np.ndarray:
    """The row of each key with the smallest (id hash, index): the group's survivor, as `steps._groups` picks it."""
    rows = rows[np.lexsort((rows["i"], rows["r"], rows["k"]))]
    return rows[np.concatenate([[True], rows["k"][1:] != rows["k"][:-1]])]


def _survivors(chunks: Iterator[np.ndarray]) -> np.ndarray:
    """The survivor row of every key in a partition, sorted by key: one row per distinct key in memory."""
    best = np.zeros(0, ROW)
    for chunk in chunks:
        best = _first_per_key(np.concatenate([best, _first_per_key(chunk)]))
    return best


def _group(chunks: Iterator[np.ndarray], plan: Plan, code: int, reason: Dense, first: Dense, work: Path) -> None:
    """Rows grouped by key; every member but the survivor gets `code` and the survivor as the document it was found
    to duplicate. Rows are hash-partitioned first, so a partition's distinct keys fit beside a chunk."""
    parts = plan.parts(plan.docs)
    rows = Spill(work / "rows", ROW)
    for chunk in chunks:
        rows.write(hash_part(chunk["k"], parts), chunk)
    decisions = Spill(work / "decisions", POINTER)
    for part in range(parts):
        release()
        best = _survivors(rows.read(part, plan.chunk))
        for chunk in rows.read(part, plan.chunk):
            kept = best["i"][np.searchsorted(best["k"], chunk["k"])]
            gone = chunk["i"] != kept
            decisions.write(plan.range_of(chunk["i"][gone]), pointers(chunk["i"][gone], kept[gone]))
        del best
    rows.drop()
    for r in range(plan.ranges):
        if not decisions.has(r):
            continue
        lo, _ = plan.bounds(r)
        gone, found = reason.load(r), first.load(r)
        for chunk in decisions.read(r, plan.chunk):
            gone[chunk["x"] - lo], found[chunk["x"] - lo] = code, chunk["t"]
        reason.save(r, gone)
        first.save(r, found)
    decisions.drop()
