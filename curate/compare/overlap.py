"""The scan behind `leakage.py`: n-grams of token-directory documents (decoded words or token ids), the eval sets'
index, and one streaming pass over a training directory that finds every training document overlapping an eval
document (the `decontaminate` stage's rule). See leakage.py's docstring for the rule, the units and the speed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.stages.decontaminate import EvalIndex, containments, index_grams
from curate.tokens import MANIFEST, read_manifest

FORMAT = "curate-leakage/1"
DECONTAMINATE_FORMAT = "curate-decontaminate-tokens/1"
STAMP = "decontaminate.json"  # in the output dir: the inputs' key and the summary, written last
REJECTED = "rejected.jsonl"
REASON = "eval_overlap"
DEFAULT_EXAMPLES = 5
_BATCH_CHARS = 1_000_000  # characters shingled at once: bounds the hasher's scratch arrays
# the token-id unit's hash constants (odd; from splitmix64, like the MinHash stage's)
_TOKEN_SEED = 0x9E3779B97F4A7C15


def manifest_sha(tokens_dir: str | Path) -> str:
    return hashlib.sha256((Path(tokens_dir) / MANIFEST).read_bytes()).hexdigest()


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


class _Grams:
    """Documents' token ids → their n-gram hashes: word n-grams of the decoded text (the stage's), or token-id
    n-grams when no tokenizer file is given."""

    def __init__(self, tokenizer: str | Path | None, sha256: str, n_grams: int):
        self.n = n_grams
        self.unit = "words" if tokenizer else "token ids"
        self.tokenizer_path = str(tokenizer) if tokenizer else None
        self._tok: Any = None
        if tokenizer:
            from curate.dedup.minhash import MinHasher
            from curate.tokens import load_tokenizer

            self._tok, info = load_tokenizer(tokenizer)
            if info.sha256 != sha256:
                raise ValueError(
                    f"{tokenizer}: sha256 {info.sha256[:12]}… is not the token directories' tokenizer ({sha256[:12]}…)"
                )
            self._hasher = MinHasher(n_grams=n_grams)
        mults = []
        state = _TOKEN_SEED
        for _ in range(n_grams):
            state = (state + 0x9E3779B97F4A7C15) % 2**64
            mults.append(np.uint64(int(_mix64(np.array([state], np.uint64))[0]) | 1))
        self._mults = mults

    def __call__(self, values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hashes concatenated, offsets per document) for documents values[offsets[d]:offsets[d + 1]] (no EOS)."""
        if self._tok is not None:
            return self._words(values, offsets)
        return self._token_ids(values, offsets)

    def _words(self, values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lists = [values[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
        texts = self._tok.decode_batch(lists, skip_special_tokens=False)
        hashes: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        start = 0
        while start < len(texts):  # batches of about _BATCH_CHARS, as MinHasher.signatures does
            stop, chars = start + 1, len(texts[start])
            while stop < len(texts) and chars + len(texts[stop]) <= _BATCH_CHARS:
                chars += len(texts[stop]) + 1
                stop += 1
            # the hasher's batch path (one numpy pass over many texts); its results do not depend on the batching
            h, o = self._hasher._batch_shingles(texts[start:stop])
            hashes.append(h.copy())
            counts.append(np.diff(o))
            start = stop
        out = np.zeros(len(texts) + 1, dtype=np.int64)
        if texts:
            np.cumsum(np.concatenate(counts), out=out[1:])
        return (np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)), out

    def _token_ids(self, values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every n consecutive token ids of a document (one n-gram of all its ids when it has fewer than n)."""
        n, total = self.n, len(values)
        lengths = np.diff(offsets)
        words = _mix64(values.astype(np.uint64) + np.uint64(1))
        end = np.repeat(offsets[1:], lengths)  # each position's document end
        padded = np.concatenate([words, np.zeros(n - 1, dtype=np.uint64)])
        position = np.arange(total, dtype=np.int64)
        with np.errstate(over="ignore"):
            grams = words * self._mults[0]
            for k in range(1, n):
                grams += np.where(position + k < end, padded[k : k + total], np.uint64(0)) * self._mults[k]
        counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
        keep = position - np.repeat(offsets[:-1], lengths) < np.repeat(counts, lengths)
        out = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(counts, out=out[1:])
        return _mix64(grams[keep]), out


def _documents(tokens_dir: Path, eos_id: int, columns: list[str]) -> Iterator[tuple[pa.Table, np.ndarray, np.ndarray]]:
    """Per row group, in manifest order: (its rows of `columns`, the token ids without the trailing EOS flattened,
    their offsets per document)."""
    for shard in read_manifest(tokens_dir)["shards"]:
        parquet = pq.ParquetFile(tokens_dir / shard["file"], pre_buffer=False)
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=columns)
            ids = table.column("input_ids").combine_chunks()
            offsets = ids.offsets.to_numpy().astype(np.int64)
            values = ids.values.to_numpy()[offsets[0] : offsets[-1]]
            offsets -= offsets[0]
            ends = offsets[1:]
            eos = (np.diff(offsets) > 0) & (values[np.maximum(ends - 1, 0)] == eos_id) if len(values) else ends < 0
            keep = np.ones(len(values), dtype=bool)
            keep[ends[eos] - 1] = False
            new = np.zeros_like(offsets)
            np.cumsum(np.diff(offsets) - eos, out=new[1:])
            yield table, values[keep], new


def _exact_key(values: np.ndarray) -> bytes:
    return hashlib.blake2b(values.astype("<i4", copy=False).tobytes(), digest_size=16).digest()


@dataclass
class _EvalSet:
    name: str
    path: str
    manifest_sha256: str
    ids: list[str]  # eval document ids (doc_id, or "row N" when empty), by eval row
    index: EvalIndex
    exact: dict[bytes, list[int]]  # token ids' digest → the eval rows with those token ids
    contaminated: np.ndarray = field(init=False)  # per eval document: some training document holds it
    exact_hit: np.ndarray = field(init=False)  # per eval document: some training document is identical to it
    train_documents: int = 0
    train_tokens: int = 0
    exact_train_documents: int = 0
    examples: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.contaminated = np.zeros(len(self.ids), dtype=bool)
        self.exact_hit = np.zeros(len(self.ids), dtype=bool)


def _load_eval(name: str, path: str, eos_id: int, grams: _Grams) -> _EvalSet:
    ids: list[str] = []
    parts: list[np.ndarray] = []
    exact: dict[bytes, list[int]] = {}
    for table, values, offsets in _documents(Path(path), eos_id, ["input_ids", "doc_id"]):
        hashes, hoff = grams(values, offsets)
        for i, doc_id in enumerate(table.column("doc_id").to_pylist()):
            row = len(ids)
            ids.append(doc_id or f"row {row}")
            parts.append(hashes[hoff[i] : hoff[i + 1]])
            if offsets[i + 1] > offsets[i]:
                exact.setdefault(_exact_key(values[offsets[i] : offsets[i + 1]]), []).append(row)
    if not ids:
        raise ValueError(f"eval set {name} ({path}) has no documents")
    return _EvalSet(name, str(path), manifest_sha(path), ids, index_grams(parts, ids), exact)


def _check(train_dir: Path, evals: dict[str, str], n_grams: int, threshold: float) -> dict:
    if not evals:
        raise ValueError("no eval sets given")
    if n_grams < 1:
        raise ValueError(f"n_grams must be at least 1, got {n_grams}")
    if not 0 < threshold <= 1:
        raise ValueError(f"expected 0 < threshold <= 1, got {threshold}")
    manifest = read_manifest(train_dir)
    sha = manifest["tokenizer"]["sha256"]
    for name, path in evals.items():
        other = read_manifest(path)["tokenizer"]["sha256"]
        if other != sha:
            raise ValueError(f"eval set {name} ({path}): tokenizer sha256 {other[:12]}… differs from {train_dir}'s")
    return manifest


class Scan:
    """One pass over a training token directory against the eval sets: the leakage report, and per row group which
    rows overlap (for decontaminate_tokens)."""

    def __init__(
        self,
        train_dir: str | Path,
        evals: dict[str, str],
        tokenizer: str | Path | None,
        n_grams: int,
        threshold: float,
        examples: int,
    ):
        self.train_dir = Path(train_dir)
        self.manifest = _check(self.train_dir, evals, n_grams, threshold)
        self.eos_id = int(self.manifest["tokenizer"]["eos_id"])
        self.threshold, self.max_examples = threshold, examples
        self.grams = _Grams(tokenizer, self.manifest["tokenizer"]["sha256"], n_grams)
        self.sets = [_load_eval(name, path, self.eos_id, self.grams) for name, path in evals.items()]
        self.documents = self.tokens = self.overlapping = self.overlapping_tokens = 0
        self.seconds = 0.0

    def groups(self, columns: list[str]) -> Iterator[tuple[pa.Table, int, dict[int, dict]]]:
        """Per row group: (its rows, the first row's number in the directory, {row in the group: the match}), the
        match being the overlap with the highest containment (ties: the first eval set, then the first eval
        document): {eval_set, eval_row, eval_doc_id, containment, exact}."""
        columns = list(dict.fromkeys(["input_ids", "doc_id", "num_tokens", *columns]))
        row0 = 0
        for table, values, offsets in _documents(self.train_dir, self.eos_id, columns):
            started = time.perf_counter()
            n = table.num_rows
            hashes, hoff = self.grams(values, offsets)
            keys = [
                _exact_key(values[offsets[i] : offsets[i + 1]]) if offsets[i + 1] > offsets[i] else b""
                for i in range(n)
            ]
            tokens = table.column("num_tokens").to_numpy().astype(np.int64)
            doc_ids = table.column("doc_id").to_pylist()
            best: dict[int, dict] = {}
            for s in self.sets:
                found: dict[int, dict[int, tuple[float, bool]]] = {}  # row → eval row → (containment, exact)
                docs, rows, share = containments(s.index, hashes, hoff)
                above = share >= self.threshold
                for d, e, c in zip(docs[above], rows[above], share[above]):
                    found.setdefault(int(d), {})[int(e)] = (float(c), False)
                for d, key in enumerate(keys):
                    for e in s.exact.get(key, []) if key else []:
                        found.setdefault(d, {})[e] = (1.0, True)
                for d in sorted(found):
                    matches = found[d]
                    s.contaminated[list(matches)] = True
                    exact = [e for e, (_, x) in matches.items() if x]
                    s.exact_hit[exact] = True
                    s.train_documents += 1
                    s.train_tokens += int(tokens[d])
                    s.exact_train_documents += bool(exact)
                    e, (c, x) = min(matches.items(), key=lambda item: (-item[1][0], not item[1][1], item[0]))
                    match = {"eval_set": s.name, "eval_row": e, "eval_doc_id": s.ids[e], "containment": c, "exact": x}
                    if len(s.examples) < self.max_examples:
                        s.examples.append({"train_doc_id": doc_ids[d], "train_row": row0 + d, **match})
                    if d not in best or c > best[d]["containment"]:
                        best[d] = match
            self.documents += n
            self.tokens += int(tokens.sum())
            self.overlapping += len(best)
            self.overlapping_tokens += int(sum(tokens[d] for d in best))
            self.seconds += time.perf_counter() - started
            yield table, row0, best
            row0 += n

    def report(self) -> dict:
        def share(a: float, b: float) -> float:
            return a / b if b else 0.0

        per_set = {}
        for s in self.sets:
            per_set[s.name] = {
                "path": s.path,
                "manifest_sha256": s.manifest_sha256,
                "documents": len(s.ids),
                "contaminated": int(s.contaminated.sum()),
                "contaminated_share": share(int(s.contaminated.sum()), len(s.ids)),
                "exact": int(s.exact_hit.sum()),
                "train_documents": s.train_documents,
                "train_share": share(s.train_documents, self.documents),
                "train_tokens": s.train_tokens,
                "train_tokens_share": share(s.train_tokens, self.tokens),
                "exact_train_documents": s.exact_train_documents,
                "examples": s.examples,
            }
        return {
            "format": FORMAT,
            "train_dir": str(self.train_dir),
            "manifest_sha256": manifest_sha(self.train_dir),
            "unit": self.grams.unit,
            "tokenizer": self.grams.tokenizer_path,
            "n_grams": self.grams.n,
            "threshold": self.threshold,
            "train": {"documents": self.documents, "tokens": self.tokens},
            "overlapping": {
                "documents": self.overlapping,
                "share": share(self.overlapping, self.documents),
                "tokens": self.overlapping_tokens,
                "tokens_share": share(self.overlapping_tokens, self.tokens),
            },
            "eval": per_set,
            "seconds": round(self.seconds, 3),
            "documents_per_s": round(share(self.documents, self.seconds)),
        }
