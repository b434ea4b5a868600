"""Pipeline YAML → a validated spec, before anything runs.

A pipeline file is a reader and an ordered list of stages, each with parameters. The parameters a stage accepts,
their types and their defaults are read from the signature of the class that implements it (datatrove's filters
included), so the YAML, the code and the published recipe's defaults cannot drift apart. Every error names the
file, the key and what is allowed.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from curate.spec import ConfigError, check_top_level, load_yaml

__all__ = ["ConfigError", "PipelineSpec", "StageDef", "StageSpec", "load", "load_yaml", "parse", "describe_stages"]


@dataclass(frozen=True)
class StageDef:
    """How a YAML stage name maps to a class, and which defaults differ from the class's own."""

    name: str
    factory: str  # "module:Class", imported only when the stage is used
    signature_of: str | None = None  # class whose __init__ documents the parameters (datatrove's, for its filters)
    overrides: dict = field(default_factory=dict)  # recipe defaults that differ from the class defaults
    hidden: tuple = ()
    needs_text: bool = True
    doc: str = ""
    checker: str | None = None  # "module:function(params, where)" raising ValueError for what types cannot say
    # What the pipeline and stats.json need to know about the stage, asked here instead of matched by name:
    makes_text: bool = False  # turns payloads into text (stages that need text come after it)
    barrier: bool = False  # needs every document before it can decide: the run splits into phases around it
    writes_tokens: bool = False  # writes token shards to OUTPUT/tokens/ (their manifests are merged after the run)
    word_splitter: bool = False  # counts words with the English word splitter (stats.json names the splitter)
    never_rejects: bool = False  # only annotates or rewrites documents: no rejection writer, any drop is a lost record
    tally: tuple[str, str] | None = None  # (counter prefix, stats.json key) of counts that are not drops

    def load(self, which: str | None = None):
        import importlib

        module, _, attr = (which or self.factory).partition(":")
        return getattr(importlib.import_module(module), attr)

    def parameters(self) -> dict[str, tuple[Any, Any]]:
        """name → (type annotation, default) with the recipe's defaults applied."""
        cls = self.load(self.signature_of)
        hints = typing.get_type_hints(cls.__init__)
        params = {}
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if name in ("self", "rejects", "exclusion_writer", *self.hidden) or param.kind in (
                param.VAR_KEYWORD,
                param.VAR_POSITIONAL,
            ):
                continue
            default = self.overrides.get(name, param.default)
            params[name] = (hints.get(name, type(default) if default is not inspect.Parameter.empty else Any), default)
        return params


READERS = {
    "warc": StageDef(
        "warc",
        "curate.stages.warc:WarcReader",
        hidden=("paths", "limit", "progress"),
        needs_text=False,
        doc="WARC/ARC files (gzip or plain) → HTML responses",
    ),
    "documents": StageDef(
        "documents",
        "curate.stages.documents:DocumentsReader",
        hidden=("paths", "limit", "progress"),
        needs_text=False,
        makes_text=True,
        doc="text already extracted: a run's documents/*.parquet, or JSONL with a `text` field",
    ),
}

