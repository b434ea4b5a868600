"""`run_mix`: validate, plan, write validation, select and interleave, write training, report, in that order.

Validation is written before the training selection is drawn, so its rows never wait in memory alongside the
training plan's index arrays.
"""

from __future__ import annotations

from pathlib import Path

from curate.mix.plan import interleave, plan_sources, select_all, targets
from curate.mix.report import REPORT, build_report, write_report
from curate.mix.spec import load_spec
from curate.mix.write import TMP, write_train, write_val
from curate.runfolder import Contract, prepare
from curate.tokens import read_manifest, use_jemalloc

CONTRACT = Contract("mix", ("train", "val", TMP, REPORT), foreign="refuse", option="-o")


def run_mix(spec_path: str | Path, out_dir: str | Path, overwrite: bool = False) -> dict:
    """Mix the sources of a mix file into out_dir/train, out_dir/val and out_dir/mix_report.json; returns the report."""
    spec = load_spec(spec_path)
    out = Path(out_dir)
    prepare(out, CONTRACT, overwrite)
    use_jemalloc()  # row groups stream through: hand memory back after each one

    pools, domain_names = plan_sources(spec)
    write_val(spec, pools, out / "val")
    val_manifest = read_manifest(out / "val")

    goals = targets([s.weight for s in spec.sources], spec.token_budget)
    selections, capped = select_all(spec, pools, goals)
    write_train(spec, pools, domain_names, interleave(spec.seed, pools, selections), out / "train", out / TMP)
    train_manifest = read_manifest(out / "train")

    report = build_report(spec, pools, selections, capped, goals, domain_names, train_manifest, val_manifest)
    write_report(out, report)
    return report
