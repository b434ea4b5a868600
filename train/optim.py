"""AdamW with weight decay on matrices only, and linear warmup → cosine decay to min_lr_ratio · lr."""

from __future__ import annotations

import inspect
import math

import torch


def make_optimizer(model, lr: float, weight_decay: float, betas: tuple[float, float], device_type: str):
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # linear weights and the embedding
    no_decay = [p for p in params if p.dim() < 2]  # norm gains
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device_type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(groups, lr=lr, betas=betas, **kwargs)


def lr_lambda(warmup: int, total: int, min_ratio: float):
    """Multiplier of the base lr at step s (0-based): (s+1)/warmup during warmup, then cosine to min_ratio."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def make_scheduler(optimizer, warmup: int, total: int, min_ratio: float):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(warmup, total, min_ratio))
