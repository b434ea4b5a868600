"""The training run: set-up (device, DDP, data, model, optimizer), the step loop, evals, checkpoints, outputs.

Outputs in out_dir: metrics.jsonl (one JSON object a line, `type` train | eval | spike | rollback), summary.json,
checkpoint.pt (the latest), loss.png. Only rank 0 writes them.

MFU (GPU only) = tokens/s · FLOPs per token / (world size · the device's dense BF16 peak); FLOPs per token is
model.GPT.flops_per_token (6·N + 12·L·d·T, PaLM appendix B). Peaks are NVIDIA's dense (not sparse) BF16 figures.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from . import checkpoint
from .config import ConfigError, load_config
from .data import EvalSet, TrainStream, check_tokenizers
from .evaluate import evaluate
from .model import GPT, PRESETS, ModelConfig
from .optim import make_optimizer, make_scheduler
from .plot import plot_losses

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
CHINCHILLA_TOKENS_PER_PARAM = 20


def device_peak_flops(device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK if key in name), None)


class SpikeGuard:
    """A spike: the step's loss exceeds `factor` × the mean of the last `window` non-spike losses (once at least
    min(window, 10) are known). Spikes stay out of the window."""

    def __init__(self, window: int, factor: float):
        self.window, self.factor = deque(maxlen=window), factor

    def check(self, loss: float) -> tuple[bool, float | None]:
        ref = sum(self.window) / len(self.window) if len(self.window) >= min(self.window.maxlen, 10) else None
        spike = not math.isfinite(loss) or (ref is not None and loss > self.factor * ref)
        if not spike:
            self.window.append(loss)
        return spike, ref

    def state_dict(self) -> list:
        return list(self.window)

    def load_state_dict(self, values: list) -> None:
        self.window.clear()
        self.window.extend(values)


class Progress:
    """One line on stderr: rewritten in place on a terminal, printed every `every` steps otherwise."""

    def __init__(self, total: int, every: int, enabled: bool):
        self.total, self.every, self.enabled = total, every, enabled
        self.tty = enabled and sys.stderr.isatty()

    def update(self, step: int, loss: float, tps: float, lr: float) -> None:
        if not self.enabled or not (self.tty or step % self.every == 0 or step == self.total):
            return
        width = 20
        done = int(width * step / max(1, self.total))
        line = (
            f"[{'#' * done}{'.' * (width - done)}] step {step}/{self.total} loss {loss:.4f} "
            f"lr {lr:.2e} {tps:,.0f} tok/s"
        )
        sys.stderr.write(("\r" + line) if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _model_config(cfg: dict, vocab: int) -> ModelConfig:
    m = cfg["model"]
    d, n_layers, n_heads = PRESETS[m["preset"]] if m["preset"] else (None, None, None)
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


def _setup_distributed(cfg: dict):
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


def _write_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_jsonl(path: Path, max_step: int) -> None:
    """Drop records after the checkpoint's step, so a resumed run's file reads like an uninterrupted one."""
    if path.is_file():
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= max_step]
        path.write_text("".join(line + "\n" for line in keep))


def run(config, overrides: dict | None = None, stop_hook=None, model_hook=None, quiet: bool = False) -> dict:
    """Train from a YAML path or a config dict; returns the summary (also written to out_dir/summary.json).

    stop_hook(step) → True stops after that step with a checkpoint (as `stop_at_step` does); model_hook(model) is
    called once on the freshly built model (before a resume loads weights), for tests and experiments.
    """
    cfg = load_config(config, overrides)
    device, rank, world = _setup_distributed(cfg)
    try:
        summary = _run(cfg, device, rank, world, stop_hook, model_hook, quiet)
        if world > 1:
            dist.barrier()  # no rank tears the group down while another is still writing or reducing
        return summary
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _run(cfg, device, rank, world, stop_hook, model_hook, quiet) -> dict:
    master = rank == 0
    out = Path(cfg["out_dir"])
    if cfg["threads"] and device.type == "cpu":
        torch.set_num_threads(cfg["threads"])
    dtype = cfg["dtype"]
    if dtype == "auto":
        dtype = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    labels = {f"train[{i}]": d for i, d in enumerate(cfg["train"])}
    labels.update({f"eval.{n}": d for n, d in cfg["eval"].items()})
    tok = check_tokenizers(labels)
    mc = _model_config(cfg, tok["vocab_size"])
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    model = GPT(mc).to(device)
    if model_hook is not None:
        model_hook(model)
    n_params = model.num_params()

    seq_len, micro = cfg["seq_len"], cfg["micro_batch"]
    per_micro = micro * seq_len * world
    accum = max(1, round((cfg["batch_tokens"] or per_micro) / per_micro))
    step_tokens = per_micro * accum
    if cfg["max_steps"] is not None:
        total_steps = cfg["max_steps"]
    elif cfg["tokens"] is not None or cfg["chinchilla_multiple"] is not None:
        budget = (
            cfg["tokens"]
            if cfg["tokens"] is not None
            else cfg["chinchilla_multiple"] * CHINCHILLA_TOKENS_PER_PARAM * n_params
        )
        total_steps = max(1, math.ceil(budget / step_tokens))
    else:
        raise ConfigError("key 'tokens': give 'tokens', 'chinchilla_multiple' or 'max_steps'", key="tokens")
    warmup = (
        cfg["warmup_steps"]
        if cfg["warmup_steps"] is not None
        else round((cfg["warmup_fraction"] if cfg["warmup_fraction"] is not None else 0.02) * total_steps)
    )
    warmup = max(1, warmup)

    optimizer = make_optimizer(model, cfg["lr"], cfg["weight_decay"], (cfg["beta1"], cfg["beta2"]), device.type)
    scheduler = make_scheduler(optimizer, warmup, total_steps, cfg["min_lr_ratio"])
    stream = TrainStream(cfg["train"], tok["sha256"], seq_len, cfg["seed"], rank, world)
    evalsets = [
        EvalSet(n, d, tok["sha256"], tok["eos_id"], seq_len, cfg["eval_tokens"]) for n, d in cfg["eval"].items()
    ]
    guard = SpikeGuard(cfg["spike"]["window"], cfg["spike"]["factor"])
    identity = {
        "model": vars(mc),
        "seq_len": seq_len,
        "step_tokens": step_tokens,
        "total_steps": total_steps,
        "world": world,
        "tokenizer_sha256": tok["sha256"],
    }

    metrics_path = out / "metrics.jsonl"
    step, rollbacks, spikes = 0, 0, 0
    ckpt = checkpoint.load(out) if cfg["resume"] in ("auto", True) else None
    if cfg["resume"] is True and ckpt is None:
        raise ConfigError(f"key 'resume': no {checkpoint.NAME} in {out}", key="resume")

    def restore(state: dict, data: bool) -> int:
        for key in ("model", "seq_len", "step_tokens", "world", "tokenizer_sha256"):
            if state["identity"][key] != identity[key]:
                raise ConfigError(f"'{key}' differs from the checkpoint's in {out}; use another out_dir", key=key)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        guard.load_state_dict(state["spike_window"])
        if data:
            stream.load_state_dict(state["data"])
            checkpoint.set_rng_state(state["rng"])
        return state["step"]

    if ckpt is not None:
        step = restore(ckpt, data=True)
        rollbacks, spikes = ckpt.get("rollbacks", 0), ckpt.get("spikes", 0)
        if master:
            _truncate_jsonl(metrics_path, step)
    elif master:
        out.mkdir(parents=True, exist_ok=True)
        metrics_path.unlink(missing_ok=True)
    if cfg["debug_batches"]:
        out.mkdir(parents=True, exist_ok=True)
        _truncate_jsonl(out / f"batches-rank{rank}.jsonl", step)
    del ckpt

    raw_model = model
    use_compile = cfg["compile"] is True or (cfg["compile"] == "auto" and device.type == "cuda")
    if use_compile:
        model = torch.compile(model)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    peak = device_peak_flops(device)
    flops_per_token = raw_model.flops_per_token()

    def save_checkpoint() -> None:
        if master:
            checkpoint.save(
                out,
                {
                    "model": raw_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "data": stream.state_dict(),
                    "rng": checkpoint.rng_state(),
                    "step": step,
                    "tokens": step * step_tokens,
                    "spike_window": guard.state_dict(),
                    "rollbacks": rollbacks,
                    "spikes": spikes,
                    "identity": identity,
                    "config": cfg,
                },
            )
        if world > 1:
            dist.barrier()

    def run_evals() -> dict:
        results = {
            e.name: evaluate(raw_model, e, cfg["eval_batch"] or micro, device, autocast, rank, world) for e in evalsets
        }
        if master and results:
            _write_jsonl(metrics_path, {"type": "eval", "step": step, "tokens": step * step_tokens, "eval": results})
        return results

    progress = Progress(total_steps, cfg["log_every"], master and not quiet)
    if master and not quiet:
        print(
            f"train: {n_params:,} parameters, {total_steps} steps of {step_tokens:,} tokens "
            f"({accum} × {micro} × {seq_len} × {world} ranks), device {device}, {dtype}"
            f"{', compiled' if use_compile else ''}",
            file=sys.stderr,
        )

    model.train()
    stopped = False
    last_eval: dict = {}
    t_start = time.perf_counter()
    t_log, tokens_log = t_start, 0
    loss_val = float("nan")
    tokens_per_s = 0.0
    while step < total_steps:
        loss_sum = torch.zeros((), device=device)
        used = []
        for micro_step in range(accum):
            batch = torch.from_numpy(stream.next_batch(micro))
            used += stream.last_indices
            if device.type == "cuda":
                batch = batch.pin_memory().to(device, non_blocking=True)
            x, y = batch[:, :-1], batch[:, 1:]
            sync = world == 1 or micro_step == accum - 1
            with nullcontext() if sync else model.no_sync(), autocast:
                _, loss = model(x, y)
            (loss / accum).backward()
            loss_sum += loss.detach()
        if world > 1:
            dist.all_reduce(loss_sum)
        loss_val = loss_sum.item() / accum / world
        if cfg["debug_batches"]:
            _write_jsonl(out / f"batches-rank{rank}.jsonl", {"step": step + 1, "indices": used})

        spike, ref = guard.check(loss_val)
        if spike:
            spikes += 1
            can_roll = cfg["spike"]["rollback"] and rollbacks < cfg["spike"]["max_rollbacks"]
            state = checkpoint.load(out) if can_roll else None
            if master:
                _write_jsonl(
                    metrics_path,
                    {
                        "type": "spike",
                        "step": step + 1,
                        "loss": loss_val,
                        "reference": ref,
                        "rollback": state is not None,
                    },
                )
                print(f"\ntrain: loss spike at step {step + 1}: {loss_val:.4f} vs mean {ref}", file=sys.stderr)
            if state is not None:
                optimizer.zero_grad(set_to_none=True)
                back_to = restore(state, data=False)  # keep the data position: the offending batches are skipped
                rollbacks += 1
                if master:
                    _write_jsonl(
                        metrics_path,
                        {
                            "type": "rollback",
                            "step": back_to,
                            "from_step": step + 1,
                            "skipped_sequences_to": stream.seq_index,
                        },
                    )
                step = back_to
                del state
                continue

        if cfg["grad_clip"]:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"]))
        else:
            grad_norm = None
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_log += step_tokens

        if step % cfg["log_every"] == 0 or step == total_steps or progress.tty:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            now = time.perf_counter()
            tokens_per_s = tokens_log / max(now - t_log, 1e-9)
            if step % cfg["log_every"] == 0 or step == total_steps:
                record = {
                    "type": "train",
                    "step": step,
                    "tokens": step * step_tokens,
                    "lr": lr,
                    "loss": loss_val,
                    "grad_norm": grad_norm,
                    "tokens_per_s": round(tokens_per_s, 1),
                    "elapsed_s": round(now - t_start, 3),
                }
                if peak:
                    record["mfu"] = round(tokens_per_s * flops_per_token / (world * peak), 4)
                if master:
                    _write_jsonl(metrics_path, record)
                t_log, tokens_log = now, 0
            progress.update(step, loss_val, tokens_per_s, lr)

        if cfg["eval_every"] and step % cfg["eval_every"] == 0 and step < total_steps and evalsets:
            last_eval = run_evals()
        stop = (cfg["stop_at_step"] is not None and step == cfg["stop_at_step"]) or (
            stop_hook is not None and stop_hook(step)
        )
        if (cfg["checkpoint_every"] and step % cfg["checkpoint_every"] == 0) or stop or step == total_steps:
            save_checkpoint()
        if stop and step < total_steps:
            stopped = True
            break
    progress.close()

    if not stopped and evalsets:
        last_eval = run_evals()
    elapsed = time.perf_counter() - t_start
    summary = {
        "finished": not stopped,
        "step": step,
        "total_steps": total_steps,
        "tokens": step * step_tokens,
        "step_tokens": step_tokens,
        "grad_accum": accum,
        "world_size": world,
        "params": n_params,
        "flops_per_token": flops_per_token,
        "flops_formula": "6*N + 12*n_layers*d_model*seq_len (PaLM, App. B)",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": dtype,
        "compiled": use_compile,
        "peak_bf16_flops": peak,
        "final_train_loss": loss_val,
        "tokens_per_s_last": tokens_per_s,
        "elapsed_s": elapsed,
        "spikes": spikes,
        "rollbacks": rollbacks,
        "eval": last_eval,
        "tokenizer": tok,
        "model": vars(mc),
        "warmup_steps": warmup,
        "data": stream.state_dict(),
    }
    if master:
        records = [json.loads(line) for line in metrics_path.read_text().splitlines()] if metrics_path.is_file() else []
        train_pts = [(r["tokens"], r["loss"]) for r in records if r["type"] == "train"]
        eval_pts = [
            (r["tokens"], float(np.mean([v["loss"] for v in r["eval"].values()])))
            for r in records
            if r["type"] == "eval"
        ]
        summary["loss_png_axes"] = plot_losses(out / "loss.png", train_pts, eval_pts)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
