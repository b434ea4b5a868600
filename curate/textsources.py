"""Plain text sources → records: what `curate ingest` reads, one record per file, zip member, paragraph or line.

Sources (each one of):
  - a folder: every `.txt` file below it (recursive, sorted by relative path; hidden files and `__MACOSX` skipped);
  - a `.zip`: its `.txt` members, read in place (sorted; non-`.txt` members and macOS junk skipped);
  - a `.txt` file;
  - JSONL (`.jsonl`, `.ndjson`, Dolma's `.json.gz`, each optionally gzipped): one object per line with a `text`
    field; its `id` and `url` are kept when present, its `domain` when present and no `domain` argument is given;
  - the literal `stdlib`: the `.py` files of the running interpreter's standard library
    (`sysconfig.get_paths()["stdlib"]`), without `site-packages`, test suites and their data (any folder named
    `test`, `tests` or `idle_test`, which covers idlelib's and lib2to3's) and `__pycache__`; sorted.

`split="file"` makes one record per file (per line for JSONL); `split="paragraph"` splits *text files* (folder,
zip, `.txt`) at blank lines, one record per paragraph. It does not apply to `stdlib` (a module cut at blank lines is
not a unit of code) or JSONL (each line already is a document).

Text is decoded as strict UTF-8 (a leading byte-order mark is dropped; nothing else is changed, so a stdlib
document is its file byte for byte). A record that cannot be kept carries its reason: `not_utf8` (the text decoded
with replacement characters, the detail names the first bad byte), `empty`, `too_short`, `bad_json`, `read_error`
(a file that cannot be read, e.g. a truncated gzip: one record for the rest of that file).

Ids are stable across runs: a JSONL row's own `id`, otherwise a UUID5 of (the source's name without its folders,
the member's path inside it, the split, the paragraph or line number).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sysconfig
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curate.runfolder import RunError

SPLITS = ("file", "paragraph")
DEFAULT_DOMAINS = {"stdlib": "code", "folder": "prose", "zip": "prose", "text": "prose", "jsonl": "web"}

_JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json.gz")
_STDLIB_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
# A newline followed by one or more blank (whitespace-only) lines.
_BLANK_LINES = re.compile(r"\r?\n(?:[ \t\f\v]*\r?\n)+")


@dataclass
class Source:
    given: str  # as the caller wrote it
    kind: str  # stdlib, folder, zip, text, jsonl
    path: Path
    name: str  # the name in ids: the source's name without folders ("stdlib" for the standard library)
    split: str = "file"
    counts: Counter = field(default_factory=Counter)  # files, records, kept, rejected


@dataclass
class Record:
    id: str
    text: str
    source: str
    domain: str | None
    url: str | None = None
    reason: str | None = None
    detail: str | None = None


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def classify(given: str | Path, split: str = "file") -> Source:
    """What a source is; RunError naming it when it does not exist or is of no known kind."""
    text = str(given)
    if text == "stdlib":
        root = stdlib_root()
        if not root.is_dir():
            raise RunError(f"source stdlib: the standard library folder {root} does not exist")
        return Source(text, "stdlib", root, "stdlib")
    path = Path(text)
    if not path.exists():
        raise RunError(f"source {text}: no such file or folder")
    lower = path.name.lower()
    if path.is_dir():
        kind = "folder"
    elif lower.endswith(".zip"):
        if not zipfile.is_zipfile(path):
            raise RunError(f"source {text}: not a readable zip archive")
        kind = "zip"
    elif lower.endswith(".txt"):
        kind = "text"
    elif lower.endswith(_JSONL_SUFFIXES):
        kind = "jsonl"
    else:
        raise RunError(
            f"source {text}: unknown kind; expected a folder or .zip of .txt files, a .txt file, "
            f"JSONL ({', '.join(_JSONL_SUFFIXES)}) or the word stdlib"
        )
    return Source(text, kind, path, path.resolve().name, split if kind in ("folder", "zip", "text") else "file")


def stable_id(name: str, member: str, split: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"curate:ingest:{name}:{member}:{split}:{index}"))


# -- listing files ---------------------------------------------------------------------------------------------
def _walk(root: Path, keep_file, skip_dir) -> list[Path]:
    """Files below root sorted by relative path (its parts), without following links to folders."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not skip_dir(d)]
        found.extend(Path(folder) / name for name in files if keep_file(name))
    return sorted(found, key=lambda path: path.relative_to(root).parts)


