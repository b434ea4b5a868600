"""The executors: options validated with errors naming the key, and a real Ray cluster and a real one-node Slurm
cluster giving output identical to the local executor's for a 4-phase dedup run (filter, buckets, cluster, final)
and the finish step; a plain run is the same chain with one phase."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_outputs
from slurmlocal import slurm_partition  # noqa: F401  (the fixture)

from curate.config import ConfigError, parse
from curate.executors import ExecutorSpec, parse_executor, time_seconds

PLAIN = "reader:\n  warc: {}\nstages:\n  - extract: {}\n  - language: {languages: null, min_score: 0.0}\n"
DEDUP = PLAIN + "  - dedup: {}\n  - pii: {}\n"


def test_executor_options_are_validated_with_the_key_named():
    assert parse_executor(None, "executor") == ExecutorSpec()
    assert parse_executor("ray", "executor").kind == "ray"
    spec = parse_executor({"kind": "slurm", "partition": "cpu", "time": "1-02:00:00"}, "executor")
    assert time_seconds(spec.time) == 26 * 3600
    cases = {
        "{kind: kubernetes}": "executor.kind: 'kubernetes' is not an executor (allowed: local, ray, slurm)",
        "{kind: slurm}": "executor.partition: required by the slurm executor",
        "{cpus_per_task: 0}": "executor.cpus_per_task: 0 is outside [1, inf)",
        "{cpus_per_task: 1.5}": "executor.cpus_per_task: expected a whole number, got 1.5",
        "{mem_per_cpu_gb: -1}": "executor.mem_per_cpu_gb: -1 is outside (0, 4096]",
        "{time: 90}": "executor.time: '90' is not a time limit",
        "{wait: maybe}": "executor.wait: expected true or false",
        "{nodes: 3}": "executor.nodes: unknown key; allowed: kind, partition",
    }
    import yaml

    for text, message in cases.items():
        with pytest.raises(ConfigError) as err:
            parse_executor(yaml.safe_load(text), "executor")
        assert message in str(err.value), (text, str(err.value))
    # the command line completes and overrides the YAML
    merged = parse_executor({"kind": "slurm", "time": "1:00:00"}, "executor", {"partition": "gpu", "time": None})
    assert (merged.partition, merged.time) == ("gpu", "1:00:00")


def test_pipeline_yaml_may_name_its_executor_and_it_does_not_change_what_the_run_is():
    import yaml

    data = yaml.safe_load(PLAIN)
    plain = parse(dict(data), "p.yaml")
    with_slurm = parse({**data, "executor": {"kind": "slurm", "mem_per_cpu_gb": 4}}, "p.yaml")  # partition: CLI
    assert with_slurm.to_dict() == plain.to_dict()  # a resumed run may move from a laptop to a cluster
    with pytest.raises(ConfigError, match=r"p.yaml: executor.kind: 'k8s' is not an executor"):
        parse({**data, "executor": "k8s"}, "p.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real Ray cluster on this machine: a head node with 2 worker CPUs, started with Ray's own command."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is None:
        pytest.fail("Ray's `ray` command is missing from the environment: the test extra installs it")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    done = subprocess.run(start + ["--disable-usage-stats"], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)


def _run(spec: Path, inputs: list[str], out: Path, *extra: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "curate", "run", str(spec), "-i", *inputs, "-o", str(out), "--no-progress", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory, data):
    """The local executor's output for each pipeline, computed once: what every other executor must reproduce."""
    root = tmp_path_factory.mktemp("local")
    inputs = sorted(str(p) for p in (data / "warc").iterdir() if "heritrix" not in p.name)
    done: dict[str, dict] = {}

    def reference(pipeline: str) -> tuple[Path, list[str], dict]:
        spec = root / f"{len(pipeline)}.yaml"
        if pipeline not in done:
            spec.write_text(pipeline)
            _run(spec, inputs, root / spec.stem, "--workers", "2")
            done[pipeline] = run_outputs(root / spec.stem)
        return spec, inputs, done[pipeline]

    return reference


def _same_as_local(run_dir: Path, local: dict, pipeline: str, marker: str) -> None:
    assert local["counts"]["conserved"] and local["kept"]
    other = run_outputs(run_dir)
    for key in ("kept", "rejected", "ledger", "dedup", "counts"):
        assert other[key] == local[key], f"{key} differs from the local executor's"
    phases = sorted(p.name for p in (run_dir / "logs").iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(phases) == (4 if "dedup" in pipeline else 1)
    for phase in phases:  # every phase ran on that executor (its options are in datatrove's executor.json)
        assert marker in (run_dir / "logs" / phase / "executor.json").read_text()


@pytest.mark.slow
def test_ray_output_is_identical_to_local(tmp_path, local_runs, ray_cluster):
    pipeline = DEDUP
    spec, inputs, local = local_runs(pipeline)
    _run(spec, inputs, tmp_path / "ray", "--workers", "2", "--executor", "ray", "--ray-address", ray_cluster)
    _same_as_local(tmp_path / "ray", local, pipeline, '"nodes_per_task"')


@pytest.mark.slow
def test_slurm_output_is_identical_to_local(tmp_path, local_runs, slurm_partition):  # noqa: F811
    """Through sbatch on a one-node Slurm cluster (tests/slurmlocal.py): one job array per phase, each depending on
    the one before, and a last job that writes stats.json and the report."""
    pipeline = DEDUP
    spec, inputs, local = local_runs(pipeline)
    out = tmp_path / "slurm"
    _run(spec, inputs, out, "--workers", "2", "--executor", "slurm", "--partition", slurm_partition)
    _run_args = (out / "logs" / "finish" / "launch_script.slurm").read_text()
    assert "#SBATCH --partition=" + slurm_partition in _run_args
    _same_as_local(out, local, pipeline, '"partition"')
    scripts = sorted((out / "logs").glob("*/launch_script.slurm"))
    assert len(scripts) == (5 if "dedup" in pipeline else 2)  # every phase, then the finish job
