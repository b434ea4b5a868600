"""The run folder belongs to the project: --overwrite deletes only what a command wrote, a killed writer leaves no
truncated file under a final name, and a resume asked differently says which option differs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from curate.cli import main
from curate.runfolder import RUN, RunError, prepare
from curate.tokenize import TOKENS, document_files

WARCS = ["warc/wget-sample-0000.warc.gz", "warc/wget-sample-0001.warc.gz"]


def _ingest(out: Path, source: Path, *extra: str) -> int:
    return main(["ingest", str(source), "-o", str(out), *extra])


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "a.txt"
    path.write_text("a document of a few words\n", encoding="utf-8")
    return path


def test_overwrite_refuses_a_users_file_inside_an_output_folder(tmp_path, source, capsys):
    out = tmp_path / "out"
    assert _ingest(out, source) == 0
    (out / "documents" / "thesis.txt").write_text("four years of work")
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()

    assert _ingest(out, source, "--overwrite") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "documents/thesis.txt" in err and "nothing was deleted" in err
    assert (out / "documents" / "thesis.txt").read_text() == "four years of work"
    assert (out / "documents" / "00000.parquet").exists() and (out / "stats.json").exists()

    (out / "documents" / "thesis.txt").rename(tmp_path / "thesis.txt")
    assert _ingest(out, source, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine"  # beside the outputs, not in them: left alone
    assert sorted(p.name for p in (out / "documents").iterdir()) == ["00000.parquet"]


def test_overwrite_refuses_a_folder_no_command_made(data, tmp_path, source, capsys):
    thesis = tmp_path / "thesis"
    for name in ("documents/thesis.txt", "logs/2020.log", "report/figure.png", "tokens/shard-00000.parquet"):
        (thesis / name).parent.mkdir(parents=True, exist_ok=True)
        (thesis / name).write_text(name)
    before = sorted(str(p.relative_to(thesis)) for p in thesis.rglob("*"))
    pipeline = REPO / "pipelines" / "extract.yaml"
    run = ["run", str(pipeline), "--input", str(data / WARCS[0]), "-o", str(thesis), "--no-progress"]
    run_dir = tmp_path / "run"
    assert _ingest(run_dir, source) == 0
    tokenizer = str(data / "tokenizer" / "gpt-neox-bpe-50k.json")
    capsys.readouterr()
    for argv, marker in (
        (run, "run.json"),
        (["ingest", str(source), "-o", str(thesis)], "run.json"),
        (["tokenize", str(run_dir), "--tokenizer", tokenizer, "-o", str(thesis / "tokens")], ".curate-tokenize"),
    ):
        assert main(argv + ["--overwrite"]) == 2
        err = capsys.readouterr().err
        assert f"holds no {marker}" in err and "--overwrite deletes nothing" in err, err
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"holds no {marker}" in err and "choose another folder" in err and "pass --overwrite" not in err
    assert sorted(str(p.relative_to(thesis)) for p in thesis.rglob("*")) == before


def test_overwrite_removes_only_what_the_command_wrote(tmp_path):
    out = tmp_path / "run"
    prepare(out, RUN, request={"pipeline": "p.yaml"})
    owned = ["documents/00000.parquet", "documents/.00001.parquet.tmp", "rejected/read-00000.parquet"]
    owned += ["logs/1-filter/completions/00000", "tokens/shard-r00000-00000.parquet", "report/funnel.png"]
    owned += ["stats.json", "report.html", "dedup/keys/00000.npz"]
    for name in owned + ["notes/plan.md", "README"]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(name)
    assert prepare(out, RUN, overwrite=True, request={"pipeline": "q.yaml"}) is False
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["README", "notes", "notes/plan.md", "run.json"]
    assert '"q.yaml"' in (out / "run.json").read_text()

    tokens = tmp_path / "tokens"
    prepare(tokens, TOKENS)
    (tokens / "shard-00000.parquet").write_text("x")
    (tokens / "my-shard.parquet").write_text("mine")
    prepare(tokens, TOKENS, overwrite=True)
    assert sorted(p.name for p in tokens.iterdir()) == [".curate-tokenize", "my-shard.parquet"]
    with pytest.raises(RunError, match="not empty; pass --overwrite"):
        prepare(tokens, TOKENS)


WRITER = """
import sys, time
from pathlib import Path
from curate.outputs import ParquetRows
from curate.records import DOCUMENT_SCHEMA
from curate.tokens import ShardWriter, TokenizerInfo

