"""Token shards in, fixed-length training sequences out; and the fixed held-out eval set.

Training stream. The unit of reading is one Parquet row group of one shard (bounded by the writer, ~2M tokens):
only the unit being read (and the next, at a boundary) is in memory. Each epoch visits the units of all train dirs
in an order drawn from (seed, epoch), and the documents of a unit in an order drawn from (seed, epoch, unit). The
documents (each ends with EOS) are concatenated and cut into sequences of seq_len + 1 tokens that overlap by one
token (inputs = seq[:-1], targets = seq[1:]), so every token is a target exactly once. Sequence k of the global
stream goes to rank k mod world_size: ranks never share a sequence. The stream position (epoch, unit, row, offset,
k) is the state saved in checkpoints; restoring it continues with the next unseen sequence. Every rank walks the
whole stream (decoding is far cheaper than training) and keeps its own share, so all ranks hold the same state.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

META = "curate.tokenizer_sha256"


class DataError(ValueError):
    pass


def read_manifest(tokens_dir: str) -> dict:
    path = Path(tokens_dir) / "manifest.json"
    if not path.is_file():
        raise DataError(f"{tokens_dir}: no manifest.json (not a token directory)")
    return json.loads(path.read_text())


def check_tokenizers(dirs: dict[str, str]) -> dict:
    """The tokenizer {sha256, vocab_size, eos_id} shared by all dirs ({label: dir}); a mismatch is an error."""
    first: tuple[str, str, dict] | None = None
    for label, d in dirs.items():
        tok = read_manifest(d)["tokenizer"]
        if first is None:
            first = (label, d, tok)
        elif tok["sha256"] != first[2]["sha256"]:
            raise DataError(
                f"{label} ({d}) was tokenized with tokenizer sha256 {tok['sha256'][:12]}…, "
                f"{first[0]} ({first[1]}) with {first[2]['sha256'][:12]}…: refusing to mix them"
            )
    if first is None:
        raise DataError("no token directories given")
    return {"sha256": first[2]["sha256"], "vocab_size": int(first[2]["vocab_size"]), "eos_id": int(first[2]["eos_id"])}


def _shard_paths(tokens_dir: str, sha256: str) -> list[Path]:
    paths = []
    for shard in read_manifest(tokens_dir)["shards"]:
        path = Path(tokens_dir) / shard["file"]
        meta = pq.read_schema(path).metadata or {}
        found = meta.get(META.encode(), b"").decode()
        if found and found != sha256:
            raise DataError(f"{path}: tokenizer sha256 {found[:12]}… differs from its manifest's")
        paths.append(path)
    return paths


def _read_group(path: Path, group: int, columns: list[str]):
    return pq.ParquetFile(path, pre_buffer=False).read_row_group(group, columns=columns)


def _list_column(table, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = table.column(name).combine_chunks()
    offsets = arr.offsets.to_numpy().astype(np.int64)
    values = arr.flatten().to_numpy()
    return values, offsets - offsets[0]


class TrainStream:
    def __init__(self, dirs: list[str], sha256: str, seq_len: int, seed: int, rank: int = 0, world: int = 1):
        self.units: list[tuple[Path, int]] = []
        for d in dirs:
            for path in _shard_paths(d, sha256):
                meta = pq.ParquetFile(path).metadata
                self.units += [(path, g) for g in range(meta.num_row_groups) if meta.row_group(g).num_rows]
        if not self.units:
            raise DataError(f"no training tokens in {', '.join(dirs)}")
        self.seq_len, self.seed, self.rank, self.world = seq_len, seed, rank, world
        self.epoch = self.unit = self.row = self.offset = self.seq_index = 0
        self._cache: OrderedDict = OrderedDict()
        self._orders: dict[int, np.ndarray] = {}
        self.last_indices: list[int] = []

    # --- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "unit": self.unit,
            "row": self.row,
            "offset": self.offset,
            "seq_index": self.seq_index,
            "seed": self.seed,
            "units": len(self.units),
        }

    def load_state_dict(self, state: dict) -> None:
        if state["units"] != len(self.units) or state["seed"] != self.seed:
            raise DataError("the checkpoint's data state was made for other training data or another seed")
        self.epoch, self.unit, self.row = state["epoch"], state["unit"], state["row"]
        self.offset, self.seq_index = state["offset"], state["seq_index"]

    # --- reading ---------------------------------------------------------------------------------------------
    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.units))}
        return self._orders[epoch]

    def _load(self, epoch: int, unit: int):
        key = (epoch, unit)
        if key not in self._cache:
            index = int(self._order(epoch)[unit])
            path, group = self.units[index]
            values, offsets = _list_column(_read_group(path, group, ["input_ids"]), "input_ids")
            perm = np.random.default_rng([self.seed, epoch, index]).permutation(len(offsets) - 1)
            self._cache[key] = (values, offsets, perm)
            while len(self._cache) > 2:
                self._cache.popitem(last=False)
        return self._cache[key]

    def _next_sequence(self) -> np.ndarray:
        """The next seq_len + 1 tokens of the global stream; the position advances by seq_len."""
        want, advance = self.seq_len + 1, self.seq_len
        e, u, r, o = self.epoch, self.unit, self.row, self.offset
        pieces, got = [], 0
        after: tuple[int, int, int, int] | None = None  # the position seq_len tokens on: the next sequence's start
        while got < want:
            if u >= len(self.units):
                e, u, r, o = e + 1, 0, 0, 0
                continue
            values, offsets, perm = self._load(e, u)
            if r >= len(perm):
                u, r, o = u + 1, 0, 0
                continue
            row = perm[r]
            start, end = offsets[row] + o, offsets[row + 1]
            avail = int(end - start)
            if after is None and got + avail >= advance:
                after = (e, u, r, o + advance - got)
            take = min(avail, want - got)
            pieces.append(values[start : start + take])
            got += take
            if take == avail:
                r, o = r + 1, 0
            else:
                o += take
        assert after is not None  # got reached seq_len + 1 > seq_len on the way
        self.epoch, self.unit, self.row, self.offset = after
        self.seq_index += 1
        return np.concatenate(pieces)

    def next_batch(self, n: int) -> np.ndarray:
        """This rank's next n sequences, (n, seq_len + 1) int64; their global indices land in last_indices."""
        rows: list[np.ndarray] = []
        self.last_indices = []
        while len(rows) < n:
            k = self.seq_index
            seq = self._next_sequence()
            if k % self.world == self.rank:
                rows.append(seq)
                self.last_indices.append(k)
        return np.stack(rows).astype(np.int64)


