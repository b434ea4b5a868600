"""The `curate` command's habits: help texts, -q/-v/--log-level everywhere, a quiet run whose warnings are summed up
at the end while the task log files keep everything, one progress display for the whole run, and `| head`."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from curate import logs
from curate.cli import build_parser
from curate.progress import RunProgress, TaskProgress, reporting
from curate.stages.warc import WarcReader

LOGGING_OPTIONS = {"-q", "--quiet", "-v", "--verbose", "--log-level"}
TASK_WARNING = re.compile(r"^\S+ \S+ \| WARNING\s*\|", re.MULTILINE)


def commands(parser: argparse.ArgumentParser, name: str = "curate"):
    """(name, parser) of the command and every subcommand below it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from commands(child, f"{name} {sub}")


def test_every_help_text_is_there_and_formats_cleanly():
    names = []
    for name, parser in commands(build_parser()):
        names.append(name)
        text = parser.format_help()
        assert "%%" not in text, f"{name} --help prints %%"
        assert name == "curate" or (parser.description or "").strip(), f"{name}: no description"
        for action in parser._actions:
            if action.help != argparse.SUPPRESS:
                assert (action.help or "").strip(), f"{name}: {action.option_strings or action.dest} has no help"
            for choice in getattr(action, "_choices_actions", []):
                assert (choice.help or "").strip(), f"{name} {choice.dest}: no help in the command list"
        assert LOGGING_OPTIONS <= set(parser._option_string_actions), f"{name}: no -q/-v/--log-level"
    assert {"curate run", "curate tokenizer train", "curate eval pii", "curate compare"} <= set(names)


@pytest.mark.parametrize(
    "argv, level",
    [
        (["check", "x"], "WARNING"),
        (["check", "x", "-q"], "ERROR"),
        (["-q", "check", "x"], "ERROR"),
        (["check", "x", "-v"], "INFO"),
        (["-v", "check", "x"], "INFO"),
        (["tokenizer", "train", "d", "--vocab-size", "300", "-o", "t", "-vv"], "DEBUG"),
        (["eval", "pii", "--spans", "s", "--log-level", "critical"], "CRITICAL"),
        (["-q", "check", "x", "--log-level", "info"], "INFO"),
    ],
)
def test_log_level_options_before_or_after_the_command(argv, level):
    args = build_parser().parse_args(argv)
    assert logs.level_from(args.quiet, args.verbose, args.log_level) == level


def test_warning_patterns_group_what_varies():
    a = "/data/a.warc.gz: record #0: malformed WARC-Date '2008-10-294'; crawl_date set to null"
    b = "/data/b.warc.gz: record #17: malformed WARC-Date '1999'; crawl_date set to null"
    c = "/data/a.warc.gz: 30 records with a malformed WARC-Date (crawl_date=null)"
    assert logs.pattern(a) == logs.pattern(b) != logs.pattern(c)
    assert logs.pattern("https://x.org/p?q=1: over 1.5 s") == logs.pattern("http://y.com/: over 12 s")


def test_a_task_reports_every_record_and_its_byte_position(tmp_path, data):
    """The real WARC reader under `reporting`: records as the reader yields them, a byte position that moves through
    the file (not only at its end) and ends at its size."""
    path = str(data / "warc" / "heritrix-2008-warc017.warc.gz")
    size = Path(path).stat().st_size
    expected = sum(1 for _ in WarcReader([path]).read_file(path))
    reader = WarcReader([path])
    channel = TaskProgress(tmp_path, 0, every=3600)
    positions = []
    with reporting(reader, channel):
        for _ in reader.run(rank=0, world_size=1):
            positions.append(channel.position)
    assert channel.records == expected and channel.files == 1
    assert positions == sorted(positions) and any(0 < p < size for p in positions)
    assert json.loads((tmp_path / "00000.json").read_text()) == {"records": expected, "bytes": size, "files": 1}
    assert "read_file" not in vars(reader) and "account" not in vars(reader)  # the reader is itself again


def test_the_run_display_sums_the_tasks(tmp_path):
    first, second = TaskProgress(tmp_path, 0), TaskProgress(tmp_path, 1)
    for _ in range(30):
        first.record()
    first.file_done(600)
    second.record()
    second.at(150, 400)
    second.write()
    out = io.StringIO()
    with RunProgress(tmp_path, total_bytes=1000, files=2, tty=False, stream=out) as display:
        display._poll()
        assert display.line().startswith("curate run: 75% of 1.0 kB read, 31 records")
    assert out.getvalue().startswith("curate run: 75% of 1.0 kB read, 31 records")
    with RunProgress(tmp_path, total_bytes=None, files=4, limit=62, tty=False, stream=io.StringIO()) as display:
        display._poll()
        assert display.line().startswith("curate run: 50% of 62 records read")


def curate(*argv: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curate", *argv], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.fixture(scope="module")
def reader_only(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipelines") / "read.yaml"
    path.write_text("name: read\nreader:\n  warc: {}\nstages: []\n")
    return path


@pytest.mark.slow
def test_a_default_run_is_short_and_sums_up_its_warnings(tmp_path, data, reader_only):
    """ClueWeb's malformed WARC-Dates really warn, in a worker process; the console shows them, a status line and
    the summary, not datatrove's INFO, while the task log files keep their INFO lines."""
    warc = data / "warc"
    inputs = [str(warc / "clueweb09-ja-warc018-quirks.warc.gz"), str(warc / "wget-sample-0000.warc.gz")]
    out = tmp_path / "run"
    result = curate("run", str(reader_only), "-i", *inputs, "-o", str(out), "-w", "2", "--tasks", "2")
    assert result.returncode == 0, result.stderr
    stats = json.loads((out / "stats.json").read_text())
    task_logs = "".join(p.read_text() for p in out.glob("logs/*/logs/task_*.log"))
    warnings = len(TASK_WARNING.findall(task_logs))
    assert warnings > 0 and "Launching pipeline for rank=1" in task_logs  # full content, every task
    err = result.stderr
    assert "| INFO" not in err and "PIPELINE" not in err and "Stats" not in err, err
    assert f"curate: {warnings} warnings (2 kinds); full logs: {out / 'logs'}/*/logs/" in err, err
    assert "curate run: 100% of " in err and f" read, {stats['input_records']} records" in err, err
    assert len(err.splitlines()) <= warnings + 6, err
    assert len(result.stdout.splitlines()) == 4


@pytest.mark.slow
def test_quiet_and_verbose_runs(tmp_path, data, reader_only):
    warc = str(data / "warc" / "clueweb09-ja-warc018-quirks.warc.gz")
    quiet = curate("run", str(reader_only), "-i", warc, "-o", str(tmp_path / "q"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert len(quiet.stdout.splitlines()) == 1 and "records →" in quiet.stdout
    verbose = curate("-v", "run", str(reader_only), "-i", warc, "-o", str(tmp_path / "v"), "--no-progress")
    assert verbose.returncode == 0, verbose.stderr
    assert "| INFO" in verbose.stderr and "PIPELINE" in verbose.stderr and "curate run: " not in verbose.stderr


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["check", str(REPO / "pipelines" / "fineweb.yaml")], ["run", "--help"]])
def test_a_closed_pipe_ends_quietly(argv):
    """`curate ... | head`: the reader is gone before curate writes; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=120)
    assert err == "", err
    if argv[0] == "check":  # its line is flushed by curate itself (argparse's --help swallows the error on its own)
        assert code == 1  # the write failed: 0 would mean the pipe was never broken
