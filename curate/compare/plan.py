"""`curate compare --plan`: how large a difference the compare can detect, and what it costs, before the full budget
is spent.

Three seeds of a noisy proxy often cannot see the difference a user cares about; finding that out after training
every run wastes the budget. A plan measures the seed σ first and answers with the power formula the finished
comparison uses (`power`):

- σ per figure (the target and, with more than one eval set, each eval set): the pooled within-candidate seed σ,
  √(mean of the candidates' sample variances), so the candidates' different means do not count as noise;
- the σ comes from finished runs already in OUT_DIR (the run cache: the same runs/<config hash> `run_compare` uses,
  named by `runner.run_config`), or, for a candidate with fewer than two, from a pilot: the missing seeds among its
  first two are trained. They are the very runs the compare trains first, so the pilot costs nothing extra;
- the MDD at the spec's n seeds: (t_{1−α′/2, 2n−2} + t_{0.80, 2n−2}) × σ·√(2/n), α′ = alpha / m, m = the Holm family
  (figures tested × pairs), i.e. Welch's test with equal σ and n. For `test: paired` this is the Welch estimate (the
  pairing's gain depends on the seed correlation, which two pilot runs cannot measure), so it is conservative;
- with a minimal effect E: the smallest n (2..64) whose MDD ≤ E, per figure;
- wall time: the mean `elapsed_s` of the finished runs × the runs still to train.

plan.json (format curate-compare-plan/1): format, spec, candidates, seeds, n, alpha, test, estimate_test, power,
family {figures, pairs, tests, alpha_per_test}, mdd_formula, min_effect, pilot {trained [{candidate, seed, hash}],
cached (runs found finished)}, seconds_per_run, runs_to_train, wall_s, figures {name: {sigma, candidates (how many
gave a variance), mdd, seeds_for_effect, runs_for_effect, wall_s_for_effect}}.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from curate.compare.power import MAX_SEEDS, POWER, mdd_for_seeds, seeds_for_effect
from curate.compare.runner import (
    BUILDERS,
    CONTRACT,
    Log,
    _json_default,
    _stderr,
    finished_summary,
    run_config,
    train_run,
)
from curate.compare.spec import CompareSpec, load_spec
from curate.compare.stats import summary_figures
from curate.runfolder import prepare

FORMAT = "curate-compare-plan/1"
PLAN = "plan.json"
PILOT_SEEDS = 2  # the fewest runs that give a sample variance


def seed_list(spec: CompareSpec, n: int) -> list[int]:
    """The first n seeds a compare of this spec would train: its own seeds, then the next unused integers (what a
    larger `seeds:` would most naturally add), so a plan's extra seeds are named before they exist."""
    seeds = list(spec.seeds[:n])
    candidate = max(spec.seeds) + 1
    while len(seeds) < n:
        if candidate not in seeds:
            seeds.append(candidate)
        candidate += 1
    return seeds


def _figures(spec: CompareSpec) -> list[str]:
    """The tested figures: the target, plus each eval set when there are several (one eval set IS the target)."""
    return ["target"] if len(spec.eval) == 1 else ["target", *spec.eval]


def _value(figures: dict, figure: str) -> float:
    return float(figures["bpb"] if figure == "target" else figures["eval_sets"][figure])


def _pooled_sigma(per_candidate: list[list[float]]) -> tuple[float | None, int]:
    """√(mean of the candidates' sample variances) over candidates with two or more runs, and how many there were."""
    variances = [statistics.variance(v) for v in per_candidate if len(v) >= 2]
    if not variances:
        return None, 0
    return math.sqrt(sum(variances) / len(variances)), len(variances)


