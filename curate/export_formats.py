"""The numbered-file exports of `curate.export`: llm.c `.bin` shards and datatrove `.ds` files.

Both cut a token stream into numbered files of at most `max_tokens` tokens and never split a document across two
files: a file is closed before the document that would take it past `max_tokens`, and the next file starts with that
document. The one exception is a document longer than `max_tokens` on its own: it gets a file of its own (holding
more than `max_tokens` tokens) rather than being cut, since a cut would give half a document to a reader that
takes every file's first token for a document start (modded-nanogpt) or every index entry for a document end
(datatrove). Files are written under temporary names and renamed when complete.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_INTS = 256
DATATROVE_UINT16_MAX_VOCAB = 65_536  # datatrove's token_size: 2 bytes unless the vocabulary exceeds uint16


def tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


class _File(Protocol):
    path: Path
    count: int

    def write(self, tokens: np.ndarray, lengths: np.ndarray) -> None: ...
    def close(self) -> list[Path]: ...
    def abort(self) -> None: ...


class LlmcFile:
    """One llm.c shard: a 256-int32 header, then uint16 tokens in llm.c's layout, EOT *before* each document.

    Curate rows end with EOS; a file of whole rows rotated right by one token (its last token, the last row's EOS,
    moved to the front) is exactly what llm.c's `dev/data/fineweb.py` writes: `[EOT] + document` for each document.
    """

    def __init__(self, path: Path, eos_id: int):
        self.path, self.eos_id, self.count = path, eos_id, 0
        self.file = open(tmp(path), "wb")
        np.zeros(LLMC_HEADER_INTS, dtype="<i4").tofile(self.file)
        np.array([eos_id], dtype="<u2").tofile(self.file)

    def write(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        ends = np.cumsum(lengths) - 1
        if lengths.min() < 1 or (tokens[ends] != self.eos_id).any():
            raise ValueError(f"a row does not end with the EOS id {self.eos_id}; llm.c's layout needs one per document")
        tokens.astype("<u2").tofile(self.file)
        self.count += tokens.size

    def close(self) -> list[Path]:
        self.file.truncate(LLMC_HEADER_INTS * 4 + 2 * self.count)  # the last row's EOS went to the front
        header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
        header[:3] = (LLMC_MAGIC, LLMC_VERSION, self.count)
        self.file.seek(0)
        header.tofile(self.file)
        self.file.close()
        os.replace(tmp(self.path), self.path)
        return [self.path]

    def abort(self) -> None:
        self.file.close()
        tmp(self.path).unlink(missing_ok=True)


class DatatroveFile:
    """One datatrove tokenized file, as `datatrove.pipeline.tokens.tokenizer.TokenizedFile` writes it.

    `X.ds`: the tokens back to back, no header, little-endian uint16 (uint32 when the vocabulary exceeds 65,536);
    `X.ds.index`: one little-endian uint64 per document, the token offset where it ends (exclusive), no count;
    `X.ds.metadata`: three text lines, `<tokenizer name>|<token size>`, the token count, the count for humans.
    """

    def __init__(self, path: Path, token_size: int, tokenizer_name: str):
        self.path, self.count = path, 0
        self.dtype = np.dtype("<u2" if token_size == 2 else "<u4")
        self.index_path, self.meta_path = Path(f"{path}.index"), Path(f"{path}.metadata")
        self.tokenizer_name = tokenizer_name
        self.file, self.index = open(tmp(path), "wb"), open(tmp(self.index_path), "wb")

    def write(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        tokens.astype(self.dtype).tofile(self.file)
        (np.cumsum(lengths, dtype=np.int64) + self.count).astype("<u8").tofile(self.index)
        self.count += tokens.size

    def close(self) -> list[Path]:
        self.file.close()
        self.index.close()
        tmp(self.meta_path).write_text(
            f"{self.tokenizer_name}|{self.dtype.itemsize}\n{self.count}\n{_metric(self.count)}T"
        )
        for path in (self.index_path, self.meta_path, self.path):  # the .ds last: readers glob for it
            os.replace(tmp(path), path)
        return [self.path, self.index_path, self.meta_path]

    def abort(self) -> None:
        self.file.close()
        self.index.close()
        for path in (self.path, self.index_path, self.meta_path):
            tmp(path).unlink(missing_ok=True)


def _metric(n: int) -> str:
    """1234567 → '1.23 M', as humanize.metric writes datatrove's third metadata line."""
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} "


def write_series(
    batches, out: Path, prefix: str, suffix: str, max_tokens: int, open_file: Callable[[Path], _File]
) -> tuple[list[Path], int, int]:
    """Write (tokens, lengths) batches of whole rows to `<prefix>_000000<suffix>`, ...; (files, rows, tokens).

    Files left by an earlier, longer export with the same prefix are removed: a reader globbing the folder would
    take them for part of this one. On an error every file of this export is removed.
    """
    written: list[Path] = []
    files = 0
    current: _File | None = None
    rows = total = 0
    try:
        for tokens, lengths in batches:
            rows, total = rows + lengths.size, total + tokens.size
            ends = np.cumsum(lengths)
            row = start = 0  # first row of the batch not yet written, and its first token
            while row < lengths.size:
                if current is None:
                    current = open_file(out / f"{prefix}_{files:06d}{suffix}")
                    files += 1
                fit = int(np.searchsorted(ends, start + max_tokens - current.count, side="right")) - row
                if fit == 0 and current.count:  # the next document would take this file past max_tokens
                    written += current.close()
                    current = None
                    continue
                fit = max(fit, 1)  # a document longer than max_tokens alone: a file of its own
                end = int(ends[row + fit - 1])
                current.write(tokens[start:end], lengths[row : row + fit])
                row, start = row + fit, end
                if current.count >= max_tokens:
                    written += current.close()
                    current = None
        if current is not None:
            written += current.close()
            current = None
    except BaseException:
        if current is not None:
            current.abort()
        for path in written:  # a half export must not pass for a whole one
            path.unlink(missing_ok=True)
        raise
    stale = re.compile(rf"{re.escape(prefix)}_(\d{{6}}){re.escape(suffix)}(\.index|\.metadata)?")
    for path in out.iterdir():
        match = stale.fullmatch(path.name)
        if match and int(match.group(1)) >= files:
            path.unlink()
    return written, rows, total
