"""Checkpoints: model, optimizer, scheduler, data-stream state, RNG states, step/token counters; atomic writes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

NAME = "checkpoint.pt"


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(out_dir: str | Path, state: dict) -> Path:
    path = Path(out_dir) / NAME
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load(out_dir: str | Path, map_location="cpu") -> dict | None:
    path = Path(out_dir) / NAME
    if not path.is_file():
        return None
    return torch.load(path, map_location=map_location, weights_only=False)  # our own file: numpy/python RNG states
