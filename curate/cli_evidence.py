"""The evidence commands, `curate compare` and `curate ablate` (their parsers and handlers, which print verdicts,
MDDs and the ablation table), and the checks of option values every command shares: a bad value is a one-line
usage error before anything runs. The other commands are in cli.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum` (the error names the option through argparse)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def positive_bpb(text: str) -> float:
    """--min-effect: a positive, finite bpb difference; anything else is a usage error, before any training."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number of bpb, got {text!r}")
    return value


def output_problem(path: str, folder: bool = True) -> str | None:
    """Why `path` cannot be the output (a folder, or a file when `folder` is False), or None: checked before the
    command reads or trains anything, so the mistake does not surface as a traceback at the end."""
    target = Path(path)
    if target.exists() and target.is_dir() != folder:
        return "is a file, not a folder" if folder else "is a folder, not a file"
    for parent in target.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a folder"
    return None


def add_evidence_commands(sub) -> None:
    """`compare` and `ablate` on the `curate` subcommand parser."""
    compare_p = sub.add_parser(
        "compare",
        help="train the same proxy model on candidate data, rank them by held-out bits per byte",
        description="Train one proxy model config on every candidate (token dirs or mixes) with the same budget and "
        "seeds; report held-out bpb per candidate and domain with 95% intervals, pairwise significance and the "
        "ranking. Finished runs are reused; an interrupted compare resumes. See pipelines/compare-example.yaml.",
    )
    compare_p.add_argument("spec", metavar="COMPARE.yaml", help="candidates, eval sets, model, training, seeds")
    compare_p.add_argument("-o", "--output", required=True, metavar="DIR", help="runs, comparison.json, report.html")
    compare_p.add_argument("--overwrite", action="store_true", help="retrain everything")
    compare_p.add_argument(
        "--plan",
        action="store_true",
        help="estimate the seed sigma (from finished runs, or two pilot seeds per candidate, kept for the compare), "
        "the minimal detectable difference and the wall time; writes DIR/plan.json and trains nothing else",
    )
    compare_p.add_argument(
        "--min-effect",
        type=positive_bpb,
        metavar="BPB",
        help="with --plan: the smallest bpb difference to detect; prints the seeds each figure needs for it",
    )
    compare_p.set_defaults(func=compare, outputs=("output",))

    ablate_p = sub.add_parser(
        "ablate",
        help="which stage of a recipe helps: one pass, the recipe without each stage, compared by a proxy model",
        description="Run the pipeline once with every filter recording its verdict instead of dropping, build the "
        "recipe and the recipe without each filter stage (dedup and text transforms as whole stages), tokenize each "
        "document once, and compare them against the recipe with `curate compare`. Prints and writes the ablation "
        "table: documents each stage removes, its effect on every eval set and the target with a confidence "
        "interval, and helps / hurts / no evidence (with the minimal detectable difference).",
    )
    ablate_p.add_argument("pipeline", help="pipeline YAML with a tokenize stage, e.g. pipelines/fineweb.yaml")
    ablate_p.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH_OR_GLOB", help="crawl files")
    ablate_p.add_argument(
        "--output", "-o", required=True, metavar="DIR", help="the pass, the runs, ablation.json, report.html"
    )
    ablate_p.add_argument(
        "--compare",
        required=True,
        metavar="SETTINGS.yaml",
        help="a compare file without candidates: eval sets, model, train, seeds, alpha",
    )
    ablate_p.add_argument(
        "--stages", nargs="+", metavar="STAGE", help="leave out only these stages (default: every filter, dedup, pii)"
    )
    ablate_p.add_argument("--raw", action="store_true", help="also compare no curation at all (every extracted page)")
    ablate_p.add_argument(
        "--workers", "-w", type=at_least(1), default=1, help="worker processes for the pass (default 1)"
    )
    ablate_p.add_argument("--overwrite", action="store_true", help="redo the pass and retrain everything")
    ablate_p.set_defaults(func=ablate, outputs=("output",))


def compare(args: argparse.Namespace) -> int:
    from curate.compare import plan_compare, run_compare
    from curate.extras import require

    require("torch", "curate compare")  # it trains proxy models

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
    from curate.extras import require

    require("torch", "curate ablate")  # it trains proxy models

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
