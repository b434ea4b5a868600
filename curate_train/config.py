"""The run configuration: YAML (or a dict), validated whole; every error names the key.

Relative paths (train, eval, out_dir) resolve against the YAML file's folder (against the working directory for a
dict). Defaults are in SPEC below.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A config that cannot run. `key` is the dotted key at fault (None for the file as a whole), as data, so a caller
    such as `curate compare` can point at its own section without parsing the text; str() reads "config: ..."."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(f"config: {message}")
        self.message, self.key = message, key


REQUIRED = object()
_NUM = (int, float)

# key → (types, default). A dict default is a nested section with its own keys.
MODEL_SPEC = {
    "preset": (str, None),
    "d_model": (int, None),
    "n_layers": (int, None),
    "n_heads": (int, None),
    "vocab_size": (int, None),
    "seq_len": (int, None),
    "mlp_hidden": (int, None),
    "tie_embeddings": (bool, True),
    "rope_base": (_NUM, 10000.0),
}
SPIKE_SPEC = {"window": (int, 50), "factor": (_NUM, 2.0), "rollback": (bool, False), "max_rollbacks": (int, 3)}
SPEC = {
    "train": ((str, list), REQUIRED),  # token dirs
    "eval": ((str, list, dict), None),  # token dir, list of dirs (named by folder), or {name: dir}
    "out_dir": (str, REQUIRED),
    "model": (dict, MODEL_SPEC),
    "seq_len": (int, 256),
    "batch_tokens": (_NUM + (str,), None),  # target tokens per optimizer step (default: one micro-batch per rank)
    "micro_batch": (int, 8),  # sequences per forward pass per rank
    "tokens": (_NUM + (str,), None),  # training budget in tokens ("20M" accepted)
    "chinchilla_multiple": (_NUM, None),  # or a multiple of 20 tokens per parameter
    "max_steps": (int, None),  # overrides the budget
    "stop_at_step": (int, None),  # stop (with a checkpoint) after this step; the schedule is unchanged
    "lr": (_NUM, 1e-3),
    "min_lr_ratio": (_NUM, 0.1),
    "warmup_steps": (int, None),
    "warmup_fraction": (_NUM, None),  # default 0.02 when neither is given
    "weight_decay": (_NUM, 0.1),
    "beta1": (_NUM, 0.9),
    "beta2": (_NUM, 0.95),
    "grad_clip": (_NUM, 1.0),
    "eval_every": (int, 0),  # steps; 0: only at the end
    "eval_tokens": (_NUM + (str,), 1_000_000),  # cap per eval set (whole documents)
    "eval_batch": (int, None),  # windows per eval forward pass (default micro_batch)
    "ema_halflife": (_NUM, 0.0),  # EMA of the weights, half-life as a fraction of the steps (0: none); see loop.py
    "checkpoint_every": (int, 0),  # steps; 0: only at the end (and at a stop)
    "log_every": (int, 10),
    "seed": (int, 0),
    "device": (str, "auto"),
    "dtype": (str, "auto"),
    "compile": ((str, bool), "auto"),
    "threads": (int, None),  # torch.set_num_threads on CPU
    "resume": ((str, bool), "auto"),  # auto: resume when out_dir holds a checkpoint
    "spike": (dict, SPIKE_SPEC),
    "debug_batches": (bool, False),  # write batches-rank<r>.jsonl: the global sequence indices each rank used
}
CHOICES: dict[str, set[str | bool | None]] = {
    "device": {"auto", "cpu", "cuda"},
    "dtype": {"auto", "bf16", "fp32"},
    "compile": {"auto", True, False},
    "resume": {"auto", True, False},
    "model.preset": {None, *["tiny", "20m", "60m", "124m", "350m"]},
}
POSITIVE = {
    "seq_len",
    "micro_batch",
    "lr",
    "grad_clip",
    "log_every",
    "model.d_model",
    "model.n_layers",
    "model.n_heads",
    "model.vocab_size",
    "model.seq_len",
    "spike.window",
    "spike.factor",
    "eval_tokens",
}
NON_NEGATIVE = {
    "max_steps",
    "stop_at_step",
    "warmup_steps",
    "weight_decay",
    "eval_every",
    "checkpoint_every",
    "min_lr_ratio",
    "warmup_fraction",
    "spike.max_rollbacks",
    "chinchilla_multiple",
    "tokens",
}


def parse_count(value, key: str) -> int:
    """An int, a float, or a string such as '20M', '1.5B', '300k'."""
    if isinstance(value, bool):
        raise ConfigError(f"key '{key}': expected a number, got {value!r}", key=key)
    if isinstance(value, _NUM):
        return int(value)
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kKmMbBgGtT]?)\s*", str(value))
    if not m:
        raise ConfigError(f"key '{key}': expected a number such as 20000000 or '20M', got {value!r}", key=key)
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def _validate(raw: dict, spec: dict, prefix: str = "") -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"key '{prefix.rstrip('.') or '<root>'}': expected a mapping, got {raw!r}", key=prefix.rstrip(".") or None
        )
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise ConfigError(
            f"unknown key '{prefix}{unknown[0]}' (known: {', '.join(sorted(spec))})", key=f"{prefix}{unknown[0]}"
        )
    out = {}
    for key, (types, default) in spec.items():
        name = prefix + key
        if isinstance(default, dict):
            out[key] = _validate(raw.get(key) or {}, default, name + ".")
            continue
        if key not in raw or raw[key] is None:
            if default is REQUIRED:
                raise ConfigError(f"key '{name}' is required", key=name)
            out[key] = copy.deepcopy(default)
            continue
        value = raw[key]
        types = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"key '{name}': expected {wanted}, got {value!r}", key=name)
        if name in CHOICES and value not in CHOICES[name]:
            choices = ", ".join(str(c) for c in CHOICES[name] if c is not None)
            raise ConfigError(f"key '{name}': must be one of {choices}, got {value!r}", key=name)
        if name in ("tokens", "batch_tokens", "eval_tokens"):
            value = parse_count(value, name)
        if name in POSITIVE and value <= 0:
            raise ConfigError(f"key '{name}': must be > 0, got {value!r}", key=name)
        if name in NON_NEGATIVE and value < 0:
            raise ConfigError(f"key '{name}': must be >= 0, got {value!r}", key=name)
        out[key] = value
    return out


def _paths(value, key: str, base: Path) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not items or not all(isinstance(p, str) and p for p in items):
        raise ConfigError(f"key '{key}': expected a token directory or a list of them, got {value!r}", key=key)
    return [str((base / p).resolve()) for p in items]


def load_config(source, overrides: dict | None = None) -> dict:
    """A validated config dict from a YAML path or a dict (plus optional overrides, same keys)."""
    raw, base = _read_source(source)
    if overrides:
        raw.update(overrides)
    cfg = _validate(raw, SPEC)
    cfg["train"] = _paths(cfg["train"], "train", base)
    cfg["eval"] = _eval_dirs(cfg["eval"], base)
    cfg["out_dir"] = str((base / cfg["out_dir"]).resolve())
    _check_model(cfg, raw)
    _check_schedule_keys(cfg)
    return cfg


def _read_source(source) -> tuple[dict, Path]:
    """The raw mapping, and the folder its relative paths resolve against (the YAML's, or the working directory)."""
    if not isinstance(source, (str, Path)):
        return copy.deepcopy(dict(source)), Path.cwd()
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")  # the file as a whole: no key
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return raw, path.resolve().parent


def _eval_dirs(ev, base: Path) -> dict[str, str]:
    """{name: dir}: a mapping keeps its names; a dir or a list is named by folder (eval<i> for a repeated one)."""
    if ev is None:
        return {}
    if isinstance(ev, dict):
        for name, p in ev.items():
            if not isinstance(p, str):
                raise ConfigError(f"key 'eval.{name}': expected a token directory, got {p!r}", key=f"eval.{name}")
        return {str(n): _paths(p, f"eval.{n}", base)[0] for n, p in ev.items()}
    dirs = _paths(ev, "eval", base)
    return {Path(d).name if dirs.count(d) == 1 else f"eval{i}": d for i, d in enumerate(dirs)}


def _check_model(cfg: dict, raw: dict) -> None:
    """model.seq_len agrees with seq_len (and wins when given); no preset means d_model, n_layers and n_heads."""
    m = cfg["model"]
    if m["seq_len"] is not None and "seq_len" in raw and m["seq_len"] != cfg["seq_len"]:
        raise ConfigError("key 'model.seq_len': differs from 'seq_len'; give one of them", key="model.seq_len")
    if m["seq_len"] is not None:
        cfg["seq_len"] = m["seq_len"]
    if m["preset"] is None and not any(m[k] for k in ("d_model", "n_layers", "n_heads")):
        m["preset"] = "tiny"
    if m["preset"] is None and not all(m[k] for k in ("d_model", "n_layers", "n_heads")):
        missing = next(k for k in ("d_model", "n_layers", "n_heads") if not m[k])
        raise ConfigError(f"key 'model.{missing}' is required without 'model.preset'", key=f"model.{missing}")


def _check_schedule_keys(cfg: dict) -> None:
    """The budget and warmup keys that exclude each other, and the ranges of the lr schedule's fractions."""
    if cfg["tokens"] is not None and cfg["chinchilla_multiple"] is not None:
        raise ConfigError(
            "key 'chinchilla_multiple': give either 'tokens' or 'chinchilla_multiple'", key="chinchilla_multiple"
        )
    if cfg["warmup_steps"] is not None and cfg["warmup_fraction"] is not None:
        raise ConfigError(
            "key 'warmup_fraction': give either 'warmup_steps' or 'warmup_fraction'", key="warmup_fraction"
        )
    if cfg["warmup_fraction"] is not None and cfg["warmup_fraction"] >= 1:
        raise ConfigError("key 'warmup_fraction': must be < 1", key="warmup_fraction")
    if cfg["min_lr_ratio"] > 1:
        raise ConfigError("key 'min_lr_ratio': must be <= 1", key="min_lr_ratio")
    if not 0 <= cfg["ema_halflife"] <= 1:
        raise ConfigError(
            "key 'ema_halflife': must be between 0 (no EMA) and 1 (a fraction of the run's steps), "
            f"got {cfg['ema_halflife']!r}",
            key="ema_halflife",
        )