out, finish = Path(sys.argv[1]), sys.argv[2] == "finish"
rows = ParquetRows(out / "documents", DOCUMENT_SCHEMA, max_bytes=150_000)
shards = ShardWriter(out / "tokens", TokenizerInfo("0" * 64, 100, 99), max_tokens_per_shard=10)
for i in range(2600):  # 1500 rows of 100 characters fill file 0; 1000 more are flushed into file 1
    rows.add({"id": f"d{i}", "text": "x" * 100})
for i in range(3):  # two rows of 6 tokens fill shard 0; the third opens shard 1
    shards.write([1, 2, 3, 4, 5, 99], 5, f"d{i}", "web")
if finish:
    rows.close()
    shards.close()
else:
    print("ready", flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_killed_writer_leaves_no_file_under_a_final_name(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(out), "kill"], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    documents = sorted(p.name for p in (out / "documents").iterdir())
    assert documents == [".00001.parquet.tmp", "00000.parquet"]
    assert (out / "documents" / ".00001.parquet.tmp").stat().st_size > 1000  # a row group was in it
    assert pq.read_table(out / "documents" / "00000.parquet").num_rows == 1500
    assert ds.dataset(out / "documents").count_rows() == 1500  # the leftover is not read as data...
    assert document_files([out]) == [out / "documents" / "00000.parquet"]  # ...by curate's readers either
    assert sorted(p.name for p in (out / "tokens").iterdir()) == [".shard-00001.parquet.tmp", "shard-00000.parquet"]

    # the same writer run again (a resumed task) replaces its leftovers
    subprocess.run([sys.executable, str(script), str(out), "finish"], env=env, check=True, timeout=300)
    assert sorted(p.name for p in (out / "documents").iterdir()) == ["00000.parquet", "00001.parquet"]
    assert ds.dataset(out / "documents").count_rows() == 2600
    assert sorted(p.name for p in (out / "tokens").iterdir()) == [
        ".manifest.json",
        "shard-00000.parquet",
        "shard-00001.parquet",
    ]


@pytest.mark.slow
def test_a_resume_asked_differently_names_the_option(data, tmp_path, capsys):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("reader: warc\nstages:\n  - extract: {timeout: 300}\n")
    out = tmp_path / "run"
    argv = ["run", str(pipeline), "--input", *[str(data / f) for f in WARCS], "-o", str(out), "--no-progress"]
    env = {**os.environ, "CURATE_DATA": str(data), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate", *argv, "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (out / "run.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # interrupted as soon as it started
    proc.wait()
    assert not (out / "stats.json").exists()

    assert main(argv + ["--tasks", "1"]) == 2  # the default plan was a task per file; workers may change
    err = capsys.readouterr().err
    assert "--tasks 1 differs from the interrupted run's 2; rerun with --tasks 2 or pass --overwrite" in err
    assert main(argv + ["--workers", "1", "--limit", "10"]) == 2
    assert "--limit 10 differs from the interrupted run's -1; rerun with --limit -1" in capsys.readouterr().err
    pipeline.write_text("reader: warc\nstages:\n  - extract: {timeout: 60}\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the pipeline's stages[0].extract.timeout 60.0 differs from the interrupted run's 300.0" in err, err
    assert main([*argv[:3], str(data / WARCS[0]), *argv[5:]]) == 2
    assert "--input differs from the interrupted run's (1 given, 2 then)" in capsys.readouterr().err


def test_the_contract_names_the_files_a_run_writes():
    for name in ("documents/00000.parquet", "documents/.00000.parquet.tmp", "rejected/pii-00003.parquet"):
        assert RUN.owns_path(name), name
    for name in ("logs/4-final/logs/task_00001.log", "tokens/.manifest.json", "run.json", "report/lengths.png"):
        assert RUN.owns_path(name), name
    for name in ("logs/started.json", "logs/finish/executor.pik", "dedup/pairs/003-00001.npy"):
        assert RUN.owns_path(name), name  # the executors' and the bounded dedup's files
    for name in ("dedup/buckets/00003/000001.bin", "dedup/cluster/reason/000000.npy"):
        assert RUN.owns_path(name), name
    for name in ("documents/thesis.txt", "documents/old/00000.parquet", "rejected/notes.parquet", "logs/mine.log"):
        assert not RUN.owns_path(name), name
    for name in ("documents/.thesis.txt.tmp", "report/figure.svg", "tokens/shard.txt", "run.yaml"):
        assert not RUN.owns_path(name), name
    assert RUN.owns("documents") and RUN.owns(".stats.json.tmp") and not RUN.owns("notes")
