"""What the benchmarks share: paths, the data folder, the machine record, running a command while sampling the
memory of its whole process tree, and writing a results file with the rows of `make bench`'s table. Each
`bench/bench_*.py` script imports it by name (a script's own folder is on its import path), so no benchmark edits
`sys.path` or imports another benchmark.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

try:
    import psutil
except ImportError:  # a bare GPU box running bench_train.py needs only the machine record
    psutil = None

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BASELINE_VENV = ROOT / ".venv-bench"  # plain datatrove and datasketch, for the baselines (setup_baseline_venv.sh)
MIB = 2**20
_IMPORTED = time.time()  # the start of a benchmark when psutil cannot tell its process's start time


def data_dir() -> Path:
    return Path(os.environ.get("CURATE_DATA", ROOT.parent / "shared" / "data")).resolve()


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def _roles(tree: list[psutil.Process], root: int) -> dict[int, str]:
    """Short labels for the processes of a tree: main, forkserver, pool worker, a worker's child, ..."""
    parents, cmds = {}, {}
    for p in tree:
        try:
            parents[p.pid], cmds[p.pid] = p.ppid(), " ".join(p.cmdline())
        except psutil.Error:
            parents[p.pid], cmds[p.pid] = None, ""
    roles: dict[int, str] = {}

    def role(pid: int) -> str:
        if pid in roles:
            return roles[pid]
        if pid == root:
            label = "main"
        elif parents.get(pid) == root:
            helper = next((m for m in ("forkserver", "resource_tracker") if m in cmds[pid]), None)
            label = helper or "child of main"
        elif parents.get(pid) in parents:
            parent = role(parents[pid])
            label = "pool worker" if parent == "forkserver" else f"child of {parent}"
        else:
            label = "?"
        roles[pid] = label
        return label

    for p in tree:
        role(p.pid)
    return roles


def run_sampled(
    cmd: list[str], log: Path, interval: float = 0.05, pss_every: int = 4, phase_of: Callable[[], str] | None = None
) -> dict:
    """Run cmd (cwd = repo root), sampling the summed RSS (and, every few ticks, PSS) of its process tree.

    With `phase_of` (called every tick: which phase the command is in), also each phase's peak summed RSS and the
    peak RSS of its largest single process (a worker's own memory, the figure a scheduler reserves per task)."""
    phases: dict[str, dict] = {}
    peak_rss = peak_pss = 0
    peak_procs = 0
    at_peak: list = []
    samples = 0
    load_before = os.getloadavg()[0]
    cpu_seen: dict[int, float] = {}  # pid -> last seen user + system seconds
    started = time.perf_counter()
    with open(log, "wb") as out:
        popen = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        proc = psutil.Process(popen.pid)
        next_tick = time.perf_counter()
        while popen.poll() is None:
            tree = _tree(proc)
            rss_sum = pss_sum = 0
            per_proc = []
            want_pss = samples % pss_every == 0
            for p in tree:
                try:
                    if want_pss:
                        info = p.memory_full_info()
                        pss_sum += info.pss
                    else:
                        info = p.memory_info()
                    rss_sum += info.rss
                    per_proc.append((p, info.rss))
                    times = p.cpu_times()
                    cpu_seen[p.pid] = times.user + times.system
                except psutil.Error:
                    continue
            samples += 1
            if phase_of is not None and per_proc:
                entry = phases.setdefault(phase_of(), {"peak_rss_mib": 0.0, "peak_process_rss_mib": 0.0, "samples": 0})
                entry["samples"] += 1
                entry["peak_rss_mib"] = max(entry["peak_rss_mib"], round(rss_sum / MIB, 1))
                entry["peak_process_rss_mib"] = max(
                    entry["peak_process_rss_mib"], round(max(r for _, r in per_proc) / MIB, 1)
                )
            if rss_sum > peak_rss:
                roles = _roles(tree, popen.pid)
                peak_rss, at_peak = rss_sum, [(roles.get(p.pid, "?"), rss) for p, rss in per_proc]
            peak_pss = max(peak_pss, pss_sum)
            peak_procs = max(peak_procs, len(per_proc))
            next_tick += interval
            time.sleep(max(0.0, next_tick - time.perf_counter()))
    wall = time.perf_counter() - started
    cpu = sum(cpu_seen.values())
    breakdown = sorted(((role, round(rss / MIB, 1)) for role, rss in at_peak), key=lambda x: -x[1])
    return {
        "returncode": popen.returncode,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 2),  # user + system over the tree, as last sampled per process (slightly low)
        "loadavg_1min_before": round(load_before, 2),
        "peak_rss_mib": round(peak_rss / MIB, 1),
        "peak_pss_mib": round(peak_pss / MIB, 1),
        "max_processes": peak_procs,
        "samples": samples,
        "rss_at_peak_mib": breakdown,
        **({"phases": phases} if phase_of is not None else {}),
    }


# -- the two pipelines ------------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1) if psutil else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "packages": package_versions(),
    }


PACKAGES = ("datatrove", "torch", "numpy", "pyarrow", "tokenizers", "trafilatura", "resiliparse", "fastwarc")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of what the figures depend on (None: not installed), read from metadata, not imported."""
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


# -- results files and the rows of the summary table --------------------------------------------------------------
def process_wall_s() -> float:
    """Seconds since this process started: a benchmark's whole wall time, interpreter start and imports included."""
    if psutil is not None:
        return round(time.time() - psutil.Process().create_time(), 1)
    return round(time.time() - _IMPORTED, 1)


def table_row(
    measures: str,
    ours: float | None,
    unit: str,
    *,
    baseline: str | None = None,
    baseline_value: float | None = None,
    goal: str | None = None,
    peak_rss_mib: float | None = None,
    ours_name: str = "curate",
) -> dict:
    """One row of bench/RESULTS.md: what is measured, our figure, the baseline's figure from the same run, and their
    ratio (ours / baseline, whatever the unit: the goal says which way is better)."""
    ratio = None
    if ours is not None and baseline_value:
        ratio = round(ours / baseline_value, 3)
    return {
        "measures": measures,
        "ours_name": ours_name,
        "ours": ours,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "goal": goal,
        "peak_rss_mib": peak_rss_mib,
    }


def write_results(name: str, result: dict, size: str, rows: list[dict], output: Path | None = None) -> Path:
    """Write a benchmark's JSON (default bench/results/NAME.json, folder created) with what the summary table needs:
    `bench` (NAME), `size` (the input it ran on, in words), `table` (rows from table_row), `bench_wall_s`."""
    path = Path(output) if output is not None else RESULTS / f"{name}.json"
    record = {
        "bench": name,
        "size": size,
        "table": rows,
        "bench_wall_s": process_wall_s(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **result,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {path}")
    return path
