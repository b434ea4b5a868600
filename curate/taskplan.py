"""Which input files each task reads: tasks are units of work, decoupled from the workers that run them.

A task is the smallest thing an executor schedules, retries and resumes; a worker is a process running tasks one
after another. Many tasks per worker keep every worker busy to the end and make a lost task cheap to redo; per-process
set-up (language model, blocklist table, extractor) is paid once per process, not once per task (see
curate.stages.once).

Default plan: one task per input file, except that small local files are grouped, in input order, into tasks of
about `TASK_BYTES`, or of a `MIN_TASKS`-th of the input when that is smaller, so a small input still gives every
worker work. The plan depends on the inputs alone, never on the number of workers: an interrupted run resumes on
more or fewer workers with the same tasks. Remote files (a crawl's URLs) are one task each: their sizes would cost
a request per file to learn. `--tasks N` shares the files out into N tasks instead, balanced by size. A file is never
split: a gzip-compressed WARC cannot be entered in the middle.
"""

from __future__ import annotations

import math

TASK_BYTES = 256 * 2**20  # a Common Crawl WARC (~1 GB) is a task on its own; small files are grouped up to this
MIN_TASKS = 64  # a small input is still cut this fine (a warm process's set-up per task is ~0.1 s: see README)


def _size(path: str) -> int:
    from curate.ledger import file_size

    return file_size(path) or 0


def _remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def plan_tasks(
    paths: list[str], tasks: int | None = None, target: int = TASK_BYTES, min_tasks: int = MIN_TASKS
) -> list[list[int]]:
    """Indices into `paths`, one list per task, each in input order."""
    if not paths:
        return []
    if tasks is not None:
        return _balanced(paths, min(tasks, len(paths)))
    if any(_remote(p) for p in paths):
        return [[i] for i in range(len(paths))]
    sizes = [_size(p) for p in paths]
    target = max(1, min(target, math.ceil(sum(sizes) / min_tasks)))
    groups: list[list[int]] = []
    load = 0
    for index, size in enumerate(sizes):
        if not groups or (load + size > target and load > 0):
            groups.append([])
            load = 0
        groups[-1].append(index)
        load += size
    return groups


def _balanced(paths: list[str], tasks: int) -> list[list[int]]:
    """Largest file first, each to the task with the fewest bytes so far; each task's files back in input order."""
    sizes = [1 if _remote(p) else max(_size(p), 1) for p in paths]
    loads = [0] * tasks
    groups: list[list[int]] = [[] for _ in range(tasks)]
    for index in sorted(range(len(paths)), key=lambda i: (-sizes[i], i)):
        task = min(range(tasks), key=lambda t: (loads[t], t))
        groups[task].append(index)
        loads[task] += sizes[index]
    return [sorted(g) for g in groups]
