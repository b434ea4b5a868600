"""The example pipeline files shipped with curate, and copying them into a user's folder (`curate init`).

The YAML files live in the repository's `pipelines/` folder, which the build maps onto the resource package
`curate.pipelines` (pyproject.toml: `package-dir`), so an installed curate, editable or from a wheel, reads the same
files through importlib.resources. They are copied to DIR/pipelines/: their relative paths (`../runs/...`, another
example's name) resolve against their own folder, so they mean the same thing under DIR as under the repository root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

EXAMPLES_PACKAGE = "curate.pipelines"
FOLDER = "pipelines"  # DIR/pipelines/, the repository's layout


def example_files() -> list[Traversable]:
    """Every shipped example YAML, by name."""
    found = [f for f in files(EXAMPLES_PACKAGE).iterdir() if f.is_file() and f.name.endswith(".yaml")]
    return sorted(found, key=lambda f: f.name)


@dataclass(frozen=True)
class Copied:
    written: list[Path]
    replaced: list[Path]  # already there, overwritten (only with force)


class ExistingFiles(FileExistsError):
    """Some targets exist and force was not given; nothing was written."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        names = ", ".join(str(p) for p in paths)
        super().__init__(f"{names}: already exist{'s' if len(paths) == 1 else ''}; nothing written (--force replaces)")


def copy_examples(dest: str | os.PathLike[str], force: bool = False) -> Copied:
    """Copy the examples into DEST/pipelines/. Without `force`, an existing file stops the copy before anything is
    written, so a user's edited copy is never replaced by accident."""
    folder = Path(dest) / FOLDER
    sources = example_files()
    targets = [folder / f.name for f in sources]
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing and not force:
        raise ExistingFiles(existing)
    folder.mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, targets):
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        partial.write_bytes(source.read_bytes())
        os.replace(partial, target)
    return Copied(written=[t for t in targets if t not in existing], replaced=existing)
