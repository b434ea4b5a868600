"""The bounded dedup cluster (curate.dedup.bounded) decides exactly as the in-memory path (`decide` + pointer
resolution): the same remove/<rank>.parquet tables and counts, on synthetic keys and pairs with known structure,
with a max_memory so small that every step runs over many partitions and ranges; and through `curate run`."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import config
from curate.cli import main
from curate.config import ConfigError
from curate.dedup import bounded
from curate.dedup.bounded import cluster
from curate.dedup.components import EDGE, label_components
from curate.dedup.spill import Plan, Spill, parse_size
from curate.dedup.steps import Dedup, DedupCluster

TINY = 4096  # 64 rows a chunk, 64 documents a range


def write_inputs(root: Path, keys: dict[str, np.ndarray], pairs: list[np.ndarray], tasks: list[int]) -> None:
    """Phase 1 and 2 files for documents cut into tasks of the given sizes (ids "d<index>")."""
    for folder in ("keys", "pairs", "staged"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    start = 0
    for task, size in enumerate(tasks):
        part = slice(start, start + size)
        with open(root / "keys" / f"{task:05d}.npz", "wb") as f:
            np.savez(
                f,
                text=keys["text"][part],
                url=keys["url"][part],
                has_url=keys["has_url"][part],
                id=keys["id"][part],
                bands=np.zeros((size, 0), np.uint64),
            )
        if size:
            ids = pa.table({"id": [f"d{i}" for i in range(start, start + size)], "text": ["x"] * size})
            pq.write_table(ids, root / "staged" / f"{task:05d}.parquet", row_group_size=50)
        start += size
    for band, chunk in enumerate(pairs):
        np.save(root / "pairs" / f"{band:03d}.npy", chunk.astype(np.int64).reshape(-1, 2))


def synthetic(n: int, seed: int, exact: float = 0.1, url: float = 0.1) -> dict[str, np.ndarray]:
    """Keys with exact copies, URL copies (some without URL) and a few tied id hashes."""
    rng = np.random.default_rng(seed)
    text = rng.integers(0, 2**64, n, dtype=np.uint64)
    copies = rng.random(n) < exact
    text[copies] = text[rng.integers(0, n, int(copies.sum()))]
    link = rng.integers(0, 2**64, n, dtype=np.uint64)
    same = rng.random(n) < url
    link[same] = link[rng.integers(0, n, int(same.sum()))]
    ids = rng.integers(0, 2**64, n, dtype=np.uint64)
    tied = rng.random(n) < 0.02
    ids[tied] = ids[rng.integers(0, n, int(tied.sum()))]
    return {"text": text, "url": link, "has_url": rng.random(n) < 0.9, "id": ids}


def outputs(root: Path) -> tuple[list[pa.Table], dict]:
    tables = [pq.read_table(p) for p in sorted((root / "remove").glob("*.parquet"))]
    return tables, json.loads((root / "summary.json").read_text())


def both(root: Path, max_memory: int = TINY, **flags) -> tuple[list[pa.Table], dict]:
    """The in-memory path's output and the bounded path's (called directly: DedupCluster would decide a tiny
    corpus in memory), checked equal; returns the in-memory one."""
    list(DedupCluster(str(root), str(root / "staged"), Dedup(max_memory="1TiB", **flags)).run())
    tables, summary = outputs(root)
    shutil.rmtree(root / "remove")
    counts = cluster(root, root / "staged", Dedup(**flags), max_memory)
    assert {"documents": summary["documents"], **counts} == summary
    got, _ = outputs(root)
    assert len(got) == len(tables)
    for task, (a, b) in enumerate(zip(got, tables)):
        assert a.schema == b.schema and a.equals(b), f"task {task}:\n{a.to_pandas()}\n{b.to_pandas()}"
    assert sorted(p.name for p in root.iterdir()) == ["keys", "pairs", "remove", "staged", "summary.json"]
    return tables, summary


def random_pairs(n: int, rng: np.random.Generator, bands: int = 6) -> list[np.ndarray]:
    """Near pairs as LSH leaves them: each pair in most bands, plus buckets emitted as chains."""
    a = np.flatnonzero(rng.random(n) < 0.2)
    b = rng.integers(0, n, len(a))
    out = []
    for _ in range(bands):
        keep = rng.random(len(a)) < 0.8
        bucket = rng.choice(n, 30, replace=False)
        out.append(np.concatenate([np.stack([a[keep], b[keep]], 1), np.stack([bucket[:-1], bucket[1:]], 1)]))
    return out


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"near": False},
        {"url": False},
        {"exact": False},
        {"exact": False, "url": False},
        {"near": False, "url": False},
    ],
)
@pytest.mark.slow
def test_random_mix_matches_in_memory(tmp_path, flags):
    n = 3000
    rng = np.random.default_rng(1)
    write_inputs(tmp_path, synthetic(n, 2), random_pairs(n, rng), [700, 0, 1100, 1200, 0])
    tables, summary = both(tmp_path, **flags)
    assert sum(len(t) for t in tables) == sum(v for k, v in summary.items() if k != "documents") > 0


def test_one_range_and_one_partition_match_too(tmp_path):
    n = 3000
    write_inputs(tmp_path, synthetic(n, 9), random_pairs(n, np.random.default_rng(9)), [1000, 2000])
    both(tmp_path, max_memory=parse_size("64MiB"))


def test_survivor_removed_by_a_later_rule_points_at_the_kept_one(tmp_path):
    """b exact copy of a, a URL copy of c, c near copy of d: b → a → c → d, three hops, `via` = the first."""
    keys = {
        "text": np.array([1, 1, 2, 3, 4], np.uint64),
        "url": np.array([7, 8, 7, 9, 10], np.uint64),
        "has_url": np.ones(5, bool),
        "id": np.array([20, 30, 10, 5, 1], np.uint64),  # a=0, b=1, c=2, d=3; d smallest of c/d
    }
    write_inputs(tmp_path, keys, [np.array([[2, 3]])], [2, 3])
    (tmp_path / "cluster" / "rows").mkdir(parents=True)  # a killed attempt's leftovers: cleared, then removed
    tables, summary = both(tmp_path)
    rows = {(t, r["index"]): r for t, table in enumerate(tables) for r in table.to_pylist()}
    assert rows[(0, 1)] == {"index": 1, "reason": "exact_duplicate", "duplicate_of": "d3", "via": "d0"}
    assert rows[(0, 0)]["reason"] == "url_duplicate" and rows[(0, 0)]["via"] == "d2"
    assert rows[(1, 0)] == {"index": 0, "reason": "near_duplicate", "duplicate_of": "d3", "via": None}
    assert summary == {"documents": 5, "exact_duplicate": 1, "url_duplicate": 1, "near_duplicate": 1}


@pytest.fixture
def chains(tmp_path):
    """A path through 2500 documents in random order, one through 1500 in index order, a 1000-member star: components
    whose diameter is in the thousands (label propagation would take that many rounds), and a node of huge degree."""
    n = 6000
    rng = np.random.default_rng(3)
    walk = rng.permutation(2500)
    ordered = np.arange(2500, 4000)
    star = rng.choice(np.arange(4000, n), 1000, replace=False)
    pairs = [
        np.stack([walk[:-1], walk[1:]], 1),
        np.stack([ordered[1:], ordered[:-1]], 1),
        np.stack([np.full(len(star) - 1, star[0]), star[1:]], 1),
    ]
    write_inputs(tmp_path, synthetic(n, 4, exact=0.02, url=0.02), pairs, [n // 2, n - n // 2])
    return tmp_path


@pytest.mark.slow
def test_components_of_long_chains_and_a_big_star(chains):
    tables, summary = both(chains)
    assert summary["near_duplicate"] > 4500
    assert both(chains, **{"exact": False, "url": False})[1]["near_duplicate"] == 2499 + 1499 + 999


@pytest.mark.slow
def test_components_converge_in_few_rounds(tmp_path):
    """Label propagation would need 4095 rounds on this path; hooking and contracting, a dozen at most."""
    n = 4096
    plan = Plan.of(TINY, n)
    walk = np.random.default_rng(5).permutation(n)
    edges = Spill(tmp_path / "edges", EDGE)
    records = np.empty(2 * (n - 1), EDGE)
    records["a"] = np.concatenate([walk[:-1], walk[1:]])
    records["b"] = np.concatenate([walk[1:], walk[:-1]])
    edges.write(plan.range_of(records["a"]), records)
    labels, rounds = label_components(edges, plan, tmp_path / "cc")
    assert all((labels.load(r) == 0).all() for r in range(plan.ranges))
    assert rounds <= 12, rounds


def test_empty_tasks_and_zero_documents(tmp_path):
    empty = {k: np.zeros(0, np.uint64) for k in ("text", "url", "id")} | {"has_url": np.zeros(0, bool)}
    write_inputs(tmp_path / "none", empty, [np.zeros((0, 2))], [0, 0, 0])
    tables, summary = both(tmp_path / "none")
    assert [len(t) for t in tables] == [0, 0, 0] and summary["documents"] == 0
    write_inputs(tmp_path / "zero", empty, [], [])
    counts = cluster(tmp_path / "zero", tmp_path / "zero" / "staged", Dedup(), TINY)
    assert counts == {"exact_duplicate": 0, "url_duplicate": 0, "near_duplicate": 0}
    write_inputs(tmp_path / "some", synthetic(300, 6), [np.array([[1, 2], [2, 250]])], [0, 100, 0, 200, 0])
    tables, _ = both(tmp_path / "some")
    assert len(tables) == 5 and len(tables[0]) == len(tables[2]) == len(tables[4]) == 0


@pytest.mark.slow
def test_working_memory_stays_within_max_memory(tmp_path):
    """numpy's allocations (traced by tracemalloc) stay within max_memory on a corpus whose in-memory decision
    would take ~20 times that."""
    n = 60_000
    rng = np.random.default_rng(7)
    write_inputs(tmp_path, synthetic(n, 8), random_pairs(n, rng, bands=14), [n // 3, n // 3, n - 2 * (n // 3)])
    budget = parse_size("1MiB")
    tracemalloc.start()
    try:
        cluster(tmp_path, tmp_path / "staged", Dedup(), budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= budget, f"{peak / 2**20:.2f} MiB traced"


def test_max_memory_values():
    assert parse_size("512MiB") == 2**29 and parse_size("2GiB") == 2**31 and parse_size(1000) == 1000
    assert parse_size("1.5 GB") == 1_500_000_000 and Dedup(max_memory="64MiB").memory_bytes == 2**26
    for value, message in (("lots", "'lots' is not a size"), ("1KiB", "'1KiB' is outside"), (100, "100 is outside")):
        stages = [{"dedup": {"max_memory": value}}]
        with pytest.raises(ConfigError, match=rf"x.yaml: stages\[0\].dedup.max_memory: {message}.*\[4KiB, 1024TiB\]"):
            config.parse({"reader": {"documents": {}}, "stages": stages}, "x.yaml")
    spec = config.parse({"reader": {"documents": {}}, "stages": [{"dedup": {"max_memory": "2GiB"}}]}, "x.yaml")
    assert spec.stages[0].build().describe()["max_memory"] == "2GiB"


@pytest.mark.slow
def test_curate_run_keeps_the_same_documents_with_a_tiny_max_memory(data, tmp_path, monkeypatch):
    """The same crawl as ARC and as WARC: exact duplicates across the two tasks, plus a URL and a near duplicate.
    The default decides in memory; 4KiB over files (the cluster phase is one task, run in this process)."""
    bounded_runs = []
    monkeypatch.setattr(bounded, "cluster", lambda *args: bounded_runs.append(args) or cluster(*args))
    warcs = [data / "warc" / n for n in ("heritrix-2008.arc.gz", "heritrix-2008-warc017.warc.gz")]
    results = []
    for name, params in (("default", "{}"), ("tiny", "{max_memory: 4KiB}")):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(f"reader:\n  warc: {{}}\nstages:\n  - extract: {{}}\n  - dedup: {params}\n")
        out = tmp_path / name
        argv = ["run", str(spec), "--input", *map(str, warcs), "--output", str(out), "--workers", "2", "--no-progress"]
        assert main(argv) == 0
        kept = sorted(pq.read_table(out / "documents", columns=["id"]).column("id").to_pylist())
        rejected = pq.read_table(out / "rejected").to_pylist()
        dups = sorted((r["id"], r["reason"], r["detail"]) for r in rejected if r["reason"].endswith("duplicate"))
        results.append((kept, dups))
    assert len(bounded_runs) == 1 and bounded_runs[0][3] == 4096
    assert results[0] == results[1]
    reasons = {reason for _, reason, _ in results[0][1]}
    assert len(results[0][0]) > 0 and reasons == {"exact_duplicate", "url_duplicate", "near_duplicate"}
