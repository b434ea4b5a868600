"""`curate ablate`: the pass, the candidates, the comparison and the ablation table, each reused when unchanged."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from curate.ablate.passes import build_pass, roles
from curate.ablate.select import Candidate, build_pool, load_pass, select, write_candidate
from curate.ablate.table import ablation_table, write_report
from curate.runfolder import Contract, RunError, expand_inputs, prepare
from curate.spec import ConfigError, load_yaml

OUTPUTS = ("pass", "pool", "candidates", "compare", "compare.yaml", "ablation.json", "report.html")
CONTRACT = Contract("ablate", OUTPUTS, foreign="refuse", reuse=True, option="-o")
RECIPE, RAW = "recipe", "raw"
SETTINGS_NOT_ALLOWED = ("candidates", "reference", "pairs")

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_settings(path: str | Path) -> tuple[dict, Path]:
    """The compare settings (a compare file without candidates: eval, model, train, seeds, alpha...)."""
    data = load_yaml(path, "compare settings")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of compare keys (eval, model, train, seeds, alpha)")
    for key in SETTINGS_NOT_ALLOWED:
        if key in data:
            raise ConfigError(f"{path}: {key}: set by curate ablate (the recipe and its ablations); remove it")
    return data, Path(path).resolve().parent


def _pass_key(pipeline: Path, paths: list[str]) -> str:
    listing = [(p, Path(p).stat().st_size if Path(p).exists() else None) for p in paths]
    return hashlib.sha256(pipeline.read_bytes() + json.dumps(listing).encode()).hexdigest()


def run_pass(spec, pipeline: Path, paths: list[str], folder: Path, workers: int, log: Log) -> None:
    """The one pass, skipped when pass.json says it ran on this pipeline file and these inputs."""
    from curate.progress import ReportingLocalExecutor  # datatrove's, logging to the console at curate's level

    key = _pass_key(pipeline, paths)
    stamp = folder / "pass.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        log(f"ablate: reusing the pass in {folder}")
        return
    if folder.exists():
        shutil.rmtree(folder)  # our own folder (the contract refuses foreign files in OUT_DIR)
    tasks = max(1, min(workers, len(paths)))
    log(f"ablate: one pass of {pipeline} over {len(paths)} file(s), every filter recording instead of dropping")
    ReportingLocalExecutor(
        pipeline=build_pass(spec, paths, folder, tasks, progress=False),
        tasks=tasks,
        workers=tasks,
        logging_dir=str(folder / "logs"),
    ).run()
    stamp.write_text(json.dumps({"key": key, "pipeline": str(pipeline), "inputs": paths}, indent=2) + "\n")


def plan_candidates(spec, only: list[str] | None, raw: bool) -> tuple[list[Candidate], list[str], Any]:
    """The recipe, the recipe without each ablatable stage (or only those named), and raw when asked."""
    kinds = {r.stage: r.kind for r in roles(spec)}
    filters = tuple(s for s, k in kinds.items() if k == "filter")
    transforms = [s for s, k in kinds.items() if k == "transform"]
    dedup_stage = next((s for s in spec.stages if kinds[s.name] == "dedup"), None)
    ablatable = [s for s, k in kinds.items() if k in ("filter", "dedup", "transform")]
    if only:
        for name in only:
            if name not in kinds:
                raise RunError(f"--stages {name}: not a stage of {spec.path} ({', '.join(kinds)})")
            if name not in ablatable:
                raise RunError(
                    f"--stages {name}: a {kinds[name]} stage cannot be left out (only filters, dedup and text "
                    f"transforms: {', '.join(ablatable)})"
                )
    chosen = [s for s in ablatable if not only or s in only]
    dedup = dedup_stage.build() if dedup_stage is not None else None
    recipe = Candidate(RECIPE, None, filters, dedup is not None, tuple(transforms))
    candidates = [recipe]
    for stage in chosen:
        candidates.append(
            Candidate(
                f"without-{stage}",
                stage,
                tuple(f for f in filters if f != stage),
                recipe.dedup and kinds[stage] != "dedup",
                tuple(t for t in transforms if t != stage),
            )
        )
    if raw:
        candidates.append(Candidate(RAW, None, (), False, ()))
    return candidates, transforms, dedup


def _tokenizer(spec, settings: dict, base: Path) -> str:
    from curate.settings import expand

    stages = [s for s in spec.stages if s.definition.writes_tokens]
    if stages:
        return str(expand(stages[-1].params["tokenizer"]))
    if isinstance(settings.get("tokenizer"), str):
        return str((base / expand(settings["tokenizer"])).resolve())
    raise ConfigError(f"{spec.path}: no tokenize stage, and the compare settings name no `tokenizer:`")


def run_ablate(
    pipeline: str | Path,
    inputs: list[str],
    out_dir: str | Path,
    settings_path: str | Path,
    stages: list[str] | None = None,
    raw: bool = False,
    workers: int = 1,
    overwrite: bool = False,
    log: Log | None = _stderr,
) -> dict:
    """One pass, the candidates' token dirs, `curate compare` against the recipe, ablation.json and report.html."""
    from curate import config
    from curate.compare import parse_spec, run_compare

    say: Log = log or (lambda _message: None)
    spec = config.load(pipeline)
    settings, base = load_settings(settings_path)
    tokenizer = _tokenizer(spec, settings, base)
    candidates, transforms, dedup = plan_candidates(spec, stages, raw)
    paths = expand_inputs(inputs)
    out = Path(out_dir).resolve()
    prepare(out, CONTRACT, overwrite)

    run_pass(spec, Path(pipeline).resolve(), paths, out / "pass", workers, say)
    done = load_pass(out / "pass")
    for cand in candidates:
        select(done, cand, transforms, dedup)
    build_pool(done, candidates, tokenizer, out / "pool")
    dirs: dict[str, Path] = {}
    by_signature: dict[str, str] = {}
    counts: dict[str, dict] = {}
    for cand in candidates:
        signature = cand.signature()
        first = by_signature.setdefault(signature, cand.name)
        dirs[cand.name] = dirs[first] if first != cand.name else out / "candidates" / cand.name
        if first == cand.name:
            counts[cand.name] = write_candidate(done, cand, out / "pool", dirs[cand.name])
        else:
            counts[cand.name] = {**counts[first], "same_as": first}
            say(f"ablate: {cand.name} selects exactly the documents of {first}: it shares its data and runs")

    data = dict(settings)
    data["candidates"] = [{"name": c.name, "tokens": str(dirs[c.name])} for c in candidates]
    data["reference"] = RECIPE
    data["pairs"] = "reference"
    data.setdefault("name", f"ablate-{spec.name}")
    compare_spec = parse_spec(data, str(settings_path), base)
    (out / "compare.yaml").write_text(yaml.safe_dump(_resolved(data, compare_spec), sort_keys=False))
    result = run_compare(compare_spec, out / "compare", log=say)

    table = ablation_table(result, candidates, counts, done)
    (out / "ablation.json").write_text(json.dumps(table, indent=2) + "\n")
    write_report(table, result, out / "report.html")
    for row in table["rows"]:
        say(f"ablate: {row['text']}")
    return table


def _resolved(data: dict, compare_spec) -> dict:
    """The compare file ablate ran, with absolute paths, for the record (and to rerun by hand)."""
    out = dict(data)
    out["eval"] = {n: {"tokens": d, "weight": compare_spec.weight(n)} for n, d in compare_spec.eval.items()}
    if compare_spec.tokenizer:
        out["tokenizer"] = compare_spec.tokenizer
    return out
