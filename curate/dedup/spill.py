"""What lets the bounded dedup cluster (curate.dedup.bounded) work in memory set by `max_memory`, not by the corpus:
the memory plan, streaming readers of the phase 1 and 2 arrays, and files of fixed-width records.

Memory model (bytes of working data; the process itself adds ~110 MiB of interpreter and libraries): half of
`max_memory` goes to the streamed chunk, half to the dense range loaded beside it.
  chunk  `ROW_BYTES` per streamed record: the record (16 to 25 bytes) and its sort, gather and split temporaries
  range  `NODE_BYTES` per document of a dense range: its label or kept pointer (8), its reason (1) and the
         temporaries of pointer jumping
  ids    (curate.dedup.removals) their own ranges, sized by the mean stored id length
numpy's allocations peak at ~55% of `max_memory` (tracemalloc, tests/test_dedup_bounded.py); the rest is room for
Arrow's buffers and allocator slack. Peak RSS at 10 M documents: ~200 MiB at 64MiB, ~320 MiB at 256MiB
(bench/bench_dedup_bounded.py).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from curate.memory import release_memory

ROW_BYTES = 128
NODE_BYTES = 32
MIN_ROWS = 64  # below this, files get tiny and numerous without saving anything
MIN_MEMORY, MAX_MEMORY = 4 * 2**10, 2**50
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30, "t": 2**40, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*")


def release() -> None:
    """Freed memory back to the system between ranges and partitions (curate.memory)."""
    release_memory()


def parse_size(value: int | str) -> int:
    """Bytes from an int or a size such as "512MiB", "2GiB", "1.5GB"; ValueError for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{value!r} is not a size: bytes, or a number with KiB, MiB, GiB, TiB, KB, MB, GB or TB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def check_memory(value: int | str, where: str) -> None:
    """ValueError naming `where` when `value` is no size, or outside [MIN_MEMORY, MAX_MEMORY]."""
    allowed = "[4KiB, 1024TiB]"
    try:
        size = parse_size(value)
    except ValueError as err:
        raise ValueError(f"{where}: {err}, in {allowed}") from None
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise ValueError(f"{where}: {value!r} is outside {allowed} (bytes, or a size like '512MiB')")


