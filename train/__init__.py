"""The proxy-model trainer: torch, numpy, pyarrow and PyYAML only (never imports curate).

    python -m train CONFIG.yaml [--set key=value ...]
    torchrun --nproc_per_node N -m train CONFIG.yaml

From Python: `train.run(path_or_dict, overrides=None) -> summary dict`, `train.main(argv) -> exit code`.
"""

from __future__ import annotations


def run(config, overrides: dict | None = None, **kwargs) -> dict:
    from .loop import run as _run

    return _run(config, overrides, **kwargs)


def main(argv: list[str] | None = None) -> int:
    from .__main__ import main as _main

    return _main(argv)


__all__ = ["run", "main"]
