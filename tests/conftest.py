"""Shared fixtures: the real test data, read in place through one setting (CURATE_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("CURATE_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data() -> Path:
    """The shared data folder; skips (or fails under CI=true) when it is missing."""
    path = data_dir()
    if not (path / "README.md").exists():
        message = f"shared test data not found at {path}; set CURATE_DATA to the shared data folder"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def read_all(reader, paths) -> list:
    """Every document a reader step produces, kept and rejected (rejections are not written)."""
    docs = []
    for path in paths:
        docs.extend(reader.read_file(str(path)))
    return docs
