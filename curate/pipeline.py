"""A validated pipeline spec + input files → datatrove phases, run by one of datatrove's executors (curate.executors).

Layout of a run folder (the output contract):
  documents/<rank>.parquet         kept documents
  rejected/<stage>-<rank>.parquet  rejected records, with `stage` and `reason`
  stats.json, report.html          written after all tasks finish (`curate report` rewrites the report)
  logs/                            datatrove's per-task logs, stats and completion markers, one folder per phase
  run.json                         what was asked: pipeline, inputs, tasks, limit (what decides the output)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.config import PipelineSpec, StageSpec
from curate.executors import ExecutorSpec, PhaseRun
from curate.outputs import DocumentWriter, RejectedWriter
from curate.runfolder import RUN, RunError, atomic_write_text, expand_inputs, prepare

__all__ = ["Phase", "RunError", "RunOptions", "build_phases", "run"]


@dataclass
class RunOptions:
    inputs: list[str]
    output: Path
    workers: int = 1
    tasks: int | None = None  # None: one per input file, small files grouped (curate.taskplan)
    limit: int = -1
    overwrite: bool = False
    progress: bool = True  # local executor: one display for the run (curate.progress)
    executor: ExecutorSpec | None = None  # None: the pipeline's `executor:`, else local
    progress_every: float = 30.0  # seconds between status lines when stderr is not a terminal


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

    from curate.dedup.buckets import LSHBuckets
    from curate.dedup.steps import DedupCluster, DedupFilter, DedupKeys, StagedReader

    name = stages[split].name
    dedup = stages[split].build()
    workdir, staged = str(output / "dedup"), str(output / "staged")
    phases = [
        Phase(
            "filter", steps + [DedupKeys(workdir, dedup), DocumentWriter(staged)], tasks, roles + [(name, "time"), None]
        ),
    ]
    if dedup.near:
        buckets = LSHBuckets(workdir, dedup.bands, dedup.memory_bytes)
        phases.append(Phase("buckets", [buckets], dedup.bands, [(name, "time")]))  # a band per task, any input
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


def run(spec: PipelineSpec, options: RunOptions) -> dict | None:
    """Run the pipeline; returns the run's stats (also written to stats.json), or None when the jobs were only
    submitted (slurm, `wait: false`). Raises on lost records."""
    from curate.executors import described, parse_executor, run_phases
    from curate.logs import notice
    from curate.taskplan import plan_tasks

    if options.workers < 1:
        raise RunError(f"--workers {options.workers}: must be at least 1")
    executor = options.executor or parse_executor(spec.executor, f"{spec.path}: executor")
    paths = expand_inputs(options.inputs)
    output = Path(options.output)
    if executor.kind != "local":  # tasks start in another folder, perhaps on another machine
        paths = [p if "://" in p else os.path.abspath(p) for p in paths]
        output = output.resolve()
    groups = plan_tasks(paths, options.tasks)
    if 0 < options.limit < len(groups):  # every task reads at least one record
        groups = plan_tasks(paths, options.limit)
    tasks = len(groups)
    workers = min(options.workers, tasks)
    request = {"pipeline": spec.path, "spec": spec.to_dict(), "inputs": paths, "tasks": tasks, "limit": options.limit}
    resuming = prepare(output, RUN, options.overwrite, request)
    if resuming:
        notice(f"resuming the interrupted run in {output}: completed tasks are skipped")
    limit_per_task = -1 if options.limit < 0 else -(-options.limit // tasks)
    task_limits = (
        None if options.limit < 0 else [options.limit // tasks + (r < options.limit % tasks) for r in range(tasks)]
    )
    phases = build_phases(spec, paths, output, tasks, limit_per_task, progress=False)  # one display, not one a task
    phases[0].steps[0].groups = groups  # the reader: which files each task reads
    phases[0].steps[0].task_limits = task_limits  # and, under --limit, how many records: N in all
    started = time.time()
    (output / "logs").mkdir(exist_ok=True)
    atomic_write_text(output / "logs" / "started.json", json.dumps({"started": started}))
    runs = [PhaseRun(p.name, p.steps, p.tasks, output / "logs" / f"{n}-{p.name}") for n, p in enumerate(phases, 1)]
    finish = FinishRun(str(output), spec, {**request, "workers": workers, "executor": described(executor)}, phases)
    with _progress(options, executor, runs[0], paths) as on_phase:
        run_phases(executor, runs, workers, finish if executor.kind == "slurm" else None, on_phase)
    if executor.kind != "slurm":
        return finish.finish()
    if not executor.wait:
        return None
    return _read_stats(output)


@contextmanager
def _progress(options: RunOptions, executor: ExecutorSpec, first: PhaseRun, paths: list[str]) -> Iterator:
    """The run's progress display while inside (local executor, `options.progress`); yields the phase callback."""
    if not options.progress or executor.kind != "local":
        yield None
        return
    from curate.progress import for_run

    first.progress = str(first.logs / "progress")  # the first phase's reader counts there
    with for_run(Path(first.progress), paths, options.limit, options.progress_every) as display:
        yield display.on_phase


def _read_stats(output: Path) -> dict:
    from curate.stats import ConservationError

    stats = json.loads((output / "stats.json").read_text())
    if stats.get("problems"):
        raise ConservationError(f"{output}/stats.json: records lost: " + "; ".join(stats["problems"]))
    return stats


class FinishRun(PipelineStep):
    """The end of every run, after its last phase: token manifests merged, staged copies removed, stats.json and
    report.html written. A step, so that a Slurm chain runs it as its last job."""

    name = "📊 stats and report"
    type = "📊 - REPORT"

    def __init__(self, output: str, spec: PipelineSpec, request: dict, phases: list[Phase]):
        super().__init__()
        self.output, self.spec, self.request = output, spec, request
        self.phases = [Phase(p.name, [], p.tasks, p.roles) for p in phases]  # names and roles: not the steps

    def finish(self) -> dict:
        from curate.report import write_report  # matplotlib: imported after the workers forked, not before
        from curate.stats import finalize
        from curate.tokenize import merge_manifests

        output = Path(self.output)
        started = json.loads((output / "logs" / "started.json").read_text())["started"]
        merge_manifests(output / "tokens")
        if (output / "staged").exists():
            shutil.rmtree(output / "staged")  # a copy of every pre-dedup document: only needed until phase 4 ran
        stats = finalize(output, self.spec, self.request, self.phases, seconds=time.time() - started)
        write_report(output)
        return stats

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.finish()
        if data:
            yield from data
