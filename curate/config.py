"""Pipeline YAML → a validated spec, before anything runs.

A pipeline file is a reader and an ordered list of stages, each with parameters. The parameters a stage accepts,
their types and their defaults are read from the signature of the class that implements it (datatrove's filters
included), so the YAML, the code and the published recipe's defaults cannot drift apart. What a type cannot say is
declared beside each stage (`limits`: ranges, allowed sets, min <= max pairs; see curate.limits) and checked here
too, so a value that would reject every document fails `curate check` instead. Every error names the file, the
key, the value and what is allowed.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.limits import (
    AT_LEAST_1,
    FRACTION,
    LID176,
    NON_EMPTY,
    NON_NEGATIVE,
    PROBABILITY,
    WORD_LANGUAGE,
    Checked,
    Each,
    NonEmpty,
    OneOf,
    Range,
    check_limits,
)
from curate.spec import ConfigError, check_top_level, coerce, load_yaml

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
    checker: str | None = None  # "module:function(params, where)" raising ValueError for what limits cannot say
    # What each parameter may be beyond its type (curate.limits); every parameter but a bool has an entry:
    limits: dict = field(default_factory=dict)
    ordered: tuple[tuple[str, str], ...] = ()  # (min key, max key) pairs: min <= max where both are on
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


# Gopher's counts and C4's sizes: datatrove turns a check off with 0 (Gopher) or -1 (C4), so that value is allowed
_GOPHER_COUNT = Range(1, off=0)
_SHARE_PAIRS = Each(AT_LEAST_1, FRACTION)  # (n-gram size, share of the text)
_WORD_LISTS = Each(NON_EMPTY)  # datatrove reads each entry's first character

READERS = {
    "warc": StageDef(
        "warc",
        "curate.stages.warc:WarcReader",
        hidden=("paths", "limit", "progress", "ledger"),  # given by the run, not the YAML
        needs_text=False,
        doc="WARC/ARC files (gzip or plain) → HTML responses",
        # a record's size includes its HTTP headers (hundreds of bytes): under 1 KiB every page would be too_large
        limits={"max_record_bytes": Range(1024)},
    ),
    "documents": StageDef(
        "documents",
        "curate.stages.documents:DocumentsReader",
        hidden=("paths", "limit", "progress", "ledger"),  # given by the run, not the YAML
        needs_text=False,
        makes_text=True,
        doc="text already extracted: a run's documents/*.parquet, or JSONL with a `text` field",
        limits={"text_field": NON_EMPTY, "id_field": NON_EMPTY},
    ),
}

STAGES = {
    "url_filter": StageDef(
        "url_filter",
        "curate.stages.filters:BlocklistURLFilter",
        signature_of="datatrove.pipeline.filters:URLFilter",
        needs_text=False,
        doc="datatrove's URL blocklists (bundled in its wheel) plus your own domains/words",
        limits={
            "soft_word_threshold": AT_LEAST_1,  # 0 would block every URL
            "extra_domains": _WORD_LISTS,
            "extra_urls": _WORD_LISTS,
            "banned_words": _WORD_LISTS,
            "banned_subwords": _WORD_LISTS,
            "soft_banned_words": _WORD_LISTS,
        },
    ),
    "extract": StageDef(
        "extract",
        "curate.stages.extract:Extract",
        needs_text=False,
        makes_text=True,
        tally=("timeout_", "extract_timeouts"),  # pages retried after the time limit, and how many then passed
        doc="main-text extraction: trafilatura (default) or Resiliparse (`engine: resiliparse`, as DCLM; faster)",
        limits={
            # curate.stages.engines.ENGINES (a test keeps the two the same): config imports no stage module
            "engine": OneOf(("trafilatura", "resiliparse"), "an extraction engine"),
            "timeout": Range(0, 3600, low_open=True),  # seconds per page; an hour is no longer a time limit
            "max_html_chars": Range(1000, off=0),  # below a kilobyte every page is "too complex"; 0 turns it off
            "max_tags": Range(100, off=0),
        },
    ),
    "language": StageDef(
        "language",
        "curate.stages.language:LanguageID",
        overrides={"languages": ["en"]},
        doc="fastText lid.176 language ID and filter",
        limits={"languages": (NonEmpty("null labels every language"), Each(LID176)), "min_score": PROBABILITY},
    ),
    "gopher_repetition": StageDef(
        "gopher_repetition",
        "curate.stages.filters:GopherRepetition",
        signature_of="datatrove.pipeline.filters:GopherRepetitionFilter",
        word_splitter=True,
        doc="Gopher repetition filter (datatrove)",
        limits={
            "dup_line_frac": FRACTION,
            "dup_para_frac": FRACTION,
            "dup_line_char_frac": FRACTION,
            "dup_para_char_frac": FRACTION,
            "top_n_grams": _SHARE_PAIRS,
            "dup_n_grams": _SHARE_PAIRS,
            "language": WORD_LANGUAGE,
        },
    ),
    "gopher_quality": StageDef(
        "gopher_quality",
        "curate.stages.filters:GopherQuality",
        signature_of="datatrove.pipeline.filters:GopherQualityFilter",
        word_splitter=True,
        checker="curate.limits:check_stop_words",
        doc="Gopher quality filter (datatrove)",
        limits={
            "min_doc_words": _GOPHER_COUNT,
            "max_doc_words": _GOPHER_COUNT,
            "min_avg_word_length": _GOPHER_COUNT,
            "max_avg_word_length": _GOPHER_COUNT,
            "max_symbol_word_ratio": NON_NEGATIVE,  # '#' or '...' per word: can exceed 1
            "max_bullet_lines_ratio": FRACTION,
            "max_ellipsis_lines_ratio": FRACTION,
            "max_non_alpha_words_ratio": FRACTION,
            "min_stop_words": _GOPHER_COUNT,
            "stop_words": Each(NON_EMPTY),
            "language": WORD_LANGUAGE,
        },
        ordered=(("min_doc_words", "max_doc_words"), ("min_avg_word_length", "max_avg_word_length")),
    ),
    "c4_quality": StageDef(
        "c4_quality",
        "curate.stages.filters:C4Quality",
        signature_of="datatrove.pipeline.filters:C4QualityFilter",
        word_splitter=True,
        overrides={"filter_no_terminal_punct": False},  # FineWeb's setting
        doc="C4 quality filter (datatrove), FineWeb's settings",
        limits={
            "min_num_sentences": Range(0, off=-1),
            "min_words_per_line": Range(0, off=-1),
            "max_word_length": Range(1, off=-1),
            "language": WORD_LANGUAGE,
        },
    ),
    "fineweb_quality": StageDef(
        "fineweb_quality",
        "curate.stages.filters:FineWebQuality",
        signature_of="datatrove.pipeline.filters:FineWebQualityFilter",
        word_splitter=True,
        doc="FineWeb quality filter (datatrove)",
        limits={
            "line_punct_thr": FRACTION,
            "stop_chars": (NonEmpty("no line could end with a stop character"), Each(NON_EMPTY)),
            "short_line_thr": FRACTION,
            "short_line_length": NON_NEGATIVE,
            "char_duplicates_ratio": FRACTION,
            "new_line_ratio": NON_NEGATIVE,  # newlines per word: can exceed 1
            "language": WORD_LANGUAGE,
        },
    ),
    "dedup": StageDef(
        "dedup",
        "curate.dedup.steps:Dedup",
        checker="curate.dedup.steps:check_params",
        barrier=True,
        doc="exact, URL and MinHash near-duplicate removal across all inputs (a global barrier)",
        limits={
            "n_grams": AT_LEAST_1,
            "bands": AT_LEAST_1,
            "rows": AT_LEAST_1,
            "threshold": Range(0, 1, low_open=True, high_open=True),  # a Jaccard similarity
            "seed": Range(0, 2**64 - 1),  # seeds are taken modulo 2**64
            "max_memory": Checked("bytes or a size like '512MiB', in [4KiB, 1024TiB]"),  # cluster step's working set
        },
    ),
    "decontaminate": StageDef(
        "decontaminate",
        "curate.stages.decontaminate:Decontaminate",
        checker="curate.stages.decontaminate:check_params",
        doc="drop documents containing eval text (13-gram containment of an eval document); reason eval_overlap",
        limits={"eval": Checked("each file must load"), "n_grams": AT_LEAST_1, "threshold": Range(0, 1, low_open=True)},
    ),
    "pii": StageDef(
        "pii",
        "curate.stages.pii:PIIScrub",
        checker="curate.stages.pii:check_params",
        never_rejects=True,
        tally=("pii_", "pii_replacements"),
        doc="emails, IPs, phones, cards, IBANs → <PLACEHOLDERS>",
        limits={"types": (NonEmpty("null scrubs every type"), Checked("known types"))},
    ),
    "domains": StageDef(
        "domains",
        "curate.stages.domains:DomainTagger",
        checker="curate.stages.domains:check_params",
        needs_text=False,
        never_rejects=True,
        tally=("domain_", "domains"),
        doc="tag each document with a domain from URL/source rules",
        limits={"rules": Checked("well-formed rules"), "default": Checked("a domain name")},
    ),
    "tokenize": StageDef(
        "tokenize",
        "curate.tokenize:Tokenize",
        hidden=("output",),
        checker="curate.tokenize:check_params",
        writes_tokens=True,
        never_rejects=True,
        doc="kept documents → OUTPUT/tokens/ Parquet token shards (tokenizer.json; ${VAR} expanded)",
        limits={"tokenizer": Checked("the file loads"), "max_tokens_per_shard": AT_LEAST_1, "batch_size": AT_LEAST_1},
    ),
}

TOP_LEVEL_KEYS = ("name", "description", "reader", "stages", "executor")


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
    executor: dict | str | None = None  # where it runs (curate.executors), not what it does: not in to_dict()

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
    merged = {**{k: d for k, (_, d) in allowed.items() if d is not inspect.Parameter.empty}, **out}
    check_limits(defn.limits, defn.ordered, merged, where)  # ranges first: cheap, and before any file is read
    if defn.checker:
        try:
            defn.load(defn.checker)(merged, where)
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
    executor = data.get("executor")
    if executor is not None:
        from curate.executors import parse_executor

        parse_executor(executor, f"{path}: executor", complete=False)
    return PipelineSpec(path=path, name=name, description=description, reader=reader, stages=stages, executor=executor)


def load(path: str | Path) -> PipelineSpec:
    return parse(load_yaml(path), str(path))


def describe_stages() -> str:
    """The stage catalogue for `--help`."""
    lines = ["readers:"] + [f"  {n:<18} {d.doc}" for n, d in READERS.items()] + ["stages:"]
    lines += [f"  {n:<18} {d.doc}" for n, d in STAGES.items()]
    return "\n".join(lines)
