"""Running a comparison: build each candidate's training tokens, train every (candidate, seed) not trained yet, then
write comparison.json, report.html and the charts.

A run's folder is named by the hash of its trainer config, so finished runs are found again whatever the order of
the candidates, and changed data (a token dir's manifest) never reuses an old run.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.compare.plots import plot_curves, plot_domains
from curate.compare.report import write_report
from curate.compare.scales import agreement, at_scale
from curate.compare.sequential import run_sequential
from curate.compare.spec import Candidate, CompareSpec, load_spec, trainer_config
from curate.compare.stats import curve, summary_figures
from curate.compare.verdicts import analyse
from curate.runfolder import Contract, prepare

# trainer keys that do not change what is learned: left out of the run hash
UNHASHED_KEYS = ("out_dir", "resume", "log_every", "checkpoint_every", "threads", "debug_batches")
OUTPUTS = (
    "runs",
    "candidates",
    "comparison.json",
    "report.html",
    "loss_curves.png",
    "domain_bpb.png",
    "plan.json",  # `curate compare --plan`: the power estimate (plan.py)
)
# other files in OUT_DIR are refused; --overwrite removes only OUTPUTS; otherwise an earlier compare is carried on
CONTRACT = Contract("compare", OUTPUTS, foreign="refuse", reuse=True, option="-o")

Log = Callable[[str], None]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_sha(tokens_dir: str | Path) -> str:
    from curate.tokens import MANIFEST

    return _sha256((Path(tokens_dir) / MANIFEST).read_bytes())


def config_hash(cfg: dict) -> str:
    """SHA-256 of the canonical JSON of a trainer config without out_dir (and keys that do not change the result);
    token dirs count by path and by their manifest's SHA-256, so changed data never reuses an old run; the trainer's
    data format too, so a run that drew its documents another way is never reused."""
    from curate_train.sampling import DATA_FORMAT

    keyed = {k: v for k, v in cfg.items() if k not in UNHASHED_KEYS}
    if not keyed.get("ema_halflife"):  # off (the default) learns what runs before the key existed learned
        keyed.pop("ema_halflife", None)
    keyed["data_format"] = DATA_FORMAT
    keyed["train"] = [{"path": d, "manifest_sha256": _manifest_sha(d)} for d in cfg["train"]]
    keyed["eval"] = {n: {"path": d, "manifest_sha256": _manifest_sha(d)} for n, d in sorted(cfg["eval"].items())}
    return _sha256(json.dumps(keyed, sort_keys=True, separators=(",", ":"), default=str).encode())


def _build_tokens(cand: Candidate, out: Path, log: Log) -> Path:
    return cand.path


def _build_pipeline(cand: Candidate, out: Path, log: Log) -> Path:
    """A pipeline candidate's tokens/; rerun only when the pipeline file or its input files changed."""
    from curate import config
    from curate.pipeline import RunOptions, run
    from curate.runfolder import expand_inputs

    files = expand_inputs(list(cand.inputs))
    key = _sha256(
        cand.path.read_bytes()
        + json.dumps([(f, Path(f).stat().st_size if Path(f).exists() else None) for f in files]).encode()
    )
    root = out / "candidates" / cand.name
    run_dir, stamp = root / "run", root / "run.sha256"
    if (run_dir / "stats.json").is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return run_dir / "tokens"
    log(f"compare: running pipeline candidate {cand.name}: {cand.path}")
    root.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    run(config.load(cand.path), RunOptions(inputs=files, output=run_dir, overwrite=True, progress=False))
    stamp.write_text(key + "\n")
    return run_dir / "tokens"


def _mix_key(cand: Candidate) -> str:
    """SHA-256 of a mix file's content and its sources' manifests: what decides a rebuild, and which mix candidates
    train on identical data."""
    from curate import mix

    mspec = mix.load_spec(cand.path)
    return _sha256(cand.path.read_bytes() + b"".join(_manifest_sha(s.path).encode() for s in mspec.sources))


