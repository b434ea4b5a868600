"""Charts as files, drawn on matplotlib's object-oriented API: no pyplot, no global backend, nothing changed in the
process that imports curate (a notebook keeps its own backend). Every PNG curate writes goes through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def figure(width: float, height: float) -> tuple[Any, Any]:
    """A new (figure, axes) pair, detached from pyplot's figure registry."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def save(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Lay the figure out tightly and write it as a PNG (Agg, whatever backend the process uses)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return Path(path)
