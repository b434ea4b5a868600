"""`curate eval pii`: the pii stage's detector (`curate.stages.pii.find`) against gold PII spans, per type.

Span files, by their form:
- presidio-research JSON (`.json`): a list of `{full_text, spans: [{entity_type, entity_value, start_position,
  end_position}]}`; a span whose offsets miss its value by a few characters is moved onto the value.
- JSON lines (`.jsonl`) of the same records.
- NeMo-Curator inline tags (`.txt`): one text per line, PII tagged in place, `<email>a@b.org</email>`.
- a folder: every such file in it.

Gold labels are mapped to the stage's types (email, ip, phone, card, iban); other labels (names, addresses, SSNs,
dates...) are out of the stage's scope: they are counted, and a detection that overlaps one is a false positive of
its type. Scoring as tests/test_pii.py scores: a detection is a true positive when it overlaps a gold span of its
type; recall counts the gold spans that a detection of their type overlaps. `overall` sums the five types (micro).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

TYPES = ("email", "ip", "phone", "card", "iban")
LABELS = {
    # presidio
    "EMAIL_ADDRESS": "email", "IP_ADDRESS": "ip", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card", "IBAN_CODE": "iban",
    # NeMo-Curator
    "email": "email", "ip_address": "ip", "phone_number": "phone", "credit_card_number": "card", "iban": "iban",
}  # fmt: skip
_TAG = re.compile(r"<(\w+)>(.*?)</\1>")

Item = tuple[str, list[tuple[int, int, str]]]  # text, gold spans (start, end, label mapped where in scope)


def _presidio(record: Any, where: str) -> Item:
    if not isinstance(record, dict) or not isinstance(record.get("full_text"), str):
        raise ValueError(f"{where}: expected records with `full_text` and `spans`")
    text, gold = record["full_text"], []
    for span in record.get("spans") or []:
        start, value = int(span["start_position"]), str(span["entity_value"])
        if text[start : start + len(value)] != value:  # off by a few characters (one PERSON span of the shared file)
            found = text.find(value, max(0, start - 3))
            start = found if found >= 0 else start
        label = str(span["entity_type"])
        gold.append((start, start + len(value), LABELS.get(label, label)))
    return text, gold


def _nemo(line: str) -> Item:
    """The line without its tags, and where each tagged value ends up."""
    text, gold, last = "", [], 0
    for m in _TAG.finditer(line):
        text += line[last : m.start()]
        gold.append((len(text), len(text) + len(m.group(2)), LABELS.get(m.group(1), m.group(1))))
        text += m.group(2)
        last = m.end()
    return text + line[last:], gold


def load_file(path: Path) -> list[Item]:
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    try:
        if path.suffix == ".json":
            records = json.loads(content)
            if not isinstance(records, list):
                raise ValueError(f"{path}: expected a JSON list of records")
            return [_presidio(r, str(path)) for r in records]
        if path.suffix == ".jsonl":
            return [_presidio(json.loads(line), str(path)) for line in content.splitlines() if line.strip()]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a presidio span file ({type(err).__name__}: {err})") from None
    return [_nemo(line) for line in content.splitlines() if line.strip()]


def load_spans(path: str | Path) -> tuple[list[Item], list[str]]:
    """(items, the files they came from): one span file, or every .json/.jsonl/.txt file of a folder."""
    where = Path(path)
    if not where.exists():
        raise FileNotFoundError(2, "No such file or directory", str(where))
    files = (
        sorted(p for p in where.rglob("*") if p.suffix in (".json", ".jsonl", ".txt")) if where.is_dir() else [where]
    )
    items = [item for f in files for item in load_file(f)]
    if not any(gold for _, gold in items):
        raise ValueError(f"{path}: no gold PII span found (expected presidio JSON or NeMo inline tags)")
    return items, [str(f) for f in files]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _scores(row: dict[str, int]) -> dict[str, Any]:
    precision, recall = _ratio(row["tp"], row["found"]), _ratio(row["hit"], row["gold"])
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if row["gold"] else None)
    return {**row, "precision": precision, "recall": recall, "f1": f1}


def evaluate(
    path: str | Path, types: list[str] | None = None, keep_private_ips: bool = False, show: int = 5
) -> dict[str, Any]:
    """Precision/recall/F1 per type and overall, out-of-scope counts, and a few misses and false detections."""
    from curate.stages.pii import find

    items, files = load_spans(path)
    selected = list(types) if types is not None else list(TYPES)
    table = {t: {"gold": 0, "found": 0, "tp": 0, "hit": 0} for t in TYPES}
    out_of_scope: Counter[str] = Counter()
    on_out_of_scope: Counter[str] = Counter()
    misses: list[dict[str, str]] = []
    false: list[dict[str, str]] = []
    for text, gold in items:
        spans = find(text, selected, keep_private_ips)
        out_of_scope.update(label for *_, label in gold if label not in TYPES)
        for s, e, kind in spans:
            other = [g for g in gold if g[0] < e and s < g[1]]
            if not any(g[2] == kind for g in other):
                false.append({"type": kind, "found": text[s:e], "gold": ", ".join(g[2] for g in other) or "none"})
                on_out_of_scope.update(g[2] for g in other if g[2] not in TYPES)
        for kind in TYPES:
            mine = [(s, e) for s, e, k in spans if k == kind]
            theirs = [(s, e) for s, e, k in gold if k == kind]
            row = table[kind]
            row["gold"] += len(theirs)
            row["found"] += len(mine)
            row["tp"] += sum(any(s < ge and gs < e for gs, ge in theirs) for s, e in mine)
            hits = [any(s < ge and gs < e for s, e in mine) for gs, ge in theirs]
            row["hit"] += sum(hits)
            misses += [{"type": kind, "text": text[gs:ge]} for (gs, ge), hit in zip(theirs, hits) if not hit]
    total = {k: sum(table[t][k] for t in TYPES) for k in ("gold", "found", "tp", "hit")}
    return {
        "spans": str(path),
        "files": files,
        "config": {"types": selected, "keep_private_ips": keep_private_ips},
        "texts": len(items),
        "types": {t: _scores(row) for t, row in table.items()},
        "overall": _scores(total),
        "out_of_scope": {"gold": dict(out_of_scope.most_common()), "detections_on_them": dict(on_out_of_scope)},
        "misses": misses[:show],
        "false_detections": false[:show],
    }


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(result: dict[str, Any]) -> list[str]:
    c = result["config"]
    private = ", private IPs kept" if c["keep_private_ips"] else ""
    lines = [
        f"pii: {len(result['files'])} file(s), {result['texts']} texts; types {', '.join(c['types'])}{private}",
        f"{'type':<8} {'gold':>5} {'found':>6} {'TP':>5} {'precision':>10} {'recall':>7} {'F1':>6}",
    ]
    for name, row in [*result["types"].items(), ("overall", result["overall"])]:
        if row["gold"] or row["found"] or name == "overall":
            lines.append(
                f"{name:<8} {row['gold']:>5} {row['found']:>6} {row['tp']:>5} {_f(row['precision']):>10}"
                f" {_f(row['recall']):>7} {_f(row['f1']):>6}"
            )
    scope = result["out_of_scope"]
    if scope["gold"]:
        lines.append(
            "out of scope (not scrubbed): "
            + ", ".join(f"{label} {n}" for label, n in scope["gold"].items())
            + f"; detections on them: {sum(scope['detections_on_them'].values())}"
        )
    for miss in result["misses"]:
        lines.append(f"  missed {miss['type']}: {miss['text']!r}")
    for hit in result["false_detections"]:
        lines.append(f"  false {hit['type']}: {hit['found']!r} (gold: {hit['gold']})")
    return lines
