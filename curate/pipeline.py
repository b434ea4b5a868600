"""A validated pipeline spec + input files → a datatrove pipeline, run by datatrove's local executor.

Layout of a run folder (the output contract):
  documents/<rank>.parquet         kept documents
  rejected/<stage>-<rank>.parquet  rejected records, with `stage` and `reason`
  stats.json, report.html          written after all tasks finish (`curate report` rewrites the report)
  logs/                            datatrove's per-task logs, stats and completion markers
  run.json                         what was asked: pipeline, inputs, workers, limit
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from curate.config import PipelineSpec, StageSpec
from curate.outputs import DocumentWriter, RejectedWriter
from curate.runfolder import RUN, RunError, expand_inputs, prepare

__all__ = ["Phase", "RunError", "RunOptions", "build_phases", "run"]


@dataclass
class RunOptions:
    inputs: list[str]
    output: Path
    workers: int = 1
    limit: int = -1
    overwrite: bool = False
    progress: bool = True


@dataclass
class Phase:
    """One datatrove executor run: its steps, tasks, and which stage row of stats.json each step feeds.

    `roles[i]` is (stage name, "row") for the step whose in/out/dropped make the stage's row, (stage name, "time")
    for a helper step whose seconds add to that stage, or None for plumbing (writers, staged readers).
    """

    name: str
    steps: list
    tasks: int
    roles: list


def _build(stage: StageSpec, rejected: str, output: Path):
    defn = stage.definition
    extra = {"output": str(output / "tokens")} if defn.writes_tokens else {}
    rejects = None if defn.never_rejects else RejectedWriter(rejected, stage.name)
    return stage.build(rejects=rejects, **extra)


def build_phases(
    spec: PipelineSpec, paths: list[str], output: Path, tasks: int, limit_per_task: int, progress: bool
) -> list[Phase]:
    """The whole run as phases: one, or four when a `dedup` stage needs every document before it can decide."""
    rejected = str(output / "rejected")
    ledger = {"ledger": str(output / "bytes")} if spec.reader.kind == "warc" else {}
    steps = [
        spec.reader.build(
            paths=paths, rejects=RejectedWriter(rejected, "read"), limit=limit_per_task, progress=progress, **ledger
        )
    ]
    roles: list = [("read", "row")]
    stages = list(spec.stages)
    split = next((i for i, s in enumerate(stages) if s.definition.barrier), None)
    for stage in stages if split is None else stages[:split]:
        steps.append(_build(stage, rejected, output))
        roles.append((stage.name, "row"))
    if split is None:
        return [Phase("pipeline", steps + [DocumentWriter(str(output / "documents"))], tasks, roles + [None])]

    from curate.dedup.steps import DedupCluster, DedupFilter, DedupKeys, LSHBuckets, StagedReader

    name = stages[split].name
    dedup = stages[split].build()
    workdir, staged = str(output / "dedup"), str(output / "staged")
    phases = [
        Phase(
            "filter", steps + [DedupKeys(workdir, dedup), DocumentWriter(staged)], tasks, roles + [(name, "time"), None]
        ),
    ]
    if dedup.near:
        phases.append(Phase("buckets", [LSHBuckets(workdir, dedup.bands)], min(dedup.bands, tasks), [(name, "time")]))
    phases.append(Phase("cluster", [DedupCluster(workdir, staged, dedup)], 1, [(name, "time")]))
    final = [StagedReader(staged), DedupFilter(workdir, rejects=RejectedWriter(rejected, name))]
    final_roles: list = [None, (name, "row")]
    for stage in stages[split + 1 :]:
        if stage.definition.barrier:
            raise RunError(f"{spec.path}: one {stage.kind} stage per pipeline")
        final.append(_build(stage, rejected, output))
        final_roles.append((stage.name, "row"))
    phases.append(Phase("final", final + [DocumentWriter(str(output / "documents"))], tasks, final_roles + [None]))
    return phases


def run(spec: PipelineSpec, options: RunOptions) -> dict:
    """Run the pipeline; returns the run's stats (also written to stats.json). Raises on lost records."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.utils.logging import logger

    if options.workers < 1:
        raise RunError(f"--workers {options.workers}: must be at least 1")
    paths = expand_inputs(options.inputs)
    workers = min(options.workers, len(paths))
    tasks = workers  # each task pays the blocklist and model set-up once: no more tasks than workers
    request = {
        "pipeline": spec.path,
        "spec": spec.to_dict(),
        "inputs": paths,
        "workers": workers,
        "tasks": tasks,
        "limit": options.limit,
    }
    output = Path(options.output)
    resuming = prepare(output, RUN, options.overwrite, request)
    if resuming:
        logger.info(f"resuming the interrupted run in {output}: completed tasks are skipped")
    limit_per_task = -1 if options.limit < 0 else -(-options.limit // tasks)
    phases = build_phases(spec, paths, output, tasks, limit_per_task, options.progress)
    started = time.time()
    for number, phase in enumerate(phases, 1):
        if len(phases) > 1:
            logger.info(f"phase {number}/{len(phases)}: {phase.name} ({phase.tasks} task(s))")
        LocalPipelineExecutor(
            pipeline=phase.steps,
            tasks=phase.tasks,
            workers=min(workers, phase.tasks),
            logging_dir=str(output / "logs" / f"{number}-{phase.name}"),
            skip_completed=True,
        ).run()
    from curate.report import write_report  # matplotlib: imported after the workers forked, not before
    from curate.stats import finalize
    from curate.tokenize import merge_manifests

    merge_manifests(output / "tokens")
    if (output / "staged").exists():
        shutil.rmtree(output / "staged")  # a copy of every pre-dedup document: only needed until phase 4 ran
    stats = finalize(output, spec, request, phases, seconds=time.time() - started)
    write_report(output)
    return stats
