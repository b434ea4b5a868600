"""Plain text sources → documents with a domain, so a mix can hold web, prose and code (`curate ingest`).

Sources (each one of):
  - a folder: every `.txt` file below it (recursive, sorted by relative path; hidden files and `__MACOSX` skipped);
  - a `.zip`: its `.txt` members, read in place (sorted; non-`.txt` members and macOS junk skipped);
  - a `.txt` file;
  - JSONL (`.jsonl`, `.ndjson`, Dolma's `.json.gz`, each optionally gzipped): one object per line with a `text`
    field; its `id` and `url` are kept when present, its `domain` when present and no `domain` argument is given;
  - the literal `stdlib`: the `.py` files of the running interpreter's standard library
    (`sysconfig.get_paths()["stdlib"]`), without `site-packages`, test suites and their data (any folder named
    `test`, `tests` or `idle_test`, which covers idlelib's and lib2to3's) and `__pycache__`; sorted.

`split="file"` makes one document per file (per line for JSONL); `split="paragraph"` splits *text files* (folder,
zip, `.txt`) at blank lines, one document per paragraph (for a single big `.txt` such as tinyshakespeare). It does
not apply to `stdlib` (a module cut at blank lines is not a unit of code) or JSONL (each line already is a
document): those sources stay one document per file or line, and `stats.json` records the split each source got.

Text is decoded as strict UTF-8 (a leading byte-order mark is dropped; nothing else is changed, so a stdlib
document is its file byte for byte). Every file, member, paragraph or line is an input record and ends up either
in `documents/` or in `rejected/ingest-<n>.parquet` with a reason: `not_utf8` (the text there is decoded with
replacement characters, the detail names the first bad byte), `empty` (nothing but whitespace), `too_short`
(fewer than `min_chars` characters after stripping), `bad_json` (a JSONL line that is not a JSON object),
`read_error` (a file that cannot be read, e.g. a truncated gzip: one row for the rest of that file).

Ids are stable across runs: a JSONL row's own `id`, otherwise a UUID5 of (the source's name without its folders,
the member's path inside it, the split, the paragraph or line number).

The output is a run folder like `curate run`'s, so tokenize, mix and `reader: documents` treat it the same:
`documents/00000.parquet` (a new numbered file after every ~256 MB of text), `rejected/ingest-00000.parquet`,
`stats.json` (with `input_records = kept + rejected` counted from the Parquet rows on disk, and a one-stage
`stages` table so `curate report` can draw it) and `run.json` (what was asked). Everything is streamed: one file's
text at a time, rows written in batches.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import sysconfig
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.pipeline import RUN_OUTPUTS, RunError, remove_outputs
from curate.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA
from curate.stats import ConservationError, parquet_rows

STAGE = "ingest"
SPLITS = ("file", "paragraph")
DEFAULT_DOMAINS = {"stdlib": "code", "folder": "prose", "zip": "prose", "text": "prose", "jsonl": "web"}
MAX_FILE_BYTES = 256 * 1024 * 1024  # of text per documents/ file before starting the next one
_BATCH_ROWS = 1000
_BATCH_BYTES = 32 * 1024 * 1024

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
    found = []
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


def _judge(record: Record, min_chars: int) -> Record:
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


def _records(src: Source, domain: str | None, bar) -> Iterator[Record]:
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


# -- writing ---------------------------------------------------------------------------------------------------
class _Shards:
    """Rows → numbered Parquet files under one folder (zstd, fixed schema), a new file after max_bytes of text."""

    def __init__(self, folder: Path, prefix: str, schema: pa.Schema, max_bytes: int):
        self.folder, self.prefix, self.schema, self.max_bytes = folder, prefix, schema, max_bytes
        self.number, self.writer, self.rows, self.buffered, self.in_file = 0, None, [], 0, 0

    def _path(self) -> Path:
        return self.folder / f"{self.prefix}{self.number:05d}.parquet"

    def add(self, row: dict) -> None:
        size = len(row["text"])  # characters: close enough to bytes for a size limit
        if self.in_file + self.buffered and self.in_file + self.buffered + size > self.max_bytes:
            self._flush()
            self.writer.close()
            self.writer, self.in_file = None, 0
            self.number += 1
        self.rows.append(row)
        self.buffered += size
        if len(self.rows) >= _BATCH_ROWS or self.buffered >= _BATCH_BYTES:
            self._flush()

    def _open(self) -> None:
        if self.writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self._path(), self.schema, compression="zstd")

    def _flush(self) -> None:
        if not self.rows:
            return
        self._open()
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.in_file += self.buffered
        self.rows, self.buffered = [], 0

    def close(self, always: bool = False) -> None:
        """Write what is buffered; with always, leave one (empty) file even when no row came."""
        self._flush()
        if always:
            self._open()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"output {out_dir}: is a file, not a folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise RunError(f"output {out_dir}: is not empty; pass --overwrite or choose another folder")
        remove_outputs(out_dir, RUN_OUTPUTS)
    out_dir.mkdir(parents=True, exist_ok=True)


def ingest(
    sources: list[str],
    out_dir: str | Path,
    domain: str | None = None,
    split: str = "file",
    min_chars: int = 1,
    overwrite: bool = False,
    progress: bool | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> dict:
    """Turn text sources into a run folder of documents; returns the stats (also written to stats.json).

    Raises RunError for bad arguments, a missing or unknown source, or a non-empty out_dir without overwrite
    (all checked before anything is written), and ConservationError (after writing stats.json) if a record was
    lost. `progress=None` shows a progress bar over files only when stderr is a terminal.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise RunError("ingest: no sources given")
    if split not in SPLITS:
        raise RunError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
    if min_chars < 0:
        raise RunError(f"min_chars {min_chars}: must be at least 0")
    if domain is not None and not domain.strip():
        raise RunError("domain: must not be empty")
    resolved = [classify(s, split) for s in sources]
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    request = {
        "command": "ingest",
        "sources": [s.given for s in resolved],
        "domain": domain,
        "split": split,
        "min_chars": min_chars,
    }
    (out_dir / "run.json").write_text(json.dumps(request, indent=2))

    documents = _Shards(out_dir / "documents", "", DOCUMENT_SCHEMA, max_file_bytes)
    rejected = _Shards(out_dir / "rejected", f"{STAGE}-", REJECTED_SCHEMA, max_file_bytes)
    reasons: Counter = Counter()
    domains: Counter = Counter()
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=None, unit=" files", desc="ingest", disable=not show, dynamic_ncols=True, mininterval=1.0) as bar:
        try:
            for src in resolved:
                bar.set_postfix_str(src.given[-40:], refresh=False)
                for record in _records(src, domain, bar):
                    _judge(record, min_chars)
                    row = {
                        "id": record.id,
                        "text": record.text,
                        "url": record.url,
                        "language": None,
                        "language_score": None,
                        "source": record.source,
                        "crawl_date": None,
                        "domain": record.domain,
                    }
                    src.counts["records"] += 1
                    if record.reason is None:
                        documents.add(row)
                        domains[record.domain] += 1
                        src.counts["kept"] += 1
                    else:
                        row.update(stage=STAGE, reason=record.reason, detail=record.detail, duplicate_of=None)
                        rejected.add(row)
                        reasons[record.reason] += 1
                        src.counts["rejected"] += 1
        finally:
            documents.close(always=True)
            rejected.close()
    return _finish(out_dir, resolved, request, reasons, domains, time.perf_counter() - started)


