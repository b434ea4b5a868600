"""The output-folder contract every command shares: prepare, refuse, resume, overwrite, and where inputs come from.

Each command declares what it writes in its folder (`Contract.outputs`); the one rule set below decides what happens
to a folder that already holds something, so `run`, `ingest`, `tokenize`, `mix` and `compare` cannot drift apart:

- a path that is a file, not a folder, is refused;
- a folder holding names the command does not write is refused when the contract says `foreign="refuse"` (nothing is
  deleted), and those names are left alone otherwise;
- `--overwrite` needs the command's marker (`run.json` for run and ingest, `.curate-<command>` for the others, written
  before any output), so it never empties a folder curate did not make; it removes only the files the command writes
  (`documents/00000.parquet`, not `documents/thesis.txt`) and refuses, deleting nothing, when a folder it writes into
  holds any other file;
- without `--overwrite`, a resumable command (`curate run`) continues an interrupted run of the same request
  (`run.json` equal, no `stats.json` yet), names the option that differs otherwise, and refuses a finished one; a
  reusing command (`curate compare`) carries on in the folder; any other non-empty folder is refused.

Outputs are written under a temporary name (`.NAME.tmp`: hidden, so neither curate's readers nor `pyarrow.dataset`
take it as data) and renamed once complete: a killed command never leaves a truncated file under a final name.

This module imports nothing heavy (no datatrove, no pyarrow), so a command can raise `RunError` cheaply.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


class RunError(RuntimeError):
    """A command that cannot start (bad inputs, an output folder it must not touch); exit code 2."""


TMP_SUFFIX = ".tmp"


def temporary(path: str | Path) -> Path:
    """Where `path` is written until it is complete: `.NAME.tmp` beside it; the same name on every attempt, so a
    rerun task overwrites its own leftover."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX) and len(name) > 1 + len(TMP_SUFFIX)


def _final_name(name: str) -> str:
    return name[1 : -len(TMP_SUFFIX)] if is_temporary(name) else name


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `path` whole or not at all (a temporary file, then a rename): a kill never leaves half a file.

    Safe against a killed process, not a power cut (no fsync: that would cost a disk flush per file).
    """
    path = Path(path)
    tmp = temporary(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Contract:
    """What a command writes in its output folder, and how it treats what is already there.

    `outputs` are path patterns relative to the folder: `name` owns a file or a whole folder, `folder/pattern` only
    the files of that folder matching it (a segment `**` matches any number of folders). `markers` are the files that
    say the folder holds this command's output; the first is written before anything else.
    """

    command: str  # as the user types it: "a mix does not write ..."
    outputs: tuple[str, ...]  # path patterns (above) of what the command writes; --overwrite removes only these
    foreign: Literal["keep", "refuse"] = "keep"  # names the command does not write
    resumable: bool = False  # an interrupted run of the same request continues (run.json equal, no stats.json)
    reuse: bool = False  # an earlier output is carried on (finished parts reused), not refused
    option: str = "--output"  # how the folder was given, for messages
    markers: tuple[str, ...] = ()  # default: (".curate-<command>",)

    @property
    def marks(self) -> tuple[str, ...]:
        return self.markers or (f".curate-{self.command}",)

    def owns(self, name: str) -> bool:
        """Whether the top-level `name` is (or holds) something the command writes."""
        name = _final_name(name)
        return name in self.marks or any(_match(name, pattern.split("/")[0]) for pattern in self.outputs)

    def owns_path(self, relative: str) -> bool:
        """Whether the file at `relative` (a/b/c, below the folder) is one the command writes, or its temporary."""
        parts = relative.split("/")
        parts[-1] = _final_name(parts[-1])
        if len(parts) == 1 and parts[0] in self.marks:
            return True
        return any(_match_parts(parts, pattern.split("/"), whole=True) for pattern in self.outputs)


def _match(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def _match_parts(parts: list[str], pattern: list[str], whole: bool) -> bool:
    """`parts` matches `pattern` segment by segment; with `whole`, a pattern that is a prefix owns what is below it
    only when it has no folder part (`logs` owns logs/*; `documents/*.parquet` does not own documents/x/y)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match_parts(parts[i:], pattern[1:], False) for i in range(len(parts) + 1))
    if not parts or not _match(parts[0], pattern[0]):
        return False
    if whole and len(pattern) == 1:  # a bare top-level name owns everything below it
        return True
    return _match_parts(parts[1:], pattern[1:], False)


REQUEST = "run.json"  # what was asked: written by every resumable command
FINISHED = "stats.json"  # written last by `curate run` and `curate ingest`: the run is complete

_NUMBERED = "[0-9][0-9][0-9][0-9][0-9]*.parquet"  # a task's or a size-split file's number, 00000 on
# What a run folder holds (`curate run` and `curate ingest` write the same contract): the exact files, so a user's
# own file in one of these folders is never taken for the run's.
RUN_OUTPUTS = (
    f"documents/{_NUMBERED}",
    f"rejected/*-{_NUMBERED}",
    f"staged/{_NUMBERED}",
    f"bytes/{_NUMBERED}",  # the byte ledger of a WARC reader (curate.ledger)
    "logs/[0-9]-*/**/*",  # datatrove's logs, stats and completion markers of each phase (1-filter, 2-buckets...)
    "logs/finish/**/*",  # the Slurm job that writes stats.json and the report
    "logs/started.json",  # when the run started, for its wall time
    "dedup/keys/*.npz",
    "dedup/keys/*.npz.part",
    "dedup/pairs/*.npy",
    "dedup/buckets/**/*",  # a bucket task's spill files, while it runs
    "dedup/cluster/**/*",  # the bounded cluster step's files, while it runs
    "dedup/remove/*.parquet",
    "dedup/summary.json",
    "tokens/shard-*.parquet",
    "tokens/.manifest.json",
    "tokens/manifest.json",  # the manifest's name in runs made before
    "tokens/manifest-r*.part.json",
    "report/*.png",
    FINISHED,
    "report.html",
    "README.md",  # the dataset card (curate.datacard)
    REQUEST,
)
RUN = Contract("run", RUN_OUTPUTS, resumable=True, markers=(REQUEST,))
INGEST = Contract("ingest", RUN_OUTPUTS, markers=(REQUEST,))


