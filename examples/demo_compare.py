"""The demo's comparison: raw extracted web text vs the FineWeb pipeline's output vs a web/prose/code mix.

`make compare` (and the end of `make demo`) runs this script. It is an example of driving curate from its public
commands, not part of the library. From the shared data it builds:
- a held-out set with three parts: web = the ground-truth article text of a seeded random half of the article pages
  (their URLs are excluded from every candidate's training data), prose = a seeded half of the presidential
  speeches, code = a seeded fifth of the Python standard library's modules (both read with `curate ingest`);
- candidate `raw`: every page trafilatura extracts from the shared crawl files, no filters, no dedup;
- candidate `fineweb`: the full pipelines/fineweb.yaml output;
- candidate `mix`: the fineweb output mixed with the other speeches and modules (50/30/20);
then `curate compare` trains the same tiny proxy model on each with three seeds and ranks them by held-out bits per
byte. Which wins is a measurement, not a given.

    python examples/demo_compare.py [--data DIR] [--work runs/compare-data] [-o runs/compare] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from curate.cli import main as curate
from curate.outputs import write_documents
from curate.settings import expand

REPO = Path(__file__).resolve().parents[1]
VOCAB = 4096
EVAL_BYTES_PER_DOMAIN = 150_000  # web, prose and code weigh the same in the held-out set


def run(*argv: str) -> None:
    """One `curate` command; stop the demo when it fails."""
    code = curate(list(argv))
    if code != 0:
        raise SystemExit(f"demo_compare: `curate {' '.join(argv[:2])} ...` failed with exit code {code}")


def held_out(key: str, seed: int, share: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < share


def balanced(rows: list[dict], per_domain: int, seed: int) -> list[dict]:
    """Up to `per_domain` UTF-8 bytes of whole documents per domain, in a seeded order, domains interleaved."""
    by_domain: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: hashlib.sha256(f"{seed}:{r['id']}".encode()).digest()):
        taken = by_domain.setdefault(row["domain"], [])
        if sum(len(r["text"].encode()) for r in taken) < per_domain:
            taken.append(row)
    out, queues = [], [list(v) for _, v in sorted(by_domain.items())]
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def ingested(run_dir: Path, domain: str) -> list[dict]:
    """The documents `curate ingest` kept, keyed as `<zip name>:<member>` (speeches) or the module's path (code)."""
    rows = []
    for path in sorted((run_dir / "documents").glob("*.parquet")):
        for row in pq.read_table(path, columns=["text", "source"]).to_pylist():
            source = row["source"]
            if domain == "code":  # "stdlib:json/__init__.py"
                key = source.removeprefix("stdlib:")
            else:  # "<folders>/state_union.zip:<member>" → "state_union.zip:<member>"
                archive, _, member = source.rpartition(".zip:")
                key = f"{Path(archive).name}.zip:{member}"
            rows.append({"id": f"{domain}:{key}", "key": key, "text": row["text"], "source": source, "domain": domain})
    return rows


