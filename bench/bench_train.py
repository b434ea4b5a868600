"""Benchmark: trainer throughput (train/ model + AdamW step, synthetic tokens; no data or curate needed).

- CPU: 4 layers, d_model 256, 4 heads, seq 256, vocab 8192, batch 16 sequences, fp32, eager: tokens/s.
- GPU (when torch.cuda.is_available()): the 124m preset (d 768, 12 layers, 12 heads), seq 1024, vocab 50304,
  micro-batch 16, BF16 autocast + torch.compile + fused AdamW: tokens/s and MFU = tokens/s · FLOPs/token / the
  device's dense BF16 peak, FLOPs/token = 6·N + 12·L·d·T (PaLM appendix B, N = matmul parameters).

    .venv/bin/python bench/bench_train.py [--steps 10] [--threads N]
    PYTHONPATH=. python bench/bench_train.py     # on a bare GPU box, from the repository root
Writes bench/results/train.json. Only torch, numpy (and train/) are needed, so it runs on a bare GPU box.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext

import torch
from benchlib import RESULTS, ROOT
from benchlib import machine as machine_record

from train.model import GPT, PRESETS, ModelConfig
from train.optim import make_optimizer
from train.setup import device_peak_flops


def machine() -> dict:
    return {**machine_record(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def bench(cfg: ModelConfig, batch: int, steps: int, device, bf16: bool, compile_model: bool, warmup: int = 3) -> dict:
    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    optimizer = make_optimizer(model, 3e-4, 0.1, (0.9, 0.95), device.type)
    step_model = torch.compile(model) if compile_model else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    data = torch.randint(0, cfg.vocab_size, (warmup + steps, batch, cfg.seq_len + 1), device=device)

    def step(i):
        with autocast:
            _, loss = step_model(data[i, :, :-1], data[i, :, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for i in range(warmup):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        loss = step(i)
    loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens_per_s = steps * batch * cfg.seq_len / seconds
    out = {
        "shape": {**vars(cfg), "batch": batch},
        "params": model.num_params(),
        "steps": steps,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens_per_s, 1),
        "bf16": bf16,
        "compiled": compile_model,
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
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--gpu-steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"machine": machine()}
    cpu_cfg = ModelConfig(vocab_size=8192, seq_len=256, d_model=256, n_layers=4, n_heads=4)
    results["cpu"] = bench(cpu_cfg, 16, args.steps, torch.device("cpu"), bf16=False, compile_model=False, warmup=2)
    print(f"cpu  {results['cpu']['params']:,} params: {results['cpu']['tokens_per_s']:,.0f} tokens/s", flush=True)
    if torch.cuda.is_available():
        d, n_layers, n_heads = PRESETS["124m"]
        gpu_cfg = ModelConfig(vocab_size=50304, seq_len=1024, d_model=d, n_layers=n_layers, n_heads=n_heads)
        torch.backends.cuda.matmul.allow_tf32 = True
        results["gpu"] = bench(gpu_cfg, 16, args.gpu_steps, torch.device("cuda"), bf16=True, compile_model=True)
        g = results["gpu"]
        print(f"gpu  {g['params']:,} params: {g['tokens_per_s']:,.0f} tokens/s, MFU {g.get('mfu')}", flush=True)
    else:
        results["gpu"] = None
        print("gpu  not available (torch.cuda.is_available() is False)")
    out = RESULTS / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
