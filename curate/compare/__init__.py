"""`curate compare`: train the same proxy model on two or more candidate datasets, several seeds each, and say which
one gives the lowest held-out bits per byte on what the user optimises, and whether each difference is significant
and, where it is not, how large a difference the run could have seen.

A compare file (YAML, validated whole before anything runs; relative paths resolve against its folder):

    name: web-vs-mix
    candidates:                       # two or more; each a token directory, a mix file or a pipeline run
      - {name: raw, tokens: ../runs/raw/tokens}
      - {name: mix, mix: demo-mix.yaml}
      - {name: web, pipeline: fineweb.yaml, input: ['../crawl/*.warc.gz']}   # must end with a tokenize stage
    eval:                             # the fixed held-out sets: {name: token dir} or {name: {tokens: DIR, weight: W}}
      prose: ../runs/heldout/prose    # weight 1
      code: {tokens: ../runs/heldout/code, weight: 0.5}   # W > 0: what this set counts in the target
    reference: raw                    # the candidate the verdict table compares with; default: the first
    model: {d_model: 64, n_layers: 2, n_heads: 4}   # the trainer's `model` section
    train: {seq_len: 64, batch_tokens: 1024, max_steps: 50, lr: 0.003}   # any other trainer key
    seeds: [0, 1, 2]                  # or a count; default 3
    alpha: 0.05                       # 0 < alpha < 1
    test: welch                       # welch (default) | paired (by seed)

Outputs in OUT_DIR:
  runs/<config hash>/   one trainer run per (candidate, seed): the trainer's files plus config.json. The hash is the
                        SHA-256 of the canonical JSON of the trainer config without out_dir (token dirs named by path
                        and by the SHA-256 of their manifest), so a rerun, or a compare with one more candidate, other
                        weights or another reference, reuses every finished run (summary.json with finished: true) and
                        an unfinished one resumes from its checkpoint (the trainer's own resume).
  candidates/<name>/mix/  a mix candidate's `curate mix` output (rebuilt only when the mix file or its sources change)
  candidates/<name>/run/  a pipeline candidate's `curate run` output (rerun only when the pipeline or its inputs change)
  comparison.json, report.html, loss_curves.png (the target's curves), domain_bpb.png (final bpb per eval set)
  plan.json           written by `--plan` only (see below and `plan`)
An OUT_DIR holding other files is refused; --overwrite removes only these outputs (everything trains again);
otherwise an earlier compare's OUT_DIR is carried on.

The figures of a run (its final eval): bpb_i of each eval set i (the trainer's `summary["eval"][i]["bpb"]`); the
**target** = Σ w_i · bpb_i / Σ w_i (declared weights, default equal per eval set, not per byte: a byte-weighted mean
lets the eval set with the most bytes decide, so a candidate much worse on a small prose set could win on the strength
of a large code set); **pooled** = total nats / total bytes over every eval set (`final_bpb`, a labelled extra, never
tested); per domain within an eval set, from the trainer's per-domain figures (not tested).

Statistics: per candidate and figure the mean, the seed σ (sample standard deviation, ddof 1) and a 95% Student-t
interval; per pair of candidates, for the target and for every eval set, the difference of the means, its 95%
interval and a t-test across seeds. All these p-values are one Holm family, (eval sets + target) × pairs (with one
eval set the target is that set, so the family is the pairs). `test: welch` (the default) is Welch's unequal-variance
test; `test: paired` pairs runs by seed (every candidate is trained with the same seeds, so seed s shares its
initialisation). The paired test is more sensitive: it also flags the small but consistent difference that two
particular random halves of one corpus have (measured: 2 of 5 random splits of tinyshakespeare gave paired p < 0.05,
Welch p > 0.29 for all 5), which is not what "is this data better?" asks, hence the default.
Zero variance (t undefined): differences all exactly zero → p = 1; all equal and non-zero → p = 0 (a deterministic,
seed-independent difference). With one seed there is no test (p = null, never significant).
Minimal detectable difference (`power`): MDD = (t_{1−α′/2, df} + t_{0.80, df}) × SE at α′ = alpha / m (m tests in the
family): every "no significant difference" says "no difference larger than MDD bpb detectable". Null with one seed.
Ranking: by the target's mean (and, per eval set, by that set's); a candidate shares the rank of the one above it
unless the two differ significantly. Candidates on identical data (equal manifest SHA-256 of the training dir, or the
same mix file content over the same sources) are named as such: with the same token dir they share their runs.

comparison.json (format curate-compare/2):
  format, metric, spec (the compare file, with weights and reference), alpha, test, seeds, reference
  target {definition, weights, shares}     pooled {definition}      domains [names]
  family {correction, tests (m), alpha, alpha_per_test (alpha / m), power, mdd_formula, mdd_range {figure: [lo, hi]}}
  ranking, pairwise, verdicts, summary     the target's (format 1's keys): ranking [{rank, candidate, bpb_mean,
                                           bpb_std, bpb_ci95}], pairwise [pair], verdicts [sentences: every
                                           significant pair, then the rest with their MDD], summary (one line)
  eval_sets {name: {path, weight, bytes, coverage, ranking, pairwise, verdicts, summary}}   the same per eval set;
                                           coverage: the trainer's documents/tokens used of total and share (mean
                                           over runs), null when the trainer does not report it
  identical [{candidates [a, b], reason, same_runs, text}]
  candidates {name: {target, overall (= target, format 1's key), eval_sets {name: stats}, pooled, domains {name:
                     stats}, vs_reference {figure: reference | better | worse | no significant difference | null},
                     identical_to [names], data {kind, source, train_dir, manifest_sha256, mix_sha256}, sample (the
                     trainer's tokens_seen, documents_seen, distinct_documents, candidate_documents, candidate_tokens,
                     epochs: mean over seeds; null when not reported), runs [run]}}
  stats = {n, mean, std, ci95, ci95_half, min, max, values}
  pair  = {metric (target | eval set), a, b (a ranked above b), difference, n, diff_mean, diff_std, diff_ci95, se,
           df, t, p_value, test, p_holm, significant, mdd, identical, verdict}
  run   = {seed, hash, dir, train_dir, reused, bpb (target), eval_sets {name: bpb}, eval_bytes {name: bytes},
           pooled, domains {name: bpb}, sample, eval_coverage, curve [[tokens, target bpb]]}

Planning (`curate compare SPEC -o DIR --plan [--min-effect BPB]`): before spending the full budget, measure the seed
σ per figure (pooled within candidates) from the finished runs already in DIR, or from a pilot of the first two seeds
of a candidate with fewer than two (the compare then reuses them), and print the MDD the spec's seeds would give,
the seeds a minimal effect of BPB would need (2..64) and the wall time (mean elapsed_s × runs still to train);
writes DIR/plan.json and trains nothing beyond the pilot. Three seeds of a noisy proxy often cannot see the effect a
user cares about, and that is cheaper to learn from two runs per candidate than from the whole compare.

The package, one job a module: `spec` (the compare file → CompareSpec, and each run's trainer config), `runner`
(building candidates, run hashes and reuse, `run_compare`), `stats` (a run's figures, per-candidate statistics, the
tests), `power` (the MDD), `plan` (`--plan`: σ, MDD and seeds before the full budget), `verdicts` (the Holm family,
rankings, verdicts, identical candidates: `analyse`), `plots` (the two charts) and `report` (report.html).
Importing it is cheap: scipy, matplotlib, pyarrow and torch load only when used.
"""

from __future__ import annotations

from curate.compare.plan import plan_compare
from curate.compare.power import mdd, mdd_for_seeds, seeds_for_effect
from curate.compare.runner import config_hash, run_compare
from curate.compare.spec import load_spec, parse_spec
from curate.compare.stats import describe, final_bpb, holm, paired_test, target_bpb, welch_test
from curate.compare.verdicts import analyse

__all__ = [
    "analyse",
    "config_hash",
    "describe",
    "final_bpb",
    "holm",
    "load_spec",
    "mdd",
    "mdd_for_seeds",
    "paired_test",
    "parse_spec",
    "plan_compare",
    "run_compare",
    "seeds_for_effect",
    "target_bpb",
    "welch_test",
]
