"""RUN/README.md: the run folder's dataset card, for people and for `datasets.load_dataset(RUN)`.

A run folder holds Parquet files of three schemas (documents/, rejected/, tokens/) beside JSON and HTML, so
`load_dataset(RUN)` without a builder cannot infer one table from it. The card's YAML front matter declares one
configuration per Parquet folder (Hugging Face's "manual configuration": `configs:` with `data_files`), documents
being the default; its body says what the folder holds, with the counts of stats.json, and how to load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from curate.runfolder import atomic_write_text

CARD = "README.md"

# (configuration, folder, file pattern, what it holds); the first present one is the default configuration
CONFIGS = (
    ("documents", "documents", "*.parquet", "kept documents, one row each"),
    ("rejected", "rejected", "*.parquet", "every dropped record, with the `stage` and `reason` that dropped it"),
    ("tokens", "tokens", "shard-*.parquet", "the kept documents as token ids (`input_ids` ending with EOS)"),
)


def _present(output: Path) -> list[tuple[str, str, str, str, list[str]]]:
    """The configurations whose folder has Parquet files, with the columns of its first file."""
    found = []
    for name, folder, pattern, what in CONFIGS:
        files = sorted((output / folder).glob(pattern))
        if files:
            found.append((name, folder, pattern, what, pq.read_schema(files[0]).names))
    return found


def front_matter(output: Path) -> dict[str, Any]:
    """The card's metadata: one `configs:` entry per Parquet folder present (paths relative to the card)."""
    configs = []
    for i, (name, folder, pattern, _, _) in enumerate(_present(output)):
        entry: dict[str, Any] = {"config_name": name, "data_files": [{"split": "train", "path": f"{folder}/{pattern}"}]}
        if i == 0:
            entry["default"] = True
        configs.append(entry)
    return {"configs": configs}


def write_card(output: str | Path, stats: dict[str, Any]) -> Path:
    """Write RUN/README.md from the run's stats (the dict written to stats.json) and its Parquet folders."""
    output = Path(output)
    present = _present(output)
    rows_present = {p[0] for p in present}
    rows = {"documents": f"{stats.get('kept', 0):,}", "rejected": f"{stats.get('rejected', 0):,}"}
    tokens = stats.get("tokens")
    if tokens:
        rows["tokens"] = f"{tokens['documents']:,} documents, {tokens['tokens']:,} tokens"
    source = f"`{stats['pipeline']}`" if stats.get("pipeline") else f"`curate {stats.get('name') or 'run'}`"
    lines = [
        f"# {stats.get('name') or output.name}",
        "",
        f"Made by curate from {source}: {stats.get('input_records', 0):,} input records, "
        f"{stats.get('kept', 0):,} kept, {stats.get('rejected', 0):,} rejected "
        f"(every record accounted for: {'yes' if stats.get('conserved') else 'NO, see stats.json problems'}).",
        "",
        "| folder | holds | rows | columns |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{folder}/` | {what} | {rows.get(name, '')} | {', '.join(f'`{c}`' for c in columns)} |"
        for name, folder, _, what, columns in present
    ]
    by_stage = stats.get("rejected_rows_by_stage") or {}
    if by_stage:
        lines += ["", "Rejected by stage: " + ", ".join(f"{stage} {n:,}" for stage, n in by_stage.items()) + "."]
    lines += [
        "",
        "`stats.json` is the funnel (records in and out of every stage, drops by reason); `report.html` shows it with "
        "examples; `run.json` is the request that made this folder.",
        "",
        "## Loading",
        "",
        "```python",
        f'RUN = "{output.name}"  # the path of this folder',
        "from datasets import load_dataset",
        f'docs = load_dataset(RUN, split="train")  # the `{present[0][0] if present else "documents"}` configuration',
        *(['rejected = load_dataset(RUN, "rejected", split="train")'] if "rejected" in rows_present else []),
        "import pandas as pd",
        'frame = pd.read_parquet(f"{RUN}/documents")  # or pyarrow.dataset.dataset(f"{RUN}/documents")',
        "```",
        "",
    ]
    head = yaml.safe_dump(front_matter(output), sort_keys=False)
    return atomic_write_text(output / CARD, f"---\n{head}---\n\n" + "\n".join(lines))
