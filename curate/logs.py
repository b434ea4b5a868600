"""How loud `curate` is, and the warnings of a run summed up at its end.

One console level (`-q` errors, the default warnings, `-v` info, `-vv` debug, or `--log-level`) governs curate's own
messages, datatrove's logger (loguru) and the standard library's `logging` (trafilatura, tldextract, ...), in the
main process and in every local task. datatrove's executors reset loguru in each task: INFO to the console, DEBUG to
the task's log file, then DEBUG to the console once the task ends. `task_console` keeps the log files whole (people
debug from them) and gives the console curate's level instead. Ray and Slurm tasks never write to this console (Ray
runs with `log_to_driver=False`, Slurm into slurm_logs/), so their output keeps datatrove's own levels.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LEVELS = ("DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
DEFAULT = "WARNING"
_NUMBERS = {"DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
# datatrove's task log line: [NODE n] time | LEVEL | module:function:line - message
_TASK_LINE = re.compile(
    r"^(?:\[NODE \d+\] )?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \| (WARNING|ERROR|CRITICAL)\s*\| \S+ - (.*)$"
)
_DETAILED = "{time:YYYY-MM-DD HH:mm:ss.SSS} | <level>{level: <8}</level> | {name}:{function}:{line} - {message}"

_level = DEFAULT
_seen: list[tuple[str, str]] = []  # (level, message) of the main process's warnings since `setup`


def level_from(quiet: bool, verbose: int, log_level: str | None) -> str:
    """The console level the options ask for: --log-level wins, then -q, then -v (INFO) / -vv (DEBUG)."""
    if log_level:
        return log_level.upper()
    if quiet:
        return "ERROR"
    return {0: DEFAULT, 1: "INFO"}.get(verbose, "DEBUG")


def log_level(text: str) -> str:
    """An argparse type: a level name, any case."""
    if text.upper() not in LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LEVELS)}, got {text!r}")
    return text.upper()


def add_options(parser: argparse.ArgumentParser) -> None:
    """-q, -v and --log-level on `parser` and on every subcommand below it, so they go before or after the
    subcommand (`curate -q run ...`, `curate run ... -q`); a subcommand's copy keeps what was given before it."""
    _add(parser, {})
    pending = [parser]
    while pending:
        for action in pending.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                    _add(sub, {"default": argparse.SUPPRESS})
                    pending.append(sub)


def _add(parser: argparse.ArgumentParser, default: dict) -> None:
    group = parser.add_argument_group("messages")
    group.add_argument("-q", "--quiet", action="store_true", help="errors and the result only", **default)
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="more messages: -v info (datatrove's task logs, as in the log files), -vv debug",
        **({"default": 0} | default),
    )
    group.add_argument(
        "--log-level",
        type=log_level,
        metavar="LEVEL",
        help=f"console level: {', '.join(LEVELS)} (default {DEFAULT}; overrides -q and -v); "
        "the task log files under the run's logs/ always keep everything",
        **default,
    )


def setup(level: str = DEFAULT) -> None:
    """Route every logger of this process to the console at `level`, and start collecting its warnings."""
    global _level
    _level = level
    _seen.clear()
    _console(level)


def current() -> str:
    """The console level `setup` chose (what local tasks get)."""
    return _level


def notice(text: str) -> None:
    """A line the user sees unless -q, e.g. a run's phases: not a warning, yet more than the INFO chatter hidden by
    default. Written through tqdm, which redraws a progress bar below it."""
    if not quiet():
        from tqdm import tqdm

        tqdm.write(f"curate: {text}", file=sys.stderr)


def quiet() -> bool:
    """-q (or a level above warnings): no progress display, only errors and the result."""
    return _NUMBERS[_level] >= _NUMBERS["ERROR"]


def _console(level: str, task_rank: int | None = None) -> None:
    """loguru: one stderr sink at `level` (below ERROR in a task, where datatrove's own sink prints errors), the
    warnings collector in the main process; the standard library's logging forwarded to loguru."""
    from datatrove.utils.logging import DATATROVE_COLORIZE_LOGS, logger

    if task_rank is None:
        logger.remove()
        logger.add(_STDERR, level=level, format=_format(level), colorize=DATATROVE_COLORIZE_LOGS)
        logger.add(_collect, level="WARNING", format="{message}")
    elif _NUMBERS[level] < _NUMBERS["ERROR"]:
        # datatrove prints INFO from the first worker only (local_rank 0); the others print warnings and above
        shown = level if task_rank == 0 or _NUMBERS[level] >= _NUMBERS["WARNING"] else "WARNING"
        below_error = _NUMBERS["ERROR"]
        logger.add(
            _STDERR,
            level=shown,
            format=_format(shown),
            colorize=DATATROVE_COLORIZE_LOGS,
            filter=lambda record: record["level"].no < below_error,
        )
    _forward_stdlib(level)


