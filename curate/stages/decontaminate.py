"""Remove training documents that contain evaluation text, so a proxy model is not scored on what it trained on.

A training document overlaps an eval document when it contains at least `threshold` of that eval document's word
n-grams (13-grams by default, as GPT-3's decontamination): containment is measured on the eval side, so an eval
article pasted into a long crawled page is caught even though it is a small part of the page. An eval document
shorter than n words is one shingle of all its words, so it matches only a document of exactly those words. Words
and hashes are the MinHash stage's own (`curate.dedup.minhash`: NFKC, lowercase, Unicode word runs).

The eval sets are read once per process into an index: the sorted unique n-gram hashes and, for each, the eval
documents holding it (8 bytes a hash plus 4 an occurrence). A removed document is rejected with reason
`eval_overlap`, the detail naming the eval document (its id and file) and the containment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from curate.dedup.minhash import MinHasher
from curate.records import DETAIL_KEY
from curate.settings import expand

DEFAULT_N_GRAMS = 13
DEFAULT_THRESHOLD = 0.5


@dataclass
class EvalIndex:
    """n-gram hashes of the eval documents: `keys` sorted unique; documents of key i: doc[start[i]:start[i + 1]]."""

    keys: np.ndarray  # uint64
    start: np.ndarray  # int64, len(keys) + 1
    doc: np.ndarray  # int32, eval document index per occurrence
    grams: np.ndarray  # int64, distinct n-grams per eval document
    names: list[str]  # "id (file)" per eval document


def eval_files(paths: list[str]) -> list[str]:
    """A run folder → its documents/*.parquet; a Parquet or JSONL(.gz) file as it is."""
    files: list[str] = []
    for given in paths:
        path = Path(expand(given))
        if path.is_dir():
            found = sorted(str(p) for p in (path / "documents").glob("*.parquet"))
            if not found:
                raise ValueError(f"{given}: no documents/*.parquet (not a `curate run` or `curate ingest` folder)")
            files += found
        elif path.is_file():
            files.append(str(path))
        else:
            raise ValueError(f"{given}: no such file or folder")
    return files


def build_index(paths: list[str], n_grams: int = DEFAULT_N_GRAMS) -> EvalIndex:
    from curate.stages.documents import read_rows

    hasher = MinHasher(n_grams=n_grams)
    names: list[str] = []
    parts: list[np.ndarray] = []
    for file in eval_files(paths):
        for index, row in enumerate(read_rows(file)):
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                continue
            parts.append(hasher.shingles(text))
            names.append(f"{row.get('id') or f'row {index}'} ({Path(file).name})")
    if not names:
        raise ValueError(f"no eval documents with text in {', '.join(paths)}")
    return index_grams(parts, names)


def index_grams(parts: list[np.ndarray], names: list[str]) -> EvalIndex:
    """The index of eval documents given as their n-gram hashes (`parts[i]`: document i's, duplicates allowed; an
    empty array for a document without n-grams, which then matches nothing) and their names."""
    uniques = [np.unique(grams) for grams in parts]
    owners = [np.full(len(grams), i, dtype=np.int32) for i, grams in enumerate(uniques)]
    hashes = np.concatenate(uniques or [np.zeros(0, np.uint64)]).astype(np.uint64)
    doc = np.concatenate(owners or [np.zeros(0, np.int32)])
    order = np.argsort(hashes, kind="stable")
    hashes, doc = hashes[order], doc[order]
    keys, start = np.unique(hashes, return_index=True)
    grams = np.bincount(doc, minlength=len(names)).astype(np.int64)
    return EvalIndex(keys, np.append(start, len(hashes)).astype(np.int64), doc, grams, names)


def containments(index: EvalIndex, hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every (document, eval document) pair of a batch that shares an n-gram, with the containment: the share of the
    eval document's distinct n-grams the document holds. The batch's hashes are concatenated, document d's being
    hashes[offsets[d]:offsets[d + 1]]. Returns (document, eval document, containment) arrays sorted by document,
    then eval document. Vectorized over the batch: no Python code runs per document or per n-gram."""
    none = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    nk = len(index.keys)
    if not nk or not len(hashes):
        return none
    offsets = np.asarray(offsets, dtype=np.int64)
    doc = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    at = np.minimum(np.searchsorted(index.keys, hashes), nk - 1)
    hit = index.keys[at] == hashes
    if not hit.any():
        return none
    pair = np.unique(doc[hit] * nk + at[hit])  # a document's n-gram counts once
    doc, at = pair // nk, pair % nk
    first, lengths = index.start[at], index.start[at + 1] - index.start[at]
    owner = np.repeat(doc, lengths)
    # the posting list of each hit, laid end to end: first[j] + 0, 1, ..., lengths[j] - 1
    ends = np.cumsum(lengths)
    positions = np.arange(ends[-1], dtype=np.int64) + np.repeat(first - (ends - lengths), lengths)
    ne = len(index.names)
    keys, counts = np.unique(owner * ne + index.doc[positions], return_counts=True)
    docs, evals = keys // ne, keys % ne
    return docs, evals, counts / np.maximum(index.grams[evals], 1)


def overlap(index: EvalIndex, grams: np.ndarray) -> tuple[int, float]:
    """The eval document a text's n-grams contain most of, and that containment (−1, 0.0 when none is shared)."""
    _, evals, containment = containments(index, grams, np.array([0, len(grams)]))
    if not len(evals):
        return -1, 0.0
    best = int(np.argmax(containment))  # evals are ascending: a tie names the first eval document
    return int(evals[best]), float(containment[best])


class Decontaminate(BaseFilter):
    """Drops documents containing ≥ `threshold` of an eval document's word n-grams (reason `eval_overlap`)."""

    name = "🧪 Decontaminate"

    def __init__(
        self,
        rejects=None,
        eval: list[str] | None = None,
        n_grams: int = DEFAULT_N_GRAMS,
        threshold: float = DEFAULT_THRESHOLD,
    ):
        super().__init__(exclusion_writer=rejects)
        self.eval_paths = list(eval or [])
        self.n_grams, self.threshold = n_grams, threshold
        self._index: EvalIndex | None = None
        self._hasher: MinHasher | None = None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._index is None:
            self._index = build_index(self.eval_paths, self.n_grams)
            self._hasher = MinHasher(n_grams=self.n_grams)
        assert self._hasher is not None
        best, containment = overlap(self._index, self._hasher.shingles(doc.text))
        if containment >= self.threshold:
            doc.metadata[DETAIL_KEY] = (
                f"contains {containment:.0%} of the {self.n_grams}-grams of eval document {self._index.names[best]}"
            )
            return False, "eval_overlap"
        return True


def check_params(params: dict, where: str) -> None:
    """Every eval file must be there and read as Parquet or JSONL rows with text, before the run reads the crawl
    (the ranges of n_grams and threshold are declared in curate.config)."""
    if not params.get("eval"):
        raise ValueError(f"{where}.eval: required: the eval sets' run folders or Parquet/JSONL files")
    try:
        files = eval_files(params["eval"])
    except ValueError as err:
        raise ValueError(f"{where}.eval: {err}") from None
    for file in files:
        problem = _eval_file_problem(file)
        if problem:
            raise ValueError(f"{where}.eval: {file}: {problem}")


def _eval_file_problem(file: str) -> str | None:
    """Why an eval file cannot be indexed, from its first row only (the whole set is read when the run starts)."""
    from curate.stages.documents import read_rows

    try:
        first = next(iter(read_rows(file)), None)
    except Exception as err:  # pyarrow, json, gzip and decoding errors: the file is not what it should be
        return f"not a Parquet or JSONL file ({type(err).__name__}: {str(err)[:200]})"
    if first is None:
        return "no rows"
    if not isinstance(first, dict) or not isinstance(first.get("text"), str):
        return "its first row has no `text` string"
    return None
