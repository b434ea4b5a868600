"""Benchmark: trainer throughput against a nanoGPT-shaped baseline, both sides in one run (synthetic tokens; no data
or curate needed).

- CPU: 4 layers, d_model 256, 4 heads, seq 256, vocab 8192, batch 16 sequences. Three sides, measured interleaved
  (warm-up step each, then rounds A, B, C, A, B, C, ... of a step or two per side; the median step time per side),
  so load from other processes hits every side alike:
    baseline_fp32  bench/nanogpt_shape.py (GPT-2 shape: learned positions, LayerNorm, GELU MLP 4·d, tied embeddings,
                   PyTorch's default AdamW), fp32;
    baseline_bf16  the same under torch.autocast(cpu, bfloat16);
    ours           curate_train/'s model as the trainer runs it on this CPU: dtype auto, threads, compile auto and the
                   optimizer all chosen by curate_train/setup.py and curate_train/optim.py.
  All three run at the same thread count (the one the trainer picks, or --threads); where the trainer picks fewer
  threads than torch's default (a busy machine), baseline_fp32 is also timed for 2 steps at torch's default, as a
  plain nanoGPT run would go (ratios_extra). Ratios: ours / baseline_fp32,
  ours / baseline_bf16 and ours / the faster baseline. Where the CPU has no native bf16 (no AVX512-BF16/AMX), the
  bf16 baseline is ~20× slower than fp32, so it is timed for --bf16-steps steps (default 1) of --bf16-batch sequences
  (default 2) without a warm-up.
- GPU (when torch.cuda.is_available()): the 124m preset (d 768, 12 layers, 12 heads), seq 1024, vocab 50304,
  micro-batch 16, BF16 autocast + torch.compile + fused AdamW: tokens/s and MFU = tokens/s · FLOPs/token / the
  device's dense BF16 peak, FLOPs/token = 6·N + 12·L·d·T (PaLM appendix B, N = matmul parameters).

    .venv/bin/python bench/bench_train.py [--steps 6] [--threads N] [--bf16-steps 1] [--bf16-batch 2]
    PYTHONPATH=. python bench/bench_train.py     # on a bare GPU box, from the repository root
Writes bench/results/train.json. Only torch, numpy (and curate_train/) are needed, so it runs on a bare GPU box. About
2–3 minutes on 2 busy cores with the defaults.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
from benchlib import machine as machine_record
from benchlib import table_row, write_results
from nanogpt_shape import NanoGPTShape
from nanogpt_shape import make_optimizer as baseline_optimizer

from curate_train.model import GPT, PRESETS, ModelConfig
from curate_train.optim import make_optimizer
from curate_train.setup import cpu_has_native_bf16, device_peak_flops, setup_precision, wrap_model

CPU_SHAPE = dict(vocab_size=8192, seq_len=256, d_model=256, n_layers=4, n_heads=4)
CPU_BATCH = 16


def machine() -> dict:
    return {**machine_record(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


class Side:
    """One model + optimizer + precision; step(i) runs a full training step on batch i and returns its seconds."""

    def __init__(self, name: str, model, optimizer, step_model, autocast, dtype: str, compiled: bool, data):
        self.name, self.model, self.optimizer, self.step_model = name, model, optimizer, step_model
        self.autocast, self.dtype, self.compiled, self.data = autocast, dtype, compiled, data
        self.times: list[float] = []

    def step(self, i: int) -> float:
        t0 = time.perf_counter()
        x = self.data[i % len(self.data)]
        with self.autocast:
            _, loss = self.step_model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss.item()  # the trainer reads the loss every step
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def record(self, tokens_per_step: int) -> dict:
        med = statistics.median(self.times)
        return {
            "tokens_per_s": round(tokens_per_step / med, 1),
            "median_step_s": round(med, 4),
            "step_s": [round(t, 4) for t in self.times],
            "dtype": self.dtype,
            "compiled": self.compiled,
            "params": sum(p.numel() for p in self.model.parameters()),
            "batch": self.data.size(1),
        }


def baseline_side(name: str, bf16: bool, data) -> Side:
    torch.manual_seed(0)
    model = NanoGPTShape(**CPU_SHAPE)
    optimizer = baseline_optimizer(model, 3e-4, 0.1, (0.9, 0.95), "cpu")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    return Side(name, model, optimizer, model, autocast, "bf16" if bf16 else "fp32", False, data)


def ours_side(cfg: dict, data) -> Side:
    """train/ as the trainer runs it: setup_precision (dtype, threads), make_optimizer, wrap_model (compile auto)."""
    device = torch.device("cpu")
    dtype, autocast = setup_precision(cfg, device)
    torch.manual_seed(0)
    model = GPT(ModelConfig(**CPU_SHAPE))
    optimizer = make_optimizer(model, 3e-4, 0.1, (0.9, 0.95), "cpu")
    step_model, compiled = wrap_model(model, cfg, device, 1)
    return Side("ours", model, optimizer, step_model, autocast, dtype, compiled, data)


def bench_cpu(steps: int, threads: int | None, bf16_steps: int, bf16_batch: int) -> dict:
    default_threads = torch.get_num_threads()  # torch's own default: what a plain nanoGPT run would use
    cfg = {"threads": threads, "dtype": "auto", "compile": "auto"}
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, CPU_SHAPE["vocab_size"], (4, CPU_BATCH, CPU_SHAPE["seq_len"] + 1), generator=g)
    ours = ours_side(cfg, data)  # sets the thread count every side runs at
    native_bf16 = cpu_has_native_bf16()
    # emulated bf16 is ~20× slower: its steps are cut to bf16_batch sequences (tokens/s barely depends on the batch
    # here, the step being matmuls of 256 × 256 · batch rows), so the run stays within minutes
    data16 = data if native_bf16 else data[:, :bf16_batch]
    base32, base16 = baseline_side("baseline_fp32", False, data), baseline_side("baseline_bf16", True, data16)
    interleaved = [base32, ours] + ([base16] if native_bf16 else [])
    threads_used = torch.get_num_threads()
    # nanoGPT as a user runs it: torch's default threads; timed only where the trainer picked fewer (a busy machine)
    base_default = (
        baseline_side("baseline_fp32_default_threads", False, data) if default_threads != threads_used else None
    )
    for side in interleaved:
        side.step(0)  # warm-up: allocator, oneDNN primitives
    per_round = 2 if steps >= 6 else 1
    i = 1
    while min(len(s.times) for s in interleaved) < steps:
        for side in interleaved:
            side.times += [side.step(i + k) for k in range(per_round)]
        if base_default is not None and len(base_default.times) < min(steps, 2):  # slow when oversubscribed
            torch.set_num_threads(default_threads)
            base_default.times.append(base_default.step(i))
            torch.set_num_threads(threads_used)
        i += per_round
    if not native_bf16:  # emulated bf16: ~20× slower; a few steps (no warm-up, no interleaving) bound it well enough
        base16.times = [base16.step(k) for k in range(bf16_steps)]
    tokens = CPU_BATCH * CPU_SHAPE["seq_len"]
    tokens16 = data16.size(1) * CPU_SHAPE["seq_len"]
    out = {
        "shape": {**CPU_SHAPE, "batch": CPU_BATCH},
        "threads": torch.get_num_threads(),
        "threads_from": "--threads" if threads else "train.setup: OMP_NUM_THREADS or default_threads()",
        "torch_default_threads": default_threads,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16,
        "steps": steps,
        "sides": {s.name: s.record(tokens16 if s is base16 else tokens) for s in (base32, base16, ours)},
    }
    if base_default is not None:
        out["sides"][base_default.name] = {**base_default.record(tokens), "threads": default_threads}
        out["ratios_extra"] = {
            "ours_vs_baseline_fp32_default_threads": round(
                out["sides"]["ours"]["tokens_per_s"] / out["sides"][base_default.name]["tokens_per_s"], 3
            )
        }
    if not native_bf16:
        out["sides"]["baseline_bf16"]["note"] = (
            f"no native bf16 on this CPU: {bf16_steps} step(s) of {data16.size(1)} sequences, no warm-up"
        )
    sides = out["sides"]
    ours_tps = sides["ours"]["tokens_per_s"]
    best = max(("baseline_fp32", "baseline_bf16"), key=lambda k: sides[k]["tokens_per_s"])
    out["baseline_best"] = best
    out["ratios"] = {
        "ours_vs_baseline_fp32": round(ours_tps / sides["baseline_fp32"]["tokens_per_s"], 3),
        "ours_vs_baseline_bf16": round(ours_tps / sides["baseline_bf16"]["tokens_per_s"], 3),
        "ours_vs_baseline_best": round(ours_tps / sides[best]["tokens_per_s"], 3),
    }
    return out


def bench_gpu(cfg: ModelConfig, batch: int, steps: int, warmup: int = 3) -> dict:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    optimizer = make_optimizer(model, 3e-4, 0.1, (0.9, 0.95), device.type)
    data = torch.randint(0, cfg.vocab_size, (warmup + steps, batch, cfg.seq_len + 1), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16)
    side = Side("gpu", model, optimizer, torch.compile(model), autocast, "bf16", True, data)
    for i in range(warmup):
        side.step(i)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        side.step(i)
    seconds = time.perf_counter() - t0
    tokens_per_s = steps * batch * cfg.seq_len / seconds
    out = {
        "shape": {**vars(cfg), "batch": batch},
        "params": model.num_params(),
        "steps": steps,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens_per_s, 1),
        "bf16": True,
        "compiled": True,
        "flops_per_token": model.flops_per_token(),
    }
    peak = device_peak_flops(device)
    if peak:
        out.update(
            device=torch.cuda.get_device_name(device),
            peak_bf16_flops=peak,
            mfu=round(tokens_per_s * model.flops_per_token() / peak, 4),
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6, help="timed CPU steps per side (after one warm-up step)")
    parser.add_argument("--bf16-steps", type=int, default=1, help="bf16 baseline steps, no native bf16")
    parser.add_argument("--bf16-batch", type=int, default=2, help="its sequences a step, no native bf16")
    parser.add_argument("--gpu-steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: what the trainer picks)")
    args = parser.parse_args()
    results: dict = {"machine": machine()}
    cpu = results["cpu"] = bench_cpu(max(1, args.steps), args.threads, max(1, args.bf16_steps), max(1, args.bf16_batch))
    results["machine"]["torch_threads"] = cpu["threads"]
    print(
        f"cpu  {cpu['threads']} thread(s) (torch default {cpu['torch_default_threads']}), {cpu['cpu_capability']}, "
        f"native bf16: {'yes' if cpu['native_bf16'] else 'no'}",
        flush=True,
    )
    for name, side in cpu["sides"].items():
        print(
            f"cpu  {name:14s} {side['dtype']}{', compiled' if side['compiled'] else '':10s} "
            f"{side['tokens_per_s']:9,.0f} tokens/s  ({side['median_step_s']:.2f} s/step, {len(side['step_s'])} steps)",
            flush=True,
        )
    r = cpu["ratios"]
    print(
        f"cpu  ours / baseline fp32 {r['ours_vs_baseline_fp32']:.2f}×, ours / baseline bf16 "
        f"{r['ours_vs_baseline_bf16']:.2f}×, ours / best baseline ({cpu['baseline_best']}) "
        f"{r['ours_vs_baseline_best']:.2f}×",
        flush=True,
    )
    for name, ratio in cpu.get("ratios_extra", {}).items():
        print(f"cpu  {name.replace('_', ' ')} (torch's default threads, no warm-up step): {ratio:.2f}×", flush=True)
    if torch.cuda.is_available():
        d, n_layers, n_heads = PRESETS["124m"]
        gpu_cfg = ModelConfig(vocab_size=50304, seq_len=1024, d_model=d, n_layers=n_layers, n_heads=n_heads)
        torch.backends.cuda.matmul.allow_tf32 = True
        results["gpu"] = bench_gpu(gpu_cfg, 16, args.gpu_steps)
        g = results["gpu"]
        print(f"gpu  {g['params']:,} params: {g['tokens_per_s']:,.0f} tokens/s, MFU {g.get('mfu')}", flush=True)
    else:
        results["gpu"] = None
        print("gpu  not available (torch.cuda.is_available() is False)")
    shape = f"{CPU_SHAPE['n_layers']} layers, d {CPU_SHAPE['d_model']}, seq {CPU_SHAPE['seq_len']}, batch {CPU_BATCH}"
    sides = cpu["sides"]
    table = [
        table_row(
            f"training tokens/s on CPU ({shape}, {cpu['threads']} thread(s))",
            sides["ours"]["tokens_per_s"],
            "tokens/s",
            baseline=f"nanoGPT-shaped, {sides[name]['dtype']}",
            baseline_value=sides[name]["tokens_per_s"],
            goal="≥ 1.0×" if name == cpu["baseline_best"] else None,
            ours_name="curate_train",
        )
        for name in ("baseline_fp32", "baseline_bf16")
    ]
    if results["gpu"]:
        g = results["gpu"]
        table.append(
            table_row(
                f"training tokens/s on {g.get('device', 'GPU')} (124m, seq 1024, bf16, compile); MFU {g.get('mfu')}",
                g["tokens_per_s"],
                "tokens/s",
                goal="MFU ≥ 45% on an H100",
                ours_name="curate_train",
            )
        )
    size = f"{args.steps} timed CPU steps per side ({shape})" + (
        f", {args.gpu_steps} GPU steps" if results["gpu"] else ""
    )
    write_results("train", results, size, table)


if __name__ == "__main__":
    main()
