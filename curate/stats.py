"""stats.json: per-stage funnel from datatrove's per-task stats, checked against the rows actually on disk.

The conservation check is the product's promise: every input record is either a row of documents/ or a row of
rejected/. It counts Parquet rows (not the counters the stages keep about themselves), so a stage that drops a
record without writing it is caught.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from curate.config import PipelineSpec


class ConservationError(RuntimeError):
    """Input records went missing: input_records != kept + rejected."""


def _count(value) -> float:
    if isinstance(value, dict):
        return value.get("total", 0)
    return value or 0


def merge_task_stats(logs: Path) -> list[dict]:
    """Sum datatrove's per-task stats files (logs/stats/<rank>.json) step by step."""
    merged: list[dict] = []
    for path in sorted((logs / "stats").glob("*.json")):
        for i, step in enumerate(json.loads(path.read_text())):
            if i == len(merged):
                merged.append({"name": step["name"], "seconds": 0.0, "counters": {}})
            entry = merged[i]
            entry["seconds"] += _count(step.get("time_stats"))
            for key, value in step.get("stats", {}).items():
                entry["counters"][key] = entry["counters"].get(key, 0) + _count(value)
    return merged


def parquet_rows(folder: Path) -> dict[str, int]:
    """Row count per Parquet file name (from the footers: no data is read)."""
    if not folder.exists():
        return {}
    return {p.name: pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("*.parquet"))}


_TALLIES = ("pii_", "domain_")  # counters that are not drops: replacements per PII type, documents per domain


def stage_table(output: Path, phases: list) -> list[dict]:
    """One row per stage, in pipeline order, from the phases' step roles (see curate.pipeline.Phase)."""
    rows: dict[str, dict] = {}
    for number, phase in enumerate(phases, 1):
        merged = merge_task_stats(output / "logs" / f"{number}-{phase.name}")
        for role, step in zip(phase.roles, merged):
            if role is None:
                continue
            name, kind = role
            row = rows.setdefault(name, {"stage": name, "in": 0, "out": 0, "dropped": {}, "seconds": 0.0})
            row["seconds"] = round(row["seconds"] + step["seconds"], 3)
            if kind != "row":
                continue
            counters = step["counters"]
            row["dropped"] = {
                key.removeprefix("dropped_"): int(value)
                for key, value in sorted(counters.items())
                if key.startswith("dropped_")
            }
            row["in"] = int(counters.get("total", 0))
            row["out"] = int(counters.get("forwarded", row["in"] - int(counters.get("dropped", 0))))
            for prefix in _TALLIES:
                tally = {k.removeprefix(prefix): int(v) for k, v in sorted(counters.items()) if k.startswith(prefix)}
                if tally:
                    row[prefix.rstrip("_")] = tally
    return list(rows.values())


def finalize(output: Path, spec: PipelineSpec, request: dict, phases: list, seconds: float) -> dict:
    """Write stats.json; raise ConservationError (after writing it) when records were lost."""
    output = Path(output)
    stages = stage_table(output, phases)
    kept_rows = parquet_rows(output / "documents")
    rejected_rows = parquet_rows(output / "rejected")
    by_stage: dict[str, int] = {}
    for name, rows in rejected_rows.items():
        stage = name.rsplit("-", 1)[0]
        by_stage[stage] = by_stage.get(stage, 0) + rows
    input_records = stages[0]["in"] if stages else 0
    kept, rejected = sum(kept_rows.values()), sum(rejected_rows.values())

    problems = []
    if input_records != kept + rejected:
        problems.append(f"input_records {input_records} != kept {kept} + rejected {rejected}")
    for i, row in enumerate(stages):
        if row["in"] != row["out"] + sum(row["dropped"].values()):
            problems.append(f"stage {row['stage']}: in {row['in']} != out {row['out']} + dropped {row['dropped']}")
        if i and row["in"] != stages[i - 1]["out"]:
            problems.append(f"stage {row['stage']}: in {row['in']} != previous stage's out {stages[i - 1]['out']}")
        if by_stage.get(row["stage"], 0) != sum(row["dropped"].values()):
            problems.append(
                f"stage {row['stage']}: {by_stage.get(row['stage'], 0)} rejected rows on disk,"
                f" {sum(row['dropped'].values())} counted"
            )
    if stages and stages[-1]["out"] != kept:
        problems.append(f"last stage forwarded {stages[-1]['out']} documents, {kept} rows in documents/")

    stats = {
        "pipeline": request.get("pipeline"),
        "name": spec.name,
        "inputs": request.get("inputs", []),
        "workers": request.get("workers"),
        "tasks": request.get("tasks"),
        "limit": request.get("limit"),
        "seconds": round(seconds, 3),
        "input_records": input_records,
        "kept": kept,
        "rejected": rejected,
        "conserved": not problems,
        "problems": problems,
        "stages": stages,
        "rejected_rows_by_stage": by_stage,
        "word_splitter": _word_splitter(spec),
    }
    for row in stages:  # run-level totals a user looks for first
        if "pii" in row:
            stats["pii_replacements"] = row["pii"]
        if "domain" in row:
            stats["domains"] = row["domain"]
    manifest = output / "tokens" / "manifest.json"
    if manifest.exists():
        totals = json.loads(manifest.read_text())["totals"]
        stats["tokens"] = {"documents": totals["rows"], "tokens": totals["tokens"], "bytes": totals["bytes"]}
        if totals["rows"] != kept:
            problems.append(f"tokens/ holds {totals['rows']} documents, documents/ {kept}")
            stats["conserved"], stats["problems"] = False, problems
    summary = output / "dedup" / "summary.json"
    if summary.exists():
        stats["dedup"] = json.loads(summary.read_text())
    (output / "stats.json").write_text(json.dumps(stats, indent=2))
    if problems:
        raise ConservationError(f"{output}/stats.json: records lost: " + "; ".join(problems))
    return stats


def _word_splitter(spec: PipelineSpec) -> str | None:
    if any(s.kind in ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality") for s in spec.stages):
        from curate.stages.filters import WORD_SPLITTER

        return WORD_SPLITTER
    return None