class _Stderr:
    """sys.stderr as it is when a message is written, not when the sink was added (pytest's capture and other
    redirections replace it; a sink holding an old one writes to a closed stream)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


_STDERR = _Stderr()


def _format(level: str) -> str:
    return _DETAILED if _NUMBERS[level] < _NUMBERS["WARNING"] else "curate: <level>{level}</level>: {message}"


def _collect(message) -> None:
    if len(_seen) < 100_000:  # a long-lived process calling run() again and again: bounded
        _seen.append((message.record["level"].name, message.record["message"]))


class _ToLoguru(logging.Handler):
    """The standard library's records into loguru: one console, one level, and into the tasks' log files."""

    def emit(self, record: logging.LogRecord) -> None:
        from datatrove.utils.logging import logger

        name = record.levelname if record.levelname in _NUMBERS else record.levelno
        logger.opt(exception=record.exc_info).log(name, f"{record.name}: {record.getMessage()}")


def _forward_stdlib(level: str) -> None:
    """Other libraries' INFO at most: their DEBUG (matplotlib's font search, fsspec's requests) is not curate's."""
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _ToLoguru)] + [_ToLoguru()]
    root.setLevel(max(min(_NUMBERS[level], logging.WARNING), logging.INFO))


@contextmanager
def task_console(level: str) -> Iterator[None]:
    """datatrove's tasks run inside with the console at `level`; their log files keep DEBUG."""
    import datatrove.executor.base as base

    add, close = base.add_task_logger, base.close_task_logger

    def add_task_logger(logging_dir, rank: int, local_rank: int = 0, node_rank: int = -1):
        logfile = add(logging_dir, rank, 1, node_rank=node_rank)  # local_rank != 0: its console shows errors only
        _console(level, task_rank=local_rank)
        return logfile

    def close_task_logger(logfile) -> None:
        close(logfile)
        _console(level)

    base.add_task_logger, base.close_task_logger = add_task_logger, close_task_logger
    try:
        yield
    finally:
        base.add_task_logger, base.close_task_logger = add, close
        _console(level)


# -- the summary at the end of a run ---------------------------------------------------------------------------------
_VARYING = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+"), "<url>"),
    (re.compile(r"(?<![\w.])(?:\.{0,2}/[^\s:;,'\"]+)+"), "<path>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"\d+(?:\.\d+)?"), "N"),
]


def pattern(message: str) -> str:
    """The message with what varies between occurrences (URLs, paths, quoted values, numbers) blanked out."""
    for regex, blank in _VARYING:
        message = regex.sub(blank, message)
    return message


def task_warnings(logs: Path, since: float = 0.0) -> list[tuple[str, str]]:
    """(level, first line) of every WARNING, ERROR and CRITICAL message in the task log files under `logs` written
    since `since` (a resumed run's earlier attempts summed theirs up when they ended)."""
    found = []
    for path in sorted(logs.glob("**/task_*.log")):
        try:
            if path.stat().st_mtime < since:
                continue
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found += [(m.group(1), m.group(2)) for m in map(_TASK_LINE.match, text.splitlines()) if m]
    return found


def warning_summary(logs: Path, since: float = 0.0, kinds: int = 5, width: int = 160) -> list[str]:
    """Lines that sum up a run's warnings and errors (this process's since `setup` and its tasks' since `since`),
    grouped by message pattern: the count of each, an example, and where the full logs are; [] when none."""
    found = list(_seen) + task_warnings(logs, since)
    if not found:
        return []
    groups = Counter((lvl, pattern(msg)) for lvl, msg in found)
    example: dict[tuple[str, str], str] = {}
    for lvl, msg in found:
        example.setdefault((lvl, pattern(msg)), msg)
    levels = Counter(lvl for lvl, _ in found)
    by_severity = sorted(levels.items(), key=lambda item: -_NUMBERS.get(item[0], 0))
    counts = ", ".join(f"{n:,} {lvl.lower()}{'s' if n > 1 else ''}" for lvl, n in by_severity)
    lines = [f"curate: {counts} ({len(groups)} kind{'s' if len(groups) > 1 else ''}); full logs: {logs}/*/logs/"]
    for (lvl, shape), count in groups.most_common(kinds):
        text = example[(lvl, shape)].splitlines()[0] if example[(lvl, shape)] else ""
        lines.append(f"  {count:>6,}× {lvl}: {text if len(text) <= width else text[: width - 1] + '…'}")
    if len(groups) > kinds:
        lines.append(f"  ... and {len(groups) - kinds} more kind(s)")
    return lines
