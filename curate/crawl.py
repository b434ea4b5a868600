"""Common Crawl as input: a crawl's file list, and a byte stream over a URL that survives what servers do to it.

A crawl is ~90,000 WARC files of ~1 GiB on data.commoncrawl.org (CloudFront) and s3://commoncrawl; both answer
"slow down" (503) under load and drop long downloads now and then. A reader that crashes there loses the run, and one
that takes a dropped connection for the end of the file loses the rest of it without a word. So `open_stream` reopens
at the byte it reached (an HTTP Range request) after an exponential backoff, and gives up only after `retries` failed
attempts in a row, with `Unreachable`, which the WARC reader turns into a rejected record and a rejected byte range.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, TypeVar

from curate.runfolder import RunError

DEFAULT_BASE = "https://data.commoncrawl.org/"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_CRAWL = re.compile(r"CC-MAIN-(\d{4})-(\d{2})")
_BUFFER = 1 << 20  # what one read asks the connection for
_BLOCK = 8 << 20  # one ranged GET of a non-HTTP file system (s3://, gs://, ...)
_ENV = {"retries": "CURATE_STREAM_RETRIES", "backoff": "CURATE_STREAM_BACKOFF", "max_wait": "CURATE_STREAM_MAX_WAIT"}
T = TypeVar("T")


class CrawlError(RunError):
    """A crawl name, option or file list that cannot be used (the CLI prints it as one line)."""


class ShortRead(ConnectionError):
    """The connection ended before the Content-Length the server announced."""


class Unreachable(OSError):
    """A URL that could not be opened, or whose stream failed for good at byte `offset` (of `size`, when known)."""

    def __init__(self, url: str, offset: int, last_error: BaseException, attempts: int = 1, size: int | None = None):
        of = f" of {size}" if size is not None else ""
        super().__init__(f"{url}: gave up at byte {offset}{of} after {attempts} attempt(s): {describe(last_error)}")
        self.url, self.offset, self.size = url, offset, size
        self.last_error, self.attempts = last_error, attempts


# -- the file list -------------------------------------------------------------------------------------------------
def check_crawl(crawl: str) -> str:
    """The crawl name, or CrawlError saying what one looks like."""
    match = _CRAWL.fullmatch(crawl)
    if match is None or not 1 <= int(match.group(2)) <= 53:
        raise CrawlError(f"crawl {crawl!r}: expected a Common Crawl name CC-MAIN-YYYY-WW, e.g. CC-MAIN-2024-22")
    return crawl


def crawl_paths(
    crawl: str, base: str = DEFAULT_BASE, files: int | None = None, sample: int | None = None, seed: int = 0
) -> list[str]:
    """URLs of the crawl's WARC files from its `warc.paths.gz`: the first `files`, `sample` at random, or all.

    A sample is drawn with `seed` (the same files in every run) and kept in listing order, so runs compare.
    """
    check_crawl(crawl)
    if files is not None and sample is not None:
        raise CrawlError("choose the first `files` or a random `sample` of the crawl's files, not both")
    for name, value in (("files", files), ("sample", sample)):
        if value is not None and value < 1:
            raise CrawlError(f"{name} {value}: must be at least 1")
    base = base if base.endswith("/") else base + "/"
    urls = [base + line for line in read_listing(f"{base}crawl-data/{crawl}/warc.paths.gz")]
    if files is not None:
        return urls[:files]
    if sample is not None and sample < len(urls):
        return [urls[i] for i in sorted(random.Random(seed).sample(range(len(urls)), sample))]
    return urls


def read_listing(url: str) -> list[str]:
    """The relative paths of a gzip listing, one a line; CrawlError naming the URL when it cannot be read."""
    try:
        with open_stream(url) as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
            lines = [line.strip() for line in text]
    except (OSError, EOFError, UnicodeDecodeError, ValueError, ImportError) as err:
        raise CrawlError(f"{url}: cannot read the crawl's file list: {describe(err)}") from err
    paths = [line for line in lines if line]
    if not paths:
        raise CrawlError(f"{url}: the crawl's file list is empty")
    return paths


# -- the stream ----------------------------------------------------------------------------------------------------
def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


@dataclass(frozen=True)
class Retry:
    """How long to keep trying: `retries` failed attempts in a row, waiting `backoff` * 2^attempt, at most `max_wait`
    seconds (a server's Retry-After is followed, up to `max_wait`)."""

    retries: int = 8
    backoff: float = 1.0
    max_wait: float = 60.0

    @classmethod
    def from_env(cls, **given: float | int | None) -> Retry:
        """The given values, else CURATE_STREAM_RETRIES / _BACKOFF / _MAX_WAIT, else the defaults."""
        values: dict[str, Any] = {}
        for name, variable in _ENV.items():
            value = given.get(name)
            if value is None and os.environ.get(variable):
                try:
                    value = float(os.environ[variable])
                except ValueError:
                    raise CrawlError(f"{variable}={os.environ[variable]!r}: expected a number") from None
            if value is not None:
                values[name] = int(value) if name == "retries" else float(value)
        return cls(**values)

    def wait(self, attempt: int, err: BaseException) -> float:
        """Seconds before attempt `attempt + 1`; jittered so workers hit by one outage do not come back in step."""
        after = retry_after(err)
        if after is not None:
            return min(after, self.max_wait)
        delay = min(self.backoff * 2**attempt, self.max_wait)
        return delay * random.uniform(0.5, 1.0)


def open_stream(
    url: str, retries: int | None = None, backoff: float | None = None, max_wait: float | None = None
) -> BinaryIO:
    """A binary file over a local path or an fsspec URL; a URL's stream retries and resumes (see `RetryingStream`).

    Raises `Unreachable` when the URL cannot be opened; reads raise it when the stream fails for good.
    """
    if not is_url(url):
        return open(url.removeprefix("file://"), "rb")
    policy = Retry.from_env(retries=retries, backoff=backoff, max_wait=max_wait)
    return io.BufferedReader(RetryingStream(url, policy), buffer_size=_BUFFER)


class RetryingStream(io.RawIOBase):
    """An fsspec URL read forward; a failed read reopens at the byte reached, after a backoff.

    HTTP(S): one streaming GET (fsspec's `block_size=0`: bytes come off the socket as they are read, nothing is
    downloaded ahead or held), reopened with `Range: bytes=<offset>-` after a failure. This costs one request per file,
    not one per block: Common Crawl throttles on requests. Other file systems (s3://, gs://, ...) have no such stream;
    their files are opened with `block_size` ranged reads (one block held at a time) and seek to the offset.
    Seeking drops the connection; the next read reopens at the new offset.
    """

    def __init__(self, url: str, policy: Retry):
        import fsspec

        super().__init__()
        self.url, self.policy = url, policy
        try:
            self.fs, self.path = fsspec.core.url_to_fs(url, **_storage_options(url))
        except (ImportError, ValueError) as err:  # an unknown protocol, or its package (s3fs, gcsfs) missing
            raise Unreachable(url, 0, err) from err
        self.http = url.startswith(("http://", "https://"))
        self.pos = 0
        self.size: int | None = None
        self._handle: Any = None
        self._retry(self._open)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move without reading: the next read reopens there (Parquet footers; resynchronising after bad gzip)."""
        if whence == io.SEEK_CUR:
            offset += self.pos
        elif whence == io.SEEK_END:
            if self.size is None:
                raise io.UnsupportedOperation(f"{self.url}: size unknown, cannot seek from the end")
            offset += self.size
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        if offset != self.pos:
            self._drop()
            self.pos = offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        if self.size is not None and self.pos >= self.size:
            return 0
        view = memoryview(buffer).cast("B")
        data = self._retry(lambda: self._read(len(view)))
        view[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def close(self) -> None:
        self._drop()
        super().close()

    def _read(self, n: int) -> bytes:
        if self._handle is None:
            self._open()
        data = self._handle.read(n)
        if not data and self.size is not None and self.pos < self.size:
            raise ShortRead(f"the connection ended at byte {self.pos} of {self.size} (Content-Length)")
        return data

    def _open(self) -> None:
        if not self.http:
            self._handle = self.fs.open(self.path, "rb", block_size=_BLOCK, cache_type="readahead")
            self.size = self.size if self.size is not None else getattr(self._handle, "size", None)
            self._handle.seek(self.pos)
            return
        if self.size is None:
            self.size = self.fs.info(self.path).get("size")
        # identity: offsets are the file's bytes, not those of a coding the server (or aiohttp) might apply
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={self.pos}-"} if self.pos else {})}
        self._handle = self.fs.open(self.path, "rb", block_size=0, size=self.size, headers=headers)
        if self.pos and getattr(getattr(self._handle, "r", None), "status", 206) == 200:
            _discard(self._handle, self.pos)  # the server ignored the Range: skip what was read before

    def _retry(self, action: Callable[[], T]) -> T:
        """`action()`, again after a backoff (reopened) while it fails in a way that may pass."""
        attempt = 0
        while True:
            try:
                return action()
            except Exception as err:
                self._drop()
                if not transient(err) or attempt >= self.policy.retries:
                    raise Unreachable(self.url, self.pos, err, attempt + 1, self.size) from err
                time.sleep(self.policy.wait(attempt, err))
                attempt += 1

    def _drop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                pass


def _storage_options(url: str) -> dict[str, Any]:
    """HTTP: no cap on a whole download (aiohttp's default is 5 minutes), but on a stalled socket."""
    if not url.startswith(("http://", "https://")):
        return {}
    import aiohttp

    return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)}}


