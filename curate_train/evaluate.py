"""Held-out loss and bits per byte, overall and per domain (see data.EvalSet for what is counted)."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.distributed as dist

from .data import EvalSet


@torch.no_grad()
def evaluate(model, evalset: EvalSet, batch: int, device, autocast=None, rank: int = 0, world: int = 1) -> dict:
    """{loss, bpb, tokens, bytes, domains: {name: {loss, bpb, tokens, bytes}}}; windows are shared out over ranks
    and the sums all-reduced, so every rank returns the same figures."""
    was_training = model.training
    model.eval()
    n_dom = len(evalset.domains)
    nll = torch.zeros(n_dom, dtype=torch.float64, device=device)
    count = torch.zeros(n_dom, dtype=torch.float64, device=device)
    windows = list(range(rank, len(evalset.inputs), world))
    for i in range(0, len(windows), batch):
        idx = windows[i : i + batch]
        x = torch.from_numpy(evalset.inputs[idx]).to(device)
        y = torch.from_numpy(evalset.targets[idx]).to(device)
        dom = torch.from_numpy(evalset.domain[idx]).to(device)
        with autocast or nullcontext():
            _, losses = model(x, y, reduction="none")
        mask = y >= 0
        nll.index_add_(0, dom[mask], losses[mask].double())
        count.index_add_(0, dom[mask], torch.ones_like(losses[mask], dtype=torch.float64))
    if world > 1:
        dist.all_reduce(nll)
        dist.all_reduce(count)
    nll_sums, counts = nll.cpu().tolist(), count.cpu().tolist()
    model.train(was_training)

    def figures(n, c, b):
        return {"loss": n / max(c, 1), "bpb": n / (math.log(2) * b) if b else None, "tokens": int(c), "bytes": int(b)}

    out = figures(sum(nll_sums), sum(counts), int(evalset.bytes.sum()))
    out["domains"] = {d: figures(nll_sums[j], counts[j], int(evalset.bytes[j])) for j, d in enumerate(evalset.domains)}
    return out
