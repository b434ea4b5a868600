"""Benchmark: the dedup bucket step (phase 2, curate.dedup.buckets) alone, one band task, at 1 M and 10 M documents
and a bounded `max_memory`: peak RSS, seconds, pairs. Bounded means the 10 M peak within 1.2x of the 1 M peak.

Synthetic phase 1 key files in 8 tasks, 14 bands: random band keys, with 15% of documents in pairs sharing their keys
(near-duplicates) and a key shared by 2% of the corpus (boilerplate pages). The step runs in a fresh
process, which reports its own peak RSS (the kernel's high-water mark, VmHWM).

    .venv/bin/python bench/bench_buckets.py [--docs 1000000 10000000] [--max-memory 64MiB]
Writes bench/results/buckets.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import ROOT, machine, table_row, write_results

STEP = """
import json, sys, time
from curate.dedup.buckets import LSHBuckets
from curate.dedup.spill import parse_size
started = time.perf_counter()
step = LSHBuckets(sys.argv[1], 14, parse_size(sys.argv[2]))
list(step.run(None, 0, 14))
peak = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])
print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_kib": peak}))
"""


def make_keys(root: Path, docs: int, tasks: int = 8, bands: int = 14, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    folder = root / "keys"
    folder.mkdir(parents=True)
    bounds = np.linspace(0, docs, tasks + 1).astype(np.int64)
    for rank in range(tasks):
        n = int(bounds[rank + 1] - bounds[rank])
        keys = rng.integers(0, 2**63, size=(n, bands), dtype=np.uint64)
        near = np.flatnonzero(rng.random(n) < 0.15)
        copies, originals = near[1::2], near[0::2][: len(near[1::2])]
        keys[copies] = keys[originals]  # each copy shares its keys with a distinct original
        keys[rng.random(n) < 0.02] = 12345  # boilerplate: one bucket of 2% of the corpus in every band
        np.savez(folder / f"{rank:05d}.npz", bands=keys)


def run(docs: int, max_memory: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix="curate-buckets-"))
    try:
        make_keys(root, docs)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", STEP, str(root), max_memory], cwd=ROOT, capture_output=True, text=True, check=True
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        pairs = sum(len(np.load(p, mmap_mode="r")) for p in (root / "pairs").glob("*.npy"))
        return {
            "docs": docs,
            "max_memory": max_memory,
            "band": 0,
            "pairs": pairs,
            "seconds": round(measured["seconds"], 2),
            "wall_s": round(time.perf_counter() - started, 2),
            "peak_rss_mib": round(measured["peak_rss_kib"] / 1024, 1),
            "us_per_doc": round(1e6 * measured["seconds"] / docs, 3),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--max-memory", default="64MiB")
    args = parser.parse_args()
    runs = []
    for docs in args.docs:
        runs.append(run(docs, args.max_memory))
        print(json.dumps(runs[-1]), flush=True)
    ratio = runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]
    result = {"machine": machine(), "runs": runs, "peak_ratio_last_over_first": round(ratio, 3)}
    print(f"peak RSS {runs[-1]['docs']:,} / {runs[0]['docs']:,} documents: {ratio:.2f}x (bounded: <= 1.2x)")
    first, last = runs[0], runs[-1]
    table = [
        table_row(
            f"bucket step, one band, max_memory {args.max_memory}: peak RSS at {last['docs']:,} documents "
            f"({last['us_per_doc']} µs per document)",
            last["peak_rss_mib"],
            "MiB",
            baseline=f"the same at {first['docs']:,} documents",
            baseline_value=first["peak_rss_mib"],
            goal="≤ 1.2× (bounded)",
            peak_rss_mib=last["peak_rss_mib"],
        )
    ]
    size = ", ".join(f"{r['docs']:,}" for r in runs) + " synthetic documents, 14 bands"
    write_results("buckets", result, size, table)


if __name__ == "__main__":
    main()
