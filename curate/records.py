"""The row contract shared by every stage: what a kept or rejected record looks like on disk.

Stages pass datatrove `Document`s; these helpers turn them into the Parquet rows of `documents/` and
`rejected/` and mark a document as rejected with a stage and a reason (datatrove's `filter_reason` key,
so its own filters and ours speak the same language).
"""

from __future__ import annotations

import json

import pyarrow as pa

DOCUMENT_FIELDS: list[tuple[str, pa.DataType]] = [
    ("id", pa.string()),
    ("text", pa.large_string()),
    ("url", pa.string()),
    ("language", pa.string()),
    ("language_score", pa.float32()),
    ("source", pa.string()),
    ("crawl_date", pa.timestamp("us", tz="UTC")),  # WARC-Date; ISO text in memory, converted by ParquetRows
    ("domain", pa.string()),  # null until a `domains` stage tags it
    ("filter_metrics", pa.string()),  # JSON stage → metric → value, what the quality filters measured (report)
]
DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS)
REJECTED_SCHEMA = pa.schema(
    DOCUMENT_FIELDS
    + [("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string()), ("duplicate_of", pa.string())]
)

# Metadata keys that stay in memory only (never written): raw payload bytes and the HTTP charset.
PAYLOAD_KEY = "_payload"
HTTP_CHARSET_KEY = "_http_charset"
REASON_KEY = "filter_reason"  # datatrove's BaseFilter writes the drop reason here
DETAIL_KEY = "reject_detail"
DUPLICATE_OF_KEY = "duplicate_of"  # id of the kept document a removed duplicate duplicates
METRICS_KEY = "filter_metrics"  # dict stage → metric → value (curate.stages.filter_metrics), JSON on disk


def document_row(doc) -> dict:
    meta = doc.metadata
    score = meta.get("language_score")
    return {
        "id": doc.id,
        "text": doc.text or "",
        "url": meta.get("url"),
        "language": meta.get("language"),
        "language_score": None if score is None else min(float(score), 1.0),
        "source": meta.get("source"),
        "crawl_date": meta.get("crawl_date"),
        "domain": meta.get("domain"),
        "filter_metrics": _metrics_json(meta.get(METRICS_KEY)),
    }


def _metrics_json(metrics) -> str | None:
    """A dict as compact JSON; a string (read back from staged/ Parquet) as it is."""
    if not metrics:
        return None
    return metrics if isinstance(metrics, str) else json.dumps(metrics, separators=(",", ":"))


def rejected_row(doc, stage: str) -> dict:
    row = document_row(doc)
    row["stage"] = stage
    row["reason"] = str(doc.metadata.get(REASON_KEY) or "unspecified")
    detail = doc.metadata.get(DETAIL_KEY)
    row["detail"] = None if detail is None else str(detail)
    row["duplicate_of"] = doc.metadata.get(DUPLICATE_OF_KEY)
    return row


def reject(doc, reason: str, detail: str | None = None):
    """Mark a document as rejected; the stage's rejection writer records it."""
    doc.metadata[REASON_KEY] = reason
    if detail is not None:
        doc.metadata[DETAIL_KEY] = detail
    doc.metadata.pop(PAYLOAD_KEY, None)
    return doc
