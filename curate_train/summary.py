"""What a finished (or stopped) run reports: summary.json's figures, from a Trainer's state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .loop import Trainer


def run_summary(t: Trainer, stopped: bool) -> dict:
    """summary.json's figures: budget and steps, model and device, losses, the final evals, what the run drew."""
    elapsed = time.perf_counter() - t.t_start
    s, device = t.sched, t.device
    return {
        "finished": not stopped,
        "step": t.step,
        "total_steps": s.total_steps,
        "tokens": t.tokens,
        "step_tokens": s.step_tokens,
        "grad_accum": s.accum,
        "world_size": t.world,
        "params": t.n_params,
        "flops_per_token": t.flops_per_token,
        "flops_formula": "6*N + 12*n_layers*d_model*seq_len (PaLM, App. B)",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": t.dtype,
        "compiled": t.compiled,
        "peak_bf16_flops": t.peak,
        "final_train_loss": t.loss,
        "tokens_per_s_last": t.tokens_per_s,
        "elapsed_s": elapsed,
        "spikes": t.spikes,
        "rollbacks": t.rollbacks,
        "eval": t.last_eval,  # the raw weights' final eval
        "eval_ema": t.last_eval_ema,  # the EMA shadow's final eval; null without ema_halflife or when stopped
        "ema": None if t.ema_decay is None else {"halflife": t.cfg["ema_halflife"], "decay": t.ema_decay},
        "tokenizer": t.tok,
        "model": vars(t.model_cfg),
        "warmup_steps": s.warmup_steps,
        "data": t.stream.state_dict(),
        "sample": t.stream.seen(),  # what the run drew: a uniform sample of the candidate (data.TrainStream)
        "eval_sets": {e.name: e.usage() for e in t.evalsets},  # the share of each eval set used (data.EvalSet)
    }
