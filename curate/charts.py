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


def grid(rows: int, cols: int, width: float, height: float) -> tuple[Any, list[Any]]:
    """A new figure of rows × cols axes (a flat list, row by row), detached from pyplot like `figure`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_laid_out(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure whose caller already laid it out (e.g. `tight_layout(rect=...)` leaving room for a figure
    legend), which `save`'s own tight layout would undo."""
    fig.savefig(path, dpi=dpi)
    return Path(path)
