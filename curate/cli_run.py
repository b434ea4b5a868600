"""`curate run`: its options (inputs or a Common Crawl dump, tasks and workers, the executor) and its summary lines.
The other commands are in cli.py and cli_evidence.py."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from curate.cli_evidence import at_least

RUN_DESCRIPTION = """\
Run a pipeline (reader + stages from a YAML file) on crawl files: local paths, globs, fsspec URLs, or a Common Crawl
dump by name (--crawl). The work is cut into tasks (default: one per input file, small files grouped) that --workers
processes run; --executor runs the same tasks on a Ray cluster or as Slurm job arrays.

examples:
  curate run pipelines/fineweb.yaml -i 'crawl/*.warc.gz' -o runs/x --workers 8
  curate run pipelines/fineweb.yaml --crawl CC-MAIN-2024-22 --files 100 -o runs/cc --workers 16
  curate run pipelines/fineweb.yaml --crawl CC-MAIN-2024-22 -o /shared/runs/cc \\
      --executor slurm --partition cpu --workers 500 --mem-per-cpu-gb 2 --time 4:00:00
  curate run pipelines/fineweb.yaml --crawl CC-MAIN-2024-22 --sample 1000 --seed 1 -o /shared/runs/cc \\
      --executor ray --ray-address auto"""


def add_run_command(sub, epilog: str) -> None:
    run_p = sub.add_parser(
        "run",
        help="run a pipeline YAML on crawl files",
        description=RUN_DESCRIPTION,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run_p.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/fineweb.yaml")
    source = run_p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        "-i",
        nargs="+",
        metavar="PATH_OR_GLOB",
        help="crawl files: paths, folders, globs or fsspec URLs (s3://..., https://...); quote globs",
    )
    source.add_argument(
        "--crawl", metavar="CC-MAIN-YYYY-WW", help="a Common Crawl dump: its WARC files, streamed (see --crawl-base)"
    )
    crawl = run_p.add_argument_group("--crawl")
    picks = crawl.add_mutually_exclusive_group()
    picks.add_argument("--files", type=at_least(1), metavar="N", help="the dump's first N WARC files")
    picks.add_argument("--sample", type=at_least(1), metavar="N", help="N WARC files drawn at random (see --seed)")
    crawl.add_argument("--seed", type=int, default=0, help="the --sample draw (default 0)")
    crawl.add_argument(
        "--crawl-base",
        default="https://data.commoncrawl.org/",
        metavar="URL",
        help="where the dump lives (default: Common Crawl's HTTPS endpoint; s3://commoncrawl/ with AWS credentials)",
    )
    run_p.add_argument("--output", "-o", required=True, metavar="DIR", help="run folder (documents/, rejected/, ...)")
    run_p.add_argument("--workers", "-w", type=at_least(1), default=1, help="tasks running at once (default 1)")
    run_p.add_argument(
        "--tasks",
        type=at_least(1),
        metavar="N",
        help="cut the input into N tasks, balanced by size (default: one per file, small files grouped)",
    )
    run_p.add_argument(
        "--limit",
        type=at_least(1),
        metavar="N",
        help="read at most N input records in all, shared between the tasks, for quick trials (default: all)",
    )
    run_p.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    run_p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any input bytes are rejected as ranges (bad lengths, corrupt gzip, not WARC)",
    )
    run_p.add_argument("--no-progress", action="store_true", help="no progress display (bar or status lines)")
    run_p.add_argument(
        "--progress-every",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="when stderr is not a terminal: a status line every SECONDS (default 30) and one at the end",
    )
    where = run_p.add_argument_group("executor (overrides the pipeline's `executor:`)")
    where.add_argument("--executor", choices=("local", "ray", "slurm"), help="where the tasks run (default local)")
    where.add_argument("--partition", help="slurm: the partition")
    where.add_argument(
        "--cpus-per-task",
        dest="cpus_per_task",
        type=at_least(1),
        metavar="N",
        help="ray, slurm: CPUs per task (default 1)",
    )
    where.add_argument(
        "--mem-per-cpu-gb",
        dest="mem_per_cpu_gb",
        type=float,
        metavar="GB",
        help="ray, slurm: memory per CPU (default 2)",
    )
    where.add_argument("--time", metavar="[D-]HH:MM:SS", help="ray, slurm: a task's time limit (default 12:00:00)")
    where.add_argument(
        "--ray-address", dest="ray_address", metavar="ADDR", help="ray: the cluster (default: a new one here)"
    )
    where.add_argument("--qos", help="slurm: quality of service")
    where.add_argument(
        "--no-wait", dest="wait", action="store_false", default=None, help="slurm: submit the jobs and return"
    )
    run_p.set_defaults(func=run_command, outputs=("output",))


def positive_seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _inputs(args: argparse.Namespace) -> list[str]:
    if args.crawl is None:
        if args.files is not None or args.sample is not None:
            raise argparse.ArgumentTypeError("--files and --sample choose files of a --crawl")
        return args.input
    from curate.crawl import crawl_paths

    return crawl_paths(args.crawl, args.crawl_base, files=args.files, sample=args.sample, seed=args.seed)


def run_command(args: argparse.Namespace) -> int:
    from curate import config, logs
    from curate.cli import UsageError
    from curate.executors import overrides_from, parse_executor
    from curate.extras import require, require_for_urls
    from curate.pipeline import RunOptions, run

    spec = config.load(args.pipeline)
    executor = parse_executor(spec.executor, "executor", overrides_from(args))
    if executor.kind == "ray":
        require("ray", "--executor ray")
    require_for_urls([args.crawl_base] if args.crawl else args.input, "s3:// input")
    try:
        inputs = _inputs(args)
    except argparse.ArgumentTypeError as err:
        raise UsageError(str(err)) from None
    options = RunOptions(
        inputs=inputs,
        output=Path(args.output),
        workers=args.workers,
        tasks=args.tasks,
        limit=-1 if args.limit is None else args.limit,
        overwrite=args.overwrite,
        progress=not args.no_progress and not logs.quiet(),
        executor=executor,
        progress_every=args.progress_every,
    )
    out = Path(args.output)
    started = time.time()
    try:
        stats = run(spec, options)
    finally:
        if not logs.quiet():
            for line in logs.warning_summary(out / "logs", since=started):
                print(line, file=sys.stderr)
    if stats is None:
        print(f"submitted: {out}/stats.json and report.html appear when the last job ends (squeue -u $USER)")
        return 0
    print(
        f"{stats['input_records']} records → {stats['kept']} kept + {stats['rejected']} rejected"
        f" in {stats['seconds']:.1f} s ({stats['input_records'] / max(stats['seconds'], 1e-9):.0f} records/s,"
        f" {stats['tasks']} tasks on {stats['workers']} workers, {executor.kind})"
    )
    if not logs.quiet():
        print(f"documents: {out / 'documents'}\nrejected:  {out / 'rejected'}\nreport:    {out / 'report.html'}")
    section = stats.get("bytes")
    if section and section["skipped"] and (args.strict or not logs.quiet()):
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in section["skipped_by_reason"].items())
        print(
            f"curate: {section['skipped']:,} of {section['input']:,} input bytes were skipped ({reasons});"
            f" each skipped range is a row of {out / 'rejected'}",
            file=sys.stderr,
        )
        if args.strict:
            print("curate: --strict: rejected input byte ranges fail the run", file=sys.stderr)
            return 1
    return 0
