"""The last step of the bounded dedup cluster (curate.dedup.bounded): from each removed document's reason and the
document it was found to duplicate, the remove/<rank>.parquet rows the in-memory path writes.

1. Pointers followed: the document it was found to duplicate may have been removed by a later rule (an exact
   survivor by the URL rule, a URL survivor by the near rule), so each removed document hops, one index-range join
   per hop (three at most), until it reaches a kept document.
2. Ids joined: requests for the id of the kept document (and of the first one, when different: `via`) partitioned
   by the id's index range; the staged `id` column is read once, one range at a time; the answers (the strings)
   partitioned by the requester's range.
3. Rows written: a range of requesters at a time, in index order, each task's rows to its own file.
Ranges here are sized by the mean stored id length (Parquet metadata), as ids dominate their memory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.dedup.spill import MIN_ROWS, Dense, Plan, Spill, file_in, release, walk
from curate.dedup.steps import REASONS, rank_file

HOP = np.dtype([("x", "<i8"), ("t", "<i8"), ("f", "<i8"), ("c", "i1")])  # removed x, now at t, found f, reason c
ASK = np.dtype([("x", "<i8"), ("t", "<i8"), ("c", "i1"), ("k", "i1")])  # x wants the id of t as kind k
ANSWER = np.dtype([("x", "<i8"), ("c", "i1"), ("k", "i1"), ("n", "<i8")])  # ... which is n bytes of the blob
BOTH, KEPT, VIA = 0, 1, 2  # the kept document is the one found (no via); the kept one; the one found (via)
SCHEMA = pa.schema(
    [("index", pa.int64()), ("reason", pa.string()), ("duplicate_of", pa.string()), ("via", pa.string())]
)
NAMES = pa.array(["", *REASONS.values()], pa.string())
ID_OVERHEAD = 128  # bytes per document of an id range besides its strings (records, sort orders, offsets)


def write_removals(inputs, plan: Plan, reason: Dense, first: Dense, work: Path, max_memory: int) -> dict[str, int]:
    """remove/<rank>.parquet for every task; returns the count per reason."""
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())  # malloc, which `release` trims; mimalloc keeps what it freed
    try:
        return _write_removals(inputs, plan, reason, first, work, max_memory)
    finally:
        pa.set_memory_pool(pool)


def _write_removals(inputs, plan: Plan, reason: Dense, first: Dense, work: Path, max_memory: int) -> dict[str, int]:
    ids = _id_plan(inputs, plan, max_memory)
    asks = Spill(work / "asks", ASK)
    counts = _follow(plan, reason, first, asks, ids, work)
    answers = _join_ids(asks, inputs, ids, work / "answers")
    asks.drop()
    with RemovalFiles(work.parent / "remove", inputs) as out:
        for r in range(ids.ranges):
            release()
            out.add(*_rows(*answers.load(r)))
    answers.drop()
    return counts


def _id_plan(inputs, plan: Plan, max_memory: int) -> Plan:
    """Ranges for the id join: a range's ids, each at most twice in answers and once in output, beside a chunk."""
    stored = rows = 0
    for task in range(len(inputs.offsets) - 1):
        if inputs.offsets[task + 1] > inputs.offsets[task]:
            meta = pq.ParquetFile(rank_file(inputs.staged, task, ".parquet")).metadata
            rows += meta.num_rows
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                stored += sum(
                    group.column(j).total_uncompressed_size
                    for j in range(group.num_columns)
                    if group.column(j).path_in_schema == "id"
                )
    mean = max(16, stored // max(rows, 1))
    span = max(MIN_ROWS, max_memory // 2 // (6 * mean + ID_OVERHEAD))
    return Plan(plan.docs, min(plan.chunk, span), span)


def _follow(plan: Plan, reason: Dense, first: Dense, asks: Spill, ids: Plan, work: Path) -> dict[str, int]:
    """Each removed document's pointer followed until it reaches a kept document; then the id requests."""
    counts = np.zeros(len(REASONS) + 1, np.int64)
    hops = Spill(work / "hops0", HOP)
    for lo, _, (gone, found) in walk(plan, reason, first):
        at = np.flatnonzero(gone)
        counts += np.bincount(gone[at], minlength=len(counts))
        records = np.empty(len(at), HOP)
        records["x"], records["t"], records["f"], records["c"] = at + lo, found[at], found[at], gone[at]
        hops.write(plan.range_of(records["t"]), records)
    step = 0
    while hops.total():
        step += 1
        further = Spill(work / f"hops{step}", HOP)
        for r in range(plan.ranges):
            if not hops.has(r):
                continue
            lo, _ = plan.bounds(r)
            gone, found = reason.load(r), first.load(r)
            for chunk in hops.read(r, plan.chunk):
                moves = gone[chunk["t"] - lo] > 0
                moved = chunk[moves]
                moved["t"] = found[moved["t"] - lo]
                further.write(plan.range_of(moved["t"]), moved)
                _ask(asks, chunk[~moves], ids)
        hops.drop()
        hops = further
    hops.drop()
    return {name: int(counts[code]) for code, name in REASONS.items()}


def _asks(done: np.ndarray, target: str, kind: int) -> np.ndarray:
    out = np.empty(len(done), ASK)
    out["x"], out["t"], out["c"], out["k"] = done["x"], done[target], done["c"], kind
    return out


def _ask(asks: Spill, done: np.ndarray, ids: Plan) -> None:
    """Requests for the ids a removed document's row needs: its kept document's, and the one found when different."""
    same, other = done[done["t"] == done["f"]], done[done["t"] != done["f"]]
    records = np.concatenate([_asks(same, "f", BOTH), _asks(other, "t", KEPT), _asks(other, "f", VIA)])
    asks.write(ids.range_of(records["t"]), records)


class Answers:
    """Id strings for the requesters of each range: fixed-width records and the strings' bytes, appended in step."""

    def __init__(self, folder: Path):
        self.records = Spill(folder, ANSWER)
        self.folder = folder

    def write(self, part: int, records: np.ndarray, data: np.ndarray) -> None:
        self.records.write(np.full(len(records), part), records)
        with open(file_in(self.folder, part, ".blob"), "ab") as f:
            data.tofile(f)

    def load(self, part: int) -> tuple[np.ndarray, pa.Array]:
        records = self.records.read_all(part)
        blob = file_in(self.folder, part, ".blob")
        data = b""
        if os.path.exists(blob):
            with open(blob, "rb") as f:
                data = f.read()
        offsets = np.concatenate([[0], np.cumsum(records["n"])]).astype(np.int64)
        strings = pa.LargeStringArray.from_buffers(len(records), pa.py_buffer(offsets), pa.py_buffer(data))
        return records, strings

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Ids:
    """The staged `id` column of every task in order, handed out a range at a time."""

    def __init__(self, inputs, batch: int):
        self._batches = self._read(inputs, batch)
        self._held: list[pa.Array] = []

    @staticmethod
    def _read(inputs, batch: int):
        for task in range(len(inputs.offsets) - 1):
            if inputs.offsets[task + 1] > inputs.offsets[task]:
                # buffered reads: a page at a time, not a row group's whole column (its size is the writer's choice)
                path = rank_file(inputs.staged, task, ".parquet")
                parquet = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
                for part in parquet.iter_batches(batch_size=batch, columns=["id"]):
                    yield part.column(0).cast(pa.large_string())

    def take(self, n: int) -> pa.Array:
        held = sum(len(a) for a in self._held)
        while held < n and (part := next(self._batches, None)) is not None:
            self._held.append(part)
            held += len(part)
        joined = pa.concat_arrays(self._held) if self._held else pa.array([], pa.large_string())
        rest = joined.slice(n)
        self._held = [pa.concat_arrays([rest])] if len(rest) else []  # a copy: the range's buffer can go
        return joined.slice(0, n)


def _buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a large_string array."""
    _, offsets, data = strings.buffers()
    at = np.frombuffer(offsets, np.int64)[strings.offset : strings.offset + len(strings) + 1]
    return at, (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8))


def _join_ids(asks: Spill, inputs, ids: Plan, folder: Path) -> Answers:
    answers = Answers(folder)
    staged = _Ids(inputs, min(ids.span, 65536))
    for r in range(ids.ranges):
        lo, hi = ids.bounds(r)
        release()
        strings = staged.take(hi - lo)
        for chunk in asks.read(r, ids.chunk):
            dest = ids.range_of(chunk["x"])
            order = np.argsort(dest, kind="stable")
            chunk, dest = chunk[order], dest[order]
            offsets, data = _buffers(strings.take(pa.array(chunk["t"] - lo)))
            records = np.empty(len(chunk), ANSWER)
            records["x"], records["c"], records["k"] = chunk["x"], chunk["c"], chunk["k"]
            records["n"] = np.diff(offsets)
            cuts = np.concatenate([[0], np.flatnonzero(dest[1:] != dest[:-1]) + 1, [len(dest)]])
            for s, e in zip(cuts[:-1], cuts[1:]):
                answers.write(int(dest[s]), records[s:e], data[offsets[s] : offsets[e]])
        del strings
    return answers


def _rows(records: np.ndarray, strings: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array, pa.Array]:
    """(document index, reason, duplicate_of, via) of a range's removed documents, in index order."""
    order = np.lexsort((records["k"], records["x"]))
    records, strings = records[order], strings.take(pa.array(order))
    main = records["k"] != VIA
    index = records["x"][main]
    via_at = np.full(len(index), -1, np.int64)
    via_at[np.searchsorted(index, records["x"][~main])] = np.flatnonzero(~main)
    via = strings.take(pa.array(via_at, mask=via_at < 0))
    return index, NAMES.take(pa.array(records["c"][main])), strings.filter(pa.array(main)), via


class RemovalFiles:
    """remove/<rank>.parquet of every task: rows arrive in document order, each task's go to its file, and a task
    without removals gets an empty table, as the in-memory path writes. Each file appears whole (renamed)."""

    def __init__(self, folder: Path, inputs):
        self.folder, self.offsets = folder, inputs.offsets
        folder.mkdir(parents=True, exist_ok=True)
        self.task = -1
        self.writer: pq.ParquetWriter | None = None

    def add(self, index: np.ndarray, reason: pa.Array, duplicate_of: pa.Array, via: pa.Array) -> None:
        if len(index) == 0:
            return
        tasks = np.searchsorted(self.offsets, index, side="right") - 1
        cuts = np.concatenate([[0], np.flatnonzero(tasks[1:] != tasks[:-1]) + 1, [len(tasks)]])
        for s, e in zip(cuts[:-1], cuts[1:]):
            task = int(tasks[s])
            writer = self._reach(task)
            columns = [pa.array(index[s:e] - self.offsets[task]), reason[s:e], duplicate_of[s:e], via[s:e]]
            writer.write_table(pa.table([c.cast(f.type) for c, f in zip(columns, SCHEMA)], schema=SCHEMA))

    def _reach(self, task: int) -> pq.ParquetWriter:
        """The writer of `task`, every task before it finished (those without rows: an empty table)."""
        while self.writer is None or self.task < task:
            self._finish()
            self.task += 1
            self.writer = pq.ParquetWriter(self._path(self.task, ".parquet.part"), SCHEMA)
        return self.writer

    def _path(self, task: int, suffix: str) -> Path:
        return rank_file(self.folder, task, suffix)

    def _finish(self, keep: bool = True) -> None:
        if self.writer is not None:
            self.writer.close()
            part = self._path(self.task, ".parquet.part")
            if keep:
                part.rename(self._path(self.task, ".parquet"))
            else:
                part.unlink()
            self.writer = None

    def __enter__(self) -> RemovalFiles:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None and len(self.offsets) > 1:
            self._reach(len(self.offsets) - 2)
        self._finish(keep=kind is None)
