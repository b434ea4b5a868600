"""The one pass of `curate ablate`: the pipeline runs once, but its filters record their verdicts instead of dropping.

Stage roles in the pass (from the pipeline's stage definitions, not their names):
  filter     a datatrove `BaseFilter` (url_filter, language, Gopher, C4, FineWeb, decontaminate...): its verdict for
             every document goes into the `verdicts` column (stage → reason, absent when it passes); nothing drops.
  dedup      the barrier stage: its keys (text, URL, MinHash bands) are computed once for every document, in stream
             order beside the pass's documents; which documents a subset keeps is decided later (select.py).
  transform  a stage that never rejects and reads the text (pii): runs as usual; when it changes a document's text,
             the text it had before goes into `texts_before` (stage → text), so a candidate without it can use it.
  annotate   a stage that never rejects nor reads the text (domains): runs as usual, not ablatable.
  text       a stage that makes text (extract): runs as usual, its rejects are final (no text, nothing to train on).
  tokenize   skipped: candidates are tokenized once each document, after the pass (select.py).
Every other stage that can reject runs as usual and is listed as not ablatable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.utils.batching import batched
from datatrove.utils.typeshelper import StatHints

from curate.config import PipelineSpec
from curate.outputs import ParquetRows, RejectedWriter
from curate.records import DOCUMENT_FIELDS, document_row

PASS_SCHEMA = pa.schema(DOCUMENT_FIELDS + [("verdicts", pa.string()), ("texts_before", pa.large_string())])
VERDICTS_KEY = "_ablate_verdicts"
BEFORE_KEY = "_ablate_texts_before"


@dataclass(frozen=True)
class Role:
    stage: str  # the stage's name in the pipeline (the `stage` of rejected rows)
    kind: str  # filter | dedup | transform | text | tokenize | other


def roles(spec: PipelineSpec) -> list[Role]:
    """What each stage of the pipeline is in the pass (see the module docstring)."""
    out = []
    for stage in spec.stages:
        d = stage.definition
        if d.writes_tokens:
            kind = "tokenize"
        elif d.barrier:
            kind = "dedup"
        elif d.makes_text:
            kind = "text"
        elif d.never_rejects:
            kind = "transform" if d.needs_text else "annotate"  # domains: tags only, its text never changes
        elif issubclass(d.load(), BaseFilter):
            kind = "filter"
        else:
            kind = "other"
        out.append(Role(stage.name, kind))
    return out


class RecordVerdict(PipelineStep):
    """A filter that records instead of dropping: every document goes on, with the filter's reason (or none)."""

    type = "🔻 - FILTER"

    def __init__(self, step: BaseFilter, stage: str):
        self.name = f"{step.name} (recorded)"  # before PipelineStep.__init__, which names the step's stats
        super().__init__()
        self.step, self.stage = step, stage

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for batch in batched(data, self.step.batch_size):
            with self.track_time():
                results = self.step.filter_batch(batch)
            for doc, result in zip(batch, results):
                self.stat_update(StatHints.total)
                passed, reason = get_filter_result(result)
                if not passed:
                    doc.metadata.setdefault(VERDICTS_KEY, {})[self.stage] = reason or "filtered"
                    self.stat_update(f"would_drop_{reason or 'filtered'}")
                self.stat_update(StatHints.forwarded)
                yield doc


class KeepText(PipelineStep):
    """A transform run one document at a time; the text before it is kept when it changes the text."""

    type = "✂️ - FORMAT"

    def __init__(self, step: PipelineStep, stage: str):
        self.name = f"{step.name} (text kept)"
        super().__init__()
        self.step, self.stage = step, stage

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        def before(docs):
            for doc in docs:
                doc.metadata["_ablate_text"] = doc.text
                yield doc

        for doc in self.step.run(before(data), rank, world_size):
            previous = doc.metadata.pop("_ablate_text", doc.text)
            if previous != doc.text:
                doc.metadata.setdefault(BEFORE_KEY, {})[self.stage] = previous
            self.stat_update(StatHints.total, StatHints.forwarded)
            yield doc


class PassWriter(PipelineStep):
    """Every document that reached the end of the pass: `pass/documents/<rank>.parquet`, with its verdicts."""

    name = "📒 ablation pass"
    type = "💽 - WRITER"

    def __init__(self, output_folder: str):
        super().__init__()
        self.output_folder = output_folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with ParquetRows(self.output_folder, PASS_SCHEMA, first=rank) as rows:
            for doc in data:
                row = document_row(doc)
                verdicts = doc.metadata.get(VERDICTS_KEY)
                befores = doc.metadata.get(BEFORE_KEY)
                row["verdicts"] = json.dumps(verdicts, sort_keys=True) if verdicts else None
                row["texts_before"] = json.dumps(befores, ensure_ascii=False) if befores else None
                rows.add(row)
                self.stat_update("total")
                yield doc
            rows.close(always=True)  # one file per task, even empty: rows line up with the dedup keys by rank


def build_pass(spec: PipelineSpec, paths: list[str], folder: Path, tasks: int, progress: bool) -> list:
    """The pass's datatrove steps: reader → stages in their roles → writer (see the module docstring)."""
    from curate.dedup.steps import DedupKeys

    rejected = str(folder / "rejected")
    steps: list = [spec.reader.build(paths=paths, rejects=RejectedWriter(rejected, "read"), progress=progress)]
    for stage, role in zip(spec.stages, roles(spec)):
        if role.kind == "tokenize":
            continue
        if role.kind == "dedup":
            steps.append(DedupKeys(str(folder / "dedup"), stage.build()))
        elif role.kind == "filter":
            steps.append(RecordVerdict(stage.build(rejects=None), stage.name))
        elif role.kind == "transform":
            steps.append(KeepText(stage.build(rejects=None), stage.name))
        elif role.kind == "annotate":
            steps.append(stage.build(rejects=None))
        else:
            steps.append(stage.build(rejects=RejectedWriter(rejected, stage.name)))
    steps.append(PassWriter(str(folder / "documents")))
    return steps
