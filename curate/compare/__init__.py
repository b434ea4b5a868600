"""`curate compare`: train the same proxy model on two or more candidate datasets, several seeds each, and say which
one gives the lowest held-out bits per byte, and whether the difference is significant.

A compare file (YAML, validated whole before anything runs; relative paths resolve against its folder):

    name: web-vs-mix
    candidates:                       # two or more; each a token directory, a mix file or a pipeline run
      - {name: raw, tokens: ../runs/raw/tokens}
      - {name: mix, mix: demo-mix.yaml}
      - {name: web, pipeline: fineweb.yaml, input: ['../crawl/*.warc.gz']}   # must end with a tokenize stage
    eval: {val: ../runs/heldout/tokens}   # one fixed evaluation set: {name: token dir}
    model: {d_model: 64, n_layers: 2, n_heads: 4}   # the trainer's `model` section
    train: {seq_len: 64, batch_tokens: 1024, max_steps: 50, lr: 0.003}   # any other trainer key
    seeds: [0, 1, 2]                  # or a count; default 3
    alpha: 0.05                       # 0 < alpha < 1
    test: welch                       # welch (default) | paired (by seed)

Outputs in OUT_DIR:
  runs/<config hash>/   one trainer run per (candidate, seed): the trainer's files plus config.json. The hash is the
                        SHA-256 of the canonical JSON of the trainer config without out_dir (token dirs named by path
                        and by the SHA-256 of their manifest), so a rerun, or a compare with one more candidate,
                        reuses every finished run (summary.json with finished: true) and an unfinished one resumes
                        from its checkpoint (the trainer's own resume).
  candidates/<name>/mix/  a mix candidate's `curate mix` output (rebuilt only when the mix file or its sources change)
  candidates/<name>/run/  a pipeline candidate's `curate run` output (rerun only when the pipeline or its inputs change)
  comparison.json, report.html, loss_curves.png, domain_bpb.png
An OUT_DIR holding other files is refused; --overwrite removes only these outputs (everything trains again);
otherwise an earlier compare's OUT_DIR is carried on.

Statistics, on the final held-out bits per byte of each run (overall = total nats / total bytes over every eval set;
per domain from the trainer's per-domain figures): per candidate the mean, the sample standard deviation (ddof 1)
and a 95% Student-t interval; per pair of candidates the difference of the means, its 95% interval and a t-test
across seeds, p-values Holm-corrected over all pairs. `test: welch` (the default) is Welch's unequal-variance test;
`test: paired` pairs runs by seed (every candidate is trained with the same seeds, so seed s shares its
initialisation). The paired test is more sensitive: it also flags the small but consistent difference that two
particular random halves of one corpus have (measured: 2 of 5 random splits of tinyshakespeare gave paired p < 0.05,
Welch p > 0.29 for all 5), which is not what "is this data better?" asks, hence the default.
Zero variance (t undefined): differences all exactly zero → p = 1; all equal and non-zero → p = 0 (a deterministic,
seed-independent difference). With one seed there is no test (p = null, never significant).
Ranking: by mean bpb; a candidate shares the rank of the one above it unless the two differ significantly.

The package, one job a module: `spec` (the compare file → CompareSpec, and each run's trainer config), `runner`
(building candidates, run hashes and reuse, `run_compare`), `stats` (final bpb, tests, ranking), `report` (report.html
and the charts). Importing it is cheap: scipy, matplotlib, pyarrow and torch load only when used.
"""

from __future__ import annotations

from curate.compare.runner import config_hash, run_compare
from curate.compare.spec import load_spec, parse_spec
from curate.compare.stats import analyse, describe, final_bpb, holm, paired_test, welch_test

__all__ = [
    "analyse",
    "config_hash",
    "describe",
    "final_bpb",
    "holm",
    "load_spec",
    "paired_test",
    "parse_spec",
    "run_compare",
    "welch_test",
]
