"""What a page may cost to extract, decided from the page alone, and the one quiet retry a page that still runs
past the wall-clock limit gets.

Why a budget: a wall-clock limit alone makes the outcome depend on machine load (the same page times out on a busy
machine and passes on a quiet one), so two runs of one command could reject different pages. trafilatura's time
grows with the number of elements (0.05-0.1 ms each on a quiet 2-core machine, twice that under load) and with
the characters (0.4-2 ms per 1,000, the most when inline tags cut one long paragraph). Nesting depth costs
nothing extra: libxml2 stops building the tree at depth 256 (100,000 nested divs extract in half a second).
So the budget counts characters and start tags: properties of the page, the same on every machine, and
cheap to count (11 ms on the largest test page).

Why a quiet retry: the wall-clock limit stays as a safety net for the page no budget foresaw. A page that hits it
is tried once more at once (so documents keep their stream order) while no other worker extracts: `RetryLock`
is a file lock that ordinary extractions hold shared and a retry holds exclusive. The lock files live in the
temporary folder, one pair per user, so "alone" means no other curate extraction of this user on this machine
(other pipeline steps of the other workers keep running until they reach their next page).
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# `<` then a letter: what an HTML parser turns into an element. Close to the number of elements trafilatura walks
# (tags in scripts and comments count too, elements the parser implies do not): a cheap, exact-to-repeat proxy.
START_TAG = re.compile(r"<[A-Za-z]")
_SLICE = 1 << 16
_MAX_BYTES_PER_CHAR = 4  # UTF-8, UTF-32, GB18030: no codec spends more on one character


def count_start_tags(html: str) -> int:
    """Start tags in `html`, counted slice by slice so a page of nothing but tags needs no list of them all."""
    n = len(html)
    # a slice reaches one character into the next so that a tag split by the cut is counted once, in the first
    return sum(len(START_TAG.findall(html, i, min(i + _SLICE + 1, n))) for i in range(0, n, _SLICE))


@dataclass(frozen=True)
class Budget:
    """Largest page extraction accepts: `max_html_chars` decoded characters, `max_tags` start tags (0 = no limit)."""

    max_html_chars: int
    max_tags: int

    def check_bytes(self, size: int) -> str | None:
        """Why a payload of `size` bytes is over the budget before decoding it, or None when it may fit."""
        if self.max_html_chars and size > _MAX_BYTES_PER_CHAR * self.max_html_chars:
            return f"html_bytes={size} > {_MAX_BYTES_PER_CHAR} x max_html_chars={self.max_html_chars}"
        return None

    def check(self, html: str) -> str | None:
        """Why the decoded page is over the budget (the measure, its value and the limit), or None."""
        if self.max_html_chars and len(html) > self.max_html_chars:
            return f"html_chars={len(html)} > max_html_chars={self.max_html_chars}"
        if self.max_tags:
            tags = count_start_tags(html)
            if tags > self.max_tags:
                return f"start_tags={tags} > max_tags={self.max_tags}"
        return None


class RetryLock:
    """Shared while a worker extracts, exclusive while one retries a timed-out page.

    Two files: the exclusive side first closes a gate (that shared holders pass through and leave at once), then
    waits for the extractions in flight to finish, so a steady stream of shared holders cannot starve a retry.
    Open it in the process that extracts (a lock opened before a fork would be shared with the child).
    """

    def __init__(self, folder: str | None = None):
        self.folder = folder
        self._gate: IO[bytes] | None = None
        self._lock: IO[bytes] | None = None

    def _files(self) -> tuple[IO[bytes], IO[bytes]]:
        if self._gate is None or self._lock is None:
            base = Path(self.folder or tempfile.gettempdir()) / f"curate-extract-{os.getuid()}"
            self._gate, self._lock = open(f"{base}.gate", "ab"), open(f"{base}.lock", "ab")
        return self._gate, self._lock

    @contextmanager
    def shared(self) -> Iterator[None]:
        gate, lock = self._files()
        fcntl.flock(gate, fcntl.LOCK_SH)
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        gate, lock = self._files()
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)

    def close(self) -> None:
        for f in (self._gate, self._lock):
            if f is not None:
                f.close()
        self._gate = self._lock = None
