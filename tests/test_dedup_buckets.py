"""Dedup phase 2 in bounded memory: every bucket of documents sharing a band key becomes a star around its first
member, whatever the budget (one partition or many), including a key shared by a large share of the corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.dedup.buckets import LSHBuckets


def _keys(workdir: Path, sizes: list[int], bands: int, seed: int) -> np.ndarray:
    """Tasks' key files as phase 1 writes them; returns all band keys, (documents, bands), in index order."""
    rng = np.random.default_rng(seed)
    folder = workdir / "keys"
    folder.mkdir(parents=True)
    every = []
    for rank, size in enumerate(sizes):
        keys = rng.integers(0, 40, size=(size, bands), dtype=np.uint64)  # small key space: many buckets
        keys[rng.random(size) < 0.3] = 7  # a key shared by about 30% of the corpus in every band
        np.savez(folder / f"{rank:05d}.npz", bands=keys, id=np.arange(size, dtype=np.uint64))
        every.append(keys)
    return np.concatenate(every)


def _expected(keys: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for value in np.unique(keys):
        members = np.flatnonzero(keys == value)
        pairs |= {(int(members[0]), int(m)) for m in members[1:]}
    return pairs


@pytest.mark.parametrize("max_memory", [2**30, 4096], ids=["one-partition", "many-partitions"])
def test_buckets_are_stars_around_their_first_member(tmp_path, max_memory):
    bands = 3
    keys = _keys(tmp_path, [500, 0, 1200, 37], bands, seed=1)
    for rank in range(2):  # two band tasks: band 0 and 2, then band 1
        step = LSHBuckets(str(tmp_path), bands, max_memory)
        for _ in step.run(None, rank, 2):
            pass
    files = sorted((tmp_path / "pairs").glob("*.npy"))
    assert len(files) == bands * (1 if max_memory == 2**30 else 28)  # ⌈1737 documents × 64 bytes / 4096⌉
    for band in range(bands):
        got = [tuple(map(int, p)) for f in files if f.name.startswith(f"{band:03d}-") for p in np.load(f)]
        assert len(got) == len(set(got)) and set(got) == _expected(keys[:, band])
    assert not (tmp_path / "buckets" / "00000").exists()  # the spill files are the task's own, removed at its end


def test_a_rerun_after_a_kill_does_not_pair_twice(tmp_path):
    keys = _keys(tmp_path, [300], 1, seed=2)
    leftover = tmp_path / "buckets" / "00000"
    leftover.mkdir(parents=True)
    (leftover / "000000.bin").write_bytes(np.zeros(10, dtype=[("k", "<u8"), ("i", "<i8")]).tobytes())
    for _ in LSHBuckets(str(tmp_path), 1, 2**30).run(None, 0, 1):
        pass
    (pairs,) = [np.load(f) for f in (tmp_path / "pairs").glob("*.npy")]
    assert {tuple(map(int, p)) for p in pairs} == _expected(keys[:, 0]) and len(pairs) == 300 - len(np.unique(keys))
