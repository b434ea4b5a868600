"""The demo's comparison: raw extracted web text vs the FineWeb pipeline's output vs a web/prose/code mix.

`make compare` (and the end of `make demo`) runs this script. It is an example of driving curate from its public
commands, not part of the library. From the shared data it builds:
- three held-out eval sets, equal weights in the target the verdict follows: web = the ground-truth article text of a
  seeded random half of the article pages (their URLs are excluded from every candidate's training data), prose = a
  seeded half of the presidential speeches, code = a seeded fifth of the Python standard library's modules (both read
  with `curate ingest`);
- candidate `raw`: every page trafilatura extracts from the shared crawl files, no filters, no dedup;
- candidate `fineweb`: the full pipelines/fineweb.yaml output;
- candidate `mix`: the fineweb output mixed with the other speeches and modules (50/30/20);
then `curate compare` trains the same tiny proxy model on each with three seeds and ranks them by held-out bits per
byte. Which wins is a measurement, not a given. The FineWeb candidate comes from `curate ablate`, which runs the recipe
once and also compares it with the recipe without each of two quality filters (gopher_quality, fineweb_quality);
both share one run cache, so the recipe's runs are trained once.

    python examples/demo_compare.py [--data DIR] [--work runs/compare-data] [-o runs/compare] [--ablate runs/ablate]
                                    [--workers 2]
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
EVAL_BYTES_PER_DOMAIN = 150_000  # up to this many bytes of web, prose and code: one eval set each
EVAL_SETS = ("web", "prose", "code")
# the recipe without each, one at a time: the two quality filters that remove most of what the others keep (32 and 13
# of the pass's documents; c4_quality and gopher_repetition remove 3 and 2)
ABLATED = ("gopher_quality", "fineweb_quality")
# the proxy, budget and seeds of both the compare and the ablation; one run cache, so the recipe trains once
COMPARE_SETTINGS = {
    "model": {"d_model": 64, "n_layers": 2, "n_heads": 4},
    "seeds": [0, 1, 2],
    "cache": "proxy-runs",
    "tokenizer": "tokenizer.json",
    "train": {
        "seq_len": 128,
        "micro_batch": 16,
        "batch_tokens": 4096,
        "tokens": 300_000,
        "lr": 0.003,
        "warmup_fraction": 0.05,
        "eval_every": 15,  # five eval points a run for the curves; 100k eval tokens keep them at about an eighth of
        "eval_tokens": 100_000,  # the training each
        "device": "cpu",
    },
}


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


def build(data: Path, work: Path, ablate_dir: Path, seed: int = 0, workers: int = 2) -> Path:
    """Build the held-out sets and the three candidates under `work`, with the ablation of the FineWeb recipe's
    quality filters in `ablate_dir`; returns the compare spec's path."""
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
    held = balanced(eval_rows, EVAL_BYTES_PER_DOMAIN, seed)
    for domain in EVAL_SETS:  # one eval set per domain, so each counts what its weight says, not what its bytes say
        write_documents(work / "eval" / domain, [r for r in held if r["domain"] == domain])
    for domain, rows in train.items():
        write_documents(work / domain, rows)

    inputs = [str(data / "warc" / "*"), str(data / "extraction" / "articles-311.warc.gz")]
    exclude = {"url_filter": {"extra_urls": held_urls, "use_integrated_lists": False}}
    raw = {"name": "raw", "reader": {"warc": {}}, "stages": [exclude, {"extract": {}}]}
    (work / "raw.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run("run", str(work / "raw.yaml"), "--input", *inputs, "--output", str(work / "raw"), "--workers", str(workers),
        "--overwrite", "--no-progress")  # fmt: skip

    # one small BPE for every candidate and the held-out set (a 50k vocabulary would make the tiny proxy's output
    # layer most of its cost on a CPU), trained on all candidates' training text, none of the held-out text
    tokenizer = str(work / "tokenizer.json")
    run("tokenizer", "train", str(work / "raw"), str(work / "prose"), str(work / "code"),
        "--vocab-size", str(VOCAB), "-o", tokenizer)  # fmt: skip
    for name in (*(f"eval/{d}" for d in EVAL_SETS), "prose", "code", "raw"):
        run("tokenize", str(work / name), "--tokenizer", tokenizer, "-o", str(work / name / "tokens"), "--overwrite")

    # the FineWeb recipe (held-out URLs excluded), run once by `curate ablate`: its `recipe` candidate is the
    # compare's fineweb candidate, and the recipe without each quality filter is compared with it
    fineweb = yaml.safe_load((REPO / "pipelines" / "fineweb.yaml").read_text())
    for stage in fineweb["stages"]:
        if "url_filter" in stage:
            stage["url_filter"] = {**(stage["url_filter"] or {}), "extra_urls": held_urls}
        if "tokenize" in stage:
            stage["tokenize"] = {"tokenizer": tokenizer}
    (work / "fineweb.yaml").write_text(yaml.safe_dump(fineweb, sort_keys=False))
    settings = {**COMPARE_SETTINGS, "eval": {d: {"tokens": f"eval/{d}/tokens", "weight": 1} for d in EVAL_SETS}}
    ablate_settings = {**settings, "name": "fineweb-ablation"}
    (work / "ablate-settings.yaml").write_text(yaml.safe_dump(ablate_settings, sort_keys=False))
    run("ablate", str(work / "fineweb.yaml"), "--input", *inputs, "-o", str(ablate_dir), "--compare",
        str(work / "ablate-settings.yaml"), "--stages", *ABLATED, "--workers", str(workers))  # fmt: skip
    recipe = str(ablate_dir.resolve() / "candidates" / "recipe")

    mix = {
        "name": "fineweb-prose-code",
        "seed": seed,
        "token_budget": 400_000,
        "val_fraction": 0.0,
        "max_epochs": 4,
        "sources": [
            {"name": "web", "tokens": recipe, "weight": 0.5},
            {"name": "prose", "tokens": "prose/tokens", "weight": 0.3},
            {"name": "code", "tokens": "code/tokens", "weight": 0.2},
        ],
    }
    (work / "mix.yaml").write_text(yaml.safe_dump(mix, sort_keys=False))
    compare = {
        "name": "raw-vs-fineweb-vs-mix",
        "candidates": [
            {"name": "raw", "tokens": "raw/tokens"},
            {"name": "fineweb", "tokens": recipe},
            {"name": "mix", "mix": "mix.yaml"},
        ],
        "reference": "raw",
        **settings,
    }
    spec_path = work / "compare.yaml"
    spec_path.write_text(yaml.safe_dump(compare, sort_keys=False))
    return spec_path


