"""Dedup as sharded datatrove steps that pass files, so no step needs every document in memory.

  phase 1, per task   DedupKeys          text key, URL key and MinHash band keys of each document → keys/<rank>.npz
                                         (the documents themselves go to staged/<rank>.parquet, in the same order)
  phase 2, per band   LSHBuckets         documents sharing a band key → pairs/<band>-<part>.npy (curate.dedup.buckets)
  phase 3, one task   DedupCluster       exact groups, then URL groups, then connected components of the pairs;
                                         one survivor per group → remove/<rank>.parquet (index, reason, kept id)
  phase 4, per task   StagedReader → DedupFilter → the stages after dedup
Survivor: the member with the smallest hash of its `id`, so the result does not depend on how inputs were sharded.
Memory of the cluster step: at most `max_memory` (default 1GiB) of working data, whatever the corpus, on top of the
process (~110 MiB: Python, numpy, pyarrow, datatrove). Held in memory (`decide`), the working data is ~330 MiB per
million documents with 1.7 LSH pairs each (33 bytes of keys and ~100 of id string per document, the pairs, the graph;
`bench/bench_dedup_bounded.py`); when that estimate (`in_memory_need`) is over `max_memory`, the same decisions are
made over files in the workdir instead (curate.dedup.bounded): at 10 M documents and 64MiB, ~200 MiB peak RSS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.base import BaseReader
from datatrove.utils.typeshelper import StatHints

from curate.dedup.keys import hash64, text_key, url_key
from curate.records import DUPLICATE_OF_KEY, reject

REASONS = {1: "exact_duplicate", 2: "url_duplicate", 3: "near_duplicate"}


class Dedup:
    """The `dedup` stage of a pipeline YAML: not a step itself, but where the pipeline splits into the phases."""

    def __init__(
        self,
        rejects=None,
        exact: bool = True,
        url: bool = True,
        near: bool = True,
        n_grams: int = 5,
        bands: int = 14,
        rows: int = 8,
        threshold: float | None = None,
        seed: int = 1,
        max_memory: int | str = "1GiB",
    ):
        from curate.dedup.spill import parse_size

        self.rejects = rejects
        self.max_memory, self.memory_bytes = max_memory, parse_size(max_memory)
        self.exact, self.url, self.near = exact, url, near
        self.n_grams, self.seed = n_grams, seed
        if threshold is not None:
            from curate.dedup.lsh import choose_bands_rows

            bands, rows = choose_bands_rows(threshold, bands * rows)
        self.bands, self.rows, self.threshold = bands, rows, threshold

    def describe(self) -> dict:
        return {
            "exact": self.exact,
            "url": self.url,
            "near": self.near,
            "n_grams": self.n_grams,
            "bands": self.bands,
            "rows": self.rows,
            "threshold": self.threshold,
            "seed": self.seed,
            "max_memory": self.max_memory,
        }


def check_params(params: dict, where: str) -> None:
    """What the declared ranges (curate.config) cannot say: a dedup with every method off does nothing; max_memory
    is a size (bytes, or a string like "512MiB") in the allowed range."""
    from curate.dedup.spill import check_memory

    if not (params.get("exact") or params.get("url") or params.get("near")):
        raise ValueError(f"{where}: exact, url and near are all off: nothing to do")
    if params.get("max_memory") is not None:
        check_memory(params["max_memory"], f"{where}.max_memory")


def rank_file(folder: Path, rank: int, suffix: str) -> Path:
    return folder / f"{rank:05d}{suffix}"


class DedupKeys(PipelineStep):
    """Phase 1: the keys of every document, in stream order, beside the staged documents."""

    name = "🔑 Dedup keys"
    type = "🫂 - DEDUP"

    def __init__(self, workdir: str, dedup: Dedup, batch_size: int = 256):
        super().__init__()
        self.workdir, self.dedup, self.batch_size = workdir, dedup, batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        hasher = None
        if self.dedup.near:
            from curate.dedup.minhash import MinHasher

            hasher = MinHasher(
                n_grams=self.dedup.n_grams, num_perm=self.dedup.bands * self.dedup.rows, seed=self.dedup.seed
            )
        texts, urls, ids, bands = [], [], [], []
        batch: list[Document] = []

        def flush():
            if hasher is not None and batch:
                from curate.dedup.minhash import band_keys

                with self.track_time(unit="batch"):
                    sigs = hasher.signatures([d.text for d in batch])
                    bands.append(band_keys(sigs, self.dedup.bands, self.dedup.rows))
            yield from batch
            batch.clear()

        for doc in data:
            self.stat_update(StatHints.total, StatHints.forwarded)
            texts.append(text_key(doc.text))
            key = url_key(doc.metadata.get("url"))
            urls.append(-1 if key is None else key)
            ids.append(hash64(doc.id))
            batch.append(doc)
            if len(batch) >= self.batch_size:
                yield from flush()
        yield from flush()
        folder = Path(self.workdir) / "keys"
        folder.mkdir(parents=True, exist_ok=True)
        partial = rank_file(folder, rank, ".npz.part")
        with open(partial, "wb") as f:
            np.savez(
                f,
                text=np.array(texts, dtype=np.uint64),
                url=np.array([0 if u == -1 else u for u in urls], dtype=np.uint64),
                has_url=np.array([u != -1 for u in urls], dtype=bool),
                id=np.array(ids, dtype=np.uint64),
                bands=np.concatenate(bands) if bands else np.zeros((0, self.dedup.bands), dtype=np.uint64),
            )
        partial.rename(rank_file(folder, rank, ".npz"))


def _load_keys(workdir: Path, field: str) -> tuple[np.ndarray, np.ndarray]:
    """A key array of every task, concatenated in rank order, and each task's offset into it."""
    files = sorted((workdir / "keys").glob("*.npz"))
    arrays = [np.load(f)[field] for f in files]
    counts = np.array([len(a) for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return (np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64)), offsets


def _groups(keys: np.ndarray, members: np.ndarray, rank_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For members grouped by equal key: (removed members, their group's survivor = smallest rank_key)."""
    if len(members) == 0:
        return members, members
    order = np.lexsort((rank_key[members], keys[members]))
    sorted_members, sorted_keys = members[order], keys[members][order]
    starts = np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])
    survivor_of = sorted_members[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
    removed = ~starts
    return sorted_members[removed], survivor_of[removed]


def band_pairs(bands: np.ndarray) -> np.ndarray:
    """Pairs of rows with the same key in some band ((N, bands) MinHash band keys): each band's rows sorted by key,
    neighbours with equal keys paired, so a bucket of k rows is a chain of k − 1 pairs (its component is the same)."""
    parts = []
    for band in range(bands.shape[1]):
        keys = bands[:, band]
        order = np.argsort(keys, kind="stable")
        same = keys[order][1:] == keys[order][:-1]
        parts.append(np.stack([order[:-1][same], order[1:][same]], axis=1).astype(np.int64))
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)


def decide(keys: dict[str, np.ndarray], pairs: np.ndarray, dedup: Dedup) -> tuple[np.ndarray, np.ndarray]:
    """Which documents go: exact groups, then URL groups, then connected components of the LSH pairs, one survivor
    (smallest id hash) per group. keys: id (required), text, url and has_url (when those rules are on), one entry per
    document; pairs: (P, 2) row indices. Returns (reason code per document: 0 kept, 1 exact, 2 URL, 3 near; the row
    it was found to duplicate, -1 when kept). Shared by the cluster phase and `curate ablate`, which decides again
    for each subset of the documents."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rank_key = keys["id"]
    total = len(rank_key)
    reason = np.zeros(total, dtype=np.int8)
    kept = np.full(total, -1, dtype=np.int64)
    everyone = np.arange(total)
    if dedup.exact:
        gone, survivor = _groups(keys["text"], everyone, rank_key)
        reason[gone], kept[gone] = 1, survivor
    if dedup.url:
        alive = everyone[(reason == 0) & keys["has_url"].astype(bool)]
        gone, survivor = _groups(keys["url"], alive, rank_key)
        reason[gone], kept[gone] = 2, survivor
    if dedup.near and total:
        represent = np.where(reason > 0, kept, everyone)  # an exact/URL duplicate stands for its survivor
        a, b = represent[pairs[:, 0]], represent[pairs[:, 1]]
        keep = a != b
        graph = coo_matrix((np.ones(int(keep.sum()), dtype=np.int8), (a[keep], b[keep])), shape=(total, total))
        _, component = connected_components(graph, directed=False)
        alive = everyone[reason == 0]
        gone, survivor = _groups(component.astype(np.uint64), alive, rank_key)
        reason[gone], kept[gone] = 3, survivor
    return reason, kept


DOC_BYTES, PAIR_BYTES = 260, 48  # the in-memory path's peak per document and per LSH pair (bench_dedup_bounded.py)


def in_memory_need(docs: int, pairs: int) -> int:
    """Estimated working memory of the in-memory cluster path: keys, ids as Python strings, decide's arrays, graph."""
    return docs * DOC_BYTES + pairs * PAIR_BYTES


class DedupCluster(PipelineStep):
    """Phase 3 (one task): decide which documents go, and which kept document each one duplicates. In memory when
    the estimate fits `max_memory`, else over files (curate.dedup.bounded): the same decisions either way."""

    name = "🎯 Dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, workdir: str, staged: str, dedup: Dedup):
        super().__init__()
        self.workdir, self.staged, self.dedup = workdir, staged, dedup

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from curate.dedup.bounded import Inputs, cluster

        workdir = Path(self.workdir)
        with self.track_time():
            inputs = Inputs.find(workdir, Path(self.staged), self.dedup.near)
            pairs = inputs.pair_count()
            if self.dedup.near and inputs.docs:
                self.stat_update("lsh_pairs", value=pairs)
            if in_memory_need(inputs.docs, pairs) <= self.dedup.memory_bytes:
                counts = self._in_memory(workdir)
            else:
                counts = cluster(workdir, Path(self.staged), self.dedup, self.dedup.memory_bytes)
            for name, count in counts.items():
                self.stat_update(name, value=count)
            (workdir / "summary.json").write_text(json.dumps({"documents": inputs.docs, **counts}, indent=2))
        if data:
            yield from data

    def _in_memory(self, workdir: Path) -> dict[str, int]:
        """Every key, pair and id in this process: `decide`, then pointers resolved and rows written per task."""
        rank_key, offsets = _load_keys(workdir, "id")
        total = len(rank_key)
        keys = {"id": rank_key}
        if self.dedup.exact:
            keys["text"], _ = _load_keys(workdir, "text")
        if self.dedup.url:
            keys["url"], _ = _load_keys(workdir, "url")
            keys["has_url"], _ = _load_keys(workdir, "has_url")
        pairs = np.zeros((0, 2), dtype=np.int64)
        if self.dedup.near and total:
            parts = [np.load(p) for p in sorted((workdir / "pairs").glob("*.npy"))]
            pairs = np.concatenate(parts) if parts else pairs
        reason, kept = decide(keys, pairs, self.dedup)
        first = kept.copy()  # the document each one was found to duplicate
        for _ in range(3):  # ...which a later rule may have removed too: point at the one that was kept
            moved = (kept >= 0) & (reason[np.maximum(kept, 0)] > 0)
            if not moved.any():
                break
            kept[moved] = kept[kept[moved]]
        ids = self._ids(offsets)
        out = Path(workdir) / "remove"
        out.mkdir(parents=True, exist_ok=True)
        for task in range(len(offsets) - 1):
            lo, hi = offsets[task], offsets[task + 1]
            local = np.nonzero(reason[lo:hi])[0]
            table = pa.table(
                {
                    "index": pa.array(local, pa.int64()),
                    "reason": pa.array([REASONS[int(r)] for r in reason[lo:hi][local]], pa.string()),
                    "duplicate_of": pa.array([ids[int(k)] for k in kept[lo:hi][local]], pa.string()),
                    "via": pa.array(
                        [None if f == k else ids[int(f)] for f, k in zip(first[lo:hi][local], kept[lo:hi][local])],
                        pa.string(),
                    ),
                }
            )
            pq.write_table(table, rank_file(out, task, ".parquet"))
        return {REASONS[code]: int((reason == code).sum()) for code in REASONS}

    def _ids(self, offsets: np.ndarray) -> list[str]:
        ids: list[str] = []
        for task in range(len(offsets) - 1):
            path = rank_file(Path(self.staged), task, ".parquet")
            if offsets[task + 1] > offsets[task]:
                ids.extend(pq.read_table(path, columns=["id"]).column("id").to_pylist())
        return ids


class StagedReader(BaseReader):
    """Phase 4: the staged documents of this task, in the order their keys were written."""

    name = "📖 staged documents"

    def __init__(self, staged: str):
        super().__init__()
        self.staged = staged

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = rank_file(Path(self.staged), rank, ".parquet")
        if not path.exists():
            return
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
            for row in batch.to_pylist():
                text, doc_id = row.pop("text"), row.pop("id")
                self.stat_update(StatHints.total)
                yield Document(text=text, id=doc_id, metadata=row)


class DedupFilter(PipelineStep):
    """Phase 4: drop what phase 3 decided, recording the kept document each one duplicates."""

    name = "🫂 Dedup filter"
    type = "🫂 - DEDUP"

    def __init__(self, workdir: str, rejects=None):
        super().__init__()
        self.workdir, self.rejects = workdir, rejects

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = rank_file(Path(self.workdir) / "remove", rank, ".parquet")
        removals = {}
        if path.exists():
            for row in pq.read_table(path).to_pylist():
                removals[row["index"]] = (row["reason"], row["duplicate_of"], row["via"])
        with self.rejects as writer:
            for index, doc in enumerate(data):
                self.stat_update(StatHints.total)
                if index in removals:
                    reason, original, via = removals[index]
                    doc.metadata[DUPLICATE_OF_KEY] = original
                    detail = f"duplicate of {original}"
                    if via:
                        detail = f"duplicate of {via}, itself a duplicate of {original}"
                    writer.write(reject(doc, reason, detail), rank)
                    self.stat_update(StatHints.dropped, f"dropped_{reason}")
                    continue
                self.stat_update(StatHints.forwarded)
                yield doc
