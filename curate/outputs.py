"""Parquet writers for `documents/` and `rejected/`, built on datatrove's ParquetWriter with a fixed schema.

A fixed schema matters: a shard whose first rows have no language (all rejected before language ID) must still
have the same columns and types as every other shard, so the folder reads as one dataset.
"""

from __future__ import annotations

from datatrove.pipeline.writers.parquet import ParquetWriter

from curate.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA, document_row, rejected_row


def _document_adapter(self, doc) -> dict:
    return document_row(doc)


def _rejected_adapter(self, doc) -> dict:
    return rejected_row(doc, self.stage)


class DocumentWriter(ParquetWriter):
    """Kept documents: `documents/<rank>.parquet` (zstd)."""

    name = "📒 documents"

    def __init__(self, output_folder: str, batch_size: int = 500):
        super().__init__(
            output_folder,
            output_filename="${rank}.parquet",
            compression="zstd",
            adapter=_document_adapter,
            batch_size=batch_size,
            schema=DOCUMENT_SCHEMA,
            max_file_size=-1,
        )


class RejectedWriter(ParquetWriter):
    """Rejected records of one stage: `rejected/<stage>-<rank>.parquet`, with `stage` and `reason` columns."""

    name = "🗑 rejected"

    def __init__(self, output_folder: str, stage: str, batch_size: int = 500):
        self.stage = stage
        super().__init__(
            output_folder,
            output_filename=f"{stage}-" + "${rank}.parquet",
            compression="zstd",
            adapter=_rejected_adapter,
            batch_size=batch_size,
            schema=REJECTED_SCHEMA,
            max_file_size=-1,
        )