def _files(folder: Path, contract: Contract) -> Iterator[tuple[Path, bool]]:
    """Every file in the folder's entries the contract writes to (its first marker aside), and whether it is one of
    its own."""
    for entry in sorted(folder.iterdir()):
        if not contract.owns(entry.name) or entry.name == contract.marks[0]:
            continue
        if entry.is_dir() and not entry.is_symlink():
            files = [Path(root, f) for root, dirs, names in os.walk(entry) for f in names + _links(root, dirs)]
        else:
            files = [entry]
        for path in sorted(files):
            yield path, contract.owns_path(path.relative_to(folder).as_posix())


def _owned_files(folder: Path, contract: Contract, where: str) -> list[Path]:
    """Every file of the contract's outputs in `folder`; RunError naming the first file it did not write."""
    found: list[Path] = []
    for path, owned in _files(folder, contract):
        if not owned:
            raise RunError(
                f"{where}: {path.relative_to(folder).as_posix()} was not written by {_article(contract.command)};"
                " move it out of the folder or choose another folder (nothing was deleted)"
            )
        found.append(path)
    return found


def _links(root: str, dirs: list[str]) -> list[str]:
    """Symbolic links to folders: os.walk lists them as folders but does not enter them; they count as files."""
    return [d for d in dirs if os.path.islink(os.path.join(root, d))]


def remove_outputs(folder: Path, contract: Contract, where: str | None = None) -> None:
    """Delete the contract's files in `folder` (and the folders they leave empty), nothing else; RunError, before
    anything is deleted, when a folder the command writes into holds a file it did not write. The first marker
    stays: a removal cut short by a kill can still be overwritten."""
    folder = Path(folder)
    for path in _owned_files(folder, contract, where or f"{contract.option} {folder}"):
        path.unlink()
        parent = path.parent
        while parent != folder and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def remove_temporaries(folder: Path, contract: Contract) -> None:
    """Delete the leftovers of writes a kill interrupted (`.NAME.tmp`), before an interrupted run resumes."""
    for path, owned in _files(Path(folder), contract):
        if owned and is_temporary(path.name):
            path.unlink()


