"""From the pass to the candidates' token directories: selections over the pass's documents, each document tokenized
once.

A candidate is the set of filters it applies, whether it deduplicates and which text transforms it keeps:
  recipe            every filter, dedup, every transform: what `curate run` keeps (up to the notes below)
  without-<stage>   the recipe without that one stage
  raw               every document that has text: no filter, no dedup, no transform
Its documents are those that pass all its filters; with dedup, the dedup rules are decided again on exactly those
documents (`dedup.steps.decide` on their keys, LSH pairs recomputed from their band keys), so a survivor whose
duplicate was filtered out is kept, as it would be by a pipeline without that filter. Its text is the final text,
or for a transform it leaves out, the text the document had before that transform.

Each document's tokens are computed once, into a pool (pool/: its final text, plus the text before a transform for
the documents that transform changed and some candidate needs); a candidate's token directory copies its rows from
the pool, streaming. Candidates that select exactly the same rows share one directory, so `curate compare` sees
identical data and trains it once.

Exactness: filters' verdicts do not depend on other documents, so "passes every filter but X" is what a pipeline
without X would keep. Where it is not exact: a filter placed after a text transform judged the transformed text in the
pass, also for a candidate without that transform; and a candidate without one of two transforms that both changed a
document gets the text from before the earlier one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.tokens import MANIFEST, ShardWriter, encode_documents, iter_rows, load_tokenizer

FINAL = ""  # the variant of a document's text after every transform


@dataclass
class Pass:
    """The pass's documents in order (rank files, then rows): what select needs of them, without their text."""

    folder: Path
    ids: list[str]
    verdicts: list[dict[str, str]]  # stage → reason, for each filter it fails
    changed: list[set[str]]  # transforms that changed the text
    domains: list[str | None]
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # dedup keys, one row per document

    def __len__(self) -> int:
        return len(self.ids)

    def files(self) -> list[Path]:
        return sorted((self.folder / "documents").glob("*.parquet"))


def load_pass(folder: Path) -> Pass:
    ids: list[str] = []
    verdicts: list[dict] = []
    changed: list[set[str]] = []
    domains: list[str | None] = []
    p = Pass(folder, ids, verdicts, changed, domains)
    for path in p.files():
        table = pq.read_table(path, columns=["id", "verdicts", "texts_before", "domain"])
        ids += table.column("id").to_pylist()
        verdicts += [json.loads(v) if v else {} for v in table.column("verdicts").to_pylist()]
        changed += [set(json.loads(t)) if t else set() for t in table.column("texts_before").to_pylist()]
        domains += table.column("domain").to_pylist()
    key_files = sorted((folder / "dedup" / "keys").glob("*.npz"))
    if key_files:
        loaded = [np.load(f) for f in key_files]
        p.keys = {k: np.concatenate([d[k] for d in loaded]) for k in ("id", "text", "url", "has_url", "bands")}
        if len(p.keys["id"]) != len(ids):
            raise RuntimeError(f"{folder}: {len(p.keys['id'])} dedup keys for {len(ids)} documents: rerun the pass")
    return p


@dataclass
class Candidate:
    name: str
    removed: str | None  # the stage this candidate leaves out (None: the recipe or raw)
    filters: tuple[str, ...]  # the filter stages it applies
    dedup: bool
    transforms: tuple[str, ...]  # the text transforms it keeps
    mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    variant: list[str] = field(default_factory=list, repr=False)  # per document: FINAL or the transform left out

    def signature(self) -> str:
        """The rows and texts it selects: equal signatures are identical data."""
        digest = hashlib.sha256(np.packbits(self.mask).tobytes())
        for i in np.nonzero(self.mask)[0]:
            if self.variant[i] != FINAL:
                digest.update(f"{i}:{self.variant[i]};".encode())
        return digest.hexdigest()


