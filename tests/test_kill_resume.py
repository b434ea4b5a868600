"""A `curate run` killed at random moments and resumed ends with the same files as a run never killed.

The run (2 workers; extract → dedup → tokenize, so four phases and token shards) is killed with SIGKILL, its whole
process group at once as a crash or an OOM kill of the session would, at seeded moments spread over the clean run's
timeline (one in each fifth of it), plus once while its first file is being written, and resumed after every kill in
the same folder. After each kill no file under a final name may be truncated; at the end documents/, rejected/ and
tokens/ must be byte for byte the clean run's, and the stage counts the same.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO

pytestmark = pytest.mark.slow  # runs pipelines: not in `make test-fast`

SEED = 20240611
KILLS = 5
FILES = ["warc/wget-sample-0000.warc.gz", "warc/wget-sample-0001.warc.gz"]
# the extraction limit is wall-clock: a limit no loaded machine reaches keeps the outcome independent of timing
PIPELINE = """\
reader: warc
stages:
  - extract: {timeout: 300}
  - dedup: {}
  - tokenize: {tokenizer: '${CURATE_DATA}/tokenizer/gpt-neox-bpe-50k.json'}
"""
PHASE = re.compile(r"phase (\d+)/\d+:")
COMPARED = ("documents", "rejected", "tokens")


class Attempt:
    """One `curate run` in its own process group; `phases` holds (seconds since start, phase number) as logged."""

    def __init__(self, data: Path, pipeline: Path, out: Path):
        argv = [sys.executable, "-m", "curate", "run", str(pipeline), "--input", *[str(data / f) for f in FILES]]
        argv += ["--output", str(out), "--workers", "2", "--no-progress"]
        env = {**os.environ, "CURATE_DATA": str(data), "PYTHONPATH": str(REPO)}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.phases: list[tuple[float, int]] = []
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.output.append(line)
            found = PHASE.search(line)
            if found:
                self.phases.append((time.monotonic() - self.started, int(found.group(1))))

    def at(self, phase: int, offset: float) -> Callable[[], bool]:
        """`offset` seconds after `phase` began (0: after the start)."""

        def reached() -> bool:
            began = 0.0 if phase == 0 else next((t for t, p in self.phases if p >= phase), None)
            return began is not None and time.monotonic() - self.started >= began + offset

        return reached

    def run_until(self, moment: Callable[[], bool]) -> bool:
        """Kill the whole group once `moment()` is true; False if the run ended first."""
        while self.proc.poll() is None:
            if moment():
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                _wait_group_gone(self.proc.pid)
                self.reader.join()
                return True
            time.sleep(0.02)
        self.reader.join()
        return False

    def finish(self) -> float:
        """Wait for the end; the seconds it took. The run must succeed."""
        code = self.proc.wait()
        self.reader.join()
        assert code == 0, "".join(self.output[-40:])
        return time.monotonic() - self.started


def _wait_group_gone(pgid: int) -> None:
    """SIGKILL reaches every worker, but they die asynchronously: resume only once none is left running (a zombie
    that nobody reaps, as under a container's bare init, holds no file open)."""
    for _ in range(1000):
        if not _running_in_group(pgid):
            return
        time.sleep(0.01)
    raise AssertionError(f"process group {pgid} survived SIGKILL")


def _running_in_group(pgid: int) -> bool:
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp
            return True
    return False


def _moments(phases: list[tuple[float, int]], total: float, rng: random.Random) -> list[tuple[int, float]]:
    """One moment in each fifth of the clean run's work (its last tenth, writing the report, left out: a resumed
    run, skipping finished tasks, may be past it), as (phase it falls in, seconds into that phase)."""
    moments = []
    for k in range(KILLS):
        at = 0.9 * total * (k + rng.random()) / KILLS
        phase, began = max(((p, t) for t, p in phases if t <= at), default=(0, 0.0))
        moments.append((phase, at - began))
    return moments


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for folder in COMPARED for p in sorted((out / folder).rglob("*"))}


def _check_no_truncated_file(out: Path) -> None:
    """Every Parquet file and manifest under a final name is whole; leftovers only under hidden temporary names."""
    for folder in ("documents", "rejected", "staged", "tokens"):
        for path in sorted((out / folder).glob("*")):
            if path.name.startswith("."):
                continue
            try:
                if path.suffix == ".parquet":
                    pq.read_metadata(path)
                elif path.suffix == ".json":
                    json.loads(path.read_text())
            except (OSError, ValueError) as err:
                raise AssertionError(f"{path.relative_to(out)}: truncated under its final name ({err})") from err
    json.loads((out / "run.json").read_text())


def test_killed_and_resumed_run_equals_a_clean_run(data, tmp_path):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE)
    clean_out = tmp_path / "clean"
    clean = Attempt(data, pipeline, clean_out)
    total = clean.finish()
    assert [p for _, p in clean.phases] == [1, 2, 3, 4]
    moments = _moments(clean.phases, total, random.Random(SEED))

    out = tmp_path / "killed"
    # first while the first file of the run is being written (the moment a non-atomic writer leaves a stub behind)
    writing = Attempt(data, pipeline, out)
    assert writing.run_until(lambda: (out / "staged").is_dir() and any((out / "staged").iterdir()))
    _check_no_truncated_file(out)
    killed: list[tuple[int, float]] = []
    seconds = [time.monotonic() - writing.started]
    for phase, offset in moments:
        attempt = Attempt(data, pipeline, out)
        ended = not attempt.run_until(attempt.at(phase, offset))
        seconds.append(time.monotonic() - attempt.started)
        if ended:  # the resumed attempt finished before the moment came
            assert attempt.proc.returncode == 0, "".join(attempt.output[-40:])
            break
        killed.append((phase, round(offset, 2)))
        _check_no_truncated_file(out)
        if (out / "stats.json").exists():
            break  # killed after the run finished its work: there is nothing left to resume
    if not (out / "stats.json").exists():
        resumed = Attempt(data, pipeline, out)
        seconds.append(resumed.finish())
        assert any("resuming the interrupted run" in line for line in resumed.output)
    print(f"\nclean run {total:.1f} s; killed at (phase, seconds into it) {killed}; attempts took", end=" ")
    print(", ".join(f"{s:.1f}" for s in seconds), "s")
    assert len(killed) >= KILLS - 1 and len({p for p, _ in killed}) >= 2, killed  # one may come after the end

    expected, got = _outputs(clean_out), _outputs(out)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
    assert not [p for p in out.rglob(".*.tmp")]
    stages = [json.loads((o / "stats.json").read_text())["stages"] for o in (clean_out, out)]
    assert [[(s["stage"], s["in"], s["out"], s["dropped"]) for s in run] for run in stages] == [
        [(s["stage"], s["in"], s["out"], s["dropped"]) for s in stages[0]]
    ] * 2
