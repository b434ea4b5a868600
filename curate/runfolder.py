"""The output-folder contract every command shares: prepare, refuse, resume, overwrite, and where inputs come from.

Each command declares what it writes in its folder (`Contract.outputs`); the one rule set below decides what happens
to a folder that already holds something, so `run`, `ingest`, `tokenize`, `mix` and `compare` cannot drift apart:

- a path that is a file, not a folder, is refused;
- a folder holding names the command does not write is refused when the contract says `foreign="refuse"` (nothing is
  deleted), and those names are left alone otherwise;
- `--overwrite` removes only the command's own outputs, never anything else a user put there;
- without `--overwrite`, a resumable command (`curate run`) continues an interrupted run of the same request
  (`run.json` equal, no `stats.json` yet) and refuses a finished one; a reusing command (`curate compare`) carries on
  in the folder; any other non-empty folder is refused.

This module imports nothing heavy (no datatrove, no pyarrow), so a command can raise `RunError` cheaply.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class RunError(RuntimeError):
    """A command that cannot start (bad inputs, an output folder it must not touch); exit code 2."""


@dataclass(frozen=True)
class Contract:
    """What a command writes in its output folder, and how it treats what is already there."""

    command: str  # as the user types it: "a mix does not write ..."
    outputs: tuple[str, ...]  # names (fnmatch patterns) the command writes; --overwrite removes only these
    foreign: Literal["keep", "refuse"] = "keep"  # names the command does not write
    resumable: bool = False  # an interrupted run of the same request continues (run.json equal, no stats.json)
    reuse: bool = False  # an earlier output is carried on (finished parts reused), not refused
    option: str = "--output"  # how the folder was given, for messages

    def owns(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.outputs)


REQUEST = "run.json"  # what was asked: written by every resumable command
FINISHED = "stats.json"  # written last by `curate run` and `curate ingest`: the run is complete

# What a run folder holds (`curate run` and `curate ingest` write the same contract).
RUN_OUTPUTS = (
    "documents",
    "rejected",
    "logs",
    "staged",
    "dedup",
    "tokens",
    FINISHED,
    "report.html",
    "report",
    REQUEST,
)
RUN = Contract("run", RUN_OUTPUTS, resumable=True)
INGEST = Contract("ingest", RUN_OUTPUTS)


def remove_outputs(folder: Path, contract: Contract) -> None:
    """Delete the contract's files and folders in `folder`, leaving anything else a user put there."""
    for target in sorted(Path(folder).iterdir()):
        if not contract.owns(target.name):
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()


def prepare(folder: str | Path, contract: Contract, overwrite: bool = False, request: dict | None = None) -> bool:
    """Make `folder` ready for the command (see the module's rules); True when resuming an interrupted run.

    `request` (what was asked) is written to run.json, so an interrupted run can tell it is asked the same again.
    """
    folder = Path(folder)
    where = f"{contract.option} {folder}"
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{where}: is a file, not a folder")
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    resuming = False
    if names:
        foreign = [n for n in names if not contract.owns(n)]
        if foreign and contract.foreign == "refuse":
            raise RunError(
                f"{where}: is not empty: it holds files {_article(contract.command)} does not write"
                f" ({', '.join(foreign)}); choose another folder"
            )
        if overwrite:
            remove_outputs(folder, contract)
        elif contract.resumable and (folder / FINISHED).exists():
            raise RunError(f"{where}: holds a finished run; pass --overwrite or choose another folder")
        elif contract.resumable and request is not None and _same_request(folder / REQUEST, request):
            resuming = True
        elif not contract.reuse:
            raise RunError(f"{where}: is not empty; pass --overwrite or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    if request is not None and not resuming:
        (folder / REQUEST).write_text(json.dumps(request, indent=2))
    return resuming


def _same_request(path: Path, request: dict) -> bool:
    try:
        return json.loads(path.read_text()) == request
    except (OSError, ValueError):
        return False


def _article(command: str) -> str:
    return f"an {command}" if command[:1] in "aeiou" else f"a {command}"


_SKIP_NAMES = ("README", "LICENSE", ".")


def expand_inputs(patterns: Iterable[str], option: str = "--input") -> list[str]:
    """Paths, folders and globs (local or fsspec URLs) → files, in the order given; each pattern must match."""
    files: list[str] = []
    for pattern in patterns:
        if "://" in pattern and not pattern.startswith("file://"):
            import fsspec

            fs, _, matches = fsspec.get_fs_token_paths(pattern)
            found = [fs.unstrip_protocol(m) for m in sorted(matches)]
        elif os.path.isdir(pattern):
            found = sorted(
                str(p) for p in Path(pattern).iterdir() if p.is_file() and not p.name.startswith(_SKIP_NAMES)
            )
        else:
            found = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not found:
            raise RunError(f"{option} {pattern}: matches no file")
        files.extend(found)
    return files
