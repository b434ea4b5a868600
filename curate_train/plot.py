"""loss.png without matplotlib: lines drawn into a numpy RGB array, written as PNG with zlib + struct.

Train loss is blue, eval loss (mean over eval sets) orange, against tokens; the frame spans the data's range (the
y range is printed in summary.json, since this writer has no fonts).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

BLUE, ORANGE, GREY = (31, 119, 180), (255, 127, 14), (160, 160, 160)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))  # filter 0 per scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    )


def _line(img: np.ndarray, x0, y0, x1, y1, color, width: int = 2) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.rint(np.linspace(x0, x1, n)).astype(int)
    ys = np.rint(np.linspace(y0, y1, n)).astype(int)
    h, w, _ = img.shape
    for dx in range(width):
        for dy in range(width):
            img[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] = color


def plot_losses(
    path: str | Path,
    train: list[tuple[float, float]],
    evals: list[tuple[float, float]],
    size: tuple[int, int] = (640, 400),
) -> dict | None:
    """train/evals: (tokens, loss) points. Returns the axes' ranges, or None when there is nothing to draw."""
    points = [p for p in train + evals if np.isfinite(p[1])]
    if not points:
        return None
    w, h = size
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    pad = 30
    xs, ys = np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)
    x_lo, x_hi = xs.min(), max(xs.max(), xs.min() + 1)
    y_lo, y_hi = ys.min(), max(ys.max(), ys.min() + 1e-6)

    def to_px(x: float, y: float) -> tuple[float, float]:
        return pad + (x - x_lo) / (x_hi - x_lo) * (w - 2 * pad), h - pad - (y - y_lo) / (y_hi - y_lo) * (h - 2 * pad)

    for a, b in (((x_lo, y_lo), (x_hi, y_lo)), ((x_lo, y_lo), (x_lo, y_hi))):
        _line(img, *to_px(*a), *to_px(*b), GREY, 1)
    for series, color in ((train, BLUE), (evals, ORANGE)):
        pts = [to_px(x, y) for x, y in series if np.isfinite(y)]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            _line(img, x0, y0, x1, y1, color)
        if color == ORANGE:
            for x, y in pts:
                img[max(0, int(y) - 3) : int(y) + 4, max(0, int(x) - 3) : int(x) + 4] = color
    write_png(path, img)
    return {"tokens": [float(x_lo), float(x_hi)], "loss": [float(y_lo), float(y_hi)]}
