"""Benchmark: MinHash signature throughput (documents/s) of `curate.dedup.minhash` against datasketch and datatrove.

All three compute 112-permutation MinHash signatures of word 5-gram shingles of the same texts, in one run, each in
a single process pinned to one CPU core:

- ours: `MinHasher(n_grams=5, num_perm=112).signatures(texts)` in batches of --batch documents; the time covers
  everything from the Python strings to the signatures (normalization, word splitting, hashing, permutations).
- datasketch: `MinHash(num_perm=112)` with `update_batch` on the word 5-grams as UTF-8 bytes (our word splitter,
  words joined by one space), built before the clock starts, so only datasketch's own work is timed: the 5-gram
  strings are a head start we give it. Two variants: `MinHash(num_perm=112)` per document as the docs show it (it
  draws its 112 permutations anew for each document), and the faster use that draws them once and passes
  `permutations=` to every document's MinHash. The ratio goal is stated against the latter, the stricter one.
- datatrove: `MinhashDedupSignature` with `MinhashConfig(num_buckets=14, hashes_per_bucket=8, n_grams=5)`, run in
  `.venv-bench` (plain datatrove 0.10.1, spaCy English word splitter, xxhash) as a subprocess; the texts go through
  a JSONL file and are loaded as `Document`s before the clock starts; the time covers its `run()` over them
  (shingling, signatures, writing and sorting its 14 bucket files).

Texts: real documents from $CURATE_DATA/text (default ../shared/data/text): wikitext-2 validation articles (split at
their ` = Title = ` headings), Shakespeare in 60-line chunks, State of the Union and inaugural addresses, the Common
Crawl JSONL documents; cycled to --docs documents (default 3,000). Ours and datasketch are each timed --repeats
times (median reported); datatrove once (it takes a minute).

Prints a table with documents/s, words/s and the ratios ours/datasketch and ours/datatrove (goals: ≥ 5× and ≥ 30×),
and writes bench/results/minhash.json. A benchmark, not a test.

    .venv/bin/python bench/bench_minhash.py
    .venv/bin/python bench/bench_minhash.py --docs 5000 --repeats 5 --skip-datatrove
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from benchlib import BASELINE_VENV, ROOT, data_dir, table_row, write_results
from benchlib import machine as machine_record

from curate.dedup.minhash import MinHasher

N_GRAMS, BANDS, ROWS = 5, 14, 8
NUM_PERM = BANDS * ROWS
GOAL_DATASKETCH = 5.0
GOAL_DATATROVE = 30.0

# Run inside .venv-bench: argv[1] = JSONL of {"id", "text"}, argv[2] = a scratch folder. Prints one JSON line.
DATATROVE_SCRIPT = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
import datatrove, importlib.metadata as md

path, scratch = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    docs = [Document(text=r["text"], id=r["id"]) for r in map(json.loads, f)]
config = MinhashConfig(num_buckets=14, hashes_per_bucket=8, n_grams=5)
# Warm-up on a few documents: spaCy's tokenizer loads lazily on the first text.
MinhashDedupSignature(output_folder=scratch + "/warmup", config=config).run(iter(docs[:20]), rank=0, world_size=1)
step = MinhashDedupSignature(output_folder=scratch + "/sigs", config=config)
start = time.perf_counter()
step.run(iter(docs), rank=0, world_size=1)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "docs": len(docs), "datatrove": md.version("datatrove"),
                  "spacy": md.version("spacy"), "xxhash": md.version("xxhash"), "hash": str(config.hash_config)}))
"""


# -- texts ----------------------------------------------------------------------------------------------------------
def load_documents(text_dir: Path) -> list[tuple[str, str]]:
    """(source, text) of every real document, in a fixed order."""
    docs: list[tuple[str, str]] = []
    wiki = (text_dir / "wikitext2-valid.txt").read_text(encoding="utf-8")
    docs += [("wikitext", p.strip()) for p in re.split(r"^ = (?!=)[^\n]*? = \n", wiki, flags=re.M) if p.strip()]
    lines = (text_dir / "tinyshakespeare.txt").read_text(encoding="utf-8").splitlines()
    docs += [("shakespeare", "\n".join(lines[i : i + 60])) for i in range(0, len(lines), 60)]
    for name in ("state_union.zip", "inaugural.zip"):
        with zipfile.ZipFile(text_dir / name) as z:
            for member in sorted(n for n in z.namelist() if n.endswith(".txt")):
                docs.append((name.removesuffix(".zip"), z.read(member).decode("utf-8", "replace")))
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz", "provided-documents-000.json.gz"):
        with gzip.open(text_dir / name, "rt", encoding="utf-8") as f:
            docs += [("common-crawl", json.loads(line)["text"]) for line in f if line.strip()]
    return [(source, text) for source, text in docs if text.strip()]


