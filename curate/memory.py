"""Handing freed memory back to the system, for the steps whose memory must stay flat as their input grows.

glibc serves a freed large block's size from its heap afterwards (its mmap threshold rises) and Arrow's pool keeps
what it freed, so resident memory creeps up with the number of batches, ranges or partitions a step has seen
instead of staying at one batch's worth. Token shard writing and the bounded dedup steps call `release_memory()`
between batches.
"""

from __future__ import annotations

import pyarrow as pa


def _glibc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_TRIM = _glibc_trim()


def release_memory() -> None:
    """Arrow's unused pool memory and glibc's free heap back to the system."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)
