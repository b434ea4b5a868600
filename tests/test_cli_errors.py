"""Every user error of the `curate` command is one line on stderr and exit status 2, before anything runs: bad
option values, outputs that are files, inputs that are not what they should be. Never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from curate.cli import build_parser, main

PIPELINE = str(REPO / "pipelines" / "extract.yaml")
NOT_A_TOKENIZER = str(REPO / "pipelines" / "fineweb.yaml")  # a real file, but YAML, not a tokenizer.json


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """(exit status, stderr) of `curate ARGV`, whether the parser or the command refused it."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    return code, capsys.readouterr().err


def cases(tmp: str) -> dict[str, tuple[list[str], str]]:
    """argv and a piece of the one-line message; `tmp` holds `file` (a plain file) and `bad.yaml` (broken YAML)."""
    file, bad = f"{tmp}/file", f"{tmp}/bad.yaml"
    run = ["run", PIPELINE, "--input", f"{tmp}/none.warc.gz"]
    return {
        "limit_0": ([*run, "-o", f"{tmp}/out", "--limit", "0"], "--limit must be at least 1"),
        "limit_negative": ([*run, "-o", f"{tmp}/out", "--limit", "-5"], "--limit must be at least 1"),
        "limit_not_a_number": ([*run, "-o", f"{tmp}/out", "--limit", "ten"], "expected an integer, got 'ten'"),
        "workers_0": ([*run, "-o", f"{tmp}/out", "--workers", "0"], "--workers/-w must be at least 1"),
        "output_is_a_file": ([*run, "-o", file], f"--output {file}: is a file, not a folder"),
        "output_under_a_file": ([*run, "-o", f"{file}/run"], f"{file} is a file, not a folder"),
        "missing_input": ([*run, "-o", f"{tmp}/out"], "matches no file"),
        "bad_yaml": (["run", bad, "--input", file, "-o", f"{tmp}/out"], "not valid YAML"),
        "pipeline_is_a_folder": (["check", tmp], "is a folder, not a pipeline file"),
        "missing_arguments": (["run", PIPELINE], "the following arguments are required"),
        "tokenizer_not_json": (
            ["tokenize", tmp, "--tokenizer", NOT_A_TOKENIZER, "-o", f"{tmp}/tokens"],
            f"--tokenizer: {NOT_A_TOKENIZER}: not a tokenizers tokenizer.json",
        ),
        "shard_size_0": (
            ["tokenize", tmp, "--tokenizer", file, "-o", f"{tmp}/t", "--max-tokens-per-shard", "0"],
            "--max-tokens-per-shard must be at least 1",
        ),
        "vocab_too_small": (
            ["tokenizer", "train", tmp, "--vocab-size", "10", "-o", f"{tmp}/t.json"],
            "--vocab-size must be at least 300",
        ),
        "tokenizer_output_is_a_folder": (
            ["tokenizer", "train", tmp, "--vocab-size", "512", "-o", tmp],
            "is a folder, not a file",
        ),
        "min_chars_negative": (["ingest", file, "-o", f"{tmp}/docs", "--min-chars", "-1"], "--min-chars must be at"),
        "ingest_output_is_a_file": (["ingest", file, "-o", file], "is a file, not a folder"),
        "export_output_is_a_file": (["export", tmp, "--format", "llmc", "-o", file], "is a file, not a folder"),
        "export_format": (["export", tmp, "--format", "gguf", "-o", f"{tmp}/x"], "invalid choice: 'gguf'"),
        "mix_missing_spec": (["mix", f"{tmp}/mix.yaml", "-o", f"{tmp}/mix"], "no such mix file"),
        "train_bad_yaml": (["train", bad], "not valid YAML"),
        "train_bad_set": (["train", NOT_A_TOKENIZER, "--set", "max_steps=["], "expected KEY=VALUE"),
        "compare_min_effect": (["compare", bad, "-o", f"{tmp}/c", "--min-effect", "-1"], "positive number of bpb"),
        "compare_output_under_a_file": (["compare", bad, "-o", f"{file}/c"], "is a file, not a folder"),
        "ablate_workers_0": (
            ["ablate", PIPELINE, "-i", file, "-o", f"{tmp}/a", "--compare", bad, "--workers", "0"],
            "--workers/-w must be at least 1",
        ),
        "stage_range": (["check", f"{tmp}/timeout.yaml"], "stages[0].extract.timeout: -1 is outside (0, 3600]"),
    }


CASES = list(cases("TMP"))


@pytest.mark.parametrize("case", CASES)
def test_user_error_is_one_line_and_exit_2(case, tmp_path, capsys):
    (tmp_path / "file").write_text("not a crawl\n")
    (tmp_path / "bad.yaml").write_text("reader: warc\nstages: [extract\n")
    (tmp_path / "timeout.yaml").write_text("reader: warc\nstages:\n  - extract: {timeout: -1}\n")
    argv, message = cases(str(tmp_path))[case]
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err
    assert not {"out", "tokens", "t", "docs", "x", "mix", "c", "a"} & {p.name for p in tmp_path.iterdir()}


def test_limit_defaults_to_everything():
    args = build_parser().parse_args(["run", PIPELINE, "-i", "x.warc.gz", "-o", "out"])
    assert args.limit is None and args.workers == 1
    assert build_parser().parse_args(["run", PIPELINE, "-i", "x", "-o", "o", "--limit", "1"]).limit == 1


def test_compare_help_shows_one_percent_sign(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "95%" in out and "%%" not in out


def test_a_real_process_prints_no_traceback(tmp_path):
    """The same through the installed entry point: what a user sees in a terminal."""
    result = subprocess.run(
        [sys.executable, "-m", "curate", "tokenize", str(tmp_path), "--tokenizer", "/dev/null", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("curate: error: --tokenizer: /dev/null: not a file"), result.stderr


# `sys.modules[name] = None` makes `import name` fail as if the package were not installed
WITHOUT = "import sys; sys.modules[{module!r}] = None; from curate.cli import main; sys.exit(main(sys.argv[1:]))"


def extra_cases(tmp: Path, warc: str) -> dict[str, tuple[str, list[str], str]]:
    """module made unimportable, argv, the extra the one line must name."""
    run = ["run", PIPELINE, "-o", str(tmp / "out")]
    return {
        "train_without_torch": ("torch", ["train", str(REPO / "pipelines" / "train-tiny.yaml")], "curate[train]"),
        "ray_executor_without_ray": ("ray", [*run, "-i", warc, "--executor", "ray"], "curate[ray]"),
        "s3_input_without_s3fs": ("s3fs", [*run, "-i", "s3://commoncrawl/x.warc.gz"], "curate[s3]"),
        "resiliparse_without_it": (
            "resiliparse",
            ["run", str(tmp / "resiliparse.yaml"), "-i", warc, "-o", str(tmp / "out")],
            "curate[resiliparse]",
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", list(extra_cases(Path("TMP"), "W")))
def test_a_missing_optional_package_names_its_extra(case, tmp_path, data):
    (tmp_path / "resiliparse.yaml").write_text("reader:\n  warc: {}\nstages:\n  - extract: {engine: resiliparse}\n")
    module, argv, extra = extra_cases(tmp_path, str(data / "warc" / "wget-sample-0001.warc.gz"))[case]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT.format(module=module), *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"pip install '{extra}'" in result.stderr, result.stderr
