"""A compare file → a validated `CompareSpec`, and each run's trainer config; everything is checked before any
training, so a typo in the last candidate or in a trainer key does not cost the runs before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.compare.scales import at_scale, parse_scales
from curate.settings import expand
from curate.spec import (
    NAME_RE,
    NAME_RULE,
    ConfigError,
    check_top_level,
    fraction,
    is_int,
    load_yaml,
    named_entries,
    optional_str,
    positive_number,
    relative_path,
)

TOP_KEYS = (
    "name",
    "candidates",
    "eval",
    "reference",
    "model",
    "train",
    "seeds",
    "alpha",
    "test",
    "tokenizer",
    "decontaminate",
    "pairs",
    "scales",
    "cache",
)
PAIRS = ("all", "reference")
TESTS = ("welch", "paired")
CANDIDATE_KEYS = ("name", "tokens", "mix", "pipeline", "input")
EVAL_KEYS = ("tokens", "weight")
# the report's and comparison.json's names for the weighted target and the byte-pooled figure, next to the eval sets
RESERVED_EVAL_NAMES = ("target", "pooled", "overall")
RESERVED_TRAIN_KEYS = ("train", "eval", "out_dir", "model", "seed", "resume", "stop_at_step")
DEFAULT_SEEDS = (0, 1, 2)
SEQUENTIAL_KEYS = ("min", "max")
MAX_SEQUENTIAL_SEEDS = 64


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
    eval: dict[str, str]  # eval set → token dir (what the trainer gets)
    model: dict
    train: dict
    seeds: list[int]
    alpha: float
    test: str = "welch"
    tokenizer_sha256: str = ""
    weights: dict[str, float] = field(default_factory=dict)  # eval set → weight in the target (default 1 each)
    reference: str = ""  # the candidate the verdict table compares every other one with (default: the first)
    max_seeds: int | None = None  # `seeds: {min, max}`: seeds are added up to this count (sequential.py)
    tokenizer: str = ""  # the tokenizer file (leakage.py decodes documents with it); "" → token-id n-grams
    decontaminate: bool = False  # train each candidate without its documents that overlap an eval set
    pairs: str = "all"  # which pairs are tested: all, or only each candidate against the reference (fewer tests)
    scales: list[dict] = field(default_factory=list)  # [{name, model, train}]: the same compare at each (scales.py)
    cache: str = ""  # the folder of trained runs (default OUT_DIR/runs); compares naming one folder share runs

    def weight(self, eval_set: str) -> float:
        return self.weights.get(eval_set, 1.0)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "name": self.name,
            "eval": self.eval,
            "weights": {e: self.weight(e) for e in self.eval},
            "reference": self.reference or self.candidates[0].name,
            "model": self.model,
            "train": self.train,
            "seeds": self.seeds,
            "max_seeds": self.max_seeds,
            "tokenizer": self.tokenizer or None,
            "decontaminate": self.decontaminate,
            "pairs": self.pairs,
            "scales": self.scales,
            "cache": self.cache or None,
            "alpha": self.alpha,
            "test": self.test,
            "tokenizer_sha256": self.tokenizer_sha256,
            "candidates": [{"name": c.name, c.kind: c.source, "path": str(c.path)} for c in self.candidates],
        }


def load_spec(path: str | Path) -> CompareSpec:
    """Read and validate a compare file whole: keys, types, token dirs, mix files, trainer keys and tokenizers."""
    return parse_spec(load_yaml(path, "compare"), str(path), Path(path).resolve().parent)


def parse_spec(data: Any, path: str, base: Path) -> CompareSpec:
    """Validate a loaded compare document; relative paths resolve against `base`, errors name `path` and the key."""
    check_top_level(data, TOP_KEYS, path)
    name = optional_str(data.get("name"), f"{path}: name")
    candidates = _candidates(data.get("candidates"), path, base)
    evals, weights = _eval_sets(data.get("eval"), path, base)
    sha = _one_tokenizer(candidates, evals, path)
    reference = data.get("reference", candidates[0].name)
    if reference not in [c.name for c in candidates]:
        raise ConfigError(
            f"{path}: reference: expected one of the candidates ({', '.join(c.name for c in candidates)}), "
            f"got {reference!r}"
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
    seeds, max_seeds = _seeds(data.get("seeds", list(DEFAULT_SEEDS)), path)
    alpha = fraction(data.get("alpha", 0.05), f"{path}: alpha", zero=False)
    test = data.get("test", "welch")
    if test not in TESTS:
        raise ConfigError(f"{path}: test: expected one of {', '.join(TESTS)}, got {test!r}")

    spec = CompareSpec(
        path,
        name,
        candidates,
        evals,
        dict(model),
        dict(train_keys),
        seeds,
        alpha,
        test,
        sha,
        weights,
        reference,
        max_seeds,
    )
    spec.tokenizer = _tokenizer_file(data.get("tokenizer"), candidates, sha, path, base)
    spec.decontaminate = data.get("decontaminate", False)
    if not isinstance(spec.decontaminate, bool):
        raise ConfigError(f"{path}: decontaminate: expected true or false, got {spec.decontaminate!r}")
    spec.pairs = data.get("pairs", "all")
    if spec.pairs not in PAIRS:
        raise ConfigError(f"{path}: pairs: expected one of {', '.join(PAIRS)}, got {spec.pairs!r}")
    if data.get("cache") is not None:
        spec.cache = str(relative_path(expand(str(data["cache"])), base, f"{path}: cache", "a folder for the runs"))
    spec.scales = parse_scales(data.get("scales"), spec.model, spec.train, path)
    # the trainer validates its own keys; do it now, with a stand-in train dir, so a typo fails before any training
    each: list[dict | None] = list(spec.scales) or [None]
    for scale in each:
        scaled = spec if scale is None else at_scale(spec, scale)
        try:
            trainer_config(scaled, next(iter(evals.values())), seeds[0], "/nonexistent")
        except ConfigError as err:
            raise ConfigError(f"{err} (scale {scale['name']})" if scale else str(err)) from None
    return spec


def _candidates(raw: Any, path: str, base: Path) -> list[Candidate]:
    candidates: list[Candidate] = []
    for cname, entry, where in named_entries(raw, f"{path}: candidates", CANDIDATE_KEYS):
        if sum(k in entry for k in ("tokens", "mix", "pipeline")) != 1:
            raise ConfigError(
                f"{where}: give exactly one of 'tokens' (a token directory), 'mix' (a mix file) or "
                f"'pipeline' (a pipeline YAML with a tokenize stage, plus 'input')"
            )
        if "pipeline" in entry:
            candidates.append(_pipeline_candidate(cname, entry, base, where))
        elif "tokens" in entry:
            candidates.append(_tokens_candidate(cname, entry["tokens"], base, where))
        else:
            candidates.append(_mix_candidate(cname, entry["mix"], base, where))
    return candidates


def _token_dir(value: Any, base: Path, where: str) -> Path:
    from curate.tokens import MANIFEST

    path = relative_path(value, base, where, "a token directory")
    if not (path / MANIFEST).is_file():
        raise ConfigError(f"{where}: {path} is not a token directory (no {MANIFEST})")
    return path


def _tokens_candidate(cname: str, value: Any, base: Path, where: str) -> Candidate:
    from curate.tokens import read_manifest

    tdir = _token_dir(value, base, f"{where}.tokens")
    return Candidate(cname, "tokens", value, tdir, read_manifest(tdir)["tokenizer"]["sha256"])


def _mix_candidate(cname: str, value: Any, base: Path, where: str) -> Candidate:
    """`mix: MIX.yaml`: built later by `curate mix`; the mix file is validated now (its errors name the mix file)."""
    from curate import mix

    mix_path = relative_path(value, base, f"{where}.mix", "a mix file")
    return Candidate(cname, "mix", value, mix_path, mix.load_spec(mix_path).tokenizer.sha256)


def _pipeline_candidate(cname: str, entry: dict, base: Path, where: str) -> Candidate:
    """`pipeline: YAML` + `input: [files or globs]`: the pipeline must end in a tokenize stage (its tokenizer is the
    candidate's); relative paths resolve against the compare file's folder."""
    from curate import config
    from curate.tokens import file_sha256

    value, inputs = entry["pipeline"], entry.get("input")
    path = relative_path(value, base, f"{where}.pipeline", "a pipeline YAML file")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        raise ConfigError(f"{where}.input: expected the crawl files (paths or globs) the pipeline reads")
    pspec = config.load(path)
    tokenize = [s for s in pspec.stages if s.definition.writes_tokens]
    if not tokenize:
        raise ConfigError(f"{where}.pipeline: {path} has no tokenize stage, so it makes no token shards")
    resolved = tuple(i if "://" in i or Path(expand(i)).is_absolute() else str(base / expand(i)) for i in inputs)
    sha = file_sha256(expand(tokenize[-1].params["tokenizer"]))
    return Candidate(cname, "pipeline", value, path, sha, resolved)


def _eval_sets(ev: Any, path: str, base: Path) -> tuple[dict[str, str], dict[str, float]]:
    """`eval: {NAME: DIR}` or `{NAME: {tokens: DIR, weight: W}}` → (token dirs, weights). A weight is what the eval
    set counts in the target, so it is declared, never derived from the set's size (default 1: equal weights)."""
    if not isinstance(ev, dict) or not ev:
        raise ConfigError(
            f"{path}: eval: expected a mapping {{name: held-out token directory or {{tokens: DIR, weight: W}}}}, "
            f"got {ev!r}"
        )
    evals: dict[str, str] = {}
    weights: dict[str, float] = {}
    for ename, value in ev.items():
        where = f"{path}: eval.{ename}"
        if not isinstance(ename, str) or not NAME_RE.fullmatch(ename):
            raise ConfigError(f"{where}: expected {NAME_RULE}")
        if ename in RESERVED_EVAL_NAMES:
            raise ConfigError(f"{where}: '{ename}' names a figure of the report; call the eval set something else")
        weight = 1.0
        if isinstance(value, dict):
            for key in value:
                if key not in EVAL_KEYS:
                    raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(EVAL_KEYS)}")
            if "tokens" not in value:
                raise ConfigError(f"{where}.tokens: missing; give the held-out token directory")
            weight = positive_number(value.get("weight", 1.0), f"{where}.weight")
            value = value["tokens"]
            where = f"{where}.tokens"
        evals[ename] = str(_token_dir(value, base, where))
        weights[ename] = weight
    return evals, weights


