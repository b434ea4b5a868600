"""`curate eval dedup`: how many near-duplicates MinHash LSH catches at each true Jaccard similarity, next to the
S-curve that theory predicts for the bands × rows in use (`curate.dedup.lsh.detection_probability`).

Pairs come from a run's own documents by controlled edits (as tests/test_dedup.py builds its corpus): each pair is
a document (its first `max_words` words) and a copy in which every word is, with probability `rate`, swapped with
the previous one, deleted, or followed by a word drawn from the documents. The rates run from 0 to 0.15, so the
pairs' true word-5-gram Jaccard similarities (`curate.dedup.minhash.true_jaccard` on `MinHasher.shingles`) cover
the whole curve. A pair is detected when the two texts share a band key (`band_keys`): exactly what makes them
candidates in the dedup stage, with the stage's hasher (same n-grams, permutations bands × rows, seed).

The configuration is the run's: the `dedup` stage of RUN_DIR/run.json (its bands and rows, or the bands × rows its
`threshold` chose), else the stage's defaults (14 bands × 8 rows, FineWeb's); options override it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

RATES = (0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.065, 0.08, 0.11, 0.15)
BINS = ((0.0, 0.3), (0.3, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))
MIN_WORDS = 50  # a shorter document gives too few shingles for a controlled similarity


def run_documents(run_dir: str | Path) -> list[str]:
    """The texts of RUN_DIR/documents/*.parquet; ValueError when RUN_DIR holds none."""
    import pyarrow.parquet as pq

    folder = Path(run_dir)
    if not folder.exists():
        raise FileNotFoundError(2, "No such directory", str(folder))
    if not folder.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(folder))
    files = sorted((folder / "documents").glob("*.parquet"))
    if not files:
        raise ValueError(f"{folder}: no documents/*.parquet (not a `curate run` or `curate ingest` output)")
    return [t for f in files for t in pq.read_table(f, columns=["text"]).column("text").to_pylist() if t]


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """n_grams, bands, rows and seed of the run's dedup stage (RUN_DIR/run.json), or the stage's defaults."""
    from curate.dedup.minhash import DEFAULT_BANDS, DEFAULT_N_GRAMS, DEFAULT_ROWS, DEFAULT_SEED

    params: dict[str, Any] | None = None
    request = Path(run_dir) / "run.json"
    if request.is_file():
        try:
            stages = json.loads(request.read_text()).get("spec", {}).get("stages", [])
        except (json.JSONDecodeError, AttributeError):
            stages = []
        for stage in stages if isinstance(stages, list) else []:
            if isinstance(stage, dict) and isinstance(stage.get("dedup"), dict):
                params = stage["dedup"]
    if params is None:  # the stage's defaults, without importing the stage (datatrove: a second on a small machine)
        return {"n_grams": DEFAULT_N_GRAMS, "bands": DEFAULT_BANDS, "rows": DEFAULT_ROWS, "seed": DEFAULT_SEED,
                "from": "defaults"}  # fmt: skip
    from curate.dedup.steps import Dedup

    keys = ("n_grams", "bands", "rows", "threshold", "seed")
    dedup = Dedup(**{k: v for k, v in params.items() if k in keys})  # a threshold chooses bands × rows here
    return {"n_grams": dedup.n_grams, "bands": dedup.bands, "rows": dedup.rows, "seed": dedup.seed, "from": "run.json"}


def edit(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    """Each word swapped with the previous one, deleted or followed by a vocabulary word, with probability `rate`."""
    out: list[str] = []
    for word in text.split():
        if rng.random() >= rate:
            out.append(word)
            continue
        kind = rng.choice(("swap", "delete", "insert"))
        if kind == "insert":
            out += [word, rng.choice(vocabulary)]
        elif kind == "swap" and out:
            out.insert(len(out) - 1, word)
    return " ".join(out)


def make_pairs(texts: list[str], pairs: int, max_words: int, seed: int) -> list[tuple[str, str, float]]:
    """`pairs` (original, edited copy, edit rate): documents in turn, rates in turn."""
    words = [t.split()[:max_words] for t in texts]
    bases = [" ".join(w) for w in words if len(w) >= MIN_WORDS]
    if not bases:
        raise ValueError(f"no document has {MIN_WORDS} words or more")
    rng = random.Random(seed)
    vocabulary = [w for ws in words[:200] for w in ws]
    order = list(range(len(bases)))
    rng.shuffle(order)
    out = []
    for i in range(pairs):
        base, rate = bases[order[i % len(bases)]], RATES[i % len(RATES)]
        out.append((base, edit(base, rate, rng, vocabulary), rate))
    return out


def evaluate(
    run_dir: str | Path,
    bands: int | None = None,
    rows: int | None = None,
    n_grams: int | None = None,
    pairs: int = 400,
    max_words: int = 300,
    seed: int = 0,
) -> dict[str, Any]:
    """Detection rate per true-Jaccard bin and what the S-curve predicts for it, over `pairs` edited pairs."""
    import numpy as np

    from curate.dedup.lsh import detection_probability
    from curate.dedup.minhash import MinHasher, band_keys, true_jaccard

    config = run_config(run_dir)
    for name, value in (("bands", bands), ("rows", rows), ("n_grams", n_grams)):
        if value is not None:
            config[name], config["from"] = value, "options"
    b, r = config["bands"], config["rows"]
    texts = run_documents(run_dir)
    made = make_pairs(texts, pairs, max_words, seed)
    hasher = MinHasher(n_grams=config["n_grams"], num_perm=b * r, seed=config["seed"])
    keys = band_keys(hasher.signatures([t for a, c, _ in made for t in (a, c)]), b, r)
    detected = (keys[0::2] == keys[1::2]).any(axis=1)
    jaccard = np.array([true_jaccard(hasher.shingles(a), hasher.shingles(c)) for a, c, _ in made])
    theory = np.asarray(detection_probability(jaccard, b, r))
    table = []
    for lo, hi in BINS:
        inside = (jaccard >= lo) & ((jaccard < hi) if hi < 1.0 else (jaccard <= hi))
        n = int(inside.sum())
        if not n:
            continue
        p = theory[inside]
        sd = float(np.sqrt((p * (1 - p)).sum())) / n
        observed, expected = float(detected[inside].mean()), float(p.mean())
        table.append(
            {
                "bin": [lo, hi],
                "pairs": n,
                "mean_jaccard": float(jaccard[inside].mean()),
                "detected": int(detected[inside].sum()),
                "rate": observed,
                "theory": expected,
                "z": (observed - expected) / sd if sd > 0 else 0.0,
            }
        )
    high = jaccard >= 0.8
    return {
        "run_dir": str(run_dir),
        "config": {**config, "pairs": len(made), "max_words": max_words, "pair_seed": seed},
        "documents": len(texts),
        "threshold": (1 / b) ** (1 / r),  # where the S-curve is steepest
        "detection_rate": float(detected.mean()),
        "theory_rate": float(theory.mean()),
        "detection_rate_jaccard_0.8": float(detected[high].mean()) if high.any() else None,
        "bins": table,
        "pairs": [
            {"rate": rate, "jaccard": float(j), "detected": bool(d), "theory": float(t)}
            for (_, _, rate), j, d, t in zip(made, jaccard, detected, theory)
        ],
    }


def chart(result: dict[str, Any], path: str | Path) -> Path:
    """Observed detection rate per bin (with ±2 sd of the binomial) on the theoretical S-curve, as a PNG."""
    import numpy as np

    from curate.charts import figure, save
    from curate.dedup.lsh import detection_probability

    b, r = result["config"]["bands"], result["config"]["rows"]
    fig, ax = figure(6.4, 4.0)
    xs = np.linspace(0, 1, 201)
    ax.plot(xs, detection_probability(xs, b, r), color="tab:blue", label=f"theory: {b} bands × {r} rows")
    pts = result["bins"]
    spread = [2 * (p["rate"] * (1 - p["rate"]) / p["pairs"]) ** 0.5 for p in pts]
    errors = [[min(e, p["rate"]) for e, p in zip(spread, pts)], [min(e, 1 - p["rate"]) for e, p in zip(spread, pts)]]
    ax.errorbar(
        [p["mean_jaccard"] for p in pts],
        [p["rate"] for p in pts],
        yerr=errors,
        fmt="o",
        color="tab:red",
        capsize=3,
        label=f"detected ({result['config']['pairs']} edited pairs)",
    )
    ax.axvline(result["threshold"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(f"true Jaccard similarity of word {result['config']['n_grams']}-gram shingles")
    ax.set_ylabel("share of pairs made candidates")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left")
    ax.set_title("MinHash LSH near-duplicate detection")
    return save(fig, path)


def format_table(result: dict[str, Any]) -> list[str]:
    c = result["config"]
    high = result["detection_rate_jaccard_0.8"]
    lines = [
        f"dedup: {c['bands']} bands × {c['rows']} rows, word {c['n_grams']}-grams ({c['from']}); {c['pairs']} edited"
        f" pairs from {result['documents']} documents; S-curve threshold ≈ {result['threshold']:.2f}",
        f"detected {result['detection_rate']:.1%} of pairs (theory {result['theory_rate']:.1%})"
        + (f"; {high:.1%} of those with Jaccard ≥ 0.8" if high is not None else ""),
        f"{'jaccard':>11} {'pairs':>6} {'detected':>9} {'rate':>7} {'theory':>7} {'z':>6}",
    ]
    for row in result["bins"]:
        lo, hi = row["bin"]
        lines.append(
            f"[{lo:.1f}, {hi:.1f}{']' if hi >= 1 else ')'} {row['pairs']:>6} {row['detected']:>9} {row['rate']:>7.3f}"
            f" {row['theory']:>7.3f} {row['z']:>6.2f}"
        )
    return lines
