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

The package, one job a module: `spec` (the mix file), `plan` (pools, targets, selection, the interleave order),
`write` (the val and train shards), `report` (mix_report.json) and `run` (`run_mix`, which strings them together).
The output folder follows `curate.runfolder`'s contract: a folder holding anything a mix does not write is refused
untouched, a non-empty one needs --overwrite, and --overwrite removes only a mix's own outputs.
"""

from curate.mix.report import REPORT
from curate.mix.run import CONTRACT, run_mix
from curate.mix.spec import MixSpec, SourceSpec, load_spec, parse_spec

__all__ = ["CONTRACT", "REPORT", "MixSpec", "SourceSpec", "load_spec", "parse_spec", "run_mix"]
