"""The byte ledger: where every byte of every input file went, written by the reader and checked after the run.

The reader writes one row per unit of a file (a gzip member, a plain file, or a range it skipped, in file bytes) and
one row per frame inside a unit (a record, or a range that is not one, in the bytes the unit decodes to). The check
proves, from the ledger and the files' sizes alone, that the rows tile each file and each unit with no gap and no
overlap, so `bytes in = bytes in records + bytes skipped with a reason` is a fact about the files, not a sum the
reader kept about itself. Stages after the reader only ever see records, which stats.json already counts.

A remote file's size (a crawl's URL) is where its stream ended: the stream itself checks every byte the server
announced arrived (curate.crawl), and asking 90,000 servers for sizes again after a dump's run would cost a request
each. An unreachable file, or the part of one after its stream failed for good, is a skipped `unreachable` range.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

LEDGER_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("level", pa.string()),  # "file": units and skipped ranges; "unit": frames inside a unit
        ("unit", pa.int64()),  # file offset of the unit the row belongs to
        ("offset", pa.int64()),  # file offset (level file) or offset in the unit's decoded bytes (level unit)
        ("length", pa.int64()),
        ("decoded", pa.int64()),  # level file, units only: bytes the unit decoded to
        ("kind", pa.string()),  # file: member, plain, skipped, unread; unit: record, skipped
        ("reason", pa.string()),  # why skipped / why the record was rejected for its framing
        ("id", pa.string()),  # the record's document id
    ]
)


def _remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def file_size(path: str) -> int | None:
    try:
        if "://" in path and not path.startswith("file://"):
            import fsspec

            fs, _, (resolved,) = fsspec.get_fs_token_paths(path)
            return int(fs.size(resolved))
        return os.path.getsize(path.removeprefix("file://"))
    except (OSError, ValueError, TypeError):
        return None


def _tiles(spans: list[tuple[int, int]], total: int) -> str | None:
    """None when the (offset, length) spans cover [0, total) exactly once, else what is wrong."""
    at = 0
    for offset, length in sorted(spans):
        if offset != at:
            return f"{'gap' if offset > at else 'overlap'} at byte {min(offset, at)}"
        at = offset + length
    return None if at == total else f"covers {at} of {total} bytes"


def _share(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, in integers that sum to `total` exactly."""
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1) if weights else []
    parts = [total * w // whole for w in weights]
    parts[-1] += total - sum(parts)
    return parts


def account(folder: Path, inputs: list[str]) -> dict[str, Any]:
    """stats.json's `bytes` section: input bytes, bytes in records, bytes skipped by reason, and the proof."""
    paths = sorted(Path(folder).glob("*.parquet")) if Path(folder).is_dir() else []
    rows = pq.read_table(paths, schema=LEDGER_SCHEMA).to_pylist() if paths else []
    by_file: dict[str, list[dict]] = defaultdict(list)
    by_unit: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in rows:
        if row["level"] == "file":
            by_file[row["source"]].append(row)
        else:
            by_unit[(row["source"], row["unit"])].append(row)
    problems: list[str] = []
    skipped: dict[str, int] = defaultdict(int)
    total = in_records = unread = 0
    for source in inputs:
        entries = by_file.get(source, [])
        if _remote(source):  # its size is where its stream ended (checked against the announced length): no request
            if not entries:
                problems.append(f"{source}: no ledger rows")
            size: int | None = max((r["offset"] + r["length"] for r in entries), default=0)
        else:
            size = file_size(source)
        if size is None:
            problems.append(f"{source}: size unknown")
            continue
        total += size
        if not entries:
            if size:
                problems.append(f"{source}: {size} bytes and no ledger rows")
            continue
        wrong = _tiles([(r["offset"], r["length"]) for r in entries], size)
        if wrong:
            problems.append(f"{source}: file bytes: {wrong}")
        for row in entries:
            if row["kind"] == "unread":
                unread += row["length"]
            elif row["kind"] == "skipped":
                skipped[row["reason"]] += row["length"]
            else:
                frames = by_unit.get((source, row["offset"]), [])
                wrong = _tiles([(f["offset"], f["length"]) for f in frames], row["decoded"])
                if wrong:
                    problems.append(f"{source}: unit at byte {row['offset']}: {wrong}")
                frames = sorted(frames, key=lambda f: f["offset"])
                for frame, part in zip(frames, _share(row["length"], [f["length"] for f in frames])):
                    if frame["kind"] == "record" and frame["reason"] is None:
                        in_records += part
                    else:
                        skipped[frame["reason"] or "unspecified"] += part
                if not frames and row["length"]:
                    skipped["blank"] += row["length"]
    lost = sum(skipped.values())
    if in_records + lost + unread != total:
        problems.append(f"input {total} bytes != in records {in_records} + skipped {lost} + unread {unread}")
    return {
        "input": total,
        "in_records": in_records,
        "skipped": lost,
        "skipped_by_reason": dict(sorted(skipped.items())),
        "unread": unread,
        "accounted": not problems,
        "problems": problems,
    }
