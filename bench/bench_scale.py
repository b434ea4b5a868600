"""Benchmark: how a run scales: throughput against workers and tasks, and memory against input size, in one run.

1. Throughput vs workers: `pipelines/fineweb.yaml` on the shared WARC files repeated `--copies` times (30: about
   20,000 response records; each copy a link with its own name, so its records get their own ids and the dedup
   phases see real duplicates) with 1 and 2 workers on the default task plan (one task per file), and the baseline,
   today's former plan of one task per worker (`--tasks 2` on 2 workers), in the same run. Records/s, peak RSS of
   the largest single process (what a scheduler must reserve per worker) and of the whole tree, and the per-task
   overhead: (CPU seconds of the default plan - CPU seconds of the baseline) / (extra tasks).
2. Memory vs input: the same pipeline at 1x and 10x the input (documents), 2 workers: peak RSS of every phase (the
   whole tree, and its largest process); bounded means the 10x peak within 1.2x of the 1x peak, phase by phase.
3. Cost per core: for every phase, CPU seconds per input record (datatrove's step timers summed over tasks), the
   figures README's cost table for a full dump rests on.

Writes bench/results/scale.json and prints the tables. A benchmark, not a test.

    make bench          # runs it with the others
    .venv/bin/python bench/bench_scale.py --copies 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchlib import RESULTS, data_dir, machine, run_sampled, table_row, write_results

PIPELINE = "pipelines/fineweb.yaml"
GOAL_MEMORY = 1.2


def make_input(folder: Path, copies: int) -> tuple[Path, int]:
    """`copies` links to each shared WARC/ARC file, each with its own name; returns the folder and its file count."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for p in (data_dir() / "warc").iterdir() if p.is_file())
    for copy in range(copies):
        for source in sources:
            (folder / f"c{copy:03d}-{source.name}").symlink_to(source)
    return folder, copies * len(sources)


def phase_watcher(out: Path):
    """Which phase a run is in, from the log folders datatrove creates: the newest one, `after X` once its merged
    stats.json is written (the next phase has not started yet, or the run is writing stats and the report)."""

    def phase() -> str:
        logs = out / "logs"
        try:
            folders = sorted(d for d in logs.iterdir() if d.is_dir() and d.name[:1].isdigit())
        except OSError:
            return "start"
        if not folders:
            return "start"
        last = folders[-1]
        return f"after {last.name}" if (last / "stats.json").exists() else last.name

    return phase


def phase_costs(out: Path) -> dict[str, dict]:
    """Per phase: CPU seconds summed over its tasks' step timers, and per input record of the run."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from curate.stats import merge_task_stats

    stats = json.loads((out / "stats.json").read_text())
    records = max(stats["input_records"], 1)
    costs = {}
    for folder in sorted(d for d in (out / "logs").iterdir() if d.is_dir() and d.name[:1].isdigit()):
        seconds = sum(step["seconds"] for step in merge_task_stats(folder))
        costs[folder.name] = {"cpu_s": round(seconds, 2), "ms_per_record": round(1000 * seconds / records, 3)}
    return costs


def one_run(input_dir: Path, work: Path, name: str, workers: int, tasks: int | None = None) -> dict:
    out = work / name
    cmd = [sys.executable, "-m", "curate", "run", PIPELINE, "-i", str(input_dir), "-o", str(out)]
    cmd += ["--workers", str(workers), "--no-progress", "--overwrite"] + (["--tasks", str(tasks)] if tasks else [])
    print(f"  {name}: {' '.join(cmd[3:])}", flush=True)
    sampled = run_sampled(cmd, work / f"{name}.log", interval=0.1, phase_of=phase_watcher(out))
    if sampled["returncode"] != 0:
        kept = RESULTS / f"scale-{name}.log"
        RESULTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / f"{name}.log", kept)
        raise SystemExit(f"{name} failed; its output: {kept}")
    stats = json.loads((out / "stats.json").read_text())
    read = next(s for s in stats["stages"] if s["stage"] == "read")
    result = {
        "workers": workers,
        "tasks": stats["tasks"],
        "input_records": stats["input_records"],
        "response_records": read["out"] + sum(v for k, v in read["dropped"].items() if k != "not_response"),
        "kept": stats["kept"],
        "records_per_s": round(stats["input_records"] / sampled["wall_s"], 1),
        "phase_costs": phase_costs(out),
        **sampled,
    }
    shutil.rmtree(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=30, help="copies of the shared crawl for throughput (30)")
    parser.add_argument("--small", type=int, default=1, help="copies for the 1x memory run (1)")
    parser.add_argument("--large", type=int, default=10, help="copies for the 10x memory run (10)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="curate-scale-"))
    results: dict = {"machine": machine(), "pipeline": PIPELINE, "throughput": {}, "memory": {}}
    try:
        print(f"throughput: {args.copies} copies of the shared crawl")
        folder, files = make_input(work / "in-throughput", args.copies)
        results["input_files"] = files
        for name, workers, tasks in (("1 worker", 1, None), ("2 workers", 2, None), ("2 workers, 2 tasks", 2, 2)):
            results["throughput"][name] = one_run(folder, work, name.replace(" ", "").replace(",", "-"), workers, tasks)
        for copies in (args.small, args.large):
            if copies == args.copies:  # the same command as the 2-worker throughput run: its phases are the figures
                results["memory"][f"{copies}x"] = results["throughput"]["2 workers"]
                continue
            print(f"memory: {copies} copies")
            folder, _ = make_input(work / f"in-{copies}", copies)
            results["memory"][f"{copies}x"] = one_run(folder, work, f"mem{copies}", 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(results, args)
    size = (
        f"shared crawl × {args.copies} ({results['throughput']['1 worker']['input_records']:,} records) for "
        f"throughput; × {args.small} and × {args.large} for memory"
    )
    write_results("scale", results, size, table_rows(results, args))


def table_rows(results: dict, args: argparse.Namespace) -> list[dict]:
    """Throughput against workers and against the former plan, and the worst phase's memory growth with input."""
    runs = results["throughput"]
    one, two, base = runs["1 worker"], runs["2 workers"], runs["2 workers, 2 tasks"]

    worst = max(results["memory_ratios"], key=lambda phase: results["memory_ratios"][phase]["process_ratio"])
    small, large = results["memory"][f"{args.small}x"], results["memory"][f"{args.large}x"]
    return [
        table_row(
            f"records/s, 2 workers, default plan ({two['tasks']} tasks)",
            two["records_per_s"],
            "records/s",
            baseline="1 worker, default plan",
            baseline_value=one["records_per_s"],
            peak_rss_mib=two["peak_rss_mib"],
        ),
        table_row(
            f"records/s, 2 workers, default plan ({two['tasks']} tasks)",
            two["records_per_s"],
            "records/s",
            baseline="2 workers, 1 task per worker",
            baseline_value=base["records_per_s"],
            peak_rss_mib=two["peak_rss_mib"],
        ),
        table_row(
            f"peak RSS of the largest process, phase '{worst}' (the worst), {args.large}× input",
            large["phases"][worst]["peak_process_rss_mib"],
            "MiB",
            baseline=f"the same at {args.small}× input",
            baseline_value=small["phases"][worst]["peak_process_rss_mib"],
            goal=f"≤ {GOAL_MEMORY}× (bounded)",
            peak_rss_mib=large["peak_rss_mib"],
        ),
    ]


