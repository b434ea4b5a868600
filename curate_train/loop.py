"""The training run: a Trainer holds one rank's state; `fit` steps it through the schedule with evals and checkpoints.

Outputs in out_dir: metrics.jsonl (one JSON object a line, `type` train | eval | spike | rollback), summary.json,
checkpoint.pt (the latest). Only rank 0 writes them. No chart: matplotlib is no dependency of the trainer, so curate
draws loss.png from metrics.jsonl (`curate train`, `curate report OUT_DIR`: curate/train_chart.py).

EMA of the weights (`ema_halflife` h > 0, a fraction of the run's steps T): a shadow copy of the model, updated
after every optimizer step as ema ← d · ema + (1 − d) · weights with d = 0.5^(1 / (h · T)) (a step's weights count
half as much h·T steps later), starting from the initial weights (which keep 0.5^(1/h) of the final
average: 0.1% at h = 0.1). The final eval scores the shadow as well: summary["eval_ema"] (same shape as
summary["eval"], which stays the raw weights' final eval) and the final eval record's "eval_ema" in metrics.jsonl;
summary["ema"] says the half-life and decay. Periodic evals score the raw weights only. The shadow is saved in the
checkpoint (a resume or a rollback restores it; a checkpoint without one restarts it from the restored weights).
Off by default: on the demo compare (74 steps, cosine to 0.1 · lr) the eval curve's step-to-step noise is ~1e-4 bpb
against a seed σ of ~0.03, so averaging has nothing to remove, and the EMA's lag behind a still-falling loss raised
the seed σ of the target (0.030 → 0.032 / 0.036 / 0.042 at h = 0.05 / 0.1 / 0.2, 5 seeds × 3 candidates). It is
for runs whose last steps are noisy (a constant or high final lr).

Set-up pieces (device, precision, model, MFU peaks) are in setup.py, the spike detector and progress line in
progress.py, the step arithmetic in schedule.py.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist

from . import checkpoint
from .config import ConfigError, load_config
from .data import EvalSet, TrainStream
from .evaluate import evaluate
from .model import GPT
from .optim import make_optimizer, make_scheduler
from .progress import Progress, SpikeGuard, truncate_jsonl, write_jsonl
from .schedule import Schedule, schedule
from .setup import (
    build_model,
    check_tokenizer,
    device_peak_flops,
    model_config,
    setup_distributed,
    setup_precision,
    wrap_model,
)
from .summary import run_summary

# what a checkpoint must share with the run that resumes it → the config key to change (world: the launch itself,
# so another out_dir is the way out)
IDENTITY_KEYS = {
    "model": "model",
    "seq_len": "seq_len",
    "step_tokens": "batch_tokens",
    "world": "out_dir",
    "tokenizer_sha256": "train",
}


def run(
    config,
    overrides: dict | None = None,
    stop_hook: Callable[[int], bool] | None = None,
    model_hook: Callable[[GPT], object] | None = None,
    quiet: bool = False,
) -> dict:
    """Train from a YAML path or a config dict; returns the summary (also written to out_dir/summary.json).

    stop_hook(step) → True stops after that step with a checkpoint (as `stop_at_step` does); model_hook(model) is
    called once on the freshly built model (before a resume loads weights), for tests and experiments.
    """
    cfg = load_config(config, overrides)
    device, rank, world = setup_distributed(cfg)
    try:
        trainer = Trainer(cfg, device, rank, world, model_hook, quiet)
        stopped = trainer.fit(stop_hook)
        summary = trainer.summary(stopped)
        if world > 1:
            dist.barrier()  # no rank tears the group down while another is still writing or reducing
        return summary
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


class Trainer:
    """One rank's training run: model, optimizer, data, counters; the methods are the parts of the loop."""

    def __init__(self, cfg: dict, device: torch.device, rank: int, world: int, model_hook=None, quiet: bool = False):
        self.cfg, self.device, self.rank, self.world = cfg, device, rank, world
        self.master, self.quiet = rank == 0, quiet
        self.out = Path(cfg["out_dir"])
        self.metrics_path = self.out / "metrics.jsonl"
        self.dtype, self.autocast = setup_precision(cfg, device)
        self.tok = check_tokenizer(cfg)
        self.model_cfg = model_config(cfg, self.tok["vocab_size"])
        self.raw_model = build_model(self.model_cfg, cfg["seed"], device, model_hook)
        self.n_params = self.raw_model.num_params()
        sched = schedule(cfg, self.n_params, world)
        assert sched is not None  # only None without n_params
        self.sched: Schedule = sched
        self.optimizer = make_optimizer(
            self.raw_model, cfg["lr"], cfg["weight_decay"], (cfg["beta1"], cfg["beta2"]), device.type
        )
        self.scheduler = make_scheduler(self.optimizer, sched.warmup_steps, sched.total_steps, cfg["min_lr_ratio"])
        self.stream = TrainStream(cfg["train"], self.tok["sha256"], cfg["seq_len"], cfg["seed"], rank, world)
        self.evalsets = [
            EvalSet(name, d, self.tok["sha256"], self.tok["eos_id"], cfg["seq_len"], cfg["eval_tokens"])
            for name, d in cfg["eval"].items()
        ]
        self.guard = SpikeGuard(cfg["spike"]["window"], cfg["spike"]["factor"])
        self.identity = {
            "model": vars(self.model_cfg),
            "seq_len": cfg["seq_len"],
            "step_tokens": sched.step_tokens,
            "total_steps": sched.total_steps,
            "world": world,
            "tokenizer_sha256": self.tok["sha256"],
        }
        halflife_steps = cfg["ema_halflife"] * max(1, sched.total_steps)
        self.ema_decay = 0.5 ** (1.0 / halflife_steps) if halflife_steps else None
        self.ema_model: GPT | None = copy.deepcopy(self.raw_model) if self.ema_decay is not None else None
        self.step = self.rollbacks = self.spikes = 0
        self.resume()
        self.model, self.compiled = wrap_model(self.raw_model, cfg, device, world)
        self.peak = device_peak_flops(device)
        self.flops_per_token = self.raw_model.flops_per_token()
        self.progress = Progress(sched.total_steps, cfg["log_every"], self.master and not quiet)
        self.loss = float("nan")  # the last step's mean loss over micro-batches and ranks
        self.tokens_per_s = 0.0
        self.last_eval: dict = {}
        self.last_eval_ema: dict | None = None
        self.t_start = self.t_log = time.perf_counter()
        self.tokens_since_log = 0

    @property
    def tokens(self) -> int:
        return self.step * self.sched.step_tokens

    # --- checkpoints -------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from out_dir's checkpoint (resume auto | true), or start out_dir's metrics afresh."""
        resume = self.cfg["resume"]
        state = checkpoint.load(self.out) if resume in ("auto", True) else None
        if resume is True and state is None:
            raise ConfigError(f"key 'resume': no {checkpoint.NAME} in {self.out}", key="resume")
        if state is not None:
            self.step = self.restore(state, data=True)
            self.rollbacks, self.spikes = state.get("rollbacks", 0), state.get("spikes", 0)
            if self.master:
                truncate_jsonl(self.metrics_path, self.step)
        elif self.master:
            self.out.mkdir(parents=True, exist_ok=True)
            self.metrics_path.unlink(missing_ok=True)
        if self.cfg["debug_batches"]:
            self.out.mkdir(parents=True, exist_ok=True)
            truncate_jsonl(self.batches_path, self.step)

    def restore(self, state: dict, data: bool) -> int:
        """Load a checkpoint's weights, optimizer, scheduler and spike window (and with `data`, the data position and
        RNG states); returns its step. A checkpoint of another model, batch or tokenizer is refused."""
        for key, config_key in IDENTITY_KEYS.items():
            if state["identity"][key] != self.identity[key]:
                raise ConfigError(
                    f"'{key}' differs from the checkpoint's in {self.out}; use another out_dir", key=config_key
                )
        self.raw_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.guard.load_state_dict(state["spike_window"])
        if self.ema_model is not None:
            self.ema_model.load_state_dict(state.get("ema") or state["model"])
        if data:
            self.stream.load_state_dict(state["data"])
            checkpoint.set_rng_state(state["rng"])
        return state["step"]

    def save_checkpoint(self) -> None:
        if self.master:
            checkpoint.save(
                self.out,
                {
                    "model": self.raw_model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "data": self.stream.state_dict(),
                    "rng": checkpoint.rng_state(),
                    "step": self.step,
                    "tokens": self.tokens,
                    "spike_window": self.guard.state_dict(),
                    "rollbacks": self.rollbacks,
                    "spikes": self.spikes,
                    "identity": self.identity,
                    "config": self.cfg,
                    **({"ema": self.ema_model.state_dict()} if self.ema_model is not None else {}),
                },
            )
        if self.world > 1:
            dist.barrier()

    # --- the loop ----------------------------------------------------------------------------------------------
    def fit(self, stop_hook: Callable[[int], bool] | None = None) -> bool:
        """Step until the schedule ends or a stop is asked for; True when stopped early (with a checkpoint)."""
        total = self.sched.total_steps
        self.announce()
        self.model.train()
        self.t_start = self.t_log = time.perf_counter()
        self.tokens_since_log = 0
        while self.step < total:
            self.loss = self.accumulate_gradients()
            if self.handle_spike(self.loss):
                continue
            lr, grad_norm = self.update()
            self.log_train(lr, grad_norm)
            if self.eval_due():
                self.last_eval = self.evaluate()
            stop = self.stop_requested(stop_hook)
            every = self.cfg["checkpoint_every"]
            if (every and self.step % every == 0) or stop or self.step == total:
                self.save_checkpoint()
            if stop and self.step < total:
                self.progress.close()
                return True
        self.progress.close()
        return False

    def announce(self) -> None:
        if self.master and not self.quiet:
            s, cfg = self.sched, self.cfg
            print(
                f"train: {self.n_params:,} parameters, {s.total_steps} steps of {s.step_tokens:,} tokens "
                f"({s.accum} × {cfg['micro_batch']} × {cfg['seq_len']} × {self.world} ranks), device {self.device}, "
                f"{self.dtype}{', compiled' if self.compiled else ''}",
                file=sys.stderr,
            )

    def accumulate_gradients(self) -> float:
        """Forward and backward over `accum` micro-batches (DDP syncs gradients on the last one only); returns the
        mean loss over micro-batches and ranks."""
        accum, micro = self.sched.accum, self.cfg["micro_batch"]
        loss_sum = torch.zeros((), device=self.device)
        used: list[int] = []
        for micro_step in range(accum):
            batch = torch.from_numpy(self.stream.next_batch(micro))
            used += self.stream.last_indices
            if self.device.type == "cuda":
                batch = batch.pin_memory().to(self.device, non_blocking=True)
            x, y = batch[:, :-1], batch[:, 1:]
            sync = self.world == 1 or micro_step == accum - 1
            with nullcontext() if sync else self.model.no_sync(), self.autocast:
                _, loss = self.model(x, y)
            (loss / accum).backward()
            loss_sum += loss.detach()
        if self.world > 1:
            dist.all_reduce(loss_sum)
        if self.cfg["debug_batches"]:
            write_jsonl(self.batches_path, {"step": self.step + 1, "indices": used})
        return loss_sum.item() / accum / self.world

    def handle_spike(self, loss: float) -> bool:
        """Record a loss spike; True when it rolled the run back to the checkpoint (the step is then not taken)."""
        spike, ref = self.guard.check(loss)
        if not spike:
            return False
        self.spikes += 1
        spike_cfg = self.cfg["spike"]
        can_roll = spike_cfg["rollback"] and self.rollbacks < spike_cfg["max_rollbacks"]
        state = checkpoint.load(self.out) if can_roll else None
        if self.master:
            write_jsonl(
                self.metrics_path,
                {"type": "spike", "step": self.step + 1, "loss": loss, "reference": ref, "rollback": state is not None},
            )
            print(f"\ntrain: loss spike at step {self.step + 1}: {loss:.4f} vs mean {ref}", file=sys.stderr)
        if state is None:
            return False
        self.rollback(state)
        return True

    def rollback(self, state: dict) -> None:
        """Back to the checkpoint's weights and step, keeping the data position: the offending batches are skipped."""
        self.optimizer.zero_grad(set_to_none=True)
        back_to = self.restore(state, data=False)
        self.rollbacks += 1
        if self.master:
            write_jsonl(
                self.metrics_path,
                {
                    "type": "rollback",
                    "step": back_to,
                    "from_step": self.step + 1,
                    "skipped_sequences_to": self.stream.seq_index,
                },
            )
        self.step = back_to

    def update(self) -> tuple[float, float | None]:
        """Clip, step the optimizer and the lr schedule; returns the lr the step used and the gradient norm."""
        clip = self.cfg["grad_clip"]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)) if clip else None
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.update_ema()
        self.step += 1
        return lr, grad_norm

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema ← d · ema + (1 − d) · weights, parameters only (buffers are not trained)."""
        if self.ema_model is None or self.ema_decay is None:
            return
        shadow: list[torch.Tensor] = list(self.ema_model.parameters())
        params: list[torch.Tensor] = list(self.raw_model.parameters())
        torch._foreach_lerp_(shadow, params, 1.0 - self.ema_decay)

    def eval_due(self) -> bool:
        """Every `eval_every` steps; the final eval is the summary's."""
        every = self.cfg["eval_every"]
        return bool(every and self.step % every == 0 and self.step < self.sched.total_steps and self.evalsets)

    def stop_requested(self, stop_hook: Callable[[int], bool] | None) -> bool:
        at = self.cfg["stop_at_step"]
        return (at is not None and self.step == at) or (stop_hook is not None and stop_hook(self.step))

    # --- reporting ---------------------------------------------------------------------------------------------
    def log_train(self, lr: float, grad_norm: float | None) -> None:
        """A train record every `log_every` steps and at the end; the progress line (every step on a terminal)."""
        self.tokens_since_log += self.sched.step_tokens
        due = self.step % self.cfg["log_every"] == 0 or self.step == self.sched.total_steps
        if not (due or self.progress.tty):
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.tokens_per_s = self.tokens_since_log / max(now - self.t_log, 1e-9)
        if due:
            record = {
                "type": "train",
                "step": self.step,
                "tokens": self.tokens,
                "lr": lr,
                "loss": self.loss,
                "grad_norm": grad_norm,
                "tokens_per_s": round(self.tokens_per_s, 1),
                "elapsed_s": round(now - self.t_start, 3),
            }
            if self.peak:
                record["mfu"] = round(self.tokens_per_s * self.flops_per_token / (self.world * self.peak), 4)
            if self.master:
                write_jsonl(self.metrics_path, record)
            self.t_log, self.tokens_since_log = now, 0
        self.progress.update(self.step, self.loss, self.tokens_per_s, lr)

    def evaluate(self, ema: bool = False) -> dict:
        """Every eval set's figures (the same on every rank); rank 0 appends them to metrics.jsonl. With `ema` (the
        final eval) the EMA shadow is scored too: self.last_eval_ema and the record's "eval_ema"."""
        results = self.score(self.raw_model)
        record = {"type": "eval", "step": self.step, "tokens": self.tokens, "eval": results}
        if ema and self.ema_model is not None:
            self.last_eval_ema = record["eval_ema"] = self.score(self.ema_model)
        if self.master and results:
            write_jsonl(self.metrics_path, record)
        return results

    def score(self, model: GPT) -> dict:
        batch = self.cfg["eval_batch"] or self.cfg["micro_batch"]
        return {
            e.name: evaluate(model, e, batch, self.device, self.autocast, self.rank, self.world) for e in self.evalsets
        }

    def summary(self, stopped: bool) -> dict:
        """The run's figures (a finished run evaluates once more first); rank 0 writes summary.json."""
        if not stopped and self.evalsets:
            self.last_eval = self.evaluate(ema=True)
        summary = run_summary(self, stopped)
        if self.master:
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return summary

    @property
    def batches_path(self) -> Path:
        return self.out / f"batches-rank{self.rank}.jsonl"