def print_verdicts(result: dict) -> None:
    """The verdict table (target, each eval set, pooled by bytes; mean ± 95% CI half-width, ▲/▼ against the
    reference) under `curate compare`'s own lines (the verdicts and the MDDs)."""
    columns = ["target", *result["eval_sets"], "pooled"]
    print(f"\n{'candidate':<12}" + "".join(f"{c:>19}" for c in columns))
    for r in result["ranking"]:
        cand = result["candidates"][r["candidate"]]
        cells = []
        for c in columns:
            s = cand[c] if c in ("target", "pooled") else cand["eval_sets"][c]
            half = "" if s["ci95_half"] is None else f" ± {s['ci95_half']:.4f}"
            mark = {"better": "▲", "worse": "▼"}.get(cand["vs_reference"].get(c) or "", " ")
            cells.append(f"{s['mean']:.4f}{half} {mark}")
        label = r["candidate"] + (" (ref)" if r["candidate"] == result["reference"] else "")
        print(f"{label:<12}" + "".join(f"{c:>19}" for c in cells))
    family = result["family"]
    weights = ", ".join(f"{e} {w:g}" for e, w in result["target"]["weights"].items())
    print(
        f"bpb, mean ± 95% CI half-width over {len(result['seeds'])} seeds, best first by the target (weighted mean "
        f"of the eval sets: {weights}); ▲/▼ significantly better/worse than {result['reference']} "
        f"({family['correction']}, alpha {family['alpha']}); pooled = by bytes, not tested. Verdicts and MDDs: above."
    )


def print_ablation(table: dict) -> None:
    """The ablation table: per quality filter left out, what it removes and its effect on each figure (± 95% CI)."""
    figures = table["figures"]
    print(f"\n{'stage left out':<18}{'removes':>14}" + "".join(f"{f:>24}" for f in figures) + "  verdict (target)")
    for row in table["rows"]:
        cells = []
        for f in figures:
            eff = row["effects"][f]
            if eff["effect"] is None:
                cells.append("—")
                continue
            lo, hi = eff["ci95"]
            cells.append(f"{eff['effect']:+.3f} [{lo:+.3f},{hi:+.3f}]")
        removes = f"{row['removes']['documents']} ({row['removes']['share']:.0%})"
        print(f"{row['stage'] or 'all':<18}{removes:>14}" + "".join(f"{c:>24}" for c in cells) + f"  {row['verdict']}")
    print(
        f"effect = bpb without the stage − bpb of the recipe ({table['recipe']['documents']} documents): above 0 the "
        "stage helps; helps/hurts only when significant, else the MDD the run could see."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python examples/demo_compare.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default=expand("${CURATE_DATA}"))
    parser.add_argument("--work", default="runs/compare-data")
    parser.add_argument("-o", "--output", default="runs/compare")
    parser.add_argument("--ablate", default="runs/ablate", help="the ablation's output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.time()
    spec = build(Path(args.data), Path(args.work), Path(args.ablate), args.seed, args.workers)
    run("compare", str(spec), "-o", args.output)
    result = json.loads((Path(args.output) / "comparison.json").read_text())
    print_verdicts(result)
    print_ablation(json.loads((Path(args.ablate) / "ablation.json").read_text()))
    print(f"wall time {time.time() - started:.0f} s; reports: {args.output}/report.html, {args.ablate}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
