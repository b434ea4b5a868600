"""Benchmark: the whole dedup (all four phases) in documents/s and peak memory, and the cluster step's memory
per million documents.

1. Whole dedup: a corpus of real passages from $CURATE_DATA/text (Shakespeare, Wikipedia, Common Crawl samples cut
   into ~220-word windows) plus edited near-copies (a third of them) and exact copies (a tenth), written as Parquet
   and run through `curate run` with a pipeline that is only `reader: documents` + `dedup` (exact, URL, MinHash
   14x8), on 1 and 2 workers. Wall time of the whole command, peak RSS of its process tree (psutil, 50 ms).
2. Cluster step at scale: synthetic keys for --cluster-docs documents (default 1,000,000) in 4 task files, with
   duplicate groups, and the LSH pairs that 14 bands would produce for them; DedupCluster run alone in a fresh
   process: peak RSS and seconds, reported per million documents.

    .venv/bin/python bench/bench_dedup.py [--docs 40000] [--cluster-docs 1000000]
The passages are cycled to reach --docs, so a large corpus holds many exact copies too (as crawls do).
Writes bench/results/dedup.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from benchlib import MIB, ROOT, data_dir, machine, run_sampled, table_row, write_results


def passages(data: Path, words: int = 220) -> list[str]:
    texts = [(data / "text" / n).read_text(encoding="utf-8") for n in ("tinyshakespeare.txt", "wikitext2-valid.txt")]
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        with gzip.open(data / "text" / name, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    out = []
    for text in texts:
        split = text.split()
        out += [" ".join(split[i : i + words]) for i in range(0, len(split) - words, words)]
    return out


def make_corpus(data: Path, docs: int, folder: Path) -> list[str]:
    rng = random.Random(3)
    base = passages(data)
    rows = []
    while len(rows) < docs:
        for text in base:
            if len(rows) >= docs:
                break
            rows.append({"id": f"d{len(rows)}", "text": text, "url": f"https://bench.test/{len(rows)}"})
            roll = rng.random()
            if roll < 0.33:  # an edited copy
                words = text.split()
                for _ in range(rng.randint(1, 12)):
                    words[rng.randrange(len(words))] = rng.choice(words)
                rows.append({"id": f"d{len(rows)}", "text": " ".join(words), "url": f"https://bench.test/{len(rows)}"})
            elif roll < 0.43:  # an exact copy
                rows.append({"id": f"d{len(rows)}", "text": text, "url": f"https://bench.test/{len(rows)}"})
        rng.shuffle(base)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(2):
        path = folder / f"part{k}.parquet"
        pq.write_table(pa.Table.from_pylist(rows[k::2]), path)
        paths.append(str(path))
    return paths


def whole_dedup(paths: list[str], work: Path, workers: int, docs: int) -> dict:
    spec = work / "dedup.yaml"
    spec.write_text("reader: documents\nstages:\n  - dedup: {}\n")
    out = work / f"run-w{workers}"
    cmd = [
        sys.executable,
        "-m",
        "curate",
        "run",
        str(spec),
        "--input",
        *paths,
        "--output",
        str(out),
        "--workers",
        str(workers),
        "--overwrite",
        "--no-progress",
    ]
    sample = run_sampled(cmd, work / f"run-w{workers}.log")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input_records"] == docs, stats["input_records"]
    row = next(s for s in stats["stages"] if s["stage"] == "dedup")
    return {
        "workers": workers,
        "docs": docs,
        "wall_s": round(sample["wall_s"], 2),
        "docs_per_s": round(docs / sample["wall_s"], 1),
        "peak_rss_mib": round(sample["peak_rss_mib"], 1),
        "dedup_stage_seconds": row["seconds"],
        "removed": row["dropped"],
    }


CLUSTER_SCRIPT = """
import sys
from curate.dedup.steps import Dedup, DedupCluster
list(DedupCluster(sys.argv[1], sys.argv[2], Dedup()).run(None, 0, 1))
"""


def cluster_at_scale(work: Path, docs: int, tasks: int = 4, bands: int = 14) -> dict:
    """Synthetic keys shaped like a real run's: ~10% exact copies, ~15% near-duplicate groups."""
    rng = np.random.default_rng(5)
    keys, staged = work / "cluster" / "keys", work / "cluster-staged"
    pairs_dir = work / "cluster" / "pairs"
    for folder in (keys, staged, pairs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    text = rng.integers(0, 2**63, docs, dtype=np.uint64)
    exact = rng.random(docs) < 0.10
    text[exact] = text[rng.integers(0, docs, int(exact.sum()))]
    ids = rng.integers(0, 2**63, docs, dtype=np.uint64)
    per_task = np.array_split(np.arange(docs), tasks)
    for task, members in enumerate(per_task):
        with open(keys / f"{task:05d}.npz", "wb") as f:
            np.savez(
                f,
                text=text[members],
                url=rng.integers(0, 2**63, len(members), dtype=np.uint64),
                has_url=np.ones(len(members), bool),
                id=ids[members],
                bands=np.zeros((len(members), 0), np.uint64),
            )
        pq.write_table(pa.table({"id": [f"doc-{i:09d}" for i in members]}), staged / f"{task:05d}.parquet")
    near = rng.random(docs) < 0.15
    a = np.nonzero(near)[0]
    b = rng.integers(0, docs, len(a))
    for band in range(bands):  # a near pair shows up in most bands: the cluster step must cope with repeats
        keep = rng.random(len(a)) < 0.8
        np.save(pairs_dir / f"{band:03d}.npy", np.stack([a[keep], b[keep]], axis=1).astype(np.int64))
    sample = run_sampled(
        [sys.executable, "-c", CLUSTER_SCRIPT, str(work / "cluster"), str(staged)], work / "cluster.log"
    )
    summary = json.loads((work / "cluster" / "summary.json").read_text())
    return {
        "docs": docs,
        "lsh_pairs": int(len(a) * 0.8 * bands),
        "wall_s": round(sample["wall_s"], 2),
        "peak_rss_mib": round(sample["peak_rss_mib"], 1),
        "peak_rss_mib_per_million_docs": round(sample["peak_rss_mib"] * 1e6 / docs, 1),
        "decisions": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=40_000)
    parser.add_argument("--cluster-docs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "bench" / "dedup")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    paths = make_corpus(data_dir(), args.docs, args.work_dir / "corpus")
    whole = [whole_dedup(paths, args.work_dir, w, args.docs) for w in args.workers]
    cluster = cluster_at_scale(args.work_dir, args.cluster_docs)
    print(f"\nwhole dedup (documents reader + exact/URL/MinHash 14x8), {args.docs:,} documents of ~220 words:")
    print(f"{'workers':>7} {'wall s':>8} {'docs/s':>9} {'peak MiB':>9}  removed")
    for row in whole:
        print(
            f"{row['workers']:>7} {row['wall_s']:>8} {row['docs_per_s']:>9} {row['peak_rss_mib']:>9}  {row['removed']}"
        )
    print(
        f"\ncluster step alone, {cluster['docs']:,} documents, {cluster['lsh_pairs']:,} LSH pairs: "
        f"{cluster['wall_s']} s, peak {cluster['peak_rss_mib']} MiB "
        f"({cluster['peak_rss_mib_per_million_docs']} MiB per million documents)"
    )
    rows = [
        table_row(
            f"whole dedup (exact, URL, MinHash 14×8) through `curate run`, docs/s, {row['workers']} worker(s)",
            row["docs_per_s"],
            "docs/s",
            peak_rss_mib=row["peak_rss_mib"],
        )
        for row in whole
    ]
    rows.append(
        table_row(
            f"cluster step alone, peak RSS per million documents ({cluster['docs']:,} docs, {cluster['wall_s']} s)",
            cluster["peak_rss_mib_per_million_docs"],
            "MiB",
            peak_rss_mib=cluster["peak_rss_mib"],
        )
    )
    size = f"{args.docs:,} documents (workers {args.workers}); cluster step {args.cluster_docs:,} synthetic documents"
    result = {"machine": machine(), "whole": whole, "cluster": cluster, "peak_unit": MIB}
    write_results("dedup", result, size, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
