"""AdamW with weight decay on matrices only, and linear warmup → cosine decay to min_lr_ratio · lr.

The fused AdamW kernel runs on CUDA and, since torch 2.4, on the CPU. On the CPU it is one pass over each tensor
instead of ~10 elementwise kernels: on the CPU bench model (5.3M parameters) an optimizer step took 30 ms fused vs
119 ms with the default per-tensor loop and 116 ms with foreach at 1 thread (22 vs 396 vs 214 ms at 2 threads on a
busy machine). Fused rounds slightly differently from the loop (last-bit differences), deterministically.
"""

from __future__ import annotations

import inspect
import math

import torch


def make_optimizer(model, lr: float, weight_decay: float, betas: tuple[float, float], device_type: str):
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # linear weights and the embedding
    no_decay = [p for p in params if p.dim() < 2]  # norm gains
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device_type in ("cuda", "cpu") and "fused" in inspect.signature(torch.optim.AdamW).parameters
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
