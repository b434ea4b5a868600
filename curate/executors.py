"""Where a run's phases execute: datatrove's own executors, chained phase after phase with their `depends` mechanism.

  local   LocalPipelineExecutor: worker processes on this machine (the default)
  ray     RayPipelineExecutor on a Ray cluster (`ray_address`; none: a cluster of this machine is started)
  slurm   SlurmPipelineExecutor: one sbatch job array per phase, each `--dependency=afterok` on the one before, then a
          one-task job that writes stats.json and report.html

The pipeline YAML may hold an `executor:` mapping (its keys are the fields of `ExecutorSpec`); the command line
overrides it key by key. The run folder must be on storage every node sees (a cluster's shared file system).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from curate.limits import AT_LEAST_1, POSITIVE, NonEmpty, OneOf, Range
from curate.spec import ConfigError

KINDS = ("local", "ray", "slurm")
_TIME = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d\d)$")  # Slurm's [D-][HH:]MM:SS


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"
    partition: str | None = None  # slurm: the partition (`sinfo -s` lists them); required there
    cpus_per_task: int = 1  # ray and slurm: CPUs reserved per task
    mem_per_cpu_gb: float = 2.0  # ray and slurm: memory reserved per CPU (a task gets cpus × this)
    time: str = "12:00:00"  # ray and slurm: a task's time limit, [D-][HH:]MM:SS
    ray_address: str | None = None  # ray: "auto", "ray://head:10001", ...; none: start a cluster of this machine
    qos: str | None = None  # slurm: quality of service, when the cluster wants one
    env_command: str | None = None  # slurm: the shell line that sets up Python in a job; default: this venv
    wait: bool = True  # slurm: wait for the jobs and print the summary (False: submit and return)

    def check(self, where: str = "executor", complete: bool = True) -> ExecutorSpec:
        """Raise ConfigError naming the key; `complete=False` (a YAML the command line may still complete) lets a
        slurm executor leave its partition to the command line."""
        OneOf(KINDS, "an executor").check(self.kind, f"{where}.kind")
        AT_LEAST_1.check(self.cpus_per_task, f"{where}.cpus_per_task")
        Range(0, 4096, low_open=True).check(self.mem_per_cpu_gb, f"{where}.mem_per_cpu_gb")
        for key in ("partition", "ray_address", "qos", "env_command"):
            if getattr(self, key) is not None:
                NonEmpty().check(getattr(self, key), f"{where}.{key}")
        if time_seconds(self.time) is None:
            raise ConfigError(f"{where}.time: {self.time!r} is not a time limit; allowed: [D-][HH:]MM:SS, e.g. 4:00:00")
        POSITIVE.check(time_seconds(self.time), f"{where}.time")
        if complete and self.kind == "slurm" and not self.partition:
            raise ConfigError(f"{where}.partition: required by the slurm executor (`sinfo -s` lists the partitions)")
        return self

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def time_seconds(text: str) -> int | None:
    match = _TIME.match(str(text).strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_executor(data: Any, where: str, overrides: dict | None = None, complete: bool = True) -> ExecutorSpec:
    """The YAML's `executor:` (a kind, or a mapping of ExecutorSpec's fields), then the command line's values."""
    if data is None:
        data = {}
    if isinstance(data, str):
        data = {"kind": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{kind: slurm, partition: cpu}}, got {data!r}")
    known = {f.name: f for f in fields(ExecutorSpec)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(known)}")
    values = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    for key, value in values.items():
        kind = known[key].type
        if value is None:
            continue
        if kind in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}.{key}: expected a whole number, got {value!r}")
        if kind in ("float", float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        if kind in ("bool", bool) and not isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
        if key == "time":
            values[key] = str(value)
    return ExecutorSpec(**values).check(where, complete)


@dataclass
class PhaseRun:
    """What one phase needs from an executor: its steps, how many tasks, and where its logs go."""

    name: str
    steps: list
    tasks: int
    logs: Path
    progress: str | None = None  # local: the folder its tasks count their reading in (curate.progress)


def run_phases(spec: ExecutorSpec, phases: list[PhaseRun], workers: int, finish_step=None, on_phase=None) -> list:
    """Run the phases in order on the chosen executor; returns datatrove's executors.

    For slurm the chain is submitted (with `finish_step` as a last one-task job) and, when `spec.wait`, watched
    until it ends; local and ray run in this process and the caller finishes the run itself. `on_phase(number,
    count, name)` is called as each phase starts (the progress display names the phase after reading).
    """
    if spec.kind == "slurm":
        return _slurm(spec, phases, workers, finish_step)
    if spec.kind == "ray":
        _ray_init(spec)
    from curate.logs import notice

    executors: list = []
    for number, phase in enumerate(phases, 1):
        if len(phases) > 1:
            notice(f"phase {number}/{len(phases)}: {phase.name} ({phase.tasks} task(s))")
        if on_phase is not None:
            on_phase(number, len(phases), phase.name)
        executor = _make(spec, phase, workers, executors[-1] if executors else None)
        executor.run()
        incomplete = executor.get_incomplete_ranks(range(phase.tasks))
        if incomplete:
            raise RuntimeError(
                f"phase {phase.name}: {len(incomplete)} of {phase.tasks} task(s) did not complete"
                f" (first: {incomplete[0]}); their logs are in {phase.logs / 'logs'}; rerun the same command to resume"
            )
        executors.append(executor)
    return executors


def _make(spec: ExecutorSpec, phase: PhaseRun, workers: int, depends):
    common = {"pipeline": phase.steps, "tasks": phase.tasks, "logging_dir": str(phase.logs), "depends": depends}
    if spec.kind == "local":
        from curate.progress import ReportingLocalExecutor

        workers = min(workers, phase.tasks)
        return ReportingLocalExecutor(**common, workers=workers, skip_completed=True, progress=phase.progress)
    from datatrove.executor.ray import RayPipelineExecutor

    return RayPipelineExecutor(
        **common,
        workers=min(workers, phase.tasks),
        cpus_per_task=spec.cpus_per_task,
        mem_per_cpu_gb=spec.mem_per_cpu_gb,
        time=time_seconds(spec.time),
    )


def _ray_init(spec: ExecutorSpec) -> None:
    from curate.extras import require

    ray = require("ray", "executor.kind: ray")
    if not ray.is_initialized():
        ray.init(address=spec.ray_address, log_to_driver=False, include_dashboard=False)


def _slurm(spec: ExecutorSpec, phases: list[PhaseRun], workers: int, finish_step) -> list:
    from datatrove.executor.slurm import SlurmPipelineExecutor

    env = spec.env_command or _activate_line()
    chain: list = []
    for phase in phases + (
        [PhaseRun("finish", [finish_step], 1, phases[-1].logs.parent / "finish")] if finish_step else []
    ):
        chain.append(
            SlurmPipelineExecutor(
                pipeline=phase.steps,
                tasks=phase.tasks,
                workers=min(workers, phase.tasks),
                time=spec.time,
                partition=spec.partition,
                cpus_per_task=spec.cpus_per_task,
                mem_per_cpu_gb=int(spec.mem_per_cpu_gb),
                sbatch_args={"mem-per-cpu": f"{round(spec.mem_per_cpu_gb * 1024)}M"},  # sbatch reads no "1.5G"
                qos=spec.qos or "",
                env_command=env,
                job_name=f"curate-{phase.name}",
                logging_dir=str(phase.logs),
                depends=chain[-1] if chain else None,
                mail_type="NONE",
            )
        )
    chain[-1].run()  # submits every job not yet complete, each depending on the one before
    if spec.wait:
        wait_for(chain)
    return chain


def _activate_line() -> str:
    """The shell line that gives a job this Python: the running venv, else this interpreter's folder on PATH."""
    activate = Path(sys.prefix) / "bin" / "activate"
    if sys.prefix != sys.base_prefix and activate.exists():
        return f"source {activate}"
    return f'export PATH="{Path(sys.executable).parent}:$PATH"'


def wait_for(chain: list, poll: float = 5.0) -> None:
    """Until every task of the chain has its completion marker, or none of its jobs is left in the queue."""
    import subprocess

    ids = {str(e.job_id) for e in chain if e.job_id not in (None, -1)}
    while True:
        if all(not e.get_incomplete_ranks(range(e.world_size)) for e in chain):
            return
        queue = subprocess.run(["squeue", "-h", "-o", "%A %F"], capture_output=True, text=True).stdout.split()
        if not ids & set(queue):
            time.sleep(poll)  # a job may write its marker just after it leaves the queue
            if all(not e.get_incomplete_ranks(range(e.world_size)) for e in chain):
                return
            failed = next(e for e in chain if e.get_incomplete_ranks(range(e.world_size)))
            raise RuntimeError(
                f"slurm job {failed.job_name} ended with tasks incomplete; see {failed.logging_dir.path}/slurm_logs"
                " and rerun the same command to resume"
            )
        time.sleep(poll)


def overrides_from(args: Any) -> dict:
    """The command line's executor options, by ExecutorSpec field (None: not given)."""
    return {f.name: getattr(args, f.name, None) for f in fields(ExecutorSpec) if f.name != "kind"} | {
        "kind": getattr(args, "executor", None)
    }


def described(spec: ExecutorSpec) -> dict:
    """The executor as stats.json records it: its kind and the options that apply to it."""
    keep = {"local": (), "ray": ("cpus_per_task", "mem_per_cpu_gb", "time", "ray_address")}
    names = keep.get(spec.kind, ("partition", "cpus_per_task", "mem_per_cpu_gb", "time", "qos"))
    return {"kind": spec.kind, **{n: getattr(spec, n) for n in names}}