def _one_tokenizer(candidates: list[Candidate], evals: dict[str, str], path: str) -> str:
    """bpb is comparable only with one tokenizer for everything; the first eval set's is the reference."""
    from curate.tokens import read_manifest

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
    return sha


def _tokenizer_file(value: Any, candidates: list[Candidate], sha: str, path: str, base: Path) -> str:
    """The tokenizer file the leakage check decodes documents with: `tokenizer:` (its SHA-256 must be the token
    dirs'), else the tokenizer of a pipeline candidate's tokenize stage; "" when neither is known (token manifests
    name their tokenizer by hash only), so the check falls back to n-grams of token ids."""
    from curate import config
    from curate.settings import expand
    from curate.tokens import file_sha256

    if value is None:
        for cand in candidates:
            if cand.kind == "pipeline":
                stages = [s for s in config.load(cand.path).stages if s.definition.writes_tokens]
                return str(expand(stages[-1].params["tokenizer"]))
        return ""
    value = expand(value) if isinstance(value, str) else value  # ${CURATE_DATA} and the like
    file = relative_path(value, base, f"{path}: tokenizer", "the tokenizer file (tokenizer.json)")
    if not file.is_file():
        raise ConfigError(f"{path}: tokenizer: {file} is not a file")
    if file_sha256(file) != sha:
        raise ConfigError(f"{path}: tokenizer: {file} is not the tokenizer of the token directories (SHA-256 differs)")
    return str(file)


