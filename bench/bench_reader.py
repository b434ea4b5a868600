"""WARC reading speed: curate's accounting reader against warcio (what it replaced) and FastWARC, in one run.

All three read the same files: every shared WARC/ARC file that is valid throughout, concatenated `--copies` times
into one gzip-per-record file (so the run is long enough to time). Each side reads every record and the payload of
every response, decoded (chunked and content codings undone); curate's side also frames and checks every record and
writes nothing. Rounds are interleaved so a noisy machine slows all sides alike; the figure is the median of rounds.
FastWARC is optional (`pip install fastwarc`); without it that column is left out.

With `--hostile DIR` (a folder written by `python tests/badinputs.py DIR`), it also counts the records each side gets
out of each hostile file before it stops or fails: curate's reader frames every record it can find.

    python bench/bench_reader.py [--copies 4] [--rounds 5] [--hostile DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchlib import RESULTS, data_dir, machine, table_row, write_results

FILES = [
    "warc/cc-main-2020-34-excerpt.warc.gz",
    "warc/cc-main-2024-22-wikipedia.warc.gz",
    "warc/clueweb09-ja-warc018-quirks.warc.gz",
    "warc/heritrix-2008-warc017.warc.gz",
    "warc/wget-sample-0000.warc.gz",
    "warc/wget-sample-0001.warc.gz",
    "extraction/articles-311.warc.gz",
]


def read_curate(path: str) -> tuple[int, int]:
    from curate.records import PAYLOAD_KEY
    from curate.stages.warc import WarcReader

    records = payload = 0
    for doc in WarcReader([path]).read_file(path):
        records += 1
        payload += len(doc.metadata.get(PAYLOAD_KEY) or b"")
    return records, payload


def read_warcio(path: str) -> tuple[int, int]:
    from warcio.archiveiterator import ArchiveIterator

    records = payload = 0
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            records += 1
            if record.rec_type == "response":
                payload += len(record.content_stream().read())
    return records, payload


def read_fastwarc(path: str) -> tuple[int, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    records = payload = 0
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle, parse_http=True, auto_decode="all"):
            records += 1
            if record.record_type == WarcRecordType.response:
                payload += len(record.reader.read())
    return records, payload


def hostile(folder: Path, sides: dict) -> dict:
    """Records each side reads from each hostile file (warcio and FastWARC stop or raise at the first bad one)."""
    counts: dict = {}
    for path in sorted(folder.iterdir()):
        counts[path.name] = {name: _count(name, str(path)) for name in sides}
        print(f"{path.name:<30}" + "".join(f"{counts[path.name][name]:>24}" for name in sides))
    return counts


def _count(name: str, path: str) -> str:
    """Records read before the end or the first exception."""
    n = 0
    try:
        if name == "curate":
            from curate.stages.warc import WarcReader

            for doc in WarcReader([path]).read_file(path):
                n += doc.metadata.get("filter_reason") not in _RANGES
        elif name == "warcio":
            from warcio.archiveiterator import ArchiveIterator

            with open(path, "rb") as handle:
                for record in ArchiveIterator(handle):
                    record.content_stream().read(1)
                    n += 1
        else:
            from fastwarc.warc import ArchiveIterator as FastIterator

            with open(path, "rb") as handle:
                for _ in FastIterator(handle, parse_http=False):
                    n += 1
    except Exception as err:  # what the library does with the file is the measurement
        return f"{n} ({type(err).__name__})"
    return str(n)


_RANGES = {"not_warc", "not_a_record", "not_gzip", "bad_gzip", "blank"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hostile", type=Path, metavar="DIR", help="also count records read from hostile files")
    args = parser.parse_args()
    data = data_dir()
    blob = b"".join((data / name).read_bytes() for name in FILES) * args.copies
    work = RESULTS / "reader-input.warc.gz"
    RESULTS.mkdir(parents=True, exist_ok=True)
    work.write_bytes(blob)
    sides = {"curate": read_curate, "warcio": read_warcio}
    try:
        import fastwarc  # noqa: F401

        sides["fastwarc"] = read_fastwarc
    except ImportError:
        print("fastwarc not installed: its column is left out")
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.rounds):
        for name, read in sides.items():
            started = time.perf_counter()
            counts[name] = read(str(work))
            seconds[name].append(time.perf_counter() - started)
    work.unlink()
    mb = len(blob) / 1e6
    result = {"machine": machine(), "input_mb": round(mb, 2), "files": FILES, "copies": args.copies, "sides": {}}
    base = statistics.median(seconds["warcio"])
    print(f"{mb:.1f} MB of gzip WARC, {args.rounds} interleaved rounds (median)")
    for name, times in seconds.items():
        median = statistics.median(times)
        records, payload = counts[name]
        result["sides"][name] = {
            "seconds": round(median, 3),
            "mb_per_s": round(mb / median, 2),
            "records": records,
            "payload_bytes": payload,
            "speed_vs_warcio": round(base / median, 2),
        }
        print(
            f"{name:<9} {median:6.2f} s  {mb / median:6.1f} MB/s  {records:6,} records  {payload / 1e6:7.1f} MB payload"
            f"  {base / median:4.2f}x warcio"
        )
    if args.hostile:
        print(
            f"\nrecords read from each hostile file (before the end or the first error):\n{'':<30}"
            + "".join(f"{name:>24}" for name in sides)
        )
        result["hostile"] = hostile(args.hostile, sides)
    table = [
        table_row(
            "WARC reading, MB/s of gzip WARC (every record, response payloads decoded)",
            result["sides"]["curate"]["mb_per_s"],
            "MB/s",
            baseline=name,
            baseline_value=result["sides"][name]["mb_per_s"],
        )
        for name in sides
        if name != "curate"
    ]
    size = f"{mb:.1f} MB (the shared WARCs × {args.copies}), median of {args.rounds} rounds"
    write_results("reader", result, size, table)


if __name__ == "__main__":
    main()
