"""Pipeline YAML validation: errors name the file and the key, exit code 2, nothing runs."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import REPO

from curate import config
from curate.cli import main
from curate.limits import Checked, lid176_labels

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


PIPELINES = sorted(p.name for p in (REPO / "pipelines").glob("*.yaml") if "reader" in yaml.safe_load(p.read_text()))


def test_shipped_pipelines_are_found():
    assert {"fineweb.yaml", "extract.yaml"} <= set(PIPELINES)


@pytest.mark.parametrize("name", PIPELINES)
def test_shipped_pipelines_validate(name, data, capsys):
    assert main(["check", str(REPO / "pipelines" / name)]) == 0  # data: fineweb.yaml's tokenizer must load
    assert "ok" in capsys.readouterr().out


# (stage entry, the key the error names, the allowed range or set it states); every value passes its type check
RANGES = {
    "extract_timeout": ({"extract": {"timeout": -1}}, "stages[0].extract.timeout: -1", "(0, 3600]"),
    "score_above_1": ({"language": {"min_score": 2}}, "stages[1].language.min_score: 2", "[0, 1]"),
    "not_a_lid176_label": (
        {"language": {"languages": ["english"]}},
        "language.languages[0]: 'english'",
        "lid.176 language label (176 in all, e.g. en, de, fr, es; did you mean en?)",
    ),
    "iso3_code": ({"language": {"languages": ["en", "deu"]}}, "languages[1]: 'deu'", "did you mean de"),
    "min_above_max": (
        {"gopher_quality": {"min_doc_words": 500, "max_doc_words": 50}},
        "stages[1].gopher_quality.min_doc_words: 500",
        "above max_doc_words (50)",
    ),
    "min_above_default_max": (
        {"gopher_quality": {"max_avg_word_length": 2}},
        "gopher_quality.min_avg_word_length: 3",
        "above max_avg_word_length (2)",
    ),
    "ratio_above_1": ({"gopher_quality": {"max_bullet_lines_ratio": 1.5}}, "max_bullet_lines_ratio: 1.5", "[0, 1]"),
    "more_stop_words_than_listed": (
        {"gopher_quality": {"min_stop_words": 3, "stop_words": ["the", "and"]}},
        "gopher_quality.min_stop_words: 3",
        "the 2 distinct stop_words",
    ),
    "n_gram_pair": ({"gopher_repetition": {"top_n_grams": [[2, 0.2], [0, 0.1]]}}, "top_n_grams[1][0]: 0", "[1, inf)"),
    "word_language": ({"c4_quality": {"language": "english"}}, "c4_quality.language: 'english'", "split words for"),
    "c4_off_is_minus_1": ({"c4_quality": {"max_word_length": 0}}, "max_word_length: 0", "[1, inf) or -1 (off)"),
    "no_stop_chars": ({"fineweb_quality": {"stop_chars": []}}, "fineweb_quality.stop_chars: []", "is empty"),
    "soft_word_threshold": ({"url_filter": {"soft_word_threshold": 0}}, "url_filter.soft_word_threshold: 0", "[1, "),
    "empty_domain": ({"url_filter": {"extra_domains": ["ok.com", ""]}}, "url_filter.extra_domains[1]: ''", "empty"),
    "dedup_rows": ({"dedup": {"rows": 0}}, "stages[1].dedup.rows: 0", "[1, inf)"),
    "dedup_threshold": ({"dedup": {"threshold": 1.0}}, "dedup.threshold: 1", "(0, 1)"),
    "shard_size": ({"tokenize": {"max_tokens_per_shard": 0}}, "tokenize.max_tokens_per_shard: 0", "[1, inf)"),
    "pii_none": ({"pii": {"types": []}}, "stages[1].pii.types: []", "null scrubs every type"),
    "not_finite": ({"extract": {"timeout": float("inf")}}, "stages[0].extract.timeout", "expected float"),
}


@pytest.mark.parametrize("case", list(RANGES))
def test_range_errors_name_the_key_the_value_and_the_range(case):
    stage, key, allowed = RANGES[case]
    stages = [stage] if "extract" in stage else ["extract", stage]
    with pytest.raises(config.ConfigError) as info:
        config.parse({"reader": "warc", "stages": stages}, "pipelines/x.yaml")
    message = str(info.value)
    assert message.startswith("pipelines/x.yaml: ") and key in message and allowed in message, message


def test_reader_parameters_are_checked():
    with pytest.raises(config.ConfigError, match=re.escape("reader.warc.max_record_bytes: 0 is outside [1024, inf)")):
        config.parse({"reader": {"warc": {"max_record_bytes": 0}}, "stages": []}, "x.yaml")
    with pytest.raises(config.ConfigError, match="reader.documents.text_field: '' is empty"):
        config.parse({"reader": {"documents": {"text_field": ""}}, "stages": []}, "x.yaml")


def test_limits_accept_the_edges_and_the_off_values():
    stages = [
        {"extract": {"timeout": 0.5}},
        {"language": {"languages": ["en", "de", "zh"], "min_score": 1}},
        {"gopher_quality": {"min_doc_words": 0, "max_doc_words": 10, "max_avg_word_length": 0}},  # 0: off
        {"c4_quality": {"min_num_sentences": -1, "max_word_length": -1, "language": "deu"}},
        {"dedup": {"threshold": 0.7, "seed": 0}},
    ]
    spec = config.parse({"reader": {"warc": {"max_record_bytes": 1024}}, "stages": stages}, "x.yaml")
    assert [s.kind for s in spec.stages] == ["extract", "language", "gopher_quality", "c4_quality", "dedup"]


def test_every_parameter_declares_its_limits():
    """A new parameter of a stage (ours or datatrove's) fails here until config.py says what values it takes."""
    for defn in [*config.READERS.values(), *config.STAGES.values()]:
        params = defn.parameters()
        undeclared = [k for k, (annotation, _) in params.items() if annotation is not bool and k not in defn.limits]
        assert not undeclared, f"{defn.name}: no limits for {undeclared}"
        assert set(defn.limits) <= set(params), f"{defn.name}: limits for unknown parameters"
        for key, limit in defn.limits.items():
            if isinstance(limit, Checked):
                assert defn.checker, f"{defn.name}.{key}: declared checked, but the stage has no checker"


def test_lid176_labels_are_the_models():
    labels = lid176_labels()
    assert len(labels) == 176 and {"en", "de", "zh", "ru", "ja"} <= labels and "eng" not in labels


def test_tokenizer_must_load_at_check_time(tmp_path, data):
    path = tmp_path / "p.yaml"
    for tokenizer, problem in (
        (REPO / "pipelines" / "fineweb.yaml", "not a tokenizers tokenizer.json"),
        (tmp_path, "not a file"),
    ):
        path.write_text(f"reader: warc\nstages:\n  - extract\n  - tokenize: {{tokenizer: {tokenizer}}}\n")
        with pytest.raises(
            config.ConfigError, match=rf"stages\[1\]\.tokenize\.tokenizer: {re.escape(str(tokenizer))}: {problem}"
        ):
            config.load(path)
    config.parse(
        {
            "reader": "warc",
            "stages": ["extract", {"tokenize": {"tokenizer": "${CURATE_DATA}/tokenizer/gpt-neox-bpe-50k.json"}}],
        },
        "x.yaml",
    )


def test_eval_sets_must_load_at_check_time(tmp_path, data):
    no_text = tmp_path / "rows.jsonl"
    no_text.write_text('{"body": "a row without text"}\n')
    for eval_file, problem in (
        (data / "text" / "tinyshakespeare.txt", "not a Parquet or JSONL file"),
        (no_text, "its first row has no `text` string"),
    ):
        with pytest.raises(config.ConfigError, match=rf"decontaminate\.eval: {re.escape(str(eval_file))}: {problem}"):
            config.parse({"reader": "documents", "stages": [{"decontaminate": {"eval": [str(eval_file)]}}]}, "x.yaml")
    good = data / "text" / "cc_en_head-0091.jsonl.gz"
    config.parse({"reader": "documents", "stages": [{"decontaminate": {"eval": [str(good)]}}]}, "x.yaml")


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
