"""Benchmark: tokenize-to-Parquet throughput against raw `Tokenizer.encode_batch`, and memory as the input grows.

On the same texts in the same run (real prose, Wikipedia and Python standard-library code from $CURATE_DATA and the
running interpreter; GPT-NeoX BPE tokenizer from $CURATE_DATA):
- raw: `tokenizer.encode_batch(texts)` in batches of 256 texts already in memory, nothing written: the ceiling;
- curate: `curate tokenize RUN_DIR` end to end in a fresh process: read documents/*.parquet, encode in the same
  batches, append EOS, write zstd token shards + manifest. Tokens/s of both and the ratio (goal ≥ 0.8×).
- memory: peak RSS of `curate tokenize` on the input and on the input repeated 10× (goal: flat).

    .venv/bin/python bench/bench_tokenize.py [--docs 4000]
Writes bench/results/tokenize.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import sysconfig
import time
from pathlib import Path

from benchlib import ROOT, data_dir, machine, run_sampled, table_row, write_results

from curate.outputs import ParquetRows
from curate.records import DOCUMENT_SCHEMA
from curate.tokens import load_tokenizer


def corpus(data: Path, docs: int) -> list[dict]:
    texts = [(p, "prose") for p in (data / "text" / "tinyshakespeare.txt").read_text().split("\n\n") if p.strip()]
    texts += [(p, "wiki") for p in (data / "text" / "wikitext2-valid.txt").read_text().split("\n \n") if p.strip()]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("**/*.py"))[:2000]:
        try:
            texts.append((path.read_text(encoding="utf-8"), "code"))
        except UnicodeDecodeError:
            continue
    random.Random(0).shuffle(texts)
    rows = []
    while len(rows) < docs:
        for text, domain in texts:
            if len(rows) >= docs:
                break
            rows.append({"id": f"d{len(rows)}", "text": text, "domain": domain})
    return rows


def write_run(rows: list[dict], folder: Path, repeat: int = 1) -> Path:
    with ParquetRows(folder / "documents", DOCUMENT_SCHEMA) as out:
        for r in range(repeat):
            for row in rows:
                out.add({**row, "id": f"{row['id']}-{r}"})
    return folder


def raw_encode(tokenizer_path: Path, texts: list[str], batch: int = 256) -> tuple[float, int]:
    tokenizer, _ = load_tokenizer(tokenizer_path)
    tokenizer.encode_batch(texts[:batch], add_special_tokens=False)  # warm-up
    started, tokens = time.perf_counter(), 0
    for i in range(0, len(texts), batch):
        tokens += sum(len(e.ids) for e in tokenizer.encode_batch(texts[i : i + batch], add_special_tokens=False))
    return time.perf_counter() - started, tokens


TIMED = """
import sys, time, json
from curate.tokenize import tokenize_runs
started = time.perf_counter()
manifest = tokenize_runs([sys.argv[1]], sys.argv[2], sys.argv[3], overwrite=True)
print(json.dumps({"seconds": time.perf_counter() - started, "tokens": manifest["totals"]["tokens"],
                  "rows": manifest["totals"]["rows"]}))
"""


def ours(run: Path, tokenizer_path: Path, out: Path, log: Path) -> dict:
    sample = run_sampled([sys.executable, "-c", TIMED, str(run), str(tokenizer_path), str(out)], log)
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return {**result, "peak_rss_mib": sample["peak_rss_mib"], "wall_s": sample["wall_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "bench" / "tokenize")
    args = parser.parse_args(argv)
    data = data_dir()
    tokenizer_path = data / "tokenizer" / "gpt-neox-bpe-50k.json"
    rows = corpus(data, args.docs)
    one = write_run(rows, args.work_dir / "in-1x")
    ten = write_run(rows, args.work_dir / "in-10x", repeat=10)

    raw_s, raw_tokens = raw_encode(tokenizer_path, [r["text"] for r in rows])
    ours_1 = ours(one, tokenizer_path, args.work_dir / "out-1x", args.work_dir / "ours-1x.log")
    ours_10 = ours(ten, tokenizer_path, args.work_dir / "out-10x", args.work_dir / "ours-10x.log")
    assert ours_1["tokens"] == raw_tokens + len(rows), (ours_1["tokens"], raw_tokens)  # + one EOS per document

    result = {
        "machine": machine(),
        "docs": len(rows),
        "raw_encode_batch": {
            "seconds": round(raw_s, 3),
            "tokens": raw_tokens,
            "tokens_per_s": round(raw_tokens / raw_s),
        },
        "curate_tokenize_1x": {**ours_1, "tokens_per_s": round(ours_1["tokens"] / ours_1["seconds"])},
        "curate_tokenize_10x": {**ours_10, "tokens_per_s": round(ours_10["tokens"] / ours_10["seconds"])},
    }
    ratio = result["curate_tokenize_1x"]["tokens_per_s"] / result["raw_encode_batch"]["tokens_per_s"]
    result["throughput_ratio"] = round(ratio, 3)
    result["memory_growth_10x"] = round(ours_10["peak_rss_mib"] / ours_1["peak_rss_mib"], 3)
    print(f"\n{len(rows):,} documents, {raw_tokens:,} tokens (GPT-NeoX BPE), {machine()['cpu_count']} cores")
    print(f"{'':32} {'tokens/s':>12} {'peak MiB':>9}")
    print(f"{'raw encode_batch (in memory)':32} {result['raw_encode_batch']['tokens_per_s']:>12,}")
    labels = {"curate_tokenize_1x": "curate tokenize, 1x input", "curate_tokenize_10x": "curate tokenize, 10x input"}
    for key, label in labels.items():
        print(f"{label:32} {result[key]['tokens_per_s']:>12,} {result[key]['peak_rss_mib']:>9}")
    print(
        f"throughput curate/raw: {ratio:.2f}x (goal >= 0.8x); peak memory 10x/1x input: "
        f"{result['memory_growth_10x']:.2f}x (goal: flat)"
    )
    table = [
        table_row(
            "tokens/s of `curate tokenize` (Parquet in, zstd token shards out) vs encoding in memory",
            result["curate_tokenize_1x"]["tokens_per_s"],
            "tokens/s",
            baseline="raw `Tokenizer.encode_batch`",
            baseline_value=result["raw_encode_batch"]["tokens_per_s"],
            goal="≥ 0.8×",
            peak_rss_mib=ours_1["peak_rss_mib"],
        ),
        table_row(
            f"peak RSS of `curate tokenize` on 10× the input ({ours_10['tokens']:,} tokens)",
            ours_10["peak_rss_mib"],
            "MiB",
            baseline="the same on 1× the input",
            baseline_value=ours_1["peak_rss_mib"],
            goal="≤ 1.2× (flat)",
            peak_rss_mib=ours_10["peak_rss_mib"],
        ),
    ]
    size = f"{len(rows):,} documents = {ours_1['tokens']:,} tokens (GPT-NeoX BPE), and 10× that"
    write_results("tokenize", result, size, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
