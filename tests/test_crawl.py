"""Reading a crawl over HTTP as a server really behaves: dropped connections, "slow down" answers, missing files.

A local server (a thread, with Range support) serves a crawl `CC-MAIN-2099-01` made of shared WARCs: one drops the
connection halfway on its first GET, one answers 503 twice, one path is missing for good. Read over URLs, the records
must be exactly those of the local files (each once), the ledger must tile every byte, and what cannot be read must
be a rejected `unreachable` record and byte range, never a crash.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import read_rows

from curate.crawl import CrawlError, Retry, Unreachable, crawl_paths, open_stream
from curate.ledger import account
from curate.outputs import RejectedWriter
from curate.records import PAYLOAD_KEY
from curate.runfolder import RunError
from curate.stages.warc import WarcReader

CRAWL = "CC-MAIN-2099-01"
PREFIX = f"crawl-data/{CRAWL}/segments/1/warc"
DROPS, SLOW, PLAIN = "wget-sample-0000.warc.gz", "wget-sample-0001.warc.gz", "cc-main-2020-34-excerpt.warc.gz"
MISSING = "gone-0000.warc.gz"
FAST = {"retries": 3, "backoff": 0.001, "max_wait": 0.01}


@dataclass
class Site:
    """What the server holds and how it misbehaves; `log` is every request: (method, path, Range, status)."""

    files: dict[str, bytes]
    unavailable: dict[str, int] = field(default_factory=dict)  # 503 answers left, per path
    drop: set[str] = field(default_factory=set)  # the next GET sends half its bytes, then closes
    cut: dict[str, int] = field(default_factory=dict)  # every GET stops at this byte of the file and closes
    no_ranges: bool = False  # answer every GET with the whole file, as some servers do
    log: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    base: str = ""

    def url(self, name: str) -> str:
        return f"{self.base}{PREFIX}/{name}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: Site


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, headers: dict[str, str]) -> None:
        site = self.server.site
        site.log.append((self.command, self.path.lstrip("/"), self.headers.get("Range"), status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _serve(self, body: bool) -> None:
        site, name = self.server.site, self.path.lstrip("/")
        if site.unavailable.get(name, 0) > 0:
            site.unavailable[name] -= 1
            return self._answer(503, {"Content-Length": "0", "Retry-After": "0"})
        data = site.files.get(name)
        if data is None:
            return self._answer(404, {"Content-Length": "0"})
        ranged = self.headers.get("Range") if not site.no_ranges else None
        start, end = _range(ranged, len(data))
        headers = {"Content-Length": str(end - start), "Accept-Ranges": "bytes" if ranged else "none"}
        if ranged:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        self._answer(206 if ranged else 200, headers)
        if not body:
            return
        stop = end
        if name in site.drop:
            site.drop.discard(name)
            stop = start + (end - start) // 2
        stop = min(stop, max(site.cut.get(name, stop), start))
        self.wfile.write(data[start:stop])
        if stop < end:  # the rest never comes: the connection closes with the Content-Length unmet
            self.close_connection = True
            self.wfile.flush()
            time.sleep(0.3)  # the client reads what came first (a real drop happens long into a download)
            self.connection.shutdown(socket.SHUT_RDWR)


def _range(header: str | None, size: int) -> tuple[int, int]:
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
    if match is None:
        return 0, size
    return int(match.group(1)), min(int(match.group(2)) + 1 if match.group(2) else size, size)


@pytest.fixture
def site(data):
    """A fresh server per test: the crawl listing, three WARCs (one drops, one is slow), one path missing."""
    files = {f"{PREFIX}/{name}": (data / "warc" / name).read_bytes() for name in (DROPS, SLOW, PLAIN)}
    listing = "".join(f"{PREFIX}/{name}\n" for name in (DROPS, SLOW, PLAIN, MISSING))
    files[f"crawl-data/{CRAWL}/warc.paths.gz"] = gzip.compress(listing.encode())
    served = Site(files, unavailable={f"{PREFIX}/{SLOW}": 2}, drop={f"{PREFIX}/{DROPS}"})
    server = _Server(("127.0.0.1", 0), _Handler)
    server.site = served
    served.base = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """The reader opens its URLs with the environment's retry settings: tiny waits here."""
    for name, value in FAST.items():
        monkeypatch.setenv(f"CURATE_STREAM_{name.upper()}", str(value))


