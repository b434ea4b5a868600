"""A reference model of nanoGPT's shape (GPT-2 architecture), written here for bench_train.py to measure against.

What it stands for: the model most small-scale training setups start from, Karpathy's nanoGPT `model.py`, which
follows GPT-2: learned absolute position embeddings, pre-norm LayerNorm with bias, causal self-attention through
F.scaled_dot_product_attention (is_causal), a GELU MLP of hidden size 4·d, biases on every Linear but the LM head,
the LM head tied to the token embedding, weights ~ N(0, 0.02) with the residual projections at 0.02 / sqrt(2·L),
and AdamW with weight decay on the matrices only (fused on CUDA, the default implementation elsewhere).

Why: "is our trainer fast?" needs a yardstick measured on the same machine in the same run, so that load noise
and the CPU's features (bf16 support, threads) hit both sides alike. This file is written from that architecture
description only (no code is copied from nanoGPT); it needs only torch, so bench_train.py still runs on a bare box.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.up = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.out = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.out(self.act(self.up(x)))


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d), CausalSelfAttention(d, n_heads)
        self.ln2, self.mlp = nn.LayerNorm(d), MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class NanoGPTShape(nn.Module):
    """GPT-2-shaped decoder: forward(idx, targets) → (logits, mean cross-entropy or None)."""

    def __init__(self, vocab_size: int, seq_len: int, d_model: int, n_layers: int, n_heads: int):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(seq_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name.endswith("out.weight"):  # the two projections that write into the residual stream
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layers))

    def forward(self, idx, targets=None):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float], device_type: str):
    """AdamW, decay on tensors of 2+ dims; fused on CUDA, PyTorch's default implementation on other devices."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, **({"fused": True} if device_type == "cuda" else {}))
