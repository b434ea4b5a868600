"""What the run report reads from a run folder's Parquet outputs, beyond the counts stats.json already has.

documents/ and rejected/ can hold most of a crawl, so every scan here reads only the columns it needs, file by file,
and reads the text column only for the row groups holding the few rows shown as examples.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EXAMPLES = 3
EXCERPT_CHARS = 300


def parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def read_columns(path: Path, columns: list[str]) -> pa.Table:
    """Only `columns` that the file has, so a large text column is never loaded by accident."""
    names = pq.read_schema(path).names
    return pq.read_table(path, columns=[c for c in columns if c in names])


def rows_at(path: Path, indices: list[int], columns: list[str]) -> list[dict]:
    """Rows `indices` of a Parquet file, reading only the row groups that hold them."""
    file = pq.ParquetFile(path)
    columns = [c for c in columns if c in file.schema_arrow.names]
    wanted = sorted(set(indices))
    rows: dict[int, dict] = {}
    start = 0
    for group in range(file.metadata.num_row_groups):
        size = file.metadata.row_group(group).num_rows
        inside = [i - start for i in wanted if start <= i < start + size]
        if inside:
            table = file.read_row_group(group, columns=columns).take(pa.array(inside))
            rows.update(zip((start + i for i in inside), table.to_pylist()))
        start += size
    return [rows[i] for i in indices if i in rows]


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of a text on one line (whitespace runs collapsed), cut at `limit` characters with an ellipsis."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def value_counts(column: pa.ChunkedArray | pa.Array) -> Counter:
    return Counter({str(v["values"]): v["counts"] for v in pc.value_counts(column).to_pylist()})


EXAMPLE_COLUMNS = ["url", "detail", "text", "source", "language", "language_score", "domain"]


def rejected_examples(folder: Path, per_reason: int = EXAMPLES) -> dict[tuple[str, str], list[dict]]:
    """The first `per_reason` rows with distinct URLs per (stage, reason), each with its text excerpt.

    Distinct URLs because a WARC request and its response or metadata record share one.
    """
    examples: dict[tuple[str, str], list[dict]] = {}
    for path in parquet_files(folder):
        table = read_columns(path, ["stage", "reason", "url"])
        if not {"stage", "reason"} <= set(table.column_names):
            continue
        urls = table.column("url").to_pylist() if "url" in table.column_names else [None] * table.num_rows
        picked: dict[int, tuple[str, str]] = {}
        for i, key in enumerate(zip(table.column("stage").to_pylist(), table.column("reason").to_pylist())):
            taken = [urls[j] for j, k in picked.items() if k == key] + [e["url"] for e in examples.get(key, [])]
            if len(taken) < per_reason and (urls[i] is None or urls[i] not in taken):
                picked[i] = key
        for i, row in zip(picked, rows_at(path, list(picked), EXAMPLE_COLUMNS)):
            examples.setdefault(picked[i], []).append(row)
    return examples


def kept_examples(folder: Path, count: int = EXAMPLES) -> list[dict]:
    """A few kept documents, one per domain where domains differ (the first of each), with text excerpts."""
    chosen: list[dict] = []
    seen_domains: set[str | None] = set()
    for path in parquet_files(folder):
        table = read_columns(path, ["domain"])
        domains = table.column("domain").to_pylist() if "domain" in table.column_names else [None] * table.num_rows
        picked: list[int] = []
        for i, domain in enumerate(domains):
            if domain not in seen_domains and len(chosen) + len(picked) < count:
                seen_domains.add(domain)
                picked.append(i)
        chosen += rows_at(path, picked, ["id", *EXAMPLE_COLUMNS])
        if len(chosen) >= count:
            return chosen
    for path in parquet_files(folder):  # fewer domains than examples: fill up with the first documents
        have = {row["id"] for row in chosen}
        rows = read_columns(path, ["id"]).column("id").to_pylist()
        extra = [i for i, doc_id in enumerate(rows) if doc_id not in have][: count - len(chosen)]
        chosen += rows_at(path, extra, ["id", *EXAMPLE_COLUMNS])
        if len(chosen) >= count:
            break
    return chosen


def document_lengths(folder: Path) -> np.ndarray:
    """Character length of each kept document, computed file by file in Arrow to bound memory."""
    parts = [
        pc.utf8_length(read_columns(p, ["text"]).column("text")).to_numpy(zero_copy_only=False)
        for p in parquet_files(folder)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def languages(run_dir: Path, language_stages: list[str]) -> tuple[Counter, Counter]:
    """Kept documents per language, and rejected rows per language among those rejected at or after language ID."""
    kept: Counter = Counter()
    for path in parquet_files(run_dir / "documents"):
        table = read_columns(path, ["language"])
        if "language" in table.column_names:
            kept.update(value_counts(pc.fill_null(table.column("language"), "(none)")))
    rejected: Counter = Counter()
    for path in parquet_files(run_dir / "rejected") if language_stages else []:
        table = read_columns(path, ["stage", "language"])
        if {"stage", "language"} <= set(table.column_names):
            mask = pc.is_in(table.column("stage"), value_set=pa.array(language_stages))
            rejected.update(value_counts(pc.drop_null(pc.filter(table.column("language"), mask))))
    return kept, rejected


@dataclass
class SourceCounts:
    """One input file: its bytes (and those skipped, by the byte ledger) and what became of its records."""

    source: str
    bytes: int = 0
    skipped_bytes: int = 0
    kept: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def records(self) -> int:
        return self.kept + self.rejected


def per_source(run_dir: Path, inputs: list[str]) -> list[SourceCounts]:
    """Records read, kept and rejected, and bytes, per input file (inputs first, in run order)."""
    counts: dict[str, SourceCounts] = {s: SourceCounts(s) for s in inputs}

    def entry(source: str | None) -> SourceCounts:
        key = source or "(unknown)"
        return counts.setdefault(key, SourceCounts(key))

    for path in parquet_files(run_dir / "documents"):
        table = read_columns(path, ["source"])
        if "source" in table.column_names:
            for source, n in value_counts(pc.fill_null(table.column("source"), "(unknown)")).items():
                entry(source).kept += n
    for path in parquet_files(run_dir / "rejected"):
        table = read_columns(path, ["source", "stage", "reason"])
        if {"source", "stage", "reason"} <= set(table.column_names):
            grouped = table.group_by(["source", "stage", "reason"]).aggregate([([], "count_all")])
            for row in grouped.to_pylist():
                item = entry(row["source"])
                item.rejected += row["count_all"]
                item.reasons[f"{row['stage']}: {row['reason']}"] += row["count_all"]
    for source, (size, outside) in _ledger_bytes(run_dir / "bytes").items():
        entry(source).bytes, entry(source).skipped_bytes = size, outside
    return list(counts.values())


LEDGER_COLUMNS = ["source", "level", "unit", "offset", "length", "decoded", "kind", "reason"]


def _ledger_bytes(folder: Path) -> dict[str, tuple[int, int]]:
    """source → (file bytes, bytes not in any record) from the byte ledger (curate.ledger).

    A unit's file bytes are shared among its decoded frames in proportion, as curate.ledger does; the bytes in
    records are those of frames that are records without a skip reason, and everything else read is skipped.
    """
    files = [p for p in parquet_files(folder) if set(LEDGER_COLUMNS) <= set(pq.read_schema(p).names)]
    if not files:
        return {}
    table = pa.concat_tables(pq.read_table(p, columns=LEDGER_COLUMNS) for p in files)
    level = table.column("level")
    frames = table.filter(pc.equal(level, "unit"))
    clean = pc.and_(pc.equal(frames.column("kind"), "record"), pc.is_null(frames.column("reason")))
    frames = (
        pa.table(
            {
                "source": frames.column("source"),
                "offset": frames.column("unit"),
                "in_records": pc.if_else(clean, frames.column("length"), 0),
            }
        )
        .group_by(["source", "offset"])
        .aggregate([("in_records", "sum")])
    )
    units = table.filter(pc.equal(level, "file")).join(frames, ["source", "offset"], join_type="left outer")
    result: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in units.to_pylist():
        size = result[row["source"]]
        size[0] += row["length"]
        if row["kind"] == "unread":
            continue
        in_records = row["in_records_sum"] or 0
        share = in_records / row["decoded"] if row["decoded"] else 0.0
        size[1] += row["length"] * (1 - min(share, 1.0)) if row["kind"] != "skipped" else row["length"]
    return {source: (int(size), round(outside)) for source, (size, outside) in result.items()}


def tokens_per_domain(folder: Path) -> dict[str, tuple[int, int]]:
    """domain → (tokens, documents) from the token shards' num_tokens and domain columns."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in parquet_files(folder):
        table = read_columns(path, ["num_tokens", "domain"])
        if "num_tokens" not in table.column_names:
            continue
        if "domain" not in table.column_names:
            table = table.append_column("domain", pa.nulls(table.num_rows, pa.string()))
        domain = pc.fill_null(table.column("domain").cast(pa.string()), "(untagged)")
        table = pa.table({"domain": domain, "num_tokens": table.column("num_tokens")})
        for row in table.group_by("domain").aggregate([("num_tokens", "sum"), ([], "count_all")]).to_pylist():
            totals[row["domain"]][0] += row["num_tokens_sum"]
            totals[row["domain"]][1] += row["count_all"]
    return {k: (v[0], v[1]) for k, v in sorted(totals.items(), key=lambda kv: -kv[1][0])}