def _discard(handle: Any, count: int) -> None:
    while count > 0:
        got = len(handle.read(min(count, _BUFFER)))
        if not got:
            raise ShortRead(f"the stream ended {count} bytes before the offset to resume at")
        count -= got


# -- what failed, and whether to try again -------------------------------------------------------------------------
def _status(err: BaseException | None) -> int | None:
    status = getattr(err, "status", None)
    return status if isinstance(status, int) else None


def transient(err: BaseException) -> bool:
    """Whether trying again may help: dropped connections, timeouts, short reads, 429 and 5xx gateway answers."""
    status = _status(err)
    if status is not None:
        return status in RETRYABLE_STATUS
    if isinstance(err, FileNotFoundError):  # fsspec's HTTP `info` wraps any failure (503 included) in this one
        return err.__cause__ is not None and transient(err.__cause__)
    if isinstance(err, (PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    if isinstance(err, (OSError, EOFError)):  # ConnectionError, TimeoutError, aiohttp's ClientOSError
        return True
    try:
        import aiohttp
    except ImportError:
        return False
    return isinstance(err, (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError))


def retry_after(err: BaseException) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date) on the error or its cause."""
    for each in (err, err.__cause__):
        headers = getattr(each, "headers", None)
        value = headers.get("Retry-After") if headers is not None else None
        if not value:
            continue
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None
    return None


def describe(err: BaseException) -> str:
    """One line: the error, and what caused it when that says more (fsspec hides an HTTP 404 in FileNotFoundError)."""
    text = f"{type(err).__name__}: {err}"
    cause = err.__cause__
    if cause is not None and not isinstance(err, Unreachable):
        text += f" ({type(cause).__name__}: {cause})"
    return " ".join(text.split())[:500]