def ascii_share(texts: list[str]) -> float:
    return sum(t.isascii() for t in texts) / len(texts)


# -- the three contenders -------------------------------------------------------------------------------------------
def time_ours(texts: list[str], batch: int, repeats: int) -> tuple[list[float], float, np.ndarray]:
    start = time.perf_counter()
    hasher = MinHasher(n_grams=N_GRAMS, num_perm=NUM_PERM)
    hasher.signatures(texts[:batch])  # warm-up: the code-point table, power tables, page cache
    setup = time.perf_counter() - start
    runs, sigs = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        sigs = np.concatenate([hasher.signatures(texts[i : i + batch]) for i in range(0, len(texts), batch)])
        runs.append(time.perf_counter() - start)
    return runs, setup, sigs


def shingle_bytes(hasher: MinHasher, texts: list[str]) -> list[list[bytes]]:
    """Each text's word 5-grams as UTF-8 bytes (words joined by a space): the same shingles ours hashes."""
    out = []
    for text in texts:
        words = hasher.words(text)
        count = max(len(words) - N_GRAMS + 1, 1) if words else 0
        out.append([" ".join(words[i : i + N_GRAMS]).encode("utf-8") for i in range(count)])
    return out


def time_datasketch(shingles: list[list[bytes]], repeats: int, shared: bool) -> list[float]:
    from datasketch import MinHash

    proto = MinHash(num_perm=NUM_PERM)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for doc in shingles:
            if shared:
                m = MinHash(num_perm=NUM_PERM, permutations=proto.permutations, scheme=proto.scheme)
            else:
                m = MinHash(num_perm=NUM_PERM)
            m.update_batch(doc)
        runs.append(time.perf_counter() - start)
    return runs


