"""Main-text extraction with trafilatura, after decoding the page with the right charset.

The time limit runs in-process (an interval timer raising a BaseException that trafilatura's own
`except Exception` cannot swallow) rather than datatrove's extractor subprocess: no pickling of every page
through a pipe and no second copy of the interpreter. Off the main thread, where timers cannot fire, datatrove's
sandbox process enforces the limit instead.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from curate.records import HTTP_CHARSET_KEY, PAYLOAD_KEY, reject
from curate.stages.charset import decode_html


class ExtractionTimeout(BaseException):
    """Raised inside trafilatura when a page runs past its time limit."""


@contextmanager
def time_limit(seconds: float):
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum, frame):
        raise ExtractionTimeout

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Extract(PipelineStep):
    """HTML bytes → main text. Rejects with `no_text`, `timeout` or `extract_error`.

    `deduplicate` is off by default (datatrove turns it on): trafilatura's duplicate cache lives in the process
    and depends on the order pages arrive in, so the same page would extract differently with 1 or 3 workers.
    Duplicates across pages are the dedup stages' job.
    """

    name = "⛏ Extract (trafilatura)"
    type = "🛢 - EXTRAC"

    def __init__(
        self,
        rejects=None,
        favor_precision: bool = True,
        favor_recall: bool = False,
        include_comments: bool = False,
        include_tables: bool = True,
        deduplicate: bool = False,
        timeout: float = 5.0,
    ):
        super().__init__()
        self.rejects = rejects
        self.timeout = timeout
        self.options: dict[str, Any] = dict(
            favor_precision=favor_precision,
            favor_recall=favor_recall,
            include_comments=include_comments,
            include_tables=include_tables,
            deduplicate=deduplicate,
        )

    def extract(self, html: str) -> str | None:
        import trafilatura

        return trafilatura.extract(html, **self.options)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        in_main_thread = threading.current_thread() is threading.main_thread()
        sandbox = None
        if not in_main_thread:
            from datatrove.pipeline.extractors.base import ExtractorSandbox

            sandbox = ExtractorSandbox(timeout=self.timeout)
        with self.rejects if self.rejects else _null() as writer:
            for doc in data:
                self.stat_update(StatHints.total)
                with self.track_time():
                    payload = doc.metadata.pop(PAYLOAD_KEY, b"")
                    html, _ = decode_html(payload, doc.metadata.pop(HTTP_CHARSET_KEY, None))
                    del payload
                    reason = detail = None
                    try:
                        if sandbox is not None:
                            text = sandbox.process_document(html, self.extract)
                        else:
                            with time_limit(self.timeout):
                                text = self.extract(html)
                    except (ExtractionTimeout, TimeoutError):
                        text, reason, detail = None, "timeout", f"over {self.timeout} s"
                    except Exception as err:  # a page trafilatura cannot parse: record it, go on
                        text, reason, detail = None, "extract_error", f"{type(err).__name__}: {err}"[:500]
                    if reason is None and not (text and text.strip()):
                        reason = "no_text"
                if reason is not None:
                    self.stat_update(StatHints.dropped, f"dropped_{reason}")
                    if writer is not None:
                        writer.write(reject(doc, reason, detail), rank)
                    continue
                doc.text = text
                self.stat_update(StatHints.forwarded)
                self.update_doc_stats(doc)
                yield doc
        if sandbox is not None:
            sandbox.__exit__(None, None, None)


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
