"""The base of every reader: each record read is either yielded or written to the rejects with a reason.

`AccountedReader` is datatrove's `BaseReader` with the accounting the product promises: it counts every record
(`total`, `forwarded`, `dropped_<reason>` in datatrove's stats, which stats.json checks against the rows on disk),
writes rejected ones with their reason, shares the input files out between tasks by size, and shows progress.
Subclasses implement `read_file(path)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from contextlib import nullcontext
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader
from datatrove.utils.typeshelper import StatHints


def open_binary(path: str):
    """Open a local path or any fsspec URL (s3://, https://, ...) for binary reading.

    A URL streams, and survives dropped connections and "slow down" answers by resuming where it was
    (curate.crawl.open_stream); when it gives up it raises curate.crawl.Unreachable, an OSError.
    """
    from curate.crawl import open_stream

    return open_stream(path)


class AccountedReader(BaseReader):
    """A reader over a list of files whose every record is either yielded or written to `rejects` with a reason.

    Subclasses implement `read_file(path)`, yielding one document per input record (rejected ones carry
    `filter_reason`). Files are shared out between tasks by size; `limit` counts records per task.
    """

    def __init__(
        self, paths: list[str], rejects=None, limit: int = -1, progress: bool = False, ledger: str | None = None
    ):
        super().__init__(limit=limit)
        self.paths = list(paths)
        self.rejects = rejects
        self.progress = progress
        self.ledger = ledger  # folder of the byte ledger (curate.ledger); None: bytes are not accounted
        self._ledger_rows: Any = None
        self.groups: list[list[int]] | None = None  # the run's task plan (curate.taskplan); None: shared by size
        self.task_limits: list[int] | None = None  # records each task reads under --limit; None: `limit` each

    def account(
        self,
        source: str,
        level: str,
        unit: int,
        offset: int,
        length: int,
        kind: str,
        reason: str | None = None,
        doc_id: str | None = None,
        decoded: int | None = None,
    ) -> None:
        """One row of the byte ledger (see curate.ledger for what the levels and kinds mean)."""
        if self._ledger_rows is not None:
            self._ledger_rows.add(
                {
                    "source": source,
                    "level": level,
                    "unit": unit,
                    "offset": offset,
                    "length": length,
                    "decoded": decoded,
                    "kind": kind,
                    "reason": reason,
                    "id": doc_id,
                }
            )

    def read_file(self, path: str) -> Generator[Document, None, None]:
        raise NotImplementedError

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from tqdm import tqdm

        if data:
            yield from data
        bar = tqdm(
            total=None,
            unit=" records",
            desc=f"task {rank}",
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=1.0,
            position=rank if world_size > 1 else None,
            leave=True,
        )
        read = 0
        limit = self.task_limits[rank] if self.task_limits is not None and rank < len(self.task_limits) else self.limit
        ledger: Any = nullcontext()
        if self.ledger:
            from curate.ledger import LEDGER_SCHEMA
            from curate.outputs import ParquetRows

            ledger = self._ledger_rows = ParquetRows(self.ledger, LEDGER_SCHEMA, first=rank)
        if self.groups is not None:
            mine = [self.paths[i] for i in self.groups[rank]] if rank < len(self.groups) else []
        else:
            mine = shard(self.paths, rank, world_size)
        with self.rejects if self.rejects else nullcontext() as writer, bar, ledger:
            for number, path in enumerate(mine):
                records: Generator[Document, None, None] = self.read_file(path)
                while True:
                    with self.track_time():
                        doc = next(records, None)
                    if doc is None:
                        break
                    read += 1
                    bar.update()
                    self.stat_update(StatHints.total)
                    reason = doc.metadata.get("filter_reason")
                    if reason:
                        self.stat_update(StatHints.dropped, f"dropped_{reason}")
                        if writer is not None:
                            writer.write(doc, rank)
                    else:
                        self.stat_update(StatHints.forwarded)
                        yield doc
                    if limit != -1 and read >= limit:
                        records.close()  # the file's reader accounts for what it leaves unread
                        for rest in mine[number + 1 :]:
                            self.account(rest, "file", 0, 0, _size(rest), "unread", "limit")
                        return


def _size(path: str) -> int:
    from curate.ledger import file_size

    return file_size(path) or 0


def shard(paths: list[str], rank: int, world_size: int) -> list[str]:
    """This task's files: largest first, each to the task with the fewest bytes so far (same answer in every task).

    Crawl files differ in size by orders of magnitude; `paths[rank::world_size]` can leave one worker with all the
    big ones while the other idles.
    """
    if world_size == 1:
        return list(paths)
    loads = [0] * world_size
    owner = {}
    for index in sorted(range(len(paths)), key=lambda i: (-_size(paths[i]), i)):
        task = min(range(world_size), key=lambda t: (loads[t], t))
        owner[index] = task
        loads[task] += max(_size(paths[index]), 1)
    return [path for index, path in enumerate(paths) if owner[index] == rank]


def stable_id(path: str, offset: int | str, salt: str = "") -> str:
    """An id that survives re-runs: the file's name and the record's offset (ARC records have no id)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"curate:{name}:{offset}:{salt}"))
