"""`curate compare`: train the same proxy model on two or more candidate datasets, several seeds each, and say which
one gives the lowest held-out bits per byte, and whether the difference is significant.

A compare file (YAML, validated whole before anything runs; relative paths resolve against its folder):

    name: web-vs-mix
    candidates:                       # two or more; each a token directory or a mix file
      - {name: raw, tokens: ../runs/raw/tokens}
      - {name: mix, mix: demo-mix.yaml}
    eval: {val: ../runs/heldout/tokens}   # one fixed evaluation set: {name: token dir}
    model: {d_model: 64, n_layers: 2, n_heads: 4}   # the trainer's `model` section
    train: {seq_len: 64, batch_tokens: 1024, max_steps: 50, lr: 0.003}   # any other trainer key
    seeds: [0, 1, 2]                  # or a count; default 3
    alpha: 0.05
    test: welch                       # welch (default) | paired (by seed)

Outputs in OUT_DIR:
  runs/<config hash>/   one trainer run per (candidate, seed): the trainer's files plus config.json. The hash is the
                        SHA-256 of the canonical JSON of the trainer config without out_dir (token dirs named by path
                        and by the SHA-256 of their manifest), so a rerun, or a compare with one more candidate,
                        reuses every finished run (summary.json with finished: true) and an unfinished one resumes
                        from its checkpoint (the trainer's own resume).
  candidates/<name>/mix/  a mix candidate's `curate mix` output (rebuilt only when the mix file or its sources change)
  comparison.json, report.html, loss_curves.png, domain_bpb.png

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
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from curate.config import ConfigError, check_top_level, load_yaml
from curate.tokens import MANIFEST, read_manifest

FORMAT = "curate-compare/1"
TOP_KEYS = ("name", "candidates", "eval", "model", "train", "seeds", "alpha", "test")
TESTS = ("welch", "paired")
TEST_NAMES = {"welch": "Welch's t-tests across seeds", "paired": "paired t-tests across seeds (runs paired by seed)"}
CANDIDATE_KEYS = ("name", "tokens", "mix", "pipeline", "input")
RESERVED_TRAIN_KEYS = ("train", "eval", "out_dir", "model", "seed", "resume", "stop_at_step")
# trainer keys that do not change what is learned: left out of the run hash
UNHASHED_KEYS = ("out_dir", "resume", "log_every", "checkpoint_every", "threads", "debug_batches")
OUTPUTS = ("runs", "candidates", "comparison.json", "report.html", "loss_curves.png", "domain_bpb.png")
NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
DEFAULT_SEEDS = (0, 1, 2)


@dataclass
class Candidate:
    name: str
    kind: str  # "tokens" | "mix" | "pipeline"
    source: str  # as written in the file
    path: Path  # the token dir, the mix file, or the pipeline file
    tokenizer_sha256: str = ""
    inputs: tuple[str, ...] = ()  # a pipeline candidate's crawl files


@dataclass
class CompareSpec:
    path: str
    name: str | None
    candidates: list[Candidate]
    eval: dict[str, str]
    model: dict
    train: dict
    seeds: list[int]
    alpha: float
    test: str = "welch"
    tokenizer_sha256: str = ""

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "name": self.name,
            "eval": self.eval,
            "model": self.model,
            "train": self.train,
            "seeds": self.seeds,
            "alpha": self.alpha,
            "test": self.test,
            "tokenizer_sha256": self.tokenizer_sha256,
            "candidates": [{"name": c.name, c.kind: c.source, "path": str(c.path)} for c in self.candidates],
        }


# ---------------------------------------------------------------------------------------------------- the spec


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _token_dir(value: Any, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a token directory, got {value!r}")
    path = (base / value).resolve()
    if not (path / MANIFEST).is_file():
        raise ConfigError(f"{where}: {path} is not a token directory (no {MANIFEST})")
    return path


def load_spec(path: str | Path) -> CompareSpec:
    """Read and validate a compare file whole: keys, types, token dirs, mix files, trainer keys and tokenizers."""
    return parse_spec(load_yaml(path, "compare"), str(path), Path(path).resolve().parent)


def parse_spec(data: Any, path: str, base: Path) -> CompareSpec:
    from curate import mix

    check_top_level(data, TOP_KEYS, path)
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: name: expected a string, got {name!r}")

    raw = data.get("candidates")
    if not isinstance(raw, list) or len(raw) < 2:
        raise ConfigError(f"{path}: candidates: expected a list of two or more candidates, got {raw!r}")
    candidates: list[Candidate] = []
    for i, entry in enumerate(raw):
        where = f"{path}: candidates[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with keys name and tokens or mix, got {entry!r}")
        for key in entry:
            if key not in CANDIDATE_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(CANDIDATE_KEYS)}")
        cname = entry.get("name")
        if not isinstance(cname, str) or not NAME_RE.fullmatch(cname):
            raise ConfigError(f"{where}.name: expected a name of letters, digits, '_', '-' or '.', got {cname!r}")
        if any(c.name == cname for c in candidates):
            raise ConfigError(f"{where}.name: '{cname}' is used twice")
        where = f"{path}: candidates[{i}] ({cname})"
        if sum(k in entry for k in ("tokens", "mix", "pipeline")) != 1:
            raise ConfigError(
                f"{where}: give exactly one of 'tokens' (a token directory), 'mix' (a mix file) or "
                f"'pipeline' (a pipeline YAML with a tokenize stage, plus 'input')"
            )
        if "pipeline" in entry:
            candidates.append(_pipeline_candidate(cname, entry, base, where))
        elif "tokens" in entry:
            tdir = _token_dir(entry["tokens"], base, f"{where}.tokens")
            sha = read_manifest(tdir)["tokenizer"]["sha256"]
            candidates.append(Candidate(cname, "tokens", entry["tokens"], tdir, sha))
        else:
            value = entry["mix"]
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}.mix: expected a mix file, got {value!r}")
            mix_path = (base / value).resolve()
            mspec = mix.load_spec(mix_path)  # validated whole; its errors name the mix file
            candidates.append(Candidate(cname, "mix", value, mix_path, mspec.tokenizer.sha256))

    ev = data.get("eval")
    if not isinstance(ev, dict) or not ev:
        raise ConfigError(f"{path}: eval: expected a mapping {{name: held-out token directory}}, got {ev!r}")
    evals = {}
    for ename, value in ev.items():
        if not isinstance(ename, str) or not NAME_RE.fullmatch(ename):
            raise ConfigError(f"{path}: eval.{ename}: expected a name of letters, digits, '_', '-' or '.'")
        evals[ename] = str(_token_dir(value, base, f"{path}: eval.{ename}"))

    # one tokenizer for everything: the first eval set's is the reference
    first_eval = next(iter(evals))
    sha = read_manifest(evals[first_eval])["tokenizer"]["sha256"]
    for ename, d in evals.items():
        other = read_manifest(d)["tokenizer"]["sha256"]
        if other != sha:
            raise ConfigError(
                f"{path}: eval.{ename}: tokenizer sha256 {other[:12]}… differs from eval.{first_eval}'s {sha[:12]}…"
            )
    for i, cand in enumerate(candidates):
        if cand.tokenizer_sha256 != sha:
            raise ConfigError(
                f"{path}: candidates[{i}] ({cand.name}): tokenizer sha256 {cand.tokenizer_sha256[:12]}… "
                f"differs from the eval set's {sha[:12]}…; every candidate must use the same tokenizer"
            )

    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise ConfigError(f"{path}: model: expected a mapping (the trainer's model section), got {model!r}")
    train_keys = data.get("train") or {}
    if not isinstance(train_keys, dict):
        raise ConfigError(f"{path}: train: expected a mapping of trainer keys, got {train_keys!r}")
    for key in train_keys:
        if key in RESERVED_TRAIN_KEYS:
            raise ConfigError(f"{path}: train.{key}: set by compare (candidates, eval, model, seeds); remove it")

    seeds = data.get("seeds", list(DEFAULT_SEEDS))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"{path}: seeds: expected a positive count or a list of integers, got {seeds!r}")
        seeds = list(range(seeds))
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise ConfigError(f"{path}: seeds: expected a list of integers (or a count), got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{path}: seeds: {seeds!r} repeats a seed")
    alpha = data.get("alpha", 0.05)
    if not _is_number(alpha) or not 0 < alpha < 1:
        raise ConfigError(f"{path}: alpha: expected a number with 0 < alpha < 1, got {alpha!r}")

    test = data.get("test", "welch")
    if test not in TESTS:
        raise ConfigError(f"{path}: test: expected one of {', '.join(TESTS)}, got {test!r}")
    spec = CompareSpec(
        path, name, candidates, evals, dict(model), dict(train_keys), list(seeds), float(alpha), test, sha
    )
    # the trainer validates its own keys; do it now, with a stand-in train dir, so a typo fails before any training
    _trainer_config(spec, str(Path(evals[first_eval])), seeds[0], "/nonexistent")
    return spec


def _trainer_config(spec: CompareSpec, train_dir: str, seed: int, out_dir: str) -> dict:
    """The validated trainer config for one run (errors become ConfigErrors naming the compare file)."""
    from train.config import ConfigError as TrainConfigError
    from train.config import load_config

    raw = {
        "device": "auto",
        **spec.train,
        "model": spec.model,
        "train": [train_dir],
        "eval": dict(spec.eval),
        "out_dir": out_dir,
        "seed": seed,
    }
    try:
        cfg = load_config(raw)
    except TrainConfigError as err:
        message = str(err).removeprefix("config: ")
        section = "model" if "'model." in message else "train"
        raise ConfigError(f"{spec.path}: {section}: {message}") from None
    if cfg["max_steps"] is None and cfg["tokens"] is None and cfg["chinchilla_multiple"] is None:
        raise ConfigError(f"{spec.path}: train.tokens: give the budget: tokens, chinchilla_multiple or max_steps")
    if not spec.train.get("eval_every"):
        steps = _total_steps(cfg)
        if steps:
            cfg["eval_every"] = max(1, steps // 10)  # a loss curve of ~10 points
    return cfg


def _total_steps(cfg: dict) -> int | None:
    """The trainer's step count on one process (None when it depends on the parameter count)."""
    if cfg["max_steps"] is not None:
        return cfg["max_steps"]
    if cfg["tokens"] is None:
        return None
    per_micro = cfg["micro_batch"] * cfg["seq_len"]
    step_tokens = per_micro * max(1, round((cfg["batch_tokens"] or per_micro) / per_micro))
    return max(1, math.ceil(cfg["tokens"] / step_tokens))


