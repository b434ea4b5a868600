"""`curate ingest`: plain text sources (see `curate.textsources`) → a run folder of documents with a domain, so a mix
can hold web, prose and code.

Every file, member, paragraph or line is an input record and ends up either in `documents/` or in
`rejected/ingest-<n>.parquet` with its reason (`not_utf8`, `empty`, `too_short`, `bad_json`, `read_error`).

The output is a run folder like `curate run`'s (the same contract, writer and stats), so tokenize, mix and
`reader: documents` treat it the same: `documents/00000.parquet` (a new numbered file after every ~256 MB of text),
`rejected/ingest-00000.parquet`, `stats.json` (with `input_records = kept + rejected` counted from the Parquet rows on
disk, and a one-stage `stages` table so `curate report` can draw it) and `run.json` (what was asked). Everything is
streamed: one file's text at a time, rows written in batches.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from curate.outputs import ParquetRows
from curate.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA
from curate.runfolder import INGEST, RunError, prepare
from curate.stats import write_stats
from curate.textsources import SPLITS, Source, classify, judge, records, stable_id, stdlib_root

__all__ = ["MAX_FILE_BYTES", "STAGE", "ingest", "stable_id"]

STAGE = "ingest"
MAX_FILE_BYTES = 256 * 1024 * 1024  # of text per documents/ file before starting the next one


def ingest(
    sources: list[str],
    out_dir: str | Path,
    domain: str | None = None,
    split: str = "file",
    min_chars: int = 1,
    overwrite: bool = False,
    progress: bool | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> dict:
    """Turn text sources into a run folder of documents; returns the stats (also written to stats.json).

    Raises RunError for bad arguments, a missing or unknown source, or a non-empty out_dir without overwrite
    (all checked before anything is written), and ConservationError (after writing stats.json) if a record was
    lost. `progress=None` shows a progress bar over files only when stderr is a terminal.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise RunError("ingest: no sources given")
    if split not in SPLITS:
        raise RunError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
    if min_chars < 0:
        raise RunError(f"min_chars {min_chars}: must be at least 0")
    if domain is not None and not domain.strip():
        raise RunError("domain: must not be empty")
    resolved = [classify(s, split) for s in sources]
    out_dir = Path(out_dir)
    request = {
        "command": "ingest",
        "sources": [s.given for s in resolved],
        "domain": domain,
        "split": split,
        "min_chars": min_chars,
    }
    prepare(out_dir, INGEST, overwrite, request)

    documents = ParquetRows(out_dir / "documents", DOCUMENT_SCHEMA, max_bytes=max_file_bytes)
    rejected = ParquetRows(out_dir / "rejected", REJECTED_SCHEMA, prefix=f"{STAGE}-", max_bytes=max_file_bytes)
    reasons: Counter = Counter()
    domains: Counter = Counter()
    show = sys.stderr.isatty() if progress is None else progress
    with (
        tqdm(total=None, unit=" files", desc="ingest", disable=not show, dynamic_ncols=True, mininterval=1.0) as bar,
        documents,  # an error discards the open files (never a half-written one under a final name)
        rejected,
    ):
        for src in resolved:
            bar.set_postfix_str(src.given[-40:], refresh=False)
            for record in records(src, domain, bar):
                judge(record, min_chars)
                row = {
                    "id": record.id,
                    "text": record.text,
                    "url": record.url,
                    "source": record.source,
                    "domain": record.domain,
                }
                src.counts["records"] += 1
                if record.reason is None:
                    documents.add(row)
                    domains[record.domain] += 1
                    src.counts["kept"] += 1
                else:
                    row.update(stage=STAGE, reason=record.reason, detail=record.detail)
                    rejected.add(row)
                    reasons[record.reason] += 1
                    src.counts["rejected"] += 1
        documents.close(always=True)
    return _write_stats(out_dir, resolved, request, reasons, domains, time.perf_counter() - started)


def _write_stats(
    out_dir: Path, resolved: list[Source], request: dict, reasons: Counter, domains: Counter, seconds: float
) -> dict:
    """The one-stage funnel (`ingest`: every record in, kept out, drops by reason) through the shared stats writer."""
    input_records = sum(s.counts["records"] for s in resolved)
    kept = sum(s.counts["kept"] for s in resolved)
    header = {
        "name": "ingest",
        "pipeline": None,
        "inputs": request["sources"],
        "ingested_from": [
            {"source": s.given, "kind": s.kind, "split": s.split, **{k: s.counts[k] for k in _COUNTS}} for s in resolved
        ],
        "domain": request["domain"],
        "split": request["split"],
        "min_chars": request["min_chars"],
        "workers": 1,
        "tasks": 1,
        "limit": None,
        "seconds": round(seconds, 3),
    }
    stage = {
        "stage": STAGE,
        "in": input_records,
        "out": kept,
        "dropped": dict(sorted(reasons.items())),
        "seconds": round(seconds, 3),
    }
    extra: dict = {"domains": dict(sorted(domains.items())), "word_splitter": None}
    if any(s.kind == "stdlib" for s in resolved):
        extra["stdlib"] = {"path": str(stdlib_root()), "python": sys.version.split()[0]}
    return write_stats(out_dir, header, [stage], extra)


_COUNTS = ("files", "records", "kept", "rejected")
