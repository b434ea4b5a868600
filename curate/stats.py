"""stats.json: the funnel of a run, checked against the rows actually on disk.

The conservation check is the product's promise: every input byte is in a record or in a rejected range (the byte
ledger, curate.ledger), and every input record is either a row of documents/ or a row of rejected/. It counts
Parquet rows (not the counters the stages keep about themselves), so a stage that drops a
record without writing it is caught. `write_stats` is the one writer of stats.json (`curate run` and `curate ingest`
both go through it); `finalize` builds a pipeline run's stage table from datatrove's per-task stats first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curate.config import PipelineSpec
from curate.datacard import write_card
from curate.runfolder import atomic_write_text
from curate.tokens import manifest_path


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


def stage_table(output: Path, phases: list, tallies: dict[str, str] | None = None) -> list[dict]:
    """One row per stage, in pipeline order, from the phases' step roles (see curate.pipeline.Phase).

    `tallies` maps a stage name to the prefix of its counters that are not drops (e.g. replacements per PII type);
    they become `row[prefix without "_"]`.
    """
    tallies = tallies or {}
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
            prefix = tallies.get(name)
            if prefix:
                tally = {k.removeprefix(prefix): int(v) for k, v in sorted(counters.items()) if k.startswith(prefix)}
                if tally:
                    row[prefix.rstrip("_")] = tally
    return list(rows.values())


def _problems(stages: list[dict], input_records: int, kept: int, rejected: int, by_stage: dict[str, int]) -> list:
    problems = []
    if input_records != kept + rejected:
        problems.append(f"input_records {input_records} != kept {kept} + rejected {rejected}")
    for i, row in enumerate(stages):
        dropped = sum(row["dropped"].values())
        if row["in"] != row["out"] + dropped:
            problems.append(f"stage {row['stage']}: in {row['in']} != out {row['out']} + dropped {row['dropped']}")
        if i and row["in"] != stages[i - 1]["out"]:
            problems.append(f"stage {row['stage']}: in {row['in']} != previous stage's out {stages[i - 1]['out']}")
        if by_stage.get(row["stage"], 0) != dropped:
            problems.append(
                f"stage {row['stage']}: {by_stage.get(row['stage'], 0)} rejected rows on disk, {dropped} counted"
            )
    if stages and stages[-1]["out"] != kept:
        problems.append(f"last stage forwarded {stages[-1]['out']} documents, {kept} rows in documents/")
    return problems


def write_stats(output: Path, header: dict[str, Any], stages: list[dict], extra: dict[str, Any] | None = None) -> dict:
    """Count the rows on disk, check conservation, write stats.json; raise ConservationError (after writing it).

    `header` leads the file (what was run: pipeline, name, inputs, workers, tasks, limit, seconds...); `stages` is the
    funnel, the first stage's `in` being the input records; `extra` follows the checked counts.
    """
    output = Path(output)
    kept_rows = parquet_rows(output / "documents")
    rejected_rows = parquet_rows(output / "rejected")
    by_stage: dict[str, int] = {}
    for name, rows in rejected_rows.items():
        stage = name.rsplit("-", 1)[0]
        by_stage[stage] = by_stage.get(stage, 0) + rows
    input_records = stages[0]["in"] if stages else 0
    kept, rejected = sum(kept_rows.values()), sum(rejected_rows.values())
    problems = _problems(stages, input_records, kept, rejected, by_stage)
    stats = {
        **header,
        "input_records": input_records,
        "kept": kept,
        "rejected": rejected,
        "conserved": not problems,
        "problems": problems,
        "stages": stages,
        "rejected_rows_by_stage": by_stage,
        **(extra or {}),
    }
    manifest = manifest_path(output / "tokens")
    if manifest.exists():
        totals = json.loads(manifest.read_text())["totals"]
        stats["tokens"] = {"documents": totals["rows"], "tokens": totals["tokens"], "bytes": totals["bytes"]}
        if totals["rows"] != kept:
            problems.append(f"tokens/ holds {totals['rows']} documents, documents/ {kept}")
            stats["conserved"] = False
    if (output / "bytes").is_dir():
        from curate.ledger import account

        stats["bytes"] = account(output / "bytes", list(header.get("inputs") or []))
        if not stats["bytes"]["accounted"]:
            problems.extend(f"bytes: {p}" for p in stats["bytes"]["problems"])
            stats["conserved"] = False
    summary = output / "dedup" / "summary.json"
    if summary.exists():
        stats["dedup"] = json.loads(summary.read_text())
    atomic_write_text(output / "stats.json", json.dumps(stats, indent=2))
    write_card(output, stats)  # README.md: what the folder holds, and its configurations for `load_dataset(RUN)`
    if problems:
        raise ConservationError(f"{output}/stats.json: records lost: " + "; ".join(problems))
    return stats


def finalize(output: Path, spec: PipelineSpec, request: dict, phases: list, seconds: float) -> dict:
    """A pipeline run's stats.json: the stage table from datatrove's per-task stats, then `write_stats`."""
    tallies = {s.name: s.definition.tally[0] for s in spec.stages if s.definition.tally}
    stages = stage_table(Path(output), phases, tallies)
    header = {
        "pipeline": request.get("pipeline"),
        "name": spec.name,
        "inputs": request.get("inputs", []),
        "workers": request.get("workers"),
        "tasks": request.get("tasks"),
        "executor": request.get("executor"),
        "limit": request.get("limit"),
        "seconds": round(seconds, 3),
    }
    extra: dict[str, Any] = {"word_splitter": _word_splitter(spec)}
    by_name = {s.name: s.definition for s in spec.stages}
    for row in stages:  # run-level totals a user looks for first
        tally = by_name[row["stage"]].tally if row["stage"] in by_name else None
        if tally and tally[0].rstrip("_") in row:
            extra[tally[1]] = row[tally[0].rstrip("_")]
    return write_stats(output, header, stages, extra)


def _word_splitter(spec: PipelineSpec) -> str | None:
    if any(s.definition.word_splitter for s in spec.stages):
        from curate.stages.filters import WORD_SPLITTER

        return WORD_SPLITTER
    return None