# ---------------------------------------------------------------------------------------------------- running


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_sha(tokens_dir: str | Path) -> str:
    return _sha256((Path(tokens_dir) / MANIFEST).read_bytes())


def config_hash(cfg: dict) -> str:
    """SHA-256 of the canonical JSON of a trainer config without out_dir (and keys that do not change the result);
    token dirs count by path and by their manifest's SHA-256, so changed data never reuses an old run."""
    keyed = {k: v for k, v in cfg.items() if k not in UNHASHED_KEYS}
    keyed["train"] = [{"path": d, "manifest_sha256": _manifest_sha(d)} for d in cfg["train"]]
    keyed["eval"] = {n: {"path": d, "manifest_sha256": _manifest_sha(d)} for n, d in sorted(cfg["eval"].items())}
    return _sha256(json.dumps(keyed, sort_keys=True, separators=(",", ":"), default=str).encode())


def _pipeline_candidate(cname: str, entry: dict, base: Path, where: str) -> Candidate:
    """`pipeline: YAML` + `input: [files or globs]`: the pipeline must end in a tokenize stage (its tokenizer is the
    candidate's); relative paths resolve against the compare file's folder."""
    from curate import config
    from curate.settings import expand
    from curate.tokens import file_sha256

    value, inputs = entry["pipeline"], entry.get("input")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.pipeline: expected a pipeline YAML file, got {value!r}")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        raise ConfigError(f"{where}.input: expected the crawl files (paths or globs) the pipeline reads")
    path = (base / value).resolve()
    pspec = config.load(path)
    tokenize = [s for s in pspec.stages if s.kind == "tokenize"]
    if not tokenize:
        raise ConfigError(f"{where}.pipeline: {path} has no tokenize stage, so it makes no token shards")
    resolved = tuple(i if "://" in i or Path(expand(i)).is_absolute() else str(base / expand(i)) for i in inputs)
    sha = file_sha256(expand(tokenize[-1].params["tokenizer"]))
    return Candidate(cname, "pipeline", value, path, sha, resolved)


