"""Leakage between a candidate's training tokens and the eval sets, and removing it: the `curate compare` side of the
`decontaminate` stage, on token directories.

What counts as overlap is the stage's rule (`curate.stages.decontaminate`): a training document overlaps an eval
document when it holds at least `threshold` (default 0.5) of the eval document's distinct word 13-grams, words and
hashes being the MinHash stage's (NFKC, lowercase, Unicode word runs); containment is measured on the eval side, so
an eval article inside a long crawled page is caught. Exact duplicates (a training document whose token ids are the
eval document's, EOS aside: the same text, as both come from one tokenizer) are counted on their own as well.

Text, not token ids. Token directories hold token ids, so each document is decoded back to its text with the
tokenizer (`tokenizers`' `decode_batch`; a byte-level BPE decodes to exactly the text it encoded) and shingled by the
stage's own hasher. Why: the same n, threshold and normalization mean the same thing in `curate run` and in
`curate compare`, and a document the stage keeps is one compare does not flag; token n-grams would instead depend on
the vocabulary (13 tokens are ~3 words with a 512-token BPE, ~10 with a 50k one) and on case and Unicode forms.
Decoding is not the bottleneck: measured on this 2-core machine with the 50k gpt-neox BPE, decode runs at 5-7 M
tokens/s, the same order as reading the shards and shingling (see Speed below). Token ids are also fragile where
words are not: a copy whose line breaks became spaces shares almost no 13 token ids with its source. A manifest
names its tokenizer by sha256 only, so the tokenizer file is an argument (checked against that sha256); without
one, `tokenizer=None` falls back to n-grams of token ids (`unit: "token ids"` in the result, same n and threshold),
which needs nothing but the shards and catches verbatim copies just as well, near-duplicates a bit differently.

Memory: the eval side (small: thousands of documents) is indexed once, 12 bytes an n-gram occurrence
(`decontaminate.index_grams`); the training side streams one Parquet row group at a time (at most 2 M tokens as
`curate.tokens.ShardWriter` writes them), matched against the index in a few vectorized passes
(`decontaminate.containments`).

Speed (measured on this 2-core machine while shared with other work, load 2-6; one process, `unit: words`, the 50k
gpt-neox BPE, eval sets runs/mix/val + runs/prose/tokens, 126 documents, 575k tokens): runs/code/tokens (731
documents, 3.5 M tokens) scanned in 2.3-2.8 s, 270-315 documents/s, 1.3-1.5 M tokens/s; runs/mix/train (487
documents, 1.05 M tokens) in 0.9-1.6 s, 300-520 documents/s. The cost is per token (read, decode, shingle, look up:
decode ~1/3 of it), not per document, so documents/s follows their length: ~1,500/s at 1,000 tokens a document.
Token ids measured 1.2-1.5x faster, so decoding costs little. One-time costs per process: loading the tokenizer
(0.2 s) and the hasher's character table (~2 s, shared with every MinHash use).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from curate.compare.overlap import (
    DECONTAMINATE_FORMAT,
    DEFAULT_EXAMPLES,
    REASON,
    REJECTED,
    STAMP,
    Scan,
    manifest_sha,
)
from curate.stages.decontaminate import DEFAULT_N_GRAMS, DEFAULT_THRESHOLD
from curate.tokens import MANIFEST, ShardWriter, TokenizerInfo


def leakage(
    train_dir: str | Path,
    evals: dict[str, str],
    tokenizer: str | Path | None = None,
    n_grams: int = DEFAULT_N_GRAMS,
    threshold: float = DEFAULT_THRESHOLD,
    examples: int = DEFAULT_EXAMPLES,
) -> dict:
    """How much of each eval set a training token directory holds ({eval set name: token dir}).

    Per eval set: `documents`, `contaminated` (eval documents some training document holds ≥ threshold of) and its
    share, `exact` (eval documents with an identical training document), `train_documents` / `train_share` /
    `train_tokens` / `train_tokens_share` (training documents overlapping the set), `exact_train_documents`, and the
    first `examples` overlaps in training order ({train_doc_id, train_row, eval_set, eval_row, eval_doc_id,
    containment, exact}). `overlapping` counts the training documents overlapping any set. `tokenizer`: the
    tokenizer.json the directories were made with, to compare word n-grams of the text (see the module docstring);
    None compares token-id n-grams."""
    scan = Scan(train_dir, evals, tokenizer, n_grams, threshold, examples)
    for _ in scan.groups([]):
        pass
    return scan.report()


def _key(train_dir: Path, evals: dict[str, str], tokenizer: str | Path | None, n_grams: int, threshold: float) -> str:
    """What decides decontaminate_tokens' output: the inputs' manifests (their tokenizer sha256 included), the eval
    sets in order (a tie names the first), the unit, n and the threshold."""
    inputs = {
        "format": DECONTAMINATE_FORMAT,
        "train": manifest_sha(train_dir),
        "eval": [[name, manifest_sha(path)] for name, path in evals.items()],
        "unit": "words" if tokenizer else "token ids",
        "n_grams": n_grams,
        "threshold": threshold,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def cached_leakage(
    train_dir: str | Path, evals: dict[str, str], path: str | Path, tokenizer: str | Path | None = None
) -> dict:
    """`leakage` with the default rule, stored at `path` (JSON) and read back while the inputs' key is the same, so a
    compare run again does not scan its candidates again."""
    file = Path(path)
    key = _key(Path(train_dir), evals, tokenizer, DEFAULT_N_GRAMS, DEFAULT_THRESHOLD)
    if file.is_file():
        try:
            done = json.loads(file.read_text())
        except json.JSONDecodeError:
            done = {}
        if done.get("key") == key:
            return done["leakage"]
    report = leakage(train_dir, evals, tokenizer)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"key": key, "leakage": report}, indent=2) + "\n")
    return report


def decontaminate_tokens(
    train_dir: str | Path,
    evals: dict[str, str],
    out_dir: str | Path,
    tokenizer: str | Path | None = None,
    n_grams: int = DEFAULT_N_GRAMS,
    threshold: float = DEFAULT_THRESHOLD,
    max_tokens_per_shard: int | None = None,
    examples: int = DEFAULT_EXAMPLES,
) -> dict:
    """A copy of a training token directory without the documents that overlap an eval set (the rule of `leakage`),
    in out_dir: shard-*.parquet + .manifest.json (curate.tokens' format, rows in input order), rejected.jsonl (one line
    per removed document: doc_id, row, tokens, reason `eval_overlap`, eval_set, eval_doc_id, eval_row, containment,
    exact, detail) and decontaminate.json (the inputs' key and this summary, written last).

    Done again only when the inputs changed: the key is the manifests' sha256s (training and eval sets), the unit, n
    and the threshold; an out_dir holding decontaminate.json with that key and its manifest is returned as it is
    (`reused: true`). Returns {format, key, out_dir, train_dir, input_manifest_sha256, manifest_sha256, kept:
    {documents, tokens}, removed: {documents, tokens, by_eval_set: {name: documents}}, rejected, leakage (the
    `leakage` report of the input), reused}."""
    train, out = Path(train_dir), Path(out_dir)
    if out.resolve() == train.resolve():
        raise ValueError(f"{out}: the output directory must not be the training directory")
    key = _key(train, evals, tokenizer, n_grams, threshold)
    stamp = out / STAMP
    if stamp.is_file() and (out / MANIFEST).is_file():
        try:
            done = json.loads(stamp.read_text())
        except json.JSONDecodeError:
            done = {}
        if done.get("key") == key and done.get("manifest_sha256") == manifest_sha(out):
            return {**done, "reused": True}

    scan = Scan(train, evals, tokenizer, n_grams, threshold, examples)
    out.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    for old in [*out.glob("shard-*.parquet"), out / MANIFEST, out / REJECTED]:
        old.unlink(missing_ok=True)
    info = TokenizerInfo.from_dict(scan.manifest["tokenizer"])
    by_set = {name: 0 for name in evals}
    removed: dict[str, Any] = {"documents": 0, "tokens": 0, "by_eval_set": by_set}
    kept = {"documents": 0, "tokens": 0}
    from curate.tokens import DEFAULT_MAX_TOKENS_PER_SHARD

    writer = ShardWriter(out, info, max_tokens_per_shard or DEFAULT_MAX_TOKENS_PER_SHARD)
    with writer, open(out / REJECTED, "w", encoding="utf-8") as rejected:
        for table, row0, best in scan.groups(["num_bytes", "domain"]):
            ids = table.column("input_ids").combine_chunks()
            offsets = ids.offsets.to_numpy()
            values = ids.values.to_numpy()
            doc_ids = table.column("doc_id").to_pylist()
            tokens = table.column("num_tokens").to_pylist()
            nbytes = table.column("num_bytes").to_pylist()
            domains = table.column("domain").to_pylist()
            for r in range(table.num_rows):
                match = best.get(r)
                if match is None:
                    writer.write(values[offsets[r] : offsets[r + 1]].tolist(), nbytes[r], doc_ids[r], domains[r])
                    kept["documents"] += 1
                    kept["tokens"] += tokens[r]
                    continue
                removed["documents"] += 1
                removed["tokens"] += tokens[r]
                by_set[match["eval_set"]] += 1
                detail = (
                    f"identical to eval document {match['eval_doc_id']} ({match['eval_set']})"
                    if match["exact"]
                    else f"contains {match['containment']:.0%} of the {n_grams}-grams of eval document "
                    f"{match['eval_doc_id']} ({match['eval_set']})"
                )
                line = {"doc_id": doc_ids[r], "row": row0 + r, "tokens": tokens[r], "reason": REASON, **match}
                rejected.write(json.dumps({**line, "detail": detail}) + "\n")
    result = {
        "format": DECONTAMINATE_FORMAT,
        "key": key,
        "out_dir": str(out),
        "train_dir": str(train),
        "input_manifest_sha256": manifest_sha(train),
        "manifest_sha256": manifest_sha(out),
        "kept": kept,
        "removed": removed,
        "rejected": REJECTED,
        "leakage": scan.report(),
    }
    stamp.write_text(json.dumps(result, indent=2) + "\n")
    return {**result, "reused": False}
