"""What a run reports as it goes: the loss-spike detector, the progress line on stderr, metrics.jsonl records."""

from __future__ import annotations

import json
import math
import sys
from collections import deque
from pathlib import Path


class SpikeGuard:
    """A spike: the step's loss exceeds `factor` × the mean of the last `window` non-spike losses (once at least
    min(window, 10) are known). Spikes stay out of the window."""

    def __init__(self, window: int, factor: float):
        self.window: deque[float] = deque(maxlen=window)
        self.factor = factor
        self.min_known = min(window, 10)

    def check(self, loss: float) -> tuple[bool, float | None]:
        ref = sum(self.window) / len(self.window) if len(self.window) >= self.min_known else None
        spike = not math.isfinite(loss) or (ref is not None and loss > self.factor * ref)
        if not spike:
            self.window.append(loss)
        return spike, ref

    def state_dict(self) -> list[float]:
        return list(self.window)

    def load_state_dict(self, values: list[float]) -> None:
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


def write_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Drop records after the checkpoint's step, so a resumed run's file reads like an uninterrupted one."""
    if path.is_file():
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= max_step]
        path.write_text("".join(line + "\n" for line in keep))