STAGES = {
    "url_filter": StageDef(
        "url_filter",
        "curate.stages.filters:BlocklistURLFilter",
        signature_of="datatrove.pipeline.filters:URLFilter",
        needs_text=False,
        doc="datatrove's URL blocklists (bundled in its wheel) plus your own domains/words",
    ),
    "extract": StageDef(
        "extract",
        "curate.stages.extract:Extract",
        needs_text=False,
        makes_text=True,
        doc="trafilatura main-text extraction",
    ),
    "language": StageDef(
        "language",
        "curate.stages.language:LanguageID",
        overrides={"languages": ["en"]},
        doc="fastText lid.176 language ID and filter",
    ),
    "gopher_repetition": StageDef(
        "gopher_repetition",
        "curate.stages.filters:GopherRepetition",
        signature_of="datatrove.pipeline.filters:GopherRepetitionFilter",
        word_splitter=True,
        doc="Gopher repetition filter (datatrove)",
    ),
    "gopher_quality": StageDef(
        "gopher_quality",
        "curate.stages.filters:GopherQuality",
        signature_of="datatrove.pipeline.filters:GopherQualityFilter",
        word_splitter=True,
        doc="Gopher quality filter (datatrove)",
    ),
    "c4_quality": StageDef(
        "c4_quality",
        "curate.stages.filters:C4Quality",
        signature_of="datatrove.pipeline.filters:C4QualityFilter",
        word_splitter=True,
        overrides={"filter_no_terminal_punct": False},  # FineWeb's setting
        doc="C4 quality filter (datatrove), FineWeb's settings",
    ),
    "fineweb_quality": StageDef(
        "fineweb_quality",
        "curate.stages.filters:FineWebQuality",
        signature_of="datatrove.pipeline.filters:FineWebQualityFilter",
        word_splitter=True,
        doc="FineWeb quality filter (datatrove)",
    ),
    "dedup": StageDef(
        "dedup",
        "curate.dedup.steps:Dedup",
        checker="curate.dedup.steps:check_params",
        barrier=True,
        doc="exact, URL and MinHash near-duplicate removal across all inputs (a global barrier)",
    ),
    "decontaminate": StageDef(
        "decontaminate",
        "curate.stages.decontaminate:Decontaminate",
        checker="curate.stages.decontaminate:check_params",
        doc="drop documents containing eval text (13-gram containment of an eval document); reason eval_overlap",
    ),
    "pii": StageDef(
        "pii",
        "curate.stages.pii:PIIScrub",
        checker="curate.stages.pii:check_params",
        never_rejects=True,
        tally=("pii_", "pii_replacements"),
        doc="emails, IPs, phones, cards, IBANs → <PLACEHOLDERS>",
    ),
    "domains": StageDef(
        "domains",
        "curate.stages.domains:DomainTagger",
        checker="curate.stages.domains:check_params",
        needs_text=False,
        never_rejects=True,
        tally=("domain_", "domains"),
        doc="tag each document with a domain from URL/source rules",
    ),
    "tokenize": StageDef(
        "tokenize",
        "curate.tokenize:Tokenize",
        hidden=("output",),
        checker="curate.tokenize:check_params",
        writes_tokens=True,
        never_rejects=True,
        doc="kept documents → OUTPUT/tokens/ Parquet token shards (tokenizer.json; ${VAR} expanded)",
    ),
}

TOP_LEVEL_KEYS = ("name", "description", "reader", "stages")


@dataclass
class StageSpec:
    kind: str  # registry name, e.g. "c4_quality"
    name: str  # unique within the pipeline (the `stage` column of rejected rows)
    params: dict
    definition: StageDef

    def build(self, **extra):
        return self.definition.load()(**extra, **self.params)


@dataclass
class PipelineSpec:
    path: str
    name: str
    description: str
    reader: StageSpec
    stages: list[StageSpec]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "reader": {self.reader.kind: _plain(self.reader.params)},
            "stages": [{s.kind: _plain(s.params)} for s in self.stages],
        }


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return value


def _type_name(annotation) -> str:
    if annotation is Any:
        return "any value"
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin in (list, tuple, Iterable) or annotation is Iterable:
        args = typing.get_args(annotation)
        return f"a list of {_type_name(args[0])}" if args else "a list of strings"
    return getattr(annotation, "__name__", str(annotation))


def coerce(value, annotation, where: str):
    """Check `value` against a type annotation; returns it converted (lists → tuples where required)."""
    if annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            try:
                return coerce(value, option, where)
            except ConfigError as err:
                errors.append((option, err))
        real = [err for option, err in errors if option is not type(None)]
        if len(real) == 1:  # `X | None` with a bad X: the precise message (it may name a list item)
            raise real[0]
        raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r}")
    if annotation is type(None):
        if value is None:
            return None
    elif origin is Literal:
        if value in typing.get_args(annotation):
            return value
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif annotation is Iterable or origin in (list, tuple, Iterable):
        args = typing.get_args(annotation)
        if isinstance(value, (list, tuple)):
            if origin is tuple and len(args) > 1 and args[-1] is not Ellipsis:  # fixed-length tuple
                if len(value) != len(args):
                    raise ConfigError(f"{where}: expected {len(args)} items, got {value!r}")
                return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
            item = args[0] if args else str
            items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
    else:
        return value
    raise ConfigError(f"{where}: expected {_type_name(annotation)}, got {value!r}")


