"""Set-up pieces of a run: device and process group, precision, tokenizer check, model, compile/DDP wrapping.

MFU (GPU only) = tokens/s · FLOPs per token / (world size · the device's dense BF16 peak); FLOPs per token is
model.GPT.flops_per_token (6·N + 12·L·d·T, PaLM appendix B). Peaks are NVIDIA's dense (not sparse) BF16 figures.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo's flags or, where
    that cannot be read, torch's CPU capability (AVX512 alone does not imply bf16 dot products, so only AMX counts)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return "AMX" in torch.backends.cpu.get_cpu_capability().upper()


def default_threads(cpus: int | None = None, local_world: int | None = None) -> int:
    """CPU threads for one trainer when the config gives none: its share of the CPUs this process may use
    (os.sched_getaffinity, divided among the trainers torchrun starts on this machine), at least 1.

    Why a share and not torch's default: torch sizes its OpenMP team to the machine's cores whatever the affinity
    mask or the other trainers on the machine, and a team larger than the CPUs it can get stalls at every barrier when
    one of its threads is descheduled (measured on the 2-core bench machine under a load of ~8 from other jobs: 11 s a
    step with 2 threads, 3.7 s with 1). Why not the idle CPUs: the load average lags and counts this command's own
    work a moment ago (a pipeline's workers before the compare trains), so a rule on it picked 1 thread on an idle
    machine and made the demo's runs 1.7× slower; and the thread count would then depend on the machine's load. On a
    machine shared with other jobs, set `threads` (or OMP_NUM_THREADS) to what is free.
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if local_world is None:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return max(1, cpus // max(1, local_world))


def setup_precision(cfg: dict, device: torch.device) -> tuple[str, AbstractContextManager]:
    """The dtype name (bf16 | fp32) and the autocast context the forward passes run under; CPU threads, TF32.

    CPU threads: the `threads` key, else OMP_NUM_THREADS when set, else default_threads(). dtype auto: bf16 on a
    CUDA device that supports it; on the CPU, bf16 only where the CPU has native bf16 (cpu_has_native_bf16), as bf16
    autocast is then the faster one. Without it (AVX2, or AVX512 without BF16) the emulated bf16 kernels are far
    slower: on the bench shape (4 layers, d 256, seq 256, vocab 8192, batch 16) on an AVX2 EPYC, a bf16-autocast
    step took 83 s against 3.7 s in fp32 (22× slower, both models alike), so auto picks fp32 there.
    """
    if device.type == "cpu":
        if cfg["threads"]:
            torch.set_num_threads(cfg["threads"])
        elif not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(default_threads())
    dtype = cfg["dtype"]
    if dtype == "auto":
        if device.type == "cuda":
            dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            dtype = "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
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
