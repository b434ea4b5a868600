"""`curate ablate PIPELINE.yaml --input FILES -o DIR --compare SETTINGS.yaml`: which stage of a recipe helps?

One pass of the pipeline in which every filter records its verdict instead of dropping (passes.py); then candidates
are selections over those documents (select.py): the recipe, the recipe without each filter stage in turn, without
dedup and without each text transform (PII) as whole stages (`--stages` picks some; `--raw` adds no curation at all).
Each candidate is tokenized from one pool (every document once, one tokenizer) and `curate compare` trains them at
the same token budget against the recipe (`pairs: reference`); table.py turns that into the ablation table:
stage | documents it removes (share) | effect on each eval set and the target, with CI | helps / hurts / no
evidence (MDD). Nothing is done twice: extraction, language ID and every filter run once in the pass, dedup keys are
computed once, each document is tokenized once, and a stage that removes nothing selects the recipe's own data, so
its runs are the recipe's.

SETTINGS.yaml is a compare file without candidates (eval, model, train, seeds, alpha, test, tokenizer,
decontaminate); relative paths in it resolve against its folder.

Outputs in DIR: pass/ (documents/ with `verdicts` and `texts_before`, rejected/ of the stages that make text, dedup/
keys, logs/), pool/ (every needed document tokenized once), candidates/<name>/ (token dirs), compare.yaml (the compare
file ablate ran), compare/ (`curate compare`'s output), ablation.json (format curate-ablate/1), report.html (the
table). Every part is reused while its inputs are unchanged; --overwrite removes only these.
"""

from __future__ import annotations

from curate.ablate.run import run_ablate

__all__ = ["run_ablate"]