class EvalSet:
    """The first documents of a token dir, in manifest order, up to `max_tokens` (whole documents; at least one).

    The documents are concatenated after one leading EOS and cut into windows of seq_len inputs / seq_len targets
    (the next window starts where this one's targets end), so each document token, its EOS included, is predicted
    exactly once; the leading EOS stands for the end of the previous document. Loss = mean NLL per predicted token
    (EOS included); bits per byte = sum of NLL / (ln 2 · sum of the documents' UTF-8 bytes): the EOS predictions
    count in the numerator while EOS adds no bytes, as the document boundary is information the model must spend
    bits on. Same documents, same windows at every evaluation.
    """

    def __init__(self, name: str, tokens_dir: str, sha256: str, eos_id: int, seq_len: int, max_tokens: int):
        self.name, self.seq_len = name, seq_len
        ids, doms, domain_names, bytes_per_domain = [], [], [], []
        total = docs = 0
        for path in _shard_paths(tokens_dir, sha256):
            parquet = pq.ParquetFile(path, pre_buffer=False)
            for g in range(parquet.num_row_groups):
                table = parquet.read_row_group(g, columns=["input_ids", "num_bytes", "domain"])
                values, offsets = _list_column(table, "input_ids")
                nbytes = table.column("num_bytes").to_numpy()
                domains = table.column("domain").to_pylist()
                for i in range(len(nbytes)):
                    n = int(offsets[i + 1] - offsets[i])
                    if docs and total + n > max_tokens:
                        break
                    dom = domains[i] or "other"
                    if dom not in domain_names:
                        domain_names.append(dom)
                        bytes_per_domain.append(0)
                    d = domain_names.index(dom)
                    ids.append(values[offsets[i] : offsets[i + 1]])
                    doms.append(np.full(n, d, dtype=np.int64))
                    bytes_per_domain[d] += int(nbytes[i])
                    total += n
                    docs += 1
                else:
                    continue
                break
            else:
                continue
            break
        if not docs:
            raise DataError(f"eval set {name} ({tokens_dir}) has no documents")
        stream = np.concatenate([[eos_id], *ids]).astype(np.int64)
        target_domain = np.concatenate(doms)
        n_win = -(-total // seq_len)
        self.inputs = np.full((n_win, seq_len), eos_id, dtype=np.int64)
        self.targets = np.full((n_win, seq_len), -1, dtype=np.int64)
        self.domain = np.zeros((n_win, seq_len), dtype=np.int64)
        flat_in, flat_tgt, flat_dom = self.inputs.reshape(-1), self.targets.reshape(-1), self.domain.reshape(-1)
        flat_in[:total] = stream[:-1]
        flat_tgt[:total] = stream[1:]
        flat_dom[:total] = target_domain
        self.domains, self.bytes = domain_names, np.array(bytes_per_domain, dtype=np.int64)
        self.tokens, self.docs = total, docs
