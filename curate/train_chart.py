"""A training run's loss chart (OUT_DIR/loss.png), drawn by curate from the trainer's metrics.jsonl.

The trainer (`curate_train`) must run on a bare GPU box without matplotlib, so it writes numbers only; the chart is
drawn here, by `curate train` when the trainer returns and by `curate report OUT_DIR` for a run trained elsewhere
(`python -m curate_train`, torchrun). Two panels against training tokens: the loss in nats per token (train loss as
logged, each eval set's held-out loss, loss spikes marked) and each eval set's bits per byte (the figure `curate
compare` ranks on; the EMA shadow's final eval as a star when the run has one).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import yaml

from curate.charts import grid, save

METRICS, CHART = "metrics.jsonl", "loss.png"


def read_metrics(path: Path) -> list[dict]:
    """metrics.jsonl's records in order (blank lines skipped); a line that is not JSON names the file and line."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {number}: not JSON ({err.msg})") from None
    return records


def _tokens_per_step(records: list[dict]) -> float | None:
    """Tokens per optimizer step, from any record holding both (spike records carry only the step)."""
    for r in records:
        if r.get("step") and r.get("tokens") is not None:
            return r["tokens"] / r["step"]
    return None


def draw_loss_chart(metrics: Path, png: Path, title: str | None = None) -> Path | None:
    """loss.png from metrics.jsonl: loss (train and per eval set) and bpb per eval set against tokens. None when the
    file holds no train or eval record (nothing to draw)."""
    from matplotlib.ticker import EngFormatter

    records = read_metrics(metrics)
    train = [(r["tokens"], r["loss"]) for r in records if r.get("type") == "train"]
    evals = [r for r in records if r.get("type") == "eval" and r.get("eval")]
    if not train and not evals:
        return None
    names = list(dict.fromkeys(name for r in evals for name in r["eval"]))
    fig, (loss_ax, bpb_ax) = grid(1, 2, 12, 4.5)
    if train:
        loss_ax.plot(*zip(*train), color="C0", linewidth=1.2, label=f"train ({len(train)} logged steps)")
    per_step = _tokens_per_step(records)
    spikes = [r for r in records if r.get("type") == "spike" and r.get("loss") is not None]
    if spikes and per_step:
        loss_ax.scatter(
            [r["step"] * per_step for r in spikes], [r["loss"] for r in spikes], marker="x", color="#c62828",
            zorder=3, label=f"loss spike ({len(spikes)})",
        )  # fmt: skip
    for k, name in enumerate(names, start=1):
        points = [(r["tokens"], r["eval"][name]) for r in evals if name in r["eval"]]
        tokens = [t for t, _ in points]
        colour = f"C{k}"
        loss_ax.plot(tokens, [f["loss"] for _, f in points], "o-", color=colour, markersize=4, label=f"eval {name}")
        bpb_ax.plot(tokens, [f["bpb"] for _, f in points], "o-", color=colour, markersize=4, label=f"eval {name}")
        ema = next((r["eval_ema"][name] for r in reversed(evals) if (r.get("eval_ema") or {}).get(name)), None)
        if ema is not None:
            bpb_ax.plot([tokens[-1]], [ema["bpb"]], "*", color=colour, markersize=11, label=f"{name}: EMA weights")
    loss_ax.set_ylabel("loss (nats per token)")
    loss_ax.set_title("loss: train and held-out")
    bpb_ax.set_ylabel("bits per byte (lower is better)")
    bpb_ax.set_title("held-out bits per byte per eval set")
    if not names:
        bpb_ax.text(0.5, 0.5, "no eval set in this run", ha="center", va="center", transform=bpb_ax.transAxes)
    for ax in (loss_ax, bpb_ax):
        ax.set_xlabel("training tokens")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    last = max((r for r in records if r.get("step") is not None), key=lambda r: r["step"], default=None)
    if title is None:
        name = Path(metrics).parent.name
        title = name if len(name) <= 32 else name[:12] + "…"  # a compare run's folder is its config hash
    if last is not None and last.get("tokens") is not None:
        title += f": {last['step']:,} steps, {last['tokens']:,} tokens"
    fig.suptitle(title, fontsize=11)
    return save(fig, png, dpi=100)


def chart_run(run_dir: str | Path) -> Path | None:
    """RUN_DIR/loss.png from RUN_DIR/metrics.jsonl (a trainer output folder); None when there is nothing to draw."""
    run_dir = Path(run_dir)
    metrics = run_dir / METRICS
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics}: no such file (not a trainer output folder)")
    return draw_loss_chart(metrics, run_dir / CHART)


def matplotlib_missing() -> bool:
    return importlib.util.find_spec("matplotlib") is None


def chart_after_training(config: str, sets: list[str]) -> Path | None:
    """`curate train`: the trained run's loss.png (its out_dir read from the config and the --set KEY=VALUE
    overrides, as the trainer resolved it); says on stderr what it drew, or why it drew nothing."""
    from curate_train.config import load_config

    overrides = {key.strip(): yaml.safe_load(value) for key, _, value in (s.partition("=") for s in sets)}
    out_dir = Path(load_config(config, overrides)["out_dir"])
    if matplotlib_missing():
        print(f"curate train: matplotlib is not installed, so no {out_dir / CHART}", file=sys.stderr)
        return None
    png = chart_run(out_dir) if (out_dir / METRICS).is_file() else None
    print(f"curate train: loss chart {png}" if png else f"curate train: nothing to chart in {out_dir}", file=sys.stderr)
    return png