def select(p: Pass, cand: Candidate, transforms: list[str], dedup) -> Candidate:
    """Fill the candidate's mask (its documents) and each document's text variant."""
    mask = np.ones(len(p), dtype=bool)
    for i, verdicts in enumerate(p.verdicts):
        if any(stage in verdicts for stage in cand.filters):
            mask[i] = False
    if cand.dedup and dedup is not None and mask.any():
        from curate.dedup.steps import band_pairs, decide

        rows = np.nonzero(mask)[0]
        keys = {k: v[rows] for k, v in p.keys.items()}
        pairs = band_pairs(keys["bands"]) if dedup.near else np.zeros((0, 2), dtype=np.int64)
        reason, _ = decide(keys, pairs, dedup)
        mask[rows[reason > 0]] = False
    left_out = [t for t in transforms if t not in cand.transforms]
    cand.mask = mask
    cand.variant = [next((t for t in left_out if t in ch), FINAL) for ch in p.changed]
    return cand


def _texts(p: Pass, needed: dict[int, set[str]]) -> Iterator[tuple[str, str, str | None]]:
    """(pool key, text, domain) of every needed (document, variant), in pass order, one file in memory at a time."""
    row = 0
    for path in p.files():
        table = pq.read_table(path, columns=["text", "texts_before"])
        for text, before in zip(table.column("text").to_pylist(), table.column("texts_before").to_pylist()):
            wanted = needed.get(row)
            if wanted:
                befores = json.loads(before) if before else {}
                for variant in sorted(wanted):
                    yield f"{row}:{variant}", text if variant == FINAL else befores[variant], p.domains[row]
            row += 1


def build_pool(p: Pass, candidates: list[Candidate], tokenizer_path: str, out: Path) -> dict[str, int]:
    """Tokenize every (document, variant) some candidate uses, once, into `out`; returns pool key → pool row."""
    needed: dict[int, set[str]] = {}
    for cand in candidates:
        for i in np.nonzero(cand.mask)[0]:
            needed.setdefault(int(i), set()).add(cand.variant[i])
    key = hashlib.sha256(
        json.dumps(sorted((k, sorted(v)) for k, v in needed.items())).encode() + tokenizer_path.encode()
    ).hexdigest()
    stamp = out / "pool.json"
    if stamp.is_file() and (out / MANIFEST).is_file():
        done = json.loads(stamp.read_text())
        if done.get("key") == key:
            return {k: i for i, k in enumerate(done["rows"])}
    tok, info = load_tokenizer(tokenizer_path)
    for old in out.glob("*.parquet"):
        old.unlink()
    rows: list[str] = []
    with ShardWriter(out, info) as writer:
        for ids, nbytes, pool_key, domain in encode_documents(tok, info.eos_id, _texts(p, needed)):
            writer.write(ids, nbytes, pool_key, domain)
            rows.append(pool_key)
    stamp.write_text(json.dumps({"key": key, "tokenizer": tokenizer_path, "rows": rows}) + "\n")
    return {k: i for i, k in enumerate(rows)}


def write_candidate(p: Pass, cand: Candidate, pool: Path, out: Path) -> dict:
    """The candidate's token directory, copied row by row from the pool (documents keep their pass ids)."""
    from curate.tokens import TokenizerInfo, read_manifest

    stamp = out / "selection.json"
    signature = cand.signature() + read_manifest(pool)["tokenizer"]["sha256"]
    if stamp.is_file() and (out / MANIFEST).is_file() and json.loads(stamp.read_text()).get("signature") == signature:
        return json.loads(stamp.read_text())
    wanted = {f"{int(i)}:{cand.variant[i]}" for i in np.nonzero(cand.mask)[0]}
    info = TokenizerInfo.from_dict(read_manifest(pool)["tokenizer"])
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.parquet"):
        old.unlink()
    documents = tokens = 0
    with ShardWriter(out, info) as writer:
        for row in iter_rows(pool):
            if row["doc_id"] in wanted:
                index = int(row["doc_id"].split(":", 1)[0])
                writer.write(row["input_ids"], row["num_bytes"], p.ids[index], row["domain"])
                documents += 1
                tokens += row["num_tokens"]
    done = {"signature": signature, "documents": documents, "tokens": tokens}
    stamp.write_text(json.dumps(done) + "\n")
    return done
