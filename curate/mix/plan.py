"""The plan: which documents each source contributes, how often, and in what order, before any token moves.

Planning reads only the small columns of the inputs and keeps integers in numpy arrays (never a token list), so its
memory is about 40 bytes a pool document plus 50 a training row. Every random choice comes from a generator seeded
by (seed, purpose, source name), which is what makes a mix reproducible.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.mix.spec import MixSpec, SourceSpec


def _rng(seed: int, *purpose: str) -> np.random.Generator:
    """A generator of its own per purpose, so adding a source or a draw does not shift any other draw."""
    digest = hashlib.blake2b("\x00".join([str(seed), *purpose]).encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(digest, "big"))))


def _is_val(seed: int, doc_id: str, threshold: int) -> bool:
    """Validation or training, by (seed, doc_id) only: a document reached from two sources lands on the same side."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < threshold


@dataclass
class Pool:
    """One source's documents after the domain filter: training pool arrays + validation row indices per shard."""

    shard: np.ndarray  # int32, index into the manifest's shards
    row: np.ndarray  # int64, row within the shard
    tokens: np.ndarray  # int64
    nbytes: np.ndarray  # int64
    domain: np.ndarray  # int32, index into the mix's domain list
    id_len: np.ndarray  # int64, UTF-8 bytes of doc_id
    val_rows: list[np.ndarray]  # per shard, rows going to validation
    val_tokens: int = 0


_POOL_DTYPES = {
    "shard": np.int32,
    "row": np.int64,
    "tokens": np.int64,
    "nbytes": np.int64,
    "domain": np.int32,
    "id_len": np.int64,
}


def plan_sources(spec: MixSpec) -> tuple[list[Pool], list[str]]:
    """Every source's pool, and the domain names in code order (shared by all sources, first seen first)."""
    domains: dict[str, int] = {}
    pools = [plan_source(source, spec.seed, spec.val_fraction, domains) for source in spec.sources]
    return pools, list(domains)  # codes are handed out in insertion order


def plan_source(source: SourceSpec, seed: int, val_fraction: float, domains: dict[str, int]) -> Pool:
    """Read one source's small columns a shard at a time; `domains` gains a code for every new domain name."""
    threshold = int(val_fraction * 2**64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _POOL_DTYPES}
    val_rows, val_tokens = [], 0
    for k, shard in enumerate(source.manifest["shards"]):
        table = pq.read_table(source.path / shard["file"], columns=["doc_id", "num_tokens", "num_bytes", "domain"])
        n = table.num_rows
        codes = np.empty(n, dtype=np.int32)
        start = 0
        for chunk in table.column("domain").chunks:  # each chunk may carry its own dictionary
            names = [d if d is not None else "other" for d in chunk.dictionary.to_pylist()]
            lookup = np.array([domains.setdefault(d, len(domains)) for d in names] or [0], dtype=np.int32)
            idx = chunk.indices.to_numpy(zero_copy_only=False)
            codes[start : start + len(chunk)] = lookup[idx.astype(np.int64)]
            start += len(chunk)
        keep = np.ones(n, dtype=bool)
        if source.domains is not None:
            keep = np.isin(codes, [domains[d] for d in source.domains if d in domains])
        doc_ids = table.column("doc_id").to_pylist()
        is_val = np.zeros(n, dtype=bool)
        if threshold:
            is_val = np.fromiter((_is_val(seed, d, threshold) for d in doc_ids), dtype=bool, count=n)
        is_val &= keep
        train = keep & ~is_val
        tokens = table.column("num_tokens").to_numpy().astype(np.int64)
        rows = np.arange(n, dtype=np.int64)
        val_rows.append(rows[is_val])
        val_tokens += int(tokens[is_val].sum())
        parts["shard"].append(np.full(int(train.sum()), k, dtype=np.int32))
        parts["row"].append(rows[train])
        parts["tokens"].append(tokens[train])
        parts["nbytes"].append(table.column("num_bytes").to_numpy().astype(np.int64)[train])
        parts["domain"].append(codes[train])
        parts["id_len"].append(pc.binary_length(table.column("doc_id")).to_numpy().astype(np.int64)[train])
    arrays = {k: np.concatenate(v) if v else np.zeros(0, dtype=_POOL_DTYPES[k]) for k, v in parts.items()}
    return Pool(val_rows=val_rows, val_tokens=val_tokens, **arrays)


