"""`python -m curate_train CONFIG.yaml [--set key=value ...]`; exit 0 done, 2 bad config or data, 1 other errors."""

from __future__ import annotations

import argparse
import json
import sys

import yaml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m curate_train", description="Train a proxy model on curate token shards."
    )
    parser.add_argument("config", help="the run's YAML file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a top-level key (VALUE is YAML), e.g. --set max_steps=100",
    )
    args = parser.parse_args(argv)
    from .config import ConfigError
    from .data import DataError
    from .loop import run

    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"curate_train: --set {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        overrides[key.strip()] = yaml.safe_load(value)
    try:
        summary = run(args.config, overrides)
    except (ConfigError, DataError) as exc:
        print(f"curate_train: {exc}", file=sys.stderr)
        return 2
    brief = {k: summary[k] for k in ("finished", "step", "tokens", "final_train_loss", "elapsed_s")}
    brief["eval"] = {name: {"loss": r["loss"], "bpb": r["bpb"]} for name, r in summary["eval"].items()}
    print(json.dumps(brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
