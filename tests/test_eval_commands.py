"""`curate eval extraction|langid|dedup|pii` on small slices of the shared data, through `curate.cli.main`: each prints
its table and writes its JSON, and a deliberately worse configuration scores lower than the stage's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.cli import main


def run_eval(argv: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `curate eval ARGV`, whether the parser or the command refused it."""
    try:
        code = main(["eval", *argv])
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def evaluate(argv: list[str], output: Path, capsys) -> tuple[dict, str]:
    code, out, err = run_eval([*argv, "--output", str(output)], capsys)
    assert code == 0, err
    assert f"results: {output}" in out
    return json.loads(output.read_text()), out


# ---------------------------------------------------------------- extraction


@pytest.mark.slow  # trafilatura on 30 pages: a few seconds on a 2-core machine
def test_extraction_resiliparse_scores_lower_than_trafilatura(data, tmp_path, capsys):
    folder = data / "extraction"
    common = ["extraction", "--warc", str(folder / "articles-311.warc.gz")]
    common += ["--groundtruth", str(folder / "articles-311.groundtruth.json"), "--limit", "30", "--worst", "5"]
    best, table = evaluate(common, tmp_path / "trafilatura.json", capsys)
    worse, _ = evaluate([*common, "--engine", "resiliparse"], tmp_path / "resiliparse.json", capsys)
    with capsys.disabled():
        print(f"\n{table}")
    assert best["config"]["engine"] == "trafilatura" and worse["config"]["engine"] == "resiliparse"
    assert best["overall"]["pages"] == worse["overall"]["pages"] == len(best["pages"]) == 30
    assert best["overall"]["missing_from_warc"] == 0
    assert "mean over pages" in table and "worst 5 pages by F1" in table
    assert len(best["worst"]) == 5 and best["worst"][0]["f1"] == min(p["f1"] for p in best["pages"])
    for result in (best, worse):
        pages = result["pages"]
        assert result["overall"]["f1"] == pytest.approx(sum(p["f1"] for p in pages) / len(pages))
        assert all(0 <= p["precision"] <= 1 and 0 <= p["recall"] <= 1 for p in pages)
    assert best["overall"]["f1"] > 0.9
    # Resiliparse keeps more boilerplate: lower precision, lower F1 (README: 0.934 against 0.961 on 181 pages)
    assert worse["overall"]["precision"] < best["overall"]["precision"]
    assert worse["overall"]["f1"] < best["overall"]["f1"]


# ---------------------------------------------------------------- langid


def test_langid_snippets_score_lower_than_sentences(data, tmp_path, capsys):
    common = ["langid", "--labelled", str(data / "langid" / "tatoeba_long.txt"), "--limit", "200"]
    best, table = evaluate(common, tmp_path / "full.json", capsys)
    worse, _ = evaluate([*common, "--max-chars", "12"], tmp_path / "snippets.json", capsys)
    with capsys.disabled():
        print(f"\n{table}")
    assert best["sentences"] + best["unsupported"]["sentences"] == 200
    assert best["sentences"] > 180 and best["accuracy"] > 0.9
    assert "top confusions" in table and "min_score" in table
    assert worse["accuracy"] < best["accuracy"] - 0.1
    assert worse["at_min_score"]["correct_kept"] < best["at_min_score"]["correct_kept"]
    curve = best["coverage_curve"]
    assert [row["min_score"] for row in curve] == sorted(row["min_score"] for row in curve)
    assert curve[0]["min_score"] == 0 and curve[0]["coverage"] == 1 and curve[0]["accuracy"] == best["accuracy"]
    assert all(a["coverage"] >= b["coverage"] for a, b in zip(curve, curve[1:]))
    assert curve[-1]["accuracy"] >= curve[0]["accuracy"]  # a higher bar keeps less, and what it keeps is righter
    assert best["at_min_score"] == next(row for row in curve if row["min_score"] == 0.65)
    stricter, _ = evaluate([*common, "--min-score", "0.97"], tmp_path / "strict.json", capsys)
    assert stricter["at_min_score"]["coverage"] < best["at_min_score"]["coverage"]