def targets(weights: list[float], budget: int) -> list[int]:
    """weight / Σ weights × budget, rounded by largest remainder so the targets add up to the budget."""
    total = sum(weights)
    exact = [w / total * budget for w in weights]
    floors = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: budget - sum(floors)]:
        floors[i] += 1
    return floors


def _prefix(cumsum: np.ndarray, goal: float, hard_max: float) -> int:
    """How many documents of a cumulative-token array to take to land nearest `goal` without passing `hard_max`."""
    if goal <= 0 or len(cumsum) == 0:
        return 0
    k = int(np.searchsorted(cumsum, goal, side="left"))  # cumsum[k] >= goal: k + 1 documents reach the goal
    if k >= len(cumsum):
        return len(cumsum)
    below = float(cumsum[k - 1]) if k else 0.0
    over = float(cumsum[k])
    if over <= hard_max and over - goal < goal - below:
        return k + 1
    return k


def select(pool: Pool, target: int, cap: float, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Pool indices (with repetitions) of the rows this source contributes, and whether the cap bound it."""
    n = len(pool.tokens)
    size = int(pool.tokens.sum())
    if size == 0:
        return np.zeros(0, dtype=np.int64), target > 0
    allowed = cap * size
    capped = target > allowed
    limit = min(float(target), allowed)
    full = int(limit // size)
    order = rng.permutation(n)
    take = _prefix(np.cumsum(pool.tokens[order]), limit - full * size, allowed - full * size)
    return np.concatenate([np.tile(np.arange(n, dtype=np.int64), full), order[:take].astype(np.int64)]), capped


def select_all(spec: MixSpec, pools: list[Pool], goals: list[int]) -> tuple[list[np.ndarray], list[bool]]:
    """Every source's selection (`select`), each drawn from its own generator."""
    selections, capped = [], []
    for source, pool, target in zip(spec.sources, pools, goals):
        sel, cap_hit = select(pool, target, source.max_epochs, _rng(spec.seed, "select", source.name))
        selections.append(sel)
        capped.append(cap_hit)
    return selections, capped


@dataclass(frozen=True)
class TrainOrder:
    """The training rows in output order, and where each one's tokens and doc_id sit in the temporary files."""

    src: np.ndarray  # int16, index of the row's source
    idx: np.ndarray  # int64, index into that source's pool
    lengths: np.ndarray  # int64, tokens
    id_lengths: np.ndarray  # int64, UTF-8 bytes of doc_id
    tok_off: np.ndarray  # int64, first token's offset (in tokens)
    id_off: np.ndarray  # int64, doc_id's offset (in bytes)

    @property
    def total_tokens(self) -> int:
        return int(self.lengths.sum())

    @property
    def total_id_bytes(self) -> int:
        return int(self.id_lengths.sum())


def interleave(seed: int, pools: list[Pool], selections: list[np.ndarray]) -> TrainOrder:
    """One seeded order across all sources, so repeated documents are spread through the set, not grouped by epoch."""
    src = np.concatenate([np.full(len(sel), s, dtype=np.int16) for s, sel in enumerate(selections)])
    idx = np.concatenate(selections) if selections else np.zeros(0, dtype=np.int64)
    perm = _rng(seed, "interleave").permutation(len(src))
    out_src, out_idx = src[perm], idx[perm]
    del src, idx, perm
    lengths = np.zeros(len(out_src), dtype=np.int64)
    id_lengths = np.zeros(len(out_src), dtype=np.int64)
    for s, pool in enumerate(pools):
        mask = out_src == s
        lengths[mask] = pool.tokens[out_idx[mask]]
        id_lengths[mask] = pool.id_len[out_idx[mask]]
    tok_off = np.concatenate([[0], np.cumsum(lengths)])[:-1].astype(np.int64)
    id_off = np.concatenate([[0], np.cumsum(id_lengths)])[:-1].astype(np.int64)
    return TrainOrder(out_src, out_idx, lengths, id_lengths, tok_off, id_off)
