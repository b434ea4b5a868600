"""`curate.export`: Megatron-LM indexed datasets, llm.c shards and datatrove .ds files, read back with readers
written from the formats (Megatron, llm.c, modded-nanogpt's BOS alignment) and with datatrove's own reader class."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from curate.cli import main
from curate.export import ExportWarning, export
from curate.tokens import ShardWriter, TokenizerInfo, encode_documents, iter_rows, load_tokenizer, read_manifest

MEGATRON_DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}


@pytest.fixture(scope="module")
def tokens_dir(data, tmp_path_factory) -> Path:
    """300 real paragraphs of Shakespeare in two domains, tokenized into several small shards."""
    tokenizer, info = load_tokenizer(data / "tokenizer" / "gpt-neox-bpe-50k.json")
    text = (data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()][:300]
    docs = ((f"doc-{i}", p, "wiki" if i % 3 else "forum") for i, p in enumerate(paragraphs))
    out = tmp_path_factory.mktemp("tokens")
    with ShardWriter(out, info, max_tokens_per_shard=2_000) as writer:
        for row in encode_documents(tokenizer, info.eos_id, docs):
            writer.write(*row)
    manifest = read_manifest(out)
    assert len(manifest["shards"]) >= 3 and manifest["totals"]["rows"] == 300
    return out


def rows_of(tokens_dir: Path) -> list[list[int]]:
    return [row["input_ids"] for row in iter_rows(tokens_dir, columns=["input_ids"])]


def read_megatron(prefix: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, int]:
    """A reader written from the MMIDIDX layout: (documents, lengths, pointers, document indices, dtype code)."""
    raw = prefix.with_suffix(".idx").read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack_from("<Q", raw, 9)
    (code,) = struct.unpack_from("<B", raw, 17)
    sequences, documents = struct.unpack_from("<QQ", raw, 18)
    assert version == 1
    offset = 34
    lengths = np.frombuffer(raw, dtype="<i4", count=sequences, offset=offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(raw, dtype="<i8", count=sequences, offset=offset)
    offset += pointers.nbytes
    doc_index = np.frombuffer(raw, dtype="<i8", count=documents, offset=offset)
    assert offset + doc_index.nbytes == len(raw), "trailing bytes after the document indices"
    dtype = np.dtype(MEGATRON_DTYPES[code]).newbyteorder("<")
    tokens = np.memmap(prefix.with_suffix(".bin"), dtype=dtype, mode="r")
    itemsize = dtype.itemsize
    sequence_tokens = [np.asarray(tokens[p // itemsize : p // itemsize + n]) for p, n in zip(pointers, lengths)]
    docs = [np.concatenate(sequence_tokens[a:b]) for a, b in zip(doc_index[:-1], doc_index[1:])]
    return docs, lengths, pointers, doc_index, code


def test_megatron_reads_back_same_documents(tokens_dir, tmp_path):
    paths = export(tokens_dir, "megatron", tmp_path / "out", prefix="shakespeare")
    assert [p.name for p in paths] == ["shakespeare.bin", "shakespeare.idx"]
    rows = rows_of(tokens_dir)
    docs, lengths, pointers, doc_index, code = read_megatron(tmp_path / "out" / "shakespeare")
    assert code == 8  # uint16: the 50,280-entry vocabulary is under Megatron's 65,500 cut
    assert len(docs) == len(rows) == 300
    for doc, row in zip(docs, rows):
        assert doc.tolist() == row
    eos = read_manifest(tokens_dir)["tokenizer"]["eos_id"]
    assert all(doc[-1] == eos for doc in docs)
    assert lengths.tolist() == [len(r) for r in rows]
    assert pointers[0] == 0 and np.array_equal(np.diff(pointers), lengths[:-1].astype(np.int64) * 2)
    assert doc_index.tolist() == list(range(301))  # 0, then where each document ends (one sequence each)
    assert (tmp_path / "out" / "shakespeare.bin").stat().st_size == 2 * sum(len(r) for r in rows)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["shakespeare.bin", "shakespeare.idx"]


def read_llmc(path: Path) -> np.ndarray:
    """An llm.c shard as `llmc/dataloader.h` checks it: magic, version, count, file size; then the uint16 tokens."""
    header = np.fromfile(path, dtype="<i4", count=256)
    count = int(header[2])
    assert (header[0], header[1]) == (20240520, 1) and not header[3:].any() and count > 0
    assert path.stat().st_size == 1024 + 2 * count
    return np.fromfile(path, dtype="<u2", offset=1024)


def llmc_documents(files: list[np.ndarray], eos: int) -> list[list[int]]:
    """Documents of llm.c's layout (EOT before each): every file must start with EOT, so no document is cut."""
    docs = []
    for tokens in files:
        assert tokens[0] == eos
        starts = np.flatnonzero(tokens == eos).tolist() + [tokens.size]
        docs += [tokens[a + 1 : b].tolist() for a, b in zip(starts[:-1], starts[1:])]
    return docs


