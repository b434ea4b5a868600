"""The demo's comparison: raw extracted web text vs the FineWeb pipeline's output vs a web/prose/code mix.

`make compare` (and the end of `make demo`) runs `python -m curate.demo_compare`, which builds, from the shared data:
- a held-out set with three parts: web = the ground-truth article text of a seeded random half of the article pages
  (their URLs are excluded from every candidate's training data), prose = a seeded half of the presidential
  speeches, code = a seeded fifth of the Python standard library's modules;
- candidate `raw`: every page trafilatura extracts from the shared crawl files, no filters, no dedup;
- candidate `fineweb`: the full pipelines/fineweb.yaml output;
- candidate `mix`: the fineweb output mixed with the other speeches and modules (50/30/20);
then `curate compare` trains the same tiny proxy model on each with three seeds and ranks them by held-out bits per
byte. Which wins is a measurement, not a given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curate.records import DOCUMENT_SCHEMA
from curate.settings import expand

VOCAB = 4096
EVAL_BYTES_PER_DOMAIN = 150_000  # web, prose and code weigh the same in the held-out set


def _balanced(rows: list[dict], per_domain: int, seed: int) -> list[dict]:
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


def _held_out(key: str, seed: int, share: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < share


def _write_documents(folder: Path, rows: list[dict]) -> Path:
    (folder / "documents").mkdir(parents=True, exist_ok=True)
    full = [{name: row.get(name) for name in DOCUMENT_SCHEMA.names} for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=DOCUMENT_SCHEMA), folder / "documents" / "00000.parquet")
    return folder


def _speeches(data: Path) -> list[tuple[str, str]]:
    out = []
    for name in ("state_union.zip", "inaugural.zip"):
        with zipfile.ZipFile(data / "text" / name) as archive:
            for member in sorted(archive.namelist()):
                if member.endswith(".txt") and "__MACOSX" not in member:
                    try:
                        out.append((f"{name}:{member}", archive.read(member).decode("utf-8")))
                    except UnicodeDecodeError:
                        continue  # the few non-UTF-8 speeches are left out of both sides
    return out


def _modules() -> list[tuple[str, str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = set(path.relative_to(root).parts)
        if parts & {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            out.append((str(path.relative_to(root)), text))
    return out


def _curate(*argv: str) -> None:
    from curate.cli import main

    code = main(list(argv))
    if code != 0:
        raise SystemExit(f"demo_compare: `curate {' '.join(argv[:2])} ...` failed with exit code {code}")


def build(data: Path, work: Path, seed: int = 0, workers: int = 2) -> Path:
    """Build the held-out set and the three candidates under `work`; returns the compare spec's path."""
    work.mkdir(parents=True, exist_ok=True)
    truth = json.loads((data / "extraction" / "articles-311.groundtruth.json").read_text())
    articles = {url: page["articleBody"] for url, page in truth.items() if page.get("articleBody")}
    held_urls = sorted(url for url in articles if _held_out(url, seed, 0.5))
    speeches, modules = _speeches(data), _modules()
    eval_rows = [{"id": f"web:{u}", "text": articles[u], "url": u, "domain": "web"} for u in held_urls]
    prose_train, code_train = [], []
    for key, text in speeches:
        row = {"id": f"prose:{key}", "text": text, "source": key, "domain": "prose"}
        (eval_rows if _held_out(key, seed, 0.5) else prose_train).append(row)
    for key, text in modules:
        row = {"id": f"code:{key}", "text": text, "source": f"stdlib:{key}", "domain": "code"}
        (eval_rows if _held_out(key, seed, 0.2) else code_train).append(row)

    eval_rows = _balanced(eval_rows, EVAL_BYTES_PER_DOMAIN, seed)
    for name, rows in (("eval", eval_rows), ("prose", prose_train), ("code", code_train)):
        _write_documents(work / name, rows)

    inputs = [str(data / "warc" / "*"), str(data / "extraction" / "articles-311.warc.gz")]
    exclude = {"url_filter": {"extra_urls": held_urls, "use_integrated_lists": False}}
    raw = {"name": "raw", "reader": {"warc": {}}, "stages": [exclude, {"extract": {}}]}
    fineweb = yaml.safe_load(Path("pipelines/fineweb.yaml").read_text())
    fineweb["stages"] = [s for s in fineweb["stages"] if "tokenize" not in s]
    for stage in fineweb["stages"]:
        if "url_filter" in stage:
            stage["url_filter"] = {**(stage["url_filter"] or {}), "extra_urls": held_urls}
    for name, spec in (("raw", raw), ("fineweb", fineweb)):
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        _curate(
            "run",
            str(path),
            "--input",
            *inputs,
            "--output",
            str(work / name),
            "--workers",
            str(workers),
            "--overwrite",
            "--no-progress",
        )

    # one small BPE for every candidate and the held-out set (a 50k vocabulary would make the tiny proxy's output
    # layer most of its cost on a CPU), trained on all candidates' training text, none of the held-out text
    tokenizer = str(work / "tokenizer.json")
    _curate(
        "tokenizer",
        "train",
        str(work / "raw"),
        str(work / "prose"),
        str(work / "code"),
        "--vocab-size",
        str(VOCAB),
        "-o",
        tokenizer,
    )
    for name in ("eval", "prose", "code", "raw", "fineweb"):
        _curate(
            "tokenize", str(work / name), "--tokenizer", tokenizer, "-o", str(work / name / "tokens"), "--overwrite"
        )

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
        prog="python -m curate.demo_compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=expand("${CURATE_DATA}"))
    parser.add_argument("--work", default="runs/compare-data")
    parser.add_argument("-o", "--output", default="runs/compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.time()
    spec = build(Path(args.data), Path(args.work), args.seed, args.workers)
    from curate.compare import run_compare

    result = run_compare(spec, args.output)
    print(f"\n{'candidate':<10} {'domain':<8} {'bpb mean':>9} {'± std':>8}")
    for name, cand in result["candidates"].items():
        rows = [("all", cand["overall"])] + sorted(cand["domains"].items())
        for i, (domain, stats) in enumerate(rows):
            print(f"{name if i == 0 else '':<10} {domain:<8} {stats['mean']:>9.4f} {stats['std']:>8.4f}")
    for line in result.get("verdicts", []):
        print(line)
    print(f"wall time {time.time() - started:.0f} s; report: {args.output}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