def _finish(
    out_dir: Path, resolved: list[Source], request: dict, reasons: Counter, domains: Counter, seconds: float
) -> dict:
    input_records = sum(s.counts["records"] for s in resolved)
    counted_kept = sum(s.counts["kept"] for s in resolved)
    kept, rejected = sum(parquet_rows(out_dir / "documents").values()), sum(parquet_rows(out_dir / "rejected").values())
    problems = []
    if input_records != kept + rejected:
        problems.append(f"input_records {input_records} != kept {kept} + rejected {rejected} (rows on disk)")
    if counted_kept != kept:
        problems.append(f"{counted_kept} documents written, {kept} rows in documents/")
    stats = {
        "name": "ingest",
        "pipeline": None,
        "inputs": request["sources"],
        "ingested_from": [
            {
                "source": s.given,
                "kind": s.kind,
                "split": s.split,
                "files": s.counts["files"],
                "records": s.counts["records"],
                "kept": s.counts["kept"],
                "rejected": s.counts["rejected"],
            }
            for s in resolved
        ],
        "domain": request["domain"],
        "split": request["split"],
        "min_chars": request["min_chars"],
        "workers": 1,
        "tasks": 1,
        "limit": None,
        "seconds": round(seconds, 3),
        "input_records": input_records,
        "kept": kept,
        "rejected": rejected,
        "conserved": not problems,
        "problems": problems,
        "stages": [
            {
                "stage": STAGE,
                "in": input_records,
                "out": counted_kept,
                "dropped": dict(sorted(reasons.items())),
                "seconds": round(seconds, 3),
            }
        ],
        "rejected_rows_by_stage": {STAGE: rejected} if rejected else {},
        "domains": dict(sorted(domains.items())),
        "word_splitter": None,
    }
    if any(s.kind == "stdlib" for s in resolved):
        stats["stdlib"] = {"path": str(stdlib_root()), "python": sys.version.split()[0]}
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2))
    if problems:
        raise ConservationError(f"{out_dir}/stats.json: records lost: " + "; ".join(problems))
    return stats