def build(data: Path, work: Path, seed: int = 0, workers: int = 2) -> Path:
    """Build the held-out set and the three candidates under `work`; returns the compare spec's path."""
    work.mkdir(parents=True, exist_ok=True)
    truth = json.loads((data / "extraction" / "articles-311.groundtruth.json").read_text())
    articles = {url: page["articleBody"] for url, page in truth.items() if page.get("articleBody")}
    held_urls = sorted(url for url in articles if held_out(url, seed, 0.5))
    eval_rows = [{"id": f"web:{u}", "text": articles[u], "url": u, "domain": "web"} for u in held_urls]

    zips = [str(data / "text" / "state_union.zip"), str(data / "text" / "inaugural.zip")]
    run("ingest", *zips, "--output", str(work / "speeches"), "--overwrite")
    run("ingest", "stdlib", "--output", str(work / "stdlib"), "--overwrite")
    train: dict[str, list[dict]] = {"prose": [], "code": []}
    for domain, folder, share in (("prose", "speeches", 0.5), ("code", "stdlib", 0.2)):
        for row in ingested(work / folder, domain):
            (eval_rows if held_out(row["key"], seed, share) else train[domain]).append(row)
    write_documents(work / "eval", balanced(eval_rows, EVAL_BYTES_PER_DOMAIN, seed))
    for domain, rows in train.items():
        write_documents(work / domain, rows)

    inputs = [str(data / "warc" / "*"), str(data / "extraction" / "articles-311.warc.gz")]
    exclude = {"url_filter": {"extra_urls": held_urls, "use_integrated_lists": False}}
    raw = {"name": "raw", "reader": {"warc": {}}, "stages": [exclude, {"extract": {}}]}
    fineweb = yaml.safe_load((REPO / "pipelines" / "fineweb.yaml").read_text())
    fineweb["stages"] = [s for s in fineweb["stages"] if "tokenize" not in s]
    for stage in fineweb["stages"]:
        if "url_filter" in stage:
            stage["url_filter"] = {**(stage["url_filter"] or {}), "extra_urls": held_urls}
    for name, spec in (("raw", raw), ("fineweb", fineweb)):
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        run("run", str(path), "--input", *inputs, "--output", str(work / name), "--workers", str(workers),
            "--overwrite", "--no-progress")  # fmt: skip

    # one small BPE for every candidate and the held-out set (a 50k vocabulary would make the tiny proxy's output
    # layer most of its cost on a CPU), trained on all candidates' training text, none of the held-out text
    tokenizer = str(work / "tokenizer.json")
    run("tokenizer", "train", str(work / "raw"), str(work / "prose"), str(work / "code"),
        "--vocab-size", str(VOCAB), "-o", tokenizer)  # fmt: skip
    for name in ("eval", "prose", "code", "raw", "fineweb"):
        run("tokenize", str(work / name), "--tokenizer", tokenizer, "-o", str(work / name / "tokens"), "--overwrite")

    mix = {
        "name": "fineweb-prose-code",
        "seed": seed,
        "token_budget": 400_000,
        "val_fraction": 0.0,
        "max_epochs": 4,
        "sources": [
            {"name": "web", "tokens": "fineweb/tokens", "weight": 0.5},
            {"name": "prose", "tokens": "prose/tokens", "weight": 0.3},
            {"name": "code", "tokens": "code/tokens", "weight": 0.2},
        ],
    }
    (work / "mix.yaml").write_text(yaml.safe_dump(mix, sort_keys=False))
    compare = {
        "name": "raw-vs-fineweb-vs-mix",
        "candidates": [
            {"name": "raw", "tokens": "raw/tokens"},
            {"name": "fineweb", "tokens": "fineweb/tokens"},
            {"name": "mix", "mix": "mix.yaml"},
        ],
        "eval": {"heldout": "eval/tokens"},
        "model": {"d_model": 64, "n_layers": 2, "n_heads": 4},
        "seeds": [0, 1, 2],
        "train": {
            "seq_len": 128,
            "micro_batch": 16,
            "batch_tokens": 4096,
            "tokens": 300_000,
            "lr": 0.003,
            "warmup_fraction": 0.05,
            "eval_every": 25,
            "eval_tokens": 200_000,
            "device": "cpu",
        },
    }
    spec_path = work / "compare.yaml"
    spec_path.write_text(yaml.safe_dump(compare, sort_keys=False))
    return spec_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python examples/demo_compare.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default=expand("${CURATE_DATA}"))
    parser.add_argument("--work", default="runs/compare-data")
    parser.add_argument("-o", "--output", default="runs/compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.time()
    spec = build(Path(args.data), Path(args.work), args.seed, args.workers)
    run("compare", str(spec), "-o", args.output)
    result = json.loads((Path(args.output) / "comparison.json").read_text())
    print(f"\n{'candidate':<10} {'domain':<8} {'bpb mean':>9} {'± std':>8}")
    for name, cand in result["candidates"].items():
        rows = [("all", cand["overall"])] + sorted(cand["domains"].items())
        for i, (domain, stats) in enumerate(rows):
            print(f"{name if i == 0 else '':<10} {domain:<8} {stats['mean']:>9.4f} {stats['std']:>8.4f}")
    print(f"wall time {time.time() - started:.0f} s; report: {args.output}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