def _stage_entry(entry, where: str) -> tuple[str, dict]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        ((kind, params),) = entry.items()
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.{kind}: expected a mapping of parameters, got {params!r}")
        return kind, params
    raise ConfigError(f"{where}: expected a stage name or a one-key mapping `stage_name: {{params}}`, got {entry!r}")


def _validate_params(defn: StageDef, params: dict, where: str) -> dict:
    allowed = defn.parameters()
    out = {}
    for key, value in params.items():
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(allowed) or 'none'}")
        out[key] = coerce(value, allowed[key][0], f"{where}.{key}")
    for key, (annotation, _default) in allowed.items():
        if key not in out and key in defn.overrides:
            out[key] = coerce(defn.overrides[key], annotation, f"{where}.{key}")
    if defn.checker:
        try:
            defn.load(defn.checker)({**{k: d for k, (_, d) in allowed.items()}, **out}, where)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    return out


def parse(data: Any, path: str = "<pipeline>") -> PipelineSpec:
    """Validate a loaded YAML document; raises ConfigError naming `path` and the key."""
    check_top_level(data, TOP_LEVEL_KEYS, path)
    if "reader" not in data:
        raise ConfigError(f"{path}: reader: missing; allowed: {', '.join(READERS)}")
    kind, params = _stage_entry(data["reader"], f"{path}: reader")
    if kind not in READERS:
        raise ConfigError(f"{path}: reader.{kind}: unknown reader; allowed: {', '.join(READERS)}")
    reader = StageSpec(kind, "read", _validate_params(READERS[kind], params, f"{path}: reader.{kind}"), READERS[kind])

    raw_stages = data.get("stages") or []
    if not isinstance(raw_stages, list):
        raise ConfigError(f"{path}: stages: expected a list of stages")
    stages: list[StageSpec] = []
    seen: dict[str, int] = {}
    have_text = READERS[kind].makes_text
    for i, entry in enumerate(raw_stages):
        where = f"{path}: stages[{i}]"
        kind, params = _stage_entry(entry, where)
        if kind not in STAGES:
            raise ConfigError(f"{where}.{kind}: unknown stage; allowed: {', '.join(STAGES)}")
        defn = STAGES[kind]
        if defn.needs_text and not have_text:
            raise ConfigError(f"{where}.{kind}: needs text, so it must come after `extract`")
        if defn.makes_text:
            if have_text:
                raise ConfigError(f"{where}.{kind}: the text is already there (extracted once, or read as text)")
            have_text = True
        if defn.barrier and any(s.definition.barrier for s in stages):
            raise ConfigError(f"{where}.{kind}: one {kind} stage per pipeline (a pipeline has at most one barrier)")
        seen[kind] = seen.get(kind, 0) + 1
        name = kind if seen[kind] == 1 else f"{kind}_{seen[kind]}"
        stages.append(StageSpec(kind, name, _validate_params(defn, params, f"{where}.{kind}"), defn))
    name = data.get("name", Path(path).stem)
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key}: expected a string, got {value!r}")
    return PipelineSpec(path=path, name=name, description=description, reader=reader, stages=stages)


def load(path: str | Path) -> PipelineSpec:
    return parse(load_yaml(path), str(path))


def describe_stages() -> str:
    """The stage catalogue for `--help`."""
    lines = ["readers:"] + [f"  {n:<18} {d.doc}" for n, d in READERS.items()] + ["stages:"]
    lines += [f"  {n:<18} {d.doc}" for n, d in STAGES.items()]
    return "\n".join(lines)
