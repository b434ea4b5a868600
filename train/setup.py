"""Set-up pieces of a run: device and process group, precision, tokenizer check, model, compile/DDP wrapping.

MFU (GPU only) = tokens/s · FLOPs per token / (world size · the device's dense BF16 peak); FLOPs per token is
model.GPT.flops_per_token (6·N + 12·L·d·T, PaLM appendix B). Peaks are NVIDIA's dense (not sparse) BF16 figures.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .config import ConfigError
from .data import check_tokenizers
from .model import GPT, PRESETS, ModelConfig

# substring of torch.cuda.get_device_name() → dense BF16 peak FLOP/s
BF16_PEAK = [
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A10G", 125e12),
    ("A10", 125e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("4090", 165e12),
    ("3090", 71e12),
    ("V100", 125e12),
]


def device_peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK if key in name), None)


def setup_distributed(cfg: dict) -> tuple[torch.device, int, int]:
    """(device, rank, world) from torchrun's environment; joins the process group when there is more than one rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    want = cfg["device"]
    if want == "cuda" and not torch.cuda.is_available():
        raise ConfigError("key 'device': cuda requested but torch.cuda.is_available() is False", key="device")
    use_cuda = want == "cuda" or (want == "auto" and torch.cuda.is_available())
    device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device, rank, world


def setup_precision(cfg: dict, device: torch.device) -> tuple[str, AbstractContextManager]:
    """The dtype name (bf16 | fp32) and the autocast context the forward passes run under; CPU threads, TF32."""
    if cfg["threads"] and device.type == "cpu":
        torch.set_num_threads(cfg["threads"])
    dtype = cfg["dtype"]
    if dtype == "auto":
        dtype = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dtype, autocast


def check_tokenizer(cfg: dict) -> dict:
    """The tokenizer {sha256, vocab_size, eos_id} every train and eval dir shares (DataError when they differ)."""
    labels = {f"train[{i}]": d for i, d in enumerate(cfg["train"])}
    labels.update({f"eval.{n}": d for n, d in cfg["eval"].items()})
    return check_tokenizers(labels)


def model_config(cfg: dict, vocab: int) -> ModelConfig:
    m = cfg["model"]
    d, n_layers, n_heads = PRESETS[m["preset"]] if m["preset"] else (0, 0, 0)  # load_config: no preset → all given
    vocab_size = m["vocab_size"] or vocab
    if vocab_size < vocab:
        raise ConfigError(
            f"key 'model.vocab_size': {vocab_size} is smaller than the tokenizer's {vocab}", key="model.vocab_size"
        )
    mc = ModelConfig(
        vocab_size=vocab_size,
        seq_len=cfg["seq_len"],
        d_model=m["d_model"] or d,
        n_layers=m["n_layers"] or n_layers,
        n_heads=m["n_heads"] or n_heads,
        mlp_hidden=m["mlp_hidden"],
        tie_embeddings=m["tie_embeddings"],
        rope_base=float(m["rope_base"]),
    )
    if mc.d_model % mc.n_heads or (mc.d_model // mc.n_heads) % 2:
        raise ConfigError(
            f"key 'model.n_heads': d_model {mc.d_model} must split into {mc.n_heads} heads of an even size",
            key="model.n_heads",
        )
    return mc


def build_model(mc: ModelConfig, seed: int, device: torch.device, model_hook=None) -> GPT:
    """The freshly initialised model: the seeds are set here, so the same seed gives the same weights."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = GPT(mc).to(device)
    if model_hook is not None:
        model_hook(model)
    return model


def wrap_model(model: GPT, cfg: dict, device: torch.device, world: int) -> tuple[Any, bool]:
    """The module the steps call (compiled and/or DDP-wrapped as configured), and whether it is compiled.

    Checkpoints and evals use the bare model, so its state-dict keys do not depend on the wrapping.
    """
    compiled = cfg["compile"] is True or (cfg["compile"] == "auto" and device.type == "cuda")
    wrapped: Any = torch.compile(model) if compiled else model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            wrapped, device_ids=[device.index] if device.type == "cuda" else None
        )
    return wrapped, compiled