# ---------------------------------------------------------------- dedup


@pytest.fixture(scope="module")
def run_dir(data, tmp_path_factory) -> Path:
    """A `curate ingest` run folder of real documents: Common Crawl pages and the US inaugural addresses."""
    out = tmp_path_factory.mktemp("eval-dedup") / "run"
    text = data / "text"
    sources = [str(text / n) for n in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz", "inaugural.zip")]
    assert main(["ingest", *sources, "-o", str(out)]) == 0
    return out


@pytest.mark.slow  # builds the MinHash lookup table (a second) and draws two charts
def test_dedup_fewer_bands_detect_less(run_dir, tmp_path, capsys):
    common = ["dedup", "--docs", str(run_dir), "--pairs", "330"]
    best, table = evaluate(common, tmp_path / "dedup.json", capsys)
    worse, _ = evaluate([*common, "--bands", "3"], tmp_path / "b3.json", capsys)
    with capsys.disabled():
        print(f"\n{table}")
    assert best["config"]["bands"] == 14 and best["config"]["rows"] == 8 and best["config"]["from"] == "defaults"
    assert worse["config"]["bands"] == 3 and worse["config"]["from"] == "options"
    assert best["documents"] == worse["documents"] >= 70
    assert len(best["pairs"]) == 330 and sum(b["pairs"] for b in best["bins"]) == 330
    assert len(best["bins"]) >= 5 and "theory" in table
    png = tmp_path / "dedup.png"
    assert best["chart"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "b3.png").exists()
    # the same pairs (same edits), only the banding differs
    assert [p["jaccard"] for p in best["pairs"]] == [p["jaccard"] for p in worse["pairs"]]
    assert worse["detection_rate"] < best["detection_rate"] - 0.05
    for result in (best, worse):
        for row in result["bins"]:  # the measured rate follows the S-curve
            sd = (row["theory"] * (1 - row["theory"]) / row["pairs"]) ** 0.5
            assert abs(row["rate"] - row["theory"]) <= 3 * sd + 0.05, row
    identical = [p for p in best["pairs"] if p["rate"] == 0]
    assert identical and all(p["jaccard"] == 1 and p["detected"] for p in identical)


@pytest.mark.slow  # a `curate run` with a dedup stage
def test_dedup_uses_the_runs_banding(run_dir, tmp_path, capsys):
    """A run deduplicated with `threshold: 0.9` (bands × rows chosen for it) is measured with its own banding, which
    catches fewer of the pairs between 0.7 and 0.9 than FineWeb's 14 × 8."""
    spec = tmp_path / "dedup.yaml"
    spec.write_text("reader: documents\nstages:\n  - dedup: {threshold: 0.9}\n")
    deduped = tmp_path / "deduped"
    argv = ["run", str(spec), "--input", str(run_dir / "documents"), "--output", str(deduped), "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    common = ["dedup", "--docs", str(deduped), "--pairs", "220"]
    strict, table = evaluate(common, tmp_path / "strict.json", capsys)
    fineweb, _ = evaluate([*common, "--bands", "14", "--rows", "8"], tmp_path / "fineweb.json", capsys)
    with capsys.disabled():
        print(f"\n{table}")
    assert strict["config"]["from"] == "run.json" and fineweb["config"]["from"] == "options"
    assert (strict["config"]["bands"], strict["config"]["rows"]) != (14, 8)
    assert strict["threshold"] > fineweb["threshold"]
    assert strict["detection_rate"] < fineweb["detection_rate"]


# ---------------------------------------------------------------- pii


def test_pii_presidio_spans(data, tmp_path, capsys):
    result, table = evaluate(
        ["pii", "--spans", str(data / "pii" / "presidio" / "generated_small.json")], tmp_path / "pii.json", capsys
    )
    with capsys.disabled():
        print(f"\n{table}")
    types = result["types"]
    assert result["texts"] == 100
    assert {t: types[t]["gold"] for t in types} == {"email": 2, "ip": 2, "phone": 10, "card": 10, "iban": 0}
    assert types["card"]["recall"] == 1 and types["email"]["recall"] == 1
    assert result["overall"]["precision"] >= 0.95 and result["overall"]["recall"] >= 0.9
    assert result["out_of_scope"]["gold"]["PERSON"] == 55 and "out of scope" in table
    without_phones, _ = evaluate(
        ["pii", "--spans", str(data / "pii" / "presidio" / "generated_small.json"), "--types", "email", "ip", "card"],
        tmp_path / "no-phone.json",
        capsys,
    )
    assert without_phones["types"]["phone"]["recall"] == 0
    assert without_phones["overall"]["recall"] < result["overall"]["recall"]
    assert without_phones["overall"]["f1"] < result["overall"]["f1"]


def test_pii_keeping_private_ips_misses_them(data, tmp_path, capsys):
    nemo = str(data / "pii" / "nemo")
    best, table = evaluate(["pii", "--spans", nemo], tmp_path / "nemo.json", capsys)
    worse, _ = evaluate(["pii", "--spans", nemo, "--keep-private-ips"], tmp_path / "private.json", capsys)
    with capsys.disabled():
        print(f"\n{table}")
    assert len(best["files"]) == 9 and best["types"]["email"]["recall"] == 1
    assert best["types"]["ip"]["recall"] == 1
    assert worse["types"]["ip"]["recall"] < best["types"]["ip"]["recall"]
    assert worse["overall"]["recall"] < best["overall"]["recall"]


# ---------------------------------------------------------------- errors


def error_cases(tmp: Path, data: Path) -> dict[str, tuple[list[str], str]]:
    file, labelled = str(tmp / "file"), str(data / "langid" / "tatoeba_long.txt")
    truth = str(data / "extraction" / "articles-311.groundtruth.json")
    return {
        "no_what": ([], "the following arguments are required: WHAT"),
        "missing_warc": (["extraction", "--warc", f"{tmp}/none.warc.gz", "--groundtruth", truth], "No such file"),
        "groundtruth_not_json": (["extraction", "--warc", file, "--groundtruth", file], "not a JSON ground-truth"),
        "missing_groundtruth": (["extraction", "--warc", file, "--groundtruth", f"{tmp}/none.json"], "none.json"),
        "no_page_matches": (["extraction", "--warc", file, "--groundtruth", truth], "no record has a URL of the"),
        "engine": (["extraction", "--warc", file, "--groundtruth", file, "--engine", "x"], "invalid choice: 'x'"),
        "min_score": (["langid", "--labelled", labelled, "--min-score", "2"], "between 0 and 1, got '2'"),
        "output_is_a_folder": (["langid", "--labelled", labelled, "-o", str(tmp)], "is a folder, not a file"),
        "labelled_no_rows": (["langid", "--labelled", file], "no `LABEL<TAB>TEXT` row"),
        "not_a_run": (["dedup", "--docs", str(tmp)], "no documents/*.parquet"),
        "missing_run": (["dedup", "--docs", f"{tmp}/none"], "none: No such directory"),
        "bands_0": (["dedup", "--docs", str(tmp), "--bands", "0"], "--bands must be at least 1"),
        "pii_type": (["pii", "--spans", file, "--types", "ssn"], "unknown type(s) ssn"),
        "pii_no_spans": (["pii", "--spans", file], "no gold PII span found"),
    }


@pytest.mark.parametrize("case", list(error_cases(Path("TMP"), Path("DATA"))))
def test_user_error_is_one_line_and_exit_2(case, data, tmp_path, capsys):
    (tmp_path / "file").write_text("not a crawl\n")
    argv, message = error_cases(tmp_path, data)[case]
    code, out, err = run_eval(argv, capsys)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
