"""Benchmark: how `decode_html` fares on real pages, with right labels, no labels and wrong single-byte labels.

1. Charset corpus ($CURATE_DATA/charset: 424 real pages in 52 encodings, the folder name is the true encoding):
   share decoded to the true text per encoding, with the true label as HTTP charset and with no HTTP charset (the
   page's own declaration, then UTF-8, then detection).
2. UTF-8 pages with a wrong single-byte label: the corpus's UTF-8 files and the HTML responses of the shared crawl
   files ($CURATE_DATA/warc/* and extraction/articles-311.warc.gz) that are labelled UTF-8 (HTTP or meta), contain
   non-ASCII bytes and are valid UTF-8 (duplicates dropped), each given an `iso-8859-1` HTTP charset, a
   `windows-1252` HTTP charset, and a `<meta charset="iso-8859-1">` in place of its own declaration (no HTTP
   charset). Goal: 100% decode to the page's UTF-8 text.
3. Genuine Latin-1 and windows-1252 corpus pages, labelled so by HTTP charset and by meta: all keep their label.
4. Cost: milliseconds per MiB of `decode_html` on a 4 MiB UTF-8 payload labelled iso-8859-1, and on the worst case
   for a genuine Latin-1 label (valid UTF-8 up to one Latin-1 byte at the very end), against a bare Latin-1 decode.

    .venv/bin/python bench/bench_charset.py
Writes bench/results/charset.json.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from benchlib import MIB, data_dir, machine, table_row, write_results

from curate.evals.charset import corpus, utf8_pages, with_meta
from curate.stages.charset import codec_name, decode_html


def label(folder: str) -> str:
    return folder if codec_name(folder) else folder.rsplit("-", 1)[0]


def ms_per_mib(fn, payload: bytes, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn(payload)
        best = min(best, time.perf_counter() - started)
    return round(best * 1000 / (len(payload) / MIB), 2)


def main() -> int:
    data = data_dir()
    items = corpus(data)
    per: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"header": [], "none": []})
    for folder, codec, payload in items:
        truth = payload.decode(codec).lstrip("\ufeff")
        per[folder]["header"].append(decode_html(payload, label(folder))[0] == truth)
        per[folder]["none"].append(decode_html(payload, None)[0] == truth)
    share = {f: {k: round(sum(v) / len(v), 3) for k, v in r.items()} for f, r in per.items()}
    overall = {k: round(sum(sum(r[k]) for r in per.values()) / len(items), 4) for k in ("header", "none")}

    pages = utf8_pages(data)
    relabels = {
        "http iso-8859-1": lambda p: (p, "iso-8859-1"),
        "http windows-1252": lambda p: (p, "windows-1252"),
        "meta iso-8859-1": lambda p: (with_meta(p, "iso-8859-1"), None),
    }
    wrong_label: dict[str, dict] = {}
    for name, relabel in relabels.items():
        counts = {}
        for source, group in pages.items():
            if "left out" in source:
                continue
            ok = 0
            for page in group:
                payload, http = relabel(page)
                ok += decode_html(payload, http)[0] == payload.decode("utf-8").lstrip("\ufeff")
            counts[source] = [ok, len(group)]
        total = [sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())]
        wrong_label[name] = {"by_source": counts, "correct": total[0], "pages": total[1]}

    genuine: dict[str, list[int]] = {}
    for folder, codec, payload in items:
        if folder in ("iso-8859-1", "windows-1252"):
            for how, (p, http) in {"http": (payload, folder), "meta": (with_meta(payload, folder), None)}.items():
                got = genuine.setdefault(f"{folder} by {how}", [0, 0])
                got[0] += decode_html(p, http)[0] == p.decode(codec)
                got[1] += 1

    utf8 = b"".join(p for group in pages.values() for p in group if b"\xef\xbb\xbf" not in p[:3])
    utf8 = (utf8 * (4 * MIB // len(utf8) + 1))[: 4 * MIB]
    utf8 = utf8[: len(utf8.decode("utf-8", "ignore").encode())]  # cut on a character boundary
    worst = utf8 + b"caf\xe9"
    cost = {
        "utf8_labelled_latin1_decode_html": ms_per_mib(lambda p: decode_html(p, "iso-8859-1"), utf8),
        "utf8_bare_utf8_decode": ms_per_mib(lambda p: p.decode("utf-8"), utf8),
        "worst_latin1_decode_html": ms_per_mib(lambda p: decode_html(p, "iso-8859-1"), worst),
        "worst_bare_latin1_decode": ms_per_mib(lambda p: p.decode("latin-1"), worst),
    }

    result = {
        "machine": machine(),
        "corpus_pages": len(items),
        "corpus_overall": overall,
        "corpus_by_encoding": share,
        "utf8_wrong_label": wrong_label,
        "utf8_invalid_left_out": len(pages.get("labelled UTF-8 but invalid (left out)", [])),
        "genuine_single_byte": genuine,
        "cost_ms_per_mib": cost,
    }
    print(f"charset corpus: {len(items)} pages; decoded right with header {overall['header']:.4f}, without")
    print(
        f"  {overall['none']:.4f}; below 1.0: " + ", ".join(f"{f} {s}" for f, s in share.items() if min(s.values()) < 1)
    )
    for name, r in wrong_label.items():
        print(f"UTF-8 pages, {name:18}: {r['correct']}/{r['pages']} right  {r['by_source']}")
    print(f"labelled UTF-8 but invalid UTF-8 (left out): {result['utf8_invalid_left_out']}")
    print("genuine single-byte pages kept their label: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in genuine.items()))
    print("cost, ms per MiB: " + ", ".join(f"{k} {v}" for k, v in cost.items()))
    table = [
        table_row("charset corpus decoded to the true text, true label as HTTP charset", 100 * overall["header"], "%"),
        table_row("charset corpus decoded to the true text, no HTTP charset", 100 * overall["none"], "%"),
    ]
    for name, r in wrong_label.items():
        table.append(
            table_row(
                f"UTF-8 pages with a wrong {name} label, decoded to their UTF-8 text",
                r["correct"],
                f"of {r['pages']}",
                goal="all",
            )
        )
    table.append(
        table_row(
            "cost of decode_html on a UTF-8 payload labelled iso-8859-1",
            cost["utf8_labelled_latin1_decode_html"],
            "ms/MiB",
            baseline="bare bytes.decode('utf-8')",
            baseline_value=cost["utf8_bare_utf8_decode"],
        )
    )
    size = (
        f"{len(items)} corpus pages in {len(share)} encodings; {next(iter(wrong_label.values()))['pages']} UTF-8 pages"
    )
    write_results("charset", result, size, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
