"""`curate eval`: measure a stage against ground truth (extraction, langid, dedup, pii). Each command prints a table
and, with `--output FILE.json`, writes everything it measured there (dedup also writes FILE.png beside it, its
detection rates on the S-curve). The measurements themselves are in curate/evals/*_eval.py."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from curate.cli_evidence import at_least, output_problem


def share(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def add_eval_commands(sub) -> None:
    """`eval extraction|langid|dedup|pii` on the `curate` subcommand parser."""
    eval_p = sub.add_parser(
        "eval",
        help="measure a stage against ground truth: extraction, langid, dedup, pii",
        description="Measure a stage against ground truth: print a table, and write the figures to --output.",
    )
    eval_sub = eval_p.add_subparsers(
        dest="eval_command", metavar="WHAT", required=True, help="the stage measured (`curate eval WHAT --help`)"
    )

    p = eval_sub.add_parser(
        "extraction",
        help="token precision/recall/F1 of the extract stage on pages with ground-truth article bodies",
        description="Extract every WARC response whose URL the ground truth has (article-extraction-benchmark "
        "JSON: URL → {articleBody}) with the extract stage, and score its text against the article body: token "
        "precision, recall and F1 per page and their means, and the worst pages.",
    )
    p.add_argument("--warc", required=True, metavar="W", help="WARC file with the pages")
    p.add_argument("--groundtruth", required=True, metavar="G", help="ground-truth JSON: URL → {articleBody}")
    p.add_argument(
        "--engine", choices=["trafilatura", "resiliparse"], default="trafilatura", help="the extract stage's engine"
    )
    p.add_argument(
        "--favor",
        choices=["precision", "recall", "balanced"],
        default="precision",
        help="trafilatura's favor_precision (the stage's default) or favor_recall",
    )
    p.add_argument("--include-comments", action="store_true", help="keep comment sections (both engines)")
    p.add_argument("--limit", type=at_least(1), metavar="N", help="only the first N ground-truth pages")
    p.add_argument("--worst", type=at_least(0), default=10, metavar="K", help="pages listed (default 10)")
    _output(p)
    p.set_defaults(func=_extraction)

    p = eval_sub.add_parser(
        "langid",
        help="accuracy, confusions and coverage vs accuracy over min_score of the language stage",
        description="Predict the language of labelled sentences (tab-separated LABEL, TEXT; or a header with a "
        "`text` column, the label the column before it) with the language stage's model, lid.176: accuracy, top "
        "confusions, and for each min_score the share kept and the accuracy of what is kept.",
    )
    p.add_argument("--labelled", required=True, metavar="FILE", help="e.g. tatoeba_long.txt")
    p.add_argument("--min-score", type=share, default=0.65, metavar="S", help="the stage's threshold (default 0.65)")
    p.add_argument("--max-chars", type=at_least(1), metavar="N", help="predict on the first N characters only")
    p.add_argument("--limit", type=at_least(1), metavar="N", help="only the first N sentences")
    _output(p)
    p.set_defaults(func=_langid)

    p = eval_sub.add_parser(
        "dedup",
        help="near-duplicate detection rate per true Jaccard bin next to the LSH S-curve",
        description="Make near-duplicate pairs from a run's documents by controlled word edits, and measure how "
        "many the MinHash LSH of the dedup stage (bands × rows of RUN_DIR/run.json, else 14 × 8) makes candidates, "
        "per bin of true word-5-gram Jaccard similarity, next to the S-curve 1 − (1 − s^rows)^bands.",
    )
    p.add_argument("--docs", required=True, metavar="RUN_DIR", help="a `curate run` or `curate ingest` output")
    p.add_argument("--bands", type=at_least(1), metavar="B", help="override the run's bands")
    p.add_argument("--rows", type=at_least(1), metavar="R", help="override the run's rows")
    p.add_argument("--n-grams", type=at_least(1), metavar="N", help="override the run's shingle size")
    p.add_argument("--pairs", type=at_least(1), default=400, metavar="N", help="edited pairs (default 400)")
    p.add_argument(
        "--max-words", type=at_least(50), default=300, metavar="N", help="words of each document used (default 300)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the edits (default 0)")
    _output(p, "and FILE.png beside it")
    p.set_defaults(func=_dedup)

    p = eval_sub.add_parser(
        "pii",
        help="precision/recall per type of the pii stage on gold PII spans",
        description="Find PII with the pii stage's detector in texts with gold spans (presidio-research JSON, "
        "JSONL, NeMo-Curator inline-tagged .txt, or a folder of them) and score it per type: a detection counts "
        "when it overlaps a gold span of its type.",
    )
    p.add_argument("--spans", required=True, metavar="FILE", help="span file or folder")
    p.add_argument("--types", nargs="+", metavar="TYPE", help="detect only these (email ip phone card iban)")
    p.add_argument("--keep-private-ips", action="store_true", help="the stage's option: leave private IPs")
    p.add_argument("--show", type=at_least(0), default=5, metavar="K", help="misses and false detections listed")
    _output(p)
    p.set_defaults(func=_pii)


def _output(p: argparse.ArgumentParser, extra: str = "") -> None:
    p.add_argument("--output", "-o", metavar="FILE.json", help=f"write the figures as JSON {extra}".strip())


def _usage_error(message: str) -> Exception:
    from curate.cli import UsageError  # imported here: curate.cli imports this module

    return UsageError(message)


def _check_output(args: argparse.Namespace) -> None:
    if args.output:
        problem = output_problem(args.output, folder=False)
        if problem:
            raise _usage_error(f"--output {args.output}: {problem}")


def _finish(args: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> int:
    from curate.runfolder import atomic_write_text

    print("\n".join(lines))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.output, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"results: {args.output}")
    return 0


def _extraction(args: argparse.Namespace) -> int:
    from curate.evals import extraction_eval

    _check_output(args)
    try:
        result = extraction_eval.evaluate(
            args.warc,
            args.groundtruth,
            engine=args.engine,
            favor=args.favor,
            include_comments=args.include_comments,
            limit=args.limit,
            worst=args.worst,
        )
    except ValueError as err:
        raise _usage_error(str(err)) from None
    return _finish(args, result, extraction_eval.format_table(result))


def _langid(args: argparse.Namespace) -> int:
    from curate.evals import langid_eval

    _check_output(args)
    try:
        result = langid_eval.evaluate(args.labelled, args.min_score, max_chars=args.max_chars, limit=args.limit)
    except ValueError as err:
        raise _usage_error(str(err)) from None
    return _finish(args, result, langid_eval.format_table(result))


def _dedup(args: argparse.Namespace) -> int:
    from curate.evals import dedup_eval

    _check_output(args)
    if args.output and Path(args.output).suffix == ".png":
        raise _usage_error(f"--output {args.output}: the JSON file (the chart is written beside it as .png)")
    try:
        result = dedup_eval.evaluate(
            args.docs,
            bands=args.bands,
            rows=args.rows,
            n_grams=args.n_grams,
            pairs=args.pairs,
            max_words=args.max_words,
            seed=args.seed,
        )
    except ValueError as err:
        raise _usage_error(str(err)) from None
    lines = dedup_eval.format_table(result)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        result["chart"] = str(dedup_eval.chart(result, Path(args.output).with_suffix(".png")))
        lines.append(f"chart: {result['chart']}")
    return _finish(args, result, lines)


def _pii(args: argparse.Namespace) -> int:
    from curate.evals import pii_eval
    from curate.stages.pii import ALL_TYPES

    _check_output(args)
    types = [t for part in args.types for t in part.split(",") if t] if args.types else None
    unknown = sorted(set(types or ()) - ALL_TYPES)
    if unknown:
        raise _usage_error(f"--types: unknown type(s) {', '.join(unknown)}; choose from {', '.join(pii_eval.TYPES)}")
    try:
        result = pii_eval.evaluate(args.spans, types, keep_private_ips=args.keep_private_ips, show=args.show)
    except ValueError as err:
        raise _usage_error(str(err)) from None
    return _finish(args, result, pii_eval.format_table(result))