@dataclass(frozen=True)
class Plan:
    """How the documents are cut: `span` documents per dense range, `chunk` records streamed at a time."""

    docs: int
    chunk: int
    span: int

    @classmethod
    def of(cls, max_memory: int, docs: int) -> Plan:
        half = max_memory // 2
        return cls(docs, max(MIN_ROWS, half // ROW_BYTES), max(MIN_ROWS, half // NODE_BYTES))

    @property
    def ranges(self) -> int:
        return math.ceil(self.docs / self.span)

    def bounds(self, r: int) -> tuple[int, int]:
        return r * self.span, min(self.docs, (r + 1) * self.span)

    def range_of(self, index: np.ndarray) -> np.ndarray:
        return index // self.span

    def parts(self, rows: int) -> int:
        """Hash partitions for `rows` records: about a chunk each."""
        return max(1, math.ceil(rows / self.chunk))


def hash_part(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each 64-bit key (Fibonacci hashing, so sequential keys such as labels spread too)."""
    mixed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(32)) % np.uint64(parts)).astype(np.int64)


# --- the phase 1 and 2 arrays, read a chunk at a time ---


def _open_array(path: Path, field: str | None) -> tuple[IO[bytes], tuple[int, ...], np.dtype]:
    """A file positioned at the data of an .npy (field None) or of one array of an .npz (read as a stream)."""
    fp: IO[bytes] = zipfile.ZipFile(path).open(f"{field}.npy") if field else open(path, "rb")
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fp)
    if fortran and len(shape) > 1:
        raise ValueError(f"{path}: a Fortran-ordered array")
    return fp, shape, dtype


def array_rows(path: Path, field: str | None = None) -> int:
    fp, shape, _ = _open_array(path, field)
    fp.close()
    return shape[0] if shape else 0


class Column:
    """One array of every file (the tasks' keys, the bands' pairs) read in order, as if concatenated."""

    def __init__(self, files: list[Path], field: str | None = None):
        self._files, self._field = iter(files), field
        self._fp: IO[bytes] | None = None
        self._left, self._width, self._dtype = 0, 1, np.dtype(np.uint64)

    def take(self, n: int) -> np.ndarray:
        """The next `n` rows (fewer at the end): a 1-D array, or (n, width) for 2-D arrays."""
        parts = []
        while n > 0 and self._next():
            k = min(n, self._left)
            assert self._fp is not None
            data = np.frombuffer(self._fp.read(k * self._width * self._dtype.itemsize), self._dtype)
            parts.append(data.reshape(k, self._width) if self._width > 1 else data)
            n, self._left = n - k, self._left - k
        if not parts:
            return np.zeros((0, self._width) if self._width > 1 else 0, self._dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _next(self) -> bool:
        while self._left == 0:
            self.close()
            path = next(self._files, None)
            if path is None:
                return False
            self._fp, shape, self._dtype = _open_array(path, self._field)
            self._left, self._width = (shape[0] if shape else 0), math.prod(shape[1:])
        return True

    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None

    def __enter__(self) -> Column:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- intermediate files ---


def file_in(folder: Path, part: int, suffix: str) -> str:
    """A partition's file name, as a plain string: pathlib interns every name it parses, and the interpreter's
    table of interned strings would grow with the number of partitions."""
    return os.path.join(folder, f"{part:06d}{suffix}")


class Spill:
    """Records of one fixed-width dtype in partition files: appended a chunk at a time, read back a chunk at a
    time, so neither side holds a whole partition. Files being written stay open (unbuffered, up to `OPEN`), as a
    chunk spreads over many partitions; reading closes them."""

    OPEN = 256

    def __init__(self, folder: Path, dtype: np.dtype):
        self.folder, self.dtype = folder, dtype
        self._open: dict[int, IO[bytes]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, part: int) -> str:
        return file_in(self.folder, part, ".bin")

    def write(self, parts: np.ndarray, records: np.ndarray) -> None:
        """Append each record to its partition's file (`parts`: one partition number per record)."""
        if len(records) == 0:
            return
        order = np.argsort(parts, kind="stable")
        parts, records = parts[order], records[order]
        cuts = np.flatnonzero(parts[1:] != parts[:-1]) + 1
        for start, end in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(parts)]])):
            records[start:end].tofile(self._file(int(parts[start])))

    def _file(self, part: int) -> IO[bytes]:
        if part not in self._open:
            if len(self._open) >= self.OPEN:
                self.close()
            self._open[part] = open(self._path(part), "ab", buffering=0)
        return self._open[part]

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()

    def has(self, part: int) -> bool:
        return part in self._open or os.path.exists(self._path(part))

    def read(self, part: int, rows: int) -> Iterator[np.ndarray]:
        self.close()
        path = self._path(part)
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            while len(chunk := np.fromfile(f, self.dtype, count=rows)):
                yield chunk

    def read_all(self, part: int) -> np.ndarray:
        """A whole partition, for partitions bounded by construction (one range's requesters)."""
        self.close()
        path = self._path(part)
        return np.fromfile(path, self.dtype) if os.path.exists(path) else np.zeros(0, self.dtype)

    def total(self) -> int:
        self.close()
        with os.scandir(self.folder) as entries:
            size = sum(e.stat().st_size for e in entries if e.name.endswith(".bin"))
        return size // self.dtype.itemsize

    def drop(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Dense:
    """One value per document, a file per range of `plan.span` documents; a range never written holds `fill`
    (None: each document's own index, the start of a labelling)."""

    def __init__(self, folder: Path, plan: Plan, dtype: type, fill: int | None):
        self.folder, self.plan, self.dtype, self.fill = folder, plan, np.dtype(dtype), fill
        folder.mkdir(parents=True, exist_ok=True)

    def load(self, r: int) -> np.ndarray:
        release()  # the previous range's arrays are gone by now
        path = file_in(self.folder, r, ".npy")
        if os.path.exists(path):
            return np.load(path)
        lo, hi = self.plan.bounds(r)
        if self.fill is None:
            return np.arange(lo, hi, dtype=self.dtype)
        return np.full(hi - lo, self.fill, dtype=self.dtype)

    def save(self, r: int, values: np.ndarray) -> None:
        np.save(file_in(self.folder, r, ".npy"), values)

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def walk(plan: Plan, *states: Dense) -> Iterator[tuple[int, int, list[np.ndarray]]]:
    """Every document in order, a chunk at a time: (first index, end, its values in each state)."""
    for r in range(plan.ranges):
        lo, hi = plan.bounds(r)
        loaded = [s.load(r) for s in states]
        for start in range(lo, hi, plan.chunk):
            end = min(hi, start + plan.chunk)
            yield start, end, [a[start - lo : end - lo] for a in loaded]
