"""Optional dependencies: what a feature needs that a plain `pip install curate` does not bring, and the one line that
says which extra brings it (the `curate` command prints it and exits 2, no traceback)."""

from __future__ import annotations

import importlib
from types import ModuleType

# module → (the extra of pyproject.toml that installs it, its name for people)
EXTRAS = {
    "torch": ("train", "PyTorch"),
    "ray": ("ray", "Ray"),
    "s3fs": ("s3", "s3fs"),
    "resiliparse": ("resiliparse", "Resiliparse"),
    "spacy": ("multilingual", "spaCy"),  # word filters in languages other than English
}


class MissingExtra(ImportError):
    """A feature's optional package is not installed; the message names the extra to install."""


def require(module: str, feature: str) -> ModuleType:
    """Import `module` (a key of EXTRAS, or one of its submodules) for `feature`, e.g. require("torch", "curate train");
    MissingExtra when it cannot be imported, e.g. `curate train needs PyTorch: pip install 'curate[train]'`."""
    extra, name = EXTRAS[module.partition(".")[0]]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(f"{feature} needs {name}: pip install 'curate[{extra}]'") from err


def require_for_urls(urls: list[str], feature: str) -> None:
    """The packages of the URL schemes in `urls` that are curate extras (s3:// needs s3fs)."""
    if any(str(url).startswith(("s3://", "s3a://")) for url in urls):
        require("s3fs", feature)