# -- the file list -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["CC-MAIN-2024", "cc-main-2024-22", "CC-MAIN-2024-54", "CC-MAIN-24-22", "CC-MAIN-X"])
def test_bad_crawl_names_are_refused(name):
    with pytest.raises(CrawlError, match="CC-MAIN-YYYY-WW") as caught:
        crawl_paths(name, "http://127.0.0.1:9/")
    assert isinstance(caught.value, RunError)


@pytest.mark.slow
def test_crawl_paths_first_sample_and_all(site):
    everything = crawl_paths(CRAWL, site.base)
    assert everything == [site.url(n) for n in (DROPS, SLOW, PLAIN, MISSING)]
    assert crawl_paths(CRAWL, site.base.rstrip("/")) == everything
    assert crawl_paths(CRAWL, site.base, files=2) == everything[:2]
    assert crawl_paths(CRAWL, site.base, files=99) == everything
    samples = {tuple(crawl_paths(CRAWL, site.base, sample=2, seed=seed)) for seed in range(8)}
    assert len(samples) > 1
    for sample in samples:
        assert len(sample) == 2 and list(sample) == [u for u in everything if u in sample]  # in listing order
    assert crawl_paths(CRAWL, site.base, sample=2, seed=3) == crawl_paths(CRAWL, site.base, sample=2, seed=3)
    assert crawl_paths(CRAWL, site.base, sample=10) == everything
    with pytest.raises(CrawlError, match="not both"):
        crawl_paths(CRAWL, site.base, files=1, sample=1)
    with pytest.raises(CrawlError, match="files 0: must be at least 1"):
        crawl_paths(CRAWL, site.base, files=0)


def test_a_listing_that_cannot_be_read_is_one_clear_error(site):
    listing = f"{site.base}crawl-data/CC-MAIN-2099-02/warc.paths.gz"
    with pytest.raises(CrawlError, match=re.escape(listing) + ".*404"):
        crawl_paths("CC-MAIN-2099-02", site.base)
    site.files["crawl-data/CC-MAIN-2099-03/warc.paths.gz"] = b"not gzip at all"
    with pytest.raises(CrawlError, match="CC-MAIN-2099-03/warc.paths.gz: cannot read the crawl's file list"):
        crawl_paths("CC-MAIN-2099-03", site.base)
    site.files["crawl-data/CC-MAIN-2099-04/warc.paths.gz"] = gzip.compress(b"\n\n")
    with pytest.raises(CrawlError, match="file list is empty"):
        crawl_paths("CC-MAIN-2099-04", site.base)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(CrawlError, match=f"127.0.0.1:{port}.*gave up"):
        crawl_paths(CRAWL, f"http://127.0.0.1:{port}/")


# -- the stream ----------------------------------------------------------------------------------------------------
def _read_all(stream, size: int = 10_000) -> bytes:
    out = io.BytesIO()
    while chunk := stream.read(size):
        out.write(chunk)
    return out.getvalue()


def test_stream_gives_the_exact_bytes_through_drops_and_503s(site, data):
    for name in (DROPS, SLOW, PLAIN):
        with open_stream(site.url(name), **FAST) as stream:
            assert _read_all(stream) == (data / "warc" / name).read_bytes(), name
            assert stream.tell() == (data / "warc" / name).stat().st_size
    gets = [(r, s) for m, p, r, s in site.log if m == "GET" and p.endswith(DROPS)]
    assert gets[0] == (None, 200) and len(gets) == 2  # dropped halfway, then resumed where it was, not from 0
    resumed = int(re.fullmatch(r"bytes=(\d+)-", gets[1][0] or "").group(1))
    assert 0 < resumed <= (data / "warc" / DROPS).stat().st_size // 2 and gets[1][1] == 206
    assert [s for _, p, _, s in site.log if p.endswith(SLOW)][:3] == [503, 503, 200]


