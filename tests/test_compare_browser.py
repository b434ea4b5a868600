"""The compare report and the trainer's loss chart as a user sees them: opened in headless Chromium (tests/browser.py),
with no console errors, every image rendered, the verdicts first. The compare is test_compare.py's clean-vs-corrupted
one with the same runs folder, so in a full session its six runs are reused, not trained again.

Screenshots are kept in $CURATE_ARTIFACTS (default: the test's tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from browser import browser, check_page  # noqa: F401
from conftest import TINY_MODEL, TINY_TRAIN
from conftest import write_compare_spec as write_spec

from curate.cli import main as curate_main
from curate.compare import run_compare
from curate.train_chart import chart_after_training

pytestmark = pytest.mark.slow  # trains the compare's runs when test_compare.py has not

SECTIONS = (
    "Verdicts",
    "Each candidate against the reference (corrupted)",
    "What each candidate trained on",
    "Loss curves",
    "Differences per eval set and domain",
    "Seed spread",
    "Runs",
)


@pytest.fixture(scope="module")
def compared(compare_corpus, tmp_path_factory) -> tuple[Path, dict]:
    """(OUT_DIR, comparison) of clean vs corrupted, runs in test_compare.py's session folder."""
    corpus = compare_corpus
    root = tmp_path_factory.mktemp("compare-browser")
    spec = write_spec(
        root / "clean-vs-corrupted.yaml",
        [{"name": "corrupted", "tokens": str(corpus["corrupted"])}, {"name": "clean", "tokens": str(corpus["clean"])}],
        corpus,
        cache=str(tmp_path_factory.getbasetemp() / "clean-vs-corrupted-runs"),  # test_compare.py's
    )
    return root / "out", run_compare(spec, root / "out", log=None)


def artifacts(tmp_path: Path) -> Path:
    return Path(os.environ.get("CURATE_ARTIFACTS") or tmp_path)


def test_compare_report_renders_with_the_verdicts_first(browser, compared, tmp_path):  # noqa: F811
    out, result = compared
    page = check_page(out / "report.html", artifacts(tmp_path) / "compare-report.png")
    assert page.console_errors == []
    assert [src for src, _, _ in page.images] == ["loss_curves.png", "domain_bpb.png"]
    assert all(w > 0 and h > 0 for _, w, h in page.images), page.images
    assert page.title == "compare: clean-vs-corrupted"
    positions = [page.text.index(f"\n{title}\n") for title in SECTIONS]
    assert positions == sorted(positions), positions  # every section, in order, the verdicts first
    head = page.text[: positions[0]]
    assert head.startswith("compare: clean-vs-corrupted") and "Compared: corrupted" in head
    verdicts = page.text[positions[0] : positions[1]]
    (pair,) = result["pairwise"]
    assert pair["significant"] and "1 of 1 tests significant" in verdicts
    assert f"clean vs corrupted\tclean better\tclean lower by {pair['diff_mean']:.4f}" in verdicts
    assert f"{pair['mdd']:.4f}" in verdicts
    trained = page.text[positions[2] : positions[3]]
    for name, cand in result["candidates"].items():
        assert f"{name}\t{cand['sample']['tokens_seen']:,.0f}\t" in trained
        assert f"\t{cand['sample']['epochs']:.2f}\t" in trained
    assert page.screenshot is not None and page.screenshot.stat().st_size > 0


def test_trainer_loss_chart_renders(browser, compared, compare_corpus, tmp_path, capsys):  # noqa: F811
    out, result = compared
    run_dir = out / result["candidates"]["clean"]["runs"][0]["dir"]
    (run_dir / "loss.png").unlink(missing_ok=True)
    assert curate_main(["report", str(run_dir)]) == 0  # `curate report TRAIN_OUT_DIR` draws it
    assert capsys.readouterr().out.strip() == str(run_dir / "loss.png")

    # `curate train`'s step: the out_dir as the trainer resolves it from the config and --set overrides
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {**TINY_TRAIN, "model": TINY_MODEL, "train": str(compare_corpus["clean"]), "out_dir": "elsewhere"}
        )
    )
    (run_dir / "loss.png").unlink()
    assert chart_after_training(str(config), [f"out_dir={run_dir}"]) == run_dir / "loss.png"

    page_html = tmp_path / "loss.html"
    page_html.write_text(f'<!DOCTYPE html><html><head><title>loss</title></head><body><img src="{run_dir}/loss.png">')
    page = check_page(page_html, artifacts(tmp_path) / "train-loss-chart.png")
    assert page.console_errors == []
    ((_, width, height),) = page.images
    assert (width, height) == (1200, 450)  # 12 × 4.5 inches at 100 dpi: drawn, and drawn whole