def _build_pipeline(cand: Candidate, out: Path, log) -> Path:
    """A pipeline candidate's tokens/; rerun only when the pipeline file or its input files changed."""
    from curate import config
    from curate.pipeline import RunOptions, expand_inputs, run

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


def _build_mix(cand: Candidate, out: Path, log) -> Path:
    """A mix candidate's train/ dir; rebuilt only when the mix file or its sources' manifests changed."""
    from curate import mix

    mspec = mix.load_spec(cand.path)
    key = _sha256(cand.path.read_bytes() + b"".join(_manifest_sha(s.path).encode() for s in mspec.sources))
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


def _finished(run_dir: Path) -> dict | None:
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return summary if summary.get("finished") else None


def _prepare_output(out: Path, overwrite: bool) -> None:
    from curate.pipeline import RunError, remove_outputs

    if out.exists() and not out.is_dir():
        raise RunError(f"-o {out}: is a file, not a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if foreign:
            raise RunError(
                f"-o {out}: holds files a compare does not write ({', '.join(foreign)}); choose another folder"
            )
        if overwrite:  # start over: no run is reused
            remove_outputs(out, OUTPUTS)
    out.mkdir(parents=True, exist_ok=True)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_compare(spec_path: str | Path, out_dir: str | Path, overwrite: bool = False, log=_stderr) -> dict:
    """Train every (candidate, seed) not already trained, then write comparison.json, report.html and the charts.

    An existing OUT_DIR from an earlier compare is reused (finished runs are not retrained, unfinished ones resume);
    overwrite=True deletes its outputs first, so everything is trained again. Returns the comparison dict."""
    import train

    spec = load_spec(spec_path)
    out = Path(out_dir).resolve()
    _prepare_output(out, overwrite)
    log = log or (lambda _message: None)

    runs: dict[str, list[dict]] = {}
    for cand in spec.candidates:
        build = {"tokens": lambda c, o, lg: c.path, "mix": _build_mix, "pipeline": _build_pipeline}[cand.kind]
        train_dir = build(cand, out, log)
        runs[cand.name] = []
        for seed in spec.seeds:
            cfg = _trainer_config(spec, str(train_dir), seed, str(out / "runs" / "pending"))
            digest = config_hash(cfg)
            run_dir = out / "runs" / digest
            cfg["out_dir"] = str(run_dir)
            summary = _finished(run_dir)
            reused = summary is not None
            if summary is None:
                log(f"compare: training {cand.name} seed {seed} → runs/{digest[:12]}…")
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
                summary = train.run(cfg, quiet=True)
                if not summary.get("finished"):
                    raise RuntimeError(f"compare: run {run_dir} stopped before its last step")
            else:
                log(f"compare: reusing {cand.name} seed {seed} (runs/{digest[:12]}…)")
            overall, domains = _final_bpb(summary["eval"])
            runs[cand.name].append(
                {
                    "seed": seed,
                    "hash": digest,
                    "dir": str(run_dir.relative_to(out)),
                    "train_dir": str(train_dir),
                    "reused": reused,
                    "bpb": overall,
                    "domains": domains,
                    "curve": _curve(run_dir / "metrics.jsonl"),
                }
            )

    result = analyse(spec, runs)
    result["out_dir"] = str(out)
    (out / "comparison.json").write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    plot_curves(runs, out / "loss_curves.png")
    plot_domains(result, out / "domain_bpb.png")
    write_report(result, out / "report.html")
    log(f"compare: {result['summary']}")
    return result


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _final_bpb(evals: dict) -> tuple[float, dict[str, float]]:
    """Overall bpb over every eval set (total nats / total bytes) and bpb per domain (`set/domain` with more than
    one eval set)."""
    nats = nbytes = 0.0
    domains: dict[str, float] = {}
    for ename, fig in evals.items():
        nats += fig["bpb"] * math.log(2) * fig["bytes"]
        nbytes += fig["bytes"]
        for dname, dfig in fig.get("domains", {}).items():
            if dfig.get("bpb") is not None:
                domains[dname if len(evals) == 1 else f"{ename}/{dname}"] = dfig["bpb"]
    return nats / (math.log(2) * nbytes), domains


def _curve(metrics: Path) -> list[list[float]]:
    points = []
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("type") == "eval":
                points.append([record["tokens"], _final_bpb(record["eval"])[0]])
    return points


# ---------------------------------------------------------------------------------------------------- statistics


def describe(values: list[float]) -> dict:
    """n, mean, std (ddof 1), 95% Student-t interval (null with one value), min, max, the values."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if n > 1:
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        ci = [mean - half, mean + half]
    else:
        ci = None
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci95": ci,
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def paired_test(a: list[float], b: list[float]) -> dict:
    """Paired t-test of b − a (runs paired by seed): mean difference, its std and 95% interval, t and p.
    Zero variance of the differences: p = 1 when all are exactly 0, p = 0 when all equal a non-zero value; one pair:
    p = null (no test)."""
    from scipy import stats

    diffs = [y - x for x, y in zip(a, b)]
    d = describe(diffs)
    out = {
        "n": d["n"],
        "diff_mean": d["mean"],
        "diff_std": d["std"],
        "diff_ci95": d["ci95"],
        "t": None,
        "p_value": None,
        "test": "paired t-test (by seed)",
    }
    if d["n"] < 2:
        out["test"] = "none (one seed)"
    elif d["std"] == 0.0:
        out["p_value"] = 1.0 if d["mean"] == 0.0 else 0.0
        out["test"] = "paired t-test (by seed); zero variance of the differences"
    else:
        res = stats.ttest_rel(b, a)
        out["t"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def welch_test(a: list[float], b: list[float]) -> dict:
    """Welch's unequal-variance t-test of mean(b) − mean(a), its 95% interval (Welch–Satterthwaite df), t and p.
    Both samples with zero variance: p = 1 when the means are equal, 0 otherwise; fewer than two values on either
    side: p = null (no test)."""
    from scipy import stats

    da, db = describe(a), describe(b)
    diff = db["mean"] - da["mean"]
    out = {
        "n": min(da["n"], db["n"]),
        "diff_mean": diff,
        "diff_std": None,
        "diff_ci95": None,
        "t": None,
        "p_value": None,
        "test": "Welch t-test",
    }
    if da["n"] < 2 or db["n"] < 2:
        out["test"] = "none (one seed)"
        return out
    va, vb = da["std"] ** 2 / da["n"], db["std"] ** 2 / db["n"]
    se = math.sqrt(va + vb)
    out["diff_std"] = se
    if se == 0.0:
        out["p_value"] = 1.0 if diff == 0.0 else 0.0
        out["diff_ci95"] = [diff, diff]
        out["test"] = "Welch t-test; zero variance in both candidates"
        return out
    df = (va + vb) ** 2 / (va**2 / (da["n"] - 1) + vb**2 / (db["n"] - 1))
    t = diff / se
    half = float(stats.t.ppf(0.975, df)) * se
    out.update(t=t, df=df, p_value=float(2 * stats.t.sf(abs(t), df)), diff_ci95=[diff - half, diff + half])
    return out


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (None stays None and does not count as a test)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(order)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[i] = running
    return adjusted


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def analyse(spec: CompareSpec, runs: dict[str, list[dict]]) -> dict:
    """Per-candidate statistics, pairwise tests, the ranking and verdicts, from the runs' final bpb."""
    names = [c.name for c in spec.candidates]
    domain_names = sorted({d for rs in runs.values() for r in rs for d in r["domains"]})
    per: dict[str, dict] = {}
    for name in names:
        rs = runs[name]
        per[name] = {
            "overall": describe([r["bpb"] for r in rs]),
            "domains": {
                d: describe([r["domains"][d] for r in rs]) for d in domain_names if all(d in r["domains"] for r in rs)
            },
        }
    order = sorted(names, key=lambda n: (per[n]["overall"]["mean"], names.index(n)))
    pairs = []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            by_seed_a = {r["seed"]: r["bpb"] for r in runs[a]}
            by_seed_b = {r["seed"]: r["bpb"] for r in runs[b]}
            seeds = [s for s in spec.seeds if s in by_seed_a and s in by_seed_b]
            xs, ys = [by_seed_a[s] for s in seeds], [by_seed_b[s] for s in seeds]
            test = paired_test(xs, ys) if spec.test == "paired" else welch_test(xs, ys)
            how = "paired by seed" if spec.test == "paired" else "difference of the means"
            pairs.append({"a": a, "b": b, "difference": f"b − a (bpb), {how}", **test})
    for pair, p_holm in zip(pairs, holm([p["p_value"] for p in pairs])):
        pair["p_holm"] = p_holm
        pair["significant"] = p_holm is not None and p_holm < spec.alpha
        if pair["significant"]:
            pair["verdict"] = (
                f"{pair['a']} is better than {pair['b']}: {_fmt(pair['diff_mean'])} bpb lower "
                f"(Holm-adjusted p = {_fmt_p(p_holm)})"
            )
        else:
            pair["verdict"] = (
                f"no significant difference between {pair['a']} and {pair['b']} "
                f"(difference {_fmt(pair['diff_mean'])} bpb, Holm-adjusted p = {_fmt_p(p_holm)})"
            )
    lookup = {(p["a"], p["b"]): p for p in pairs}

    ranking, rank = [], 1
    for i, name in enumerate(order):
        if i and lookup[(order[i - 1], name)]["significant"]:
            rank = i + 1
        stats_ = per[name]["overall"]
        ranking.append(
            {
                "rank": rank,
                "candidate": name,
                "bpb_mean": stats_["mean"],
                "bpb_std": stats_["std"],
                "bpb_ci95": stats_["ci95"],
            }
        )
    verdicts = [lookup[(order[i - 1], order[i])]["verdict"] for i in range(1, len(order))]
    if all(r["rank"] == 1 for r in ranking):
        summary = f"no significant difference between {', '.join(order)} (alpha {spec.alpha}, {len(spec.seeds)} seeds)"
    else:
        best = [r["candidate"] for r in ranking if r["rank"] == 1]
        summary = f"best: {', '.join(best)} ({_fmt(per[best[0]]['overall']['mean'])} bpb); " + "; ".join(verdicts)
    return {
        "format": FORMAT,
        "metric": "held-out bits per byte (lower is better)",
        "spec": spec.to_dict(),
        "alpha": spec.alpha,
        "test": spec.test,
        "seeds": spec.seeds,
        "domains": domain_names,
        "candidates": {name: {**per[name], "runs": runs[name]} for name in names},
        "pairwise": pairs,
        "ranking": ranking,
        "verdicts": verdicts,
        "summary": summary,
    }


# ---------------------------------------------------------------------------------------------------- outputs


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(runs: dict[str, list[dict]], path: Path) -> None:
    """Eval bpb vs training tokens: the mean over seeds per candidate, with the min–max band across seeds."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, rs in runs.items():
        curves = [dict((int(t), b) for t, b in r["curve"]) for r in rs if r["curve"]]
        if not curves:
            continue
        tokens = sorted(set.intersection(*(set(c) for c in curves)))
        if not tokens:
            continue
        values = np.array([[c[t] for t in tokens] for c in curves])
        (line,) = ax.plot(tokens, values.mean(axis=0), marker="o", markersize=3, label=f"{name} ({len(curves)} seeds)")
        ax.fill_between(tokens, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("training tokens")
    ax.set_ylabel("held-out bits per byte")
    ax.set_title("Eval bpb: mean over seeds, band = min–max")
    ax.grid(alpha=0.3)
    if ax.has_data():
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_domains(result: dict, path: Path) -> None:
    """Grouped bars: bpb per domain (and overall) per candidate, error bars = std across seeds."""
    import numpy as np

    plt = _pyplot()
    groups = ["overall"] + result["domains"]
    names = [r["candidate"] for r in result["ranking"]]
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(names)) / 2 + 3), 4.5))
    x = np.arange(len(groups))
    for k, name in enumerate(names):
        cand = result["candidates"][name]
        figs = [cand["overall"]] + [cand["domains"].get(d) for d in result["domains"]]
        means = [f["mean"] if f else np.nan for f in figs]
        stds = [f["std"] if f else 0.0 for f in figs]
        ax.bar(x + (k - (len(names) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
    ax.set_ylabel("held-out bits per byte")
    ax.set_title("bpb per domain (error bars: std across seeds)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}.sig{color:#060}.ns{color:#a60}img{max-width:100%}"
)


def _ci(stats_: dict) -> str:
    ci = stats_.get("ci95")
    return "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def write_report(result: dict, path: Path) -> None:
    """report.html: the verdict, the ranking (bpb mean ± std and 95% CI per domain), the pairwise tests, the charts."""
    e = escape
    title = f"compare: {result['spec'].get('name') or Path(result['spec']['path']).stem}"
    groups = ["overall"] + result["domains"]
    head = "".join(f"<th>{e(g)}</th>" for g in groups)
    rows = []
    for r in result["ranking"]:
        cand = result["candidates"][r["candidate"]]
        cells = []
        for g in groups:
            s = cand["overall"] if g == "overall" else cand["domains"].get(g)
            cells.append(
                "<td>—</td>"
                if s is None
                else f"<td>{s['mean']:.4f} ± {s['std']:.4f}<br><small>{e(_ci(s))}</small></td>"
            )
        rows.append(f"<tr><td>{r['rank']}. {e(r['candidate'])}</td>{''.join(cells)}</tr>")
    pair_rows = []
    for p in result["pairwise"]:
        cls = "sig" if p["significant"] else "ns"
        ci = p["diff_ci95"]
        ci_text = "—" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"
        pair_rows.append(
            f"<tr><td>{e(p['a'])} vs {e(p['b'])}</td><td>{e(_fmt(p['diff_mean']))}</td><td>{e(ci_text)}</td>"
            f"<td>{e(_fmt_p(p['p_value']))}</td><td>{e(_fmt_p(p['p_holm']))}</td>"
            f'<td class="{cls}">{"yes" if p["significant"] else "no"}</td><td>{e(p["verdict"])}</td></tr>'
        )
    runs_rows = []
    for name, cand in result["candidates"].items():
        for r in cand["runs"]:
            runs_rows.append(
                f"<tr><td>{e(name)}</td><td>{r['seed']}</td><td>{r['bpb']:.4f}</td>"
                f"<td>{'yes' if r['reused'] else 'no'}</td><td>{e(r['dir'])}</td></tr>"
            )
    parts = [
        f"<h1>{e(title)}</h1>",
        f"<p><b>{e(result['summary'])}</b></p>",
        "<ul>" + "".join(f"<li>{e(v)}</li>" for v in result["verdicts"]) + "</ul>",
        f"<p>{e(result['metric'])}; {len(result['seeds'])} seeds per candidate ({e(str(result['seeds']))}), "
        f"alpha {result['alpha']}, {e(TEST_NAMES[result['test']])}, Holm-corrected over all pairs.</p>",
        "<h2>Ranking</h2><p>bpb mean ± std across seeds, 95% t-interval below; a candidate shares the rank above "
        "it unless the two differ significantly.</p>",
        f"<table><tr><th>candidate</th>{head}</tr>{''.join(rows)}</table>",
        "<h2>Pairwise differences</h2><p>difference = b − a in bpb (positive: a is better).</p>",
        "<table><tr><th>a vs b</th><th>mean diff</th><th>95% CI</th><th>p</th><th>p (Holm)</th>"
        f"<th>significant</th><th>verdict</th></tr>{''.join(pair_rows)}</table>",
        "<h2>Loss curves</h2>",
        '<img src="loss_curves.png" alt="eval bpb vs training tokens">',
        "<h2>Per domain</h2>",
        '<img src="domain_bpb.png" alt="bpb per domain">',
        "<h2>Runs</h2><table><tr><th>candidate</th><th>seed</th><th>bpb</th><th>reused</th><th>run dir</th></tr>"
        f"{''.join(runs_rows)}</table>",
    ]
    html = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    path.write_text(html, encoding="utf-8")