def test_a_server_without_ranges_is_read_again_up_to_the_offset(site, data):
    site.no_ranges = True
    with open_stream(site.url(DROPS), **FAST) as stream:
        assert _read_all(stream) == (data / "warc" / DROPS).read_bytes()
    gets = [(r is not None, s) for m, p, r, s in site.log if m == "GET" and p.endswith(DROPS)]
    assert gets == [(False, 200), (True, 200)]  # asked to resume, given the whole file: the first bytes skipped


def test_stream_seeks_by_reopening(site, data):
    raw = (data / "warc" / PLAIN).read_bytes()
    with open_stream(site.url(PLAIN), **FAST) as stream:
        assert stream.read(10) == raw[:10]
        stream.seek(100_000)
        assert stream.read(1000) == raw[100_000:101_000]
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == raw[-10:]


def test_stream_over_another_file_system(data):
    raw = (data / "warc" / SLOW).read_bytes()
    import fsspec

    with fsspec.open("memory://crawl/slow.warc.gz", "wb") as f:
        f.write(raw)
    with open_stream("memory://crawl/slow.warc.gz", **FAST) as stream:
        assert _read_all(stream) == raw
        stream.seek(5)
        assert stream.read(5) == raw[5:10]


@pytest.mark.slow
def test_stream_gives_up_with_unreachable(site, data):
    with pytest.raises(Unreachable, match="404") as missing:
        open_stream(site.url(MISSING), **FAST)
    assert missing.value.offset == 0 and missing.value.attempts == 1  # a 404 is not retried
    site.unavailable[f"{PREFIX}/{SLOW}"] = 100
    with pytest.raises(Unreachable, match="503") as slow:
        open_stream(site.url(SLOW), **FAST)
    assert slow.value.attempts == FAST["retries"] + 1
    size = (data / "warc" / PLAIN).stat().st_size
    site.cut[f"{PREFIX}/{PLAIN}"] = 50_000
    with open_stream(site.url(PLAIN), **FAST) as stream, pytest.raises(Unreachable) as cut:
        _read_all(stream)
    assert (cut.value.offset, cut.value.size) == (50_000, size)
    assert "ShortRead" in str(cut.value) or "Payload" in str(cut.value)


