"""The `curate` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2

DESCRIPTION = """\
curate: raw web crawls → clean, accounted-for pretraining documents.

Every input record ends up in OUTPUT/documents/ (kept) or OUTPUT/rejected/ (with the stage and the reason),
and OUTPUT/stats.json proves input_records = kept + rejected."""


def _run(args: argparse.Namespace) -> int:
    from curate import config
    from curate.pipeline import RunOptions, run

    spec = config.load(args.pipeline)
    stats = run(
        spec,
        RunOptions(
            inputs=args.input,
            output=Path(args.output),
            workers=args.workers,
            limit=args.limit,
            overwrite=args.overwrite,
            progress=not args.no_progress and sys.stderr.isatty(),
        ),
    )
    out = Path(args.output)
    print(
        f"{stats['input_records']} records → {stats['kept']} kept + {stats['rejected']} rejected"
        f" in {stats['seconds']:.1f} s ({stats['input_records'] / max(stats['seconds'], 1e-9):.0f} records/s)"
    )
    print(f"documents: {out / 'documents'}\nrejected:  {out / 'rejected'}\nreport:    {out / 'report.html'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from curate.report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "stats.json").exists():
        print(f"curate report: {run_dir}: no stats.json (not a finished `curate run` output)", file=sys.stderr)
        return EXIT_USAGE
    print(write_report(run_dir))
    return 0


def _check(args: argparse.Namespace) -> int:
    from curate import config

    spec = config.load(args.pipeline)
    print(f"{args.pipeline}: ok ({spec.name}: read → {' → '.join(s.name for s in spec.stages) or 'nothing'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from curate import __version__

    parser = argparse.ArgumentParser(
        prog="curate", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"curate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run_p = sub.add_parser(
        "run",
        help="run a pipeline YAML on crawl files",
        description="Run a pipeline (reader + stages from a YAML file) on WARC/ARC files, locally on N workers.",
        epilog=_stage_catalogue(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_p.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/fineweb.yaml")
    run_p.add_argument(
        "--input", "-i", nargs="+", required=True, metavar="PATH_OR_GLOB",
        help="crawl files: paths, folders, globs or fsspec URLs (s3://..., https://...); quote globs",
    )
    run_p.add_argument("--output", "-o", required=True, metavar="DIR", help="run folder (documents/, rejected/, ...)")
    run_p.add_argument("--workers", "-w", type=int, default=1, help="parallel worker processes (default 1)")
    run_p.add_argument(
        "--limit", type=int, default=-1, metavar="N",
        help="read about N input records in total (split across tasks), for quick trials",
    )
    run_p.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    run_p.add_argument("--no-progress", action="store_true", help="no progress bar")
    run_p.set_defaults(func=_run)

    report_p = sub.add_parser(
        "report", help="(re)write RUN_DIR/report.html", description="Write report.html and its PNG charts for a run."
    )
    report_p.add_argument("run_dir", metavar="RUN_DIR")
    report_p.set_defaults(func=_report)

    check_p = sub.add_parser("check", help="validate a pipeline YAML without running it")
    check_p.add_argument("pipeline")
    check_p.set_defaults(func=_check)
    return parser


def _stage_catalogue() -> str:
    from curate.config import describe_stages

    return "pipeline YAML: `reader:` then `stages:`, each `name: {param: value}`.\n" + describe_stages()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from curate.config import ConfigError
    from curate.pipeline import RunError
    from curate.stats import ConservationError

    try:
        return args.func(args)
    except (ConfigError, RunError) as err:
        print(f"curate: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ConservationError as err:
        print(f"curate: RECORDS LOST: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("curate: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