def summarize(results: dict, args: argparse.Namespace) -> None:
    runs = results["throughput"]
    print(f"\n{'run':<22}{'tasks':>6}{'records/s':>11}{'wall s':>9}{'cpu s':>9}{'worker MiB':>12}{'tree MiB':>10}")
    for name, r in runs.items():
        worker = max(p["peak_process_rss_mib"] for p in r["phases"].values())
        print(
            f"{name:<22}{r['tasks']:>6}{r['records_per_s']:>11}{r['wall_s']:>9.1f}{r['cpu_s']:>9.1f}"
            f"{worker:>12.0f}{r['peak_rss_mib']:>10.0f}"
        )
    one, two, base = runs["1 worker"], runs["2 workers"], runs["2 workers, 2 tasks"]
    extra = two["tasks"] - base["tasks"]
    results["ratios"] = {
        "two_over_one_workers": round(two["records_per_s"] / one["records_per_s"], 3),
        "default_plan_over_one_task_per_worker": round(two["records_per_s"] / base["records_per_s"], 3),
        "per_task_overhead_cpu_s": round((two["cpu_s"] - base["cpu_s"]) / extra, 3) if extra > 0 else None,
    }
    print(f"ratios: {results['ratios']}")
    small, large = results["memory"][f"{args.small}x"], results["memory"][f"{args.large}x"]
    print(f"\n{'phase':<18}{'1x tree':>9}{'10x tree':>10}{'ratio':>7}{'1x proc':>9}{'10x proc':>10}{'ratio':>7}")
    bounded = {}
    for phase in sorted(set(small["phases"]) & set(large["phases"])):
        a, b = small["phases"][phase], large["phases"][phase]
        tree = b["peak_rss_mib"] / max(a["peak_rss_mib"], 1)
        proc = b["peak_process_rss_mib"] / max(a["peak_process_rss_mib"], 1)
        bounded[phase] = {"tree_ratio": round(tree, 3), "process_ratio": round(proc, 3)}
        print(
            f"{phase:<18}{a['peak_rss_mib']:>9.0f}{b['peak_rss_mib']:>10.0f}{tree:>7.2f}"
            f"{a['peak_process_rss_mib']:>9.0f}{b['peak_process_rss_mib']:>10.0f}{proc:>7.2f}"
        )
    results["memory_ratios"] = bounded
    results["memory_bounded"] = all(v["process_ratio"] <= GOAL_MEMORY for v in bounded.values())
    print(f"bounded (every phase's largest process within {GOAL_MEMORY}x): {results['memory_bounded']}")


if __name__ == "__main__":
    main()