def test_backoff_is_exponential_and_follows_retry_after():
    class Answer(Exception):
        def __init__(self, headers):
            self.headers, self.status = headers, 503

    policy = Retry(retries=5, backoff=1.0, max_wait=30.0)
    assert 0.5 <= policy.wait(0, Answer({})) <= 1.0
    assert 4.0 <= policy.wait(3, Answer({})) <= 8.0
    assert policy.wait(10, Answer({})) <= 30.0
    assert policy.wait(0, Answer({"Retry-After": "7"})) == 7.0
    assert policy.wait(0, Answer({"Retry-After": "3600"})) == 30.0
    assert policy.wait(0, Answer({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # a date in the past


# -- the WARC reader over URLs ---------------------------------------------------------------------------------------
def _read(paths: list[str], tmp: Path) -> tuple[list[tuple], list[dict]]:
    """Every record the reader gave, in order: (id, reason, payload hash, url); and the rejected rows."""
    reader = WarcReader(paths, rejects=RejectedWriter(str(tmp / "rejected"), "read"), ledger=str(tmp / "bytes"))
    kept = {d.id: hashlib.sha1(d.metadata[PAYLOAD_KEY]).hexdigest() for d in reader.run()}
    rejected = read_rows(tmp / "rejected")
    return [(r["id"], r["reason"], None, r["url"]) for r in rejected] + [(i, None, h, None) for i, h in kept.items()], (
        rejected
    )


def _outcomes(records: list[tuple]) -> dict[str, tuple]:
    ids = [r[0] for r in records]
    assert len(ids) == len(set(ids)), "a record counted twice"
    return {r[0]: r[1:] for r in records}


def test_warc_reader_over_urls_reads_what_it_reads_locally(site, data, tmp_path):
    urls = crawl_paths(CRAWL, site.base)
    local = [str(data / "warc" / name) for name in (DROPS, SLOW, PLAIN)]
    remote, rejected = _read(urls, tmp_path / "remote")
    here, _ = _read(local, tmp_path / "local")
    over_urls, locally = _outcomes(remote), _outcomes(here)
    (gone,) = [r for r in rejected if r["reason"] == "unreachable"]
    assert gone["source"] == site.url(MISSING) and gone["stage"] == "read" and "404" in gone["detail"]
    del over_urls[gone["id"]]
    assert over_urls == locally
    section = account(tmp_path / "remote" / "bytes", urls[:3])
    assert section["accounted"], section["problems"]
    assert section == account(tmp_path / "local" / "bytes", local)
    assert section["input"] == sum(Path(p).stat().st_size for p in local)


@pytest.mark.slow
@pytest.mark.parametrize("plain", [False, True], ids=["gzip", "plain"])
def test_a_stream_that_fails_for_good_keeps_what_was_read_and_goes_on(site, data, tmp_path, plain):
    raw = (data / "warc" / SLOW).read_bytes()
    name = "failing.warc" if plain else "failing.warc.gz"
    content = gzip.decompress(raw) if plain else raw
    site.files[f"{PREFIX}/{name}"] = content
    site.cut[f"{PREFIX}/{name}"] = cut = len(content) // 2
    local = tmp_path / name
    local.write_bytes(content)
    records, rejected = _read([site.url(name), site.url(PLAIN)], tmp_path / "remote")
    (failure,) = [r for r in rejected if r["reason"] == "unreachable"]
    assert f"gave up at byte {cut} of {len(content)}" in failure["detail"]
    before = records.index(next(r for r in records if r[0] == failure["id"]))
    whole, _ = _read([str(local)], tmp_path / "local")
    got = _outcomes([r for r in records if r[0] != failure["id"] and r[0] in {w[0] for w in whole}])
    expected = _outcomes(whole)
    assert 0 < len(got) < len(expected) and all(expected[i] == got[i] for i in got)  # the records before the cut
    plain_records, _ = _read([str(data / "warc" / PLAIN)], tmp_path / "plain")
    assert {r[0] for r in plain_records} <= {r[0] for r in records[before:]}  # the next file is read in full
    section = account(tmp_path / "remote" / "bytes", [site.url(name), site.url(PLAIN)])
    assert section["accounted"], section["problems"]
    lost = section["skipped_by_reason"]["unreachable"]
    assert len(content) - cut <= lost < len(content)


# -- the command line ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_curate_run_reads_a_crawl_over_http(site, data, tmp_path):
    from curate.cli import main

    pipeline = tmp_path / "read.yaml"
    pipeline.write_text("name: read\ndescription: the reader only\nreader:\n  warc: {}\nstages: []\n")
    out = tmp_path / "run"
    argv = ["run", str(pipeline), "--crawl", CRAWL, "--crawl-base", site.base, "--files", "2", "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    ids = [r["id"] for r in read_rows(out / "documents", ["id"]) + read_rows(out / "rejected", ["id"])]
    local, _ = _read([str(data / "warc" / DROPS), str(data / "warc" / SLOW)], tmp_path / "local")
    assert sorted(ids) == sorted(r[0] for r in local)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["bytes"]["accounted"] and stats["bytes"]["input"] == sum(
        (data / "warc" / n).stat().st_size for n in (DROPS, SLOW)
    )
    assert any(m == "GET" and r for m, p, r, _ in site.log if p.endswith(DROPS))  # the drop was resumed


@pytest.mark.slow
def test_curate_run_goes_on_past_an_unreachable_file(site, tmp_path):
    """The whole listing, a missing file included: the run ends conserved (exit 0), the file one rejected record."""
    from curate.cli import main

    pipeline = tmp_path / "read.yaml"
    pipeline.write_text("reader:\n  warc: {}\nstages: []\n")
    out = tmp_path / "run"
    argv = ["run", str(pipeline), "--crawl", CRAWL, "--crawl-base", site.base, "-o", str(out), "--no-progress"]
    assert main(argv) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conserved"] and stats["bytes"]["accounted"], stats["problems"]
    (gone,) = [r for r in read_rows(out / "rejected") if r["reason"] == "unreachable"]
    assert gone["source"] == site.url(MISSING) and "404" in gone["detail"]
