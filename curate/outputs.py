"""The one writer of `documents/` and `rejected/` Parquet files, and the datatrove steps built on it.

A fixed schema matters: a file whose first rows have no language (all rejected before language ID) must still have
the same columns and types as every other file, so the folder reads as one dataset. `ParquetRows` is used by the
pipeline's steps (`DocumentWriter`, `RejectedWriter`), by `curate ingest`, and by anything else that writes documents,
so there is one rule for batching, compression and file names.

A file is written under its temporary name (`.00000.parquet.tmp`, see `curate.runfolder.temporary`) and renamed when
closed, so a killed run never leaves a truncated Parquet file under a name readers take as data; a task that fails
discards its open file instead of publishing half of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA, document_row, rejected_row
from curate.runfolder import temporary

BATCH_ROWS = 1000
BATCH_BYTES = 32 * 1024 * 1024  # of text buffered before a row group is written


def utc_timestamp(value: Any) -> Any:
    """A value for a UTC timestamp column (`crawl_date`): ISO 8601 text, as records carry it in memory
    (`2024-05-18T01:58:10Z`; a date alone is midnight; no zone is UTC), becomes an aware datetime; text that is no
    date becomes null; a datetime (a timestamp read back from Parquet) stays as it is, UTC when it has no zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class ParquetRows:
    """Rows (dicts) → Parquet files of one schema under `folder`, zstd, written in bounded batches.

    Files are named `prefix + NNNNN + ".parquet"`, numbered from `first`; with `max_bytes`, a new file starts once a
    file holds that much text (characters: close enough to bytes for a size limit). A file is opened on the first
    row, so a writer that gets none leaves nothing behind unless closed with `always=True`. Used as a context
    manager, an exception discards the open file (`abort`) rather than renaming it.
    """

    def __init__(
        self,
        folder: str | Path,
        schema: pa.Schema,
        prefix: str = "",
        first: int = 0,
        max_bytes: int | None = None,
    ):
        self.folder, self.schema, self.prefix, self.max_bytes = Path(folder), schema, prefix, max_bytes
        self.number = first
        self.writer: pq.ParquetWriter | None = None
        self.rows: list[dict[str, Any]] = []
        self.buffered = 0  # text characters in self.rows
        self.in_file = 0  # text characters already in the open file
        self.written = 0  # rows written by this writer, all files together
        # timestamp columns with a zone (crawl_date): rows may hold them as ISO text, converted when written
        self.timestamps = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is not None]

    def path(self) -> Path:
        return self.folder / f"{self.prefix}{self.number:05d}.parquet"

    def add(self, row: dict[str, Any]) -> None:
        size = len(row.get("text") or "")
        pending = self.in_file + self.buffered
        if self.max_bytes is not None and pending and pending + size > self.max_bytes:
            self._flush()
            self._close_file()
            self.number += 1
        self.rows.append(row)
        self.buffered += size
        if len(self.rows) >= BATCH_ROWS or self.buffered >= BATCH_BYTES:
            self._flush()

    def _open(self) -> pq.ParquetWriter:
        if self.writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(temporary(self.path()), self.schema, compression="zstd")
        return self.writer

    def _flush(self) -> None:
        if not self.rows:
            return
        for row in self.rows if self.timestamps else ():
            for name in self.timestamps:
                if name in row:
                    row[name] = utc_timestamp(row[name])
        self._open().write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.written += len(self.rows)
        self.in_file += self.buffered
        self.rows, self.buffered = [], 0

    def _close_file(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(temporary(self.path()), self.path())
        self.writer, self.in_file = None, 0

    def abort(self) -> None:
        """Drop what is buffered and the open file: files closed before stay, the incomplete one never appears."""
        if self.writer is not None:
            self.writer.close()
            temporary(self.path()).unlink(missing_ok=True)
        self.writer, self.in_file, self.rows, self.buffered = None, 0, [], 0

    def close(self, always: bool = False) -> None:
        """Write what is buffered; with `always`, leave one (empty) file even when no row came."""
        self._flush()
        if always:
            self._open()
        self._close_file()

    def __enter__(self) -> ParquetRows:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class DocumentWriter(PipelineStep):
    """The pipeline step that writes kept documents: `documents/<rank>.parquet` (or `staged/` before dedup)."""

    name = "📒 documents"
    type = "💽 - WRITER"

    def __init__(self, output_folder: str):
        super().__init__()
        self.output_folder = output_folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with ParquetRows(self.output_folder, DOCUMENT_SCHEMA, first=rank) as rows:
            for doc in data:
                with self.track_time():
                    rows.add(document_row(doc))
                self.stat_update("total")
                yield doc


class RejectedWriter:
    """Where a stage sends the records it rejects: `rejected/<stage>-<rank>.parquet`, with `stage` and `reason`.

    Used as datatrove uses its writers (`with writer: writer.write(doc, rank)`), so datatrove's own filters take it
    as their `exclusion_writer`.
    """

    def __init__(self, output_folder: str, stage: str):
        self.output_folder, self.stage = output_folder, stage
        self._files: dict[int, ParquetRows] = {}

    def write(self, doc: Any, rank: int = 0, **_: Any) -> None:
        if rank not in self._files:
            self._files[rank] = ParquetRows(self.output_folder, REJECTED_SCHEMA, prefix=f"{self.stage}-", first=rank)
        self._files[rank].add(rejected_row(doc, self.stage))

    def close(self) -> None:
        for rows in self._files.values():
            rows.close()
        self._files.clear()

    def abort(self) -> None:
        for rows in self._files.values():
            rows.abort()
        self._files.clear()

    def __enter__(self) -> RejectedWriter:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_documents(folder: str | Path, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> Path:
    """Rows of the documents schema (missing columns null) → `folder/documents/00000.parquet`, as a run would."""
    folder = Path(folder)
    with ParquetRows(folder / "documents", DOCUMENT_SCHEMA) as out:
        for row in rows:
            out.add({name: row.get(name) for name in DOCUMENT_SCHEMA.names})
        out.close(always=True)
    return folder