def test_llmc_whole_documents_in_bounded_files(tokens_dir, tmp_path):
    manifest = read_manifest(tokens_dir)
    eos, total = manifest["tokenizer"]["eos_id"], manifest["totals"]["tokens"]
    rows = rows_of(tokens_dir)
    per_file = 3_000
    with pytest.warns(ExportWarning) as caught:
        paths = export(tokens_dir, "llmc", tmp_path, prefix="fw", max_tokens_per_file=per_file)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and messages[0].startswith("modded-nanogpt cannot use these files")
    assert f"EOS id is {eos} of {manifest['tokenizer']['vocab_size']:,} ids" in messages[0]
    assert messages[1].startswith("llm.c's train_gpt2 builds GPT-2 models of 50,257 ids")
    assert [p.name for p in paths] == [f"fw_{i:06d}.bin" for i in range(len(paths))] and len(paths) >= 4
    files = [read_llmc(p) for p in paths]
    counts = [f.size for f in files]
    assert sum(counts) == total and max(counts) <= per_file
    # documents are whole and in order: each file is its rows with the last EOS moved to the front
    assert llmc_documents(files, eos) == [row[:-1] for row in rows]
    # files are filled greedily: the next file's first document would not have fitted in the one before
    first_rows = np.cumsum([0] + [np.count_nonzero(f == eos) for f in files])[:-1]
    for count, first_of_next in zip(counts, first_rows[1:]):
        assert count + len(rows[first_of_next]) > per_file

    # a later export with larger files replaces the earlier one; no stale numbered file is left to be read
    with pytest.warns(ExportWarning):
        again = export(tokens_dir, "llmc", tmp_path, prefix="fw", max_tokens_per_file=total)
    assert sorted(tmp_path.glob("fw_*.bin")) == again == [tmp_path / "fw_000000.bin"]
    assert read_llmc(again[0]).tolist() == [eos] + [t for row in rows for t in row][:-1]


def test_llmc_longer_document_gets_a_file_of_its_own(tokens_dir, tmp_path):
    rows = rows_of(tokens_dir)
    eos = read_manifest(tokens_dir)["tokenizer"]["eos_id"]
    per_file = 120
    assert sum(len(r) > per_file for r in rows) >= 3
    with pytest.warns(ExportWarning):
        paths = export(tokens_dir, "llmc", tmp_path, max_tokens_per_file=per_file)
    files = [read_llmc(p) for p in paths]
    for tokens in files:  # at most per_file tokens, or one document alone
        assert tokens.size <= per_file or np.count_nonzero(tokens == eos) == 1
    assert llmc_documents(files, eos) == [row[:-1] for row in rows]


def test_modded_nanogpt_starts_a_sequence_at_every_document(bpe, shakespeare, tmp_path):
    """GPT-2 numbering (EOS 50256, 50,257 ids): no warning, and modded-nanogpt's BOS alignment, ported from its
    train_gpt.py (`_load_data_shard`, then `Shard`: a sequence runs from each 50256 to the next or to the end of
    the shard; tokens before a shard's first 50256 are never read), reaches every document whole."""
    tokenizer, info = load_tokenizer(bpe)
    texts = shakespeare[:60]
    rows = [enc.ids + [50256] for enc in tokenizer.encode_batch(texts, add_special_tokens=False)]
    with ShardWriter(tmp_path / "gpt2", TokenizerInfo(info.sha256, vocab_size=50257, eos_id=50256), 500) as writer:
        for i, row in enumerate(rows):
            writer.write(row, len(texts[i].encode()), f"d{i}", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportWarning)
        paths = export(tmp_path / "gpt2", "llmc", tmp_path / "out", max_tokens_per_file=700)
    assert len(paths) >= 3
    sequences, unread = [], 0
    for path in sorted((tmp_path / "out").glob("data_*.bin")):  # modded-nanogpt globs and sorts the files
        tokens = read_llmc(path)
        bos = np.flatnonzero(tokens == 50256).tolist()
        unread += bos[0] if bos else tokens.size
        sequences += [tokens[a:b].tolist() for a, b in zip(bos, bos[1:] + [tokens.size])]
    assert unread == 0
    assert sequences == [[50256] + row[:-1] for row in rows]


