"""Hostile crawl files (tests/badinputs.py): every byte accounted, good records untouched, memory bounded.

Each case is built from a real WARC at test time. The reader runs as a pipeline runs it (rejects written, byte ledger
written); the ledger must tile the file, the records outside the damage must be exactly the clean file's, no record
may be invented, and the Python heap must stay under a bound set by `max_record_bytes`.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest
from badinputs import GOOD, build, cases
from conftest import read_rows

from curate.ledger import account
from curate.outputs import RejectedWriter
from curate.records import PAYLOAD_KEY
from curate.stages.warc import WarcReader

CAP = 10 * 2**20  # the reader's default max_record_bytes
HEAP_BOUND = 4 * CAP  # a record's bytes, its decoded payload, and the growth of the buffer that holds it
SLOW = {"http-gzip-bomb", "warc-gzip-bomb", "page-50mb"}


def read_case(path: Path, tmp: Path) -> tuple[dict[str, str], dict, int]:
    """(id → outcome, the bytes section, peak heap bytes): outcome is the kept payload's hash or the reason."""
    reader = WarcReader([str(path)], rejects=RejectedWriter(str(tmp / "rejected"), "read"), ledger=str(tmp / "bytes"))
    outcomes: dict[str, str] = {}
    tracemalloc.start()
    try:
        for doc in reader.run():
            outcomes[doc.id] = hashlib.sha1(doc.metadata[PAYLOAD_KEY]).hexdigest()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for row in read_rows(tmp / "rejected"):
        outcomes[row["id"]] = row["reason"]
    return outcomes, account(tmp / "bytes", [str(path)]), peak


@pytest.fixture(scope="module")
def clean(data, tmp_path_factory) -> dict[str, str]:
    outcomes, section, _ = read_case(data / GOOD, tmp_path_factory.mktemp("clean"))
    assert section["accounted"] and section["skipped"] == 0, section
    return outcomes


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in SLOW else []) for c in cases()]
)
def test_hostile_file(case, data, clean, tmp_path):
    path = build(data, tmp_path / "in", [case.name])[case.name]
    outcomes, section, peak = read_case(path, tmp_path)
    size = path.stat().st_size
    # every byte accounted: the ledger tiles the file, and the sums say so
    assert section["accounted"], section["problems"]
    assert section["input"] == size == section["in_records"] + section["skipped"] + section["unread"]
    reasons = set(outcomes.values())
    assert case.reasons <= reasons, (case.reasons, reasons)
    assert peak < HEAP_BOUND, f"{case.name}: heap peaked at {peak / 2**20:.1f} MiB"
    if case.good_records:
        damaged = {i for i in clean if outcomes.get(i) != clean[i]}
        assert len(damaged) <= 1, {i: (clean[i], outcomes.get(i)) for i in damaged}  # only the record hit
        invented = {i for i in outcomes if i not in clean and not outcomes[i].startswith(("not_", "bad_", "too_"))}
        assert len(invented) <= 1, invented  # at most the one record the case adds


def test_wrong_length_rejects_only_that_record(data, clean, tmp_path):
    for name in ("gzip-length-short", "plain-length-short", "plain-length-long", "gzip-length-long"):
        path = build(data, tmp_path / name, [name])[name]
        outcomes, section, _ = read_case(path, tmp_path / name)
        bad = [i for i, reason in outcomes.items() if reason == "bad_length"]
        assert len(bad) == 1 and bad[0] in clean, name  # the record itself, named by its own id
        assert {i for i in clean if outcomes.get(i) != clean[i]} == set(bad), name
        assert section["skipped_by_reason"].get("bad_length", 0) > 0


def test_truncated_file_keeps_the_records_before_the_cut(data, clean, tmp_path):
    path = build(data, tmp_path / "in", ["gzip-truncated"])["gzip-truncated"]
    outcomes, section, _ = read_case(path, tmp_path)
    read = [i for i in outcomes if i in clean]
    assert 10 < len(read) < len(clean)
    assert sum(1 for i in read if outcomes[i] != clean[i]) == 1  # the record the cut went through
    assert section["accounted"]


@pytest.mark.slow
def test_mixed_good_and_bad_files_with_two_workers(data, tmp_path):
    """A run over the good file and every hostile one: rc 0 (1 with --strict), bytes accounted, the good file's
    documents the same as a run on it alone, and each process's peak memory under the stated bound."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    bad = build(data, tmp_path / "in")  # every case
    good = data / GOOD
    # a fresh process runs the command and reports the largest peak RSS among the processes it waited for
    measure = (
        "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
    )

    def run(out: Path, inputs: list[Path], *extra: str) -> tuple[int, float]:
        argv = [sys.executable, "-c", measure, sys.executable, "-m", "curate", "run"]
        argv += [str(REPO / "pipelines" / "extract.yaml"), "--no-progress"]
        argv += ["-i", *map(str, inputs), "-o", str(out), "--workers", "2", *extra]
        done = subprocess.run(argv, capture_output=True, text=True)
        return done.returncode, int(done.stdout.split()[-1]) / 1024

    assert run(tmp_path / "alone", [good])[0] == 0
    rc, peak_mib = run(tmp_path / "mixed", [good, *bad.values()])
    assert rc == 0
    stats = json.loads((tmp_path / "mixed" / "stats.json").read_text())
    assert stats["conserved"] and stats["bytes"]["accounted"] and stats["bytes"]["skipped"] > 0
    expected = {"bad_length", "not_a_record", "not_warc", "not_gzip", "bad_gzip", "truncated", "too_large"}
    assert expected <= set(stats["bytes"]["skipped_by_reason"])
    alone = {r["id"]: r["text"] for r in read_rows(tmp_path / "alone" / "documents")}
    mixed = {r["id"]: r["text"] for r in read_rows(tmp_path / "mixed" / "documents") if r["source"] == str(good)}
    assert alone == mixed
    print(f"largest process peak RSS: {peak_mib:.0f} MiB")
    assert peak_mib < 512, f"a worker peaked at {peak_mib:.0f} MiB"
    assert run(tmp_path / "strict", [good, *bad.values()], "--strict")[0] == 1
