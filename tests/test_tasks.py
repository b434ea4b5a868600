"""Tasks are decoupled from workers: the task plan, and output that does not depend on how the work was cut."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_outputs

from curate.taskplan import plan_tasks

# A pipeline with every phase a run can have: reader, extraction, the four dedup phases, a stage after dedup.
PIPELINE = """\
reader:
  warc: {}
stages:
  - extract: {}
  - language: {languages: null, min_score: 0.0}
  - dedup: {}
  - pii: {}
"""


def _files(tmp_path: Path, sizes: list[int]) -> list[str]:
    paths = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"f{i}.warc.gz"
        path.write_bytes(b"x" * size)
        paths.append(str(path))
    return paths


def test_default_plan_is_one_task_per_file_with_small_files_grouped(tmp_path):
    paths = _files(tmp_path, [100, 100, 100, 100, 1000])
    assert plan_tasks(paths, target=250, min_tasks=1) == [[0, 1], [2, 3], [4]]
    assert plan_tasks(paths, target=10, min_tasks=1) == [[0], [1], [2], [3], [4]]
    # a small input is still cut into many tasks (a 64th of it each), so workers do not idle
    many = _files(tmp_path, [10] * 200)
    assert len(plan_tasks(many)) == 67 and plan_tasks(many)[0] == [0, 1, 2]  # groups of 30 bytes ≤ 2000 / 64


def test_tasks_option_balances_by_size_and_never_splits_a_file(tmp_path):
    paths = _files(tmp_path, [1000, 100, 100, 100, 900])
    groups = plan_tasks(paths, tasks=2)
    assert sorted(i for g in groups for i in g) == [0, 1, 2, 3, 4]
    assert groups == [[0], [1, 2, 3, 4]] or groups == [[0, 1], [2, 3, 4]] or len(groups) == 2
    loads = [sum([1000, 100, 100, 100, 900][i] for i in g) for g in groups]
    assert max(loads) <= 1100
    assert len(plan_tasks(paths, tasks=50)) == 5  # at most one task per file


def test_remote_files_are_one_task_each():
    urls = [f"https://example.org/crawl/{i}.warc.gz" for i in range(3)]
    assert plan_tasks(urls) == [[0], [1], [2]]


def test_cli_rejects_bad_task_and_crawl_options(tmp_path, capsys):
    from curate.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        try:
            code = main(["run", str(REPO / "pipelines" / "extract.yaml"), *args, "-o", str(tmp_path / "o")])
        except SystemExit as exit:  # argparse's own errors
            code = int(exit.code or 0)
        return subprocess.CompletedProcess([], code, "", capsys.readouterr().err)

    bad = run("-i", "x.warc.gz", "--tasks", "0")
    assert bad.returncode == 2 and "--tasks must be at least 1, got 0" in bad.stderr
    orphan = run("-i", "x.warc.gz", "--files", "3")
    assert orphan.returncode == 2 and "--files and --sample choose files of a --crawl" in orphan.stderr
    both = run("-i", "x.warc.gz", "--crawl", "CC-MAIN-2024-22")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    slurm = run("-i", "x.warc.gz", "--executor", "slurm")
    assert slurm.returncode == 2 and "executor.partition: required by the slurm executor" in slurm.stderr
    time = run("-i", "x.warc.gz", "--executor", "ray", "--time", "forever")
    assert time.returncode == 2 and "executor.time: 'forever' is not a time limit" in time.stderr


@pytest.mark.slow
def test_output_does_not_depend_on_tasks_or_workers(tmp_path, data):
    """1 task × 1 worker and 7 tasks × 2 workers (files grouped into tasks, tasks run out of order): the same kept ids
    and texts, the same rejects and reasons, the same byte ledger, the same dedup decisions."""
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(PIPELINE)
    inputs = sorted(str(p) for p in (data / "warc").iterdir())
    results = {}
    for tasks, workers in ((1, 1), (7, 2)):
        out = tmp_path / f"t{tasks}w{workers}"
        done = subprocess.run(
            [sys.executable, "-m", "curate", "run", str(spec), "-i", *inputs, "-o", str(out)]
            + ["--tasks", str(tasks), "--workers", str(workers), "--no-progress"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results[tasks] = run_outputs(out)
        assert results[tasks]["counts"]["conserved"]
    one = results[1]
    assert one["dedup"]["exact_duplicate"] > 0 and one["kept"]
    for key in ("kept", "rejected", "ledger", "dedup", "counts"):
        assert results[7][key] == one[key], f"{key} differs between 1 task and 7 tasks"
