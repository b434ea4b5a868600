"""Extraction quality on 181 real article pages with ground truth, through the pipeline and trafilatura directly."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import trafilatura
from trafilatura.meta import reset_caches

from curate import config
from curate.evals.extraction import mean_f1, token_f1
from curate.pipeline import RunOptions, run
from curate.stages.warc import WarcReader

pytestmark = pytest.mark.slow  # runs pipelines or trains models: not in `make test-fast`


def test_token_f1():
    assert token_f1("a b c", "a b c") == 1.0
    assert token_f1(None, "a b") == 0.0
    assert 0.0 < token_f1("a b x", "a b c") < 1.0


def test_pipeline_extraction_matches_trafilatura(data, tmp_path):
    warc = data / "extraction" / "articles-311.warc.gz"
    truth = {
        url: page["articleBody"]
        for url, page in json.loads((data / "extraction" / "articles-311.groundtruth.json").read_text()).items()
        if page.get("articleBody")
    }
    assert len(truth) == 181
    spec = config.parse({"reader": "warc", "stages": ["extract"]}, "extract-only.yaml")
    stats = run(spec, RunOptions(inputs=[str(warc)], output=tmp_path / "run", progress=False))
    assert stats["input_records"] == stats["kept"] + stats["rejected"] == 312
    extract = next(s for s in stats["stages"] if s["stage"] == "extract")
    assert not {"too_complex", "timeout"} & set(extract["dropped"])  # the default budget and limit admit every page
    table = pq.read_table(tmp_path / "run" / "documents", columns=["url", "text"]).to_pylist()
    pipeline = {row["url"]: row["text"] for row in table}

    # the same HTML, the same options, trafilatura called directly (fresh dedup cache, as in a new task)
    options = spec.stages[0].build().options  # exactly what the stage passes to trafilatura
    assert options["favor_precision"] is True
    reset_caches()
    direct = {}
    for doc in WarcReader([str(warc)]).read_file(str(warc)):
        if doc.metadata["url"] in truth:
            direct[doc.metadata["url"]] = trafilatura.extract(doc.metadata["_payload"], **options)
    pipeline_f1, direct_f1 = mean_f1(pipeline, truth), mean_f1(direct, truth)
    print(
        f"\nmean token F1 on {len(truth)} pages: pipeline {pipeline_f1:.4f},"
        f" trafilatura.extract directly {direct_f1:.4f}"
    )
    assert pipeline_f1 >= 0.95
    assert abs(pipeline_f1 - direct_f1) <= 0.01
