"""Benchmark: how often `curate compare` calls a difference significant when there is none (its false-positive rate).

Ten null comparisons: tinyshakespeare's training paragraphs split into two random halves (a new split per
comparison), both halves trained with the same tiny proxy (2 layers, d 64, 40 steps of 512 tokens, CPU) and 3
seeds, evaluated on the same held-out tenth, Welch t-tests at alpha 0.05 (Holm over one pair). At alpha 0.05 the
expected count of significant verdicts is 0.5 of 10, and the goal is at most 2. Also reports the MDD of each
comparison: what difference the same runs could have detected.

    .venv/bin/python bench/bench_compare_null.py [--comparisons 10] [--seeds 3]
Writes bench/results/compare_null.json.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import yaml
from benchlib import RESULTS, data_dir, machine, table_row, write_results

from curate.compare import run_compare
from curate.tokenize import train_bpe
from curate.tokens import ShardWriter, encode_documents, load_tokenizer

GOAL_MAX_SIGNIFICANT = 2
TRAIN = {
    "seq_len": 64,
    "micro_batch": 8,
    "batch_tokens": 512,
    "max_steps": 40,
    "lr": 3e-3,
    "warmup_steps": 5,
    "eval_tokens": 6000,
    "device": "cpu",
    "threads": 1,
}
MODEL = {"d_model": 64, "n_layers": 2, "n_heads": 4}


def tokens_dir(out: Path, texts: list[str], tokenizer: Path) -> str:
    tok, info = load_tokenizer(tokenizer)
    docs = ((f"d{i}", t, None) for i, t in enumerate(texts))
    with ShardWriter(out, info) as writer:
        for ids, nbytes, doc_id, domain in encode_documents(tok, info.eos_id, docs):
            writer.write(ids, nbytes, doc_id, domain)
    return str(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comparisons", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/bench-compare-null"))
    parser.add_argument("--output", type=Path, default=RESULTS / "compare_null.json")
    args = parser.parse_args(argv)

    text = (data_dir() / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    cut = int(len(paragraphs) * 0.9)
    train, held = paragraphs[:cut], paragraphs[cut:]
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = train_bpe(paragraphs, 512, work / "bpe-512.json", min_frequency=0)
    eval_dir = tokens_dir(work / "eval", held, tokenizer)

    started = time.perf_counter()
    rows = []
    for k in range(args.comparisons):
        order = list(range(len(train)))
        random.Random(1000 + k).shuffle(order)
        half = len(order) // 2
        a = tokens_dir(work / f"split{k}" / "a", [train[i] for i in sorted(order[:half])], tokenizer)
        b = tokens_dir(work / f"split{k}" / "b", [train[i] for i in sorted(order[half:])], tokenizer)
        spec = {
            "name": f"null-{k}",
            "candidates": [{"name": "a", "tokens": a}, {"name": "b", "tokens": b}],
            "eval": {"heldout": eval_dir},
            "model": MODEL,
            "train": TRAIN,
            "seeds": args.seeds,
            "alpha": 0.05,
        }
        path = work / f"split{k}" / "compare.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        result = run_compare(path, work / f"split{k}" / "out", log=None)
        (pair,) = result["pairwise"]
        rows.append(
            {
                "comparison": k,
                "difference": pair["diff_mean"],
                "p_value": pair["p_value"],
                "p_holm": pair["p_holm"],
                "significant": pair["significant"],
                "mdd": pair.get("mdd"),
            }
        )
        verdict = "SIGNIFICANT" if pair["significant"] else "not significant"
        mdd = pair.get("mdd")
        print(
            f"null {k}: difference {pair['diff_mean']:+.4f} bpb, p = {pair['p_value']:.3f},"
            f" MDD {'—' if mdd is None else f'{mdd:.4f}'}, {verdict}",
            flush=True,
        )
    significant = sum(r["significant"] for r in rows)
    seconds = time.perf_counter() - started
    print(
        f"{significant} of {len(rows)} null comparisons significant at alpha 0.05 (goal <= {GOAL_MAX_SIGNIFICANT});"
        f" {seconds:.0f} s"
    )
    result = {
        "benchmark": "false-positive rate of curate compare on null comparisons (random halves of one corpus)",
        "machine": machine(),
        "seeds": args.seeds,
        "comparisons": rows,
        "significant": significant,
        "goal_max_significant": GOAL_MAX_SIGNIFICANT,
        "seconds": round(seconds, 1),
    }
    mdds = [r["mdd"] for r in rows if r["mdd"] is not None]
    table = [
        table_row(
            f"null comparisons significant at α 0.05 (expected {0.05 * len(rows):.2g})"
            + (f"; MDD {min(mdds):.3f}–{max(mdds):.3f} bpb" if mdds else ""),
            significant,
            f"of {len(rows)}",
            goal=f"≤ {GOAL_MAX_SIGNIFICANT / 10:.0%} of them (2 of 10)",
        )
    ]
    proxy = f"d {MODEL['d_model']}, {TRAIN['max_steps']} steps"
    size = f"{len(rows)} null comparisons × {args.seeds} seeds × 2 candidates ({proxy})"
    write_results("compare_null", result, size, table, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