def _junk(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _text_files(root: Path) -> list[Path]:
    return _walk(root, lambda n: n.lower().endswith(".txt") and not _junk(n), _junk)


def _stdlib_files(root: Path) -> list[Path]:
    return _walk(
        root,
        lambda n: n.endswith(".py") and not n.startswith("."),
        lambda d: d in _STDLIB_SKIP_DIRS or d.startswith("."),
    )


def _zip_members(zf: zipfile.ZipFile) -> list[str]:
    members = []
    for info in zf.infolist():
        parts = info.filename.split("/")
        if info.is_dir() or "__MACOSX" in parts or _junk(parts[-1]) or not parts[-1].lower().endswith(".txt"):
            continue
        members.append(info.filename)
    return sorted(members)


# -- bytes → records -------------------------------------------------------------------------------------------
def _decode(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) for UTF-8 (a leading BOM dropped), else (None, a detail naming the first bad byte)."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as err:
        return None, f"byte 0x{data[err.start]:02x} at offset {err.start} is not UTF-8 ({err.reason})"


def judge(record: Record, min_chars: int) -> Record:
    """Reject a record whose text is too short after stripping (unless it is rejected already)."""
    if record.reason is None:
        length = len(record.text.strip())
        if length == 0:
            record.reason, record.detail = "empty", "only whitespace" if record.text else "no text"
        elif length < min_chars:
            record.reason, record.detail = "too_short", f"{length} characters after stripping < min_chars {min_chars}"
    return record


def _paragraphs(text: str) -> list[str]:
    pieces = (piece.strip("\r\n") for piece in _BLANK_LINES.split(text))
    return [piece for piece in pieces if piece.strip()]


def _file_records(src: Source, data: bytes, member: str, source: str, domain: str) -> Iterator[Record]:
    """One text file's records: the file, or its paragraphs."""
    text, problem = _decode(data)
    if text is None:
        yield Record(
            stable_id(src.name, member, src.split, 0),
            data.decode("utf-8", "replace"),
            source,
            domain,
            reason="not_utf8",
            detail=problem,
        )
        return
    if src.split == "file":
        yield Record(stable_id(src.name, member, "file", 0), text, source, domain)
        return
    paragraphs = _paragraphs(text)
    if not paragraphs:  # a file with no paragraph still counts: one `empty` record for it
        yield Record(stable_id(src.name, member, "paragraph", 0), text, source, domain)
    for index, paragraph in enumerate(paragraphs):
        yield Record(stable_id(src.name, member, "paragraph", index), paragraph, source, domain)


def _read_error(src: Source, member: str, index: int, source: str, domain: str, err: Exception) -> Record:
    detail = f"{type(err).__name__}: {err}"[:1000]
    return Record(
        stable_id(src.name, member, "read_error", index), "", source, domain, reason="read_error", detail=detail
    )


def records(src: Source, domain: str | None, bar) -> Iterator[Record]:
    own = domain or DEFAULT_DOMAINS[src.kind]
    if src.kind in ("stdlib", "folder"):
        files = _stdlib_files(src.path) if src.kind == "stdlib" else _text_files(src.path)
        for path in files:
            member = path.relative_to(src.path).as_posix()
            source = f"stdlib:{member}" if src.kind == "stdlib" else str(path)
            src.counts["files"] += 1
            bar.update()
            try:
                data = path.read_bytes()
            except OSError as err:
                yield _read_error(src, member, 0, source, own, err)
                continue
            yield from _file_records(src, data, member, source, own)
    elif src.kind == "zip":
        with zipfile.ZipFile(src.path) as zf:
            for member in _zip_members(zf):
                src.counts["files"] += 1
                bar.update()
                source = f"{src.given}:{member}"
                try:
                    data = zf.read(member)
                except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError) as err:
                    yield _read_error(src, member, 0, source, own, err)
                    continue
                yield from _file_records(src, data, member, source, own)
    elif src.kind == "text":
        src.counts["files"] += 1
        bar.update()
        try:
            data = src.path.read_bytes()
        except OSError as err:
            yield _read_error(src, "", 0, src.given, own, err)
            return
        yield from _file_records(src, data, "", src.given, own)
    else:
        src.counts["files"] += 1
        bar.update()
        yield from _jsonl_records(src, domain)


def _jsonl_records(src: Source, domain: str | None) -> Iterator[Record]:
    number = -1
    try:
        with open(src.path, "rb") as raw:
            stream = gzip.open(raw, "rb") if src.path.name.lower().endswith(".gz") else raw
            for number, line in enumerate(stream):
                if not line.strip():
                    continue  # a blank line is no record
                yield _jsonl_record(src, line, number, domain)
    except (OSError, EOFError, zipfile.BadZipFile) as err:  # gzip raises OSError/EOFError for a broken stream
        yield _read_error(src, "", number + 1, src.given, domain or DEFAULT_DOMAINS["jsonl"], err)


def _jsonl_record(src: Source, line: bytes, number: int, domain: str | None) -> Record:
    fallback_id = stable_id(src.name, "", "line", number)
    text, problem = _decode(line)
    if text is None:
        return Record(
            fallback_id,
            line.decode("utf-8", "replace"),
            src.given,
            domain or DEFAULT_DOMAINS["jsonl"],
            reason="not_utf8",
            detail=f"line {number + 1}: {problem}",
        )
    try:
        row = json.loads(text)
    except ValueError as err:
        row, problem = None, f"line {number + 1}: {err}"
    if not isinstance(row, dict):
        return Record(
            fallback_id,
            text,
            src.given,
            domain or DEFAULT_DOMAINS["jsonl"],
            reason="bad_json",
            detail=problem or f"line {number + 1}: a JSON {type(row).__name__}, not an object",
        )
    own_domain = row.get("domain") if isinstance(row.get("domain"), str) and row.get("domain") else None
    url = row.get("url") if isinstance(row.get("url"), str) else None
    doc_id = row.get("id")
    record = Record(
        fallback_id if doc_id is None or doc_id == "" else str(doc_id),
        "",
        src.given,
        domain or own_domain or DEFAULT_DOMAINS["jsonl"],
        url=url,
    )
    value = row.get("text")
    if isinstance(value, str):
        record.text = value
    else:
        record.reason = "empty"
        record.detail = f"line {number + 1}: " + ("no `text` field" if value is None else "`text` is not a string")
    return record
