"""Reader for documents that are already text: a previous run's `documents/*.parquet`, or JSONL with a `text` field.

Extraction is the slow part of a web pipeline; with this reader a run's documents can be filtered, deduplicated or
tagged again without re-reading the crawl (`reader: documents`). Every row read is an input record: a row without
usable text is rejected (`empty`), a file that cannot be read is a `read_error`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Generator, Iterator

from datatrove.data import Document

from curate.records import reject
from curate.stages.reader import AccountedReader, open_binary, stable_id

_FIELDS = ("url", "language", "language_score", "source", "crawl_date", "domain")


def read_rows(path: str) -> Iterator[dict]:
    """The rows of a Parquet file or of JSONL (optionally gzipped), one batch in memory at a time."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with open_binary(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1000):
                yield from batch.to_pylist()
    else:
        with open_binary(path) as raw:
            stream = gzip.open(raw, "rt", encoding="utf-8") if path.endswith(".gz") else _text(raw)
            for line in stream:
                if line.strip():
                    yield json.loads(line)


class DocumentsReader(AccountedReader):
    name = "📖 documents reader"

    def __init__(
        self,
        paths: list[str],
        rejects=None,
        limit: int = -1,
        progress: bool = False,
        text_field: str = "text",
        id_field: str = "id",
    ):
        super().__init__(paths, rejects, limit, progress)
        self.text_field, self.id_field = text_field, id_field

    def read_file(self, path: str) -> Generator[Document, None, None]:
        index = -1
        try:
            for index, row in enumerate(read_rows(path)):
                text = row.get(self.text_field)
                doc_id = row.get(self.id_field)
                metadata = {k: row.get(k) for k in _FIELDS}
                metadata["source"] = metadata["source"] or path
                doc = Document(
                    text=text if isinstance(text, str) else "",
                    id=str(doc_id or stable_id(path, index)),
                    metadata=metadata,
                )
                yield doc if doc.text.strip() else reject(doc, "empty", f"row {index}: no `{self.text_field}`")
        except Exception as err:  # a broken file, bad JSON: name the file and the row, go on with the next file
            doc = Document(text="", id=stable_id(path, index + 1, "read_error"), metadata={"source": path})
            yield reject(doc, "read_error", f"unreadable after row #{index}: {type(err).__name__}: {err}"[:1000])


def _text(raw):
    import io

    return io.TextIOWrapper(raw, encoding="utf-8")