def test_llmc_needs_rows_ending_with_eos(tmp_path):
    with ShardWriter(tmp_path / "t", TokenizerInfo(sha256="x", vocab_size=1000, eos_id=999)) as writer:
        writer.write([5, 6, 999], 3, "a", None)
        writer.write([7, 8], 2, "b", None)  # no EOS: not a curate row
    with pytest.raises(ValueError, match="does not end with the EOS id 999"), pytest.warns(ExportWarning):
        export(tmp_path / "t", "llmc", tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


def big_vocab_dir(tmp_path: Path) -> Path:
    out = tmp_path / "big"
    with ShardWriter(out, TokenizerInfo(sha256="x", vocab_size=100_000, eos_id=99_999)) as writer:
        writer.write([5, 70_000, 99_999], 10, "a", "wiki")
        writer.write([65_535, 65_536, 99_999], 12, "b", None)
    return out


def test_llmc_refuses_large_vocabulary(tmp_path):
    tokens = big_vocab_dir(tmp_path)
    with pytest.raises(ValueError, match="too large for llm.c's uint16"):
        export(tokens, "llmc", tmp_path / "out")
    assert not list(tmp_path.rglob("*.bin"))
    # Megatron takes it, with int32 tokens (dtype code 4)
    export(tokens, "megatron", tmp_path / "mt")
    docs, _, _, doc_index, code = read_megatron(tmp_path / "mt" / "data")
    assert code == 4 and doc_index.tolist() == [0, 1, 2]
    assert [d.tolist() for d in docs] == [[5, 70_000, 99_999], [65_535, 65_536, 99_999]]


def test_bad_format_and_missing_manifest(tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'parquet'"):
        export(big_vocab_dir(tmp_path), "parquet", tmp_path / "out")
    with pytest.raises(ValueError, match=r"no \.manifest\.json"):
        export(tmp_path, "megatron", tmp_path / "out")
    with pytest.raises(ValueError, match="megatron writes one .bin/.idx pair"):
        export(tmp_path, "megatron", tmp_path / "out", max_tokens_per_file=10)


def read_datatrove(folder: Path, token_size: int, seq_len: int = 63):
    """(tokens, positions) of each .ds file, read by datatrove's own classes: DatatroveFolderDataset's windows of
    seq_len + 1 tokens (positions from the .ds.index), and each file whole through DatatroveFileDataset."""
    from datatrove.utils.dataset import DatatroveFileDataset, DatatroveFolderDataset

    folder_ds = DatatroveFolderDataset(
        str(folder), seq_len, filename_pattern="*.ds", recursive=False, token_size=token_size, return_positions=True
    )
    whole = []
    for file_ds in folder_ds.files:
        path = str(folder / Path(file_ds.file_path).name)
        n = file_ds.fsize // token_size
        item = DatatroveFileDataset(path, n - 1, token_size=token_size, return_positions=True)[0]
        whole.append((item["input_ids"].numpy(), item["positions"].numpy()))
    windows = [folder_ds[i] for i in range(len(folder_ds))]
    return folder_ds, whole, windows


@pytest.mark.slow  # imports torch (datatrove's reader classes need it): a few seconds
def test_datatrove_read_back_by_datatrove(tokens_dir, tmp_path):
    rows = rows_of(tokens_dir)
    per_file = 4_000
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportWarning)
        paths = export(tokens_dir, "datatrove", tmp_path, prefix="sp", max_tokens_per_file=per_file)
    ds_files = [p for p in paths if p.suffix == ".ds"]
    assert len(ds_files) >= 3 and [p.name for p in ds_files] == [f"sp_{i:06d}.ds" for i in range(len(ds_files))]
    assert sorted(paths) == sorted(tmp_path.iterdir())  # .ds, .ds.index, .ds.metadata each, nothing else
    folder_ds, whole, windows = read_datatrove(tmp_path, token_size=2)
    assert [Path(f.file_path).name for f in folder_ds.files] == [p.name for p in ds_files]
    docs, expected_windows = [], []
    for tokens, positions in whole:
        assert tokens.size <= per_file and positions[0] == 0
        starts = np.flatnonzero(positions == 0).tolist() + [tokens.size]  # a document starts where positions reset
        file_docs = [tokens[a:b].tolist() for a, b in zip(starts[:-1], starts[1:])]
        docs += file_docs
        starts_of = np.repeat(starts[:-1], np.diff(starts))  # each token's document start
        for w in range(tokens.size // 64):  # the folder reader's windows: positions restart at each window
            span = slice(w * 64, (w + 1) * 64)
            expected_windows.append((tokens[span], np.arange(64) - np.maximum(starts_of[span] - w * 64, 0)))
    assert docs == rows  # identical tokens, identical document boundaries, EOS ending each
    assert len(windows) == len(expected_windows) >= 100
    for got, (tokens, positions) in zip(windows, expected_windows):
        assert got["input_ids"].tolist() == tokens.tolist() and got["positions"].tolist() == positions.tolist()
    meta = (tmp_path / "sp_000000.ds.metadata").read_text().splitlines()
    assert meta[0] == f"curate-{read_manifest(tokens_dir)['tokenizer']['sha256']}|2"
    assert int(meta[1]) == whole[0][0].size


def test_datatrove_layout(tokens_dir, tmp_path):
    """The files as datatrove's TokenizedFile writes them, read with numpy: .ds tokens (uint32 past 65,536 ids),
    .ds.index uint64 document ends per file, .ds.metadata `name|token size`, count."""
    paths = export(big_vocab_dir(tmp_path), "datatrove", tmp_path / "dt")
    assert [p.name for p in paths] == ["data_000000.ds", "data_000000.ds.index", "data_000000.ds.metadata"]
    assert np.fromfile(paths[0], dtype="<u4").tolist() == [5, 70_000, 99_999, 65_535, 65_536, 99_999]
    assert np.fromfile(paths[1], dtype="<u8").tolist() == [3, 6]
    assert paths[2].read_text().splitlines()[:2] == ["curate-x|4", "6"]

    rows = rows_of(tokens_dir)
    paths = export(tokens_dir, "datatrove", tmp_path / "sp", max_tokens_per_file=2_500)
    docs = []
    for ds, index in zip(paths[0::3], paths[1::3]):
        tokens, ends = np.fromfile(ds, dtype="<u2"), np.fromfile(index, dtype="<u8").astype(np.int64)
        assert 0 < tokens.size <= 2_500 and ends[-1] == tokens.size
        docs += [tokens[a:b].tolist() for a, b in zip([0, *ends[:-1]], ends)]
    assert len(paths) >= 15 and docs == rows


@pytest.mark.slow  # imports torch (datatrove's reader classes need it): a few seconds
def test_datatrove_uint32_read_by_datatrove(tmp_path):
    from datatrove.utils.dataset import DatatroveFileDataset

    paths = export(big_vocab_dir(tmp_path), "datatrove", tmp_path / "dt")
    item = DatatroveFileDataset(str(paths[0]), 5, token_size=4, return_positions=True)[0]
    assert item["input_ids"].tolist() == [5, 70_000, 99_999, 65_535, 65_536, 99_999]
    assert item["positions"].tolist() == [0, 1, 2, 0, 1, 2]


def test_cli_export_warns_refuses_and_splits(tokens_dir, tmp_path, capsys):
    code = main(
        ["export", str(tokens_dir), "--format", "llmc", "-o", str(tmp_path / "l"), "--max-tokens-per-file", "5000"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and len(out.split()) == len(list((tmp_path / "l").glob("data_*.bin"))) >= 3
    lines = err.splitlines()  # one line per reader that cannot use the files (this vocabulary: two)
    assert len(lines) == 2 and all(line.startswith("curate export: warning: ") for line in lines)
    assert "modded-nanogpt cannot use these files" in lines[0] and "llm.c's train_gpt2" in lines[1]
    code = main(
        ["export", str(tokens_dir), "--format", "megatron", "-o", str(tmp_path / "m"), "--max-tokens-per-file", "9"]
    )
    err = capsys.readouterr().err
    assert (
        code == 2
        and err.startswith("curate export: error: --max-tokens-per-file applies to llmc")
        and len(err.splitlines()) == 1
    )
    assert main(["export", str(tokens_dir), "--format", "datatrove", "-o", str(tmp_path / "d")]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [str(tmp_path / "d" / f"data_000000.ds{s}") for s in ("", ".index", ".metadata")] and not err
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tokens_dir), "--format", "llmc", "-o", str(tmp_path / "z"), "--max-tokens-per-file", "0"])
    assert exit_info.value.code == 2 and "--max-tokens-per-file must be at least 1" in capsys.readouterr().err
