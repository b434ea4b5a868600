"""The second extraction engine, Resiliparse: its F1 on the 181 ground-truth article pages, the same reject reasons
as trafilatura, a clear error for a bad engine name or a missing package, and a `curate run` with it end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import read_rows
from datatrove.data import Document

from curate import config
from curate.cli import main
from curate.evals.extraction import mean_f1
from curate.evals.extraction_eval import load_pages, load_truth
from curate.outputs import RejectedWriter
from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY
from curate.stages import engines
from curate.stages.extract import Extract

# Measured 0.934 (bench/bench_extract_engines.py; trafilatura 0.961); 0.911 with DCLM's options as published, 0.62
# without main_content.
F1_FLOOR = 0.91


def ground_truth(data: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(url → decoded HTML, url → article body) of the ground-truth pages, decoded as the extract stage does."""
    folder = data / "extraction"
    truth = load_truth(folder / "articles-311.groundtruth.json")
    return load_pages(folder / "articles-311.warc.gz", set(truth)), truth


def test_resiliparse_f1_on_the_ground_truth_pages(data):
    pages, truth = ground_truth(data)
    assert len(pages) == len(truth) == 181
    stage = Extract(engine="resiliparse")
    f1 = mean_f1({url: stage.extract(html) for url, html in pages.items()}, truth)
    print(f"\nresiliparse mean token F1 on {len(truth)} pages: {f1:.4f}")
    assert f1 > F1_FLOOR


def test_resiliparse_text_is_one_line_per_block():
    html = "<html><body><article><h1>Title</h1><p>One para.</p><p>Two   para.</p><pre>a\n  b</pre></article></body>"
    assert Extract(engine="resiliparse").extract(html) == "Title\nOne para.\nTwo para.\na\n  b"


def run_stage(stage: Extract, pages: list[str], folder: Path) -> tuple[list[Document], list[dict]]:
    docs = [
        Document(text="", id=f"p{i}", metadata={PAYLOAD_KEY: p.encode(), HTTP_CHARSET_KEY: "utf-8", "url": f"u{i}"})
        for i, p in enumerate(pages)
    ]
    stage.rejects = RejectedWriter(str(folder), "extract")
    kept = list(stage.run(iter(docs)))
    return kept, read_rows(folder)


def test_resiliparse_rejects_as_trafilatura_does(tmp_path):
    article = "<html><body><article><p>" + "A sentence of the article. " * 20 + "</p></article></body></html>"
    empty = "<html><body><script>var x = 1;</script></body></html>"
    huge = "<html><body>" + "<i>a</i>" * 60_000  # over the default 50,000 start tags
    rows = {}
    for engine in engines.ENGINES:
        kept, rejected = run_stage(Extract(engine=engine), [article, empty, huge], tmp_path / engine)
        assert [d.id for d in kept] == ["p0"] and kept[0].text.startswith("A sentence of the article.")
        rows[engine] = [(r["id"], r["reason"], r["detail"]) for r in rejected]
    assert rows["resiliparse"] == rows["trafilatura"]
    assert [reason for _, reason, _ in rows["resiliparse"]] == ["no_text", "too_complex"]


def test_a_bad_engine_name_is_a_config_error_naming_the_key_and_the_choices(tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("reader:\n  warc: {}\nstages:\n  - extract: {engine: justext}\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(spec)
    assert "stages[0].extract.engine: 'justext'" in str(err.value)
    assert "allowed: resiliparse, trafilatura" in str(err.value)


def test_the_config_allows_exactly_the_engines_the_stage_has():
    assert config.STAGES["extract"].limits["engine"].values == engines.ENGINES


def test_a_missing_resiliparse_names_the_extra_to_install(monkeypatch):
    engines.resiliparse_extract.cache_clear()
    monkeypatch.setitem(sys.modules, "resiliparse.extract.html2text", None)  # makes the import fail
    try:
        with pytest.raises(config.ConfigError, match=r"pip install 'curate\[resiliparse\]'"):
            Extract(engine="resiliparse")
        Extract()  # trafilatura never needs it
    finally:
        engines.resiliparse_extract.cache_clear()


@pytest.mark.slow
def test_curate_run_with_the_resiliparse_engine(data, tmp_path):
    spec = tmp_path / "resiliparse.yaml"
    spec.write_text("reader:\n  warc: {}\nstages:\n  - extract: {engine: resiliparse}\n")
    warc, out = data / "extraction" / "articles-311.warc.gz", tmp_path / "run"
    argv = ["run", str(spec), "--input", str(warc), "--output", str(out), "--limit", "60", "--no-progress"]
    assert main(argv) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conserved"] and stats["input_records"] == 60 == stats["kept"] + stats["rejected"]
    assert [s["stage"] for s in stats["stages"]] == ["read", "extract"]
    docs = read_rows(out / "documents", ["url", "text"])
    assert len(docs) == stats["kept"] >= 50  # 60 records: a warcinfo record and the article pages
    # the text is Resiliparse's, not trafilatura's
    pages = load_pages(warc, {row["url"] for row in docs})
    stage = Extract(engine="resiliparse")
    assert all(row["text"] == stage.extract(pages[row["url"]]) for row in docs)
