"""The `curate` command."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

from curate import logs
from curate.cli_eval import add_eval_commands
from curate.cli_evidence import add_evidence_commands, at_least, output_problem
from curate.cli_run import add_run_command

EXIT_USAGE = 2

# paths the user names: a missing, misplaced or unreadable one is a usage error, not a crash
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError, PermissionError)

DESCRIPTION = """\
curate: raw web crawls → clean, accounted-for pretraining documents.

Every input record ends up in OUTPUT/documents/ (kept) or OUTPUT/rejected/ (with the stage and the reason),
and OUTPUT/stats.json proves input_records = kept + rejected."""


class UsageError(Exception):
    """An option value the command cannot use; reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block), e.g.
    `curate run: error: --limit must be at least 1, got 0; see `curate run --help``."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument (\S+): (?=must )", r"\1 ", message)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _report(args: argparse.Namespace) -> int:
    from curate.report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / "stats.json").exists() and (run_dir / "metrics.jsonl").exists():  # a trainer's out_dir
        from curate.train_chart import chart_run

        print(chart_run(run_dir) or f"curate report: {run_dir}: nothing to chart in metrics.jsonl")
        return 0
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


def _tokenizer_train(args: argparse.Namespace) -> int:
    from curate.tokenize import train_tokenizer

    problem = output_problem(args.output, folder=False)
    if problem:
        raise UsageError(f"--output {args.output}: {problem}")
    path = train_tokenizer(args.run_dirs, args.vocab_size, args.output, min_frequency=args.min_frequency)
    print(f"tokenizer: {path}")
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    from curate.limits import check_tokenizer
    from curate.tokenize import tokenize_runs

    check_tokenizer(args.tokenizer, "--tokenizer")
    manifest = tokenize_runs(
        args.run_dirs,
        args.tokenizer,
        args.output,
        args.max_tokens_per_shard,
        overwrite=args.overwrite,
        progress=sys.stderr.isatty() and not logs.quiet(),
    )
    totals = manifest["totals"]
    print(
        f"{totals['rows']:,} documents → {totals['tokens']:,} tokens in {len(manifest['shards'])} shard(s):"
        f" {args.output}"
    )
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from curate.ingest import ingest

    stats = ingest(
        args.sources,
        args.output,
        domain=args.domain,
        split=args.split,
        min_chars=args.min_chars,
        overwrite=args.overwrite,
        progress=sys.stderr.isatty() and not logs.quiet(),
    )
    print(
        f"{stats['input_records']:,} records → {stats['kept']:,} documents + {stats['rejected']:,} rejected"
        f" ({', '.join(f'{d} {n:,}' for d, n in sorted(stats['domains'].items()))}): {args.output}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from curate.export import export

    def warn(problem: str) -> None:
        print(f"curate export: warning: {problem}", file=sys.stderr)

    try:
        paths = export(args.tokens_dir, args.format, args.output, args.prefix, args.max_tokens_per_file, warn=warn)
    except ValueError as err:
        print(f"curate export: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(str(p) for p in paths))
    return 0


def _mix(args: argparse.Namespace) -> int:
    from curate.mix import run_mix

    report = run_mix(args.spec, args.output, overwrite=args.overwrite)
    print(f"{'source':<12} {'requested':>9} {'achieved':>9} {'tokens':>12} {'epochs':>7}  capped")
    for name, s in report["sources"].items():
        print(
            f"{name:<12} {s['requested_share']:>9.3f} {s['achieved_share']:>9.3f} {s['achieved_tokens']:>12,}"
            f" {s['epochs']:>7.2f}  {'yes' if s['capped'] else ''}"
        )
    totals = report["totals"]
    print(
        f"train: {totals['train_tokens']:,} tokens of a {totals['token_budget']:,} budget; val: "
        f"{totals['val_tokens']:,} tokens ({totals['val_rows']:,} documents)"
    )
    print(f"mix: {args.output}/train, {args.output}/val, {args.output}/mix_report.json")
    return 0


def _train(args: argparse.Namespace) -> int:
    import yaml

    import curate_train  # the trainer imports only torch, numpy, pyarrow and PyYAML
    from curate.extras import require
    from curate.spec import load_yaml

    require("torch", "curate train")

    load_yaml(args.config, "train config")  # a missing file or bad YAML: one line here, not the trainer's
    for item in args.set:
        key, sep, value = item.partition("=")
        try:
            yaml.safe_load(value)
        except yaml.YAMLError:
            sep = ""
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE with VALUE in YAML")
    code = curate_train.main([args.config, *[f"--set={s}" for s in args.set]])
    if code == 0:  # the trainer has no matplotlib: curate draws OUT_DIR/loss.png from its metrics.jsonl
        from curate.train_chart import chart_after_training

        chart_after_training(args.config, args.set)
    return code


def build_parser() -> argparse.ArgumentParser:
    from curate import __version__

    parser = Parser(prog="curate", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"curate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="`curate COMMAND --help` for its options")

    add_run_command(sub, _stage_catalogue())

    report_p = sub.add_parser(
        "report",
        help="(re)write RUN_DIR/report.html, or a trainer out_dir's loss.png",
        description="Write report.html and its PNG charts for a `curate run` output; for a trainer's out_dir "
        "(metrics.jsonl, no stats.json) draw its loss.png.",
    )
    report_p.add_argument("run_dir", metavar="RUN_DIR", help="a `curate run` output or a trainer's out_dir")
    report_p.set_defaults(func=_report)

    tok_p = sub.add_parser(
        "tokenizer",
        help="train a byte-level BPE tokenizer on run folders",
        description="Tokenizers for `curate tokenize`.",
    )
    tok_sub = tok_p.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True, help="train")
    train_p = tok_sub.add_parser(
        "train",
        help="byte-level BPE with <|endoftext|>",
        description="Train a byte-level BPE tokenizer.json "
        "(tokenizers library, <|endoftext|> special token) on the documents of run folders.",
    )
    train_p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="`curate run` / `curate ingest` outputs")
    train_p.add_argument(
        "--vocab-size", type=at_least(300), required=True, metavar="N", help="at least 300 (256 bytes + merges + EOS)"
    )
    train_p.add_argument(
        "--min-frequency",
        type=at_least(0),
        default=2,
        metavar="N",
        help="merge only pairs seen at least N times (default 2)",
    )
    train_p.add_argument("-o", "--output", required=True, metavar="tokenizer.json", help="the tokenizer file written")
    train_p.set_defaults(func=_tokenizer_train)

    tokenize_p = sub.add_parser(
        "tokenize",
        help="documents of run folders → Parquet token shards",
        description="Tokenize every document of run folders into TOKENS_DIR/shard-*.parquet + .manifest.json "
        "(input_ids with EOS, num_tokens, num_bytes, doc_id, domain).",
    )
    tokenize_p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="`curate run` / `curate ingest` outputs")
    tokenize_p.add_argument(
        "--tokenizer", required=True, metavar="tokenizer.json", help="a tokenizers file with an EOS token"
    )
    tokenize_p.add_argument("-o", "--output", required=True, metavar="TOKENS_DIR", help="the token folder written")
    tokenize_p.add_argument(
        "--max-tokens-per-shard",
        type=at_least(1),
        default=50_000_000,
        metavar="N",
        help="tokens per Parquet shard (default 50,000,000)",
    )
    tokenize_p.add_argument("--overwrite", action="store_true", help="replace a previous TOKENS_DIR")
    tokenize_p.set_defaults(func=_tokenize, outputs=("output",))

    ingest_p = sub.add_parser(
        "ingest",
        help="text corpora (txt folder/zip, JSONL, the Python stdlib) → a documents run folder",
        description="Turn text sources into OUTPUT/documents/*.parquet with a domain, like a `curate run` output. "
        "SOURCE: a folder or .zip of .txt files, a .txt file, a .jsonl[.gz] with a `text` field, or `stdlib` "
        "(the running Python's standard library, as code).",
    )
    ingest_p.add_argument("sources", nargs="+", metavar="SOURCE", help="text sources (see above)")
    ingest_p.add_argument("-o", "--output", required=True, metavar="DIR", help="run folder (documents/, ...)")
    ingest_p.add_argument(
        "--domain",
        help="domain of every document (default: code for stdlib, prose for text, the row's own or web for JSONL)",
    )
    ingest_p.add_argument(
        "--split",
        choices=["file", "paragraph"],
        default="file",
        help="one document per file (default) or per blank-line-separated paragraph",
    )
    ingest_p.add_argument(
        "--min-chars", type=at_least(0), default=1, metavar="N", help="shorter documents are rejected (default 1)"
    )
    ingest_p.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    ingest_p.set_defaults(func=_ingest, outputs=("output",))

    export_p = sub.add_parser(
        "export",
        help="token shards → Megatron-LM indexed dataset, llm.c .bin shards or datatrove .ds files",
        description="Export a token directory for another trainer: megatron (.bin + .idx, MMIDIDX, one document "
        "per sequence), llmc (llm.c .bin shards: 256-int32 header, uint16 tokens, EOS before each document; "
        "modded-nanogpt reads them only with GPT-2's tokenizer, <|endoftext|> = 50256, and the export warns "
        "otherwise) or datatrove (.ds + .ds.index + .ds.metadata, read by datatrove's DatatroveFolderDataset "
        "and nanotron).",
    )
    export_p.add_argument("tokens_dir", metavar="TOKENS_DIR", help="a `curate tokenize` or `curate mix` output")
    export_p.add_argument(
        "--format", required=True, choices=["megatron", "llmc", "datatrove"], help="the trainer's format (see above)"
    )
    export_p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder of the exported files")
    export_p.add_argument("--prefix", default="data", help="file name prefix (default: data)")
    export_p.add_argument(
        "--max-tokens-per-file",
        type=at_least(1),
        metavar="N",
        help="llmc and datatrove: numbered files of at most N tokens, whole documents each (a longer document "
        "gets a file of its own); default 100,000,000 (llm.c's shard size). megatron writes one .bin/.idx pair",
    )
    export_p.set_defaults(func=_export, outputs=("output",))

    mix_p = sub.add_parser(
        "mix",
        help="weighted mix of token directories → train/ + val/ shards and mix_report.json",
        description="Mix token directories by weight within a token budget (per-source epoch caps, a seed, a "
        "held-out fraction by document). See pipelines/mix-example.yaml.",
    )
    mix_p.add_argument("spec", metavar="MIX.yaml", help="sources, weights, budget, e.g. pipelines/mix-example.yaml")
    mix_p.add_argument("-o", "--output", required=True, metavar="MIX_DIR", help="where train/ and val/ go")
    mix_p.add_argument("--overwrite", action="store_true", help="replace a previous mix in --output")
    mix_p.set_defaults(func=_mix, outputs=("output",))

    train_p = sub.add_parser(
        "train",
        help="train a proxy language model on token shards (= python -m curate_train)",
        description="Train a small decoder-only LM on token shards and evaluate loss and bits per byte per domain. "
        "Same as `python -m curate_train CONFIG.yaml`; for several GPUs: "
        "`torchrun --nproc_per_node N -m curate_train CONFIG.yaml`.",
    )
    train_p.add_argument("config", metavar="CONFIG.yaml", help="e.g. pipelines/train-tiny.yaml")
    train_p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a top-level key, e.g. --set max_steps=100",
    )
    train_p.set_defaults(func=_train)

    add_evidence_commands(sub)
    add_eval_commands(sub)
    from curate.cli_init import add_init_command

    add_init_command(sub)

    check_p = sub.add_parser(
        "check",
        help="validate a pipeline YAML without running it",
        description="Validate a pipeline YAML (every key and value) and print its stages, without running it.",
    )
    check_p.add_argument("pipeline", help="pipeline YAML, e.g. pipelines/fineweb.yaml")
    check_p.set_defaults(func=_check)
    logs.add_options(parser)  # -q, -v, --log-level on every command, before or after its name
    return parser


def _stage_catalogue() -> str:
    from curate.config import describe_stages

    return "pipeline YAML: `reader:` then `stages:`, each `name: {param: value}`.\n" + describe_stages()


def main(argv: list[str] | None = None) -> int:
    """The exit status of `curate ARGV`. A reader that stops early (`curate ... | head`) ends it quietly, as
    Python's documentation recommends: stdout goes to devnull so the interpreter's last flush cannot fail."""
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(logs.level_from(args.quiet, args.verbose, args.log_level))
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from curate.config import ConfigError
    from curate.extras import MissingExtra
    from curate.runfolder import RunError
    from curate.stats import ConservationError

    try:
        for name in getattr(args, "outputs", ()):
            problem = output_problem(getattr(args, name))
            if problem:
                raise UsageError(f"--{name} {getattr(args, name)}: {problem}")
        return args.func(args)
    except (ConfigError, RunError, UsageError, MissingExtra, *PATH_ERRORS) as err:
        print(f"curate: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except ConservationError as err:
        print(f"curate: RECORDS LOST: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("curate: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _one_line(err: Exception) -> str:
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror}"
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
