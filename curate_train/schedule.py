"""A config → its step schedule: tokens per step, gradient accumulation, number of steps, warmup.

One function, used by the training loop and by `curate compare` (which sizes its eval points from it), so the
arithmetic exists once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import ConfigError

CHINCHILLA_TOKENS_PER_PARAM = 20
DEFAULT_WARMUP_FRACTION = 0.02


@dataclass(frozen=True)
class Schedule:
    accum: int  # micro-batches per optimizer step, per rank
    step_tokens: int  # tokens per optimizer step, all ranks together
    total_steps: int
    warmup_steps: int


def schedule(cfg: dict, n_params: int | None = None, world: int = 1) -> Schedule | None:
    """The schedule of a validated config on `world` ranks.

    None when the budget is a `chinchilla_multiple` and `n_params` is not given (it depends on the model's size);
    ConfigError(key='tokens') when the config has no budget at all.
    """
    per_micro = cfg["micro_batch"] * cfg["seq_len"] * world
    accum = max(1, round((cfg["batch_tokens"] or per_micro) / per_micro))
    step_tokens = per_micro * accum
    if cfg["max_steps"] is not None:
        total_steps = cfg["max_steps"]
    elif cfg["tokens"] is not None:
        total_steps = max(1, math.ceil(cfg["tokens"] / step_tokens))
    elif cfg["chinchilla_multiple"] is not None:
        if n_params is None:
            return None
        budget = cfg["chinchilla_multiple"] * CHINCHILLA_TOKENS_PER_PARAM * n_params
        total_steps = max(1, math.ceil(budget / step_tokens))
    else:
        raise ConfigError("key 'tokens': give 'tokens', 'chinchilla_multiple' or 'max_steps'", key="tokens")
    if cfg["warmup_steps"] is not None:
        warmup = cfg["warmup_steps"]
    else:
        fraction = cfg["warmup_fraction"] if cfg["warmup_fraction"] is not None else DEFAULT_WARMUP_FRACTION
        warmup = round(fraction * total_steps)
    return Schedule(accum=accum, step_tokens=step_tokens, total_steps=total_steps, warmup_steps=max(1, warmup))
