"""The handlers of `curate compare` and `curate ablate`: the evidence commands, which print verdicts, MDDs and the
ablation table (the parser and the other commands are in cli.py)."""

from __future__ import annotations

import argparse
import sys


def positive_bpb(text: str) -> float:
    """--min-effect: a positive, finite bpb difference; anything else is a usage error, before any training."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number of bpb, got {text!r}")
    return value


def compare(args: argparse.Namespace) -> int:
    from curate.compare import plan_compare, run_compare

    if args.plan:
        plan = plan_compare(args.spec, args.output, min_effect=args.min_effect, overwrite=args.overwrite)
        from curate.compare.plan import format_plan

        for line in format_plan(plan):
            print(line)
        print(f"plan: {args.output}/plan.json")
        return 0
    if args.min_effect is not None:
        print("curate compare: --min-effect needs --plan", file=sys.stderr)
        return 2
    result = run_compare(args.spec, args.output, overwrite=args.overwrite)
    # the target's ranking and every pair's verdict (what the ranking follows), one line per eval set, then what
    # the run could have detected
    ranking = ", ".join(f"{r['rank']}. {r['candidate']} {r['bpb_mean']:.4f}" for r in result["ranking"])
    print(f"target (bpb, best first): {ranking}")
    for line in result["verdicts"]:
        print(f"  {line}")
    for same in result["identical"]:
        print(f"  {same['text']}")
    if len(result["eval_sets"]) > 1:
        for name, block in result["eval_sets"].items():
            print(f"{name} (weight {block['weight']:g}): {block['summary']}")
    family = result["family"]
    if family["alpha_per_test"] is not None:
        spans = [
            (name, span)
            for name, span in family["mdd_range"].items()
            if span and (name == "target" or len(result["eval_sets"]) > 1)
        ]
        ranges = ", ".join(f"{name} {lo:.4f}" if lo == hi else f"{name} {lo:.4f}–{hi:.4f}" for name, (lo, hi) in spans)
        print(
            f"MDD at {family['power']:.0%} power (alpha {family['alpha']} / {family['tests']} tests = "
            f"{family['alpha_per_test']:.4g} per comparison), bpb: {ranges}"
        )
    else:
        print("MDD: none (one seed, so no tests)")
    if result.get("scales"):
        for name in result["scales"]["names"]:
            ranking = result["scales"]["per_scale"][name]["ranking"]
            print(f"scale {name}: " + ", ".join(f"{r['rank']}. {r['candidate']} {r['bpb_mean']:.4f}" for r in ranking))
        for pair in result["scales"]["agreement"]:
            print(f"  {pair['text']}")
    print(f"comparison: {args.output}/comparison.json   report: {args.output}/report.html")
    return 0


def ablate(args: argparse.Namespace) -> int:
    from curate.ablate import run_ablate

    stages = [s for part in args.stages for s in part.split(",") if s] if args.stages else None
    table = run_ablate(
        args.pipeline,
        args.input,
        args.output,
        args.compare,
        stages=stages,
        raw=args.raw,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(f"recipe: {table['recipe']['documents']} documents, {table['recipe']['tokens']:,} tokens")
    for row in table["rows"]:
        print(f"  {row['text']}")
    print(f"ablation: {args.output}/ablation.json   report: {args.output}/report.html")
    return 0