def _build_mix(cand: Candidate, out: Path, log: Log) -> Path:
    """A mix candidate's train/ dir; rebuilt only when the mix file or its sources' manifests changed."""
    from curate import mix

    key = _mix_key(cand)
    root = out / "candidates" / cand.name
    mix_dir, stamp = root / "mix", root / "mix.sha256"
    if (mix_dir / mix.REPORT).is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return mix_dir / "train"
    log(f"compare: building mix candidate {cand.name} from {cand.path}")
    root.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    mix.run_mix(cand.path, mix_dir, overwrite=True)
    stamp.write_text(key + "\n")
    return mix_dir / "train"


BUILDERS: dict[str, Callable[[Candidate, Path, Log], Path]] = {
    "tokens": _build_tokens,
    "mix": _build_mix,
    "pipeline": _build_pipeline,
}


def _check_leakage(spec: CompareSpec, cand: Candidate, built: Path, out: Path, log: Log) -> tuple[Path, dict]:
    """Every candidate's overlap with the eval sets (leakage.py), and with `decontaminate: true` its training dir
    without the overlapping documents (candidates/<name>/decontaminated, rejected.jsonl naming the eval document).
    Returns the dir to train on and what goes into the candidate's `data` record."""
    from curate.compare.leakage import cached_leakage, decontaminate_tokens

    root = out / "candidates" / cand.name
    tokenizer = spec.tokenizer or None
    if not spec.decontaminate:
        found = cached_leakage(built, spec.eval, root / "leakage.json", tokenizer)
        if found["overlapping"]["documents"]:
            log(f"compare: {cand.name}: {leakage_line(found)}; `decontaminate: true` trains without them")
        text = leakage_line(found) if found["overlapping"]["documents"] else None
        return built, {"leakage": found, "leakage_text": text, "decontaminated": None}
    done = decontaminate_tokens(built, spec.eval, root / "decontaminated", tokenizer)
    removed = done["removed"]
    if removed["documents"]:
        log(f"compare: {cand.name}: removed {removed['documents']} documents that overlap an eval set")
    summary = {
        "dir": done["out_dir"],
        "removed": removed,
        "kept": done["kept"],
        "rejected": str(Path(done["out_dir"]) / done["rejected"]),
    }
    return Path(done["out_dir"]), {"leakage": done["leakage"], "leakage_text": None, "decontaminated": summary}


def leakage_line(found: dict) -> str:
    """One sentence: how much of each eval set a candidate's training data holds."""
    over = found["overlapping"]
    sets = [
        f"{s['contaminated']} of {s['documents']} {name} documents ({s['exact']} exact)"
        for name, s in found["eval"].items()
        if s["contaminated"]
    ]
    if not over["documents"]:
        return f"no eval document found in its training data ({found['unit']} {found['n_grams']}-grams)"
    return (
        f"{over['documents']} training documents ({over['tokens_share']:.2%} of its tokens) overlap an eval set: "
        + "; ".join(sets)
        + f" (containment ≥ {found['threshold']} of {found['unit']} {found['n_grams']}-grams)"
    )


