"""Token shards in, fixed-length training sequences out; and the fixed held-out eval set.

Training stream: every run sees a uniform sample of the whole candidate. Whatever the token budget, the documents a
run trains on are a prefix of a seeded permutation of all the candidate's documents (all train dirs, shards and row
groups), drawn per epoch from (seed, epoch); a run with a budget of 10% of its candidate reads 10% of its documents
drawn from every row group, not one or two contiguous row groups chosen by the seed (which is what visiting row
groups, then their documents, in seeded order did: a candidate's row groups often differ, e.g. by language).
Documents are read in windows of sampling.WINDOW_DOCS positions of the permutation: each row group holding one of
a window's documents is read once (input_ids only), its rows taken and the group released (sampling.Window).

Memory: the document references cost 4 bytes a document (the epoch's permutation of document numbers, int32; 8
bytes above 2**31 documents, 12 while a permutation is drawn; two permutations at an epoch boundary); a number maps
to (row group, row) through the row groups' cumulative row counts, read from Parquet metadata at construction (no
data read). Besides: one row group while a window is read, and at most two windows' documents (the current and,
at a boundary, the next). Read amplification: a row group is read at most once per window, so at most
ceil(N / WINDOW_DOCS) times an epoch of N documents; for large candidates nearly every window touches every row
group, and a run reads ~ (windows it reaches) × (the candidate's input_ids) in all.

Within the stream the documents (each ends with EOS) are concatenated in permutation order and cut into sequences
of seq_len + 1 tokens that overlap by one token (inputs = seq[:-1], targets = seq[1:]), so every token is a target
exactly once. Sequence k of the global stream goes to rank k mod world_size: ranks never share a sequence. The
stream position (epoch, position in the permutation, offset within that document, k) is the state saved in
checkpoints, with the seed and a fingerprint of the documents; restoring it continues with the next unseen
sequence. Every rank walks the whole stream (decoding is far cheaper than training) and keeps its own share, so all
ranks hold the same state, and `seen()` states what the run has drawn so far.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .sampling import WINDOW_DOCS, DocumentIndex, Window, eval_sample, list_column, permutation, read_group, take_rows

META = "curate.tokenizer_sha256"
MANIFEST = ".manifest.json"  # curate.tokens.MANIFEST (curate_train/ never imports curate)
LEGACY_MANIFEST = "manifest.json"  # its name in token folders written before


class DataError(ValueError):
    pass


def read_manifest(tokens_dir: str) -> dict:
    path = Path(tokens_dir) / MANIFEST
    if not path.is_file() and (path.parent / LEGACY_MANIFEST).is_file():
        path = path.parent / LEGACY_MANIFEST
    if not path.is_file():
        raise DataError(f"{tokens_dir}: no {MANIFEST} (not a token directory)")
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


def document_index(dirs: list[str], sha256: str) -> DocumentIndex:
    """The documents of token dirs, numbered in (dir, shard, row group, row) order: row counts from Parquet metadata
    (checked against the manifest), token totals from the manifest."""
    units: list[tuple[Path, int]] = []
    rows: list[int] = []
    tokens = 0
    for d in dirs:
        for shard in read_manifest(d)["shards"]:
            path = Path(d) / shard["file"]
            parquet = pq.ParquetFile(path)
            found = (parquet.schema_arrow.metadata or {}).get(META.encode(), b"").decode()
            if found and found != sha256:
                raise DataError(f"{path}: tokenizer sha256 {found[:12]}… differs from its manifest's")
            meta = parquet.metadata
            if meta.num_rows != shard.get("rows", meta.num_rows):
                raise DataError(f"{path}: {meta.num_rows} rows, its manifest says {shard['rows']}")
            for g in range(meta.num_row_groups):
                if meta.row_group(g).num_rows:
                    units.append((path, g))
                    rows.append(meta.row_group(g).num_rows)
            tokens += int(shard["tokens"])
    return DocumentIndex(units, rows, tokens)


class TrainStream:
    def __init__(
        self,
        dirs: list[str],
        sha256: str,
        seq_len: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        window: int = WINDOW_DOCS,
    ):
        self.index = document_index(dirs, sha256)
        if not self.index.documents:
            raise DataError(f"no training tokens in {', '.join(dirs)}")
        self.seq_len, self.seed, self.rank, self.world, self.window = seq_len, seed, rank, world, window
        self.epoch = self.position = self.offset = self.seq_index = 0
        self._orders: OrderedDict[int, np.ndarray] = OrderedDict()
        self._windows: OrderedDict[tuple[int, int], Window] = OrderedDict()
        self.last_indices: list[int] = []

    # --- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "offset": self.offset,
            "seq_index": self.seq_index,
            "seed": self.seed,
            "documents": self.index.documents,
            "fingerprint": self.index.fingerprint(),
        }

    def load_state_dict(self, state: dict) -> None:
        if "position" not in state:
            raise DataError("the checkpoint's data state is from an older stream (row-group order): start afresh")
        same = (state["seed"], state["documents"], state["fingerprint"])
        if same != (self.seed, self.index.documents, self.index.fingerprint()):
            raise DataError("the checkpoint's data state was made for other training data or another seed")
        self.epoch, self.position = state["epoch"], state["position"]
        self.offset, self.seq_index = state["offset"], state["seq_index"]

    def seen(self) -> dict:
        """What the stream has handed out so far (all ranks together): tokens, documents started (with repeats
        across epochs), distinct documents, the candidate's size and the epochs that makes. Skipped sequences (a
        spike rollback) count: they were drawn."""
        n, tokens = self.index.documents, self.seq_index * self.seq_len
        started = self.position + (self.offset > 0)
        return {
            "tokens_seen": tokens,
            "documents_seen": self.epoch * n + started,
            "distinct_documents": n if self.epoch else started,
            "candidate_documents": n,
            "candidate_tokens": self.index.tokens,
            "epochs": tokens / self.index.tokens,
        }

    # --- reading ---------------------------------------------------------------------------------------------
    def order(self, epoch: int) -> np.ndarray:
        """The epoch's permutation of document numbers (the current and the previous epoch's are kept)."""
        if epoch not in self._orders:
            self._orders[epoch] = permutation(self.seed, epoch, self.index.documents)
            while len(self._orders) > 2:
                self._orders.popitem(last=False)
        return self._orders[epoch]

    def _document(self, epoch: int, position: int) -> np.ndarray:
        w, i = divmod(position, self.window)
        if (epoch, w) not in self._windows:
            refs = self.order(epoch)[w * self.window : (w + 1) * self.window]
            self._windows[epoch, w] = Window(self.index, refs)
            while len(self._windows) > 2:
                self._windows.popitem(last=False)
        return self._windows[epoch, w].doc(i)

    def _next_sequence(self) -> np.ndarray:
        """The next seq_len + 1 tokens of the global stream; the position advances by seq_len."""
        want, advance, n = self.seq_len + 1, self.seq_len, self.index.documents
        e, p, o = self.epoch, self.position, self.offset
        pieces, got = [], 0
        after: tuple[int, int, int] | None = None  # the position seq_len tokens on: the next sequence's start
        while got < want:
            if p >= n:
                e, p, o = e + 1, 0, 0
                continue
            doc = self._document(e, p)
            avail = len(doc) - o
            if after is None and got + avail >= advance:
                after = (e, p, o + advance - got)
            take = min(avail, want - got)
            pieces.append(doc[o : o + take])
            got += take
            if take == avail:
                p, o = p + 1, 0
            else:
                o += take
        assert after is not None  # got reached seq_len + 1 > seq_len on the way
        self.epoch, self.position, self.offset = after
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
    """A fixed uniform sample of an eval set's whole documents, up to `max_tokens`, evaluated in manifest order.

    When the set holds more than max_tokens tokens, the documents used are the longest prefix of a fixed permutation
    (sampling.EVAL_SEED, never the run's seed) that fits, at least one document (sampling.eval_sample): every run
    and every candidate evaluates on exactly the same documents, drawn from across the whole set, not its first
    documents. When the whole set fits, all of it is used. The chosen documents are evaluated in manifest order;
    documents_used / documents_total, tokens_used / tokens_total and bytes_used / bytes_total say how much of the
    set that is (usage()). Sizes come from the num_tokens and num_bytes columns; input_ids are read only for the
    row groups holding chosen documents.

    The documents are concatenated after one leading EOS and cut into windows of seq_len inputs / seq_len targets
    (the next window starts where this one's targets end), so each document token, its EOS included, is predicted
    exactly once; the leading EOS stands for the end of the previous document. Loss = mean NLL per predicted token
    (EOS included); bits per byte = sum of NLL / (ln 2 · sum of the documents' UTF-8 bytes): the EOS predictions
    count in the numerator while EOS adds no bytes, as the document boundary is information the model must spend
    bits on. Same documents, same windows at every evaluation.
    """

    def __init__(self, name: str, tokens_dir: str, sha256: str, eos_id: int, seq_len: int, max_tokens: int):
        self.name, self.seq_len = name, seq_len
        index = document_index([tokens_dir], sha256)
        if not index.documents:
            raise DataError(f"eval set {name} ({tokens_dir}) has no documents")
        sizes = [read_group(p, g, ["num_tokens", "num_bytes"]) for p, g in index.units]
        lengths = np.concatenate([t.column("num_tokens").to_numpy() for t in sizes]).astype(np.int64)
        nbytes = np.concatenate([t.column("num_bytes").to_numpy() for t in sizes]).astype(np.int64)
        self.documents = eval_sample(lengths, int(max_tokens))  # ascending: manifest order
        self.documents_total, self.documents_used = index.documents, len(self.documents)
        self.tokens_total, self.tokens_used = int(lengths.sum()), int(lengths[self.documents].sum())
        self.bytes_total, self.bytes_used = int(nbytes.sum()), int(nbytes[self.documents].sum())
        self._build(index, lengths, nbytes, eos_id)

    def _build(self, index: DocumentIndex, lengths: np.ndarray, nbytes: np.ndarray, eos_id: int) -> None:
        ids: list[np.ndarray] = []
        domains: list[str | None] = []
        for where, table in take_rows(index, self.documents, ["input_ids", "domain"]):
            values, offsets = list_column(table.column("input_ids"))
            if not np.array_equal(np.diff(offsets), lengths[self.documents[where]]):
                raise DataError(f"eval set {self.name}: num_tokens differs from the length of input_ids")
            ids += [values[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
            domains += table.column("domain").to_pylist()
        names = list(dict.fromkeys(d or "other" for d in domains))  # in order of first use
        dom = np.array([names.index(d or "other") for d in domains], dtype=np.int64)
        total, seq_len = self.tokens_used, self.seq_len
        stream = np.concatenate([[eos_id], *ids]).astype(np.int64)
        n_win = -(-total // seq_len)
        self.inputs = np.full((n_win, seq_len), eos_id, dtype=np.int64)
        self.targets = np.full((n_win, seq_len), -1, dtype=np.int64)
        self.domain = np.zeros((n_win, seq_len), dtype=np.int64)
        self.inputs.reshape(-1)[:total] = stream[:-1]
        self.targets.reshape(-1)[:total] = stream[1:]
        self.domain.reshape(-1)[:total] = np.repeat(dom, lengths[self.documents])
        self.domains = names
        self.bytes = np.zeros(len(names), dtype=np.int64)
        np.add.at(self.bytes, dom, nbytes[self.documents])
        self.tokens, self.docs = total, self.documents_used

    def usage(self) -> dict:
        """How much of the eval set is used: documents, tokens and bytes used / total; share = tokens used / total."""
        return {
            "documents_used": self.documents_used,
            "documents_total": self.documents_total,
            "tokens_used": self.tokens_used,
            "tokens_total": self.tokens_total,
            "bytes_used": self.bytes_used,
            "bytes_total": self.bytes_total,
            "share": self.tokens_used / self.tokens_total,
        }