def time_datatrove(texts: list[str]) -> dict:
    python = BASELINE_VENV / "bin" / "python"
    setup = ROOT / "bench" / "setup_baseline_venv.sh"
    subprocess.run(["bash", str(setup)], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="bench-minhash-") as scratch:
        path = Path(scratch) / "docs.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for i, text in enumerate(texts):
                f.write(json.dumps({"id": str(i), "text": text}) + "\n")
        result = subprocess.run(
            [str(python), "-c", DATATROVE_SCRIPT, str(path), scratch],
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"},
        )
    if result.returncode != 0:
        raise RuntimeError(f"datatrove baseline failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- reporting ------------------------------------------------------------------------------------------------------
def machine() -> dict:
    """bench_pipeline's machine record, plus what this benchmark's figures also depend on."""
    import datasketch

    return {
        **machine_record(),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numpy": np.__version__,
        "datasketch": datasketch.__version__,
        "load_avg_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=3000, help="documents (the real ones cycled; default 3000)")
    parser.add_argument("--batch", type=int, default=1000, help="documents per signatures() call (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours and datasketch (median; 3)")
    parser.add_argument("--skip-datatrove", action="store_true", help="leave out the datatrove baseline")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to one CPU core")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "minhash.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    info = machine()  # nproc before pinning
    cpu = None
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # this process and the datatrove subprocess it starts: one core
    info["pinned_to_cpu"] = cpu

    text_dir = data_dir() / "text"
    if not (text_dir / "wikitext2-valid.txt").is_file():
        sys.exit(f"bench: shared data not found under {text_dir} (set CURATE_DATA)")
    real = load_documents(text_dir)
    texts = [real[i % len(real)][1] for i in range(args.docs)]
    hasher = MinHasher(n_grams=N_GRAMS, num_perm=NUM_PERM)
    word_counts = [len(hasher.words(t)) for t in texts]
    words = sum(word_counts)
    sources: dict[str, int] = {}
    for source, _ in real:
        sources[source] = sources.get(source, 0) + 1
    print(
        f"texts: {len(texts)} documents ({len(real)} distinct: "
        + ", ".join(f"{k} {v}" for k, v in sources.items())
        + f"), mean {words / len(texts):.0f} words/doc (median {statistics.median(word_counts):.0f}),"
        f" {sum(map(len, texts)) / 1e6:.1f} M characters, {ascii_share(texts):.0%} pure ASCII"
    )
    print(f"machine: {info['cpu']}, nproc {info['nproc']}, pinned to CPU {cpu}, Python {info['python']}")

    results: dict[str, dict] = {}

    def record(name: str, seconds: list[float], **extra) -> None:
        median = statistics.median(seconds)
        results[name] = {
            "seconds": round(median, 4),
            "runs_s": [round(s, 4) for s in seconds],
            "docs_per_s": round(len(texts) / median, 1),
            "words_per_s": round(words / median, 1),
            **extra,
        }

    runs, setup, sigs = time_ours(texts, args.batch, args.repeats)
    record("ours", runs, setup_s=round(setup, 3), batch=args.batch)
    print(f"ours: {results['ours']['docs_per_s']:,.0f} docs/s")

    start = time.perf_counter()
    shingles = shingle_bytes(hasher, texts)
    prep = time.perf_counter() - start
    record(
        "datasketch (shared permutations)",
        time_datasketch(shingles, args.repeats, shared=True),
        shingle_prep_s=round(prep, 3),
    )
    record(
        "datasketch (MinHash per doc)",
        time_datasketch(shingles, args.repeats, shared=False),
        shingle_prep_s=round(prep, 3),
    )
    for name in ("datasketch (shared permutations)", "datasketch (MinHash per doc)"):
        print(f"{name}: {results[name]['docs_per_s']:,.0f} docs/s")
    shingle_count = sum(map(len, shingles))
    del shingles

    if not args.skip_datatrove:
        dt = time_datatrove(texts)
        record("datatrove MinhashDedupSignature", [dt.pop("seconds")], **dt)
        print(f"datatrove: {results['datatrove MinhashDedupSignature']['docs_per_s']:,.0f} docs/s")

    ours = results["ours"]["docs_per_s"]
    ratios = {name: round(ours / r["docs_per_s"], 2) for name, r in results.items() if name != "ours"}
    goals = {
        "datasketch (shared permutations)": GOAL_DATASKETCH,
        "datasketch (MinHash per doc)": GOAL_DATASKETCH,
        "datatrove MinhashDedupSignature": GOAL_DATATROVE,
    }

    print()
    print(
        f"{'signatures of ' + str(len(texts)) + ' docs':<36} {'seconds':>8} {'docs/s':>9} {'M words/s':>10} "
        f"{'ours/it':>8} {'goal':>6}"
    )
    for name, r in results.items():
        ratio = "" if name == "ours" else f"{ratios[name]:.1f}x"
        goal = "" if name == "ours" else f"{goals[name]:.0f}x"
        print(
            f"{name:<36} {r['seconds']:>8.2f} {r['docs_per_s']:>9,.0f} {r['words_per_s'] / 1e6:>10.2f} "
            f"{ratio:>8} {goal:>6}"
        )
    print(f"(datasketch timings exclude building its shingle bytes: {prep:.2f} s in Python for all documents)")

    met = all(ratios[name] >= goals[name] for name in ratios)
    report = {
        "machine": info,
        "config": {"n_grams": N_GRAMS, "num_perm": NUM_PERM, "bands": BANDS, "rows": ROWS, "repeats": args.repeats},
        "texts": {
            "documents": len(texts),
            "distinct_documents": len(real),
            "sources": sources,
            "words": words,
            "mean_words_per_doc": round(words / len(texts), 1),
            "median_words_per_doc": statistics.median(word_counts),
            "shingles": shingle_count,
            "characters": sum(map(len, texts)),
            "pure_ascii_share": round(ascii_share(texts), 3),
        },
        "results": results,
        "ratios_ours_over": ratios,
        "goals": goals,
        "goals_met": met,
        "signature_checksum": int(np.bitwise_xor.reduce(sigs.ravel().astype(np.uint64))),
    }
    rows = [
        table_row(
            f"MinHash signatures ({NUM_PERM} permutations, word {N_GRAMS}-grams), docs/s on one core",
            ours,
            "docs/s",
            baseline=name,
            baseline_value=results[name]["docs_per_s"],
            goal=f"≥ {goals[name]:.0f}×",
        )
        for name in ratios
    ]
    size = f"{len(texts):,} real documents ({words / len(texts):,.0f} words on average), median of {args.repeats} runs"
    write_results("minhash", report, size, rows, args.output)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
