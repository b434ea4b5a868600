"""`curate ingest`: text corpora (zips and folders of .txt, a big .txt, JSONL, the stdlib) → documents with a domain."""

from __future__ import annotations

import gzip
import json
import re
import sysconfig
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import read_rows

from curate.ingest import ingest, stable_id
from curate.records import DOCUMENT_SCHEMA, REJECTED_SCHEMA
from curate.runfolder import RunError


def _documents(out: Path) -> list[dict]:
    return read_rows(out / "documents", schema=DOCUMENT_SCHEMA)


def _rejected(out: Path) -> list[dict]:
    return read_rows(out / "rejected", schema=REJECTED_SCHEMA)


def _assert_conserved(out: Path, stats: dict) -> None:
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk == stats
    assert stats["conserved"] and not stats["problems"]
    assert stats["input_records"] == stats["kept"] + stats["rejected"]
    assert stats["kept"] == len(_documents(out))
    assert stats["rejected"] == len(_rejected(out))
    assert sum(stats["domains"].values()) == stats["kept"]
    assert sum(stats["stages"][0]["dropped"].values()) == stats["rejected"]


def _zip_texts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {m: zf.read(m) for m in zf.namelist() if m.endswith(".txt")}


@pytest.mark.parametrize("name", ["state_union.zip", "inaugural.zip"])
def test_zip_of_speeches(data, tmp_path, name):
    source = data / "text" / name
    members = _zip_texts(source)
    stats = ingest([str(source)], tmp_path / "out")
    _assert_conserved(tmp_path / "out", stats)
    docs, rejected = _documents(tmp_path / "out"), _rejected(tmp_path / "out")

    # every .txt member is one record (README and folder entries are not); a member that is not UTF-8 (a few
    # speeches hold Big5 or cp1252 punctuation) is rejected with its reason, never dropped or guessed at
    assert stats["input_records"] == len(members) > 50
    utf8 = {}
    for member, raw in members.items():
        try:
            utf8[f"{source}:{member}"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    assert {d["source"]: d["text"] for d in docs} == utf8
    assert {d["domain"] for d in docs} == {"prose"}
    assert stats["domains"] == {"prose": len(utf8)}
    assert len(rejected) == len(members) - len(utf8)
    assert all(r["reason"] == "not_utf8" and r["stage"] == "ingest" and "not UTF-8" in r["detail"] for r in rejected)
    assert all(d["url"] is None and d["language"] is None and d["crawl_date"] is None for d in docs)
    assert sorted((tmp_path / "out" / "documents").iterdir())[0].name == "00000.parquet"


def test_inaugural_member_text_and_stable_ids(data, tmp_path):
    source = data / "text" / "inaugural.zip"
    first = ingest([str(source)], tmp_path / "a")
    second = ingest([str(source)], tmp_path / "b")
    a, b = _documents(tmp_path / "a"), _documents(tmp_path / "b")
    assert [d["id"] for d in a] == [d["id"] for d in b]
    assert len({d["id"] for d in a}) == len(a)
    assert [d["text"] for d in a] == [d["text"] for d in b]
    assert first["kept"] == second["kept"]
    washington = next(d for d in a if d["source"].endswith("inaugural/1789-Washington.txt"))
    assert washington["text"] == _zip_texts(source)["inaugural/1789-Washington.txt"].decode("utf-8")
    assert washington["id"] == stable_id("inaugural.zip", "inaugural/1789-Washington.txt", "file", 0)


def test_tinyshakespeare_paragraphs(data, tmp_path):
    source = data / "text" / "tinyshakespeare.txt"
    text = source.read_text(encoding="utf-8")
    stats = ingest([str(source)], tmp_path / "out", split="paragraph")
    _assert_conserved(tmp_path / "out", stats)
    docs = _documents(tmp_path / "out")
    expected = [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]
    assert len(docs) == len(expected) > 5000
    assert [d["text"] for d in docs] == expected
    assert docs[0]["text"].startswith("First Citizen:\nBefore we proceed any further")
    assert all("\n\n" not in d["text"] and d["text"].strip() for d in docs)
    assert " ".join(d["text"] for d in docs).split() == text.split()  # nothing lost but blank lines
    assert {d["domain"] for d in docs} == {"prose"} and {d["source"] for d in docs} == {str(source)}
    assert len({d["id"] for d in docs}) == len(docs)
    assert stats["ingested_from"][0]["split"] == "paragraph"


def test_dolma_jsonl_keeps_ids(data, tmp_path):
    source = data / "text" / "cc_en_head-0091.jsonl.gz"
    with gzip.open(source, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    stats = ingest([str(source)], tmp_path / "out")
    _assert_conserved(tmp_path / "out", stats)
    docs = _documents(tmp_path / "out")
    assert [(d["id"], d["text"]) for d in docs] == [(str(r["id"]), r["text"]) for r in rows]
    assert {d["domain"] for d in docs} == {"web"}
    assert {d["source"] for d in docs} == {str(source)}


def test_jsonl_row_domain_url_and_bad_lines(tmp_path):
    source = tmp_path / "rows.jsonl"
    lines = [
        json.dumps({"text": "a wiki page", "id": "w1", "url": "https://example.org/w", "domain": "wiki"}),
        json.dumps({"text": "no id, no domain"}),
        "",  # a blank line is no record
        json.dumps({"id": "no-text"}),
        "{not json",
        json.dumps(["a", "list"]),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = ingest([str(source)], tmp_path / "out")
    _assert_conserved(tmp_path / "out", stats)
    docs = _documents(tmp_path / "out")
    assert [(d["id"], d["url"], d["domain"]) for d in docs] == [
        ("w1", "https://example.org/w", "wiki"),
        (stable_id("rows.jsonl", "", "line", 1), None, "web"),
    ]
    assert sorted(r["reason"] for r in _rejected(tmp_path / "out")) == ["bad_json", "bad_json", "empty"]
    assert stats["input_records"] == 5
    forced = ingest([str(source)], tmp_path / "forced", domain="reference")
    assert forced["domains"] == {"reference": 2}


def test_stdlib_is_code(tmp_path):
    stats = ingest(["stdlib"], tmp_path / "out")
    _assert_conserved(tmp_path / "out", stats)
    docs = _documents(tmp_path / "out")
    assert len(docs) > 500
    assert {d["domain"] for d in docs} == {"code"}
    by_source = {d["source"]: d for d in docs}
    root = Path(sysconfig.get_paths()["stdlib"])
    assert by_source["stdlib:json/__init__.py"]["text"].encode("utf-8") == (root / "json" / "__init__.py").read_bytes()
    assert "stdlib:os.py" in by_source
    parts = {part for source in by_source for part in source.removeprefix("stdlib:").split("/")[:-1]}
    assert not parts & {"site-packages", "test", "tests", "idle_test", "__pycache__"}
    assert list(by_source) == sorted(by_source, key=lambda s: s.removeprefix("stdlib:").split("/"))
    assert all(r["reason"] == "empty" for r in _rejected(tmp_path / "out"))  # empty __init__.py files

    again = ingest(["stdlib"], tmp_path / "again")
    assert [d["id"] for d in _documents(tmp_path / "again")] == [d["id"] for d in docs]
    assert again["kept"] == stats["kept"] and stats["stdlib"]["path"] == str(root)


def test_folder_with_empty_file(tmp_path):
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Alpha text.\n", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("Beta text.\n\nSecond paragraph.\n", encoding="utf-8")
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (folder / "notes.md").write_text("not a .txt", encoding="utf-8")
    (folder / ".hidden.txt").write_text("junk", encoding="utf-8")
    stats = ingest([str(folder)], tmp_path / "out", domain="books")
    _assert_conserved(tmp_path / "out", stats)
    docs = _documents(tmp_path / "out")
    assert [(Path(d["source"]).name, d["text"], d["domain"]) for d in docs] == [
        ("a.txt", "Alpha text.\n", "books"),
        ("b.txt", "Beta text.\n\nSecond paragraph.\n", "books"),
    ]
    rejected = {Path(r["source"]).name: r["reason"] for r in _rejected(tmp_path / "out")}
    assert rejected == {"empty.txt": "empty", "latin1.txt": "not_utf8"}
    assert stats["input_records"] == 4 and stats["ingested_from"][0]["files"] == 4

    paragraphs = ingest([str(folder)], tmp_path / "p", split="paragraph", min_chars=11)
    texts = [d["text"] for d in _documents(tmp_path / "p")]
    assert texts == ["Alpha text.", "Second paragraph."]
    reasons = sorted(r["reason"] for r in _rejected(tmp_path / "p"))
    assert reasons == ["empty", "not_utf8", "too_short"]  # "Beta text." has 10 characters
    assert paragraphs["input_records"] == 5 and paragraphs["conserved"]


def test_zip_junk_members_skipped(tmp_path):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("corpus/one.txt", "One.")
        zf.writestr("corpus/two.TXT", "Two.")
        zf.writestr("__MACOSX/corpus/._one.txt", b"\x00\x05\x16\x07junk")
        zf.writestr("corpus/.DS_Store", b"\x00junk")
        zf.writestr("corpus/README", "readme")
    stats = ingest([str(archive)], tmp_path / "out")
    assert [d["text"] for d in _documents(tmp_path / "out")] == ["One.", "Two."]
    assert stats["input_records"] == 2 and stats["rejected"] == 0


def test_chunks_documents_by_size(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(10):
        (folder / f"{i:02d}.txt").write_text(f"document {i} " * 20, encoding="utf-8")
    stats = ingest([str(folder)], tmp_path / "out", max_file_bytes=500)
    files = sorted(p.name for p in (tmp_path / "out" / "documents").iterdir())
    assert files[:2] == ["00000.parquet", "00001.parquet"] and len(files) == 5
    assert [d["text"] for d in _documents(tmp_path / "out")] == [f"document {i} " * 20 for i in range(10)]
    assert stats["kept"] == 10


def test_refuses_non_empty_output_and_bad_sources(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("text", encoding="utf-8")
    out = tmp_path / "out"
    ingest([str(source)], out)
    with pytest.raises(RunError, match=r"out.*--overwrite"):
        ingest([str(source)], out)
    (out / "report.html").write_text("stale")
    stats = ingest([str(source)], out, overwrite=True)
    assert stats["kept"] == 1 and not (out / "report.html").exists()

    missing = tmp_path / "missing.txt"
    with pytest.raises(RunError, match="missing.txt"):
        ingest([str(missing)], tmp_path / "new")
    unknown = tmp_path / "table.csv"
    unknown.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(RunError, match="table.csv.*unknown kind"):
        ingest([str(source), str(unknown)], tmp_path / "new")
    with pytest.raises(RunError, match="split"):
        ingest([str(source)], tmp_path / "new", split="sentence")
    assert not (tmp_path / "new").exists()  # everything is checked before anything is written


def test_empty_run_still_has_a_documents_file(tmp_path):
    source = tmp_path / "blank.txt"
    source.write_text("\n\n", encoding="utf-8")
    stats = ingest([str(source)], tmp_path / "out")
    assert stats["kept"] == 0 and stats["rejected"] == 1 and stats["conserved"]
    assert pq.read_table(tmp_path / "out" / "documents" / "00000.parquet").schema == DOCUMENT_SCHEMA
