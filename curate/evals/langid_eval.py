"""`curate eval langid`: the language stage's model (fastText lid.176, `curate.stages.language.predict`) against
labelled sentences: accuracy, the most frequent confusions, and what each `min_score` keeps and how accurate that is.

The labelled file is tab-separated. With a header naming a `text` column, the label is the column `label`,
`language` or `lang` if there is one, else the column just before `text` (in the shared Tatoeba file
`CLD2-code, CLD2-iso-639-3, Tatoeba-iso-639-3, text` that is the Tatoeba code, the human label). Without such a
header every line is `LABEL<TAB>TEXT`. Three-letter ISO 639-3 labels are mapped to the model's labels
(`curate.evals.langid.tatoeba_label`: ISO 639-1 where one exists); a sentence whose language the model does not
know is left out and counted as `unsupported`.

The stage keeps a page when its top language's score is at least `min_score` (with `languages: null`), so at a
threshold: coverage = share of sentences kept, accuracy = share of the kept ones labelled right, and correct kept =
share of all sentences kept and labelled right (what a pipeline keeping only that language would retain of it).
`max_chars` cuts every sentence to its first characters before prediction: langid on short snippets.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

THRESHOLDS = (0.0, 0.3, 0.5, 0.65, 0.8, 0.9, 0.95)
LABEL_COLUMNS = ("label", "language", "lang")


def read_labelled(path: str | Path) -> list[tuple[str, str]]:
    """(label as written, text) of every non-empty row; ValueError when the file is not tab-separated text."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    rows = [line.split("\t") for line in lines if line.strip()]
    if not rows:
        raise ValueError(f"{path}: empty")
    header = [h.strip().lower() for h in rows[0]]
    if "text" in header:
        text_at = header.index("text")
        label_at = next((header.index(c) for c in LABEL_COLUMNS if c in header), text_at - 1)
        if label_at < 0:
            raise ValueError(f"{path}: the header has no label column before `text`")
        rows = rows[1:]
    else:
        label_at, text_at = 0, 1
    out = [(r[label_at].strip(), r[text_at].strip()) for r in rows if len(r) > max(label_at, text_at)]
    out = [(label, text) for label, text in out if label and text]
    if not out:
        raise ValueError(f"{path}: no `LABEL<TAB>TEXT` row")
    return out


def model_label(label: str) -> str:
    """A file's label as lid.176 writes it: ISO 639-3 codes mapped (Tatoeba's), others as they are."""
    from curate.evals.langid import tatoeba_label

    return tatoeba_label(label) if len(label) == 3 and label.isalpha() else label


def coverage_row(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    kept = [r for r in rows if r["score"] >= threshold]
    correct = sum(r["correct"] for r in kept)
    return {
        "min_score": threshold,
        "coverage": len(kept) / len(rows),
        "accuracy": correct / len(kept) if kept else None,
        "correct_kept": correct / len(rows),
    }


def evaluate(
    path: str | Path,
    min_score: float = 0.65,
    max_chars: int | None = None,
    limit: int | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """Accuracy, confusions and the coverage/accuracy curve of lid.176 on the labelled sentences (the first `limit`
    of the file when given)."""
    from curate.evals.langid import model_labels
    from curate.stages.language import predict

    labelled = read_labelled(path)[:limit]
    known = model_labels()
    mapped = [(model_label(label), text) for label, text in labelled]
    supported = [(label, text) for label, text in mapped if label in known]
    unsupported = Counter(label for label, _ in mapped if label not in known)
    if not supported:
        raise ValueError(f"{path}: no sentence is in a language lid.176 knows ({len(mapped)} sentences)")
    rows: list[dict[str, Any]] = []
    for label, text in supported:
        ((predicted, score),) = predict(text[:max_chars] if max_chars else text, k=1)
        rows.append({"label": label, "predicted": predicted, "score": score, "correct": predicted == label})
    confusions = Counter((r["label"], r["predicted"]) for r in rows if not r["correct"])
    per_language: dict[str, list[int]] = {}
    for r in rows:
        per_language.setdefault(r["label"], []).append(r["correct"])
    curve = [coverage_row(rows, t) for t in sorted({*THRESHOLDS, min_score})]
    return {
        "labelled": str(path),
        "config": {"min_score": min_score, "max_chars": max_chars, "limit": limit},
        "sentences": len(rows),
        "languages": len(per_language),
        "unsupported": {"sentences": sum(unsupported.values()), "labels": dict(unsupported.most_common())},
        "accuracy": sum(r["correct"] for r in rows) / len(rows),
        "at_min_score": coverage_row(rows, min_score),
        "coverage_curve": curve,
        "top_confusions": [{"label": a, "predicted": b, "count": n} for (a, b), n in confusions.most_common(top)],
        "per_language": {
            lang: {"sentences": len(hits), "accuracy": sum(hits) / len(hits)}
            for lang, hits in sorted(per_language.items())
        },
    }


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1%}"


def format_table(result: dict[str, Any]) -> list[str]:
    c, at = result["config"], result["at_min_score"]
    cut = f", first {c['max_chars']} characters" if c["max_chars"] else ""
    lines = [
        f"langid: lid.176 on {result['sentences']} sentences in {result['languages']} languages{cut}"
        f" ({result['unsupported']['sentences']} more in languages the model lacks, left out)",
        f"accuracy (top language): {result['accuracy']:.1%}",
        f"at min_score {c['min_score']:g}: coverage {at['coverage']:.1%}, accuracy of kept"
        f" {_pct(at['accuracy']).strip()}, correct and kept {at['correct_kept']:.1%}",
        f"{'min_score':>9} {'coverage':>9} {'accuracy':>9} {'correct kept':>13}",
    ]
    for row in result["coverage_curve"]:
        lines.append(
            f"{row['min_score']:>9.2f} {row['coverage']:>9.1%} {_pct(row['accuracy']):>9} {row['correct_kept']:>13.1%}"
        )
    if result["top_confusions"]:
        lines.append("top confusions (label → predicted: sentences):")
        lines.append("  " + ", ".join(f"{x['label']}→{x['predicted']}: {x['count']}" for x in result["top_confusions"]))
    return lines