def finished_summary(run_dir: Path) -> dict | None:
    """The run's summary when it trained to its last step (the trainer writes finished: true), else None."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return summary if summary.get("finished") else None


def run_config(spec: CompareSpec, train_dir: Path, seed: int, out: Path) -> tuple[dict, str, Path]:
    """One (candidate, seed)'s trainer config, its hash and its folder runs/<hash> (under `cache:` when the spec names
    one): the one place a run is named, so `run_compare` and `plan` (which trains pilot seeds for the compare to
    reuse) always agree on it, and compares sharing a cache share their runs."""
    runs = Path(spec.cache) if spec.cache else out / "runs"
    cfg = trainer_config(spec, str(train_dir), seed, str(runs / "pending"))
    digest = config_hash(cfg)
    run_dir = runs / digest
    cfg["out_dir"] = str(run_dir)
    return cfg, digest, run_dir


def train_run(cfg: dict, run_dir: Path) -> dict:
    """Train one run into run_dir (config.json first, so the folder says what it holds) and return its summary;
    a run that stops before its last step is an error, never a figure."""
    import curate_train

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    summary = curate_train.run(cfg, quiet=True)
    if not summary.get("finished"):
        raise RuntimeError(f"compare: run {run_dir} stopped before its last step")
    return summary


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def compare_at_scale(spec: CompareSpec, out: Path, say: Log) -> tuple[dict, dict[str, list[dict]]]:
    """Build the candidates, check their leakage, train every (candidate, seed) not trained yet (adding seeds on
    demand with `seeds: {min, max}`) and analyse: (the comparison dict, each candidate's runs)."""
    runs: dict[str, list[dict]] = {}
    data: dict[str, dict] = {}  # what each candidate trains on: names identical candidates
    train_dirs: dict[str, Path] = {}

    def add_run(name: str, seed: int) -> dict:
        """Train (or reuse) one (candidate, seed) run; its figures for the analysis."""
        train_dir = train_dirs[name]
        cfg, digest, run_dir = run_config(spec, train_dir, seed, out)
        summary = finished_summary(run_dir)
        reused = summary is not None
        if summary is None:
            say(f"compare: training {name} seed {seed} → runs/{digest[:12]}…")
            summary = train_run(cfg, run_dir)
        else:
            say(f"compare: reusing {name} seed {seed} (runs/{digest[:12]}…)")
        data[name]["run_hashes"].append(digest)
        return {
            "seed": seed,
            "hash": digest,
            "dir": str(run_dir.relative_to(out)) if run_dir.is_relative_to(out) else str(run_dir),
            "train_dir": str(train_dir),
            "reused": reused,
            **summary_figures(summary, spec.weights),  # bpb (the target), eval_sets, pooled, domains, figure
            "sample": summary.get("sample"),  # what the run trained on (newer trainers)
            "eval_coverage": summary.get("eval_sets"),  # how much of each eval set it was scored on
            "curve": curve(run_dir / "metrics.jsonl", spec.weights),
        }

    for cand in spec.candidates:
        built = BUILDERS[cand.kind](cand, out, say)
        train_dir, checked = _check_leakage(spec, cand, built, out, say)
        train_dirs[cand.name] = train_dir
        data[cand.name] = {
            "kind": cand.kind,
            "source": cand.source,
            "train_dir": str(train_dir),
            "manifest_sha256": _manifest_sha(train_dir),
            "mix_sha256": _mix_key(cand) if cand.kind == "mix" else None,
            "run_hashes": [],
            **checked,
        }
        runs[cand.name] = [add_run(cand.name, seed) for seed in spec.seeds]

    if spec.max_seeds is None:
        return analyse(spec, runs, data), runs
    return run_sequential(spec, runs, data, add_run, say), runs


def run_compare(
    spec_path: str | Path | CompareSpec, out_dir: str | Path, overwrite: bool = False, log: Log | None = _stderr
) -> dict:
    """Train every (candidate, seed) not already trained, then write comparison.json, report.html and the charts.

    An existing OUT_DIR from an earlier compare is reused (finished runs are not retrained, unfinished ones resume);
    overwrite=True deletes its outputs first, so everything is trained again. log=None is silent. The spec is a compare
    file or an already validated CompareSpec (`curate ablate` builds one). Returns the comparison dict."""
    spec = spec_path if isinstance(spec_path, CompareSpec) else load_spec(spec_path)
    out = Path(out_dir).resolve()
    prepare(out, CONTRACT, overwrite)
    say: Log = log or (lambda _message: None)

    if not spec.scales:
        result, runs = compare_at_scale(spec, out, say)
    else:
        per_scale = {}
        for scale in spec.scales:
            say(f"compare: scale {scale['name']}")
            per_scale[scale["name"]] = compare_at_scale(at_scale(spec, scale), out, say)
        result, runs = per_scale[spec.scales[-1]["name"]]  # the largest scale leads the report
        result["scales"] = agreement(spec, {name: r for name, (r, _) in per_scale.items()})
    for same in result["identical"]:
        say(f"compare: {same['text']}")
    result["out_dir"] = str(out)
    (out / "comparison.json").write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    plot_curves(runs, out / "loss_curves.png")
    plot_domains(result, out / "domain_bpb.png")
    write_report(result, out / "report.html")
    say(f"compare: {result['summary']}")
    return result
