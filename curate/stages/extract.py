"""Main-text extraction with trafilatura or Resiliparse (`engine`, see curate.stages.engines), after decoding the
page with the right charset. Both engines get the same page, the same guards and the same reject reasons.

Two guards against slow pages, in this order:
1. A budget decided from the page alone before the engine sees it (curate.stages.budget): more characters or
   start tags than the budget allows is `too_complex`, the same verdict on any machine under any load.
2. A wall-clock limit, the safety net for what the budget did not foresee. A page that hits it is tried once more
   at once (documents keep their stream order) with a fresh timer and no other worker extracting; only a page that
   runs past the limit twice is rejected as `timeout`.

The default budget (4 M characters, 50,000 start tags) admits every page of the test crawls (largest 1.63 M
characters; most start tags 35,271, a page trafilatura needs 3 s for) and nothing found to take over 11 s on a
quiet 2-core machine, a tenth of the default 120 s limit, so load alone does not reach the limit:
bench/bench_extract_budget.py measures it. The limit is long because it is only a safety net.

The time limit runs in-process (an interval timer raising a BaseException that trafilatura's own
`except Exception` cannot swallow) rather than datatrove's extractor subprocess: no pickling of every page
through a pipe and no second copy of the interpreter. The timer fires only between Python steps, so a single
long C call (parsing a 50 MB page; all of Resiliparse's work is one) would outlast it: one more reason for the
character budget. Off the main
thread, where timers cannot fire, datatrove's sandbox process enforces the limit instead.
"""

from __future__ import annotations

import signal
import threading
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger
from datatrove.utils.typeshelper import StatHints

from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY, reject
from curate.stages.budget import Budget, RetryLock
from curate.stages.charset import decode_html
from curate.stages.engines import (
    ENGINES,
    resiliparse_extract,
    resiliparse_options,
    resiliparse_text,
    trafilatura_extract,
)


class ExtractionTimeout(BaseException):
    """Raised inside the engine when a page runs past its time limit."""


@contextmanager
def time_limit(seconds: float):
    """ExtractionTimeout once `seconds` have passed, also when the engine swallowed the one raised in its code (a
    signal lands wherever Python runs next, e.g. inside a callback whose exception the C library drops)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    expired = False

    def _expire(signum, frame):
        nonlocal expired
        expired = True
        raise ExtractionTimeout

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if expired:  # the body went on past the limit: over it all the same
        raise ExtractionTimeout


class Extract(PipelineStep):
    """HTML bytes → main text. Rejects with `too_complex`, `no_text`, `timeout` or `extract_error`.

    `engine` is `trafilatura` (the default: the higher F1) or `resiliparse` (many times faster). `favor_*`,
    `include_tables` and `deduplicate` are trafilatura's; `include_comments` holds for both. `deduplicate` is off by
    default (datatrove turns it on): trafilatura's duplicate cache lives in the process and depends on the order
    pages arrive in, so the same page would extract differently with 1 or 3 workers. Duplicates across pages are
    the dedup stages' job. `max_html_chars` and `max_tags` are the budget (0 turns a measure off). Stats:
    `timeout_retried` counts pages that hit the time limit once, `timeout_recovered` those of them the retry
    extracted.
    """

    name = "⛏ Extract"
    type = "🛢 - EXTRAC"

    def __init__(
        self,
        rejects=None,
        favor_precision: bool = True,
        favor_recall: bool = False,
        include_comments: bool = False,
        include_tables: bool = True,
        deduplicate: bool = False,
        max_html_chars: int = 4_000_000,
        max_tags: int = 50_000,
        timeout: float = 120.0,
        engine: str = "trafilatura",
    ):
        if engine not in ENGINES:
            raise ValueError(f"engine: {engine!r} is not an extraction engine (allowed: {', '.join(ENGINES)})")
        self.name = f"⛏ Extract ({engine})"  # before PipelineStep names its stats after it
        super().__init__()
        self.engine = engine
        if engine == "resiliparse":
            resiliparse_extract()  # not installed: fail now, not at the first page
        self.rejects = rejects
        self.budget = Budget(max_html_chars=max_html_chars, max_tags=max_tags)
        self.timeout = timeout
        self.options: dict[str, Any] = dict(
            favor_precision=favor_precision,
            favor_recall=favor_recall,
            include_comments=include_comments,
            include_tables=include_tables,
            deduplicate=deduplicate,
        )
        self.resiliparse_options = resiliparse_options(include_comments)

    def extract(self, html: str) -> str | None:
        if self.engine == "resiliparse":
            return resiliparse_text(html, self.resiliparse_options)
        return trafilatura_extract()(html, **self.options)

    def _attempt(self, html: str, sandbox, hold: AbstractContextManager) -> tuple[str | None, str | None, str | None]:
        """One extraction under the lock `hold`: (text, reason, detail), reason None when it worked."""
        try:
            with hold:
                if sandbox is not None:
                    return sandbox.process_document(html, self.extract), None, None
                with time_limit(self.timeout):
                    return self.extract(html), None, None
        except (ExtractionTimeout, TimeoutError):
            return None, "timeout", f"over {self.timeout} s"
        except Exception as err:  # a page the engine cannot parse: record it, go on
            return None, "extract_error", f"{type(err).__name__}: {err}"[:500]

    def _text(self, doc, sandbox, lock: RetryLock) -> tuple[str | None, str | None, str | None]:
        payload = doc.metadata.pop(PAYLOAD_KEY, b"")
        charset = doc.metadata.pop(HTTP_CHARSET_KEY, None)
        over = self.budget.check_bytes(len(payload))  # too large to be worth decoding
        if over is None:
            html, _ = decode_html(payload, charset)
            del payload
            over = self.budget.check(html)
        if over is not None:
            return None, "too_complex", over
        text, reason, detail = self._attempt(html, sandbox, lock.shared())
        if reason == "timeout":
            self.stat_update("timeout_retried")
            text, reason, detail = self._attempt(html, sandbox, lock.exclusive())
            if reason == "timeout":
                detail = f"over {self.timeout} s twice, the second time with no other extraction running"
            elif reason is None:
                self.stat_update("timeout_recovered")
            logger.warning(f"{doc.metadata.get('url')}: over {self.timeout} s; retried alone: {reason or 'extracted'}")
        if reason is None and not (text and text.strip()):
            reason = "no_text"
        return text, reason, detail

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        in_main_thread = threading.current_thread() is threading.main_thread()
        sandbox = None
        if not in_main_thread:
            from datatrove.pipeline.extractors.base import ExtractorSandbox

            sandbox = ExtractorSandbox(timeout=self.timeout)
        lock = RetryLock()
        try:
            with self.rejects if self.rejects else _null() as writer:
                for doc in data:
                    self.stat_update(StatHints.total)
                    with self.track_time():
                        text, reason, detail = self._text(doc, sandbox, lock)
                    if reason is not None:
                        self.stat_update(StatHints.dropped, f"dropped_{reason}")
                        if writer is not None:
                            writer.write(reject(doc, reason, detail), rank)
                        continue
                    doc.text = text
                    self.stat_update(StatHints.forwarded)
                    self.update_doc_stats(doc)
                    yield doc
        finally:
            lock.close()
            if sandbox is not None:
                sandbox.__exit__(None, None, None)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