def plan_compare(
    spec_path: str | Path,
    out_dir: str | Path,
    min_effect: float | None = None,
    overwrite: bool = False,
    log: Log | None = _stderr,
) -> dict:
    """Estimate the seed σ, the MDD at the spec's seed count, the seeds a `min_effect` (bpb) needs and the wall time;
    trains only the pilot seeds a candidate lacks (cached for the compare). Writes OUT_DIR/plan.json; returns it."""
    if min_effect is not None and not (math.isfinite(min_effect) and min_effect > 0):
        raise ValueError(f"compare --plan: --min-effect must be a positive number of bpb, got {min_effect!r}")
    spec = load_spec(spec_path)
    out = Path(out_dir).resolve()
    prepare(out, CONTRACT, overwrite)
    say: Log = log or (lambda _message: None)
    n = len(spec.seeds)
    scan = seed_list(spec, max(n, PILOT_SEEDS))

    train_dirs = {c.name: BUILDERS[c.kind](c, out, say) for c in spec.candidates}
    summaries: dict[str, dict[int, dict]] = {}
    trained: list[dict] = []
    cached = 0
    for cand in spec.candidates:
        done: dict[int, dict] = {}
        for seed in scan:
            summary = finished_summary(run_config(spec, train_dirs[cand.name], seed, out)[2])
            if summary is not None:
                done[seed] = summary
        cached += len(done)
        if len(done) < PILOT_SEEDS:
            for seed in scan[:PILOT_SEEDS]:
                if seed in done:
                    continue
                cfg, digest, run_dir = run_config(spec, train_dirs[cand.name], seed, out)
                say(f"compare --plan: pilot {cand.name} seed {seed} → runs/{digest[:12]}…")
                done[seed] = train_run(cfg, run_dir)
                trained.append({"candidate": cand.name, "seed": seed, "hash": digest})
        summaries[cand.name] = done

    figures = _figures(spec)
    pairs = len(spec.candidates) * (len(spec.candidates) - 1) // 2
    alpha_per_test = spec.alpha / (len(figures) * pairs)
    elapsed = [s["elapsed_s"] for done in summaries.values() for s in done.values() if s.get("elapsed_s") is not None]
    per_run = sum(elapsed) / len(elapsed) if elapsed else None

    def runs_missing(count: int) -> int:
        """Runs still to train for `count` seeds per candidate (the finished ones are reused)."""
        total = 0
        for cand in spec.candidates:
            for seed in seed_list(spec, count):
                if seed in summaries[cand.name]:
                    continue
                if finished_summary(run_config(spec, train_dirs[cand.name], seed, out)[2]) is None:
                    total += 1
        return total

    def wall(runs: int) -> float | None:
        return None if per_run is None else runs * per_run

    runs_to_train = runs_missing(n)
    rows: dict[str, dict] = {}
    for figure in figures:
        values = [
            [_value(summary_figures(s, spec.weights), figure) for s in done.values()] for done in summaries.values()
        ]
        sigma, count = _pooled_sigma(values)
        row: dict = {"sigma": sigma, "candidates": count, "mdd": None}
        row.update(seeds_for_effect=None, runs_for_effect=None, wall_s_for_effect=None)
        if sigma is not None:
            row["mdd"] = mdd_for_seeds(sigma, n, alpha_per_test)
            if min_effect is not None:
                need = seeds_for_effect(sigma, min_effect, alpha_per_test)
                row["seeds_for_effect"] = need
                if need is not None:
                    row["runs_for_effect"] = runs_missing(need)
                    row["wall_s_for_effect"] = wall(row["runs_for_effect"])
        rows[figure] = row

    plan = {
        "format": FORMAT,
        "spec": str(spec_path),
        "candidates": [c.name for c in spec.candidates],
        "seeds": spec.seeds,
        "n": n,
        "alpha": spec.alpha,
        "test": spec.test,
        "estimate_test": "welch",  # the paired test's gain needs the seed correlation; Welch is the safe side
        "power": POWER,
        "family": {"figures": figures, "pairs": pairs, "tests": len(figures) * pairs, "alpha_per_test": alpha_per_test},
        "mdd_formula": "(t(1 - alpha_per_test/2, 2n-2) + t(power, 2n-2)) * sigma * sqrt(2/n)",
        "min_effect": min_effect,
        "max_seeds": MAX_SEEDS,
        "pilot": {"trained": trained, "cached": cached},
        "seconds_per_run": per_run,
        "runs_to_train": runs_to_train,
        "wall_s": wall(runs_to_train),
        "figures": rows,
        "out_dir": str(out),
    }
    (out / PLAN).write_text(json.dumps(plan, indent=2, default=_json_default) + "\n")
    return plan


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_plan(plan: dict) -> list[str]:
    """The plan as printed lines: a table figure | σ | MDD at n seeds | seeds for E | wall time, then the totals."""
    n, effect = plan["n"], plan["min_effect"]
    head = ["figure", "sigma (bpb)", f"MDD at {n} seeds", f"seeds for {effect:g} bpb" if effect else "seeds for E"]
    head.append("est. wall time")
    table = [head]
    for name, row in plan["figures"].items():
        if effect is None:
            seeds, time = "-", _duration(plan["wall_s"])
        elif row["seeds_for_effect"] is None:
            seeds, time = (f">{plan['max_seeds']}" if row["sigma"] is not None else "?"), "-"
        else:
            seeds, time = str(row["seeds_for_effect"]), _duration(row["wall_s_for_effect"])
        table.append([name, _number(row["sigma"]), _number(row["mdd"]), seeds, time])
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    family = plan["family"]
    lines.append(
        f"{len(plan['candidates'])} candidates, {family['tests']} tests (alpha {plan['alpha']:g}, "
        f"{family['alpha_per_test']:.4g} per test), power {plan['power']:.0%}, {plan['test']} test"
        + (" (Welch estimate)" if plan["test"] != "welch" else "")
    )
    pilot = plan["pilot"]
    lines.append(
        f"pilot: {len(pilot['trained'])} runs trained, {pilot['cached']} cached; "
        f"{_duration(plan['seconds_per_run'])} per run; {plan['runs_to_train']} runs still to train for {n} seeds "
        f"(~{_duration(plan['wall_s'])})"
    )
    return lines