def _seeds(seeds: Any, path: str) -> tuple[list[int], int | None]:
    """A list of distinct integers, or a count n → 0..n-1 (fixed seeds); or `{min: m, max: M}` → seeds 0..m-1 first,
    more added one look at a time up to M while pairs are undecided (sequential.py)."""
    if isinstance(seeds, dict):
        for key in seeds:
            if key not in SEQUENTIAL_KEYS:
                raise ConfigError(f"{path}: seeds.{key}: unknown key; allowed: {', '.join(SEQUENTIAL_KEYS)}")
        low = seeds.get("min", DEFAULT_SEEDS[-1] + 1)
        if not is_int(low) or low < 2:
            raise ConfigError(f"{path}: seeds.min: expected an integer ≥ 2 (a t-test needs two seeds), got {low!r}")
        high = seeds.get("max")
        if not isinstance(high, int) or not is_int(high) or not low < high <= MAX_SEQUENTIAL_SEEDS:
            raise ConfigError(
                f"{path}: seeds.max: expected an integer from seeds.min + 1 ({low + 1}) to {MAX_SEQUENTIAL_SEEDS}, "
                f"got {high!r}"
            )
        return list(range(low)), high
    if is_int(seeds):
        if seeds < 1:
            raise ConfigError(f"{path}: seeds: expected a positive count or a list of integers, got {seeds!r}")
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(is_int(s) for s in seeds):
        raise ConfigError(f"{path}: seeds: expected a list of integers, a count, or {{min: M, max: N}}, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{path}: seeds: {seeds!r} repeats a seed")
    return list(seeds), None


def trainer_config(spec: CompareSpec, train_dir: str, seed: int, out_dir: str) -> dict:
    """The validated trainer config for one run; the trainer's errors become ConfigErrors naming the compare file
    and its section (`model` or `train`). Without `eval_every`, ~10 eval points a run make the loss curve."""
    from curate_train.config import ConfigError as TrainConfigError
    from curate_train.config import load_config
    from curate_train.schedule import schedule

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
        key = err.key or ""
        section = "model" if key == "model" or key.startswith("model.") else "train"
        raise ConfigError(f"{spec.path}: {section}: {err.message}") from None
    try:
        plan = schedule(cfg)  # None: a chinchilla budget, whose steps depend on the parameter count
    except TrainConfigError:  # what schedule() raises for a valid config: it has no budget at all
        raise ConfigError(
            f"{spec.path}: train.tokens: give the budget: tokens, chinchilla_multiple or max_steps"
        ) from None
    if not spec.train.get("eval_every") and plan is not None:
        cfg["eval_every"] = max(1, plan.total_steps // 10)  # a loss curve of ~10 points
    return cfg
