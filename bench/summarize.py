"""Gather the benchmarks' results into bench/results.json and a Markdown table, bench/RESULTS.md (`make bench`'s last
step).

Each `bench_*.py` writes bench/results/NAME.json with `bench`, `size`, `table` (rows: what is measured, ours, the
baseline's name and figure from the same run, their ratio, the goal, peak RSS) and `bench_wall_s`
(benchlib.write_results). This script only reads those files: it measures nothing, so the table is exactly what the
benchmarks wrote. The benchmarks named on the command line must all be there (one missing or written by an older
version of its script is an error); files of other benchmarks are left out.

    .venv/bin/python bench/summarize.py pipeline minhash dedup ...   [--results DIR] [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchlib import BASELINE_VENV, RESULTS, ROOT, machine


def load(results: Path, names: list[str]) -> list[dict]:
    """The results file of each named benchmark, in the order given; exits 2 naming what is missing or stale."""
    found, problems = [], []
    for name in names:
        path = results / f"{name}.json"
        if not path.is_file():
            problems.append(f"{path}: missing (did bench_{name}.py run?)")
            continue
        record = json.loads(path.read_text())
        if "table" not in record:
            problems.append(f"{path}: no 'table' key (written by an older bench_{name}.py; run it again)")
            continue
        found.append(record)
    if problems:
        sys.exit("summarize: " + "; ".join(problems))
    return found


def baseline_packages() -> dict[str, str]:
    """Versions installed in .venv-bench (the datatrove baseline), read from its dist-info folder names."""
    versions = {}
    for dist in sorted(BASELINE_VENV.glob("lib/python*/site-packages/*.dist-info")):
        name, _, version = dist.name.removesuffix(".dist-info").partition("-")
        if name.lower() in ("datatrove", "trafilatura", "spacy", "xxhash", "datasketch", "fasttext_numpy2_wheel"):
            versions[name.lower()] = version
    return versions


def number(value: float | int | None) -> str:
    """Thousands separators; one decimal from 10 to 100, two from 1 to 10, two significant figures below 1."""
    if value is None:
        return "—"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def with_unit(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{number(value)}{unit}" if unit == "%" else f"{number(value)} {unit}".strip()


def markdown(summary: dict) -> str:
    m = summary["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items() if v)
    baseline = ", ".join(f"{k} {v}" for k, v in summary["baseline_venv"].items()) or "not built"
    lines = [
        "# `make bench` results",
        "",
        f"- **Machine**: {m['cpu']}, {m['cpu_count']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['platform']}",
        f"- **Packages** (.venv): {packages}",
        f"- **Baseline venv** (.venv-bench): {baseline}",
        f"- **Commit**: {m['git_commit'][:12]}{' (uncommitted changes)' if m['git_dirty'] else ''}; "
        f"finished {summary['finished_at']}; load average (1 min) at the end: {summary['loadavg_1min_end']}",
        f"- **Wall time**: {summary['total_wall_s']:,.0f} s from the first benchmark's start to the last one's end "
        f"(the benchmarks' own times add up to {summary['sum_bench_wall_s']:,.0f} s, of which "
        f"{summary['setup_s']:,.0f} s building the baseline's venv)",
        "",
        "Ratios are ours / baseline, both measured in the same run (on a machine other processes share, wall times "
        "move together; the ratios are the figures to compare). The goal column says which way is better. Peak RSS is "
        "ours, where the benchmark measures it. `make bench` runs quick sizes (column *size*); each script's "
        "defaults are the full sizes in bench/README.md.",
        "",
        "| benchmark | size | what is measured | ours | baseline | baseline figure | ours / baseline | goal "
        "| peak RSS MiB | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for bench in summary["benchmarks"]:
        for i, row in enumerate(bench["rows"]):
            first = i == 0
            ours = with_unit(row["ours"], row["unit"])
            if row.get("ours_name") and row["ours_name"] != "curate":
                ours = f"{ours} ({row['ours_name']})"
            ratio = "—" if row["ratio"] is None else f"{number(row['ratio'])}×"
            cells = [
                f"**{bench['name']}**" if first else "",
                bench["size"] if first else "",
                row["measures"],
                ours,
                row["baseline"] or "—",
                with_unit(row["baseline_value"], row["unit"]),
                ratio,
                row["goal"] or "",
                number(row["peak_rss_mib"]),
                number(bench["wall_s"]) if first else "",
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Wall time per benchmark (whole script, interpreter start included; set-up: .venv-bench):", ""]
    lines += ["| benchmark | wall s | of which set-up s | finished |", "|---|---|---|---|"]
    for bench in summary["benchmarks"]:
        lines.append(f"| {bench['name']} | {bench['wall_s']:,.1f} | {bench['setup_s']:,.1f} | {bench['finished_at']} |")
    lines.append(f"| **total** | **{summary['sum_bench_wall_s']:,.1f}** | {summary['setup_s']:,.1f} | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benches", nargs="+", help="benchmark names (bench/results/NAME.json), in table order")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the benchmarks' JSON files")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    records = load(args.results, args.benches)
    benchmarks = [
        {
            "name": r["bench"],
            "script": f"bench/bench_{r['bench']}.py",
            "size": r["size"],
            "wall_s": r["bench_wall_s"],
            "setup_s": r.get("setup_s", 0.0),  # of wall_s: building a baseline's venv (bench_pipeline, fresh clone)
            "finished_at": r["finished_at"],
            "rows": r["table"],
        }
        for r in records
    ]

    def epoch(stamp: str) -> float:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone

    started = min(epoch(b["finished_at"]) - b["wall_s"] for b in benchmarks)
    ended = max(epoch(b["finished_at"]) for b in benchmarks)
    summary = {
        "machine": machine(),
        "baseline_venv": baseline_packages(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ended)),
        "loadavg_1min_end": round(os.getloadavg()[0], 2),
        "total_wall_s": round(ended - started, 1),
        "sum_bench_wall_s": round(sum(b["wall_s"] for b in benchmarks), 1),
        "setup_s": round(sum(b["setup_s"] for b in benchmarks), 1),
        "benchmarks": benchmarks,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    table = markdown(summary)
    args.markdown.write_text(table)
    print(table)
    print(f"wrote {args.json} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