@dataclass
class StageValues:
    """What one filter stage measured on every document that reached it, with the outcome there: None when the
    document passed the stage, else the reason it was dropped with."""

    metrics: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))

    def add(self, values: dict, outcome: str | None) -> None:
        for name, value in values.items():
            if value is not None:
                self.metrics[name].append(float(value))
                self.outcomes[name].append(outcome)


def stage_values(run_dir: Path, stages: list[str], language_stage: str | None) -> dict[str, StageValues]:
    """Per stage (a name in `stages`, in pipeline order): the filter values of every document that reached it.

    Values come from the `filter_metrics` column (curate.stages.filter_metrics) and, for the language stage, from
    `language_score`. A document reached a stage when it was kept, or rejected at that stage or a later one.
    """
    found: dict[str, StageValues] = defaultdict(StageValues)
    order = {name: i for i, name in enumerate(stages)}

    def take(table: pa.Table, rejected_at: list[str | None], reasons: list[str | None]) -> None:
        names = table.column_names
        metrics = table.column("filter_metrics").to_pylist() if "filter_metrics" in names else [None] * len(reasons)
        scores = table.column("language_score").to_pylist() if "language_score" in names else [None] * len(reasons)
        for raw, score, at, reason in zip(metrics, scores, rejected_at, reasons):
            reached_until = order.get(at, len(stages)) if at is not None else len(stages)
            for stage, values in (json.loads(raw) if raw else {}).items():
                if stage in order and order[stage] <= reached_until:
                    found[stage].add(values, reason if at == stage else None)
            if language_stage and score is not None and order[language_stage] <= reached_until:
                found[language_stage].add({"language_score": score}, reason if at == language_stage else None)

    for path in parquet_files(run_dir / "documents"):
        table = read_columns(path, ["filter_metrics", "language_score"])
        take(table, [None] * table.num_rows, [None] * table.num_rows)
    for path in parquet_files(run_dir / "rejected"):
        table = read_columns(path, ["filter_metrics", "language_score", "stage", "reason"])
        if "stage" in table.column_names:
            take(table, table.column("stage").to_pylist(), table.column("reason").to_pylist())
    return dict(found)
