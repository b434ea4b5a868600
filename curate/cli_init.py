"""`curate init [DIR]`: copy the example pipelines into DIR/pipelines/ and say what to run next."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from curate.examples import FOLDER, copy_examples


def add_init_command(sub) -> None:
    """`init` on the `curate` subcommand parser."""
    p = sub.add_parser(
        "init",
        help="copy the example pipelines (fineweb.yaml, extract.yaml, mix, compare, train) into DIR/pipelines/",
        description="Copy the example pipeline YAML files shipped with curate into DIR/pipelines/ (DIR defaults to "
        "the current folder). Their relative paths (../runs/...) resolve against their own folder, so they work "
        "from DIR as they do from the repository. An existing file is never replaced without --force.",
    )
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="where to create pipelines/ (default: .)")
    p.add_argument("--force", action="store_true", help="replace example files that already exist")
    p.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    copied = copy_examples(args.dir, force=args.force)
    for path in copied.written:
        print(f"wrote {path}")
    for path in copied.replaced:
        print(f"replaced {path}")
    here = Path(args.dir)
    prefix = "" if here == Path(".") else f"cd {shlex.quote(str(here))} && "
    print(
        "next: "
        f"{prefix}curate run {FOLDER}/extract.yaml --input 'CRAWL/*.warc.gz' --output runs/extract\n"
        f"      ({FOLDER}/fineweb.yaml, the full recipe, also tokenizes: set CURATE_DATA or its `tokenizer:` path "
        "to a tokenizer.json first; `curate check` validates a file)"
    )
    return 0
