"""One progress display for a whole `curate run` on the local executor, however many worker processes read.

Each task keeps a small JSON file, `<phase logs>/progress/<rank>.json` (records read, input bytes behind it, files
finished), rewritten at most once a second; the main process sums the files: files are the one channel every start
method (fork, forkserver, spawn) and a task run in the main process itself share, and a task that crashes leaves its
last count. On a terminal the sum is one bar with the total and the ETA; otherwise it is a status line every
`every` seconds and once at the end, e.g. `curate run: 41% of 1.2 GB read, 5,123 records, 62 rec/s, ETA 3m10s`.

`ReportingLocalExecutor` is datatrove's local executor whose tasks write these files and log to the console at
curate's level (curate.logs).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datatrove.executor.local import LocalPipelineExecutor

from curate import logs


def remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


class TaskProgress:
    """What one task has read so far, kept in its progress file."""

    def __init__(self, folder: Path, rank: int, every: float = 1.0):
        self.path = Path(folder) / f"{rank:05d}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.every = every
        self.records = self.files = 0
        self.done_bytes = 0  # bytes of the files this task finished
        self.position = 0  # bytes read of the file it is in
        self._written = 0.0
        self.write()

    def record(self) -> None:
        self.records += 1
        if time.monotonic() - self._written >= self.every:
            self.write()

    def at(self, position: int, size: int) -> None:
        self.position = max(self.position, min(position, size))

    def file_done(self, size: int) -> None:
        self.done_bytes += size
        self.position = 0
        self.files += 1
        self.write()

    def write(self) -> None:
        state = {"records": self.records, "bytes": self.done_bytes + self.position, "files": self.files}
        part = self.path.with_suffix(".part")
        part.write_text(json.dumps(state))
        os.replace(part, self.path)
        self._written = time.monotonic()


@contextmanager
def reporting(reader: Any, channel: TaskProgress) -> Iterator[None]:
    """The reader's records and byte positions counted into `channel`: every record `read_file` yields (kept or
    rejected), and the file offsets its byte ledger rows name (`account`; WARC readers), while inside."""
    from curate.ledger import file_size

    read_file, account = reader.read_file, reader.account
    sizes: dict[str, int] = {}

    def counted(path: str) -> Iterator[Any]:
        sizes[path] = 0 if remote(path) else file_size(path) or 0  # a URL's size costs a request: not asked
        records = read_file(path)
        try:
            for doc in records:
                channel.record()
                yield doc
        finally:
            records.close()  # at once, as the reader expects when it stops early (--limit)
        channel.file_done(sizes[path])

    def accounted(source: str, level: str, unit: int, offset: int, length: int, *rest: Any, **named: Any) -> None:
        account(source, level, unit, offset, length, *rest, **named)
        # a "file" row names file bytes; a "unit" row its gzip member's file offset (`unit`), or for a plain
        # file (a single unit at 0) the record's own offset
        end = offset + length if level == "file" or not source.endswith(".gz") else unit
        channel.at(end, sizes.get(source, 0))

    reader.read_file, reader.account = counted, accounted
    try:
        yield
    finally:
        del reader.read_file, reader.account  # back to the class's methods
        channel.write()


class ReportingLocalExecutor(LocalPipelineExecutor):
    """datatrove's LocalPipelineExecutor whose tasks log to the console at curate's level and, given a `progress`
    folder, count what their reader (the first step) reads there."""

    def __init__(self, *args: Any, progress: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.progress = progress
        self.console_level = logs.current()  # travels with the executor into every worker process

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        with logs.task_console(self.console_level):
            if not self.progress or self.is_rank_completed(rank) or not hasattr(self.pipeline[0], "read_file"):
                return super()._run_for_rank(rank, local_rank, node_rank)
            with reporting(self.pipeline[0], TaskProgress(Path(self.progress), rank)):
                return super()._run_for_rank(rank, local_rank, node_rank)


def read_totals(folder: Path) -> dict[str, int]:
    """The tasks' progress files summed (each is replaced whole, never seen half-written)."""
    totals = {"records": 0, "bytes": 0, "files": 0}
    for path in Path(folder).glob("*.json"):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for key in totals:
            totals[key] += int(state.get(key, 0))
    return totals


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class RunProgress:
    """The run's progress on stderr, from the tasks' progress files, while inside `with`.

    `total_bytes` is the input's size (None when it is not known, e.g. remote files: then the share is in files),
    `limit` the records a --limit run reads (then the share is in records).
    """

    def __init__(
        self,
        folder: Path,
        total_bytes: int | None,
        files: int,
        limit: int | None = None,
        every: float = 30.0,
        tty: bool | None = None,
        stream: Any = None,
    ):
        self.folder, self.total_bytes, self.files, self.limit = Path(folder), total_bytes, files, limit
        self.every = every
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.phase = ""  # the phase after reading, when there is one (dedup runs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="curate-progress", daemon=True)
        self._bar: Any = None
        self._started = self._changed = time.monotonic()
        self._first = self._last = {"records": 0, "bytes": 0, "files": 0}

    def on_phase(self, number: int, count: int, name: str) -> None:
        """curate.executors.run_phases' callback: the phase after reading, shown beside the totals."""
        self.phase = "" if number == 1 else f"phase {number}/{count}: {name}"

    def __enter__(self) -> RunProgress:
        self._first = self._last = read_totals(self.folder)  # resumed: what earlier attempts read is not this rate
        self._started = self._changed = time.monotonic()
        if self.tty:
            from tqdm import tqdm

            total, unit = self._scale()
            self._bar = tqdm(
                total=total,
                initial=self._done(self._first),
                unit=unit,
                unit_scale=True,
                desc="curate run",
                file=self.stream,
                dynamic_ncols=True,
            )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()
        if self._bar is not None:
            self._show()
            self._bar.close()
        else:
            print(self.line(final=True), file=self.stream, flush=True)

    def _scale(self) -> tuple[int | None, str]:
        if self.limit:
            return self.limit, " records"
        if self.total_bytes:
            return self.total_bytes, "B"
        return self.files, " files"

    def _done(self, totals: dict[str, int]) -> int:
        return totals["records"] if self.limit else totals["bytes"] if self.total_bytes else totals["files"]

    def _poll(self) -> None:
        totals = read_totals(self.folder)
        if totals != self._last:
            self._last, self._changed = totals, time.monotonic()

    def _rate(self) -> float:
        """Records a second while reading: up to the last change, so the stats and report phase do not dilute it."""
        return (self._last["records"] - self._first["records"]) / max(self._changed - self._started, 1e-9)

    def _loop(self) -> None:
        printed, at = "", self._started
        while not self._stop.wait(0.5 if self.tty else min(self.every, 1.0)):
            self._poll()
            if self._bar is not None:
                self._show()
                continue
            now = time.monotonic()
            if now - at < self.every:
                continue
            line = self.line()
            if line != printed or now - at >= 10 * self.every:  # nothing new: a line now and then that it lives
                print(line, file=self.stream, flush=True)
                printed, at = line, now

    def _show(self) -> None:
        self._bar.n = min(self._done(self._last), self._bar.total or self._done(self._last))
        self._bar.set_postfix_str(
            f"{self._last['records']:,} records, {self._rate():.0f} rec/s" + (f", {self.phase}" if self.phase else ""),
            refresh=False,
        )
        self._bar.refresh()

    def line(self, final: bool = False) -> str:
        """The one-line status, e.g. `curate run: 41% of 1.2 GB read, 5,123 records, 62 rec/s, ETA 3m10s`."""
        totals = self._last
        total, _ = self._scale()
        done = self._done(totals)
        share = f"{min(done / total, 1.0):.0%} of " if total else ""
        if self.limit:
            what = f"{share}{self.limit:,} records read ({human_bytes(totals['bytes'])})"
        elif self.total_bytes:
            what = f"{share}{human_bytes(self.total_bytes)} read, {totals['records']:,} records"
        else:
            what = f"{share}{self.files:,} files read, {totals['records']:,} records"
        text = f"curate run: {what}, {self._rate():,.0f} rec/s"
        if final:
            return f"{text}; {human_seconds(time.monotonic() - self._started)} in all"
        if self.phase:
            return f"{text}; {self.phase}"
        progressed = done - self._done(self._first)
        if total and progressed > 0 and done < total:
            elapsed = time.monotonic() - self._started
            text += f", ETA {human_seconds((total - done) * elapsed / progressed)}"
        return text


def for_run(folder: Path, paths: list[str], limit: int, every: float) -> RunProgress:
    """The display of a run reading `paths` (-1 or a --limit): in bytes when they are all local files, in files when
    some are remote (a request each to learn their size), in records under --limit."""
    from curate.ledger import file_size

    sizes = [None if remote(p) else file_size(p) for p in paths]
    total = None if None in sizes else sum(size or 0 for size in sizes)
    return RunProgress(folder, total, len(paths), limit if limit > 0 else None, every)