def prepare(folder: str | Path, contract: Contract, overwrite: bool = False, request: dict | None = None) -> bool:
    """Make `folder` ready for the command (see the module's rules); True when resuming an interrupted run.

    `request` (what was asked) is written to run.json, so an interrupted run can tell it is asked the same again.
    """
    folder = Path(folder)
    where = f"{contract.option} {folder}"
    if folder.exists() and not folder.is_dir():
        raise RunError(f"{where}: is a file, not a folder")
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    marker = next((m for m in contract.marks if m in names), None)
    if not contract.resumable and names == [contract.marks[0]]:
        names = []  # a command killed before it wrote anything
    resuming = False
    if names:
        foreign = [n for n in names if not contract.owns(n)]
        if foreign and contract.foreign == "refuse":
            raise RunError(
                f"{where}: is not empty: it holds files {_article(contract.command)} does not write"
                f" ({', '.join(foreign)}); choose another folder"
            )
        stranger = f"holds no {contract.marks[0]}: not {_article(contract.command)} output"
        if overwrite:
            if marker is None:
                raise RunError(f"{where}: {stranger}, so --overwrite deletes nothing there; choose another folder")
            _mark(folder, contract)
            remove_outputs(folder, contract, where)
        elif contract.resumable and (folder / FINISHED).exists():
            raise RunError(f"{where}: holds a finished run; pass --overwrite or choose another folder")
        elif contract.resumable and request is not None and marker == REQUEST:
            differences = _differences(_load(folder / REQUEST), request)
            if differences:
                raise RunError(f"{where}: holds an interrupted run asked differently: {differences}")
            remove_temporaries(folder, contract)
            resuming = True
        elif not contract.reuse:
            if marker is None:
                raise RunError(f"{where}: is not empty and {stranger}; choose another folder")
            raise RunError(f"{where}: is not empty; pass --overwrite or choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    if request is not None and not resuming:
        atomic_write_text(folder / REQUEST, json.dumps(request, indent=2))
    else:
        _mark(folder, contract)
    return resuming


def _mark(folder: Path, contract: Contract) -> None:
    """Write the command's marker, unless it is the request (run.json, written with what was asked)."""
    if contract.marks[0] != REQUEST and not (folder / contract.marks[0]).exists():
        atomic_write_text(folder / contract.marks[0], json.dumps({"command": contract.command}) + "\n")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# How the keys of a run request are given on the command line, for "rerun with ..." messages.
_FLAGS = {"pipeline": "the pipeline", "tasks": "--tasks", "limit": "--limit", "inputs": "--input"}
_DERIVED = {"tasks": "inputs"}  # follows from another key (the default plan): named only when that key agrees


def _differences(stored: Any, request: dict) -> str:
    """'' when `stored` is `request`; else which option differs, and how to rerun the interrupted run instead."""
    if stored == request:
        return ""
    if not isinstance(stored, dict):
        return f"its {REQUEST} is unreadable; pass --overwrite to start again"
    said, hints = [], []
    for key in list(request) + [k for k in stored if k not in request]:
        old, new = stored.get(key), request.get(key)
        if old == new or (key in _DERIVED and stored.get(_DERIVED[key]) != request.get(_DERIVED[key])):
            continue
        flag = _FLAGS.get(key, key)
        if key == "spec":
            path, old, new = _first_difference(old, new, "")
            where = path.lstrip(".") or "content"
            said.append(f"the pipeline's {where} {_show(new)} differs from the interrupted run's {_show(old)}")
            hints.append("the pipeline as it was")
        elif isinstance(old, list) or isinstance(new, list):
            said.append(f"{flag} differs from the interrupted run's ({_list_difference(old, new)})")
            hints.append(f"the same {flag}")
        else:
            said.append(f"{flag} {_show(new)} differs from the interrupted run's {_show(old)}")
            hints.append(f"{flag} {_show(old)}")
    return "; ".join(said) + f"; rerun with {', '.join(hints)} or pass --overwrite"


def _first_difference(old: Any, new: Any, path: str) -> tuple[str, Any, Any]:
    """The path (stages[1].extract.timeout) of the first place two JSON values differ, and the two values there."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(new) + [k for k in old if k not in new]:
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}")
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return path, f"{len(old)} entries", f"{len(new)} entries"
        i = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
        return _first_difference(old[i], new[i], f"{path}[{i}]")
    return path, old, new


def _list_difference(old: Any, new: Any) -> str:
    old, new = list(old or []), list(new or [])
    if len(old) != len(new):
        return f"{len(new)} given, {len(old)} then"
    i = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
    return f"#{i + 1} is {new[i]}, was {old[i]}"


def _show(value: Any) -> str:
    return "unset" if value is None else value if isinstance(value, str) else json.dumps(value)


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
