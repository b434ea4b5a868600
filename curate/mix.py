"""Mixing token directories into one training set: `curate mix MIX.yaml -o MIX_DIR`.

A mix file names token directories (see `curate.tokens`) with weights, a training token budget, an epoch cap and a
seed; `run_mix` writes MIX_DIR/train/ and MIX_DIR/val/ (each a token shard set with its manifest) and
MIX_DIR/mix_report.json. Same inputs + same mix file + same seed → byte-identical output (no timestamps, sorted
JSON keys, every random choice drawn from generators seeded by (seed, purpose, source name)).

```yaml
name: web-prose-code          # optional
seed: 0                       # int, default 0
token_budget: 1000000000      # training tokens (int > 0)
val_fraction: 0.01            # 0 <= x < 1, default 0.01
max_epochs: 4                 # default cap on repetitions (float >= 1), default 4
max_tokens_per_shard: 50000000  # optional, for the output shards
sources:
  - {name: web, tokens: ../runs/demo/tokens, weight: 0.6, domains: [wiki, news]}
  - {name: code, tokens: code-tokens, weight: 0.1, max_epochs: 2}
```

Semantics:
1. **Documents and validation.** A source's documents are the rows of its token directory whose `domain` is in
   its `domains` filter (all rows without a filter). Each document goes to validation when a hash of
   (seed, doc_id) falls below `val_fraction`, to the training pool otherwise, so a document is never in both. The
   source name is deliberately *not* hashed: a document reachable from two sources (the same directory listed twice
   with different filters, or a document copied into two directories) lands on the same side in both. Validation
   is written once, in input order (sources in file order, rows in manifest order), no upsampling or subsampling:
   about `val_fraction` of each source's documents, whatever the weights. Two sources may read the same
   directory only with disjoint domain filters (checked), so no document is counted twice.
2. **Targets.** A source's target is weight / Σ weights × token_budget (integer targets by largest remainder, so
   they add up to the budget exactly). Its pool is its training documents.
   - pool ≥ target: documents are taken in a seeded random order until the target is reached; the document that
     crosses the target is kept when that lands closer to it than stopping just before, so the error is at most
     half a document.
   - pool < target: the pool is repeated whole (floor(needed epochs) full passes) plus a partial pass drawn as
     above, up to the source's epoch cap (`max_epochs`, per source or the file's default).
   - pool × cap < target: the source contributes floor(cap) full passes plus a partial pass that never exceeds
     the cap (epochs used ≤ cap exactly) and the report marks it `capped: true` with its `shortfall_tokens`.
     **The shortfall is not redistributed** to the other sources: every uncapped source still gets its own target
     in tokens, the training set is smaller than the budget, and achieved shares are computed on what was
     achieved (so the uncapped sources' shares come out above their requested shares). Lower the budget or raise
     the cap to get the requested shares back.
3. **Order.** All training rows (with their repetitions) are put in one seeded random order across sources, so
   repeated documents are spread through the set rather than grouped by epoch.
4. **Report.** Per source: weight, requested share, achieved share of training tokens, pool documents and tokens,
   target, achieved tokens and rows, epochs used (achieved / pool), cap, capped, shortfall, tokens per domain,
   validation rows and tokens; per domain: achieved tokens, rows and share; totals; the seed; the validated spec.

Memory and disk. Planning reads only the small columns (doc_id, num_tokens, num_bytes, domain) one shard at a
time and keeps, per pool document, a few integers (shard, row, tokens, bytes, domain code, doc_id length) in
numpy arrays, and per training row its source, pool index and output offsets and lengths: about 40 bytes a
document plus 50 a training row, never a token list. The tokens then move in two passes: (a) scatter: each input
shard is read once, one row group at a time, and every selected row (each of its repetitions) is written at its
final offset into flat temporary files (MIX_DIR/.mix-tmp/: int32 tokens and doc_id bytes; removed at the end);
(b) those files are read front to back in bounded chunks and fed to `ShardWriter`. Cost: temporary disk the size
of the training set (4 bytes a token) written at scattered offsets, and one extra read of it; in exchange every
input row group is read exactly once whatever the interleaving, and memory stays at one row group + one chunk +
one output row group + the index arrays. (Gathering rows per output window instead needs no temporary file, but
a random interleave touches every input shard in every window, so it re-reads all inputs once per window.)

Byte-identical means: the same mix file, the same input directories and the same pyarrow version (Parquet files
record the writer's version).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.config import ConfigError, check_top_level, load_yaml
from curate.pipeline import RunError, remove_outputs
from curate.tokens import DEFAULT_MAX_TOKENS_PER_SHARD, ShardWriter, TokenizerInfo, read_manifest

REPORT = "mix_report.json"
TMP = ".mix-tmp"
TOP_KEYS = ("name", "seed", "token_budget", "val_fraction", "max_epochs", "max_tokens_per_shard", "sources")
SOURCE_KEYS = ("name", "tokens", "weight", "domains", "max_epochs")
READ_CHUNK_TOKENS = 4_000_000  # tokens per read of the temporary file in the final pass


@dataclass(frozen=True)
class SourceSpec:
    name: str
    tokens: str  # as written in the mix file
    path: Path  # resolved against the mix file's folder
    weight: float
    domains: tuple[str, ...] | None
    max_epochs: float  # the effective cap (the source's own or the file's default)
    manifest: dict = field(compare=False, repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "tokens": self.tokens,
            "weight": self.weight,
            "domains": list(self.domains) if self.domains is not None else None,
            "max_epochs": self.max_epochs,
        }


@dataclass(frozen=True)
class MixSpec:
    path: str
    name: str | None
    seed: int
    token_budget: int
    val_fraction: float
    max_epochs: float
    max_tokens_per_shard: int
    sources: tuple[SourceSpec, ...]
    tokenizer: TokenizerInfo

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "token_budget": self.token_budget,
            "val_fraction": self.val_fraction,
            "max_epochs": self.max_epochs,
            "max_tokens_per_shard": self.max_tokens_per_shard,
            "tokenizer_sha256": self.tokenizer.sha256,
            "sources": [s.to_dict() for s in self.sources],
        }


# ---------------------------------------------------------------------------------------------------- the spec


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_number(value: Any, where: str) -> float:
    if not _is_number(value) or value <= 0:
        raise ConfigError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def _epochs(value: Any, where: str) -> float:
    if not _is_number(value) or value < 1:
        raise ConfigError(f"{where}: expected a number >= 1, got {value!r}")
    return float(value)


def _positive_int(value: Any, where: str) -> int:
    if not _is_int(value) or value <= 0:
        raise ConfigError(f"{where}: expected a positive integer, got {value!r}")
    return value


def load_spec(path: str | Path) -> MixSpec:
    """Read and validate a mix file whole (keys, types, token directories, tokenizers) before anything runs."""
    return parse_spec(load_yaml(path, "mix"), str(path), Path(path).resolve().parent)


def parse_spec(data: Any, path: str, base: Path) -> MixSpec:
    """Validate a loaded mix document; relative token paths resolve against `base`."""
    check_top_level(data, TOP_KEYS, path)
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: name: expected a string, got {name!r}")
    seed = data.get("seed", 0)
    if not _is_int(seed):
        raise ConfigError(f"{path}: seed: expected an integer, got {seed!r}")
    if "token_budget" not in data:
        raise ConfigError(f"{path}: token_budget: missing; expected a positive integer (training tokens)")
    budget = _positive_int(data["token_budget"], f"{path}: token_budget")
    val_fraction = data.get("val_fraction", 0.01)
    if not _is_number(val_fraction) or not 0 <= val_fraction < 1:
        raise ConfigError(f"{path}: val_fraction: expected a number with 0 <= x < 1, got {val_fraction!r}")
    default_epochs = _epochs(data.get("max_epochs", 4), f"{path}: max_epochs")
    max_shard = data.get("max_tokens_per_shard")
    max_shard = (
        DEFAULT_MAX_TOKENS_PER_SHARD if max_shard is None else _positive_int(max_shard, f"{path}: max_tokens_per_shard")
    )

    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(f"{path}: sources: expected a non-empty list of sources, got {raw_sources!r}")
    sources: list[SourceSpec] = []
    for i, entry in enumerate(raw_sources):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with keys {', '.join(SOURCE_KEYS)}, got {entry!r}")
        for key in entry:
            if key not in SOURCE_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(SOURCE_KEYS)}")
        for key in ("name", "tokens", "weight"):
            if key not in entry:
                raise ConfigError(f"{where}.{key}: missing")
        src_name = entry["name"]
        if not isinstance(src_name, str) or not src_name.strip():
            raise ConfigError(f"{where}.name: expected a non-empty string, got {src_name!r}")
        if any(s.name == src_name for s in sources):
            raise ConfigError(f"{where}.name: {src_name!r} is already the name of another source")
        tokens = entry["tokens"]
        if not isinstance(tokens, str) or not tokens:
            raise ConfigError(f"{where}.tokens: expected a path to a token directory, got {tokens!r}")
        weight = _positive_number(entry["weight"], f"{where}.weight")
        domains = entry.get("domains")
        if domains is not None:
            if not isinstance(domains, list) or not domains or not all(isinstance(d, str) and d for d in domains):
                raise ConfigError(f"{where}.domains: expected a non-empty list of domain names, got {domains!r}")
            domains = tuple(sorted(set(domains)))
        epochs = (
            default_epochs if entry.get("max_epochs") is None else _epochs(entry["max_epochs"], f"{where}.max_epochs")
        )
        src_path = (base / tokens).resolve()
        try:
            manifest = read_manifest(src_path)
        except FileNotFoundError:
            raise ConfigError(
                f"{where}.tokens: no manifest.json in {src_path} (not a token directory made by curate)"
            ) from None
        except (OSError, ValueError) as err:
            raise ConfigError(f"{where}.tokens: {src_path}: unreadable manifest: {err}") from None
        if domains is not None:
            present = manifest.get("totals", {}).get("domains", {})
            missing = [d for d in domains if d not in present]
            if missing:
                raise ConfigError(
                    f"{where}.domains: {', '.join(missing)} not in {tokens} "
                    f"(it has: {', '.join(sorted(present)) or 'none'})"
                )
        source = SourceSpec(src_name, tokens, src_path, weight, domains, epochs, manifest)
        for j, other in enumerate(sources):
            if other.path == src_path and (
                other.domains is None or domains is None or set(other.domains) & set(domains)
            ):
                raise ConfigError(
                    f"{where}.domains: overlaps sources[{j}] ({other.name}), which reads the same "
                    "documents from the same token directory; give them disjoint domain filters"
                )
        sources.append(source)

    first = sources[0]
    tokenizer = TokenizerInfo.from_dict(first.manifest["tokenizer"])
    for i, source in enumerate(sources[1:], 1):
        sha = source.manifest["tokenizer"]["sha256"]
        if sha != tokenizer.sha256:
            raise ConfigError(
                f"{path}: sources[{i}].tokens: source {source.name!r} was tokenized with tokenizer "
                f"sha256 {sha[:12]}…, source {first.name!r} with {tokenizer.sha256[:12]}…; "
                "all sources must share one tokenizer"
            )
    return MixSpec(path, name, seed, budget, float(val_fraction), default_epochs, max_shard, tuple(sources), tokenizer)


# ---------------------------------------------------------------------------------------------------- planning


def _rng(seed: int, *purpose: str) -> np.random.Generator:
    digest = hashlib.blake2b("\x00".join([str(seed), *purpose]).encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(digest, "big"))))


def _is_val(seed: int, doc_id: str, threshold: int) -> bool:
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < threshold


@dataclass
class _Pool:
    """One source's documents after the domain filter: training pool arrays + validation row indices per shard."""

    shard: np.ndarray  # int32, index into the manifest's shards
    row: np.ndarray  # int64, row within the shard
    tokens: np.ndarray  # int64
    nbytes: np.ndarray  # int64
    domain: np.ndarray  # int32, index into the mix's domain list
    id_len: np.ndarray  # int64, UTF-8 bytes of doc_id
    val_rows: list[np.ndarray]  # per shard, rows going to validation
    val_tokens: int = 0


