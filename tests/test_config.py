"""Pipeline YAML validation: errors name the file and the key, exit code 2, nothing runs."""

from __future__ import annotations

import pytest
from conftest import REPO

from curate import config
from curate.cli import main

BAD = {
    "unknown_stage": ("reader: warc\nstages:\n  - extract\n  - gopher_qualty: {}\n", "stages[1].gopher_qualty"),
    "typo_in_key": (
        "reader: warc\nstages:\n  - extract\n  - gopher_quality: {min_doc_wrds: 10}\n",
        "stages[1].gopher_quality.min_doc_wrds",
    ),
    "wrong_type": ("reader: warc\nstages:\n  - extract: {timeout: fast}\n", "stages[0].extract.timeout"),
    "bool_for_int": (
        "reader: warc\nstages:\n  - extract\n  - c4_quality: {min_num_sentences: true}\n",
        "stages[1].c4_quality.min_num_sentences",
    ),
    "list_item_type": (
        "reader: warc\nstages:\n  - extract\n  - language: {languages: [en, 3]}\n",
        "stages[1].language.languages[1]",
    ),
    "unknown_top_level": ("reader: warc\nstage: []\n", "stage: unknown key"),
    "unknown_reader": ("reader: wet\nstages: []\n", "reader.wet"),
    "needs_text_first": ("reader: warc\nstages:\n  - gopher_quality\n", "must come after `extract`"),
    "not_yaml": ("reader: warc\nstages: [extract\n", "not valid YAML"),
    "dedup_threshold": (
        "reader: warc\nstages:\n  - extract\n  - dedup: {threshold: 1.5}\n",
        "stages[1].dedup.threshold",
    ),
    "pii_type": ("reader: warc\nstages:\n  - extract\n  - pii: {types: [email, ssn]}\n", "stages[1].pii.types"),
    "two_dedups": ("reader: warc\nstages:\n  - extract\n  - dedup\n  - dedup\n", "one dedup stage"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_pipeline_exits_2_naming_the_key(case, tmp_path, capsys):
    text, key = BAD[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    code = main(["run", str(path), "--input", str(tmp_path / "nothing.warc.gz"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and key in err, err
    assert not (tmp_path / "out").exists()  # validated before anything ran


def test_error_lists_what_is_allowed(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(BAD["typo_in_key"][0])
    with pytest.raises(config.ConfigError, match="allowed: .*min_doc_words"):
        config.load(path)


@pytest.mark.parametrize("name", ["fineweb.yaml", "extract.yaml"])
def test_shipped_pipelines_validate(name, capsys):
    assert main(["check", str(REPO / "pipelines" / name)]) == 0
    assert "ok" in capsys.readouterr().out


def test_defaults_are_the_recipe():
    spec = config.load(REPO / "pipelines" / "fineweb.yaml")
    kinds = [s.kind for s in spec.stages]
    assert kinds == [
        "url_filter",
        "extract",
        "language",
        "gopher_repetition",
        "gopher_quality",
        "c4_quality",
        "fineweb_quality",
        "dedup",
        "pii",
        "domains",
        "tokenize",
    ]
    dedup = next(s for s in spec.stages if s.kind == "dedup").build()
    assert (dedup.bands, dedup.rows, dedup.n_grams) == (14, 8, 5)  # FineWeb's MinHash setting
    c4 = next(s for s in spec.stages if s.kind == "c4_quality")
    assert c4.params["filter_no_terminal_punct"] is False  # FineWeb's setting, not C4's
    gopher = config.STAGES["gopher_quality"].parameters()
    assert gopher["min_doc_words"][1] == 50 and gopher["max_avg_word_length"][1] == 10
    language = next(s for s in spec.stages if s.kind == "language").build()
    assert language.languages == {"en"} and language.min_score == 0.65


def test_dedup_threshold_chooses_bands_and_rows():
    spec = config.parse({"reader": "warc", "stages": ["extract", {"dedup": {"threshold": 0.8}}]}, "t.yaml")
    dedup = spec.stages[1].build()
    assert dedup.bands * dedup.rows <= 112 and dedup.threshold == 0.8
    from curate.dedup.lsh import detection_probability

    assert detection_probability(0.95, dedup.bands, dedup.rows) > 0.9
    assert detection_probability(0.5, dedup.bands, dedup.rows) < 0.2


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    code = main(
        [
            "run",
            str(REPO / "pipelines" / "extract.yaml"),
            "--input",
            str(tmp_path / "*.warc.gz"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "matches no file" in capsys.readouterr().err


def test_help_explains_each_command(capsys):
    for argv in (["--help"], ["run", "--help"], ["report", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "gopher_quality" in out and "--workers" in out and "RUN_DIR" in out
