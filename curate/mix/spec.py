"""The mix file: its keys and their checks, and the token directories it names, validated whole before anything runs.

Every error is a `ConfigError` whose message starts with the mix file and the key, so a mistake is found in the
file, not halfway through a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.spec import (
    ConfigError,
    check_top_level,
    fraction,
    is_int,
    load_yaml,
    number_at_least,
    optional_str,
    positive_int,
    positive_number,
    relative_path,
)
from curate.tokens import DEFAULT_MAX_TOKENS_PER_SHARD, MANIFEST, TokenizerInfo, read_manifest

TOP_KEYS = ("name", "seed", "token_budget", "val_fraction", "max_epochs", "max_tokens_per_shard", "sources")
SOURCE_KEYS = ("name", "tokens", "weight", "domains", "max_epochs")


@dataclass(frozen=True)
class SourceSpec:
    name: str
    tokens: str  # as written in the mix file
    path: Path  # resolved against the mix file's folder
    weight: float
    domains: tuple[str, ...] | None
    max_epochs: float  # the effective cap (the source's own or the file's default)
    manifest: dict = field(compare=False, repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "tokens": self.tokens,
            "weight": self.weight,
            "domains": list(self.domains) if self.domains is not None else None,
            "max_epochs": self.max_epochs,
        }


@dataclass(frozen=True)
class MixSpec:
    path: str
    name: str | None
    seed: int
    token_budget: int
    val_fraction: float
    max_epochs: float
    max_tokens_per_shard: int
    sources: tuple[SourceSpec, ...]
    tokenizer: TokenizerInfo

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "token_budget": self.token_budget,
            "val_fraction": self.val_fraction,
            "max_epochs": self.max_epochs,
            "max_tokens_per_shard": self.max_tokens_per_shard,
            "tokenizer_sha256": self.tokenizer.sha256,
            "sources": [s.to_dict() for s in self.sources],
        }


def load_spec(path: str | Path) -> MixSpec:
    """Read and validate a mix file whole (keys, types, token directories, tokenizers) before anything runs."""
    return parse_spec(load_yaml(path, "mix"), str(path), Path(path).resolve().parent)


def parse_spec(data: Any, path: str, base: Path) -> MixSpec:
    """Validate a loaded mix document; relative token paths resolve against `base`."""
    check_top_level(data, TOP_KEYS, path)
    name = optional_str(data.get("name"), f"{path}: name")
    seed = data.get("seed", 0)
    if not is_int(seed):
        raise ConfigError(f"{path}: seed: expected an integer, got {seed!r}")
    if "token_budget" not in data:
        raise ConfigError(f"{path}: token_budget: missing; expected a positive integer (training tokens)")
    budget = positive_int(data["token_budget"], f"{path}: token_budget")
    val_fraction = fraction(data.get("val_fraction", 0.01), f"{path}: val_fraction", zero=True)
    default_epochs = number_at_least(data.get("max_epochs", 4), 1, f"{path}: max_epochs")
    max_shard = data.get("max_tokens_per_shard")
    max_shard = (
        DEFAULT_MAX_TOKENS_PER_SHARD if max_shard is None else positive_int(max_shard, f"{path}: max_tokens_per_shard")
    )

    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(f"{path}: sources: expected a non-empty list of sources, got {raw_sources!r}")
    sources: list[SourceSpec] = []
    for i, entry in enumerate(raw_sources):
        sources.append(_parse_source(entry, f"{path}: sources[{i}]", base, default_epochs, sources))

    first = sources[0]
    tokenizer = TokenizerInfo.from_dict(first.manifest["tokenizer"])
    for i, source in enumerate(sources[1:], 1):
        sha = source.manifest["tokenizer"]["sha256"]
        if sha != tokenizer.sha256:
            raise ConfigError(
                f"{path}: sources[{i}].tokens: source {source.name!r} was tokenized with tokenizer "
                f"sha256 {sha[:12]}…, source {first.name!r} with {tokenizer.sha256[:12]}…; "
                "all sources must share one tokenizer"
            )
    return MixSpec(path, name, seed, budget, val_fraction, default_epochs, max_shard, tuple(sources), tokenizer)


def _parse_source(entry: Any, where: str, base: Path, default_epochs: float, earlier: list[SourceSpec]) -> SourceSpec:
    """One `sources` entry, its manifest read; `earlier` (the sources before it) for unique names and disjoint reads."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(SOURCE_KEYS)}, got {entry!r}")
    for key in entry:
        if key not in SOURCE_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(SOURCE_KEYS)}")
    for key in ("name", "tokens", "weight"):
        if key not in entry:
            raise ConfigError(f"{where}.{key}: missing")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name: expected a non-empty string, got {name!r}")
    if any(s.name == name for s in earlier):
        raise ConfigError(f"{where}.name: {name!r} is already the name of another source")
    tokens = entry["tokens"]
    path = relative_path(tokens, base, f"{where}.tokens", "a path to a token directory")
    weight = positive_number(entry["weight"], f"{where}.weight")
    domains = entry.get("domains")
    if domains is not None:
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) and d for d in domains):
            raise ConfigError(f"{where}.domains: expected a non-empty list of domain names, got {domains!r}")
        domains = tuple(sorted(set(domains)))
    epochs = (
        default_epochs
        if entry.get("max_epochs") is None
        else number_at_least(entry["max_epochs"], 1, f"{where}.max_epochs")
    )
    try:
        manifest = read_manifest(path)
    except FileNotFoundError:
        raise ConfigError(f"{where}.tokens: no {MANIFEST} in {path} (not a token directory made by curate)") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"{where}.tokens: {path}: unreadable manifest: {err}") from None
    if domains is not None:
        present = manifest.get("totals", {}).get("domains", {})
        missing = [d for d in domains if d not in present]
        if missing:
            raise ConfigError(
                f"{where}.domains: {', '.join(missing)} not in {tokens} "
                f"(it has: {', '.join(sorted(present)) or 'none'})"
            )
    for j, other in enumerate(earlier):
        if other.path == path and (other.domains is None or domains is None or set(other.domains) & set(domains)):
            raise ConfigError(
                f"{where}.domains: overlaps sources[{j}] ({other.name}), which reads the same "
                "documents from the same token directory; give them disjoint domain filters"
            )
    return SourceSpec(name, tokens, path, weight, domains, epochs, manifest)