def _plan_source(source: SourceSpec, seed: int, val_fraction: float, domains: dict[str, int]) -> _Pool:
    threshold = int(val_fraction * 2**64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("shard", "row", "tokens", "nbytes", "domain", "id_len")}
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
    dtypes = {
        "shard": np.int32,
        "row": np.int64,
        "tokens": np.int64,
        "nbytes": np.int64,
        "domain": np.int32,
        "id_len": np.int64,
    }
    arrays = {k: np.concatenate(v) if v else np.zeros(0, dtype=dtypes[k]) for k, v in parts.items()}
    return _Pool(val_rows=val_rows, val_tokens=val_tokens, **arrays)


def _targets(weights: list[float], budget: int) -> list[int]:
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


def _select(pool: _Pool, target: int, cap: float, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
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


# ---------------------------------------------------------------------------------------------------- writing


def _prepare_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RunError(f"-o {out}: is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise RunError(f"-o {out}: is not empty; pass --overwrite or choose another folder")
        remove_outputs(out, ("train", "val", TMP, REPORT))
        if any(out.iterdir()):
            left = ", ".join(sorted(p.name for p in out.iterdir()))
            raise RunError(f"-o {out}: holds files a mix does not write ({left}); choose another folder")
    out.mkdir(parents=True, exist_ok=True)


def _row_groups(pf: pq.ParquetFile) -> np.ndarray:
    """First row of every row group, plus the total, as boundaries."""
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


def _write_val(spec: MixSpec, pools: list[_Pool], writer: ShardWriter) -> None:
    for source, pool in zip(spec.sources, pools):
        for k, shard in enumerate(source.manifest["shards"]):
            rows = pool.val_rows[k]
            if not len(rows):
                continue
            pf = pq.ParquetFile(source.path / shard["file"])
            bounds = _row_groups(pf)
            for g in range(len(bounds) - 1):
                local = rows[(rows >= bounds[g]) & (rows < bounds[g + 1])] - bounds[g]
                if not len(local):
                    continue
                table = pf.read_row_group(g).take(local)
                for rec in table.to_pylist():
                    writer.write(rec["input_ids"], rec["num_bytes"], rec["doc_id"], rec["domain"])


def _scatter(
    spec: MixSpec,
    pools: list[_Pool],
    out_src: np.ndarray,
    out_idx: np.ndarray,
    tok_off: np.ndarray,
    id_off: np.ndarray,
    tok_file: Path,
    id_file: Path,
) -> None:
    """Write every training row's tokens and doc_id at its final offset, reading each input row group once."""
    with open(tok_file, "r+b", buffering=0) as ftok, open(id_file, "r+b", buffering=0) as fid:
        for s, (source, pool) in enumerate(zip(spec.sources, pools)):
            positions = np.flatnonzero(out_src == s)
            if not len(positions):
                continue
            idx = out_idx[positions]
            shard_of = pool.shard[idx]
            row_of = pool.row[idx]
            order = np.lexsort((row_of, shard_of))  # group by shard, then row
            positions, shard_of, row_of, idx = positions[order], shard_of[order], row_of[order], idx[order]
            for k in np.unique(shard_of):
                in_shard = shard_of == k
                pos_k, row_k, idx_k = positions[in_shard], row_of[in_shard], idx[in_shard]
                pf = pq.ParquetFile(source.path / source.manifest["shards"][int(k)]["file"])
                bounds = _row_groups(pf)
                for g in range(len(bounds) - 1):
                    lo, hi = np.searchsorted(row_k, [bounds[g], bounds[g + 1]])
                    if lo == hi:
                        continue
                    table = pf.read_row_group(g, columns=["input_ids", "doc_id"])
                    ids = table.column("input_ids").combine_chunks()
                    offsets = ids.offsets.to_numpy()
                    values = ids.values.to_numpy()
                    doc_ids = table.column("doc_id").to_pylist()
                    for p, r, i in zip(pos_k[lo:hi], row_k[lo:hi] - bounds[g], idx_k[lo:hi]):
                        a, b = int(offsets[r]), int(offsets[r + 1])
                        if b - a != pool.tokens[i]:
                            raise RunError(
                                f"{source.path / source.manifest['shards'][int(k)]['file']}: row {r} "
                                f"has {b - a} tokens, num_tokens says {pool.tokens[i]}"
                            )
                        ftok.seek(int(tok_off[p]) * 4)
                        ftok.write(values[a:b].astype("<i4", copy=False).tobytes())
                        fid.seek(int(id_off[p]))
                        fid.write(doc_ids[r].encode("utf-8"))


def _write_train(
    writer: ShardWriter,
    out_src: np.ndarray,
    out_idx: np.ndarray,
    pools: list[_Pool],
    domain_names: list[str],
    offsets: tuple[np.ndarray, ...],
    tok_file: Path,
    id_file: Path,
) -> None:
    """Read the temporary files front to back in bounded chunks and write the rows in their final order."""
    n = len(out_src)
    tok_off, lengths, id_off, id_lengths = offsets
    with open(tok_file, "rb") as ftok, open(id_file, "rb") as fid:
        start = 0
        while start < n:
            stop = int(np.searchsorted(tok_off, tok_off[start] + READ_CHUNK_TOKENS, side="left"))
            stop = min(max(stop, start + 1), n)
            t0 = int(tok_off[start])
            ftok.seek(t0 * 4)
            t1 = int(tok_off[stop - 1] + lengths[stop - 1])
            tokens = np.frombuffer(ftok.read((t1 - t0) * 4), dtype="<i4")
            i0, i1 = int(id_off[start]), int(id_off[stop - 1] + id_lengths[stop - 1])
            fid.seek(i0)
            id_bytes = fid.read(i1 - i0)
            for p in range(start, stop):
                pool = pools[out_src[p]]
                i = out_idx[p]
                a = int(tok_off[p]) - t0
                b = int(id_off[p]) - i0
                writer.write(
                    tokens[a : a + lengths[p]].tolist(),
                    int(pool.nbytes[i]),
                    id_bytes[b : b + id_lengths[p]].decode("utf-8"),
                    domain_names[pool.domain[i]],
                )
            start = stop


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def run_mix(spec_path: str | Path, out_dir: str | Path, overwrite: bool = False) -> dict:
    """Mix the sources of a mix file into out_dir/train, out_dir/val and out_dir/mix_report.json; returns the report."""
    spec = load_spec(spec_path)
    out = Path(out_dir)
    _prepare_output(out, overwrite)

    domains: dict[str, int] = {}
    pools = [_plan_source(source, spec.seed, spec.val_fraction, domains) for source in spec.sources]
    domain_names = sorted(domains, key=domains.get)

    with ShardWriter(out / "val", spec.tokenizer, spec.max_tokens_per_shard) as val_writer:
        _write_val(spec, pools, val_writer)
    val_manifest = read_manifest(out / "val")

    targets = _targets([s.weight for s in spec.sources], spec.token_budget)
    selections, capped = [], []
    for source, pool, target in zip(spec.sources, pools, targets):
        sel, cap_hit = _select(pool, target, source.max_epochs, _rng(spec.seed, "select", source.name))
        selections.append(sel)
        capped.append(cap_hit)

    src = np.concatenate([np.full(len(sel), s, dtype=np.int16) for s, sel in enumerate(selections)])
    idx = np.concatenate(selections) if selections else np.zeros(0, dtype=np.int64)
    perm = _rng(spec.seed, "interleave").permutation(len(src))
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
    total_tokens, total_id_bytes = int(lengths.sum()), int(id_lengths.sum())

    tmp = out / TMP
    tmp.mkdir(exist_ok=True)
    try:
        tok_file, id_file = tmp / "tokens.i32", tmp / "doc_ids.bin"
        for file, size in ((tok_file, total_tokens * 4), (id_file, total_id_bytes)):
            with open(file, "wb") as f:
                f.truncate(size)
        _scatter(spec, pools, out_src, out_idx, tok_off, id_off, tok_file, id_file)
        with ShardWriter(out / "train", spec.tokenizer, spec.max_tokens_per_shard) as train_writer:
            _write_train(
                train_writer,
                out_src,
                out_idx,
                pools,
                domain_names,
                (tok_off, lengths, id_off, id_lengths),
                tok_file,
                id_file,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    train_manifest = read_manifest(out / "train")

    report = _report(spec, pools, selections, capped, targets, domain_names, train_manifest, val_manifest)
    (out / REPORT).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _report(
    spec: MixSpec,
    pools: list[_Pool],
    selections: list[np.ndarray],
    capped: list[bool],
    targets: list[int],
    domain_names: list[str],
    train: dict,
    val: dict,
) -> dict:
    achieved_total = train["totals"]["tokens"]
    weight_total = sum(s.weight for s in spec.sources)
    sources = {}
    for source, pool, sel, cap_hit, target in zip(spec.sources, pools, selections, capped, targets):
        pool_tokens = int(pool.tokens.sum())
        achieved = int(pool.tokens[sel].sum())
        per_domain = np.bincount(pool.domain[sel], weights=pool.tokens[sel], minlength=len(domain_names))
        sources[source.name] = {
            "tokens": source.tokens,
            "domains_filter": list(source.domains) if source.domains is not None else None,
            "weight": source.weight,
            "requested_share": round(source.weight / weight_total, 6),
            "achieved_share": _share(achieved, achieved_total),
            "pool_documents": len(pool.tokens),
            "pool_tokens": pool_tokens,
            "target_tokens": target,
            "achieved_tokens": achieved,
            "achieved_rows": len(sel),
            "unique_documents": len(np.unique(sel)),
            "epochs": round(achieved / pool_tokens, 6) if pool_tokens else 0.0,
            "max_epochs": source.max_epochs,
            "capped": cap_hit,
            "shortfall_tokens": max(target - achieved, 0) if cap_hit else 0,
            "domains": {domain_names[d]: int(t) for d, t in enumerate(per_domain) if t},
            "val_rows": int(sum(len(r) for r in pool.val_rows)),
            "val_tokens": pool.val_tokens,
        }
    domains = {
        name: {
            "achieved_tokens": counts["tokens"],
            "rows": counts["rows"],
            "achieved_share": _share(counts["tokens"], achieved_total),
        }
        for name, counts in train["totals"]["domains"].items()
    }
    train_docs = sum(len(p.tokens) for p in pools)
    val_rows = val["totals"]["rows"]
    return {
        "format": "curate-mix-report/1",
        "name": spec.name,
        "seed": spec.seed,
        "spec": spec.to_dict(),
        "shortfall_policy": "not redistributed: a capped source's missing tokens are left out, so the training "
        "set is smaller than the budget and shares are of the achieved total",
        "sources": sources,
        "domains": domains,
        "totals": {
            "token_budget": spec.token_budget,
            "train_tokens": achieved_total,
            "train_rows": train["totals"]["rows"],
            "train_shards": len(train["shards"]),
            "shortfall_tokens": max(spec.token_budget - achieved_total, 0),
            "val_tokens": val["totals"]["tokens"],
            "val_rows": val_rows,
            "val_shards": len(val["shards"]),
            "val_fraction_requested": spec.val_fraction,
            "val_fraction_achieved": _share(val_rows, val_rows + train_docs),
        },
    }
