"""Benchmark: the dedup cluster step (phase 3) alone, bounded by `max_memory` (curate.dedup.bounded) at 1 M and
10 M documents, against the in-memory path at 1 M: peak RSS, seconds, and the disk its intermediates take.

Synthetic phase 1/2 files shaped like a real run's, in 4 tasks: 10% exact copies, 5% URL copies, 15% of documents
in a near-duplicate pair that shows up in each of 14 bands with probability 0.8 (1.68 LSH pairs per document, most
of them repeats, as LSH leaves them), WARC-style ids of 47 characters. The cluster step runs in a fresh process,
which reports its own peak RSS (getrusage); this process samples the size of the intermediates (dedup/cluster/)
every 0.1 s. The in-memory path is not run at 10 M (~4 GiB): its peak is extrapolated from the 1 M run.
The bounded and in-memory outputs at 1 M are checked identical.

    .venv/bin/python bench/bench_dedup_bounded.py [--docs 1000000 3000000 10000000] [--max-memory 64MiB 256MiB]
Writes bench/results/dedup_bounded.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from benchlib import MIB, ROOT, machine, table_row, write_results

# Peak RSS as the kernel's high-water mark of this process's own memory (VmHWM): getrusage's ru_maxrss would carry
# over the parent's resident memory at the fork before exec (the parent holds the generated inputs).
PEAK = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
CLUSTER = f"""
import json, sys, time
from curate.dedup.steps import Dedup, DedupCluster
started = time.perf_counter()
list(DedupCluster(sys.argv[1], sys.argv[2], Dedup(max_memory=sys.argv[3])).run(None, 0, 1))
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "peak_rss_kib": {PEAK}}}))
"""
BASELINE = f"""
import json
import numpy, pyarrow.parquet, scipy.sparse.csgraph
from curate.dedup.steps import DedupCluster
print(json.dumps({{"peak_rss_kib": {PEAK}}}))
"""


def make_inputs(root: Path, docs: int, tasks: int = 4, bands: int = 14, seed: int = 5) -> dict:
    """Phase 1 and 2 files for `docs` synthetic documents; returns the counts that shape them."""
    rng = np.random.default_rng(seed)
    for folder in ("keys", "pairs", "staged"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    text = rng.integers(0, 2**63, docs, dtype=np.uint64)
    exact = rng.random(docs) < 0.10
    text[exact] = text[rng.integers(0, docs, int(exact.sum()))]
    url = rng.integers(0, 2**63, docs, dtype=np.uint64)
    same = rng.random(docs) < 0.05
    url[same] = url[rng.integers(0, docs, int(same.sum()))]
    ids = rng.integers(0, 2**63, docs, dtype=np.uint64)
    for task, members in enumerate(np.array_split(np.arange(docs), tasks)):
        with open(root / "keys" / f"{task:05d}.npz", "wb") as f:
            np.savez(
                f,
                text=text[members],
                url=url[members],
                has_url=np.ones(len(members), bool),
                id=ids[members],
                bands=np.zeros((len(members), 0), np.uint64),
            )
        write_ids(root / "staged" / f"{task:05d}.parquet", members)
    del text, url, ids
    near = np.flatnonzero(rng.random(docs) < 0.15)
    partner = rng.integers(0, docs, len(near))
    pairs = 0
    for band in range(bands):
        keep = rng.random(len(near)) < 0.8
        np.save(root / "pairs" / f"{band:03d}.npy", np.stack([near[keep], partner[keep]], axis=1).astype(np.int64))
        pairs += int(keep.sum())
    return {"docs": docs, "lsh_pairs": pairs, "pairs_per_doc": round(pairs / docs, 2)}


def write_ids(path: Path, members: np.ndarray, batch: int = 500_000) -> None:
    """Staged documents reduced to their `id` column (all the cluster step reads), written a batch at a time."""
    with pq.ParquetWriter(path, pa.schema([("id", pa.string())])) as writer:
        for start in range(0, len(members), batch):
            part = members[start : start + batch]
            ids = np.char.mod("<urn:uuid:%036d>", part)
            writer.write_table(pa.table({"id": pa.array(ids, pa.string())}))


def tree_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def run_cluster(root: Path, max_memory: str) -> dict:
    """The cluster step in a fresh process: its seconds and peak RSS, and the intermediates' peak disk use."""
    shutil.rmtree(root / "remove", ignore_errors=True)
    cmd = [sys.executable, "-c", CLUSTER, str(root), str(root / "staged"), max_memory]
    load = os.getloadavg()[0]  # the machine is shared: seconds are only comparable at a similar load
    started = time.perf_counter()
    popen = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    peak_disk = 0
    while popen.poll() is None:
        peak_disk = max(peak_disk, tree_bytes(root / "cluster"))
        time.sleep(0.1)
    out, _ = popen.communicate()
    assert popen.returncode == 0, popen.returncode
    report = json.loads(out.strip().splitlines()[-1])
    return {
        "max_memory": max_memory,
        "seconds": round(report["seconds"], 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(report["peak_rss_kib"] * 1024 / MIB, 1),
        "intermediate_disk_peak_mib": round(peak_disk / MIB, 1),
        "left_behind": (root / "cluster").exists(),
        "loadavg_1min_before": round(load, 2),
        "decisions": json.loads((root / "summary.json").read_text()),
    }


def removals(root: Path) -> list[pa.Table]:
    return [pq.read_table(p) for p in sorted((root / "remove").glob("*.parquet"))]


def same_as(reference: list[pa.Table] | None, tables: list[pa.Table], what: str) -> list[pa.Table]:
    """The first run's remove tables; every later run's must equal them."""
    if reference is not None:
        assert len(tables) == len(reference) and all(a.equals(b) for a, b in zip(tables, reference)), what
    return tables if reference is None else reference


def baseline_rss_mib() -> float:
    out = subprocess.run([sys.executable, "-c", BASELINE], cwd=ROOT, capture_output=True, text=True, check=True)
    return round(json.loads(out.stdout)["peak_rss_kib"] * 1024 / MIB, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--max-memory", nargs="+", default=["64MiB", "256MiB"])
    parser.add_argument("--in-memory-docs", type=int, default=1_000_000, help="run the in-memory path at this size")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "bench" / "dedup-bounded")
    args = parser.parse_args(argv)
    rows, in_memory = [], None
    base = baseline_rss_mib()
    for docs in args.docs:
        root = args.work_dir / f"n{docs}"
        shutil.rmtree(root, ignore_errors=True)
        shape = make_inputs(root, docs)
        shape["inputs_disk_mib"] = round(tree_bytes(root) / MIB, 1)
        reference = None
        for max_memory in args.max_memory:
            row = {**shape, **run_cluster(root, max_memory)}
            reference = same_as(reference, removals(root), f"{docs} documents, max_memory {max_memory}")
            rows.append(row)
            print(json.dumps(row), flush=True)
        if docs == args.in_memory_docs:
            in_memory = {**shape, **run_cluster(root, "1TiB")}
            same_as(reference, removals(root), f"{docs} documents, in memory")
            in_memory["same_output_as_bounded"] = True
            print(json.dumps(in_memory), flush=True)
        shutil.rmtree(root)
    if in_memory is not None:  # working memory grows with the corpus: baseline + (peak - baseline) × scale
        growth = (in_memory["peak_rss_mib"] - base) / in_memory["docs"]
        in_memory["estimated_peak_rss_mib_at"] = {str(d): round(base + growth * d, 1) for d in args.docs}
    ratios = {}
    for max_memory in args.max_memory:
        peaks = [r["peak_rss_mib"] for r in rows if r["max_memory"] == max_memory]
        ratios[max_memory] = round(peaks[-1] / peaks[0], 3)
    result = {
        "machine": machine(),
        "process_baseline_rss_mib": base,
        "bounded": rows,
        "in_memory": in_memory,
        "peak_rss_ratio_largest_to_smallest_corpus": ratios,
        "peak_unit": MIB,
    }
    print(f"peak RSS, largest corpus / smallest, per max_memory: {ratios}")
    small, large = min(args.docs), max(args.docs)
    table = []
    for max_memory in args.max_memory:
        peaks = {r["docs"]: r for r in rows if r["max_memory"] == max_memory}
        table.append(
            table_row(
                f"cluster step at max_memory {max_memory}: peak RSS at {large:,} documents "
                f"({peaks[large]['seconds']} s)",
                peaks[large]["peak_rss_mib"],
                "MiB",
                baseline=f"the same at {small:,} documents",
                baseline_value=peaks[small]["peak_rss_mib"],
                goal="≤ 1.2× (bounded)" if max_memory == args.max_memory[0] else None,
                peak_rss_mib=peaks[large]["peak_rss_mib"],
            )
        )
    if in_memory is not None:
        bounded = next(r for r in rows if r["docs"] == in_memory["docs"] and r["max_memory"] == args.max_memory[0])
        table.append(
            table_row(
                f"cluster step at max_memory {args.max_memory[0]}: peak RSS at {in_memory['docs']:,} documents",
                bounded["peak_rss_mib"],
                "MiB",
                baseline="the in-memory path (same decisions)",
                baseline_value=in_memory["peak_rss_mib"],
                peak_rss_mib=bounded["peak_rss_mib"],
            )
        )
    size = f"{', '.join(f'{d:,}' for d in args.docs)} synthetic documents; max_memory {', '.join(args.max_memory)}"
    write_results("dedup_bounded", result, size, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
