"""The proxy-model trainer: torch, numpy, pyarrow and PyYAML only (never imports curate).

    python -m curate_train CONFIG.yaml [--set key=value ...]
    torchrun --nproc_per_node N -m curate_train CONFIG.yaml

From Python: `curate_train.run(path_or_dict, overrides=None) -> summary dict`, `curate_train.main(argv) -> exit code`,
`curate_train.schedule(cfg, n_params=None, world=1) -> Schedule | None` (the step arithmetic of a validated config).
"""

from __future__ import annotations

# Imported, not a lazy wrapper like run: the import system binds a package's attribute to its submodule on first
# import, so a lazy `schedule` function would be replaced by the curate_train.schedule module once anything (the
# training loop) imported it. It costs PyYAML only, no torch.
from .schedule import schedule


def run(config, overrides: dict | None = None, **kwargs) -> dict:
    from .loop import run as _run

    return _run(config, overrides, **kwargs)


def main(argv: list[str] | None = None) -> int:
    from .__main__ import main as _main

    return _main(argv)


__all__ = ["run", "schedule", "main"]
